"""Complete SQL: what the native planner does not run goes to DuckDB over the column cache.

The native planner runs the shapes it makes fast (index scans, index order, point gets, semantic
predicates, the column cache with remlite's comparison rules). Everything else it refuses as
`NotNative` — CASE, subqueries, WITH, UNION / INTERSECT / EXCEPT, window functions, RIGHT / FULL /
CROSS joins, SELECT without FROM, and DuckDB's whole function library (`now()`, `date_trunc`,
`substr`, `round`, `string_agg`, `||`, regular expressions, …) — and this module runs the statement
in DuckDB itself, with DuckDB's semantics (the declared types of the columns decide, as the query
issue asks: "DuckDB's wherever a column's type is declared").

Each table the statement names becomes a subquery over its cached Arrow columns: every declared
top-level field, typed as the column cache typed it (integers, doubles, strings, booleans,
timestamps; objects, arrays and fields of mixed JSON types as DuckDB JSON), plus `id`, `created_at`,
`modified_at`, `deleted_at`; soft-deleted rows are left out unless asked for. Parameters become
literals in the tree (a value is always a value). Nothing else reaches DuckDB: the statement must be
a query, every table must be one of the database's (or a CTE of the statement), table functions are
refused (they could list other tenants' relations of the shared connection), and the connection has
no access to files (`enable_external_access=false`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
import sqlglot
from sqlglot import exp

from remlite.errors import QueryError, UnknownTable
from remlite.query.column_steps import ColumnScan, DuckStatement, Stage
from remlite.query.columns import RelationData, rows_relation
from remlite.query.dialect import NotNative, error_at
from remlite.query.duck import row_builder
from remlite.query.predicate import bind
from remlite.query.result import Result
from remlite.query.rows import unique_names
from remlite.query.stages import StageRows, run_stage, stage_of
from remlite.query.steps import Plan, Step
from remlite.query.translate import quote, timestamp_output

if TYPE_CHECKING:
    from remlite.query.engine import Engine

_QUERIES = (exp.Select, exp.SetOperation)
_RESERVED = re.compile(r"^(d\d+_|rel\d+$)", re.IGNORECASE)  # the names relations get in the shared DuckDB
SEMANTIC = ("similar", "match", "cosine")


def run(
    engine: Engine, text: str, tree: exp.Expression, params: Any, include_deleted: bool, explain: bool, why: NotNative
) -> Result:
    """Run `tree` (the parsed statement `text`) in DuckDB over the cached columns of its tables."""
    if not isinstance(tree, _QUERIES):
        raise why
    for node in tree.find_all(exp.Anonymous):
        if node.name.lower() in SEMANTIC:
            raise error_at(text, node, f"{node.name}() cannot be combined with this statement ({why.message})")
    tree = tree.copy()
    catalog = engine.catalog()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for cte in tree.find_all(exp.CTE):
        # a CTE's body naming the CTE itself reads DuckDB's relation of that name: never one of ours
        if _RESERVED.match(cte.alias_or_name) or cte.alias_or_name in engine.duck.registered_names():
            raise error_at(text, cte, f"the name {cte.alias_or_name} is reserved; give the CTE another name")
    inputs = {}
    reason = why.message.split(" (line")[0]
    sources: list[Step] = []
    # stages first, outermost only: a stage's own arguments (a subquery of ids) are run by the stage.
    # Both lists are taken before any replacement (the replacements read tables of their own).
    found = [t for t in tree.find_all(exp.Table) if not _inside_stage(t)]
    for table in [t for t in found if stage_of(t.this)]:
        call = stage_of(table.this) or "stage"
        sources.append(Stage(call, table.this.sql(dialect="postgres")))
        if explain:  # EXPLAIN reads nothing: a stage is described, not run
            continue
        rows = run_stage(engine, table.this, text, params, include_deleted)
        stage = StageRows(call)
        paths = sorted({(key,) for row in rows for key in row})
        data = rows_relation(stage, rows, paths)
        name = engine.duck.next_name()
        table.replace(_subquery(data, name, paths, "_present", table.alias or stage.name))
        inputs[name] = data
    for table in [t for t in found if not stage_of(t.this)]:
        if not isinstance(table.this, exp.Identifier):
            raise error_at(text, table, f"table functions are not supported: {table.sql(dialect='postgres')}")
        if table.args.get("db") is None and table.name in ctes:
            continue
        try:
            relation = catalog.resolve(table)
        except UnknownTable as exc:
            located = error_at(text, table, exc.message)
            raise UnknownTable(located.message, line=located.line, col=located.col) from None
        paths = [(name,) for name in relation.columns()]
        warm = engine.cache.fresh(relation, paths)
        sources.append(ColumnScan(relation, tuple(paths), relation.count(engine.core), warm))
        if explain:
            continue
        data = engine.cache.get(relation, paths)
        live = "_present" if include_deleted else "_present AND _live"
        table.replace(_subquery(data, data.registered, paths, live, table.alias_or_name))
        inputs[data.registered] = data
    tree = tree.transform(lambda node: _literal(bind(node, params)) if isinstance(node, exp.Placeholder) else node)
    sql = None if explain else tree.sql(dialect="duckdb")
    plan = Plan(DuckStatement(reason, tuple(sources), sql), "SELECT run by DuckDB over the column cache")
    if explain:
        lines = plan.lines()
        return Result(["plan"], [{"plan": line} for line in lines], plan)
    assert sql is not None
    try:
        names, raw, types = engine.duck.query(sql, inputs)
    except QueryError:
        raise
    except Exception as exc:  # DuckDB's own error: reported where the native planner stopped
        said = str(exc).splitlines()[0]
        raise QueryError(f"{why.message}; in DuckDB: {said}", line=why.line, col=why.col) from None
    names = unique_names(names)
    build = row_builder(tuple(names))
    json_at = [i for i, kind in enumerate(types) if kind == "JSON"]  # objects and mixed fields: values again
    rows = []
    for row in raw:
        values = [_value(v) for v in row]
        for i in json_at:
            if isinstance(values[i], str):
                values[i] = orjson.loads(values[i])
        rows.append(build(tuple(values)))
    return Result(names, rows, plan)


def _subquery(
    data: RelationData, registered: str, paths: list[tuple[str, ...]], live: str, alias: str
) -> exp.Expression:
    """`(SELECT <typed columns> FROM registered WHERE live) AS alias` over one relation's columns."""
    columns = []
    for path in paths:
        kind = data.columns[path].kind
        name = quote(data.column_name(path, "j" if kind == "mixed" else "v"))
        value = f"CAST({name} AS JSON)" if kind in ("mixed", "json") else name  # t.owner.team reads it
        columns.append(f"{value} AS {quote(path[0])}")
    select = f"(SELECT {', '.join(columns) or 'NULL AS _none'} FROM {quote(registered)} WHERE {live})"
    sub = sqlglot.parse_one(select, read="duckdb")
    sub.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return sub


def _inside_stage(node: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if stage_of(parent) is not None:
            return True
        parent = parent.parent
    return False


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (datetime, date)):
        return exp.Literal.string(value.isoformat())
    raise QueryError(f"a parameter must be a string, number, boolean, None or datetime, got {type(value).__name__}")


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp_output(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
