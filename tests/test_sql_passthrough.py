"""Complete SQL: statements the native planner does not run go to DuckDB over the column cache, and
answer as DuckDB does on the same typed rows; nothing else of the shared connection is reachable."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import remlite
from remlite.errors import QueryError, UnknownTable

ITEMS = {
    "name": "items",
    "properties": {
        "name": {"type": "string"},
        "category": {"type": "string"},
        "n": {"type": "integer"},
        "price": {"type": "number"},
        "due": {"type": "string", "format": "date-time"},
    },
    "key_field": "name",
    "indexed_fields": ["category"],
}
QUERIES = [
    "SELECT name, CASE WHEN n > 5 THEN 'big' WHEN n > 2 THEN 'mid' ELSE 'small' END AS size FROM items",
    "SELECT name FROM items WHERE n IN (SELECT max(n) FROM items GROUP BY category)",
    "SELECT name FROM items i WHERE EXISTS (SELECT 1 FROM items j WHERE j.category = i.category AND j.n > i.n)",
    "WITH c AS (SELECT category, count(*) AS k, sum(price) AS p FROM items GROUP BY category) SELECT * FROM c",
    "SELECT name FROM items WHERE category = 'a' UNION SELECT name FROM items WHERE n > 6",
    "SELECT category FROM items INTERSECT SELECT category FROM items WHERE n < 3",
    "SELECT name FROM items EXCEPT SELECT name FROM items WHERE category = 'b'",
    "SELECT name, row_number() OVER (PARTITION BY category ORDER BY n DESC, name) AS r FROM items",
    "SELECT name, sum(n) OVER (ORDER BY name ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM items",
    "SELECT substr(name, 1, 3) || '/' || upper(category) AS s, round(price * 1.1, 2) AS p FROM items",
    "SELECT category, string_agg(name, ',' ORDER BY name) AS names, stddev(n) AS sd FROM items GROUP BY category",
    "SELECT date_trunc('month', due) AS m, count(*) AS k FROM items GROUP BY 1",
    "SELECT name FROM items WHERE regexp_matches(name, '^i-0[0-4]')",
    "SELECT a.name, b.name AS other FROM items a FULL JOIN items b ON a.n = b.n + 100",
    "SELECT count(*) AS k FROM items a CROSS JOIN items b WHERE a.n < b.n",
    "SELECT 1 + 1 AS two, 'x' || 'y' AS xy",
    "SELECT name FROM items WHERE n IS DISTINCT FROM 3 AND price > ANY (SELECT price FROM items WHERE n = 1)",
]


def rows(n: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    return [
        {
            "name": f"i-{i:02d}",
            "category": rng.choice("abc"),
            "n": rng.randrange(9),
            "price": round(rng.random() * 100, 2),
            "due": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}T10:00:00Z",
        }
        for i in range(n)
    ]


@contextlib.contextmanager
def open_both(path: Any) -> Iterator[tuple[Any, Any]]:
    """remlite with 40 items, and DuckDB in memory with the same rows as a typed table."""
    data = rows(40)
    with remlite.connect(path) as db:
        db.register_schema(ITEMS)
        db.insert_batch("items", data)
        reference = duckdb.connect()
        columns = {k: [r[k] for r in data] for k in ("name", "category", "n", "price")}
        columns["due"] = [datetime.fromisoformat(r["due"].replace("Z", "")) for r in data]
        reference.register("source", pa.table(columns))
        reference.execute("CREATE TABLE items AS SELECT * FROM source")
        yield db, reference


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    with open_both(tmp_path_factory.mktemp("passthrough")) as pair:
        yield pair


def normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


@pytest.mark.parametrize("sql", QUERIES)
def test_statements_answer_as_duckdb_does(both: tuple[Any, Any], sql: str) -> None:
    db, reference = both
    got = db.sql(sql)
    want = reference.execute(sql).fetchall()
    assert "run by DuckDB" in db.explain(sql)
    mine = sorted((tuple(normal(r[c]) for c in got.columns) for r in got.rows), key=repr)
    assert mine == sorted((tuple(normal(v) for v in row) for row in want), key=repr)


def test_parameters_are_values(both: tuple[Any, Any]) -> None:
    db, _ = both
    sql = "SELECT name FROM items WHERE n > ? AND category = ? ORDER BY (SELECT 1), name"
    assert [r["name"] for r in db.sql(sql, [7, "a'; DROP TABLE items; --"]).rows] == []
    got = db.sql("WITH x AS (SELECT * FROM items WHERE n >= :low) SELECT count(*) AS k FROM x", {"low": 8}).rows
    assert got == [{"k": sum(1 for r in db.scan("items") if r["n"] >= 8)}]


def test_soft_deleted_rows_are_left_out_unless_asked(tmp_path: Any) -> None:
    with remlite.connect(tmp_path) as db:
        db.register_schema(ITEMS)
        ids = db.insert_batch("items", rows(5))
        db.delete(ids[0])
        sql = "SELECT count(*) AS k FROM (SELECT name FROM items UNION ALL SELECT name FROM items)"
        assert db.sql(sql).rows == [{"k": 8}]
        assert db.sql(sql, include_deleted=True).rows == [{"k": 10}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM (SELECT 1) UNION SELECT * FROM query('SELECT 1')",
        "WITH x AS (SELECT 1) SELECT * FROM read_parquet('/x.parquet')",
    ],
)
def test_table_functions_and_files_are_refused(both: tuple[Any, Any], sql: str) -> None:
    db, _ = both
    with pytest.raises(QueryError, match="table functions"):
        db.sql(sql)


def test_another_tenants_relations_are_not_reachable(tmp_path: Any) -> None:
    runtime = remlite.Runtime()
    with (
        remlite.connect(tmp_path, "one", runtime=runtime) as one,
        remlite.connect(tmp_path, "two", runtime=runtime) as two,
    ):
        for db in (one, two):
            db.register_schema(ITEMS)
        one.insert_batch("items", rows(3))
        one.sql("SELECT count(*) FROM items WHERE n > 0")  # its columns are now registered in DuckDB
        name = next(iter(one._sql.engine().cache._entries.values())).registered
        with pytest.raises(UnknownTable):
            two.sql(f'SELECT count(*) FROM "{name}" UNION SELECT 1')
        assert two.sql("SELECT count(*) AS k FROM items UNION ALL SELECT 0").rows == [{"k": 0}, {"k": 0}]


def test_writes_are_refused(both: tuple[Any, Any]) -> None:
    db, _ = both
    for sql in ("DELETE FROM items", "CREATE TABLE x AS SELECT 1", "COPY items TO '/tmp/x.csv'"):
        with pytest.raises(QueryError):
            db.sql(sql)
    assert db.count("items") == 40


def test_a_semantic_predicate_in_a_passthrough_statement_is_a_clear_error(both: tuple[Any, Any]) -> None:
    db, _ = both
    with pytest.raises(QueryError, match="similar"):
        db.sql("SELECT name FROM items WHERE similar(name, 'x') UNION SELECT 'y'")


def test_the_views_and_json_values_in_duckdb_statements(tmp_path: Any) -> None:
    with remlite.connect(tmp_path) as db:
        db.register_schema(ITEMS)
        ids = db.insert_batch("items", rows(3))
        db.add_edge(ids[0], ids[1], "links", {"w": 1, "tags": ["a"]})
        got = db.sql("SELECT e.type, e.properties FROM edges e WHERE e.src IN (SELECT id FROM items) ORDER BY 1").rows
        assert got == [{"type": "links", "properties": {"w": 1, "tags": ["a"]}}]  # JSON read back as values
        got = db.sql(
            "SELECT type, CASE WHEN count(*) > 2 THEN 'many' ELSE 'few' END AS c FROM entities "
            "WHERE type = 'items' GROUP BY type"
        ).rows
        assert got == [{"type": "items", "c": "many"}]


def test_a_cte_cannot_be_named_after_another_tenants_relation(tmp_path: Any) -> None:
    """In DuckDB a CTE's body that names the CTE itself reads the outer relation of that name: a
    CTE named after another tenant's registered columns would read them."""
    runtime = remlite.Runtime()
    one, two = remlite.connect(tmp_path, "one", runtime=runtime), remlite.connect(tmp_path, "two", runtime=runtime)
    with one, two:
        for db in (one, two):
            db.register_schema(ITEMS)
        one.insert_batch("items", rows(3))
        one.sql("SELECT count(*) FROM items WHERE n > 0")
        name = next(iter(one._sql.engine().cache._entries.values())).registered
        for cte in (name, "rel1", "d9_cache_table_x"):
            with pytest.raises(QueryError, match="reserved"):
                two.sql(f'WITH "{cte}" AS (SELECT * FROM "{cte}") SELECT count(*) AS k FROM "{cte}"')
