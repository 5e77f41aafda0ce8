"""`lookup(key, fuzzy=True)`: typos, case, partial names and codes with other punctuation, found
through the trigrams of the `fuzzy` family (`remlite.fuzzy`), kept in each row's write batch,
replayed by `apply()`, built once for tables written before the family existed, checked by
`check()`, and served by SQL, HTTP, the remote client and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rocksdict import Options, Rdict
from typer.testing import CliRunner

import remlite
from remlite import fuzzy
from remlite.cli.app import app
from remlite.errors import InvalidInput
from remlite.storage.engine import Store
from remlite.storage.keyspace import FUZZY_PREFIX, FUZZY_ROW_TAG, fuzzy_marker_key, table_prefix

PEOPLE = {
    "name": "people",
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    "required": ["name", "email"],
    "key_field": "email",
}
TICKETS = {
    "name": "tickets",
    "properties": {"code": {"type": "string"}, "title": {"type": "string"}},
    "required": ["code"],
    "key_field": "code",
}
CARRIERS = {"name": "carriers", "properties": {"name": {"type": "string"}}, "required": ["name"], "key_field": "name"}
NOTES = {"name": "notes", "properties": {"title": {"type": "string"}}}  # no key, no name: nothing indexed

PEOPLE_ROWS = [
    ("Alice Johnson", "p1@example.com"),
    ("Alice", "p2@example.com"),
    ("Bob Smith", "p3@example.com"),
    ("Carol Danvers", "p4@example.com"),
    ("Zoë Ångström", "p5@example.com"),
]


def _fill(db: Any) -> dict[str, str]:
    """The tables and records most tests use; returns ids by name or code."""
    for schema in (PEOPLE, TICKETS, CARRIERS, NOTES):
        db.register_schema(schema)
    ids = {}
    for name, email in PEOPLE_ROWS:
        ids[name] = db.insert("people", {"name": name, "email": email})
    for code in ("TAP-1234", "TAP-9876", "OPS-1"):
        ids[code] = db.insert("tickets", {"code": code, "title": f"ticket {code}"})
    for name in ("DHL", "FedEx", "UPS"):
        ids[name] = db.insert("carriers", {"name": name})
    db.insert("notes", {"title": "Alice's note"})
    return ids


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[remlite.Database, dict[str, str]]]:
    with remlite.connect(tmp_path / "db") as db:
        yield db, _fill(db)


def _names(found: list[dict[str, Any]]) -> list[str]:
    return [r.get("name") or r.get("code") for r in found]


def _well_formed(found: list[dict[str, Any]], limit: int = fuzzy.DEFAULT_LIMIT, floor: float = fuzzy.MIN_SCORE) -> None:
    scores = [r["_score"] for r in found]
    assert scores == sorted(scores, reverse=True) and len(found) <= limit
    assert all(floor <= s <= 1 for s in scores) and all(r["_table"] for r in found)
    assert len({r["id"] for r in found}) == len(found)


# --------------------------------------------------------------------------- what it finds
def test_typos_case_and_partial_names(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    found = db.lookup("Alise", fuzzy=True)
    _well_formed(found)
    assert _names(found)[:2] == ["Alice", "Alice Johnson"]  # a typo in "Alice", then one word of a name
    assert found[0]["_score"] == pytest.approx(0.8) and found[0]["_table"] == "people"
    assert _names(db.lookup("johnson", fuzzy=True)) == ["Alice Johnson"]
    assert _names(db.lookup("alice jonson", fuzzy=True))[0] == "Alice Johnson"
    assert _names(db.lookup("smyth", fuzzy=True)) == ["Bob Smith"]
    top = db.lookup("ALICE JOHNSON", fuzzy=True)[0]
    assert (top["name"], top["_score"]) == ("Alice Johnson", 1.0)  # another case normalises alike
    assert _names(db.lookup("zoe angstrom", fuzzy=True)) == ["Zoë Ångström"]
    assert _names(db.lookup("ZOË ÅNGSTRÖM", fuzzy=True)) == ["Zoë Ångström"]
    assert db.lookup("qqqqqq", fuzzy=True) == [] and db.lookup("--", fuzzy=True) == []


def test_codes_with_other_punctuation(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, ids = filled
    for query in ("tap 1234", "TAP1234", "tap_1234", "Tap.1234"):
        found = db.lookup(query, fuzzy=True)
        _well_formed(found)
        assert found[0]["id"] == ids["TAP-1234"] and found[0]["_score"] == 1.0, query
    assert db.lookup("tap 1243", fuzzy=True)[0]["id"] == ids["TAP-1234"]  # digits swapped
    found = db.lookup("dhl", fuzzy=True)
    assert found[0]["id"] == ids["DHL"] and found[0]["_score"] == 1.0 and found[0]["_table"] == "carriers"
    assert _names(db.lookup("fedx", fuzzy=True)) == ["FedEx"]


def test_exact_matches_rank_first_with_score_one(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, ids = filled
    db.insert("people", {"name": "Alicia", "email": "p6@example.com"})
    found = db.lookup("Alice", fuzzy=True)
    assert found[0]["id"] == ids["Alice"] and found[0]["_score"] == 1.0  # the exact path's record
    assert all(r["_score"] < 1 for r in found[1:]) and "Alicia" in _names(found)
    by_key = db.lookup("p3@example.com", fuzzy=True)  # an exact natural key ranks first too
    assert by_key[0]["id"] == ids["Bob Smith"] and by_key[0]["_score"] == 1.0


def test_limit_and_min_score(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    many = db.lookup("tap 12", fuzzy=True, limit=10, min_score=0)
    assert len(many) >= 2
    assert db.lookup("tap 12", fuzzy=True, limit=1, min_score=0) == many[:1]
    strict = db.lookup("Alise", fuzzy=True, min_score=0.75)
    _well_formed(strict, floor=0.75)
    assert _names(strict) == ["Alice"]


def test_fuzzy_false_is_the_exact_lookup(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, ids = filled
    for key in ("Alice", "alice", "TAP-1234", "tap 1234", "DHL", "p1@example.com", 7):
        assert db.lookup(key, fuzzy=False) == db.lookup(key) == db.lookup(key, fuzzy=False, limit=3)
    assert [r["id"] for r in db.lookup("TAP-1234")] == [ids["TAP-1234"]]
    assert db.lookup("tap 1234") == [] and "_score" not in db.lookup("DHL")[0]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"fuzzy": "yes"}, "fuzzy"),
        ({"fuzzy": 1}, "fuzzy"),
        ({"fuzzy": True, "limit": 0}, "limit"),
        ({"fuzzy": True, "limit": True}, "limit"),
        ({"fuzzy": True, "limit": 1001}, "limit"),
        ({"fuzzy": True, "limit": 2.0}, "limit"),
        ({"fuzzy": True, "min_score": 1.5}, "min_score"),
        ({"fuzzy": True, "min_score": -0.1}, "min_score"),
        ({"fuzzy": True, "min_score": "high"}, "min_score"),
        ({"fuzzy": True, "min_score": float("nan")}, "min_score"),
        ({"limit": -1}, "limit"),  # checked even when the lookup is exact
    ],
)
def test_bad_arguments_name_the_argument(
    filled: tuple[remlite.Database, dict[str, str]], kwargs: dict[str, Any], named: str
) -> None:
    db, _ = filled
    with pytest.raises(InvalidInput, match=named):
        db.lookup("alice", **kwargs)


def test_bad_key(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    with pytest.raises(InvalidInput, match="key"):
        db.lookup(["alice"], fuzzy=True)
    assert db.lookup(1234, fuzzy=True)[0]["code"] == "TAP-1234"


# --------------------------------------------------------------------------- writes keep it
def test_updates_move_the_grams(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, ids = filled
    db.update(ids["Carol Danvers"], {"name": "Maria Rambeau"})
    assert "Carol Danvers" not in _names(db.lookup("carol danvers", fuzzy=True, min_score=0))
    assert _names(db.lookup("maria rambo", fuzzy=True)) == ["Maria Rambeau"]
    db.insert("people", {"name": "Maria Rambeau-Smith", "email": "p4@example.com"})  # an upsert renames again
    assert _names(db.lookup("maria rambeau smith", fuzzy=True))[0] == "Maria Rambeau-Smith"
    db.update(ids["Bob Smith"], {"email": "p3@example.com"})  # the strings did not change
    top = db.lookup("bob smith", fuzzy=True)[0]
    assert (top["name"], top["_score"]) == ("Bob Smith", 1.0)
    assert db.check()["ok"]


def test_a_chunk_that_writes_one_key_three_times(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(PEOPLE)
        rows = [{"name": n, "email": "same@example.com"} for n in ("Alpha One", "Beta Two", "Gamma Three")]
        db.insert_batch("people", rows)
        assert _names(db.lookup("gamma three", fuzzy=True)) == ["Gamma Three"]
        assert db.lookup("alpha one", fuzzy=True, min_score=0.8) == []
        assert db.check()["ok"]


@pytest.mark.parametrize("size", [40, 600])
def test_a_bulk_chunk_is_indexed_as_single_writes_are(tmp_path: Path, size: int) -> None:
    """A chunk of `_VECTORISED` rows or more builds its ASCII keys with numpy: the entries equal the
    ones single writes make (check() recomputes them one record at a time)."""
    names = [f"Name{i % 37} Ölander-{i}" if i % 5 == 0 else f"Person {i:04d} O'Neil" for i in range(size)]
    rows = [{"name": name, "email": f"{i}@bulk.org"} for i, name in enumerate(names)]
    with remlite.connect(tmp_path / "bulk") as bulk, remlite.connect(tmp_path / "single") as single:
        for db in (bulk, single):
            db.register_schema(PEOPLE)
        assert len(rows) >= fuzzy._VECTORISED
        bulk.insert_batch("people", rows)
        for row in rows:
            single.insert("people", row)
        assert bulk.check()["ok"] and single.check()["ok"]
        assert bulk.check()["fuzzy_entries"] == single.check()["fuzzy_entries"]
        dbs = (bulk, single)
        for query in ("person 0042 oneil", "name3 olander 15", "ölander"):
            found = [[(r["id"], r["_score"]) for r in db.lookup(query, fuzzy=True, min_score=0.3)] for db in dbs]
            assert found[0] == found[1] and found[0]


def test_a_long_name_costs_a_bounded_number_of_entries(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(CARRIERS)
        before = db.check()["fuzzy_entries"]
        long_name = "Transcontinental Freight " + " ".join(f"word{i}" for i in range(60))
        db.insert("carriers", {"name": long_name})
        assert db.check()["fuzzy_entries"] - before <= fuzzy._INDEXED + 2 + 1  # its grams, and its row's key
        assert _names(db.lookup("transcontinental frieght", fuzzy=True, min_score=0)) == [long_name]
        assert db.check()["ok"]


def test_soft_and_hard_delete(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, ids = filled
    db.delete(ids["Bob Smith"])
    assert db.lookup("bob smith", fuzzy=True, min_score=0) == []
    db.insert("people", {"name": "Bob Smith", "email": "p3@example.com"})  # revived: found again
    assert _names(db.lookup("bob smyth", fuzzy=True)) == ["Bob Smith"]
    db.delete(ids["Bob Smith"], hard=True)
    assert db.lookup("bob smith", fuzzy=True, min_score=0) == []
    db.delete(ids["UPS"])
    db.delete(ids["UPS"], hard=True)  # a soft-deleted row's grams went already
    assert "UPS" not in _names(db.lookup("ups", fuzzy=True, min_score=0))
    assert db.check()["ok"]


def test_a_table_registered_before_its_data(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(CARRIERS)
        tid = table_prefix(db._core.registry.get("carriers").table_id)
        assert db._core.store.cf["meta"].get(fuzzy_marker_key(tid)) == b"1"  # complete from its first row
        assert db.lookup("dhl", fuzzy=True) == []
        db.insert_batch("carriers", [{"name": "DHL"}, {"name": "DB Schenker"}])
        assert _names(db.lookup("dhl", fuzzy=True))[0] == "DHL"
        assert _names(db.lookup("schenker", fuzzy=True)) == ["DB Schenker"]


def test_dropping_a_table_removes_its_grams_and_marker(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    tid = table_prefix(db._core.registry.get("carriers").table_id)
    db.drop_schema("carriers")
    store = db._core.store
    assert not [k for k, _ in store.iter_prefix("fuzzy", b"") if k[-20:-16] == tid]
    assert store.cf["meta"].get(fuzzy_marker_key(tid)) is None
    assert db.lookup("dhl", fuzzy=True, min_score=0) == [] and db.check()["ok"]


# --------------------------------------------------------------------------- databases from before
def _make_old(path: Path) -> None:
    """What a database written before the `fuzzy` family existed looks like: no grams, no markers."""
    with remlite.connect(path) as db:
        store = db._core.store
        for key in list(store.iter_keys("fuzzy", b"", None)):
            store.cf["fuzzy"].delete(key)
        for key, _ in list(store.iter_prefix("meta", FUZZY_PREFIX)):
            store.cf["meta"].delete(key)


def test_an_old_database_is_backfilled_once(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with remlite.connect(path) as db:
        ids = _fill(db)
        expected = {q: db.lookup(q, fuzzy=True) for q in ("Alise", "tap 1234", "dhl", "johnson")}
        entries = db.check()["fuzzy_entries"]
    _make_old(path)
    with remlite.connect(path) as db:
        report = db.check()
        assert report["ok"] and report["fuzzy_entries"] == 0  # no marker: missing grams are not damage
        db.update(ids["Bob Smith"], {"name": "Bob Smithers"})  # a write before the backfill keeps its grams
        expected["bob smithers"] = [{**db.get(ids["Bob Smith"]), "_table": "people", "_score": 1.0}]
        for query, found in expected.items():
            assert db.lookup(query, fuzzy=True) == found
        report = db.check()
        assert report["ok"] and report["fuzzy_entries"] == entries + 3  # "smithers": "ith", "the", "her", "ers", "rs "
        markers = list(db._core.store.iter_prefix("meta", FUZZY_PREFIX))
        assert len(markers) == len(db.schemas())
    with remlite.connect(path) as db:
        writes: list[object] = []
        db._core.store.write = lambda batch: writes.append(batch)  # type: ignore[method-assign]
        assert db.lookup("johnson", fuzzy=True) == expected["johnson"] and writes == []  # not built again


def test_a_backfill_keeps_writes_made_between_its_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db"
    with remlite.connect(path) as db:
        db.register_schema(PEOPLE)
        ids = db.insert_batch("people", [{"name": f"Person {i:02d}", "email": f"{i}@x.org"} for i in range(20)])
    _make_old(path)
    monkeypatch.setattr(fuzzy, "_BACKFILL_CHUNK", 3)
    with remlite.connect(path) as db:
        store = db._core.store
        write = store.write
        order = sorted(ids, key=lambda i: bytes.fromhex(i.replace("-", "")))
        done: list[int] = []

        def writes_between_chunks(batch: Any) -> None:
            write(batch)
            done.append(1)
            if len(done) == 2:  # after the second chunk: change rows behind it and ahead of it
                db.update(order[0], {"name": "Renamed Before"})
                db.update(order[-1], {"name": "Renamed After"})
                db.delete(order[10])
                db.insert("people", {"name": "Newcomer", "email": "new@x.org"})

        monkeypatch.setattr(store, "write", writes_between_chunks)
        assert _names(db.lookup("renamed befor", fuzzy=True))[0] == "Renamed Before"
        assert len(done) >= 7 + 4  # 21 rows in chunks of 3, and the four writes
        monkeypatch.setattr(store, "write", write)
        assert _names(db.lookup("renamed after", fuzzy=True))[0] == "Renamed After"
        assert _names(db.lookup("newcomer", fuzzy=True)) == ["Newcomer"]
        gone = db.get_batch([order[10]], include_deleted=True)[0]
        assert gone["name"] not in _names(db.lookup(gone["name"], fuzzy=True, limit=50, min_score=0.99))
        assert db.check()["ok"]


def test_a_read_only_handle_scores_tables_not_backfilled_yet(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with remlite.connect(path) as db:
        _fill(db)
        expected = db.lookup("Alise", fuzzy=True)
    _make_old(path)
    with remlite.connect(path, read_only=True) as reader:
        assert reader.lookup("Alise", fuzzy=True) == expected


def test_a_read_only_handle_on_a_database_without_the_family(tmp_path: Path) -> None:
    """A database last written by a version without the `fuzzy` family, read before any writer of
    this version opened it: the reader cannot create the family, and scores the rows instead."""
    path = tmp_path / "db"
    with remlite.connect(path) as db:
        _fill(db)
        expected = db.lookup("tap 1234", fuzzy=True)
    _make_old(path)
    families = {name: Options(raw_mode=True) for name in Rdict.list_cf(str(path / "default"))}
    raw = Rdict(str(path / "default"), Options(raw_mode=True), column_families=families)
    raw.drop_column_family("fuzzy")
    raw.close()
    with remlite.connect(path, read_only=True) as reader:
        assert "fuzzy" not in reader._db._core.store.cf
        assert reader.lookup("tap 1234", fuzzy=True) == expected
        assert reader.check()["ok"]


def test_check_reports_damaged_grams(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    store, fuzzy_cf = db._core.store, db._core.store.cf["fuzzy"]
    assert db.check()["ok"]

    def reported(prefix: str) -> bool:
        return any(p.startswith(prefix) for p in db.check()["problems"])

    gram = next(iter(store.iter_keys("fuzzy", b" ", None)))  # a gram key (0x01 keys name rows)
    fuzzy_cf.delete(gram)
    assert reported("missing fuzzy entry")
    fuzzy_cf.put(gram[:-1] + bytes((gram[-1] + 1,)), b"")  # a wrong count of grams
    assert reported("fuzzy entry without a live row")
    fuzzy_cf.delete(gram[:-1] + bytes((gram[-1] + 1,)))
    fuzzy_cf.put(gram, b"")
    assert db.check()["ok"]
    named, row = next(iter(store.iter_prefix("fuzzy", FUZZY_ROW_TAG)))
    fuzzy_cf.put(named, row[:-1] + b"\x00")
    assert reported("wrong fuzzy entry")
    fuzzy_cf.put(named, row)
    fuzzy_cf.put(b"zzz\x00" + b"\xff" * 8 + b"\x01", b"")  # no row has that rownum
    assert reported("1 fuzzy entries name no row")
    fuzzy_cf.delete(b"zzz\x00" + b"\xff" * 8 + b"\x01")
    store.cf["meta"].put(fuzzy_marker_key(table_prefix(999)), b"1")
    assert reported("fuzzy marker of no table")
    store.cf["meta"].delete(fuzzy_marker_key(table_prefix(999)))
    assert db.check()["ok"]


# --------------------------------------------------------------------------- through the index
class _CountingFamily:
    """Stands in for the `rows` family and counts the rows read through it."""

    def __init__(self, real: Any) -> None:
        self.real, self.read = real, 0

    def __getitem__(self, keys: Any) -> Any:
        self.read += len(keys) if isinstance(keys, list) else 1
        return self.real[keys]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_lookup_reads_the_index_not_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 records share the query's grams: the lookup reads the grams, and fetches the rows of
    only its best ranked candidates, never scanning the table."""
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(PEOPLE)
        db.insert_batch("people", [{"name": f"Johnson {i:05d}", "email": f"m{i}@x.org"} for i in range(3000)])
        db.insert("people", {"name": "Alice Johnson", "email": "alice@x.org"})
        db.lookup("warm up", fuzzy=True)  # the built-in tables' markers: read once
        scans: list[str] = []
        iterate = Store._iterate

        def spying(self: Store, family: str, *args: Any, **kwargs: Any) -> Any:
            scans.append(family)
            return iterate(self, family, *args, **kwargs)

        monkeypatch.setattr(Store, "_iterate", spying)
        rows = _CountingFamily(db._core.store.cf["rows"])
        monkeypatch.setitem(db._core.store.cf, "rows", rows)
        found = db.lookup("alise jonson", fuzzy=True, limit=3)
        assert _names(found)[0] == "Alice Johnson"
        assert scans == ["keys"]  # the exact lookup's prefix scan of `keys`; grams are read as keys
        assert 0 < rows.read <= 1 + fuzzy._FIRST  # the exact lookup's multi-get, the best candidates


