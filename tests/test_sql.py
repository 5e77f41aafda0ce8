"""`Database.sql` / `explain` and `remlite query`: the Result API, parameters, the planner's choices,
the column cache staying correct across writes, and the CLI (checked through the library)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import QueryError, UnknownTable
from tests.plans import kinds, ran, step
from tests.test_sql_golden import load

runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})
ITEMS = {
    "name": "items",
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "kind": {"type": "string"},
        "note": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
    },
    "required": ["n"],
    "indexed_fields": ["n", "kind", "at"],
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(root: Path) -> Iterator[remlite.Database]:
    database = remlite.connect(root, embedder="hash")
    load(database)
    yield database
    database.close()


@pytest.fixture
def items(tmp_path: Path) -> Iterator[remlite.Database]:
    database = remlite.connect(tmp_path / "items")
    database.register_schema(ITEMS)
    database.insert_batch(
        "items",
        [
            {"n": i, "kind": "abc"[i % 3], "note": f"note {i}", "at": f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"}
            for i in range(2000)
        ],
    )
    yield database
    database.close()


# --------------------------------------------------------------------------- Result
def test_result_api(db: remlite.Database) -> None:
    result = db.sql("SELECT name, age FROM people WHERE age > ? ORDER BY age", [30])
    assert result.columns == ["name", "age"] and len(result) == 3
    assert [r["name"] for r in result] == ["Ann", "Dee", "Bob"] and result[0] == {"name": "Ann", "age": 34}
    table = result.to_arrow()
    assert table.column_names == ["name", "age"] and table.column("age").to_pylist() == [34, 38, 41]
    assert db.sql("SELECT COUNT(*) FROM people").scalar() == 4
    mixed = db.sql("SELECT properties->>'priority' AS p FROM tables.entities ORDER BY key").to_arrow()
    assert mixed.column("p").to_pylist() == ["5", '"7"', "9", "2"]  # mixed types travel as JSON text
    assert "rows]" in "\n".join(result.plan)  # each step with its estimate
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pandas"):
            result.to_pandas()
    else:
        assert list(result.to_pandas()["age"]) == [34, 38, 41]


def test_parameters(db: remlite.Database) -> None:
    assert len(db.sql("SELECT email FROM people WHERE team = :t", {"t": "web"})) == 2
    with pytest.raises(QueryError, match="no value given for parameter :t"):
        db.sql("SELECT email FROM people WHERE team = :t", {"x": 1})
    with pytest.raises(QueryError, match="more '\\?'"):
        db.sql("SELECT email FROM people WHERE team = ? AND age > ?", ["web"])
    with pytest.raises(QueryError, match="2 values given for 1"):
        db.sql("SELECT email FROM people WHERE team = ?", ["web", 3])
    with pytest.raises(QueryError, match="no '\\?' or ':name' placeholders"):
        db.sql("SELECT email FROM people", [1])
    # a parameter is a value, never SQL
    assert len(db.sql("SELECT email FROM people WHERE name = ?", ["x' OR '1'='1"])) == 0


def test_limit_zero_quoted_names_and_unicode(db: remlite.Database) -> None:
    assert db.sql("SELECT name FROM tasks ORDER BY priority LIMIT 0").rows == []
    assert db.sql('SELECT "name" FROM "people" WHERE "team" = \'data\'').rows == [{"name": "Dee"}]
    db.insert("people", {"email": "zoë@example.com", "name": "Zoë", "team": "données"})
    assert db.sql("SELECT name FROM people WHERE team = 'données'").rows == [{"name": "Zoë"}]


# --------------------------------------------------------------------------- plans
def plan(db: remlite.Database, sql: str) -> str:
    return db.explain(sql)


def test_explain_names_the_access_path(db: remlite.Database) -> None:
    assert "index tasks.status (eq='open')" in plan(db, "SELECT name FROM tasks WHERE status = 'open'")
    assert step(db, "SELECT name FROM tasks WHERE status = 'open'", "index_candidates")["access"] == {
        "index": "status",
        "bounds": {"eq": "open"},
    }
    both = step(db, "SELECT name FROM tasks WHERE status = 'open' OR priority >= 5", "index_candidates")
    assert [part["index"] for part in both["access"]["any_of"]] == ["status", "priority"]
    order = step(db, "SELECT name FROM tasks ORDER BY priority DESC LIMIT 2", "index_order")
    assert (order["field"], order["direction"]) == ("priority", "backwards")
    assert "scan" in kinds(db, "SELECT name FROM tasks WHERE estimate > 1 LIMIT 1")  # cold cache: a scan
    assert "column_cache" not in kinds(db, "SELECT name FROM tasks WHERE estimate > 1 LIMIT 1")
    ordered = db.sql("SELECT name FROM tasks WHERE estimate > 1 ORDER BY name")
    # DuckDB picks the rows by position (its values would turn the float column's integers into floats)
    assert ran(ordered) == ["fallback", "fallback", "project", "duckdb", "column_cache"]
    assert "column_cache" in kinds(db, "SELECT name FROM tasks WHERE estimate > 1 LIMIT 1")  # now warm
    searched = step(db, "SELECT title FROM notes WHERE similar(body, 'fox') LIMIT 1", "search")
    assert (searched["mode"], searched["field"], searched["k"]) == ("vector", "body", 1)
    assert step(db, "SELECT title FROM notes WHERE match(body, 'fox')", "search")["mode"] == "text"
    assert "duckdb" in kinds(db, "SELECT status, COUNT(*) FROM tasks GROUP BY status")
    assert db.sql("EXPLAIN SELECT name FROM tasks").columns == ["plan"]
    assert "vector" in plan(db, "SEARCH 'fox' IN notes") and "key index" in plan(db, "LOOKUP 'x'")


def test_order_by_index_with_limit_stops_early(items: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[int] = []
    original = items._core.fetch

    def counting(layout: Any, rids: list[bytes]) -> list[dict[str, Any]]:
        fetched.append(len(rids))
        return original(layout, rids)

    monkeypatch.setattr(items._core, "fetch", counting)
    rows = items.sql("SELECT n FROM items WHERE kind = 'b' ORDER BY n DESC LIMIT 5").rows
    assert [r["n"] for r in rows] == [1999, 1996, 1993, 1990, 1987]
    assert sum(fetched) <= 64, fetched  # not the 667 rows of kind 'b'
    fetched.clear()
    rows = items.sql("SELECT n FROM items WHERE at >= '2025-01-01T00:10:00Z' ORDER BY at, n LIMIT 3").rows
    assert [r["n"] for r in rows] == [600, 601, 602] and sum(fetched) <= 64


def test_limit_without_order_stops_a_scan_early(items: remlite.Database) -> None:
    rows = items.sql("SELECT n FROM items WHERE note LIKE 'note 1%' LIMIT 2").rows
    assert len(rows) == 2 and all(str(r["n"]).startswith("1") for r in rows)
    assert items._sql.engine().cache.builds == 0  # answered by a scan that stopped, no cache filled


def test_index_and_cache_paths_agree(items: remlite.Database) -> None:
    sql = "SELECT n, kind FROM items WHERE (kind = 'a' OR n < 10) AND n BETWEEN 5 AND 1500 ORDER BY n DESC LIMIT 20"
    planned = items.sql(sql).rows
    engine = items._sql.engine()
    engine.use_indexes = False
    assert "column cache" in items.explain(sql) and items.sql(sql).rows == planned
    engine.use_cache = False
    assert "full scan" in items.explain(sql) and items.sql(sql).rows == planned


# --------------------------------------------------------------------------- the column cache
def test_cache_follows_every_kind_of_write(db: remlite.Database) -> None:
    query = "SELECT name FROM tasks WHERE estimate >= 2 ORDER BY name"
    engine = db._sql.engine()
    assert [r["name"] for r in db.sql(query)] == ["review PR", "ship v1", "write docs"]
    builds = engine.cache.builds
    db.insert("people", {"email": "eve@example.com", "name": "Eve"})  # another table: cache kept
    db.sql(query)
    assert engine.cache.builds == builds
    rid = db.insert("tasks", {"name": "new", "status": "open", "priority": 1, "estimate": 9})
    assert "new" in [r["name"] for r in db.sql(query)]
    db.update(rid, {"estimate": 0})
    assert "new" not in [r["name"] for r in db.sql(query)]
    ship = db.sql("SELECT id FROM tasks WHERE name = 'ship v1'").scalar()
    db.delete(ship)
    assert "ship v1" not in [r["name"] for r in db.sql(query)]
    assert "ship v1" in [r["name"] for r in db.sql(query, include_deleted=True)]
    db.delete(ship, hard=True)
    assert "ship v1" not in [r["name"] for r in db.sql(query, include_deleted=True)]
    assert db.sql("SELECT COUNT(*) FROM entities WHERE type = 'tasks'").scalar() == 8


def test_cache_is_not_trusted_across_a_truncated_log(db: remlite.Database) -> None:
    query = "SELECT name FROM tasks WHERE estimate >= 9"
    assert db.sql(query).rows == []
    db.insert("tasks", {"name": "late", "status": "open", "priority": 1, "estimate": 9})
    db.truncate_wal(keep=0)  # the entry naming the write is gone: the cache cannot check it
    assert db.sql(query).rows == [{"name": "late"}]


def test_schema_change_and_edges_refresh_views(db: remlite.Database) -> None:
    before = db.sql("SELECT COUNT(*) AS n FROM edges").scalar()
    ann = db.sql("SELECT id FROM people WHERE name = 'Ann'").scalar()
    dee = db.sql("SELECT id FROM people WHERE name = 'Dee'").scalar()
    db.add_edge(ann, dee, "knows")
    assert db.sql("SELECT COUNT(*) AS n FROM edges").scalar() == before + 1
    db.register_schema({"name": "extra", "properties": {"v": {"type": "integer"}}})
    db.insert("extra", {"v": 1})
    assert db.sql("SELECT type FROM entities WHERE type = 'extra'").rows == [{"type": "extra"}]


def test_cache_budget_evicts_least_recently_used(db: remlite.Database) -> None:
    cache = db._sql.engine().cache
    cache.budget = 1
    db.sql("SELECT name FROM tasks WHERE estimate > 1 ORDER BY name")
    db.sql("SELECT name FROM people WHERE age > 1 ORDER BY name")
    assert len(cache._entries) == 1


# --------------------------------------------------------------------------- semantics
def test_semantic_score_filter_and_search_where_not_null(db: remlite.Database) -> None:
    rows = db.sql("SELECT title, _score FROM notes WHERE similar(body, 'quick fox') AND _score > 0.3 LIMIT 4").rows
    assert rows and all(r["_score"] > 0.3 for r in rows)
    # IS NOT NULL is a negated IS in sqlglot's tree: index pre-filters must not read it as IS NULL
    titles = {r["title"] for r in db.search("notes", "fox", k=10, where="stars IS NOT NULL", mode="text")}
    assert titles == {"fox", "cat"}
    assert [r["name"] for r in db.sql("SELECT name FROM tasks WHERE due IS NOT NULL AND status = 'active'")]


def test_errors_carry_positions(db: remlite.Database) -> None:
    with pytest.raises(QueryError) as info:
        db.sql("SELECT name\nFROM tasks\nWHERE nope(1)")
    assert (info.value.line, info.value.col) == (3, 7)
    with pytest.raises(UnknownTable) as missing:
        db.sql("SELECT * FROM nowhere")
    assert missing.value.details == {"line": 1, "col": 15}
    with pytest.raises(QueryError, match="only SELECT"):
        db.sql("EXPLAIN DELETE FROM tasks")
    with pytest.raises(QueryError, match="not supported: MIN over values of mixed types"):
        db.sql("SELECT MIN(properties->>'priority') FROM entities")


# --------------------------------------------------------------------------- remlite query
def rem(root: Path, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, [*args, "--path", str(root)], input=input)


def test_rem_query_formats(db: remlite.Database, root: Path) -> None:
    db.close()
    sql = "SELECT name, priority, owner FROM tasks WHERE priority >= 5 ORDER BY name"
    result = rem(root, "query", sql, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    with remlite.connect(root) as again:
        assert rows == again.sql(sql).rows
    table = rem(root, "query", sql, "--csv")
    parsed = list(csv.reader(io.StringIO(table.stdout)))
    assert parsed[0] == ["name", "priority", "owner"] and parsed[1] == ["fix login", "5", '{"team":"web"}']
    human = rem(root, "query", sql)
    assert human.exit_code == 0 and "fix login" in human.stdout and "2 row(s)" in human.stderr
    piped = rem(root, "query", "-", "--params", '["web"]', "--json", input="SELECT email FROM people\nWHERE team = ?")
    assert sorted(json.loads(x)["email"] for x in piped.stdout.splitlines()) == ["ann@example.com", "cho@example.com"]
    explained = rem(root, "query", sql, "--explain")
    assert explained.exit_code == 0 and "index tasks.priority" in explained.stdout
    deleted = rem(root, "query", "SELECT name FROM tasks WHERE name = 'old task'", "--include-deleted", "--json")
    assert json.loads(deleted.stdout) == {"name": "old task"}


def test_rem_query_errors(root: Path) -> None:
    remlite.connect(root).close()
    result = rem(root, "query", "SELECT *\nFROM tasks WHERE", "--json")
    assert result.exit_code == QueryError.exit_code
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "query_error" and (error["line"], error["col"]) == (2, 12)
    assert result.stderr.startswith("error: cannot parse the query")
    assert rem(root, "query", "SELECT 1 FROM entities", "--json", "--csv").exit_code == 2


def test_docs_sql_example_runs(tmp_path: Path) -> None:
    """The Python example at the top of docs/sql.md runs and its assertions hold."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "sql.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0].replace('"./data"', repr(str(tmp_path / "data")))
    exec(compile(code, "docs/sql.md", "exec"), {})


