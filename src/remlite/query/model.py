"""A resolved query (`Query` and its parts), the canonical field reference, and parameter binding.

The analyser (`remlite.query.analyze`) builds a `Query` once per statement text and schema version;
`bind_query` then puts each call's parameter values in place without re-analysing anything.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlglot import exp

from remlite.errors import QueryError
from remlite.query.catalog import Relation
from remlite.query.dialect import error_at
from remlite.query.predicate import bind, field_path

AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)
SCALAR_FUNCTIONS = (exp.Lower, exp.Upper, exp.Length, exp.Abs, exp.Trim, exp.Coalesce, exp.Cast)
_REF_NODES = (exp.Column, exp.Dot, exp.JSONExtract, exp.JSONExtractScalar)
_PLAIN = (
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Neg,
    exp.Paren,
    exp.Star,
    exp.Distinct,
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.In,
    exp.Between,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.DataType,
    exp.JSONPath,
    exp.JSONPathRoot,
    exp.JSONPathKey,
    exp.JSONPathSubscript,
)
_STRUCTURE = (
    exp.From, exp.Join, exp.Table, exp.TableAlias, exp.Where, exp.Group, exp.Having,
    exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Alias, exp.Placeholder,
)  # fmt: skip
SEMANTIC_FUNCTIONS = ("similar", "match")
# A LIMIT or OFFSET is read as at most this (DuckDB's BIGINT, Python's islice): no table is larger
MAX_COUNT = sys.maxsize
SCORE = "_score"


@dataclass
class Source:
    alias: str
    relation: Relation
    join: str | None = None  # None for the FROM table, else "inner" or "left"
    on: exp.Expression | None = None


@dataclass
class Item:
    name: str
    expr: exp.Expression | None  # canonical; None for a star
    star: str | None = None  # "" for *, an alias for alias.*


@dataclass
class OrderKey:
    expr: exp.Expression
    desc: bool
    nulls_first: bool
    item: int | None = None  # the output column it names, if any


@dataclass
class Semantic:
    mode: str  # vector | text | hybrid
    field: str | None
    text: Any  # the query text (a Placeholder until bound)
    node: exp.Expression


@dataclass
class Query:
    text: str
    sources: list[Source]
    items: list[Item]
    conjuncts: list[exp.Expression] = field(default_factory=list)
    semantic: Semantic | None = None
    group: list[exp.Expression] = field(default_factory=list)
    having: exp.Expression | None = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    distinct: bool = False
    aggregate: bool = False
    placeholders: frozenset[str] = frozenset()  # names of its ? (#1, #2, ...) and :name parameters
    limit_param: exp.Placeholder | None = None
    offset_param: exp.Placeholder | None = None

    @property
    def single(self) -> Source | None:
        return self.sources[0] if len(self.sources) == 1 else None

    @property
    def where(self) -> exp.Expression | None:
        return conjoin(self.conjuncts)


def conjoin(parts: list[exp.Expression]) -> exp.Expression | None:
    if not parts:
        return None
    tree = parts[0]
    for part in parts[1:]:
        tree = exp.And(this=tree, expression=part)
    return tree


def split_and(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return split_and(node.this)
    if isinstance(node, exp.And):
        return split_and(node.left) + split_and(node.right)
    return [node]


def make_ref(parts: tuple[str, ...], like: exp.Expression | None = None) -> exp.Expression:
    """The canonical reference to (alias, *path): a Column of up to four parts, then Dots."""
    ids = [exp.to_identifier(p) for p in parts]
    head = ids[:4]
    keys = ("this", "table", "db", "catalog")
    node: exp.Expression = exp.Column(**{k: v for k, v in zip(keys, reversed(head), strict=False)})
    for extra in ids[4:]:
        node = exp.Dot(this=node, expression=extra)
    start = _start_meta(like)
    if start is not None:
        ids[0].meta.update(start)
    return node


def _start_meta(node: exp.Expression | None) -> dict[str, Any] | None:
    if node is None:
        return None
    metas = [n.meta for n in node.walk() if isinstance(getattr(n, "_meta", None), dict) and "start" in n.meta]
    return dict(min(metas, key=lambda m: m["start"])) if metas else None


def ref_parts(node: exp.Expression) -> tuple[str, ...] | None:
    """(alias, *path) of a canonical reference, or None."""
    return field_path(node) if isinstance(node, (exp.Column, exp.Dot)) else None


def output_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    path = field_path(node)
    if path:
        return path[-1]
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return node.key.lower()
    return node.sql(dialect="postgres")


# --------------------------------------------------------------------------- parameters
def _bind_node(node: exp.Expression | None, params: Any) -> Any:
    """`node` with its placeholders replaced by literals: only the nodes above a placeholder are
    copied, the rest is shared with the analysed (cached) tree, which is never modified."""
    if node is None:
        return None
    return _rebind(node, params)[0]


def _rebind(node: exp.Expression, params: Any) -> tuple[exp.Expression, bool]:
    if isinstance(node, exp.Placeholder):
        return exp.convert(param_value(node, params)), True
    changed: dict[str, Any] = {}
    for key, value in node.args.items():
        if isinstance(value, exp.Expression):
            new, hit = _rebind(value, params)
            if hit:
                changed[key] = new
        elif isinstance(value, list) and any(isinstance(v, exp.Expression) for v in value):
            items = [_rebind(v, params) if isinstance(v, exp.Expression) else (v, False) for v in value]
            if any(hit for _, hit in items):
                changed[key] = [v for v, _ in items]
    if not changed:
        return node, False
    copy = node.__class__()
    copy.comments, copy._type, copy._meta = node.comments, node._type, node._meta
    copy.args = {**node.args, **changed}
    for key, value in changed.items():
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expression) and (child.parent is None or child.parent is node):
                child.parent, child.arg_key = copy, key
    return copy, True


def param_value(node: exp.Placeholder, params: Any) -> Any:
    value = bind(node, params)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise QueryError(f"parameter {node.name}: a string, number, boolean or None, not {type(value).__name__}")
    return value


def bind_node(node: exp.Expression, params: Any) -> exp.Expression:
    """One analysed expression with its placeholders' values in place (call `check_params` first)."""
    return _bind_node(node, params)


