"""Index access plans as data (`remlite.query.access`): trees built without I/O, and the three ways
they run (materialize, stream in id order, count) agreeing with each other and with a scan."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import sqlglot

import remlite
import remlite.query.catalog
from remlite.query.access import AllOf, AnyOf, IndexScan, PointGet, count, materialize, stream
from remlite.query.candidates import CandidatePlanner
from remlite.query.dialect import RemDialect
from tests.plans import kinds, step

ITEMS = {
    "name": "items",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string"},
        "priority": {"type": "integer"},
        "color": {"type": "string"},
    },
    "key_field": "name",
    "indexed_fields": ["status", "priority"],
}
STATUSES = ["active", "open", "blocked", "done"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with remlite.connect(tmp_path_factory.mktemp("access")) as handle:
        handle.register_schema(ITEMS)
        rng = random.Random(7)
        rows = [
            {"name": f"item-{i:04d}", "status": rng.choice(STATUSES), "priority": rng.randrange(5), "color": "red"}
            for i in range(2000)
        ]
        handle.insert_batch("items", rows)
        yield handle


def plan(db: Any, where: str, params: Any = None) -> tuple[Any, bool]:
    layout = db._core.layout("items")
    planner = CandidatePlanner(
        layout, lambda f, b: set(db._core.find_raw(layout, f, b)), params=params, tenant=db._core.tenant
    )
    access = planner.plan(sqlglot.parse_one(f"SELECT * FROM t WHERE {where}", read=RemDialect).args["where"].this)
    return access, planner.exact


def test_trees_are_built_from_the_where_clause(db: Any) -> None:
    assert plan(db, "status = 'open'") == (IndexScan("status", (("eq", "open"),)), True)
    tree, exact = plan(db, "status = 'open' AND priority = 3")
    assert isinstance(tree, AllOf) and len(tree.parts) == 2 and tree.by_id and exact
    tree, exact = plan(db, "status IN ('open', 'done') OR priority = 1")
    assert isinstance(tree, AnyOf) and len(tree.parts) == 3 and exact  # the IN's union flattened
    tree, exact = plan(db, "priority > 2 AND color = 'red'")
    assert tree == IndexScan("priority", (("gt", 2),)) and not tree.by_id and not exact
    assert plan(db, "color = 'red'") == (None, False)
    assert plan(db, "status = NULL")[0] == PointGet((), "nothing (a comparison with NULL is never true)")


def test_id_and_natural_key_equalities_are_point_gets(db: Any) -> None:
    rid = db.lookup("item-0007")[0]["id"]
    tree, exact = plan(db, f"id = '{rid}'")
    assert isinstance(tree, PointGet) and tree.what == "id" and exact
    assert plan(db, "id = 'not-an-id'")[0] == PointGet((), "id")
    tree, exact = plan(db, "name = 'item-0007'")
    assert isinstance(tree, PointGet) and exact  # a declared string key: its row needs no re-check
    assert db.sql("SELECT name FROM items WHERE name = 'item-0007'").rows == [{"name": "item-0007"}]
    assert db.sql("SELECT name FROM items WHERE id = ?", [rid]).rows == [{"name": "item-0007"}]
    assert "point get by id" in db.explain("SELECT * FROM items WHERE id = ?", [rid])
    other = db.insert("moments", {"name": "m", "start_time": "2026-01-01T00:00:00Z"})
    assert db.sql("SELECT * FROM items WHERE id = ?", [other]).rows == []  # another table's id


def test_a_key_that_is_not_a_declared_string_is_not_a_point_get(tmp_path: Path) -> None:
    """SQL equals '7.0' to a stored 7 whose id hashes "7": such a key is read by the general plan,
    which answers as the plan without indexes does (a point get found nothing for '7.0')."""
    with remlite.connect(tmp_path) as db:
        db.register_schema(
            {"name": "codes", "properties": {"code": {"type": ["integer", "string"]}}, "key_field": "code"}
        )
        db.insert_batch("codes", [{"code": 5}, {"code": "5x"}, {"code": 7}])
        layout = db._core.layout("codes")
        planner = CandidatePlanner(layout, lambda f, b: set(), tenant=db._core.tenant)
        access = planner.plan(sqlglot.parse_one("SELECT * FROM t WHERE code = '5'", read=RemDialect).args["where"].this)
        assert access is None
        engine = db._sql.engine()
        for sql, params in [("code = '5'", None), ("code = ?", ["5"]), ("code = ?", ["5x"]), ("code = '7.0'", None)]:
            text = f"SELECT code FROM codes WHERE {sql}"
            planned = db.sql(text, params).rows
            engine.use_indexes = False
            try:
                assert db.sql(text, params).rows == planned, text
            finally:
                engine.use_indexes = True


@pytest.mark.parametrize("seed", range(20))
def test_streams_merge_to_the_materialized_set(db: Any, seed: int) -> None:
    rng = random.Random(seed)
    layout = db._core.layout("items")

    def leaf() -> IndexScan:
        if rng.random() < 0.5:
            return IndexScan("status", (("eq", rng.choice(STATUSES)),))
        return IndexScan("priority", (("eq", rng.randrange(6)),))

    def tree(depth: int) -> Any:
        if depth == 0 or rng.random() < 0.3:
            return leaf()
        kind = AllOf if rng.random() < 0.5 else AnyOf
        return kind(tuple(tree(depth - 1) for _ in range(rng.randrange(2, 4))))

    access = tree(3)
    find = lambda f, b: set(db._core.find_raw(layout, f, b))  # noqa: E731
    scan = lambda f, b: db._core.index_ids(layout, f, b)  # noqa: E731
    ids, _ = materialize(access, find, "items")
    streamed = list(stream(access, scan))
    assert streamed == sorted(ids) and count(access, scan, find) == len(ids)


def test_limit_without_order_streams_and_matches_a_scan(db: Any) -> None:
    engine = db._sql.engine()
    queries = [
        "SELECT name FROM items WHERE status = 'active' LIMIT 7",
        "SELECT name FROM items WHERE status = 'active' AND priority = 3 LIMIT 5 OFFSET 4",
        "SELECT name FROM items WHERE status IN ('open', 'done') LIMIT 9 OFFSET 30",
        "SELECT name FROM items WHERE status = 'blocked' OR priority = 4 LIMIT 6",
        "SELECT name FROM items WHERE status = 'open' AND color = 'red' LIMIT 5 OFFSET 2",
    ]
    for sql in queries:
        assert "stream_ids" in kinds(db, sql)
        streamed = db.sql(sql).rows
        engine.use_indexes = engine.use_cache = False
        try:
            scanned = db.sql(sql).rows
        finally:
            engine.use_indexes = engine.use_cache = True
        assert streamed == scanned and streamed, sql


def test_explain_reads_no_index(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """EXPLAIN plans every shape without touching storage: no index key, no row, no cache fill."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("EXPLAIN read storage")

    for name in ("iter_keys", "iter_keys_reverse"):
        monkeypatch.setattr(db._core.store, name, refuse)
    for name in ("fetch", "find_raw", "index_ids", "live_records"):
        monkeypatch.setattr(db._core, name, refuse)
    monkeypatch.setattr(remlite.query.catalog.Relation, "scan_columns", refuse)
    monkeypatch.setattr(remlite.query.catalog.Relation, "scan", refuse)
    for sql in [
        "SELECT * FROM items WHERE status = 'open' AND priority = 1 LIMIT 3",
        "SELECT name FROM items WHERE status = 'open' AND priority > 1",
        "SELECT name FROM items WHERE status = 'open' ORDER BY priority LIMIT 3",
        "SELECT name FROM items WHERE color = 'red' ORDER BY name LIMIT 3",
        "SELECT COUNT(*) FROM items WHERE status = 'open'",
        "SELECT status, COUNT(*) FROM items WHERE priority > 2 GROUP BY status",
        "SELECT DISTINCT color FROM items",
        "SELECT a.name FROM items a JOIN items b ON a.name = b.name WHERE a.status = 'open'",
    ]:
        assert db.explain(sql).startswith("SELECT from items"), sql