PARAMETERISED = [
    (
        "SELECT name FROM tasks WHERE priority IN (?, ?) AND status <> ? ORDER BY name LIMIT ? OFFSET ?",
        [2, 5, "done", 2, 1],
        "SELECT name FROM tasks WHERE priority IN (2, 5) AND status <> 'done' ORDER BY name LIMIT 2 OFFSET 1",
    ),
    (
        "SELECT name, priority * :f AS p FROM tasks WHERE due > :since ORDER BY p DESC, name",
        {"since": datetime(2025, 2, 1, tzinfo=UTC), "f": 10},
        "SELECT name, priority * 10 AS p FROM tasks WHERE due > '2025-02-01T00:00:00+00:00' ORDER BY p DESC, name",
    ),
    (
        "SELECT status, COUNT(*) AS n FROM tasks GROUP BY status HAVING COUNT(*) >= ? ORDER BY status",
        [2],
        "SELECT status, COUNT(*) AS n FROM tasks GROUP BY status HAVING COUNT(*) >= 2 ORDER BY status",
    ),
    (
        "SELECT t.name, p.name AS who FROM tasks t JOIN people p ON p.team = t.owner.team AND p.age > ? ORDER BY 1, 2",
        [30],
        "SELECT t.name, p.name AS who FROM tasks t JOIN people p ON p.team = t.owner.team AND p.age > 30 ORDER BY 1, 2",
    ),
    (
        "SELECT title FROM notes WHERE similar(body, ?) AND stars >= ? LIMIT ?",
        ["quick fox", 2, 2],
        "SELECT title FROM notes WHERE similar(body, 'quick fox') AND stars >= 2 LIMIT 2",
    ),
    (
        "SELECT name FROM tasks WHERE name LIKE ? OR estimate BETWEEN ? AND ? ORDER BY name",
        ["%docs", 1, 2.5],
        "SELECT name FROM tasks WHERE name LIKE '%docs' OR estimate BETWEEN 1 AND 2.5 ORDER BY name",
    ),
]  # (with parameters, their values, the same query written with literals)


