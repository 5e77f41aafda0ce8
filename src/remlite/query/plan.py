"""The planner: picks how a resolved `Query` runs and describes it for EXPLAIN.

Single-table queries without aggregates run in Python over the fewest rows the indexes allow:
- search hits, when WHERE holds similar(), match() or .cosine() (the rest of WHERE pre-filters
  the search);
- index candidates: sargable predicates on indexed fields (=, <, <=, >, >=, BETWEEN, IN,
  IS NULL, combined with AND/OR) become index scans whose id sets are intersected/united; the
  full WHERE is re-checked on the fetched rows;
- an index streamed in ORDER BY order, when the first ORDER BY key is an indexed field and there
  is a LIMIT: rows are fetched in small batches and the scan stops once LIMIT rows passed;
- otherwise DuckDB over the column cache picks the rows (filter, order, limit), which are then
  read by key; or, when the cache is cold and a LIMIT without ORDER BY lets a scan stop early (or
  DuckDB cannot express the filter), a Python scan.
Aggregates, GROUP BY/HAVING and joins run in DuckDB over Arrow columns of the candidate rows (when
indexes narrow them) or of the column cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from sqlglot import exp

from remlite.errors import QueryError
from remlite.query.access import Access, count, has_point, stream
from remlite.query.access import as_data as access_data
from remlite.query.access import lines as access_lines
from remlite.query.candidates import CandidatePlanner, _declared_types
from remlite.query.catalog import TableRelation
from remlite.query.dialect import RemDialect, error_at
from remlite.query.duck import refs_in
from remlite.query.model import SCORE, Query, Source, conjoin, make_ref, ref_parts
from remlite.query.plan_duck import DuckPlanning, Plan
from remlite.query.predicate import literal_value
from remlite.query.result import Result
from remlite.query.rows import RowProgram, ordered_ids, run_rows, scan_rows
from remlite.query.translate import Untranslatable
from remlite.query.values import _MISSING, COMPARISONS, FLIPPED

DEFAULT_K = 10  # rows a semantic predicate finds when the query has no LIMIT
CANDIDATES_FOR_TOP_N = 4000  # more index candidates than this: ORDER BY ... LIMIT goes to the cache
COUNT_PROBE = 2000  # COUNT(*) reads at most this many index keys (~1 ms) before using the cache


def strip_alias(node: exp.Expression, alias: str) -> exp.Expression:
    """The expression with its canonical references unqualified (for `search(where=...)`)."""

    def unqualify(sub: exp.Expression) -> exp.Expression:
        if isinstance(sub, (exp.Column, exp.Dot)) and not isinstance(sub.parent, exp.Dot):
            parts = ref_parts(sub)
            if parts and parts[0] == alias:
                return make_ref(parts[1:])
        return sub

    return node.transform(unqualify)


class Planner(DuckPlanning):
    def __init__(self, engine: Any, query: Query, include_deleted: bool) -> None:
        self.engine = engine
        self.core = engine.core
        self.query = query
        self.include_deleted = include_deleted
        self.program = RowProgram(query)
        self.lines: list[str] = []
        self.steps: list[dict[str, Any]] = []
        self.counted_by_cache = False  # a COUNT(*) whose index probe found too many keys

    def error(self, node: exp.Expression | None, message: str) -> QueryError:
        return error_at(self.query.text, node, message)

    # ---------------------------------------------------------------- entry
    def plan(self) -> Plan:
        query = self.query
        names = ", ".join(
            f"{s.relation.name}{'' if s.alias == s.relation.name else ' AS ' + s.alias}" for s in query.sources
        )
        self.lines.append(f"SELECT from {names}")
        if query.semantic is not None:
            return self._semantic()
        if query.single is not None and query.aggregate:
            counted = self._index_count(query.single) or self._column_count(query.single)
            if counted is not None:
                return counted
        if query.single is not None and not query.aggregate:
            return self._single(query.single)
        return self._duck_plan()

    def _tail(self, est: int | str) -> None:
        query = self.query
        if query.order and not any("order:" in line or "ORDER BY" in line for line in self.lines):
            self.lines.append("  order: sort in Python by " + self._order_text())
        if query.limit is not None or query.offset:
            self.lines.append(f"  limit: {query.limit if query.limit is not None else 'all'} offset {query.offset}")
        self.lines.append(f"  estimated rows: {est}")

    def _order_text(self) -> str:
        keys = []
        for key in self.query.order:
            parts = ref_parts(key.expr)
            text = ".".join(parts[1:]) if parts else key.expr.sql(dialect=RemDialect)
            keys.append(f"{text} {'DESC' if key.desc else 'ASC'} NULLS {'FIRST' if key.nulls_first else 'LAST'}")
        return ", ".join(keys)

    def _finish(self, rows: list[dict[str, Any]]) -> Result:
        columns, out = self.program.project(rows)
        return Result(columns, out, self.lines)

    # ---------------------------------------------------------------- single table, Python
    def _single(self, source: Source) -> Plan:
        query, relation = self.query, source.relation
        if isinstance(relation, TableRelation) and not self.include_deleted and self.engine.use_indexes:
            layout = self.core.layout(relation.name)
            where = query.where
            stream = self._stream_target(source, layout)
            cap, bounds, rest = None, None, list(query.conjuncts)
            if stream is not None:
                # sorting c candidates costs ~c rows; streaming the ORDER BY index costs ~need * N / c:
                # take the candidates only while c < sqrt(need * N)
                need = query.offset + (query.limit or 0)
                cap = max(64, math.isqrt(max(1, need) * max(1, relation.count(self.core))))
                bounds, consumed = self._bounds(source, layout, stream)
                rest = [c for i, c in enumerate(query.conjuncts) if i not in consumed]
                where = conjoin(rest)
            elif query.order and query.limit is not None and self._warm(source):
                # top-N by a field no index orders: past a few thousand candidates, DuckDB over the
                # warm column cache picks the N rows faster than fetching every candidate
                cap = CANDIDATES_FOR_TOP_N
            planner = CandidatePlanner(
                layout, self._finder(layout), aliases=(source.alias,), cap=cap, tenant=self.core.tenant
            )
            if where is not None and stream is None and not query.order and not query.distinct and query.limit:
                access = planner.plan(where)  # reads nothing
                if access is not None and access.by_id:
                    return self._streamed(layout, access, planner.exact and len(rest) == len(query.conjuncts))
            candidates = planner.ids(where) if where is not None else None
            if stream is not None and candidates is None:
                return self._stream(source, layout, stream, planner.steps, bounds, rest)
            if candidates is not None:
                exact = planner.exact and len(rest) == len(query.conjuncts)
                return self._candidates(layout, candidates, planner.steps, exact)
        paths = self._paths(for_values=False)
        cold = not self.engine.cache.fresh(relation, paths.get(source.alias, set()))
        early = not query.order and query.limit is not None
        values = not any(item.star is not None for item in query.items)
        if (
            early
            and cold
            and not query.conjuncts
            and (query.offset + (query.limit or 0)) * 10 >= relation.count(self.core)
        ):
            early = False  # a large share of the table: fill the cache once, it follows commits
        if self.engine.use_cache and values and (query.distinct or not (cold and early)):
            # named columns only: DuckDB returns the values from the column cache, no row is decoded
            # (unless a float column also holds integers: its 1 would come back as 1.0)
            kept = len(self.lines)
            data = self._cached(source, self._paths(for_values=True))
            if query.distinct or not any(c.ints for c in data.columns.values()):
                try:
                    return self._duck_values({source.alias: data}, set())
                except Untranslatable as exc:
                    del self.lines[kept:]
                    self.lines.append(f"  (DuckDB cannot compute this: {exc.why}; in Python)")
            else:
                del self.lines[kept:]
        if self.engine.use_cache and (query.conjuncts or query.order) and not (cold and early):
            try:
                return self._duck_positions({source.alias: self._cached(source, paths)}, set())
            except Untranslatable as exc:
                self.lines.append(f"  (DuckDB cannot run this filter: {exc.why}; scanning in Python)")
        return self._scan(source)

    def _streamed(self, layout: Any, access: Access, exact: bool) -> Plan:
        """LIMIT without ORDER BY over equalities and point gets: ids streamed in id order (merge
        intersections and unions of index scans), rows fetched until LIMIT of them matched."""
        query = self.query
        need = query.offset + (query.limit or 0)
        self.lines += [f"  access: {line}" for line in access_lines(access, layout.table.name)]
        self.lines.append(f"  access: ids streamed in id order, stopping after {need} matching rows")
        self.step("stream_ids", relation=layout.table.name, access=access_data(access), stop_after=need, exact=exact)
        # skipped ids need no row when every id is a match: index entries exist for live rows only
        skip = query.offset if exact and not has_point(access) else 0
        if exact:
            self.lines.append("  filter: none needed (the index lookups answer the whole WHERE)")
        else:
            self.lines.append("  filter: WHERE re-checked in Python on each fetched row")
        self._tail(query.limit or 0)
        test = None if exact else self.program.predicate(query.conjuncts)

        def run() -> Result:
            ids = stream(access, lambda field, bounds: self.core.index_ids(layout, field, bounds))
            if skip:
                ids = islice(ids, skip, None)
            kept: list[dict[str, Any]] = []
            size = max(16, need - skip)
            while len(kept) < need - skip:
                chunk = list(islice(ids, size))
                if not chunk:
                    break
                for row in self.core.fetch(layout, chunk):
                    if test is None or test(row):
                        kept.append(row)
                size = min(size * 2, 1024)
            kept = kept[query.offset - skip : need - skip]
            return self._finish(kept)

        return Plan(self.lines, run, self.steps)

    def _index_count(self, source: Source) -> Plan | None:
        """`SELECT COUNT(*) ... WHERE <exact index predicates>`: index keys counted, no row read."""
        query, relation = self.query, source.relation
        plain = (
            len(query.items) == 1
            and isinstance(query.items[0].expr, exp.Count)
            and isinstance(query.items[0].expr.this, exp.Star)
        )
        if not plain or query.group or query.having is not None or query.distinct or query.offset:
            return None
        if query.limit == 0 or not query.conjuncts or self.include_deleted or not self.engine.use_indexes:
            return None
        if not isinstance(relation, TableRelation) or self.counted_by_cache:
            return None
        if self._warm(source, for_values=True):
            self.counted_by_cache = True  # a warm column cache counts faster than index keys are read
            return None
        layout = self.core.layout(relation.name)
        planner = CandidatePlanner(layout, self._finder(layout), aliases=(source.alias,), tenant=self.core.tenant)
        access = planner.plan(conjoin(query.conjuncts))  # type: ignore[arg-type]
        if access is None or not planner.exact or has_point(access):
            return None
        self.lines += [f"  access: {line}" for line in access_lines(access, layout.table.name)]
        self.lines.append("  aggregate: COUNT(*) of the index keys (the indexes answer the whole WHERE; no row read)")
        self.step("count_index_keys", relation=layout.table.name, access=access_data(access), probe=COUNT_PROBE)
        name = query.items[0].name

        self.lines.append(f"  (past {COUNT_PROBE} keys: the column cache is filled and DuckDB counts)")

        def run() -> Result:
            found = count(
                access,
                lambda field, bounds: self.core.index_ids(layout, field, bounds),
                self._finder(layout),
                COUNT_PROBE,
            )
            if found is not None:
                return Result([name], [{name: found}], self.lines)
            # many matches: the cache, once filled, follows commits and counts in ~1 ms
            other = Planner(self.engine, query, self.include_deleted)
            other.counted_by_cache = True
            return other.plan().execute()

        return Plan(self.lines, run, self.steps)

    def _column_count(self, source: Source) -> Plan | None:
        """`SELECT COUNT(*) ... WHERE a = 1 AND b = 'x'` over a warm column cache: counted with
        Arrow's compute kernels on the cached columns (~0.3 ms at 100k rows), without DuckDB's
        planning and scan (~1.7 ms). Only equalities of a typed column with a constant of its type."""
        if not self.counted_by_cache:  # set by _index_count: a plain COUNT(*) and a warm cache
            return None
        query, relation = self.query, source.relation
        paths = self._paths(for_values=True).get(source.alias, set())
        data = self.engine.cache.get(relation, paths)
        tests: list[tuple[Any, Any]] = []
        for conjunct in query.conjuncts:
            if not isinstance(conjunct, exp.EQ):
                return None
            for side, other in ((conjunct.left, conjunct.right), (conjunct.right, conjunct.left)):
                parts, value = ref_parts(side), literal_value(other)
                if parts is not None and parts[0] == source.alias and value is not _MISSING:
                    column = data.columns.get(tuple(parts[1:]))
                    if column is None or not _same_kind(column.kind, value):
                        return None
                    tests.append((column.views["v"], value))
                    break
            else:
                return None
        self.lines.append(f"  access: column cache of {relation.name} (warm)")
        self.lines.append("  aggregate: COUNT(*) of the equalities by Arrow compute on the cached columns")
        self.step("count_columns", relation=relation.name, equalities=len(tests))
        name = query.items[0].name

        def run() -> Result:
            import pyarrow.compute as pc

            mask = data.live if data.present is None else pc.and_(data.live, data.present)
            for column, value in tests:
                mask = pc.and_(mask, pc.fill_null(pc.equal(column, value), False))
            return Result([name], [{name: int(pc.sum(mask).as_py() or 0)}], self.lines, self.steps)

        return Plan(self.lines, run, self.steps)

    def _warm(self, source: Source, for_values: bool = False) -> bool:
        paths = self._paths(for_values=for_values).get(source.alias, set())
        return self.engine.use_cache and self.engine.cache.fresh(source.relation, paths)

    def _finder(self, layout: Any) -> Callable[[str, dict[str, Any]], set[bytes]]:
        def find(name: str, bounds: dict[str, Any]) -> set[bytes]:
            limit = bounds.get("limit")
            return set(self.core.find_raw(layout, name, bounds, limit))

        return find

    def _candidates(self, layout: Any, candidates: set[bytes], steps: list[str], exact: bool) -> Plan:
        self.lines += [f"  access: {step}" for step in steps]
        self.step("index_candidates", relation=layout.table.name, ids=len(candidates), exact=exact)
        if exact:
            self.lines.append("  filter: none needed (the index lookups answer the whole WHERE)")
        else:
            self.lines.append(f"  filter: WHERE re-checked in Python on the {len(candidates)} candidate rows")
        self._tail(len(candidates))
        conjuncts = [] if exact else self.query.conjuncts

        query = self.query
        early = not query.order and not query.distinct and query.limit is not None

        def fetched() -> Iterator[dict[str, Any]]:
            ids = sorted(candidates)
            size = max(64, 2 * (query.offset + (query.limit or 0))) if early else len(ids) or 1
            for start in range(0, len(ids), size):  # under LIMIT without ORDER BY: stop early
                yield from self.core.fetch(layout, ids[start : start + size])

        def run() -> Result:
            return self._finish(run_rows(self.program, fetched(), conjuncts))

        return Plan(self.lines, run, self.steps)

    def _scan(self, source: Source) -> Plan:
        relation = source.relation
        total = relation.count(self.core)
        size = f"{total} live rows" if total >= 0 else "every row"
        self.lines.append(f"  access: full scan of {relation.name} ({size}) in Python")
        self.step("scan", relation=relation.name, rows=total)
        if self.query.conjuncts:
            self.lines.append("  filter: WHERE checked in Python on every row")
        if not self.query.order and self.query.limit is not None:
            self.lines.append("  the scan stops once LIMIT rows matched")
        self._tail(total)

        def run() -> Result:
            rows = scan_rows(self.core, relation, self.include_deleted)
            return self._finish(run_rows(self.program, rows, self.query.conjuncts))

        return Plan(self.lines, run, self.steps)

    def _stream_target(self, source: Source, layout: Any) -> Any:
        query = self.query
        if query.limit is None or not query.order or query.distinct:
            return None
        parts = ref_parts(query.order[0].expr)
        if parts is None or parts[0] != source.alias:
            return None
        name = ".".join(parts[1:])
        field = layout.by_name.get(name)
        if field is None or _declared_types(layout, name) & {"array", "object"} or not _declared_types(layout, name):
            return None
        return field

    def _bounds(self, source: Source, layout: Any, field: Any) -> tuple[tuple[bytes, bytes | None] | None, set[int]]:
        """[start, end) of the streamed index from top-level ranges on the ordered field, and the
        conjuncts that range answers exactly (they need no check on the rows)."""
        from remlite.query.candidates import _usable
        from remlite.records import MISSING

        bounds: dict[str, Any] = {}
        consumed: set[int] = set()
        for index, conjunct in enumerate(self.query.conjuncts):
            found: list[tuple[str, Any]] = []
            if isinstance(conjunct, exp.Between) and _is_field(conjunct.this, source.alias, field.name):
                found = [("gte", literal_value(conjunct.args["low"])), ("lte", literal_value(conjunct.args["high"]))]
            op = COMPARISONS.get(type(conjunct))
            if op is not None and op != "neq":
                if _is_field(conjunct.left, source.alias, field.name):
                    found = [(op, literal_value(conjunct.right))]
                elif _is_field(conjunct.right, source.alias, field.name):
                    found = [(FLIPPED[op], literal_value(conjunct.left))]
            if not found or any(v is _MISSING or v is None or not _usable(layout, field.name, v) for _, v in found):
                continue
            sides = [("low" if k in ("gt", "gte") else "high" if k in ("lt", "lte") else "eq") for k, _ in found]
            if "eq" in bounds or any(any(k in bounds for k in _SIDES[side]) for side in sides):
                continue  # one bound per side; a second one stays a filter
            bounds.update(found)
            consumed.add(index)
        if not bounds:
            return None, set()
        full = {k: bounds.get(k, MISSING) for k in ("eq", "gt", "gte", "lt", "lte")}
        try:
            return layout.range_keys(field, **full), consumed
        except Exception:
            return None, set()

    def _stream(
        self,
        source: Source,
        layout: Any,
        field: Any,
        steps: list[str],
        bounds: tuple[bytes, bytes | None] | None,
        rest: list[exp.Expression],
    ) -> Plan:
        query = self.query
        key = query.order[0]
        self.lines += [f"  access: {step}" for step in steps]
        direction = "backwards" if key.desc else "forwards"
        ranged = " within the WHERE range" if bounds else ""
        # with no filter left and one ORDER BY key, every index entry is a result row: the OFFSET
        # is skipped on index keys, never fetched
        skip = query.offset if not rest and len(query.order) == 1 else 0
        self.step(
            "index_order",
            relation=layout.table.name,
            field=field.name,
            direction=direction,
            ranged=bool(bounds),
            skip_keys=skip,
        )
        self.lines.append(
            f"  access: index {layout.table.name}.{field.name} streamed {direction}{ranged} in ORDER BY order, "
            f"stopping after {query.offset + (query.limit or 0)} matching rows"
        )
        if rest:
            self.lines.append("  filter: the rest of WHERE checked in Python on each fetched row")
        if len(query.order) > 1:
            self.lines.append("  order: rows tied on the first key are read to the end, then sorted by all keys")
        else:
            self.lines.append("  order: index order (no sort)")
        self._tail(query.limit or 0)

        def matches() -> Iterator[dict[str, Any]]:
            ids = ordered_ids(self.core, field, key.desc, key.nulls_first, bounds)
            if skip:
                ids = islice(ids, skip, None)
            test = self.program.predicate(rest)
            need = query.offset + (query.limit or 0) - skip
            size = need + (1 if len(query.order) > 1 else 0) if test is None else max(32, need)
            while True:
                chunk = list(islice(ids, size))
                if not chunk:
                    return
                for row in self.core.fetch(layout, chunk):
                    if test is None or test(row):
                        yield row
                size = min(size * 2, 1024)

        def run() -> Result:
            need = query.offset + (query.limit or 0) - skip
            kept: list[dict[str, Any]] = []
            if need:
                found = matches()
                for row in found:
                    kept.append(row)
                    if len(kept) >= need:
                        break
                if len(query.order) > 1 and len(kept) >= need:
                    first = self.program.first_key()
                    boundary = first(kept[-1])
                    for row in found:
                        if first(row) != boundary:
                            break
                        kept.append(row)
                    self.program.sort(kept)
            return self._finish(kept[: query.limit] if skip else self.program.page(kept))

        return Plan(self.lines, run, self.steps)

    # ---------------------------------------------------------------- semantic
    def _semantic(self) -> Plan:
        query, semantic = self.query, self.query.semantic
        assert semantic is not None and query.single is not None
        source = query.single
        table = source.relation.name
        k = DEFAULT_K if query.limit is None or query.aggregate else max(1, query.offset + query.limit)
        scored = [c for c in query.conjuncts if any(p == (SCORE,) for p in refs_in([c]).get(source.alias, ()))]
        rest = [c for c in query.conjuncts if not any(c is s for s in scored)]
        where = None
        if rest:
            tree = rest[0]
            for part in rest[1:]:
                tree = exp.And(this=tree, expression=part)
            where = strip_alias(tree, source.alias).sql(dialect=RemDialect)
        field = semantic.field or "the default field"
        self.lines.append(f"  access: {semantic.mode} search of {table} ({field}) for {semantic.text!r}, k={k}")
        self.step("search", relation=table, mode=semantic.mode, field=semantic.field, k=k, prefilter=where)
        if where:
            self.lines.append(f"  pre-filter: rows matching {where} (through indexes where possible)")
        if scored:
            self.lines.append("  filter: _score conditions checked in Python on the hits")
        if not query.order and not query.aggregate:
            self.lines.append("  order: _score descending (best first)")

        def hits() -> list[dict[str, Any]]:
            rows = self.engine.search.search(
                table, semantic.text, k, where=where, mode=semantic.mode, field=semantic.field
            )
            test = self.program.predicate(scored)
            return [r for r in rows if test is None or test(r)]

        if query.aggregate:
            return self._duck_values_from(hits, k)
        self._tail(k)

        def run() -> Result:
            rows = hits()
            if query.order:
                self.program.sort(rows)
            return self._finish(self.program.page(rows))

        return Plan(self.lines, run, self.steps)


_SIDES = {"low": ("gt", "gte", "eq"), "high": ("lt", "lte", "eq"), "eq": ()}


def _is_field(node: exp.Expression, alias: str, name: str) -> bool:
    parts = ref_parts(node)
    return parts is not None and parts[0] == alias and ".".join(parts[1:]) == name


def _same_kind(kind: str, value: Any) -> bool:
    """Whether a constant compares with a column of this kind as Arrow's `equal` does."""
    if isinstance(value, bool):
        return kind == "bool"
    if isinstance(value, int):
        return kind in ("int", "float")
    if isinstance(value, float):
        return kind == "float"
    return isinstance(value, str) and kind == "str"
