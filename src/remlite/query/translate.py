"""Canonical expressions → DuckDB SQL over the Arrow columns of `remlite.query.columns`.

DuckDB's own rules differ from remlite's (it casts '5' to a number and fails on 'abc'; it orders
NULLs last both ways; its LIKE has no default escape), so nothing is passed through as written:
every comparison is generated from the kinds of its two sides to give exactly the result the
Python executor (`remlite.query.predicate.compare`) gives, three-valued logic included. Whatever
cannot be given the same meaning raises `Untranslatable`; the planner then runs the query in
Python, or refuses it with a QueryError when only DuckDB could run it (aggregates, joins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlglot import exp

from remlite.errors import InvalidInput
from remlite.query.columns import RANK_BOOL, RANK_NUMBER, RANK_STRING, Column
from remlite.query.model import ref_parts
from remlite.query.predicate import literal_value
from remlite.query.values import _MISSING as _MISSING_LITERAL
from remlite.query.values import COMPARISONS, FLIPPED, as_number, compare, like_text
from remlite.storage.codec import Timestamp

_NO = object()
SYMBOLS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
NUMERIC = ("int", "float")


class Untranslatable(Exception):
    def __init__(self, node: exp.Expression | None, why: str) -> None:
        super().__init__(why)
        self.node = node
        self.why = why


@dataclass
class Op:
    """A translated value: its kind and the SQL of the views it has."""

    kind: str  # int float str bool ts json mixed null
    sql: str | None = None  # the typed value (None for mixed)
    lit: Any = _NO  # the Python value, for literals
    n: str | None = None
    k: str | None = None
    s: str | None = None
    j: str | None = None
    timestamp: bool = False
    make_n: Callable[[], str] | None = None

    def numbers(self) -> str | None:
        """The numeric view's SQL (numbers and numeric strings as DOUBLE), made on first use."""
        if self.n is None and self.make_n is not None:
            self.n = self.make_n()
        return self.n

    @property
    def is_lit(self) -> bool:
        return self.lit is not _NO

    def null_test(self) -> str:
        if self.is_lit:
            return "TRUE" if self.lit is None else "FALSE"
        return f"({self.k if self.kind == 'mixed' else self.sql} IS NULL)"

    def output(self) -> str:
        """The SQL projected for this value (mixed values travel as JSON text)."""
        return self.j if self.kind == "mixed" else self.sql  # type: ignore[return-value]

    def order_keys(self) -> list[str]:
        if self.kind == "mixed":
            return [self.k, f"CASE WHEN {self.k} = {RANK_NUMBER} THEN {self.n} END", self.s]  # type: ignore[list-item]
        return [self.sql]  # type: ignore[list-item]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def str_lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def num_lit(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return f"CAST('{value}' AS DOUBLE)"
    return f"CAST({value!r} AS DOUBLE)"


def literal_op(value: Any) -> Op:
    if value is None:
        return Op("null", "NULL", None)
    if isinstance(value, bool):
        return Op("bool", "TRUE" if value else "FALSE", value)
    if isinstance(value, int):
        return Op("int", num_lit(value), value)
    if isinstance(value, float):
        return Op("float", num_lit(value), value)
    if isinstance(value, str):
        return Op("str", str_lit(value), value)
    raise Untranslatable(None, f"literal {value!r}")


def bool_sql(value: bool | None) -> str:
    return "CAST(NULL AS BOOLEAN)" if value is None else "TRUE" if value else "FALSE"


