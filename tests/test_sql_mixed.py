"""The two executors agree on values of mixed JSON types.

A field holding numbers, numeric strings, strings, booleans, objects, arrays and NULLs is where
DuckDB's rules and remlite's differ most (see remlite.query.predicate): every generated filter and
ORDER BY runs through the Python executor and through DuckDB over the column cache, and the row
sequences must be identical. Aggregates over such a field are checked against plain Python.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import remlite
from remlite.query.values import as_number

SEED = 7
VALUES: list[Any] = [
    0,
    3,
    -4,
    12,
    2.5,
    -0.5,
    "12",
    "3.5",
    "-4",
    "1e2",
    "abc",
    "Abc",
    "",
    "true",
    True,
    False,
    None,
    {"k": 1},
    [1, 2],
    "x%y",
    "10",
]
LITERALS = ["3", "-4", "2.5", "12", "'12'", "'abc'", "'3.5'", "'10'", "true", "false", "NULL", "'true'", "''", "0"]
PATTERNS = ["1%", "%b%", "true", "%k%", "%", "_", "x\\%y", "A%"]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[remlite.Database]:
    rng = random.Random(SEED)
    db = remlite.connect(Path(tmp_path_factory.mktemp("mixed")) / "db")
    db.register_schema({"name": "blobs", "properties": {"i": {"type": "integer"}}, "required": ["i"]})
    rows = []
    for i in range(240):
        row: dict[str, Any] = {"i": i}
        if rng.random() > 0.05:
            row["v"] = rng.choice(VALUES)
        row["w"] = rng.choice([1, 2, "2", None, "b"])
        rows.append(row)
    db.insert_batch("blobs", rows)
    yield db
    db.close()


def predicates(rng: random.Random) -> Iterator[str]:
    for _ in range(220):
        roll = rng.random()
        if roll < 0.45:
            op = rng.choice(["=", "<>", "<", "<=", ">", ">="])
            yield f"v {op} {rng.choice(LITERALS)}"
        elif roll < 0.55:
            yield f"v IN ({', '.join(rng.sample(LITERALS, 3))})"
        elif roll < 0.62:
            low, high = rng.sample(LITERALS, 2)
            yield f"v BETWEEN {low} AND {high}"
        elif roll < 0.72:
            yield f"v {rng.choice(['LIKE', 'NOT LIKE', 'ILIKE'])} '{rng.choice(PATTERNS)}'"
        elif roll < 0.8:
            yield f"v IS {rng.choice(['', 'NOT '])}NULL"
        elif roll < 0.9:
            op, cmp = rng.choice(["+", "*", "-", "%"]), rng.choice([">", "=", "<="])
            yield f"v {op} 2 {cmp} {rng.choice(['3', '4', '-1'])}"
        else:
            yield f"NOT (v = w) OR v {rng.choice(['<', '='])} w"


def orders(rng: random.Random) -> Iterator[str]:
    while True:
        direction = rng.choice(["ASC", "DESC"])
        nulls = rng.choice(["", " NULLS FIRST", " NULLS LAST"])
        yield f" ORDER BY v {direction}{nulls}, i"


def run(db: remlite.Database, sql: str, *, cache: bool) -> list[Any]:
    engine = db._sql.engine()
    engine.use_cache = cache
    try:
        return [tuple(r.values()) for r in db.sql(sql).rows]
    finally:
        engine.use_cache = True


def test_filters_and_order_agree_between_executors(blobs: remlite.Database) -> None:
    rng = random.Random(SEED + 1)
    order = orders(rng)
    differ = []
    used_duckdb = 0
    for predicate in predicates(rng):
        sql = f"SELECT i, v FROM blobs WHERE {predicate}{next(order) if rng.random() < 0.6 else ' ORDER BY i'}"
        used_duckdb += "DuckDB" in blobs.explain(sql)
        python, duck = run(blobs, sql, cache=False), run(blobs, sql, cache=True)
        if python != duck:
            differ.append(f"{sql}\n  python {python[:8]} ({len(python)})\n  duckdb {duck[:8]} ({len(duck)})")
    assert not differ, f"{len(differ)} differ:\n" + "\n".join(differ[:6])
    assert used_duckdb > 150  # the comparisons were really translated, not sent back to Python


def test_aggregates_over_mixed_values_follow_the_documented_rules(blobs: remlite.Database) -> None:
    values = [r.get("v") for r in blobs.scan("blobs")]
    got = blobs.sql("SELECT COUNT(v) AS c, COUNT(DISTINCT v) AS d, SUM(v) AS s, AVG(v) AS a FROM blobs").rows[0]
    numbers = [n for v in values if (n := as_number(v)) is not None]
    assert got["c"] == sum(v is not None for v in values)
    texts = {orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values if v is not None}
    assert got["d"] == len(texts)
    assert got["s"] == pytest.approx(sum(numbers))
    assert got["a"] == pytest.approx(sum(numbers) / len(numbers))
    groups = blobs.sql("SELECT v, COUNT(*) AS n FROM blobs GROUP BY v").rows
    expected: dict[bytes, int] = {}
    for v in values:
        key = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        expected[key] = expected.get(key, 0) + 1
    assert {orjson.dumps(g["v"], option=orjson.OPT_SORT_KEYS): g["n"] for g in groups} == expected
    ordered = blobs.sql("SELECT v, COUNT(*) AS n FROM blobs GROUP BY v ORDER BY v DESC NULLS LAST").rows
    assert [g["v"] for g in ordered] == [g["v"] for g in run_sorted(groups)]


def run_sorted(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from remlite.query.values import sort_key

    present = [g for g in groups if g["v"] is not None]
    present.sort(key=lambda g: sort_key(g["v"]), reverse=True)
    return present + [g for g in groups if g["v"] is None]
