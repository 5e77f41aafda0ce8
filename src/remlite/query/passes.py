"""The planner: a resolved `Query` becomes a logical plan (`logical`), which a list of small passes
(`PASSES`) rewrites into the steps that run it fast. Each pass is one decision, tested on the plan
trees it produces (`tests/fixtures/plans/<pass>.txt`), in the manner of sqlglot's optimiser.

The logical plan of one table without aggregates is
    Project <- Limit <- Sort <- Filter <- TableScan
(the parts the query has), and of a join or aggregate a `DuckQuery` over a `TableScan` per source.
Passes replace a `TableScan` with the index steps that read fewer rows, or the chain above it with
DuckDB over the column cache. Where the better way can only be known by running it (an index
finding too many ids; DuckDB unable to express a condition over columns as they are typed now),
a pass emits a `Fallback` holding both ways, and later passes keep optimising the second.

Passes read nothing but counters and the column cache's state: planning and EXPLAIN do no I/O.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from remlite.query.access import has_point
from remlite.query.candidates import CandidatePlanner, order_bounds, order_field
from remlite.query.catalog import TableRelation
from remlite.query.column_steps import ColumnScan, CountColumns, CountIndexKeys, DuckQuery, IndexRows, RowsAsColumns
from remlite.query.columns import same_kind
from remlite.query.duck import read_paths, refs_in
from remlite.query.model import MAX_COUNT, SCORE, Query, Source, conjoin, ref_parts
from remlite.query.predicate import literal_value
from remlite.query.steps import (
    Fallback,
    Filter,
    IndexIds,
    IndexOrder,
    IndexStream,
    Limit,
    Project,
    Search,
    Sort,
    Step,
    TableScan,
    labels,
)
from remlite.query.values import _MISSING

if TYPE_CHECKING:
    from remlite.query.engine import Engine

DEFAULT_K = 10  # rows a semantic predicate finds when the query has no LIMIT
CANDIDATES_FOR_TOP_N = 4000  # more index candidates than this: ORDER BY ... LIMIT goes to the cache
COUNT_PROBE = 2000  # COUNT(*) reads at most this many index keys (~1 ms) before using the cache
SMALL = 2000  # candidate rows of a join/aggregate input worth fetching instead of using the cache

Path = tuple[str, ...]


@dataclass
class PlanContext:
    """What passes may consult: the query, the engine's switches, row counters and whether the
    column cache holds what a plan would read. Nothing here reads storage."""

    engine: Engine
    query: Query
    include_deleted: bool
    _paths: dict[bool, dict[str, set[Path]]] = field(default_factory=dict)

    @property
    def core(self) -> Any:
        return self.engine.core

    def indexes(self, source: Source) -> bool:
        """Whether index steps may read `source` (a table, live rows, indexes switched on)."""
        return isinstance(source.relation, TableRelation) and not self.include_deleted and self.engine.use_indexes

    def paths(self, for_values: bool) -> dict[str, set[Path]]:
        """Per alias, the paths a plan reads: for filtering and ordering, or for values too."""
        found = self._paths.get(for_values)
        if found is None:
            found = self._paths[for_values] = read_paths(self.query, for_values)
        return found

    def source_paths(self, source: Source, for_values: bool) -> tuple[Path, ...]:
        return tuple(sorted(self.paths(for_values).get(source.alias, set())))

    def warm(self, source: Source, for_values: bool = False) -> bool:
        return self.engine.use_cache and self.engine.cache.fresh(source.relation, self.source_paths(source, for_values))

    def count(self, source: Source) -> int:
        return source.relation.count(self.core)

    def columns(self, source: Source, for_values: bool) -> ColumnScan:
        return ColumnScan(
            source.relation, self.source_paths(source, for_values), self.count(source), self.warm(source, for_values)
        )

    def candidates(self, source: Source, cap: int | None = None) -> CandidatePlanner:
        layout = self.core.layout(source.relation.name)
        return CandidatePlanner(layout, _no_reads, aliases=(source.alias,), cap=cap, tenant=self.core.tenant)


def _no_reads(name: str, bounds: dict[str, Any]) -> set[bytes]:
    raise AssertionError("planning reads no index")  # the executor reads; passes only plan


Pass = Callable[[Step, PlanContext], Step]


def transform(step: Step, rewrite: Callable[[Step], Step]) -> Step:
    """`step` with `rewrite` applied bottom-up at its decision points: each `Project`, each
    `DuckQuery` under one or at the root, and the branches of each `Fallback` (a node's rewrite is
    not revisited). Row chains under a `Project` are the passes' to take apart (`Chain`): walking
    every node cost 20+ calls a query."""
    if isinstance(step, Fallback):
        first, then = transform(step.first, rewrite), transform(step.then, rewrite)
        if first is not step.first or then is not step.then:
            step = replace(step, first=first, then=then)
    elif isinstance(step, Project) and isinstance(step.input, DuckQuery):
        inner = transform(step.input, rewrite)
        if inner is not step.input:
            step = replace(step, input=inner)
    return rewrite(step)


def optimise(tree: Step, context: PlanContext, passes: list[Pass] | None = None) -> Step:
    for each in PASSES if passes is None else passes:
        tree = each(tree, context)
    return tree


# --------------------------------------------------------------------------- the logical plan
def logical(context: PlanContext) -> Step:
    """The plan that states what the query computes, before any choice of how."""
    query = context.query
    source = query.single
    columns = labels(query)
    if query.semantic is not None:
        assert source is not None
        return _semantic(context, source, columns)
    if source is not None and not query.aggregate:
        node: Step = TableScan(source.relation, context.count(source), context.include_deleted, source.alias)
        if query.conjuncts:
            node = Filter(node, tuple(query.conjuncts))
        if query.order:
            node = Sort(node, tuple(query.order))
        if (query.limit is not None or query.offset) and not query.distinct:
            node = Limit(node, query.limit, query.offset)
        return Project(node, columns, query.distinct, *_distinct_page(query))
    sources = tuple(
        (s.alias, TableScan(s.relation, context.count(s), context.include_deleted, s.alias)) for s in query.sources
    )
    output = "values" if query.aggregate else "positions"
    duck = DuckQuery(sources, output, _work(query), context.include_deleted)
    return duck if query.aggregate else Project(duck, columns, query.distinct, *_distinct_page(query))


def _semantic(context: PlanContext, source: Source, columns: tuple[str, ...]) -> Step:
    """A semantic predicate is answered by a search, the only step that scores rows."""
    query, semantic = context.query, context.query.semantic
    assert semantic is not None
    k = DEFAULT_K if query.limit is None or query.aggregate else max(1, _need(query))
    # the k nearest among the rows the WHERE admits: conditions on _score are checked on the hits
    on_score = tuple(c for c in query.conjuncts if any(p == (SCORE,) for p in refs_in([c]).get(source.alias, ())))
    prefilter = tuple(c for c in query.conjuncts if not any(c is s for s in on_score))
    node: Step = Search(source.relation, semantic.mode, semantic.field, semantic.text, k, prefilter, source.alias)
    if on_score:
        node = Filter(node, on_score)
    if query.aggregate:
        rows = RowsAsColumns(
            node, source.relation, context.source_paths(source, True), tuple(range(len(query.conjuncts)))
        )
        return DuckQuery(((source.alias, rows),), "values", _work(query), include_deleted=True)
    if query.order:
        node = Sort(node, tuple(query.order))
    if (query.limit is not None or query.offset) and not query.distinct:
        node = Limit(node, query.limit, query.offset)
    return Project(node, columns, query.distinct, *_distinct_page(query))


def _distinct_page(query: Query) -> tuple[int | None, int]:
    """DISTINCT pages after projecting: its LIMIT / OFFSET belong to the projection."""
    return (query.limit, query.offset) if query.distinct else (None, 0)


def _work(query: Query) -> tuple[str, ...]:
    did = []
    for name, present in (
        ("WHERE", query.conjuncts), ("JOIN", len(query.sources) > 1), ("GROUP BY", query.group),
        ("aggregates", query.aggregate), ("HAVING", query.having is not None), ("ORDER BY", query.order),
        ("LIMIT", query.limit is not None or query.offset),
    ):  # fmt: skip
        if present:
            did.append(name)
    return tuple(did)


# --------------------------------------------------------------------------- chains of one table
@dataclass
class Chain:
    """A single-table row plan taken apart: Project <- [Limit] <- [Sort] <- [Filter] <- leaf."""

    project: Project
    limit: Limit | None
    sort: Sort | None
    filter: Filter | None
    leaf: Step

    @staticmethod
    def of(step: Step) -> Chain | None:
        if not isinstance(step, Project):
            return None
        node = step.input
        limit = node if isinstance(node, Limit) else None
        node = limit.input if limit else node
        sort = node if isinstance(node, Sort) else None
        node = sort.input if sort else node
        where = node if isinstance(node, Filter) else None
        node = where.input if where else node
        return Chain(step, limit, sort, where, node)

    def build(self, leaf: Step, conditions: tuple[exp.Expression, ...] | None = None, **sort: Any) -> Project:
        """The chain over another leaf (`conditions`: what is left to filter; None: as before)."""
        node = leaf
        left = self.filter.conditions if (self.filter and conditions is None) else conditions
        if left:
            node = Filter(node, left)
        if self.sort is not None and sort.get("drop_sort") is not True:
            node = Sort(node, self.sort.keys, presorted=sort.get("presorted", False), need=sort.get("need"))
        if self.limit is not None:
            node = Limit(node, self.limit.limit, self.limit.offset - sort.get("skip", 0))
        return replace(self.project, input=node)


def chain_pass(rewrite: Callable[[Step, Chain, Source, PlanContext], Step]) -> Pass:
    """A pass over each single-table chain still reading a full scan: `rewrite(step, chain,
    source, context)` returns the step to put in its place (or the step itself)."""

    @functools.wraps(rewrite)
    def run(tree: Step, context: PlanContext) -> Step:
        def each(step: Step) -> Step:
            found = _scan_chain(step, context)
            return step if found is None else rewrite(step, *found, context)

        return transform(tree, each)

    return run


def _scan_chain(step: Step, context: PlanContext) -> tuple[Chain, Source] | None:
    """The chain of the query's single table still reading a full scan."""
    chain = Chain.of(step)
    query = context.query
    if chain is None or not isinstance(chain.leaf, TableScan) or query.single is None or query.semantic is not None:
        return None
    return chain, query.single


