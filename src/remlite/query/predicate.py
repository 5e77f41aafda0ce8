"""Compile a SQL boolean expression into a Python function over a record, with SQL semantics.

NULL is three-valued (a comparison with NULL is unknown; WHERE keeps only true). Comparisons coerce
the way a user of a JSON store expects: a number and a numeric string compare as numbers, and on
timestamp fields ISO strings compare as instants. Values that cannot be compared (a boolean and a
number, a number and a non-numeric string, an object and anything) are never equal, always
unequal, and unknown under <, <=, >, >=. Arithmetic reads numbers and numeric strings (anything
else gives NULL; x / 0 and x % 0 are NULL; % truncates like SQL). LIKE matches a string as it is
and any other value as its JSON text. Nested fields: `a.b`, `a->'b'->>'c'`.
Anything not understood raises QueryError naming it; nothing is silently ignored.

The DuckDB executor (`remlite.query.translate`) implements the same rules; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from remlite.errors import QueryError
from remlite.query.values import (
    _MISSING,
    COMPARISONS,
    _as_timestamp,
    as_number,
    compare,
    get_path,
    like_regex,
    like_text,
    sql_mod,
)

Record = dict[str, Any]
Getter = Callable[[Record], Any]


def field_path(node: exp.Expression, aliases: Sequence[str] = ()) -> tuple[str, ...] | None:
    """The record path a column or JSON-extract expression names, or None if it is not one."""
    if isinstance(node, exp.Column):
        parts = [p.name for p in node.parts]
        if len(parts) > 1 and parts[0] in aliases:
            parts = parts[1:]
        return tuple(parts)
    if isinstance(node, exp.Dot):
        left = field_path(node.this, aliases)
        if left is not None and isinstance(node.expression, exp.Identifier):
            return (*left, node.expression.name)
        return None
    if isinstance(node, (exp.JSONExtract, exp.JSONExtractScalar)):
        base = field_path(node.this, aliases)
        path = node.expression
        if base is None or not isinstance(path, exp.JSONPath):
            return None
        keys = []
        for part in path.expressions:
            if isinstance(part, exp.JSONPathRoot):
                continue
            if isinstance(part, (exp.JSONPathKey, exp.JSONPathSubscript)):
                keys.append(str(part.this))
            else:
                return None
        return (*base, *keys)
    if isinstance(node, exp.Paren):
        return field_path(node.this, aliases)
    return None


def literal_value(node: exp.Expression, params: Any = None) -> Any:
    """The Python value of a literal (or bound parameter); _MISSING if not a literal."""
    if isinstance(node, exp.Paren):
        return literal_value(node.this, params)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        try:
            return int(text)
        except ValueError:
            return float(text)
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg):
        inner = literal_value(node.this, params)
        return -inner if isinstance(inner, (int, float)) else _MISSING
    if isinstance(node, exp.Placeholder):
        return bind(node, params)
    if isinstance(node, exp.Cast):
        inner = literal_value(node.this, params)
        return _MISSING if inner is _MISSING else cast_literal(inner, node.to)
    return _MISSING


_INT_TYPES = (exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT)
_FLOAT_TYPES = (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.DECIMAL)
_TEXT_TYPES = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR)


def to_int(value: Any) -> int | None:
    """CAST(value AS INT) of a stored value: numbers round half to even (DuckDB's DOUBLE -> INT,
    PostgreSQL's float8 -> int); a value that is no number, or too large, is NULL."""
    number = as_number(value)
    try:
        return None if number is None else round(number)
    except (OverflowError, ValueError):
        return None


def cast_literal(value: Any, to: exp.DataType) -> Any:
    """A CAST of a constant, done once: a value that cannot become the type is an error (as in
    DuckDB and PostgreSQL), not a NULL; a timestamp cast keeps the text (compared as a time)."""
    target = to.this
    if value is None or target in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.DATE):
        return value
    if target in _TEXT_TYPES:
        return like_text(value)
    if target in _INT_TYPES + _FLOAT_TYPES:
        number = as_number(value) if not isinstance(value, bool) else None
        if number is None:
            raise QueryError(f"CAST({value!r} AS {to.sql()}): {value!r} is not a number")
        if target in _FLOAT_TYPES:
            return float(number)
        converted = to_int(number)
        if converted is None or not -(2**63) <= converted < 2**63:
            raise QueryError(f"CAST({value!r} AS {to.sql()}): out of range")
        return converted
    raise QueryError(f"CAST to {to.sql()} is not supported")


def bind(node: exp.Placeholder, params: Any) -> Any:
    name = node.name
    if name.startswith("#") and name[1:].isdigit():  # the n-th `?` of the text (see dialect.normalize)
        values = params.values if isinstance(params, _Positional) else params
        if not isinstance(values, (list, tuple)):
            raise QueryError("'?' parameters need a list of values")
        index = int(name[1:]) - 1
        if index >= len(values):
            raise QueryError(f"the query has more '?' than the {len(values)} values given")
        return values[index]
    if name and name != "?":
        if not isinstance(params, dict) or name not in params:
            raise QueryError(f"no value given for parameter :{name}")
        return params[name]
    if not isinstance(params, _Positional):
        raise QueryError("'?' parameters need a list of values")
    return params.next()


