"""The DuckDB half of the planner: aggregates, GROUP BY/HAVING, joins, and single-table filters
over the column cache. Each relation of the query becomes an Arrow table of the columns it reads:
the rows its indexes pick (filtered in Python) when they are few, else its cached columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from remlite.errors import QueryError
from remlite.query.candidates import CandidatePlanner
from remlite.query.catalog import TableRelation
from remlite.query.columns import RelationData, rows_relation
from remlite.query.duck import DuckBuilder, DuckPlan, refs_in, values_rows
from remlite.query.model import Query, Source
from remlite.query.result import Result
from remlite.query.rows import RowProgram, scan_rows
from remlite.query.translate import Untranslatable

if TYPE_CHECKING:
    from remlite.core import TenantCore

SMALL = 2000  # candidate rows worth fetching and handing to DuckDB instead of using the cache


@dataclass
class Plan:
    """A planned statement: the steps it runs as data (`steps`, what `explain(format="json")`
    returns), the same plan as EXPLAIN's text (`lines`), and how to run it."""

    lines: list[str]
    execute: Callable[[], Result]
    steps: list[dict[str, Any]] = field(default_factory=list)


def aliases_of(node: exp.Expression) -> set[str]:
    return set(refs_in([node]))


class DuckPlanning:
    """Mixed into `remlite.query.plan.Planner` (which holds the state used here)."""

    engine: Any
    core: TenantCore
    query: Query
    include_deleted: bool
    counted_by_cache: bool
    program: RowProgram
    lines: list[str]

    steps: list[dict[str, Any]]

    def error(self, node: exp.Expression | None, message: str) -> QueryError:
        raise NotImplementedError

    def step(self, kind: str, **fields: Any) -> None:
        """Record a plan step as data (alongside EXPLAIN's line for it)."""
        self.steps.append({"step": kind, **fields})

    def _finish(self, rows: list[dict[str, Any]]) -> Result:
        raise NotImplementedError

    def _finder(self, layout: Any) -> Callable[[str, dict[str, Any]], set[bytes]]:
        raise NotImplementedError

    # ---------------------------------------------------------------- DuckDB
    def _paths(self, for_values: bool) -> dict[str, set[tuple[str, ...]]]:
        query = self.query
        nodes: list[exp.Expression | None] = [*query.conjuncts, *(s.on for s in query.sources)]
        nodes += [k.expr for k in query.order]
        if for_values:
            nodes += [i.expr for i in query.items] + list(query.group) + [query.having]
        return refs_in(nodes)

    def _cached(self, source: Source, paths: dict[str, set[tuple[str, ...]]]) -> RelationData:
        wanted = paths.get(source.alias, set())
        fresh = self.engine.cache.fresh(source.relation, wanted)
        data = self.engine.cache.get(source.relation, wanted)
        columns = ", ".join(sorted(".".join(p) for p in wanted)) or "no columns"
        state = "warm" if fresh else "cold: filled by one scan now"
        self.lines.append(f"  access: column cache of {source.relation.name} ({len(data)} rows; {columns}; {state})")
        self.step(
            "column_cache",
            relation=source.relation.name,
            rows=len(data),
            columns=sorted(".".join(p) for p in wanted),
            warm=fresh,
        )
        return data

    def _duck_positions(self, inputs: dict[str, RelationData], skip: set[int]) -> Plan:
        builder = DuckBuilder(self.query, inputs, self.engine.duck, include_deleted=self.include_deleted, skip=skip)
        plan = builder.build("positions")
        self._duck_lines(plan, inputs)
        self.step("duckdb", output="positions", sql=plan.sql)

        def run() -> Result:
            raw = self.engine.duck.run(plan.sql, plan.tables)
            return self._finish(self._materialize(plan, inputs, raw))

        return Plan(self.lines, run, self.steps)

    def _duck_lines(self, plan: DuckPlan, inputs: dict[str, RelationData]) -> None:
        query = self.query
        did = []
        if query.conjuncts:
            did.append("WHERE")
        if len(query.sources) > 1:
            did.append("JOIN")
        if query.group:
            did.append("GROUP BY")
        if query.aggregate:
            did.append("aggregates")
        if query.having is not None:
            did.append("HAVING")
        if query.order:
            did.append("ORDER BY")
        if query.limit is not None or query.offset:
            did.append("LIMIT")
        what = "rows by position, then read by key" if plan.mode == "positions" else "output values"
        self.lines.append(f"  executor: DuckDB over Arrow ({', '.join(did) or 'projection'}) -> {what}")
        self.lines.append(f"  estimated rows: <= {max((len(d) for d in inputs.values()), default=0)} before filtering")

    def _materialize(
        self, plan: DuckPlan, inputs: dict[str, RelationData], raw: list[tuple[Any, ...]]
    ) -> list[dict[str, Any]]:
        query = self.query
        per_alias: list[list[Any]] = []
        for i, alias in enumerate(plan.aliases):
            data = inputs[alias]
            positions = [row[i] for row in raw]
            if data.cached:
                wanted = sorted({p for p in positions if p is not None})
                fetched = dict(zip(wanted, data.relation.fetch(self.core, [data.refs[p] for p in wanted]), strict=True))
            else:
                fetched = {p: data.refs[p] for p in positions if p is not None}
            per_alias.append([None if p is None else fetched.get(p) for p in positions])
        if query.single is not None:
            return [row for row in per_alias[0] if row is not None]
        out = []
        for values in zip(*per_alias, strict=True):
            if values[0] is None:
                continue
            out.append(dict(zip(plan.aliases, values, strict=True)))
        return out

    def _duck_plan(self) -> Plan:
        query = self.query
        for_values = query.aggregate
        paths = self._paths(for_values)
        inputs: dict[str, RelationData] = {}
        skip: set[int] = set()
        for source in query.sources:
            narrowed = self._narrow(source, paths, skip)
            inputs[source.alias] = narrowed if narrowed is not None else self._cached(source, paths)
        try:
            if for_values:
                return self._duck_values(inputs, skip)
            return self._duck_positions(inputs, skip)
        except Untranslatable as exc:
            if query.single is None or not any(d.cached for d in inputs.values()):
                raise self.error(exc.node, f"not supported: {exc.why}") from None
        # one table whose WHERE DuckDB cannot express: filter in Python, aggregate in DuckDB
        source = query.single
        self.lines = [*self.lines[:1], f"  access: full scan of {source.relation.name} in Python (WHERE in Python)"]
        rows = self._filtered_scan(source)  # type: ignore[arg-type]
        data = rows_relation(source.relation, rows, paths.get(source.alias, set()))
        try:
            return self._duck_values({source.alias: data}, set(range(len(query.conjuncts))))
        except Untranslatable as exc:
            raise self.error(exc.node, f"not supported: {exc.why}") from None

    def _filtered_scan(self, source: Source) -> list[dict[str, Any]]:
        test = self.program.predicate(self.query.conjuncts)
        return [r for r in scan_rows(self.core, source.relation, self.include_deleted) if test is None or test(r)]

    def _narrow(self, source: Source, paths: dict[str, set[tuple[str, ...]]], skip: set[int]) -> RelationData | None:
        """Rows of `source` picked by its indexes and filtered in Python, when few enough."""
        query = self.query
        relation = source.relation
        if (
            source.join == "left"
            or not isinstance(relation, TableRelation)
            or self.include_deleted
            or not self.engine.use_indexes
            or self.counted_by_cache
        ):
            return None
        local = [i for i, c in enumerate(query.conjuncts) if aliases_of(c) <= {source.alias}]
        if not local:
            return None
        layout = self.core.layout(relation.name)
        count = self.core.counts.get(relation.table.table_id, 0)
        cold = not self.engine.cache.fresh(relation, paths.get(source.alias, set()))
        # warm cache: DuckDB filters all rows faster than rows are fetched, unless very few match;
        # cold cache: fetching the candidates beats filling the cache by a full scan
        # (a small table, cold: filling the cache is cheap). The cap bounds the index reads.
        if cold and count <= SMALL:
            return None
        cap = max(SMALL, count // 2) if cold else count // 50
        planner = CandidatePlanner(layout, self._finder(layout), aliases=(source.alias,), cap=cap)
        tree = query.conjuncts[local[0]]
        for i in local[1:]:
            tree = exp.And(this=tree, expression=query.conjuncts[i])
        candidates = planner.ids(tree)
        if candidates is None or len(candidates) > cap:
            what = "over the cap" if candidates is None else len(candidates)
            self.lines.append(f"  ({what} index candidates in {relation.name}: using the column cache)")
            return None
        self.lines += [f"  access: {step}" for step in planner.steps]
        self.lines.append(f"  filter: {relation.name} conditions checked in Python on the candidate rows")
        self.step("index_candidates", relation=relation.name, ids=len(candidates), exact=planner.exact)
        rows = self.core.fetch(layout, sorted(candidates))
        test = None if planner.exact else self.program.predicate([query.conjuncts[i] for i in local])
        if test is not None:
            single = query.single is not None
            rows = [r for r in rows if test(r if single else {source.alias: r})]
        skip.update(local)
        return rows_relation(relation, rows, paths.get(source.alias, set()))

    def _duck_values(self, inputs: dict[str, RelationData], skip: set[int]) -> Plan:
        builder = DuckBuilder(self.query, inputs, self.engine.duck, include_deleted=self.include_deleted, skip=skip)
        plan = builder.build("values")
        self._duck_lines(plan, inputs)
        self.step("duckdb", output="values", sql=plan.sql)

        def run() -> Result:
            raw = self.engine.duck.run(plan.sql, plan.tables)
            rows = values_rows(plan, raw)
            return Result(list(plan.columns), rows, self.lines)

        return Plan(self.lines, run, self.steps)

    def _duck_values_from(self, rows_of: Callable[[], list[dict[str, Any]]], k: int) -> Plan:
        """Aggregates over search hits: the hits become the one relation DuckDB reads."""
        query = self.query
        source = query.single
        assert source is not None
        paths = self._paths(for_values=True)
        skip = set(range(len(query.conjuncts)))
        self.lines.append(f"  executor: DuckDB over Arrow columns of the (at most {k}) hits")

        def run() -> Result:
            data = rows_relation(source.relation, rows_of(), paths.get(source.alias, set()))
            try:
                plan = DuckBuilder(
                    query, {source.alias: data}, self.engine.duck, include_deleted=True, skip=skip
                ).build("values")
            except Untranslatable as exc:
                raise self.error(exc.node, f"not supported: {exc.why}") from None
            return Result(
                list(plan.columns), values_rows(plan, self.engine.duck.run(plan.sql, plan.tables)), self.lines
            )

        return Plan(self.lines, run)