def _need(query: Query) -> int:
    """Rows up to the end of the page (bounded: it sizes islice counts and batches)."""
    return min(query.offset + (query.limit or 0), MAX_COUNT)


# --------------------------------------------------------------------------- the passes
@chain_pass
def index_order(step: Step, chain: Chain, source: Source, context: PlanContext) -> Step:
    """ORDER BY <indexed field> ... LIMIT: read that index in order and stop once LIMIT rows passed
    the filter; a range on the same field bounds the index read. When the rest of the WHERE is
    selective (fewer than sqrt(need x rows) index candidates), fetching and sorting those wins:
    sorting c candidates costs ~c rows, streaming ~need x rows / c."""
    query = context.query
    if query.limit is None or not query.order or query.distinct or not context.indexes(source):
        return step
    layout = context.core.layout(source.relation.name)
    field_ = order_field(layout, source, query)
    if field_ is None:
        return step
    need = _need(query)
    bounds, consumed = order_bounds(layout, source, field_, query.conjuncts)
    rest = tuple(c for i, c in enumerate(query.conjuncts) if i not in consumed)
    key = query.order[0]
    single = len(query.order) == 1
    skip = query.offset if not rest and single else 0  # every index entry is a result row
    batch = min(need - skip + (0 if single else 1) if not rest else max(32, need), MAX_COUNT)
    order = IndexOrder(
        source.relation, field_, key.desc, key.nulls_first, bounds,
        tuple(query.conjuncts[i] for i in sorted(consumed)), batch, skip,
    )  # fmt: skip
    streamed = chain.build(order, rest, drop_sort=single, presorted=True, need=need - skip, skip=skip)
    if not rest:
        return streamed
    cap = max(64, math.isqrt(max(1, need) * max(1, context.count(source))))
    planner = context.candidates(source, cap)
    access = planner.plan(conjoin(list(rest)))  # type: ignore[arg-type]
    if access is None:
        return streamed
    exact = planner.exact and not consumed
    ids = IndexIds(source.relation, access, tuple(query.conjuncts), exact, context.count(source), cap)
    return Fallback(chain.build(ids, ()), streamed, "over_cap")


