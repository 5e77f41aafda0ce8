"""Names in a query are checked: a column neither declared nor present in any stored row is an
error naming it with the nearest known name, as are a wrong qualifier, a wrong case and a string in
double quotes; errors carry `line` and `col` as attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import remlite
from remlite.errors import QueryError, UnknownTable

T = {"name": "t", "properties": {"category": {"type": "string"}, "name": {"type": "string"}}}


@pytest.fixture
def db(tmp_path: Any) -> Iterator[Any]:
    with remlite.connect(tmp_path) as handle:
        handle.register_schema(T)
        handle.insert("t", {"category": "electronics", "name": "a", "extra": 1})
        yield handle


@pytest.mark.parametrize(
    ("sql", "expected", "col"),
    [
        ("SELECT categroy FROM t", "no column categroy.*did you mean category", 8),
        ("SELECT Name FROM t", "no column Name.*did you mean name", 8),
        ("SELECT tt.name FROM t", "tt is not a table or alias of this query", 8),
        ('SELECT name FROM t WHERE category = "electronics"', "write 'electronics' for a string", 37),
        ("SELECT name FROM resources WHERE uri2 = 'x'", "did you mean uri", 34),
    ],
)
def test_unknown_names_are_errors_with_a_suggestion(db: Any, sql: str, expected: str, col: int) -> None:
    with pytest.raises(QueryError, match=expected) as caught:
        db.sql(sql)
    assert (caught.value.line, caught.value.col) == (1, col)


def test_an_undeclared_field_that_rows_hold_is_readable(db: Any) -> None:
    assert db.sql("SELECT extra FROM t").rows == [{"extra": 1}]
    with pytest.raises(QueryError, match="no column later"):
        db.sql("SELECT later FROM t")
    db.insert("t", {"category": "c", "name": "b", "later": 2})  # the commit listener learns the name
    assert db.sql("SELECT later FROM t WHERE later IS NOT NULL").rows == [{"later": 2}]


def test_an_unknown_table_error_points_at_the_name(db: Any) -> None:
    with pytest.raises(UnknownTable) as caught:
        db.sql("SELECT x\nFROM nosuch")
    assert (caught.value.line, caught.value.col) == (2, 6)