def check_params(query: Query, params: Any) -> None:
    """That `params` fill the query's placeholders: a list of one value per `?`, or a dict."""
    numbered = [n for n in query.placeholders if n.startswith("#")]
    if isinstance(params, (list, tuple)) and len(params) != len(numbered):
        if len(params) < len(numbered):
            raise QueryError(f"the query has more '?' than the {len(params)} values given")
        raise QueryError(f"{len(params)} values given for {len(numbered)} '?' placeholders")
    if params is not None and not isinstance(params, (list, tuple, dict)):
        raise QueryError(f"params must be a list or a dict, got {type(params).__name__}")
    if params is None:
        raise QueryError("the query has parameters ('?' or ':name'); pass their values as params")


def bind_query(query: Query, params: Any) -> Query:
    """The analysed query with its parameters' values in place (the analysis is shared)."""
    if not query.placeholders:
        if params:
            raise QueryError("parameters were given but the query has no '?' or ':name' placeholders")
        return query
    check_params(query, params)
    bound = replace(
        query,
        sources=[s if s.on is None else replace(s, on=_bind_node(s.on, params)) for s in query.sources],
        items=[i if i.expr is None else replace(i, expr=_bind_node(i.expr, params)) for i in query.items],
        conjuncts=[_bind_node(c, params) for c in query.conjuncts],
        group=[_bind_node(g, params) for g in query.group],
        having=_bind_node(query.having, params),
        order=[replace(k, expr=_bind_node(k.expr, params)) for k in query.order],
        placeholders=frozenset(),
    )
    for attr, node in (("limit", query.limit_param), ("offset", query.offset_param)):
        if node is not None:
            value = param_value(node, params)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise error_at(query.text, node, f"{attr.upper()} takes a non-negative integer, got {value!r}")
            setattr(bound, attr, min(value, MAX_COUNT))
    if query.semantic is not None and isinstance(query.semantic.text, exp.Placeholder):
        text = param_value(query.semantic.text, params)
        if not isinstance(text, str) or not text.strip():
            raise error_at(query.text, query.semantic.text, "a semantic predicate needs the query text as a string")
        bound.semantic = replace(query.semantic, text=text)
    return bound