def test_count_of_exact_index_predicates_reads_no_row(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "SELECT COUNT(*) AS n FROM items WHERE status = 'open' AND priority IN (1, 2)"
    expected = sum(1 for r in db.scan("items") if r["status"] == "open" and r["priority"] in (1, 2))
    monkeypatch.setattr(db._core, "fetch", lambda *a: pytest.fail("COUNT read rows"))
    assert "no row read" in db.explain(sql)
    assert db.sql(sql).rows == [{"n": expected}]


def test_deep_offset_skips_index_keys_without_reading_rows(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "SELECT name FROM items ORDER BY priority LIMIT 3 OFFSET 1500"
    want = [r["name"] for r in sorted(db.scan("items"), key=lambda r: (r["priority"], r["id"]))][1500:1503]
    fetched: list[int] = []
    original = db._core.fetch
    monkeypatch.setattr(db._core, "fetch", lambda layout, rids: fetched.append(len(rids)) or original(layout, rids))
    assert [r["name"] for r in db.sql(sql).rows] == want
    assert sum(fetched) <= 3


def test_distinct_of_named_columns_reads_the_column_cache(db: Any, tmp_path: Path) -> None:
    assert sorted(r["status"] for r in db.sql("SELECT DISTINCT status FROM items").rows) == sorted(STATUSES)
    assert "DuckDB" in db.explain("SELECT DISTINCT status FROM items")


def test_an_offset_over_exact_index_predicates_reads_no_skipped_row(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "SELECT name FROM items WHERE status IN ('open', 'done') LIMIT 4 OFFSET 300"
    want = db.sql(sql).rows
    fetched: list[int] = []
    original = db._core.fetch
    monkeypatch.setattr(db._core, "fetch", lambda layout, rids: fetched.append(len(rids)) or original(layout, rids))
    assert db.sql(sql).rows == want and len(want) == 4
    assert sum(fetched) <= 16  # one chunk of at least 16 ids, none of the 300 skipped


def test_plans_are_data(db: Any) -> None:
    """Planner decisions read off `explain(format="json")`, not EXPLAIN's wording."""
    sql = "SELECT name FROM items WHERE status = 'open' AND priority = 2 LIMIT 5"
    assert kinds(db, sql) == ["project", "limit", "stream_ids"]
    first = step(db, sql, "stream_ids")
    assert first["exact"] and first["stop_after"] == 5
    assert first["access"] == {
        "all_of": [{"index": "status", "bounds": {"eq": "open"}}, {"index": "priority", "bounds": {"eq": 2}}]
    }
    assert kinds(db, "SELECT COUNT(*) FROM items WHERE status = 'done'")[1] in ("count_index_keys", "count_columns")
    sql = "SELECT name FROM items ORDER BY priority DESC LIMIT 3 OFFSET 40"
    assert kinds(db, sql) == ["project", "limit", "index_order"]
    order = step(db, sql, "index_order")
    assert (order["direction"], order["skip_keys"]) == ("backwards", 40)
    assert step(db, sql, "limit") == {"step": "limit", "limit": 3, "offset": 0}  # the 40 are skipped keys
    kinds_ = kinds(db, "SELECT status, COUNT(*) FROM items GROUP BY status")
    assert kinds_ == ["fallback", "duckdb", "column_cache", "duckdb", "rows_as_columns", "scan"]
    kinds_ = kinds(db, "SELECT CASE WHEN priority > 2 THEN 1 END AS c FROM items")
    assert kinds_ == ["duckdb_statement", "column_cache"]
    tree = db.explain("SELECT name FROM items WHERE status = 'open' LIMIT 5", format="json")["plan"]
    assert tree["step"] == "project" and tree["inputs"][0]["inputs"][0]["step"] == "stream_ids"
    with pytest.raises(remlite.errors.InvalidInput):
        db.explain("SELECT 1", format="yaml")


def test_count_over_a_warm_column_cache_uses_arrow_and_follows_writes(tmp_path: Any) -> None:
    with remlite.connect(tmp_path) as db:
        db.register_schema(ITEMS)
        rng = random.Random(2)
        ids = db.insert_batch(
            "items",
            [{"name": f"n{i}", "status": rng.choice(STATUSES), "priority": rng.randrange(5)} for i in range(3000)],
        )
        sql = "SELECT COUNT(*) AS n FROM items WHERE status = 'open' AND priority = 2"

        def expected() -> int:
            return sum(1 for r in db.scan("items") if r["status"] == "open" and r["priority"] == 2)

        db.sql("SELECT status, priority, COUNT(*) FROM items GROUP BY status, priority")  # warms both columns
        assert kinds(db, sql) == ["fallback", "count_columns", "duckdb", "column_cache"]
        assert db.sql(sql).rows == [{"n": expected()}]
        for rid in ids[:40]:
            db.update(rid, {"status": "open", "priority": 2})
        db.delete(ids[0])
        db.delete(ids[1], hard=True)
        assert db.sql(sql).rows == [{"n": expected()}]
        assert db.sql("SELECT COUNT(*) AS n FROM items WHERE status = 'nope'").rows == [{"n": 0}]


def test_a_count_whose_probe_drops_a_crowded_index_is_not_short(tmp_path: Any) -> None:
    """COUNT(*) over an equality and a range (not streamable): when the probe's cap drops the
    equality's crowded index from the intersection, the count must not be the range's alone."""
    with remlite.connect(tmp_path) as db:
        db.register_schema(ITEMS)
        rng = random.Random(4)
        db.insert_batch(
            "items",
            [{"name": f"n{i}", "status": rng.choice(STATUSES), "priority": rng.randrange(10)} for i in range(10_000)],
        )
        sql = "SELECT COUNT(*) AS n FROM items WHERE status = 'open' AND priority >= 9"
        expected = sum(1 for r in db.scan("items") if r["status"] == "open" and r["priority"] >= 9)
        assert db.sql(sql).rows == [{"n": expected}]
