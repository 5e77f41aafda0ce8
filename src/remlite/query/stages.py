"""Staged retrieval in SQL: `search(...)`, `traverse(...)`, `lookup(...)` and `moments(...)` as table
functions.

    SELECT p.name FROM traverse((SELECT id FROM search('files', 'authentication', k => 20)),
                                depth => 1, direction => 'in', type => 'authored') p
    WHERE p._table = 'people'

Each call is a retrieval stage run by the library (`Database.search`, `traverse`, `lookup`, `moments`) before the
statement, its rows (with `_score`, or `_table` / `_depth` / `_path` / `_edges` / `_edge`, as the
library returns them; `lookup(key, fuzzy => true, limit => 5, min_score => 0.6)` adds `_score`)
handed to DuckDB as a relation; the rest of the statement (joins, filters, aggregates) runs there
(`remlite.query.passthrough`). A stage takes the previous stage's ids as a subquery, so stages
chain in one statement: `traverse` starts from every id its first argument
gives (a record id, or a subquery whose first column holds ids) and returns each record reached once,
at its smallest depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from remlite.errors import QueryError
from remlite.fuzzy import DEFAULT_LIMIT, MIN_SCORE
from remlite.query.catalog import Relation
from remlite.query.dialect import RemDialect, error_at
from remlite.query.predicate import literal_value
from remlite.query.values import _MISSING

if TYPE_CHECKING:
    from remlite.query.engine import Engine

STAGES = ("search", "traverse", "lookup", "moments")
_MOMENT_OPTIONS = {"since", "until", "tags", "people", "moment_type", "limit", "table"}
_TIMES = ("created_at", "modified_at", "deleted_at")


def stage_of(node: exp.Expression) -> str | None:
    """The stage a FROM item calls (sqlglot reads `search(...)` as its own function node)."""
    if isinstance(node, exp.Search):
        return "search"
    if isinstance(node, exp.Anonymous) and node.name.lower() in STAGES:
        return node.name.lower()
    return None


class StageRows(Relation):
    """The rows a stage returned, as a relation DuckDB reads (system times are timestamps)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tables = []

    def is_timestamp(self, path: tuple[str, ...]) -> bool:
        return len(path) == 1 and path[0] in _TIMES


def run_stage(
    engine: Engine, node: exp.Expression, text: str, params: Any, include_deleted: bool
) -> list[dict[str, Any]]:
    """The rows of one stage call."""
    name = stage_of(node)
    assert name is not None
    children = (
        node.expressions
        if isinstance(node, exp.Anonymous)
        else [v for v in node.args.values() if isinstance(v, exp.Expression)]
    )
    positional = [c for c in children if not isinstance(c, exp.Kwarg)]
    named = {c.this.name.lower(): c.expression for c in children if isinstance(c, exp.Kwarg)}

    def value(arg: exp.Expression, what: str) -> Any:
        found = literal_value(arg, params)
        if found is _MISSING:
            raise error_at(text, arg, f"{name}(): {what} must be a constant or a parameter")
        return found

    def option(key: str, default: Any = None) -> Any:
        return value(named[key], key) if key in named else default

    options = {
        "search": {"k", "where", "mode", "field"},
        "traverse": {"depth", "direction", "type"},
        "lookup": {"fuzzy", "limit", "min_score"},
        "moments": _MOMENT_OPTIONS,
    }
    unknown = set(named) - options[name]
    if unknown:
        raise error_at(text, node, f"{name}() has no option {', '.join(sorted(unknown))}")
    if name == "search":
        if len(positional) != 2:
            raise error_at(
                text, node, "search(table, query, k => 10, where => '...', mode => 'vector'|'text'|'hybrid')"
            )
        table, query = value(positional[0], "the table"), value(positional[1], "the query")
        return engine.search.search(
            table, query, option("k", 10), where=option("where"), mode=option("mode", "vector"), field=option("field")
        )
    if name == "moments":
        if positional:
            raise error_at(
                text, node, "moments(since => ..., until => ..., tags => ..., moment_type => ..., table => ...)"
            )
        return engine.moments.moments(
            option("since"),
            option("until"),
            option("tags"),
            option("people"),
            option("moment_type"),
            option("limit"),
            table=option("table", "moments"),
        )
    if name == "lookup":
        if len(positional) != 1:
            raise error_at(text, node, "lookup(key), or lookup(key, fuzzy => true, limit => 10, min_score => 0.6)")
        if not named:  # the exact lookup, as before options existed (every record it finds)
            return engine.reader.lookup(value(positional[0], "the key"))
        return engine.reader.lookup(
            value(positional[0], "the key"),
            fuzzy=option("fuzzy", False),
            limit=option("limit", DEFAULT_LIMIT),
            min_score=option("min_score", MIN_SCORE),
        )
    if len(positional) != 1:
        raise error_at(
            text, node, "traverse(id or (subquery of ids), depth => 1, direction => 'out'|'in'|'both', type => '...')"
        )
    start = positional[0]
    if isinstance(start, exp.Subquery):
        result = engine.run(start.this.sql(dialect=RemDialect), params, include_deleted)
        first = result.columns[0] if result.columns else None
        starts = [row[first] for row in result.rows if first is not None and row[first] is not None]
    else:
        starts = [value(start, "the start")]
    best: dict[str, dict[str, Any]] = {}
    for origin in dict.fromkeys(starts):
        if not isinstance(origin, str):
            raise QueryError(f"traverse(): a start must be a record id, got {origin!r}")
        for row in engine.traversal.traverse(origin, option("depth", 1), option("direction", "out"), option("type")):
            kept = best.get(row["id"])
            if kept is None or row["_depth"] < kept["_depth"]:
                best[row["id"]] = row
    return list(best.values())