class _Positional:
    """Hands out positional parameters in the order the `?` appear in the text."""

    def __init__(self, values: Sequence[Any]) -> None:
        self.values, self.used = list(values), 0

    def next(self) -> Any:
        if self.used >= len(self.values):
            raise QueryError(f"the query has more '?' than the {len(self.values)} values given")
        self.used += 1
        return self.values[self.used - 1]


def bind_params(tree: exp.Expression, params: Any) -> exp.Expression:
    """Replace `?` and `:name` placeholders by literals, once, in text order."""
    if not any(isinstance(n, exp.Placeholder) for n in tree.walk()):
        if params:
            raise QueryError("parameters were given but the query has no '?' or ':name' placeholders")
        return tree
    prepared = prepare_params(params)

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return exp.convert(bind(node, prepared))
        return node

    check_params(tree, params)
    bound = tree.transform(replace)
    if isinstance(prepared, _Positional) and prepared.used and prepared.used != len(prepared.values):
        raise QueryError(f"{len(prepared.values)} values given for {prepared.used} '?' placeholders")
    return bound


def check_params(tree: exp.Expression, params: Any) -> None:
    """Every placeholder has a value and every positional value a placeholder."""
    numbered = {n.name for n in tree.find_all(exp.Placeholder) if n.name.startswith("#")}
    if isinstance(params, (list, tuple)) and numbered and len(params) != len(numbered):
        if len(params) < len(numbered):
            raise QueryError(f"the query has more '?' than the {len(params)} values given")
        raise QueryError(f"{len(params)} values given for {len(numbered)} '?' placeholders")
    if params is not None and not isinstance(params, (list, tuple, dict)):
        raise QueryError(f"params must be a list or a dict, got {type(params).__name__}")


def prepare_params(params: Any) -> Any:
    if params is None or isinstance(params, dict):
        return params
    if isinstance(params, (list, tuple)):
        return _Positional(params)
    raise QueryError(f"params must be a list or a dict, got {type(params).__name__}")


