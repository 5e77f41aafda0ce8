"""Generated statements the native planner hands to DuckDB (CASE, subqueries, CTEs, set
operations, window functions, DuckDB functions, CAST), each compared with DuckDB itself on the same
rows as a typed table: the typed columns remlite gives DuckDB must make every answer the same."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_sql_passthrough import normal, open_both

COUNT = 240


def expression(rng: random.Random) -> str:
    k = rng.randrange(1, 8)
    return rng.choice(
        [
            "name",
            "category",
            "n",
            "price",
            f"CASE WHEN n > {k} THEN 'big' WHEN n = {k} THEN 'even' ELSE 'small' END",
            f"substr(name, 1, {rng.randrange(1, 4)})",
            f"round(price, {rng.randrange(0, 3)})",
            f"n * {k} - 1",
            "CAST(price AS INT)",
            "upper(category) || '-' || name",
            "coalesce(NULL, n)",
            "date_trunc('month', due)",
            "length(name) + n",
            "abs(n - 4)",
            "CAST(n AS VARCHAR)",
        ]
    )


def condition(rng: random.Random) -> str:
    k = rng.randrange(0, 9)
    return rng.choice(
        [
            f"n > {k}",
            f"category IN ('a', '{rng.choice('bc')}')",
            f"price BETWEEN {rng.randrange(0, 50)} AND {rng.randrange(50, 100)}",
            "name LIKE 'i-0%'",
            f"n IN (SELECT n FROM items WHERE category = '{rng.choice('abc')}')",
            "EXISTS (SELECT 1 FROM items j WHERE j.category = items.category AND j.n > items.n)",
            f"CASE WHEN category = 'a' THEN n > {k} ELSE price > {k * 10} END",
            f"due > '2026-0{rng.randrange(1, 9)}-01'",
            f"n IS DISTINCT FROM {k}",
        ]
    )


def statement(rng: random.Random) -> str:
    shape = rng.randrange(6)
    a, b = expression(rng), expression(rng)
    where = condition(rng)
    if shape == 0:
        return f"SELECT {a} AS a, {b} AS b FROM items WHERE {where}"
    if shape == 1:
        aggregates = [
            "count(*)",
            "sum(n)",
            "avg(price)",
            "min(name)",
            "max(price)",
            "string_agg(name, ',' ORDER BY name)",
        ]
        agg = rng.choice(aggregates)
        many = "CASE WHEN count(*) > 5 THEN 1 ELSE 0 END"
        return f"SELECT category, {agg} AS v, {many} AS many FROM items WHERE {where} GROUP BY category"
    if shape == 2:
        windows = [
            "row_number() OVER (PARTITION BY category ORDER BY n, name)",
            "rank() OVER (ORDER BY price DESC)",
            "sum(n) OVER (PARTITION BY category)",
            "lag(name) OVER (ORDER BY name)",
        ]
        window = rng.choice(windows)
        return f"SELECT name, {window} AS w FROM items WHERE {where}"
    if shape == 3:
        op = rng.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
        return f"SELECT {a} AS a FROM items WHERE {where} {op} SELECT {a} AS a FROM items WHERE {condition(rng)}"
    if shape == 4:
        return (
            f"WITH c AS (SELECT name, {a} AS a, n FROM items WHERE {where}) SELECT a, count(*) AS k FROM c GROUP BY a"
        )
    simple = condition(rng).replace("items.", "x.")
    if "SELECT" in simple:
        return f"SELECT {a} AS a FROM items WHERE {where}"
    return f"SELECT x.name, y.name AS other FROM items x JOIN items y ON x.n = y.n AND x.name < y.name WHERE x.{simple}"


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    with open_both(tmp_path_factory.mktemp("generated")) as pair:
        yield pair


@pytest.mark.parametrize("seed", range(COUNT))
def test_generated_statement(both: tuple[Any, Any], seed: int) -> None:
    db, reference = both
    sql = statement(random.Random(seed))
    try:
        want = reference.execute(sql).fetchall()
    except Exception:  # a statement DuckDB itself refuses (a type mismatch): remlite must refuse it too
        with pytest.raises(Exception):  # noqa: B017
            db.sql(sql)
        return
    got = db.sql(sql)
    mine = sorted((tuple(normal(r[c]) for c in got.columns) for r in got.rows), key=repr)
    assert mine == sorted((tuple(normal(v) for v in row) for row in want), key=repr), sql
