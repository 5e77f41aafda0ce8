"""A fuzzer of bad inputs. Every library call either succeeds with a valid result or raises a
`remlite.errors.RemliteError`, and a rejected call leaves every column family byte-identical. Every
rejected `remlite` command exits non-zero with exactly one stderr line, starting with `error:`, and no
traceback; it too leaves the database as it was.

Inputs: records holding sets, bytes, huge integers, lone surrogates, deep nesting, NaN/Inf,
generators and foreign objects; wrong types; bad ids and table names; filters with deep
parentheses; bad SQL; schemas with invalid types, dangling, remote and file `$ref`s, reference
cycles, YAML bombs; bad chunk sizes, k, depths and offsets.
"""

from __future__ import annotations

import math
import os
import reprlib
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from tests.conftest import NOTES, TASKS
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, changed_families, count, snapshot, snapshot_path

LIBRARY_EXAMPLES = int(os.environ.get("REMLITE_FUZZ_EXAMPLES", "300"))
CLI_EXAMPLES = max(20, LIBRARY_EXAMPLES // 4)
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

YAML_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
name: bomb
properties: {x: {type: string, enum: *h}}
"""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 4, 60, 60, 4, 4


def short(value: Any) -> str:
    """A bounded repr for labels: the inputs nest thousands deep, which the builtin repr cannot print."""
    try:
        return _REPR.repr(value)
    except Exception as exc:  # a value whose repr itself fails is still a label
        return f"<{type(value).__name__}: repr failed: {type(exc).__name__}>"


def deep_list(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


# ---------------------------------------------------------------------------------------- strategies
bad_values = st.one_of(
    st.sets(st.integers(-5, 5), min_size=1, max_size=3),
    st.frozensets(st.text(max_size=3), min_size=1, max_size=2),
    st.binary(min_size=1, max_size=8),
    st.builds(bytearray, st.binary(min_size=1, max_size=4)),
    st.integers(min_value=2**63, max_value=2**90),
    st.integers(min_value=-(2**90), max_value=-(2**63) - 1),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(["\ud800", "a\udfffb", "\udc80\ud800x", "ok\x00nul"]),
    st.integers(100, 5000).map(deep_list),
    st.integers(100, 5000).map(deep_dict),
    st.builds(lambda: (i for i in range(3))),
    st.builds(object),
    st.sampled_from([1j, Decimal("NaN"), Decimal("1e400"), range(3), Ellipsis, print, type]),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.tuples(st.integers()), st.integers(), min_size=1, max_size=1),
    st.lists(st.sampled_from([math.nan, 1, "x", b"y"]), min_size=1, max_size=3),
)
any_values = st.one_of(bad_values, st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
bad_ids = st.one_of(
    st.sampled_from(
        ["", "not-an-id", "\ud800", "00000000-0000-0000-0000-000000000000", "12345678-1234-1234-1234-1234567890ab"]
    ),
    st.text(max_size=40),
    st.integers(),
    st.none(),
    st.binary(max_size=20),
    st.builds(object),
)
bad_tables = st.one_of(
    st.sampled_from(["", "nosuch", "../etc", "a/b", "x\x00y", "tasks ", "TASKS", "a" * 500, "\ud800", "schema:tasks"]),
    st.integers(),
    st.none(),
    st.builds(object),
    st.text(max_size=12),
)
bad_chunks = st.one_of(
    st.sampled_from([0, -1, -(2**70), 2**70, True, False, 1.5, "10", None, math.nan]), st.builds(object)
)
deep_where = st.integers(50, 20_000).map(lambda n: "(" * n + "grp = 1" + ")" * n)
bad_where = st.one_of(
    deep_where,
    st.integers(50, 20_000).map(lambda n: "NOT " * n + "grp = 1"),
    st.integers(1, 5000).map(lambda n: "(" * n + "grp = 1"),
    st.sampled_from(
        [
            "",
            "grp =",
            "nosuch = 1",
            "grp = 'a' OR",
            "1; DROP TABLE tasks",
            "grp IN ()",
            "similar(body, 1)",
            "grp = ?",
            "\ud800 = 1",
            "grp = 1e999999",
            "priority > 99999999999999999999999999",
        ]
    ),
    st.text(max_size=60),
    st.integers(),
    st.builds(object),
)
bad_sql = st.one_of(
    st.integers(50, 20_000).map(lambda n: "SELECT " + "(" * n + "1" + ")" * n + " FROM tasks"),
    st.integers(50, 3000).map(lambda n: "SELECT * FROM tasks WHERE " + " AND ".join(["priority = 1"] * n)[:200_000]),
    st.sampled_from(
        [
            "",
            ";",
            "SELECT",
            "SELECT * FROM nosuch",
            "DROP TABLE tasks",
            "DELETE FROM tasks",
            "INSERT INTO tasks VALUES (1)",
            "UPDATE tasks SET priority = 1",
            "SELECT * FROM tasks; SELECT 1",
            "SELECT * FROM tasks WHERE priority = ?",
            "SELECT nosuch(priority) FROM tasks",
            "SELECT * FROM tasks LIMIT -1",
            "SELECT * FROM tasks LIMIT 99999999999999999999999",
            "SELECT CAST(name AS INTEGER) FROM tasks",
            "SELECT priority / 0 FROM tasks",
            "SEARCH 'x' IN nosuch",
            "TRAVERSE FROM 'nobody' DEPTH 999",
            "LOOKUP",
            "\ud800",
            "SELECT * FROM tasks WHERE name = '\x00'",
        ]
    ),
    st.text(max_size=80),
    st.none(),
    st.integers(),
)
bad_params = st.one_of(
    st.none(),
    st.lists(any_values, max_size=3),
    st.dictionaries(st.text(max_size=3), any_values, max_size=2),
    bad_values,
)
_ok_props = {"x": {"type": "string"}}
bad_schemas = st.one_of(
    st.sampled_from(
        [
            {"name": "bad_type", "properties": {"x": {"type": "nope"}}},
            {"name": "bad_props", "properties": "x"},
            {"name": "bad_props2", "properties": ["x"]},
            {"name": "dangling", "properties": {"x": {"$ref": "#/definitions/missing"}}},
            {"name": "dangling2", "properties": {"x": {"$ref": "#/$defs/a/b/c"}}},
            {"name": "remote", "properties": {"x": {"$ref": "http://127.0.0.1:9/schema.json"}}},
            {"name": "remote2", "properties": {"x": {"$ref": "https://example.invalid/s.json#/x"}}},
            {"name": "fileref", "properties": {"x": {"$ref": "file:///etc/passwd"}}},
            {"name": "fileref2", "properties": {"x": {"$ref": "/etc/hostname"}}},
            {
                "name": "cycle",
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            {"name": "selfref", "$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
            {"name": "nokey", "properties": _ok_props, "key_field": "missing"},
            {"name": "noidx", "properties": _ok_props, "indexed_fields": ["nope"]},
            {"name": "noemb", "properties": _ok_props, "embedding_fields": ["nope"]},
            {"name": "badmetric", "properties": _ok_props, "embedding_fields": ["x"], "embedding_metric": "dot"},
            {"name": "keylist", "properties": _ok_props, "key_field": [1, 2]},
            {"name": "idxstr", "properties": _ok_props, "indexed_fields": "x"},
            {"name": "", "properties": _ok_props},
            {"name": "a b/c", "properties": _ok_props},
            {"name": "x" * 300, "properties": _ok_props},
            {"name": 5, "properties": _ok_props},
            {"name": "arr", "type": "array"},
            {"name": "nan_default", "properties": {"x": {"type": "number", "default": math.nan}}},
            {"name": "big_default", "properties": {"x": {"type": "integer", "default": 2**80}}},
            {"name": "pattern", "properties": {"x": {"type": "string", "pattern": "(unclosed"}}},
            {"name": "tasks", "properties": {"name": {"type": "string"}}, "key_field": "name"},
            {"name": "tasks", **{k: v for k, v in TASKS.items() if k != "name"}, "key_field": "status"},
            {"name": "notes", "properties": {**NOTES["properties"], "score": {"type": "string"}}},
            {
                "name": "notes",
                **NOTES,
                "required": ["title", "extra"],
                "properties": {**NOTES["properties"], "extra": {"type": "string"}},
            },
            {"name": "sysfield", "properties": {"id": {"type": "integer"}}},
            {"name": "deep", "properties": {"x": deep_dict(3000)}},
        ]
    ),
    st.sampled_from([[], "", "no/such/file.yaml", "nosuch.module:Model", "os:path", "json:loads", 42, None]),
    st.builds(object),
    bad_values,
)


def _records(draw: st.DrawFn) -> Any:
    """A record for `tasks` with one bad value somewhere, or something that is not a record."""
    record: dict[Any, Any] = {"name": draw(st.text(min_size=1, max_size=8)), "priority": 1}
    where = draw(st.sampled_from(["name", "priority", "tags", "owner", "new", "due", "key", "whole"]))
    value = draw(bad_values)
    if where == "whole":
        return draw(st.one_of(bad_values, st.just([record]), st.text(max_size=5), st.none()))
    if where == "tags":
        record["tags"] = ["ok", value]
    elif where == "owner":
        record["owner"] = {"team": value}
    elif where == "key":
        record[value if isinstance(value, (int, bytes, frozenset)) else 1] = "x"
    else:
        record[where] = value
    return record


records = st.composite(_records)()


class Labelled(tuple[str, Callable[[remlite.Database], Any]]):
    """(label, call) that Hypothesis reports by its label: its own printer walks the arguments of every
    `.map`, and a value thousands of levels deep made it raise RecursionError, hiding the real failure."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self[0])


class Calls:
    """Strategies for one library call with bad input: (label, function of the database)."""

    def __init__(self, good_id: str, other_id: str, tmp: Path) -> None:
        self.good_id, self.other_id, self.tmp = good_id, other_id, tmp

    def strategy(self) -> st.SearchStrategy[tuple[str, Callable[[remlite.Database], Any]]]:
        gid = self.good_id
        return st.one_of(
            records.map(lambda r: (f"insert(tasks, {short(r)})", lambda db: db.insert("tasks", r))),
            st.tuples(bad_tables).map(
                lambda a: (f"insert({short(a[0])})", lambda db: db.insert(a[0], {"name": "x", "priority": 1}))
            ),
            st.lists(records, min_size=1, max_size=4).map(
                lambda rs: (
                    "insert_batch(bad records)",
                    lambda db: db.insert_batch("tasks", [{"name": "ok", "priority": 2}, *rs]),
                )
            ),
            st.builds(
                lambda: (
                    "insert_batch(generator)",
                    lambda db: db.insert_batch("tasks", ({"name": f"g{i}", "priority": i} for i in range(3))),
                )
            ),
            bad_values.map(lambda v: ("insert_batch(not a list)", lambda db: db.insert_batch("tasks", v))),
            bad_chunks.map(
                lambda c: (
                    f"insert_batch(chunk_size={short(c)})",
                    lambda db: db.insert_batch("tasks", [{"name": "c", "priority": 1}], chunk_size=c),
                )
            ),
            st.tuples(bad_ids, any_values).map(
                lambda a: (f"update({short(a[0])})", lambda db: db.update(a[0], {"priority": 5}))
            ),
            any_values.map(lambda v: (f"update(changes={short(v)})", lambda db: db.update(gid, {"priority": v}))),
            st.one_of(bad_values, st.text(max_size=5)).map(
                lambda v: ("update(not a dict)", lambda db: db.update(gid, v))
            ),
            st.sampled_from(["id", "created_at", "deleted_at", "name"]).map(
                lambda f: (f"update({f})", lambda db: db.update(gid, {f: "2020-01-01T00:00:00Z"}))
            ),
            bad_ids.map(lambda i: (f"delete({short(i)})", lambda db: db.delete(i))),
            st.tuples(bad_ids, st.one_of(bad_values, st.integers())).map(
                lambda a: (f"delete({short(a[0])}, hard={short(a[1])})", lambda db: db.delete(a[0], hard=a[1]))
            ),
            bad_ids.map(lambda i: (f"get({short(i)})", lambda db: db.get(i))),
            st.lists(bad_ids, min_size=1, max_size=3).map(lambda ids: ("get_batch", lambda db: db.get_batch(ids))),
            st.tuples(st.sampled_from(["priority", "status", "nosuch", "", "owner.team", "tags"]), any_values).map(
                lambda a: (f"find({a[0]}, eq={short(a[1])})", lambda db: db.find("tasks", a[0], eq=a[1]))
            ),
            st.tuples(any_values, any_values).map(
                lambda a: ("find(range)", lambda db: db.find("tasks", "priority", gte=a[0], lt=a[1]))
            ),
            st.tuples(bad_tables, st.one_of(bad_values, st.none())).map(
                lambda a: (
                    "scan/list",
                    lambda db: list(db.scan(a[0], limit=a[1])) if a[0] != "tasks" else db.list("tasks", limit=a[1]),
                )
            ),
            bad_where.map(lambda w: (f"search(where={short(w)})", lambda db: db.search("docs", "river", where=w))),
            bad_where.map(
                lambda w: (
                    f"search(text, where={short(w)})",
                    lambda db: db.search("docs", "river", where=w, mode="text"),
                )
            ),
            st.one_of(bad_chunks, st.sampled_from([10**9, 2**63])).map(
                lambda k: (f"search(k={short(k)})", lambda db: db.search("docs", "river", k=k))
            ),
            st.one_of(bad_values, st.lists(st.floats(), max_size=5), st.none(), st.text(max_size=3)).map(
                lambda q: (f"search(query={short(q)})", lambda db: db.search("docs", q))
            ),
            st.tuples(st.text(max_size=8), st.one_of(st.text(max_size=8), st.none(), st.integers())).map(
                lambda a: (
                    f"search(mode={short(a[0])}, field={short(a[1])})",
                    lambda db: db.search("docs", "river", mode=a[0], field=a[1]),
                )
            ),
            st.tuples(any_values, any_values).map(
                lambda a: (
                    "search(min_score, rrf_k)",
                    lambda db: db.search("docs", "river", mode="hybrid", min_score=a[0], rrf_k=a[1]),
                )
            ),
            st.tuples(bad_sql, bad_params).map(lambda a: (f"sql({short(a[0])})", lambda db: db.sql(a[0], a[1]))),
            bad_sql.map(lambda q: (f"explain({short(q)})", lambda db: db.explain(q))),
            bad_schemas.map(lambda sc: (f"register_schema({short(sc)})", lambda db: db.register_schema(sc))),
            st.sampled_from(["broken.yaml", "empty.json", "list.json", "dir", "text.txt", "ref.yaml"]).map(
                lambda f: (f"register_schema(file {f})", lambda db: db.register_schema(self.tmp / f))
            ),
            st.tuples(bad_tables, st.booleans()).map(
                lambda a: (
                    f"drop_schema({short(a[0])})",
                    lambda db: (
                        db.drop_schema(a[0], force=a[1])
                        if a[0] not in ("tasks", "notes", "docs")
                        else db.drop_schema("resources")
                    ),
                )
            ),
            st.tuples(bad_ids, st.one_of(bad_ids, st.just(gid)), st.one_of(st.text(max_size=4), bad_values)).map(
                lambda a: ("add_edge(bad)", lambda db: db.add_edge(a[0] if a[0] else gid, a[1], a[2]))
            ),
            st.tuples(st.one_of(st.sampled_from(["", " "]), bad_values), bad_values).map(
                lambda a: ("add_edge(bad type/props)", lambda db: db.add_edge(gid, self.other_id, a[0], {"p": a[1]}))
            ),
            st.lists(
                st.one_of(
                    bad_values, st.tuples(bad_ids, bad_ids), st.tuples(st.just(gid), st.just(self.other_id), bad_values)
                ),
                min_size=1,
                max_size=3,
            ).map(lambda es: ("add_edges(bad)", lambda db: db.add_edges([(gid, self.other_id, "ok"), *es]))),
            st.tuples(bad_ids, st.one_of(bad_chunks, st.integers(65, 10**6)), st.text(max_size=5)).map(
                lambda a: ("traverse(bad)", lambda db: db.traverse(gid, depth=a[1], direction=a[2]))
            ),
            st.tuples(bad_ids, bad_ids).map(lambda a: ("shortest_path(bad)", lambda db: db.shortest_path(a[0], a[1]))),
            st.tuples(st.one_of(st.text(max_size=12), bad_values), st.one_of(st.text(max_size=12), st.none())).map(
                lambda a: ("moments(bad)", lambda db: db.moments(since=a[0], until=a[1]))
            ),
            st.tuples(bad_chunks, bad_chunks).map(
                lambda a: (
                    "ingest(bad sizes)",
                    lambda db: db.ingest([self.tmp / "docs"], "resources", chunk_size=a[0], overlap=a[1]),
                )
            ),
            st.one_of(st.sampled_from(["/no/such/dir", "a\x00b", ""]), bad_values).map(
                lambda p: (f"ingest({short(p)})", lambda db: db.ingest([p]))
            ),
            st.sampled_from(["documents", "nosuch", "tasks"]).map(
                lambda t: (f"ingest(table={t})", lambda db: db.ingest([self.tmp / "docs"], t))
            ),
            st.tuples(st.one_of(st.none(), bad_chunks), st.one_of(st.none(), bad_chunks)).map(
                lambda a: (
                    f"truncate_wal({short(a[0])}, keep={short(a[1])})",
                    lambda db: db.truncate_wal(a[0], keep=a[1]),
                )
            ),
            st.tuples(st.sampled_from(["", "nope", "LOCAL ", "hash:x"]), st.one_of(st.none(), st.text(max_size=5))).map(
                lambda a: (f"reembed(provider={short(a[0])})", lambda db: db.reembed("docs", provider=a[0], model=a[1]))
            ),
            st.sampled_from(["title", "nosuch", ""]).map(
                lambda f: (f"reembed(field={f})", lambda db: db.reembed("docs", f, provider="hash"))
            ),
            st.sampled_from(["nosuch", "title", ""]).map(
                lambda f: (f"rebuild_index({f})", lambda db: db.rebuild_index("docs", f))
            ),
            st.tuples(st.one_of(bad_values, st.lists(st.floats(), max_size=3)), st.integers(0, 2)).map(
                lambda a: (
                    "insert(vectors=bad)",
                    lambda db: db.insert("docs", s.doc_row(5_000 + a[1], "v"), vectors={"body": a[0]}),
                )
            ),
        ).map(Labelled)


def _files(tmp: Path) -> None:
    (tmp / "bomb.yaml").write_text(YAML_BOMB)
    (tmp / "broken.yaml").write_text("name: [unclosed\nproperties: {x: \n")
    (tmp / "empty.json").write_text("")
    (tmp / "list.json").write_text("[1, 2, 3]")
    (tmp / "dir").mkdir()
    (tmp / "text.txt").write_text("not a schema")
    (tmp / "ref.yaml").write_text("name: refs\nproperties:\n  x: {$ref: 'file:///etc/passwd'}\n")
    (tmp / "docs").mkdir()
    (tmp / "docs" / "a.md").write_text("# A\n\nSome text about rivers.\n")


def _fill(db: remlite.Database) -> tuple[str, str]:
    db.register_schema(TASKS)
    db.register_schema(NOTES)
    db.register_schema(s.DOCS)
    ids = db.insert_batch(
        "tasks", [{"name": f"t{i}", "priority": i, "tags": ["a"], "owner": {"team": "x"}} for i in range(30)]
    )
    db.insert_batch("docs", [s.doc_row(i) for i in range(50)])
    db.add_edge(ids[0], ids[1], "next")
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[remlite.Database, Calls]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    _files(tmp)
    db = remlite.connect(tmp / "db", embedder="hash")
    good, other = _fill(db)
    yield db, Calls(good, other, tmp)
    db.close()


def test_library_rejects_bad_input_with_remlite_errors_and_changes_nothing(
    fuzz_env: tuple[remlite.Database, Calls],
) -> None:
    db, calls = fuzz_env
    outcomes = {"ok": 0, "rejected": 0}

    @settings(SETTINGS, max_examples=LIBRARY_EXAMPLES)
    @given(call=calls.strategy())
    def run(call: tuple[str, Callable[[remlite.Database], Any]]) -> None:
        label, func = call
        count("inputs")
        before = snapshot(db)
        try:
            result = func(db)
            if hasattr(result, "__next__"):
                list(result)
        except remlite.RemliteError as exc:
            outcomes["rejected"] += 1
            changed = changed_families(before, snapshot(db))
            assert not changed, f"REMLITE_FAULT_SEED={SEED} {label} raised {short(exc)} but changed {changed}"
        except RecursionError as exc:
            pytest.fail(f"{label}: RecursionError escaped ({exc})")
        except Exception as exc:
            pytest.fail(f"{label}: raised {type(exc).__name__} (not a remlite error): {exc!s:.300}")
        else:
            outcomes["ok"] += 1

    run()
    assert outcomes["rejected"] > outcomes["ok"] / 4, outcomes
    assert_intact(db, "after the library fuzz")


# ---------------------------------------------------------------------------------------- the CLI
cli_runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    _files(tmp)
    root = tmp / "root"
    with remlite.connect(root, embedder="hash") as db:
        good, _ = _fill(db)
    return root, good, tmp


def _cli_args(good: str, tmp: Path) -> st.SearchStrategy[tuple[list[str], str | None]]:
    """(argv, stdin) of a well-formed command line whose values are bad."""
    text = st.text(max_size=30).filter(lambda t: not t.startswith("-") and "\x00" not in t)
    json_bad = st.one_of(
        st.sampled_from(
            [
                "{",
                "[]",
                "1",
                "null",
                '"x"',
                '{"name": 1}',
                '{"priority": "x"}',
                '{"name": "a", "priority": 1e999}',
                '{"name": "a", "priority": 1' + "0" * 40 + "}",
                '{"name": "a", "priority": NaN}',
                '{"name": "\\ud800", "priority": 1}',
                '{"name": "a", "priority": 1, "id": 5}',
                "[" * 3000 + "]" * 3000,
                '{"a":' * 2000 + "1" + "}" * 2000,
            ]
        ),
        text,
    )
    return st.one_of(
        st.tuples(st.one_of(st.just("tasks"), text), json_bad).map(lambda a: (["insert", a[0] or "x", a[1]], None)),
        json_bad.map(lambda j: (["insert", "tasks", "--batch"], '{"name": "ok", "priority": 1}\n' + j + "\n")),
        text.map(lambda i: (["get", i or "x"], None)),
        text.map(lambda i: (["delete", i or "x", "--hard"], None)),
        json_bad.map(lambda j: (["update", good, j], None)),
        text.map(lambda i: (["update", i or "x", "{}"], None)),
        st.one_of(
            bad_sql.filter(
                lambda q: isinstance(q, str) and q and not q.startswith("-") and "\x00" not in q and len(q) < 100_000
            ),
            text.filter(bool),
        ).map(lambda q: (["query", q], None)),
        st.one_of(text, deep_where)
        .filter(bool)
        .map(lambda w: (["search", "river", "--table", "docs", "--where", w], None)),
        text.filter(bool).map(lambda m: (["search", "river", "--table", "docs", "--mode", m], None)),
        text.filter(bool).map(lambda t: (["search", "river", "--table", t], None)),
        st.sampled_from(["broken.yaml", "empty.json", "list.json", "dir", "text.txt", "ref.yaml", "none.yaml"]).map(
            lambda f: (["schema", "add", str(tmp / f)], None)
        ),
        st.sampled_from(["nosuch.module:Model", "os:path", "-"]).map(lambda src: (["schema", "add", src], "{")),
        text.map(lambda t: (["schema", "drop", t or "x"], None)),
        st.tuples(text, text).map(lambda a: (["edge", "add", good, a[0] or "x", a[1] or "t"], None)),
        text.map(lambda t: (["traverse", t or "x", "--depth", "100000"], None)),
        st.integers(65, 10**6).map(lambda d: (["traverse", good, "--depth", str(d)], None)),
        text.filter(bool).map(lambda t: (["moments", "--since", t], None)),
        st.just((["truncate-wal"], None)),
        st.sampled_from(["-1", "-99"]).map(lambda k: (["truncate-wal", "--keep", k], None)),
        st.sampled_from(["nope", "", "hash:x"]).map(lambda p: (["reembed", "docs", "--provider", p], None)),
        text.map(lambda t: (["index", "rebuild", t or "x"], None)),
        st.sampled_from(["/no/such/dir", str(tmp / "text.txt") + "/x"]).map(lambda p: (["ingest", p], None)),
        text.map(lambda t: (["list", t or "x"], None)),
        text.map(lambda t: (["list", "tasks", "--after", t or "x"], None)),
        text.map(lambda t: (["count", t or "x"], None)),
    )


def test_cli_rejects_bad_input_with_one_error_line(cli_env: tuple[Path, str, Path]) -> None:
    root, good, tmp = cli_env
    outcomes = {"ok": 0, "rejected": 0}

    @settings(SETTINGS, max_examples=CLI_EXAMPLES)
    @given(case=_cli_args(good, tmp))
    def run(case: tuple[list[str], str | None]) -> None:
        argv, stdin = case
        count("inputs")
        before = snapshot_path(root / "default")
        result = cli_runner.invoke(app, [*argv, "--path", str(root)], input=stdin)
        label = f"rem {short(' '.join(argv)[:200])}"
        if result.exit_code == 0:
            outcomes["ok"] += 1
            return
        outcomes["rejected"] += 1
        assert isinstance(result.exception, SystemExit), (
            f"{label}: {type(result.exception).__name__} escaped: {result.exception!s:.300}"
        )
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{label}: stderr {short(result.stderr[:1000])}"
        assert "Traceback" not in result.stdout + result.stderr, label
        changed = changed_families(before, snapshot_path(root / "default"))
        assert not changed, f"REMLITE_FAULT_SEED={SEED} {label} failed but changed {changed}"

    run()
    assert outcomes["rejected"] > outcomes["ok"], outcomes


def _limited() -> None:
    """In the child before exec: a runaway parse (a YAML bomb) hits a 2 GiB address-space limit
    instead of the shared machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _rem(root: Path, argv: list[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    rem = Path(sys.executable).parent / "remlite"
    env = {k: v for k, v in os.environ.items() if k not in ("REMLITE_PATH", "REMLITE_TENANT")}
    return subprocess.run(
        [str(rem), *argv, "--path", str(root)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        preexec_fn=_limited,
    )


@pytest.fixture
def fresh_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    with remlite.connect(root, embedder="hash") as db:
        _fill(db)
    return root


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["insert", "tasks", "{not json"], None),
        (["get", "not-an-id"], None),
        (["query", "SELECT (((((1 FROM tasks"], None),
        (["insert", "tasks", "--batch"], '{"name": "a", "priority": 1}\n' + "[" * 5000 + "\n"),
        (["schema", "add", "-"], "name: x\nproperties: {x: {$ref: 'http://127.0.0.1:9/s.json'}}\n"),
        (["schema", "add", "-"], YAML_BOMB),
    ],
    ids=["bad json", "bad id", "bad sql", "deep batch line", "remote ref", "yaml bomb"],
)
def test_installed_rem_script_prints_one_error_line(fresh_root: Path, argv: list[str], stdin: str | None) -> None:
    count("inputs")
    before = snapshot_path(fresh_root / "default")
    done = _rem(fresh_root, argv, stdin)
    assert done.returncode != 0, f"{argv}: succeeded: {done.stdout[:300]}"
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{argv}: {short(done.stderr[-2000:])}"
    assert snapshot_path(fresh_root / "default") == before, f"{argv}: the database changed"


def test_yaml_bomb_schema_file_is_refused_by_the_library(tmp_path: Path) -> None:
    """In a child with a memory limit: the bomb expands to ~48M strings if it is ever resolved."""
    count("inputs")
    (tmp_path / "bomb.yaml").write_text(YAML_BOMB)
    code = (
        "import sys, remlite\n"
        f"db = remlite.connect({str(tmp_path / 'db')!r})\n"
        "try:\n"
        f"    db.register_schema({str(tmp_path / 'bomb.yaml')!r})\n"
        "except remlite.errors.SchemaError as exc:\n"
        "    print('refused', type(exc).__name__)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, preexec_fn=_limited)
    assert done.stdout.startswith("refused"), f"exit {done.returncode}: {done.stdout} {done.stderr[-1500:]}"