@chain_pass
def stream_ids(step: Step, chain: Chain, source: Source, context: PlanContext) -> Step:
    """LIMIT without ORDER BY over equalities and point gets: stream ids in id order (merge
    intersections and unions of the index scans) and fetch rows until LIMIT of them matched;
    `LIMIT 10` reads a few hundred index keys, not every matching id. An exact tree skips the
    OFFSET's ids unread."""
    query = context.query
    if not query.conjuncts or query.order or query.distinct or not query.limit or not context.indexes(source):
        return step
    planner = context.candidates(source)
    access = planner.plan(conjoin(query.conjuncts))  # type: ignore[arg-type]
    if access is None or not access.by_id:
        return step
    need = _need(query)
    stream = IndexStream(source.relation, access, tuple(query.conjuncts), planner.exact, need)
    if stream.skippable:
        stream = replace(stream, skip=query.offset)
    return chain.build(stream, (), skip=stream.skip)


@chain_pass
def index_candidates(step: Step, chain: Chain, source: Source, context: PlanContext) -> Step:
    """A WHERE the indexes can narrow: read the candidate ids, fetch those rows, re-check the WHERE
    unless the indexes answered it exactly. For a top-N by a field no index orders over a warm
    cache, past `CANDIDATES_FOR_TOP_N` candidates DuckDB picks the rows faster (the fallback)."""
    query = context.query
    if not query.conjuncts or not context.indexes(source):
        return step
    cap = CANDIDATES_FOR_TOP_N if query.order and query.limit is not None and context.warm(source) else None
    planner = context.candidates(source, cap)
    access = planner.plan(conjoin(query.conjuncts))  # type: ignore[arg-type]
    if access is None:
        return step
    early = not query.order and not query.distinct and query.limit is not None
    batch = max(64, 2 * _need(query)) if early else None
    ids = IndexIds(source.relation, access, tuple(query.conjuncts), planner.exact, context.count(source), cap, batch)
    primary = chain.build(ids, ())
    return primary if cap is None else Fallback(primary, step, "over_cap")