@pytest.mark.parametrize(("sql", "params", "literal"), PARAMETERISED)
def test_parameters_equal_literals(db: remlite.Database, sql: str, params: Any, literal: str) -> None:
    assert db.sql(sql, params).rows == db.sql(literal).rows != []
    assert db.sql(sql, params).rows == db.sql(sql, params).rows  # the cached analysis is not changed by binding


def test_many_candidates_limit_and_top_n(items: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import remlite.query.passes as passes

    fetched: list[int] = []
    original = items._core.fetch
    monkeypatch.setattr(items._core, "fetch", lambda layout, rids: fetched.append(len(rids)) or original(layout, rids))
    assert len(items.sql("SELECT n FROM items WHERE kind = 'a' LIMIT 3").rows) == 3
    assert sum(fetched) <= 64  # not the 667 candidates: LIMIT without ORDER BY stops early
    sql = "SELECT n, note FROM items WHERE kind = 'a' ORDER BY note DESC LIMIT 4"
    expected = sorted((r for r in items.scan("items") if r["kind"] == "a"), key=lambda r: r["note"], reverse=True)
    want = [{"n": r["n"], "note": r["note"]} for r in expected[:4]]
    result = items.sql(sql)
    assert result.rows == want and ran(result) == ["project", "limit", "sort", "index_candidates"]
    monkeypatch.setattr(passes, "CANDIDATES_FOR_TOP_N", 100)
    items._sql.engine().use_indexes = False
    items.sql(sql)  # through the column cache: `kind` and `note` are now cached
    items._sql.engine().use_indexes = True
    result = items.sql(sql)  # 667 candidates are past the cap of 100: DuckDB over the warm cache
    assert result.rows == want and ran(result) == ["fallback", "fallback", "duckdb", "column_cache"]


def test_huge_limit_and_offset_on_every_plan_shape(db: remlite.Database) -> None:
    """A LIMIT or OFFSET past sys.maxsize (the fuzzer's 99999999999999999999999) is all rows / none."""
    huge = 99999999999999999999999
    everything = {r["name"] for r in db.sql("SELECT name FROM tasks").rows}
    for shape in [
        "SELECT name FROM tasks LIMIT {n}",
        "SELECT * FROM tasks LIMIT {n}",
        "SELECT name FROM tasks WHERE status = 'open' LIMIT {n}",
        "SELECT name FROM tasks ORDER BY priority DESC LIMIT {n}",
        "SELECT name FROM tasks WHERE priority > 1 ORDER BY name LIMIT {n}",
        "SELECT name FROM tasks ORDER BY priority, name LIMIT {n}",
        "SELECT DISTINCT status FROM tasks LIMIT {n}",
    ]:
        rows = db.sql(shape.format(n=huge)).rows
        assert rows and {r.get("name") for r in rows} <= everything | {None}, shape
        assert db.sql(shape.format(n=huge) + f" OFFSET {huge}").rows == [], shape
        assert db.sql(shape.format(n=2) + f" OFFSET {huge}").rows == [], shape
