"""Bad library input: every kind gets a remlite error and leaves the stored bytes as they were.

Issue 9, faults 6 (non-finite floats), 13 (reserved SQL view names), 14 (SQL after close), 15 (integers beyond
64 bits) and 18 (inputs escaping as non-remlite exceptions, YAML alias bombs, schemas that can never accept a row,
remote `$ref`s, names with a trailing newline).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

import remlite
from remlite.errors import DatabaseClosed, InvalidInput, QueryError, RemliteError, SchemaError, ValidationError
from remlite.storage.engine import COLUMN_FAMILIES

FREE = {
    "name": "free",
    "type": "object",
    "properties": {"title": {"type": "string"}, "v": {}, "o": {}},
    "indexed_fields": ["v", "title"],
}
KEYED = {
    "name": "keyed",
    "type": "object",
    "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "x": {"type": "number"}},
    "key_field": "name",
    "indexed_fields": ["n"],
}
INF, NAN = float("inf"), float("nan")
LONE = "\ud800"


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _nested_list(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _gen() -> Iterator[int]:
    yield 1


@pytest.fixture
def db(tmp_path: Path) -> Iterator[remlite.Database]:
    database = remlite.connect(tmp_path / "db")
    database.register_schema(FREE)
    database.register_schema(KEYED)
    first = database.insert("free", {"title": "first", "v": 1})
    second = database.insert("keyed", {"name": "k1", "n": 1, "x": 1.5})
    database.add_edge(first, second, "links", {"w": 1})
    database.__dict__["test_ids"] = (first, second)
    yield database
    database.close()


def _snapshot(db: remlite.Database) -> dict[str, list[tuple[bytes, bytes]]]:
    return {name: list(db._core.store.iter_prefix(name, b"")) for name in COLUMN_FAMILIES}


def _ids(db: remlite.Database) -> tuple[str, str]:
    return db.__dict__["test_ids"]


_Call = Callable[[remlite.Database], Any]

BAD_INPUTS: list[tuple[str, _Call]] = [
    # fault 6: non-finite floats, at the top level, nested, in lists and in edge properties
    ("insert +inf indexed", lambda db: db.insert("free", {"v": INF})),
    ("insert -inf indexed", lambda db: db.insert("free", {"v": -INF})),
    ("insert nan indexed", lambda db: db.insert("free", {"v": NAN})),
    ("insert nan nested", lambda db: db.insert("free", {"o": {"deep": [1, {"x": NAN}]}})),
    ("insert inf in list", lambda db: db.insert("free", {"o": [1.0, INF]})),
    ("insert inf typed number", lambda db: db.insert("keyed", {"name": "k2", "n": 2, "x": INF})),
    ("insert_batch inf", lambda db: db.insert_batch("free", [{"v": 1}, {"o": {"x": -INF}}])),
    ("update nan", lambda db: db.update(_ids(db)[0], {"o": {"x": NAN}})),
    ("add_edge nan property", lambda db: db.add_edge(*_ids(db), "links", {"w": NAN})),
    ("add_edge inf nested property", lambda db: db.add_edge(*_ids(db), "links", {"w": {"x": [INF]}})),
    ("add_edges inf property", lambda db: db.add_edges([(*_ids(db), "links", {"w": INF})])),
    (
        "insert inline edge nan",
        lambda db: db.insert("free", {"v": 2}, edges=[{"dst": _ids(db)[1], "type": "t", "properties": {"w": NAN}}]),
    ),
    # fault 15: integers beyond 64 bits
    ("insert 2**70", lambda db: db.insert("free", {"v": 2**70})),
    ("insert -2**64 nested", lambda db: db.insert("free", {"o": {"x": -(2**64)}})),
    ("insert 2**70 typed integer", lambda db: db.insert("keyed", {"name": "k3", "n": 2**70})),
    ("insert_batch 2**70", lambda db: db.insert_batch("free", [{"v": 1}, {"o": [2**70]}])),
    ("update 2**70", lambda db: db.update(_ids(db)[0], {"v": 2**70})),
    ("add_edge 2**70 property", lambda db: db.add_edge(*_ids(db), "links", {"w": 2**70})),
    ("find eq 2**70", lambda db: db.find("free", "v", eq=2**70)),
    # fault 18: values JSON does not have
    ("insert set", lambda db: db.insert("free", {"v": {1, 2}})),
    ("insert bytes", lambda db: db.insert("free", {"v": b"raw"})),
    ("insert generator value", lambda db: db.insert("free", {"o": _gen()})),
    ("insert object", lambda db: db.insert("free", {"o": object()})),
    ("insert int key", lambda db: db.insert("free", {"o": {1: "x"}})),
    ("insert lone surrogate", lambda db: db.insert("free", {"title": LONE})),
    ("insert lone surrogate key", lambda db: db.insert("free", {"o": {LONE: 1}})),
    ("insert nested 300", lambda db: db.insert("free", {"o": _nested(300)})),
    ("insert nested 254", lambda db: db.insert("free", {"o": _nested(254)})),
    ("insert not a record", lambda db: db.insert("free", 5)),
    ("insert_batch generator", lambda db: db.insert_batch("free", ({"v": i} for i in range(3)))),
    ("insert_batch int", lambda db: db.insert_batch("free", 5)),
    ("insert_batch surrogate", lambda db: db.insert_batch("free", [{"v": 1}, {"title": LONE}])),
    ("insert_batch set", lambda db: db.insert_batch("free", [{"v": 1}, {"o": {3}}])),
    ("insert_batch nested", lambda db: db.insert_batch("free", [{"v": 1}, {"o": _nested(260)}])),
    ("insert keyed surrogate key", lambda db: db.insert("keyed", {"name": LONE, "n": 1})),
    ("update surrogate", lambda db: db.update(_ids(db)[0], {"title": LONE})),
    ("update set", lambda db: db.update(_ids(db)[0], {"o": {1}})),
    ("update not a dict", lambda db: db.update(_ids(db)[0], [1])),
    ("update bad id", lambda db: db.update(LONE, {"v": 1})),
    ("get surrogate", lambda db: db.get(LONE)),
    ("get int", lambda db: db.get(5)),
    ("get bytes", lambda db: db.get(b"0123456789abcdef")),
    ("get None", lambda db: db.get(None)),
    ("find surrogate", lambda db: db.find("free", "title", eq=LONE)),
    ("find nan", lambda db: db.find("free", "v", eq=NAN)),
    ("find set", lambda db: db.find("free", "v", eq={1})),
    ("find int field", lambda db: db.find("free", 5, eq=1)),
    ("find bad limit", lambda db: db.find("free", "v", gte=0, limit="x")),
    ("search surrogate table", lambda db: db.search(LONE, "x")),
    ("search int query", lambda db: db.search("free", 5)),
    ("search bad where", lambda db: db.search("free", "x", where="(" * 5000 + "v = 1" + ")" * 5000)),
    ("sql deep parentheses", lambda db: db.sql("SELECT * FROM free WHERE " + "(" * 5000 + "v = 1" + ")" * 5000)),
    ("sql deep expression", lambda db: db.sql("SELECT " + "1 + " * 5000 + "1 FROM free")),
    ("sql surrogate", lambda db: db.sql(f"SELECT * FROM free WHERE title = '{LONE}'")),
    ("sql surrogate param", lambda db: db.sql("SELECT * FROM free WHERE title = ?", [LONE])),
    ("sql set param", lambda db: db.sql("SELECT * FROM free WHERE v = ?", [{1}])),
    ("sql bytes", lambda db: db.sql(b"SELECT 1")),
    ("sql bad params", lambda db: db.sql("SELECT * FROM free WHERE v = ?", 5)),
    ("add_edge surrogate type", lambda db: db.add_edge(*_ids(db), LONE)),
    ("add_edge int type", lambda db: db.add_edge(*_ids(db), 5)),
    ("add_edge surrogate property", lambda db: db.add_edge(*_ids(db), "links", {"w": LONE})),
    ("add_edge set property", lambda db: db.add_edge(*_ids(db), "links", {"w": {1}})),
    ("add_edge nested property", lambda db: db.add_edge(*_ids(db), "links", {"w": _nested(300)})),
    ("add_edge bad id", lambda db: db.add_edge(LONE, _ids(db)[1], "links")),
    ("lookup surrogate", lambda db: db.lookup(LONE)),
    ("wal huge after", lambda db: db.wal(10**30)),
    ("moments huge offset", lambda db: db.moments(since="99999999d")),
    ("moments huge until", lambda db: db.moments(until="+99999999999w")),
    ("wal huge limit", lambda db: db.wal(limit=10**30)),
    ("wal str limit", lambda db: db.wal(limit="5")),
    ("wal None limit", lambda db: db.wal(limit=None)),
    ("scan str limit", lambda db: db.list("free", limit="5")),
    ("sql surrogate named param aggregate", lambda db: db.sql("SELECT count(*) FROM free WHERE o = :p", {"p": LONE})),
    ("sql surrogate literal aggregate", lambda db: db.sql(f"SELECT count(*) FROM free WHERE o = '{LONE}'")),
    ("register set", lambda db: db.register_schema({1, 2})),
    ("register int", lambda db: db.register_schema(5)),
    ("register bad type", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"type": "strin"}}})),
    ("register dangling ref", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"$ref": "#/x"}}})),
    ("register bad pattern", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"pattern": "("}}})),
    ("register name newline", lambda db: db.register_schema({"properties": {}}, name="bad\n")),
    ("register title newline", lambda db: db.register_schema({"name": "bad\n", "properties": {}})),
    ("register reserved edges", lambda db: db.register_schema({"name": "edges", "properties": {}})),
    ("register surrogate name", lambda db: db.register_schema({"name": LONE, "properties": {}})),
    ("register inf default", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"default": INF}}})),
    ("register huge int", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"maximum": 2**70}}})),
    ("register set in schema", lambda db: db.register_schema({"name": "bad", "properties": {"a": {"enum": {1}}}})),
    ("register nested", lambda db: db.register_schema({"name": "bad", "properties": {"a": _nested(300)}})),
    ("register bytes", lambda db: db.register_schema(b"{}")),
    ("register surrogate path", lambda db: db.register_schema(LONE + ".json")),
    ("register nul path", lambda db: db.register_schema("a\x00b.json")),
    ("get_batch None", lambda db: db.get_batch(None)),
    ("get_batch ints", lambda db: db.get_batch([1, 2])),
    ("add_edges None", lambda db: db.add_edges(None)),
    ("add_edges int", lambda db: db.add_edges(5)),
    ("insert vectors int", lambda db: db.insert("free", {"v": 1}, vectors=5)),
    ("insert edges int", lambda db: db.insert("free", {"v": 1}, edges=5)),
    ("search str min_score", lambda db: db.search("resources", "x", min_score="")),
    ("search str rrf_k", lambda db: db.search("resources", "x", mode="hybrid", rrf_k="x")),
    ("search bad weights", lambda db: db.search("resources", "x", mode="hybrid", weights=5)),
    ("insert set table", lambda db: db.insert({"free"}, {"v": 1})),
    ("count list table", lambda db: db.count(["free"])),
    ("schema dict table", lambda db: db.schema({})),
    ("search set table", lambda db: db.search({"free"}, "x")),
    ("sql set", lambda db: db.sql({"SELECT 1"})),
    ("ingest bytes", lambda db: db.ingest([b"\x00"])),
    ("ingest bytes path", lambda db: db.ingest(b"docs")),
    ("ingest int", lambda db: db.ingest([1])),
    ("ingest None", lambda db: db.ingest([None])),
    ("ingest nul", lambda db: db.ingest(["a\x00b"])),
    ("ingest int glob", lambda db: db.ingest(["."], glob=5)),
    ("search generator query", lambda db: db.search("resources", (x for x in [1.0]))),
    ("search nested query", lambda db: db.search("resources", _nested(100))),
    ("insert object vector", lambda db: db.insert("resources", {"uri": "u"}, vectors={"content": [{}]})),
    ("ingest deep list path", lambda db: db.ingest([_nested_list(3000)])),
    ("add_edges deep item", lambda db: db.add_edges([(*_ids(db), "links"), _nested_list(3000)])),
    ("add_edge deep type", lambda db: db.add_edge(*_ids(db), _nested_list(3000))),
    ("add_edge deep dst", lambda db: db.add_edge(_ids(db)[0], _nested_list(3000), "links")),
    ("search deep k", lambda db: db.search("resources", "x", k=_nested_list(3000))),
    ("search deep min_score", lambda db: db.search("resources", "x", min_score=_nested_list(3000))),
    ("search deep rrf_k", lambda db: db.search("resources", "x", mode="hybrid", rrf_k=_nested_list(3000))),
    ("search deep weights", lambda db: db.search("resources", "x", mode="hybrid", weights=_nested_list(3000))),
    ("search deep mode", lambda db: db.search("resources", "x", mode=_nested_list(3000))),
    ("search deep field", lambda db: db.search("resources", "x", field=_nested_list(3000))),
    ("list deep limit", lambda db: db.list("free", limit=_nested_list(3000))),
    ("find deep limit", lambda db: db.find("free", "v", eq=1, limit=_nested_list(3000))),
    ("find deep field", lambda db: db.find("free", _nested_list(3000), eq=1)),
    ("find list field", lambda db: db.find("free", ["v"], eq=1)),
    ("get deep id", lambda db: db.get(_nested_list(3000))),
    ("delete deep hard", lambda db: db.delete(_ids(db)[0], hard=_nested_list(3000))),
    ("traverse deep depth", lambda db: db.traverse(_ids(db)[0], depth=_nested_list(3000))),
    ("traverse deep direction", lambda db: db.traverse(_ids(db)[0], direction=_nested_list(3000))),
    ("traverse deep type", lambda db: db.traverse(_ids(db)[0], type=[_nested_list(3000)])),
    ("moments deep since", lambda db: db.moments(since=_nested_list(3000))),
    ("truncate_wal object keep", lambda db: db.truncate_wal(None, keep=object())),
    ("truncate_wal object", lambda db: db.truncate_wal(object())),
    ("truncate_wal str keep", lambda db: db.truncate_wal(None, keep="10")),
    ("truncate_wal nan", lambda db: db.truncate_wal(float("nan"))),
    ("truncate_wal float", lambda db: db.truncate_wal(2.0)),
    ("truncate_wal bool keep", lambda db: db.truncate_wal(None, keep=True)),
    ("truncate_wal bool", lambda db: db.truncate_wal(True)),
    ("insert_batch deep chunk_size", lambda db: db.insert_batch("free", [{"v": 1}], chunk_size=_nested_list(3000))),
    ("ingest deep chunk_size", lambda db: db.ingest([str(db.path)], chunk_size=_nested_list(3000))),
    ("ingest deep glob", lambda db: db.ingest([str(db.path)], glob=_nested_list(3000))),
    ("reembed deep provider", lambda db: db.reembed("resources", provider=_nested_list(3000))),
    ("reembed list model", lambda db: db.reembed("resources", model=["x"])),
    ("reembed deep model", lambda db: db.reembed("resources", provider="hash", model=_nested_list(3000))),
    ("reembed deep field", lambda db: db.reembed("resources", _nested_list(3000), provider="hash")),
    ("rebuild_index deep field", lambda db: db.rebuild_index("resources", _nested_list(3000))),
    ("wal deep after", lambda db: db.wal(_nested_list(3000))),
    ("lookup deep", lambda db: db.lookup(_nested_list(3000))),
    ("insert deep inline edge", lambda db: db.insert("free", {"v": 1}, edges=[_nested_list(3000)])),
    ("search surrogate query", lambda db: db.search("resources", LONE)),
    ("search surrogate inside query", lambda db: db.search("resources", "a\udfffb", mode="vector")),
    ("find deep dict bound", lambda db: db.find("free", "v", gte=_nested(300), lt=1)),
    ("find deep dict eq", lambda db: db.find("free", "v", eq=_nested(300))),
    ("find dict bound int key", lambda db: db.find("free", "v", gte={1: 2})),
    ("register deep name", lambda db: db.register_schema({"properties": {}}, name=_nested_list(3000))),
    ("reembed list table", lambda db: db.reembed(["resources"], provider="hash")),
    ("rebuild_index set table", lambda db: db.rebuild_index({"resources"})),
    ("reembed str chunk_size", lambda db: db.reembed("resources", provider="hash", chunk_size="5")),
    ("reembed zero chunk_size", lambda db: db.reembed("resources", provider="hash", chunk_size=0)),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_INPUTS], ids=[n for n, _ in BAD_INPUTS])
def test_bad_input_raises_remlite_error_and_leaves_data_intact(db: remlite.Database, call: _Call) -> None:
    before = _snapshot(db)
    with pytest.raises(RemliteError):
        call(db)
    assert _snapshot(db) == before
    assert db.check()["ok"]


# ------------------------------------------------------------------ fault 6: non-finite floats


@pytest.mark.parametrize(
    ("record", "field"),
    [({"v": INF}, "v"), ({"v": -INF}, "v"), ({"o": {"a": [1, {"b": NAN}]}}, "o.a.1.b"), ({"o": [INF]}, "o.0")],
)
def test_non_finite_float_names_the_field(db: remlite.Database, record: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        db.insert("free", record)
    assert info.value.field == field
    assert field in info.value.message


def test_non_finite_edge_property_names_the_property(db: remlite.Database) -> None:
    with pytest.raises(ValidationError) as info:
        db.add_edge(*_ids(db), "links", {"w": {"x": NAN}})
    assert info.value.field == "w.x"


def test_infinity_in_batch_names_record_and_field(db: remlite.Database) -> None:
    with pytest.raises(ValidationError) as info:
        db.insert_batch("free", [{"v": 1.5}, {"v": 2.5}, {"o": {"x": INF}}])
    assert info.value.field == "o.x"
    assert info.value.details["record"] == 2


def test_finite_floats_still_stored(db: remlite.Database) -> None:
    rid = db.insert("free", {"v": 1e308, "o": {"x": [-1e-308, 0.0, -0.0]}})
    assert db.get(rid)["v"] == 1e308
    assert db.check()["ok"]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([{"a": None, "b": 1.5}], None),
        ([{"a": "null", "b": [None, {"c": None}]}], None),
        ([{"a": 1e308, "b": 1e308}], None),  # the float sum overflows; the exact walk clears it
        ([{"a": None, "b": INF}], (0, "b")),
        ([{"a": "null", "b": NAN}], (0, "b")),
        ([{"a": {"x": None}}, {"b": [1, NAN]}], (1, "b.1")),
        ([{"a": [None]}, {"b": {"c": -INF}}], (1, "b.c")),
        ([{"a": 1}, {"a": 2**64}], (1, "a")),
        ([{"a": {"k": (1, INF)}}], (0, "a.k.1")),
    ],
)
def test_json_value_fault_finds_the_first_bad_value(
    records: list[dict[str, Any]], expected: tuple[int, str] | None
) -> None:
    from remlite.schema.validate import json_value_fault

    found = json_value_fault(records)
    assert (found[:2] if found else None) == expected


def test_json_value_fault_position_beyond_the_first_slice() -> None:
    from remlite.schema.validate import json_value_fault

    records: list[dict[str, Any]] = [{"a": i, "b": None} for i in range(10_000)]
    records[9_000] = {"a": [INF]}
    assert json_value_fault(records) == (9_000, "a.0", "inf is not a finite number (JSON has no NaN or Infinity)")


def test_numpy_infinity_is_refused(db: remlite.Database) -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(ValidationError) as info:
        db.insert("free", {"v": np.float32("inf")})
    assert info.value.field == "v"
    with pytest.raises(ValidationError):
        db.insert("free", {"o": np.array([1.0, np.nan])})


# ------------------------------------------------------------------ fault 15: integers beyond 64 bits


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 2**64, -(2**63) - 1, 2**70])
def test_integer_out_of_range_names_the_field(db: remlite.Database, value: int) -> None:
    with pytest.raises(ValidationError) as info:
        db.insert("free", {"o": {"big": value}})
    assert info.value.field == "o.big"


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 1234567890123456789])
def test_integers_within_64_bits_accepted(db: remlite.Database, value: int) -> None:
    rid = db.insert("free", {"o": {"big": value}, "v": value, "title": "x" * 19 + "1234567890123456789"})
    assert db.get(rid)["o"]["big"] == value
    assert db.find("free", "v", eq=value) == [rid]


def test_unsigned_64_bit_integer_in_an_indexed_field_refused_before_any_chunk(db: remlite.Database) -> None:
    """Integers of 2**63 and above fit a JSON row but not an index key (or a SQL BIGINT): they are
    refused at validation, so a batch whose third chunk holds one writes nothing."""
    before = _snapshot(db)
    rows = [{"title": f"r{i}", "v": i} for i in range(30)]
    rows[25]["v"] = 2**63
    with pytest.raises(ValidationError) as info:
        db.insert_batch("free", rows, chunk_size=10)
    assert info.value.field == "v" and info.value.details["record"] == 25
    assert _snapshot(db) == before


# ------------------------------------------------------------------ fault 13: reserved SQL view names


@pytest.mark.parametrize("name", ["edges", "EDGES"])
def test_view_name_is_reserved(db: remlite.Database, name: str) -> None:
    with pytest.raises(SchemaError, match="reserved"):
        db.register_schema({"properties": {"a": {"type": "string"}}}, name=name)
    assert "edges" in db.sql("SELECT * FROM edges").columns[:3] or db.sql("SELECT * FROM edges").columns[0] == "src"


def test_edges_view_still_answers(db: remlite.Database) -> None:
    with pytest.raises(SchemaError):
        db.register_schema({"name": "edges", "properties": {"a": {"type": "string"}}})
    assert db.sql("SELECT src, dst, type FROM edges").rows[0]["type"] == "links"


# ------------------------------------------------------------------ fault 14: SQL after close


@pytest.mark.parametrize(
    "query", ["SELECT count(*) AS n FROM free", "SELECT title, count(*) FROM free GROUP BY title", "LOOKUP 'k1'"]
)
def test_sql_after_close_raises(tmp_path: Path, query: str) -> None:
    database = remlite.connect(tmp_path / "db")
    database.register_schema(FREE)
    database.insert_batch("free", [{"title": f"t{i}", "v": i} for i in range(20)])
    database.sql(query)  # warms the column cache and DuckDB
    database.sql(query)
    database.close()
    with pytest.raises(DatabaseClosed):
        database.sql(query)
    with pytest.raises(DatabaseClosed):
        database.explain(query)
    assert "_sql_state" not in database.__dict__  # the column cache and DuckDB connection are released


# ------------------------------------------------------------------ fault 18: schemas


def test_yaml_alias_bomb_is_refused_fast(tmp_path: Path, db: remlite.Database) -> None:
    bomb = ["name: bomb", "type: object", 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    previous = "a"
    for level in "bcdefghi":
        bomb.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = level
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(bomb) + "\n")
    assert len(path.read_bytes()) < 600
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            db.register_schema(path)
        except BaseException as exc:
            result.append(exc)
        else:
            result.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert result, "register_schema hung on a YAML alias bomb"
    assert isinstance(result[0], SchemaError)
    assert "alias" in str(result[0])


def test_yaml_without_aliases_still_loads(tmp_path: Path, db: remlite.Database) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("name: plain\ntype: object\nproperties:\n  a: {type: string}\n")
    assert db.register_schema(path)["name"] == "plain"


@pytest.mark.parametrize(
    "properties",
    [
        {"a": {"type": "strin"}},
        {"a": {"$ref": "#/$defs/Missing"}},
        {"a": {"type": "string", "pattern": "(unclosed"}},
        {"a": {"type": "string", "minLength": -1}},
    ],
)
def test_schema_that_cannot_compile_is_refused(db: remlite.Database, properties: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        db.register_schema({"name": "never", "type": "object", "properties": properties})
    assert "never" not in [s["name"] for s in db.schemas()]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_remote_ref_is_refused_and_not_fetched(db: remlite.Database, http_server: str) -> None:
    schema = {"name": "remote", "properties": {"a": {"$ref": f"{http_server}/schema.json"}}}
    with pytest.raises(SchemaError, match="ref"):
        db.register_schema(schema)
    nested = {"name": "remote2", "$defs": {"x": {"$ref": f"{http_server}/x.json#/y"}}, "properties": {}}
    with pytest.raises(SchemaError, match="ref"):
        db.register_schema(nested)
    assert _Recorder.hits == []


def test_file_ref_is_refused(tmp_path: Path, db: remlite.Database) -> None:
    target = tmp_path / "secret.json"
    target.write_text('{"type": "string"}')
    for ref in (target.as_uri(), "secret.json", "other.json#/a"):
        with pytest.raises(SchemaError, match="ref"):
            db.register_schema({"name": "fileref", "properties": {"a": {"$ref": ref}}})


def test_local_refs_still_work(db: remlite.Database) -> None:
    schema = {
        "name": "local",
        "$defs": {"Team": {"type": "object", "properties": {"t": {"type": "string"}}}},
        "properties": {"team": {"$ref": "#/$defs/Team"}},
    }
    db.register_schema(schema)
    rid = db.insert("local", {"team": {"t": "x"}})
    with pytest.raises(ValidationError):
        db.insert("local", {"team": {"t": 5}})
    assert db.get(rid)["team"] == {"t": "x"}


@pytest.mark.parametrize("name", ["notes\n", "notes\n\n", "\nnotes", "no tes", "", "1notes"])
def test_table_name_must_match_fully(db: remlite.Database, name: str) -> None:
    with pytest.raises(SchemaError):
        db.register_schema({"properties": {"a": {"type": "string"}}}, name=name)


def test_tenant_name_with_trailing_newline(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        remlite.connect(tmp_path, tenant="acme\n")
    assert not (tmp_path / "acme\n").exists()


# ------------------------------------------------------------------ fault 18: deep SQL


def test_deep_parentheses_give_query_error(db: remlite.Database) -> None:
    with pytest.raises(QueryError, match="nest"):
        db.sql("SELECT * FROM free WHERE " + "(" * 5000 + "v = 1" + ")" * 5000)
    assert db.sql("SELECT * FROM free WHERE " + "(" * 20 + "v = 1" + ")" * 20).rows[0]["title"] == "first"


# ------------------------------------------------------------------ lone surrogates at the embedding boundary


@pytest.mark.parametrize("provider", ["hash", "local"])
@pytest.mark.parametrize("text", [LONE, "a\udfffb", "caf\u00e9 \udc80"])
def test_embedding_a_lone_surrogate_is_invalid_input(provider: str, text: str) -> None:
    from remlite.embed import get_provider

    embedder = get_provider(provider)
    with pytest.raises(InvalidInput, match="surrogate"):
        embedder.embed(["fine", text])
    assert embedder.embed(["caf\u00e9"]).shape == (1, embedder.dimension)
