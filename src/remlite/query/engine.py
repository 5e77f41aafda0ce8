"""`Database.sql()` and `Database.explain()`: the short orchestrator of the query pipeline.

text → statements.parse (sqlglot; LOOKUP / SEARCH / TRAVERSE / EXPLAIN from its tokens)
     → predicate.bind_params → analyze.Analyzer (dialect checks, name resolution)
     → passes.logical → passes.optimise (a list of small passes over typed steps)
     → executor.Executor (walks the tree) → Result
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from remlite import ids as idmod
from remlite.collector import paused_gc
from remlite.core import on_commit
from remlite.errors import InvalidId, QueryError
from remlite.query import passthrough
from remlite.query.analyze import Analyzer
from remlite.query.catalog import Catalog
from remlite.query.columns import ColumnCache
from remlite.query.dialect import NotNative, RemDialect
from remlite.query.executor import Executor
from remlite.query.fieldnames import StoredFields
from remlite.query.model import Query, bind_query
from remlite.query.passes import PlanContext, logical, optimise
from remlite.query.prepared import PointGet
from remlite.query.result import Result
from remlite.query.statements import Extended, Statement, parse
from remlite.query.steps import Plan, heading
from remlite.schema.model import SYSTEM_FIELDS

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.graph.traverse import Traversal
    from remlite.moments import Moments
    from remlite.reads import Reader
    from remlite.semantic.search import Search

_PARSED = 256  # statements kept parsed, by text


class Engine:
    """Per-database query state: parsed statements and the column cache, on the DuckDB
    connection and column budget of the database's runtime."""

    def __init__(
        self, core: TenantCore, reader: Reader, search: Search, traversal: Traversal, moments: Moments
    ) -> None:
        self.core = core
        self.reader = reader  # LOOKUP
        self.search = search  # SEARCH and semantic predicates
        self.traversal = traversal  # TRAVERSE
        self.moments = moments  # the moments(...) stage
        self.duck, budget, prefix = core.runtime.sql_state()
        self.cache = ColumnCache(core, budget, on_drop=self.duck.forget, prefix=prefix)
        on_commit(core, self.cache.on_commit)  # the cache follows commits instead of rescanning
        self.fields = StoredFields(core)  # field names of stored rows: undeclared names are checked
        on_commit(core, self.fields.on_commit)
        # A database dropped without close() must not leave its tables in the shared connection.
        weakref.finalize(self, self.duck.forget_prefix, prefix)
        self.use_indexes = True  # tests turn these off to compare executors
        self.use_cache = True
        self._parsed: OrderedDict[str, Statement] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        for listener in (self.cache.on_commit, self.fields.on_commit):
            if listener in self.core.listeners:
                self.core.listeners.remove(listener)
        self.cache.clear()  # unregisters this database's relations; the connection is the runtime's
        with self._lock:
            self._parsed.clear()

    def statement(self, text: str) -> Statement:
        if not isinstance(text, str):
            raise QueryError(f"the query must be a string, not {type(text).__name__}")
        with self._lock:
            found = self._parsed.get(text)
            if found is not None:
                self._parsed.move_to_end(text)
                return found
        _check_unicode(text, "the query")
        statement = parse(text)
        with self._lock:
            self._parsed[text] = statement
            if len(self._parsed) > _PARSED:
                self._parsed.popitem(last=False)
        return statement

    def run(self, text: str, params: Any, include_deleted: bool, explain: bool = False) -> Result:
        statement = self.statement(text)
        if params:
            _check_params(params)
        explain = explain or statement.explain
        if statement.extended is not None:
            return self._extended(statement.extended, params, explain)
        try:
            analyzed = self._analyzed(statement)
        except NotNative as why:  # CASE, subqueries, WITH, UNION, windows, functions: DuckDB runs it
            return passthrough.run(self, statement.text, statement.tree, params, include_deleted, explain, why)
        prepared = self._prepared(statement, analyzed) if params and not include_deleted and self.use_indexes else None
        made = prepared.plan(self, params) if prepared is not None else None
        if made is not None:
            query, plan = made
        else:
            query = bind_query(analyzed, params)
            plan = self.plan(query, include_deleted)
        if explain:
            lines = plan.lines()
            return Result(["plan"], [{"plan": line} for line in lines], plan)
        with paused_gc():  # rows are dicts by the thousand, no cycles: see remlite.collector
            return Executor(self, query, plan).run()

    def plan(self, query: Query, include_deleted: bool) -> Plan:
        """The optimised plan tree of a bound query (reads nothing but counters and cache state)."""
        context = PlanContext(self, query, include_deleted)
        return Plan(optimise(logical(context), context), heading(query))

    def catalog(self) -> Catalog:
        """The tables and views a statement may name, checking undeclared names against the stored rows."""
        registry = self.core.registry
        return Catalog(registry.names, registry.get, self.fields.of)

    def run_tree(self, tree: exp.Select, include_deleted: bool = False) -> Result:
        """Run a statement built as a tree (parameters already bound): `search(where=...)`."""
        query = Analyzer(self.catalog(), tree.sql(dialect=RemDialect)).analyze(tree)
        return Executor(self, query, self.plan(query, include_deleted)).run()

    def _prepared(self, statement: Statement, analyzed: Query) -> PointGet | None:
        """The statement as a prepared point get, if it is one (kept with its analysis)."""
        known = statement.prepared
        if known is not None and known[0] is analyzed:
            return known[1]
        source = analyzed.single
        found = None
        if source is not None and source.relation.name in self.core.registry.names():
            layout = self.core.layout(source.relation.name)
            found = PointGet.of(analyzed, self.core.tenant, layout)
        statement.prepared = (analyzed, found)
        return found

    def _analyzed(self, statement: Statement) -> Query:
        """The statement analysed against the current schemas (kept until a schema changes)."""
        registry = self.core.registry
        names = registry.names()
        signature = tuple((name, id(registry.get(name))) for name in names)  # a change stores a new object
        cached = statement.analyzed
        if cached is not None and cached[0] == signature:
            return cached[1]
        query = Analyzer(self.catalog(), statement.text).analyze(statement.tree)  # type: ignore[arg-type]
        statement.analyzed = (signature, query)
        return query

    # ---------------------------------------------------------------- LOOKUP / SEARCH / TRAVERSE
    def _extended(self, ext: Extended, params: Any, explain: bool) -> Result:
        args = ext.args
        if ext.kind == "lookup":
            if params:
                raise QueryError("LOOKUP takes no parameters")
            lines = [f"LOOKUP {args['key']!r}: the global key index (natural keys and names of every table)"]
            if explain:
                return _plan_result(lines)
            return _records(self.reader.lookup(args["key"]), ["_table"], lines)
        if ext.kind == "search":
            lines = [
                f"SEARCH {args['query']!r} in {args['table']} ({args['mode']}, "
                f"field {args['field'] or 'default'}, k={args['k']})"
            ]
            if args.get("where"):
                lines.append(f"  pre-filter: {args['where']} (through indexes where possible)")
            if explain:
                return _plan_result(lines)
            rows = self.search.search(
                args["table"],
                args["query"],
                args["k"],
                where=args.get("where"),
                params=params,
                mode=args["mode"],
                field=args["field"],
            )
            return _records(rows, [], lines, tail=["_score", "_vector_score", "_text_score"])
        lines = [
            f"TRAVERSE from {args['start']!r}, depth {args['depth']}, {args['direction']} edges"
            + (f" of type {args['type']}" if args["type"] else "")
        ]
        if explain:
            return _plan_result(lines)
        found = self.traversal.traverse(
            self._record_id(args["start"]), depth=args["depth"], direction=args["direction"], type=args["type"]
        )
        return _records(list(found), ["_table", "_depth", "_edge"], lines, tail=["_path", "_edges"])

    def _record_id(self, start: str) -> str:
        """TRAVERSE FROM takes a record id, or a natural key / name that names exactly one record."""
        try:
            idmod.to_bytes(start)
            return start
        except InvalidId:
            pass
        found = self.reader.lookup(start)
        if len(found) != 1:
            why = "no record" if not found else f"{len(found)} records"
            raise QueryError(f"TRAVERSE FROM {start!r}: not an id, and {why} has that key or name")
        return found[0]["id"]


def _check_unicode(value: Any, what: str) -> None:
    """Lone surrogates cannot be encoded as UTF-8: DuckDB and the key codec would fail on them."""
    if type(value) is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise QueryError(f"{what} is not valid Unicode (it holds a lone surrogate)") from None


def _check_params(params: Any) -> None:
    values = params.values() if isinstance(params, dict) else params if isinstance(params, (list, tuple)) else ()
    for value in values:
        _check_unicode(value, "a parameter")


def _plan_result(lines: list[str]) -> Result:
    return Result(["plan"], [{"plan": line} for line in lines], lines)


def _records(
    records: list[dict[str, Any]], head: list[str], lines: list[str], tail: tuple[str, ...] | list[str] = ()
) -> Result:
    """Records of possibly different tables as rows over the union of their fields."""
    names: dict[str, None] = dict.fromkeys(head)
    names["id"] = None
    for record in records:
        for key in record:
            if key not in SYSTEM_FIELDS and key not in tail and key not in names:
                names[key] = None
    for key in ("created_at", "modified_at", "deleted_at"):
        names[key] = None
    for key in tail:
        if any(key in r for r in records):
            names[key] = None
    columns = list(names)
    return Result(columns, [{c: r.get(c) for c in columns} for r in records], lines)
