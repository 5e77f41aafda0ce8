"""The executor: runs a plan tree (`remlite.query.steps`) by walking it.

Row steps are generators pulled from above, so a `Limit` that has its rows stops a scan, an index
stream or the batched fetch of candidates underneath it. Result steps (`Project`, `DuckQuery` of
values, the counts) return a `Result`. A `Fallback` runs its second branch when the first gives up
(`OverCap`, `Untranslatable`); an `Untranslatable` no fallback catches is the user's error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from remlite.query.access import count, materialize, stream
from remlite.query.column_steps import ColumnScan, CountColumns, CountIndexKeys, DuckQuery, IndexRows, RowsAsColumns
from remlite.query.columns import RelationData, rows_relation
from remlite.query.dialect import error_at
from remlite.query.duck import DuckBuilder, DuckPlan, read_paths, values_rows
from remlite.query.model import MAX_COUNT, Query
from remlite.query.result import Result
from remlite.query.rows import RowProgram, ordered_ids, scan_rows
from remlite.query.steps import (
    Fallback,
    Filter,
    IndexIds,
    IndexOrder,
    IndexStream,
    Limit,
    OverCap,
    Plan,
    Project,
    Search,
    Sort,
    Step,
    TableScan,
)
from remlite.query.translate import Untranslatable

if TYPE_CHECKING:
    from remlite.query.engine import Engine

Row = dict[str, Any]
_SIGNALS = {"over_cap": OverCap, "untranslatable": Untranslatable}


class Executor:
    """Runs one plan of one query (the query's compiled filter, sort and projection are shared by
    its steps)."""

    def __init__(self, engine: Engine, query: Query, plan: Plan) -> None:
        self.engine = engine
        self.core = engine.core
        self.query = query
        self.plan = plan
        self.program = RowProgram(query)

    def run(self) -> Result:
        try:
            return self.result(self.plan.tree)
        except Untranslatable as exc:
            raise error_at(self.query.text, exc.node, f"not supported: {exc.why}") from None

    # ---------------------------------------------------------------- results
    def result(self, step: Step) -> Result:
        if isinstance(step, Fallback):
            return _either(step, self.result)
        if isinstance(step, Project):
            return self._project(step)
        if isinstance(step, DuckQuery):
            return self._duck_values(step)
        if isinstance(step, CountIndexKeys):
            return self._count_keys(step)
        if isinstance(step, CountColumns):
            return self._count_columns(step)
        raise TypeError(f"not a result step: {step.kind}")

    def _done(self, columns: list[str], rows: list[Row]) -> Result:
        return Result(columns, rows, plan=self.plan)

    def _project(self, step: Project) -> Result:
        columns, out = self.program.project(list(self.rows(step.input)))
        return self._done(columns, out)

    def _duck_values(self, step: DuckQuery) -> Result:
        plan, _ = self._duck_plan(step, "values")
        if step.check_ints and any(c.ints for data in plan.tables.values() for c in data.columns.values()):
            raise Untranslatable(None, "a float column also holds integers")
        rows = values_rows(plan, self.engine.duck.run(plan.sql, plan.tables))
        return self._done(list(plan.columns), rows)

    def _duck_plan(self, step: DuckQuery, mode: str) -> tuple[DuckPlan, dict[str, RelationData]]:
        inputs: dict[str, RelationData] = {}
        applied: set[int] = set()
        for alias, child in step.sources:
            data, done = self.columns(child)
            inputs[alias] = data
            applied |= done
        builder = DuckBuilder(self.query, inputs, self.engine.duck, include_deleted=step.include_deleted, skip=applied)
        return builder.build(mode), inputs

    def _count_keys(self, step: CountIndexKeys) -> Result:
        layout = self.core.layout(step.relation.name)
        found = count(
            step.access,
            lambda field, bounds: self.core.index_ids(layout, field, bounds),
            self._finder(layout),
            step.probe,
        )
        if found is None:
            raise OverCap(step.relation.name)
        return self._done([step.name], [{step.name: found}])

    def _count_columns(self, step: CountColumns) -> Result:
        data = self.engine.cache.get(step.relation, step.paths)
        found = data.count_equal(list(step.tests))
        if found is None:
            raise Untranslatable(None, "a column changed type")
        return self._done([step.name], [{step.name: found}])

    # ---------------------------------------------------------------- rows
    def rows(self, step: Step) -> Iterator[Row]:
        run = _ROWS.get(type(step))
        if run is None:
            raise TypeError(f"not a row step: {step.kind}")
        return run(self, step)

    def _fallback_rows(self, step: Fallback) -> Iterator[Row]:
        # steps give up when called, before their first row: a branch is never half-consumed
        return _either(step, self.rows)

    def _scan(self, step: TableScan) -> Iterator[Row]:
        return scan_rows(self.core, step.relation, step.include_deleted)

    def _filter(self, step: Filter) -> Iterator[Row]:
        test = self.program.predicate(list(step.conditions))
        return (row for row in self.rows(step.input) if test is None or test(row))  # type: ignore[misc]

    def _sort(self, step: Sort) -> Iterator[Row]:
        if not step.presorted:
            return iter(self.program.sort(list(self.rows(step.input))))
        found = self.rows(step.input)
        kept = list(islice(found, step.need))
        if kept and len(kept) >= (step.need or 0):
            first = self.program.first_key()
            boundary = first(kept[-1])
            for row in found:  # rows tied with the last on the first key may sort before it
                if first(row) != boundary:
                    break
                kept.append(row)
        return iter(self.program.sort(kept))

    def _limit(self, step: Limit) -> Iterator[Row]:
        if step.limit == 0:
            return iter(())
        end = None if step.limit is None or step.offset + step.limit > MAX_COUNT else step.offset + step.limit
        return islice(self.rows(step.input), step.offset, end)

    def _index_ids(self, step: IndexIds) -> Iterator[Row]:
        layout = self.core.layout(step.relation.name)
        found, done = materialize(step.access, self._finder(layout), step.relation.name, step.cap)
        if found is None:
            raise OverCap(step.relation.name)
        test = None if step.exact and done.exact else self.program.predicate(list(step.where))
        ids = sorted(found)
        return self._fetched(layout, ids, step.batch or len(ids) or 1, test)

    def _fetched(self, layout: Any, ids: list[bytes], size: int, test: Callable[[Row], bool] | None) -> Iterator[Row]:
        for start in range(0, len(ids), size):
            for row in self.core.fetch(layout, ids[start : start + size]):
                if test is None or test(row):
                    yield row

    def _index_stream(self, step: IndexStream) -> Iterator[Row]:
        layout = self.core.layout(step.relation.name)
        ids = stream(step.access, lambda field, bounds: self.core.index_ids(layout, field, bounds))
        if step.skip:
            ids = islice(ids, step.skip, None)
        test = None if step.exact else self.program.predicate(list(step.where))
        size = max(16, step.stop_after - step.skip)
        while True:
            chunk = list(islice(ids, size))
            if not chunk:
                return
            for row in self.core.fetch(layout, chunk):
                if test is None or test(row):
                    yield row
            size = min(size * 2, 1024)

    def _index_order(self, step: IndexOrder) -> Iterator[Row]:
        layout = self.core.layout(step.relation.name)
        ids = ordered_ids(self.core, step.field, step.desc, step.nulls_first, step.bounds)
        if step.skip:
            ids = islice(ids, step.skip, None)
        size = step.batch
        while True:
            chunk = list(islice(ids, max(1, size)))
            if not chunk:
                return
            yield from self.core.fetch(layout, chunk)
            size = min(size * 2, 1024)

    def _search(self, step: Search) -> Iterator[Row]:
        hits = self.engine.search.search(
            step.relation.name, step.text, step.k, where=step.prefilter_text(), mode=step.mode, field=step.field
        )
        return iter(hits)

    def _duck_positions(self, step: DuckQuery) -> Iterator[Row]:
        plan, inputs = self._duck_plan(step, "positions")
        raw = self.engine.duck.run(plan.sql, plan.tables)
        return iter(self._positions(plan, inputs, raw))

    def _positions(self, plan: DuckPlan, inputs: dict[str, RelationData], raw: list[tuple[Any, ...]]) -> list[Row]:
        """The rows at the positions DuckDB returned (joins: {alias: row or None})."""
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
        if self.query.single is not None:
            return [row for row in per_alias[0] if row is not None]
        return [
            dict(zip(plan.aliases, values, strict=True))
            for values in zip(*per_alias, strict=True)
            if values[0] is not None
        ]

    # ---------------------------------------------------------------- columns
    def columns(self, step: Step) -> tuple[RelationData, set[int]]:
        """The Arrow columns a DuckDB input step gives, and the WHERE positions it applied."""
        if isinstance(step, Fallback):
            return _either(step, self.columns)
        if isinstance(step, ColumnScan):
            return self.engine.cache.get(step.relation, step.paths), set()
        if isinstance(step, TableScan):  # a logical plan's input, run as it reads (slowly)
            paths = self._paths_of(step)
            return rows_relation(step.relation, list(self._scan(step)), paths), set()
        if isinstance(step, RowsAsColumns):
            return rows_relation(step.relation, list(self.rows(step.input)), step.paths), set(step.applied)
        if isinstance(step, IndexRows):
            return self._index_rows(step), set(step.local)
        raise TypeError(f"not a column step: {step.kind}")

    def _paths_of(self, step: TableScan) -> list[tuple[str, ...]]:
        return sorted(read_paths(self.query, for_values=True).get(step.alias, set()))

    def _index_rows(self, step: IndexRows) -> RelationData:
        layout = self.core.layout(step.relation.name)
        found, done = materialize(step.access, self._finder(layout), step.relation.name, step.cap)
        if found is None or len(found) > step.cap:
            raise OverCap(step.relation.name)
        rows = self.core.fetch(layout, sorted(found))
        if not (step.exact and done.exact):
            test = self.program.predicate([self.query.conjuncts[i] for i in step.local])
            if test is not None:
                single = self.query.single is not None
                rows = [r for r in rows if test(r if single else {step.alias: r})]
        return rows_relation(step.relation, rows, step.paths)

    def _finder(self, layout: Any) -> Callable[[str, dict[str, Any]], set[bytes]]:
        def find(name: str, bounds: dict[str, Any]) -> set[bytes]:
            return set(self.core.find_raw(layout, name, bounds, bounds.get("limit")))

        return find


def _either(step: Fallback, run: Callable[[Step], Any]) -> Any:
    """`run` of the fallback's first branch, or of its second when the first gives up; which one
    ran is recorded on the step (what `result.plan` and `result.steps` show)."""
    try:
        found = run(step.first)
        step.ran = "first"
    except _SIGNALS[step.when]:
        step.ran = "then"
        found = run(step.then)
    return found


_ROWS: dict[type, Callable[[Executor, Any], Iterator[Row]]] = {
    TableScan: Executor._scan,
    Filter: Executor._filter,
    Sort: Executor._sort,
    Limit: Executor._limit,
    IndexIds: Executor._index_ids,
    IndexStream: Executor._index_stream,
    IndexOrder: Executor._index_order,
    Search: Executor._search,
    DuckQuery: Executor._duck_positions,
    Fallback: Executor._fallback_rows,
}