# --------------------------------------------------------------------------- replay
def test_replay_gives_the_same_fuzzy_results(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "src") as source, remlite.connect(tmp_path / "dst") as target:
        ids = _fill(source)
        source.update(ids["Carol Danvers"], {"name": "Maria Rambeau"})
        source.delete(ids["Bob Smith"])
        source.delete(ids["UPS"], hard=True)
        source.drop_schema("notes")
        target.apply(source.changes(0, 10_000))
        for query in ("Alise", "johnson", "tap 1234", "maria", "carol", "bob smith", "ups", "dhl"):
            assert target.lookup(query, fuzzy=True, min_score=0.3) == source.lookup(query, fuzzy=True, min_score=0.3)
        assert target.check()["fuzzy_entries"] == source.check()["fuzzy_entries"]  # keyed by local rownums
        assert target.check()["ok"]


# --------------------------------------------------------------------------- SQL, HTTP, client, CLI
def test_sql_table_function(filled: tuple[remlite.Database, dict[str, str]]) -> None:
    db, _ = filled
    rows = db.sql("SELECT name, _table, _score FROM lookup('alise', fuzzy => true, limit => 5)").rows
    assert [r["name"] for r in rows][:2] == ["Alice", "Alice Johnson"] and rows[0]["_score"] == pytest.approx(0.8)
    rows = db.sql("SELECT code FROM lookup(?, fuzzy => true, min_score => 0.99)", ["tap 1234"]).rows
    assert rows == [{"code": "TAP-1234"}]
    assert db.sql("SELECT name FROM lookup('DHL')").rows == [{"name": "DHL"}]  # exact, as before
    with pytest.raises(InvalidInput, match="limit"):
        db.sql("SELECT * FROM lookup('alise', fuzzy => true, limit => 0)")
    with pytest.raises(remlite.errors.QueryError, match="no option"):
        db.sql("SELECT * FROM lookup('alise', fuzzy => true, k => 3)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    pytest.importorskip("uvicorn")
    from remlite.serve.app import create_app
    from remlite.serve.keys import KeyStore
    from tests.test_serve import run_server

    with remlite.connect(tmp_path, "acme") as db:
        _fill(db)
    runtime = remlite.Runtime()
    key = KeyStore(tmp_path).create("acme")
    running, thread, url = run_server(create_app(tmp_path, runtime=runtime))
    try:
        yield url, key
    finally:
        running.should_exit = True
        thread.join(10)
        runtime.close()


def test_http_route_and_remote_client(server: tuple[str, str]) -> None:
    url, key = server
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}) as http:
        found = http.get("/v1/lookup/alise", params={"fuzzy": "true", "limit": 5}).json()
        assert _names(found)[:2] == ["Alice", "Alice Johnson"] and found[0]["_score"] == pytest.approx(0.8)
        assert len(http.get("/v1/lookup/tap 12", params={"fuzzy": "true", "limit": 1, "min_score": 0}).json()) == 1
        assert http.get("/v1/lookup/alise").json() == []  # exact by default, as before
        assert http.get("/v1/lookup/DHL").json()[0]["name"] == "DHL"
        bad = http.get("/v1/lookup/alise", params={"fuzzy": "true", "limit": 0})
        assert bad.status_code == 400 and "limit" in bad.text
    with remlite.connect(url, api_key=key) as remote:
        top = remote.lookup("tap 1234", fuzzy=True)[0]
        assert (top["code"], top["_score"], top["_table"]) == ("TAP-1234", 1.0, "tickets")
        assert len(remote.lookup("alice", fuzzy=True, limit=1)) == 1
        assert remote.lookup("alise") == []
        with pytest.raises(InvalidInput):
            remote.lookup("alise", fuzzy=True, min_score=2)


def test_cli(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with remlite.connect(root) as db:
        _fill(db)
    runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})
    result = runner.invoke(app, ["lookup", "alise", "--fuzzy", "--limit", "1", "--json", "--path", str(root)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [(r["name"], r["_score"]) for r in lines] == [("Alice", 0.8)]
    shown = runner.invoke(app, ["lookup", "dhl", "--fuzzy", "--path", str(root)])
    assert shown.exit_code == 0 and "DHL" in shown.stdout and "1.00" in shown.stdout
    none = runner.invoke(app, ["lookup", "qqqqq", "--fuzzy", "--path", str(root)])
    assert none.exit_code == 0 and none.stdout == "" and "no records like" in none.stderr
    bad = runner.invoke(app, ["lookup", "alise", "--fuzzy", "--limit", "0", "--path", str(root)])
    assert bad.exit_code == InvalidInput.exit_code and "limit" in bad.stderr