def like_pattern(pattern: str) -> str:
    """remlite's LIKE pattern (a backslash escapes any character) in DuckDB's form (ESCAPE '\\')."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1] if i + 1 < len(pattern) else "\\"
            out.append("\\" + nxt if nxt in "%_\\" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def timestamp_output(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


class Translator:
    """`column(alias, path)` gives the built column; `name(alias, path, view)` its SQL name."""

    def __init__(
        self,
        column: Callable[[str, tuple[str, ...]], Column],
        name: Callable[[str, tuple[str, ...], str], str],
        is_timestamp: Callable[[str, tuple[str, ...]], bool],
    ) -> None:
        self.column = column
        self.name = name
        self.is_timestamp = is_timestamp

    # ---------------------------------------------------------------- values
    def value(self, node: exp.Expression) -> Op:
        parts = ref_parts(node)
        if parts is not None:
            return self._ref(node, parts)
        constant = literal_value(node)
        if constant is not _MISSING_LITERAL:
            if isinstance(node, exp.Cast) and _is_timestamp_type(node.to) and isinstance(constant, str):
                return self._timestamp_literal(node, constant)
            return literal_op(constant)
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            return self._arithmetic(node)
        if isinstance(node, exp.Neg):
            inner = self.value(node.this)
            return Op(inner.kind if inner.kind in NUMERIC else "float", f"(-{self._num(inner, node)})")
        if isinstance(node, (exp.Lower, exp.Upper, exp.Trim)):
            text = self._string_only(self.value(node.this))
            if isinstance(node, exp.Trim):
                if node.args.get("expression") is not None or node.args.get("position"):
                    raise Untranslatable(node, "TRIM with options")
                return Op("str", f"trim({text}, ' \t\n\r\x0b\x0c')")
            return Op("str", f"{node.key.lower()}({text})")
        if isinstance(node, exp.Length):
            inner = self.value(node.this)
            if inner.kind not in ("str", "null"):
                raise Untranslatable(node, "LENGTH of a non-string column")
            return Op("int", f"length({inner.sql})")
        if isinstance(node, exp.Abs):
            inner = self.value(node.this)
            return Op(inner.kind if inner.kind in NUMERIC else "float", f"abs({self._num(inner, node)})")
        if isinstance(node, exp.Coalesce):
            ops = [self.value(e) for e in [node.this, *node.expressions]]
            if any(o.kind == "ts" for o in ops):  # like the Python executor: a timestamp context
                ops = [self._timestamp_literal(node, o.lit) if o.is_lit and isinstance(o.lit, str) else o for o in ops]
            kinds = {o.kind for o in ops if o.kind != "null"}
            if len(kinds) == 2 and kinds <= set(NUMERIC):
                kinds = {"float"}
            kind = kinds.pop() if len(kinds) == 1 else None
            if kind is None or kind in ("mixed",):
                raise Untranslatable(node, "COALESCE over values of different types")
            stamped = any(o.timestamp for o in ops)
            return Op(kind, f"COALESCE({', '.join(o.sql for o in ops)})", timestamp=stamped)  # type: ignore[misc]
        if isinstance(node, exp.Cast):
            return self._cast(node)
        if isinstance(node, (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)):
            return self._aggregate(node)
        return Op("bool", self.condition(node))

    def _ref(self, node: exp.Expression, parts: tuple[str, ...]) -> Op:
        alias, path = parts[0], parts[1:]
        column = self.column(alias, path)
        timestamp = self.is_timestamp(alias, path)
        views = {view: self.name(alias, path, view) for view in column.views}
        if column.kind == "mixed":
            return Op("mixed", None, n=views["n"], k=views["k"], s=views["s"], j=views["j"], timestamp=timestamp)
        op = Op(column.kind, views["v"], j=views["v"] if column.kind == "json" else None, timestamp=timestamp)
        if column.kind == "str":
            op.make_n = lambda: self.name(alias, path, "n")  # loaded only if the SQL compares it with a number
        return op

    def _timestamp_literal(self, node: exp.Expression | None, text: str) -> Op:
        try:
            micros = Timestamp.parse(text)
        except InvalidInput:
            raise Untranslatable(node, f"{text!r} is not an ISO timestamp") from None
        return Op("ts", f"make_timestamp({int(micros)}::BIGINT)", timestamp=True)

    def _num(self, op: Op, node: exp.Expression) -> str:
        """SQL reading `op` as a number (numbers and numeric strings; NULL otherwise)."""
        if op.is_lit:
            number = as_number(op.lit)
            return "CAST(NULL AS DOUBLE)" if number is None else num_lit(number)
        if op.kind in NUMERIC:
            return op.sql  # type: ignore[return-value]
        if op.kind in ("str", "mixed"):
            numbers = op.numbers()
            if numbers is None:
                raise Untranslatable(node, "arithmetic on a computed string")
            return numbers
        return "CAST(NULL AS DOUBLE)"

    def _string_only(self, op: Op) -> str:
        if op.is_lit:
            return str_lit(op.lit) if isinstance(op.lit, str) else "CAST(NULL AS VARCHAR)"
        if op.kind == "str":
            return op.sql  # type: ignore[return-value]
        if op.kind == "mixed":
            return f"CASE WHEN {op.k} = {RANK_STRING} THEN {op.s} END"
        return "CAST(NULL AS VARCHAR)"

    def _text(self, op: Op, node: exp.Expression) -> str:
        """What LIKE and CAST(... AS TEXT) read: strings as they are, other values as JSON text."""
        if op.is_lit:
            return "CAST(NULL AS VARCHAR)" if op.lit is None else str_lit(like_text(op.lit))
        if op.kind in ("str", "json"):
            return op.sql  # type: ignore[return-value]
        if op.kind == "mixed":
            return op.s  # type: ignore[return-value]
        if op.kind in ("int", "bool"):
            return f"CAST({op.sql} AS VARCHAR)"
        raise Untranslatable(node, f"text of a {op.kind} value")

    def _arithmetic(self, node: exp.Expression) -> Op:
        left, right = self.value(node.left), self.value(node.right)
        a, b = self._num(left, node), self._num(right, node)
        ints = left.kind == "int" and right.kind == "int"
        if isinstance(node, exp.Div):
            return Op("float", f"({a} / NULLIF({b}, 0))")
        if isinstance(node, exp.Mod):
            return Op("int" if ints else "float", f"({a} % NULLIF({b}, 0))")
        symbol = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}[type(node)]
        return Op("int" if ints else "float", f"({a} {symbol} {b})")

    def _cast(self, node: exp.Cast) -> Op:
        inner = self.value(node.this)
        target = node.to.this
        types = exp.DataType.Type
        if target in (types.INT, types.BIGINT, types.SMALLINT):
            return Op("int", f"TRY_CAST({self._num(inner, node)} AS BIGINT)")  # rounds half to even
        if target in (types.FLOAT, types.DOUBLE, types.DECIMAL):
            return Op("float", f"CAST({self._num(inner, node)} AS DOUBLE)")
        if target in (types.TEXT, types.VARCHAR):
            return Op("str", self._text(inner, node))
        if _is_timestamp_type(node.to) and inner.kind == "ts":
            return inner
        raise Untranslatable(node, f"CAST to {node.to.sql()}")

    def _aggregate(self, node: exp.Expression) -> Op:
        arg = node.this
        distinct = isinstance(arg, exp.Distinct)
        if distinct:
            if len(arg.expressions) != 1:
                raise Untranslatable(node, "DISTINCT over several expressions")
            arg = arg.expressions[0]
        if isinstance(node, exp.Count):
            if isinstance(arg, exp.Star):
                return Op("int", "count(*)")
            op = self.value(arg)
            if distinct:
                return Op("int", f"count(DISTINCT {op.output()})")
            return Op("int", f"count({op.k if op.kind == 'mixed' else op.sql})")
        op = self.value(arg)
        prefix = "DISTINCT " if distinct else ""
        if isinstance(node, (exp.Sum, exp.Avg)):
            kind = "int" if isinstance(node, exp.Sum) and op.kind == "int" else "float"
            return Op(kind, f"{node.key.lower()}({prefix}{self._num(op, node)})")
        if op.kind in ("mixed", "json"):
            raise Untranslatable(node, f"{node.key.upper()} over values of mixed types")
        return Op(op.kind, f"{node.key.lower()}({prefix}{op.sql})", timestamp=op.timestamp)

    # ---------------------------------------------------------------- conditions
    def condition(self, node: exp.Expression) -> str:
        if isinstance(node, exp.Paren):
            return self.condition(node.this)
        if isinstance(node, (exp.And, exp.Or)):
            word = "AND" if isinstance(node, exp.And) else "OR"
            return f"({self.condition(node.left)} {word} {self.condition(node.right)})"
        if isinstance(node, exp.Not):
            return f"(NOT {self.condition(node.this)})"
        op = COMPARISONS.get(type(node))
        if op is not None:
            return self.compare(op, self.value(node.left), self.value(node.right), node)
        if isinstance(node, exp.Between):
            value = self.value(node.this)
            low = self.compare("gte", value, self.value(node.args["low"]), node)
            high = self.compare("lte", value, self.value(node.args["high"]), node)
            return f"({low} AND {high})"
        if isinstance(node, exp.In):
            value = self.value(node.this)
            options = [self.compare("eq", value, self.value(e), node) for e in node.expressions]
            return "(" + " OR ".join(options) + ")" if options else "FALSE"
        if isinstance(node, exp.Is):
            return self.value(node.this).null_test()
        if isinstance(node, (exp.Like, exp.ILike)):
            pattern = literal_value(node.expression)
            if not isinstance(pattern, str):
                raise Untranslatable(node, "LIKE needs a string pattern")
            word = "ILIKE" if isinstance(node, exp.ILike) else "LIKE"
            text = self._text(self.value(node.this), node)
            return f"({text} {word} {str_lit(like_pattern(pattern))} ESCAPE '\\')"
        if isinstance(node, exp.Boolean):
            return bool_sql(bool(node.this))
        if isinstance(node, exp.Null):
            return bool_sql(None)
        op_value = self.value(node)
        if op_value.is_lit:
            return bool_sql(None if op_value.lit is None else bool(op_value.lit))
        if op_value.kind != "bool":
            raise Untranslatable(node, "a non-boolean value used as a condition")
        return op_value.sql  # type: ignore[return-value]

    def compare(self, op: str, a: Op, b: Op, node: exp.Expression) -> str:
        timestamp = a.timestamp or b.timestamp
        if a.is_lit and b.is_lit:
            return bool_sql(compare(op, a.lit, b.lit, timestamp))
        if a.is_lit:
            a, b, op = b, a, FLIPPED[op]
        if b.is_lit:
            return self._with_literal(op, a, b.lit, node)
        return self._columns(op, a, b, node)

    def _const(self, op: str, *ops: Op) -> str:
        if op not in ("eq", "neq"):
            return bool_sql(None)
        nulls = " OR ".join(o.null_test() for o in ops)
        return f"(CASE WHEN {nulls} THEN NULL ELSE {bool_sql(op == 'neq')} END)"

    def _with_literal(self, op: str, a: Op, value: Any, node: exp.Expression) -> str:
        symbol = SYMBOLS[op]
        if value is None:
            return bool_sql(None)
        if a.timestamp or a.kind == "ts":
            if a.kind != "ts":
                raise Untranslatable(node, "a timestamp field holding values that are not timestamps")
            if isinstance(value, str):
                try:
                    return f"({a.sql} {symbol} {self._timestamp_literal(node, value).sql})"
                except Untranslatable:
                    return self._const(op, a)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"(epoch_us({a.sql}) {symbol} {num_lit(value)})"
            return self._const(op, a)
        number = None if isinstance(value, bool) else as_number(value)
        if a.kind in NUMERIC:
            if number is None:
                return self._const(op, a)
            return f"({a.sql} {symbol} {num_lit(number)})"
        if a.kind == "str":
            if isinstance(value, str):
                return f"({a.sql} {symbol} {str_lit(value)})"
            if number is None:
                return self._const(op, a)
            if a.numbers() is None:
                raise Untranslatable(node, "a computed string compared with a number")
            const = self._const(op, a)
            return (
                f"(CASE WHEN {a.sql} IS NULL THEN NULL WHEN {a.n} IS NULL THEN {const} "
                f"ELSE {a.n} {symbol} {num_lit(number)} END)"
            )
        if a.kind == "bool":
            if isinstance(value, bool):
                return f"({a.sql} {symbol} {bool_sql(value)})"
            return self._const(op, a)
        if a.kind == "mixed":
            const = bool_sql(None) if op not in ("eq", "neq") else bool_sql(op == "neq")
            branches = []
            if isinstance(value, bool):
                branches.append(f"WHEN {a.k} = {RANK_BOOL} THEN {a.s} {symbol} {str_lit('true' if value else 'false')}")
            elif isinstance(value, str):
                branches.append(f"WHEN {a.k} = {RANK_STRING} THEN {a.s} {symbol} {str_lit(value)}")
                if number is not None:
                    branches.append(f"WHEN {a.k} = {RANK_NUMBER} THEN {a.n} {symbol} {num_lit(number)}")
            else:
                branches.append(
                    f"WHEN {a.k} IN ({RANK_NUMBER}, {RANK_STRING}) AND {a.n} IS NOT NULL "
                    f"THEN {a.n} {symbol} {num_lit(value)}"
                )
            return f"(CASE WHEN {a.k} IS NULL THEN NULL {' '.join(branches)} ELSE {const} END)"
        if a.kind == "null":
            return bool_sql(None)
        return self._const(op, a)

    def _columns(self, op: str, a: Op, b: Op, node: exp.Expression) -> str:
        symbol = SYMBOLS[op]
        if "mixed" in (a.kind, b.kind) or "json" in (a.kind, b.kind):
            raise Untranslatable(node, "a comparison between two columns whose values mix types")
        if a.timestamp or b.timestamp:
            if a.kind == b.kind == "ts":
                return f"({a.sql} {symbol} {b.sql})"
            raise Untranslatable(node, "a timestamp compared with a column that is not one")
        if a.kind == b.kind or (a.kind in NUMERIC and b.kind in NUMERIC):
            return f"({a.sql} {symbol} {b.sql})"
        if a.kind == "str" and b.kind in NUMERIC:
            a, b, op, symbol = b, a, FLIPPED[op], SYMBOLS[FLIPPED[op]]
        if a.kind in NUMERIC and b.kind == "str":
            if b.numbers() is None:
                raise Untranslatable(node, "a computed string compared with a number")
            const = self._const(op, a, b)
            return (
                f"(CASE WHEN {a.null_test()} OR {b.null_test()} THEN NULL WHEN {b.n} IS NULL THEN {const} "
                f"ELSE {a.sql} {symbol} {b.n} END)"
            )
        if "null" in (a.kind, b.kind):
            return bool_sql(None)
        return self._const(op, a, b)


def _is_timestamp_type(to: exp.DataType) -> bool:
    return to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.DATE)


def converter(op: Op) -> Callable[[Any], Any] | None:
    """Turns a DuckDB result value of this kind back into remlite's JSON value (None: as it is)."""
    import orjson

    if op.kind in ("mixed", "json"):
        return lambda v: None if v is None else orjson.loads(v)
    if op.kind == "ts":
        return timestamp_output
    if op.kind == "float":
        return lambda v: None if v is None else float(v)
    if op.kind == "int":
        return _integer
    return None


def _integer(v: Any) -> Any:
    return v if v is None or type(v) is int else int(v)