def _scan_is_early(context: PlanContext, source: Source) -> bool:
    """A LIMIT without ORDER BY lets a Python scan stop early: better than filling a cold cache,
    unless the LIMIT reaches a tenth of the table anyway."""
    query = context.query
    if query.order or query.limit is None or context.warm(source):
        return False
    return bool(query.conjuncts) or _need(query) * 10 < context.count(source)


@chain_pass
def column_values(step: Step, _chain: Chain, source: Source, context: PlanContext) -> Step:
    """Named columns only (no `*`): DuckDB returns the values from the column cache, no row is
    decoded. Not under a LIMIT a cold-cache scan can stop early (unless DISTINCT)."""
    query = context.query
    if not context.engine.use_cache or any(item.star is not None for item in query.items):
        return step
    if not query.distinct and _scan_is_early(context, source):
        return step
    duck = DuckQuery(
        ((source.alias, context.columns(source, True)),), "values", _work(query),
        context.include_deleted, check_ints=not query.distinct,
    )  # fmt: skip
    return Fallback(duck, step, "untranslatable")


@chain_pass
def column_positions(step: Step, chain: Chain, source: Source, context: PlanContext) -> Step:
    """WHERE or ORDER BY over the column cache in DuckDB, which returns row positions; those rows
    are then read by key."""
    query = context.query
    if not context.engine.use_cache or not (query.conjuncts or query.order) or _scan_is_early(context, source):
        return step
    duck = DuckQuery(((source.alias, context.columns(source, False)),), "positions", _work(query),
                     context.include_deleted)  # fmt: skip
    return Fallback(replace(chain.project, input=duck), step, "untranslatable")


def count_index_keys(tree: Step, context: PlanContext) -> Step:
    """`SELECT COUNT(*) ... WHERE <exact index predicates>` over a cold cache: count index keys, no
    row read; past `COUNT_PROBE` keys, DuckDB counts over the column cache (filled once, then kept
    current by commits)."""
    source, name = _plain_count(tree, context)
    if source is None or context.warm(source, True):
        return tree
    planner = context.candidates(source)
    access = planner.plan(conjoin(context.query.conjuncts))  # type: ignore[arg-type]
    if access is None or not planner.exact or has_point(access):
        return tree
    counted = CountIndexKeys(source.relation, access, name, COUNT_PROBE)
    assert isinstance(tree, DuckQuery)
    return Fallback(counted, _cached_inputs(tree, context), "over_cap")


def count_columns(tree: Step, context: PlanContext) -> Step:
    """`COUNT(*) ... WHERE a = 1 AND b = 'x'` over a warm cache: Arrow's compute kernels count the
    equalities on the cached columns, without DuckDB's planning and scan. Only equalities of a
    typed column with a constant of its type."""
    source, name = _plain_count(tree, context)
    if source is None or not context.warm(source, True):
        return tree
    data = context.engine.cache.get(source.relation, context.source_paths(source, True))  # warm: no scan
    tests = []
    for conjunct in context.query.conjuncts:
        test = _equality(conjunct, source.alias, data)
        if test is None:
            return tree
        tests.append(test)
    counted = CountColumns(source.relation, context.source_paths(source, True), tuple(tests), name)
    assert isinstance(tree, DuckQuery)
    return Fallback(counted, _cached_inputs(tree, context), "untranslatable")