class Compiler:
    """Turns sqlglot expressions into closures over a record dict.

    `is_timestamp(path)` says which fields compare as instants; `aliases` are table names/aliases a
    column may be qualified with; `params` are bound `?` / `:name` values.
    """

    def __init__(
        self,
        is_timestamp: Callable[[tuple[str, ...]], bool] = lambda _p: False,
        *,
        aliases: Sequence[str] = (),
        params: Any = None,
    ) -> None:
        self.is_timestamp = is_timestamp
        self.aliases = tuple(aliases)
        self.params = prepare_params(params)

    # ---------------------------------------------------------------- values
    def value(self, node: exp.Expression) -> Getter:
        path = field_path(node, self.aliases)
        if path is not None:
            if len(path) == 1:
                key = path[0]
                return lambda r: r.get(key)
            return lambda r: get_path(r, path)
        constant = literal_value(node, self.params)
        if constant is not _MISSING:
            return lambda _r: constant
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            return self._arithmetic(node)
        if isinstance(node, exp.Neg):
            inner = self.value(node.this)
            return lambda r: None if (v := as_number(inner(r))) is None else -v
        if isinstance(node, (exp.Lower, exp.Upper, exp.Length, exp.Abs, exp.Trim)):
            return self._unary_function(node)
        if isinstance(node, exp.Coalesce):
            getters = [self.value(node.this), *(self.value(e) for e in node.expressions)]
            return lambda r: next((v for v in (g(r) for g in getters) if v is not None), None)
        if isinstance(node, exp.Cast):
            return self._cast(node)
        if isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.And, exp.Or, exp.Not)):
            return self.condition(node)
        raise self.unsupported(node)

    def unsupported(self, node: exp.Expression) -> QueryError:
        if isinstance(node, exp.Anonymous):
            return QueryError(f"unknown function {node.name}()")
        if isinstance(node, exp.Func):
            return QueryError(f"function {node.sql(dialect='postgres')} is not supported here")
        return QueryError(f"unsupported expression: {node.sql(dialect='postgres')}")

    def _arithmetic(self, node: exp.Expression) -> Getter:
        left, right = self.value(node.left), self.value(node.right)
        ops: dict[type, Callable[[Any, Any], Any]] = {
            exp.Add: lambda a, b: a + b,
            exp.Sub: lambda a, b: a - b,
            exp.Mul: lambda a, b: a * b,
            exp.Div: lambda a, b: a / b if b else None,
            exp.Mod: sql_mod,
        }
        op = ops[type(node)]

        def run(r: Record) -> Any:
            a, b = as_number(left(r)), as_number(right(r))
            if a is None or b is None:
                return None
            return op(a, b)

        return run

    def _unary_function(self, node: exp.Expression) -> Getter:
        inner = self.value(node.this)
        fns: dict[type, Callable[[Any], Any]] = {
            exp.Lower: lambda v: v.lower() if isinstance(v, str) else None,
            exp.Upper: lambda v: v.upper() if isinstance(v, str) else None,
            exp.Length: lambda v: len(v) if isinstance(v, (str, list)) else None,
            exp.Abs: lambda v: None if (n := as_number(v)) is None else abs(n),
            exp.Trim: lambda v: v.strip() if isinstance(v, str) else None,
        }
        fn = fns[type(node)]
        return lambda r: fn(inner(r))

    def _cast(self, node: exp.Cast) -> Getter:
        inner = self.value(node.this)
        types = exp.DataType.Type
        target = node.to.this
        if target in (types.INT, types.BIGINT, types.SMALLINT):
            return lambda r: to_int(inner(r))
        if target in (types.FLOAT, types.DOUBLE, types.DECIMAL):
            return lambda r: None if (n := as_number(inner(r))) is None else float(n)
        if target in (types.TEXT, types.VARCHAR):
            return lambda r: None if (v := inner(r)) is None else like_text(v)
        if target in (types.TIMESTAMP, types.TIMESTAMPTZ, types.DATE):
            return lambda r: _as_timestamp(inner(r))
        raise QueryError(f"CAST to {node.to.sql()} is not supported")

    def _timestamp_side(self, *nodes: exp.Expression) -> bool:
        for node in nodes:
            if isinstance(node, exp.Paren) and self._timestamp_side(node.this):
                return True
            if isinstance(node, exp.Coalesce) and self._timestamp_side(node.this, *node.expressions):
                return True
            path = field_path(node, self.aliases)
            if path is not None and self.is_timestamp(path):
                return True
            if isinstance(node, exp.Cast) and node.to.this in (
                exp.DataType.Type.TIMESTAMP,
                exp.DataType.Type.TIMESTAMPTZ,
            ):
                return True
        return False

    # ---------------------------------------------------------------- conditions
    def condition(self, node: exp.Expression) -> Callable[[Record], bool | None]:
        if isinstance(node, exp.Paren):
            return self.condition(node.this)
        if isinstance(node, exp.And):
            left, right = self.condition(node.left), self.condition(node.right)

            def both(r: Record) -> bool | None:
                a = left(r)
                if a is False:
                    return False
                b = right(r)
                if b is False:
                    return False
                return None if a is None or b is None else True

            return both
        if isinstance(node, exp.Or):
            left, right = self.condition(node.left), self.condition(node.right)

            def either(r: Record) -> bool | None:
                a = left(r)
                if a is True:
                    return True
                b = right(r)
                if b is True:
                    return True
                return None if a is None or b is None else False

            return either
        if isinstance(node, exp.Not):
            inner = self.condition(node.this)

            def negate(r: Record) -> bool | None:
                value = inner(r)
                return None if value is None else not value

            return negate
        op = COMPARISONS.get(type(node))
        if op is not None:
            left, right = self.value(node.left), self.value(node.right)
            timestamp = self._timestamp_side(node.left, node.right)
            return lambda r: compare(op, left(r), right(r), timestamp)
        if isinstance(node, exp.Between):
            value, low, high = self.value(node.this), self.value(node.args["low"]), self.value(node.args["high"])
            timestamp = self._timestamp_side(node.this)

            def between(r: Record) -> bool | None:
                v = value(r)
                lo, hi = compare("gte", v, low(r), timestamp), compare("lte", v, high(r), timestamp)
                if lo is False or hi is False:
                    return False
                return None if lo is None or hi is None else True

            return between
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Is):
            value = self.value(node.this)
            if not isinstance(node.expression, exp.Null):
                raise QueryError(f"only IS [NOT] NULL is supported, not {node.sql()}")
            return lambda r: value(r) is None
        if isinstance(node, (exp.Like, exp.ILike)):
            value = self.value(node.this)
            pattern = literal_value(node.expression, self.params)
            if not isinstance(pattern, str):
                raise QueryError(f"LIKE needs a string pattern: {node.sql()}")
            regex = like_regex(pattern, isinstance(node, exp.ILike))
            return lambda r: None if (v := value(r)) is None else bool(regex.fullmatch(like_text(v)))
        if isinstance(node, exp.Boolean):
            constant = bool(node.this)
            return lambda _r: constant
        getter = self.value(node)
        return lambda r: None if (v := getter(r)) is None else bool(v)

    def _in(self, node: exp.In) -> Callable[[Record], bool | None]:
        if node.args.get("query") is not None:
            raise QueryError("IN (SELECT ...) subqueries are not supported")
        value = self.value(node.this)
        timestamp = self._timestamp_side(node.this)
        options = [self.value(e) for e in node.expressions]

        def member(r: Record) -> bool | None:
            v = value(r)
            if v is None:
                return None
            unknown = False
            for option in options:
                result = compare("eq", v, option(r), timestamp)
                if result:
                    return True
                unknown = unknown or result is None
            return None if unknown else False

        return member

    def predicate(self, node: exp.Expression) -> Callable[[Record], bool]:
        """A WHERE filter: keeps a record only when the condition is true (not unknown)."""
        condition = self.condition(node)
        return lambda r: condition(r) is True
