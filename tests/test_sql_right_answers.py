"""Wrong results the query-plans review found, each fixed in every executor configuration: CAST
rounds like DuckDB and PostgreSQL, casts literals, keeps timestamps as times; a timestamp is not
compared with a number; DISTINCT and GROUP BY agree on 3 and 3.0; DISTINCT with an ORDER BY
outside the select list is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import remlite
from remlite.errors import QueryError

T = {
    "name": "t",
    "properties": {
        "x": {"type": "number"},
        "due": {"type": "string", "format": "date-time"},
        "amount": {"type": "number"},
        "a": {"type": "string"},
        "b": {"type": "integer"},
        "s": {"type": "string"},
    },
    "indexed_fields": ["b"],
}
ROWS = [
    {"x": 0.6886, "due": "2026-01-01T00:00:00Z", "amount": 3, "a": "p", "b": 1, "s": "7"},
    {"x": 2.5, "due": "2026-02-01T10:30:00Z", "amount": 3.0, "a": "q", "b": 2, "s": "x"},
    {"x": -2.5, "amount": 4, "a": "p", "b": 3, "s": "2.5"},
    {"x": 3.5, "amount": 4.5, "a": "r", "b": 4},
]
CONFIGS = [(True, True), (False, True), (True, False), (False, False)]  # (indexes, column cache)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with remlite.connect(tmp_path_factory.mktemp("right")) as handle:
        handle.register_schema(T)
        handle.insert_batch("t", ROWS)
        yield handle


def run(db: Any, sql: str, config: tuple[bool, bool]) -> list[dict[str, Any]]:
    engine = db._sql.engine()
    engine.use_indexes, engine.use_cache = config
    try:
        return db.sql(sql).rows
    finally:
        engine.use_indexes = engine.use_cache = True


@pytest.mark.parametrize("config", CONFIGS)
def test_cast_to_int_rounds_half_to_even_like_duckdb(db: Any, config: tuple[bool, bool]) -> None:
    rows = run(db, "SELECT CAST(x AS INT) AS c FROM t ORDER BY b", config)
    assert [r["c"] for r in rows] == [1, 2, -2, 4]  # DuckDB: DOUBLE -> INT rounds half to even
    rows = run(db, "SELECT b FROM t WHERE CAST(x AS INT) = 1", config)
    assert [r["b"] for r in rows] == [1]


@pytest.mark.parametrize("config", CONFIGS)
def test_cast_of_a_literal_is_applied(db: Any, config: tuple[bool, bool]) -> None:
    row = run(db, "SELECT CAST('3' AS DOUBLE) AS d, CAST(2.5 AS INT) AS i, CAST(7 AS TEXT) AS t FROM t LIMIT 1", config)
    assert row == [{"d": 3.0, "i": 2, "t": "7"}]
    assert [r["b"] for r in run(db, "SELECT b FROM t WHERE b = CAST('2' AS INT)", config)] == [2]


@pytest.mark.parametrize("config", CONFIGS)
def test_cast_of_a_non_numeric_literal_is_an_error(db: Any, config: tuple[bool, bool]) -> None:
    with pytest.raises(QueryError, match="'abc'"):
        run(db, "SELECT CAST('abc' AS INT) AS c FROM t", config)


@pytest.mark.parametrize("config", CONFIGS)
def test_cast_of_a_timestamp_stays_a_time(db: Any, config: tuple[bool, bool]) -> None:
    rows = run(db, "SELECT CAST(due AS TIMESTAMP) AS c FROM t ORDER BY b", config)
    assert [r["c"] for r in rows] == ["2026-01-01T00:00:00.000000Z", "2026-02-01T10:30:00.000000Z", None, None]


@pytest.mark.parametrize("config", CONFIGS)
def test_a_timestamp_is_not_compared_with_a_number(db: Any, config: tuple[bool, bool]) -> None:
    with pytest.raises(QueryError, match="due") as caught:
        run(db, "SELECT a FROM t WHERE due > 5", config)
    assert "timestamp" in caught.value.message


@pytest.mark.parametrize("config", CONFIGS)
def test_distinct_and_group_by_agree_on_equal_numbers(db: Any, config: tuple[bool, bool]) -> None:
    distinct = run(db, "SELECT DISTINCT amount FROM t ORDER BY amount", config)
    grouped = run(db, "SELECT amount FROM t GROUP BY amount ORDER BY amount", config)
    assert [r["amount"] for r in distinct] == [r["amount"] for r in grouped] == [3, 4, 4.5]


@pytest.mark.parametrize("config", CONFIGS)
def test_distinct_ordered_by_a_column_it_does_not_select_is_refused(db: Any, config: tuple[bool, bool]) -> None:
    with pytest.raises(QueryError, match="ORDER BY"):
        run(db, "SELECT DISTINCT a FROM t ORDER BY b", config)
    assert [r["a"] for r in run(db, "SELECT DISTINCT a FROM t ORDER BY a DESC", config)] == ["r", "q", "p"]


def test_the_reference_values_from_duckdb() -> None:
    """The expectations above are DuckDB's own answers."""
    import duckdb

    con = duckdb.connect()
    assert con.execute(
        "SELECT CAST(0.6886::DOUBLE AS INT), CAST(2.5::DOUBLE AS INT), CAST(-2.5::DOUBLE AS INT)"
    ).fetchall() == [(1, 2, -2)]
    with pytest.raises(duckdb.Error):
        con.execute("SELECT CAST('abc' AS INT)")
    with pytest.raises(duckdb.Error):
        con.execute("SELECT TIMESTAMP '2026-01-01' > 5")
    # DuckDB accepts SELECT DISTINCT a ... ORDER BY b (an arbitrary order); remlite refuses it as
    # PostgreSQL, whose dialect it speaks, does.


@pytest.mark.parametrize("config", CONFIGS)
def test_stored_numbers_come_back_as_stored(db: Any, config: tuple[bool, bool]) -> None:
    """A number field holding 3 and 3.0 returns each as it was written (JSON keeps the difference)."""
    rows = run(db, "SELECT amount FROM t ORDER BY b", config)
    assert [json.dumps(r["amount"]) for r in rows] == ["3", "3.0", "4", "4.5"]
