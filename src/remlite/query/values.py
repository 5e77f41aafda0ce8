"""How remlite compares, coerces, orders and matches JSON values in SQL (shared by both executors).

A number and a numeric string compare as numbers; on timestamp fields ISO strings compare as
instants; values that cannot be compared are never equal, always unequal, and unknown under <, >.
`sort_key` is the order ORDER BY uses across types. The DuckDB executor (`remlite.query.translate`)
generates SQL with exactly these results; keep the two in step.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from sqlglot import exp

from remlite.errors import InvalidInput, QueryError
from remlite.storage.codec import Timestamp

Record = dict[str, Any]
_MISSING = object()


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    return value


def as_number(value: Any) -> int | float | None:
    """The number a value reads as in arithmetic and numeric comparisons (numbers and numeric
    strings), else None. Booleans are not numbers."""
    if type(value) is bool:
        return None
    value = _as_number(value)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def like_text(value: Any) -> str:
    """What LIKE matches against: a string as it is, anything else as its JSON text."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(value)


def sql_mod(a: int | float, b: int | float) -> int | float | None:
    """SQL's %: the sign follows the dividend (Python's follows the divisor)."""
    if not b:
        return None
    if isinstance(a, int) and isinstance(b, int):
        result = abs(a) % abs(b)
        return -result if a < 0 else result
    return math.fmod(a, b)


# Sort order of values of different JSON types (the index codec's order): booleans, numbers,
# timestamps, strings, then objects/arrays (by their JSON text).
_RANK_BOOL, _RANK_NUMBER, _RANK_TIMESTAMP, _RANK_STRING, _RANK_OTHER = 1, 2, 3, 4, 5


def sort_key(value: Any, timestamp: bool = False) -> tuple[int, Any]:
    """A total order over non-null JSON values, the same as ORDER BY in the DuckDB executor."""
    kind = type(value)
    if kind is str:
        if timestamp:
            try:
                return _RANK_TIMESTAMP, Timestamp.parse(value)
            except InvalidInput:
                pass
        return _RANK_STRING, value
    if kind is bool:
        return _RANK_BOOL, value
    if kind is int or kind is float:
        return _RANK_NUMBER, value
    if isinstance(value, Timestamp):
        return _RANK_TIMESTAMP, value
    return _RANK_OTHER, like_text(value)


def _as_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return Timestamp.parse(value)
        except InvalidInput:
            return value
    return value


def coerce_pair(a: Any, b: Any, timestamp: bool) -> tuple[Any, Any]:
    if timestamp:
        return _as_timestamp(a), _as_timestamp(b)
    a_num = isinstance(a, (int, float)) and not isinstance(a, bool)
    b_num = isinstance(b, (int, float)) and not isinstance(b, bool)
    if a_num and isinstance(b, str):
        return a, _as_number(b)
    if b_num and isinstance(a, str):
        return _as_number(a), b
    return a, b


_INCOMPARABLE = {"eq": False, "neq": True}


def compare(op: str, a: Any, b: Any, timestamp: bool = False) -> bool | None:
    if a is None or b is None or a is _MISSING or b is _MISSING:
        return None
    a, b = coerce_pair(a, b, timestamp)
    if (type(a) is bool) != (type(b) is bool) or (type(a) is str) != (type(b) is str):
        return _INCOMPARABLE.get(op)  # e.g. true vs 1, 3 vs 'abc': never equal, never ordered
    try:
        if op == "eq":
            return bool(a == b)
        if op == "neq":
            return bool(a != b)
        if op == "lt":
            return bool(a < b)
        if op == "lte":
            return bool(a <= b)
        if op == "gt":
            return bool(a > b)
        if op == "gte":
            return bool(a >= b)
    except TypeError:
        return None if op not in ("eq", "neq") else op == "neq"
    raise QueryError(f"unknown comparison {op}")


def like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """SQL LIKE pattern (% and _, backslash escapes) as a compiled regular expression."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


COMPARISONS = {exp.EQ: "eq", exp.NEQ: "neq", exp.LT: "lt", exp.LTE: "lte", exp.GT: "gt", exp.GTE: "gte"}
FLIPPED = {"eq": "eq", "neq": "neq", "lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}


def get_path(record: Record, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
    return value