def narrow_inputs(tree: Step, context: PlanContext) -> Step:
    """A join or aggregate input with conditions of its own on indexed fields: its candidate rows
    (when few) go to DuckDB instead of the whole cached relation. A warm cache is filtered by DuckDB
    faster than rows are fetched unless very few match; a cold one costs a full scan to fill."""

    def rewrite(step: Step) -> Step:
        if not isinstance(step, DuckQuery) or not isinstance(step.sources[0][1], TableScan):
            return step
        query = context.query
        sources = []
        for (alias, child), source in zip(step.sources, query.sources, strict=True):
            sources.append((alias, _narrowed(context, source) or child))
        return replace(step, sources=tuple(sources))

    return transform(tree, rewrite)


def _narrowed(context: PlanContext, source: Source) -> Step | None:
    query = context.query
    if source.join == "left" or not context.indexes(source):
        return None
    local = tuple(i for i, c in enumerate(query.conjuncts) if set(refs_in([c])) <= {source.alias})
    if not local:
        return None
    count = context.count(source)
    paths = context.source_paths(source, query.aggregate)
    cold = not context.warm(source, query.aggregate)
    if cold and count <= SMALL:
        return None  # a small table: filling its cache is cheap
    cap = max(SMALL, count // 2) if cold else count // 50
    if cap < 1:
        return None  # a warm cache of under 50 rows: DuckDB filters it before any row is fetched
    planner = context.candidates(source, cap)
    access = planner.plan(conjoin([query.conjuncts[i] for i in local]))  # type: ignore[arg-type]
    if access is None:
        return None
    rows = IndexRows(source.relation, source.alias, access, local, planner.exact, cap, paths, count)
    return Fallback(rows, context.columns(source, query.aggregate), "over_cap")


def cached_inputs(tree: Step, context: PlanContext) -> Step:
    """Every DuckDB input still a full scan reads the column cache instead."""

    def rewrite(step: Step) -> Step:
        return _cached_inputs(step, context) if isinstance(step, DuckQuery) else step

    return transform(tree, rewrite)


def _cached_inputs(step: DuckQuery, context: PlanContext) -> DuckQuery:
    sources = []
    for (alias, child), source in zip(step.sources, context.query.sources, strict=True):
        if isinstance(child, TableScan):
            child = context.columns(source, context.query.aggregate)
        sources.append((alias, child))
    return replace(step, sources=tuple(sources))


def rows_when_untranslatable(tree: Step, context: PlanContext) -> Step:
    """An aggregate over one table whose WHERE DuckDB cannot express over the cached columns: the
    WHERE is checked in Python on a full scan, and DuckDB aggregates the rows that passed."""
    query = context.query
    source = query.single
    if not isinstance(tree, DuckQuery) or source is None or not isinstance(tree.sources[0][1], ColumnScan):
        return tree
    node: Step = TableScan(source.relation, context.count(source), context.include_deleted, source.alias)
    if query.conjuncts:
        node = Filter(node, tuple(query.conjuncts))
    rows = RowsAsColumns(node, source.relation, context.source_paths(source, True), tuple(range(len(query.conjuncts))))
    return Fallback(tree, replace(tree, sources=((source.alias, rows),)), "untranslatable")


PASSES: list[Pass] = [
    count_index_keys,
    count_columns,
    index_order,
    stream_ids,
    index_candidates,
    column_values,
    column_positions,
    narrow_inputs,
    cached_inputs,
    rows_when_untranslatable,
]


# --------------------------------------------------------------------------- helpers
def _plain_count(tree: Step, context: PlanContext) -> tuple[Source | None, str]:
    """The source of a plain `SELECT COUNT(*) FROM t WHERE ...` whose indexes may count."""
    query = context.query
    source = query.single
    if not isinstance(tree, DuckQuery) or source is None or not isinstance(tree.sources[0][1], TableScan):
        return None, ""
    plain = (
        len(query.items) == 1
        and isinstance(query.items[0].expr, exp.Count)
        and isinstance(query.items[0].expr.this, exp.Star)
    )
    if not plain or query.group or query.having is not None or query.distinct or query.offset:
        return None, ""
    if query.limit == 0 or not query.conjuncts or not context.indexes(source):
        return None, ""
    return source, query.items[0].name


def _equality(conjunct: exp.Expression, alias: str, data: Any) -> tuple[Path, Any] | None:
    if not isinstance(conjunct, exp.EQ):
        return None
    for side, other in ((conjunct.left, conjunct.right), (conjunct.right, conjunct.left)):
        parts, value = ref_parts(side), literal_value(other)
        if parts is not None and parts[0] == alias and value is not _MISSING:
            column = data.columns.get(tuple(parts[1:]))
            if column is None or not same_kind(column.kind, value):
                return None
            return tuple(parts[1:]), value
    return None
