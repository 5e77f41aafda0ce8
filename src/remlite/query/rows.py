"""The Python (OLTP) executor: where rows come from, and filtering, ordering and projecting them.

Row sources: index candidates (fetched with one multi-get), an index streamed in ORDER BY order
that stops as soon as LIMIT rows passed the filter, a full scan (stopping early under LIMIT when
there is no ORDER BY), search hits, or rows the DuckDB executor picked by position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from sqlglot import exp

from remlite.query.catalog import Relation
from remlite.query.model import Query, ref_parts
from remlite.query.predicate import Compiler
from remlite.query.values import sort_key
from remlite.records import IndexedField
from remlite.storage import codec

if TYPE_CHECKING:
    from remlite.core import TenantCore

Row = dict[str, Any]


# --------------------------------------------------------------------------- sources
def scan_rows(core: TenantCore, relation: Relation, include_deleted: bool) -> Iterator[Row]:
    for _key, row in relation.scan(core):
        if include_deleted or row.get("deleted_at") is None:
            yield row


def ordered_ids(
    core: TenantCore, field: IndexedField, desc: bool, nulls_first: bool, bounds: tuple[bytes, bytes | None] | None
) -> Iterator[bytes]:
    """Row ids in the order of an index (values, then id), forwards or backwards.

    NULLs sort before every value in the index; they are read first or last as asked. `bounds`
    ([start, end) of index keys from a range on the same field) excludes NULLs.
    """
    prefix = field.prefix
    nulls = (prefix + bytes((codec.NULL,)), prefix + bytes((codec.NULL + 1,)))
    values = bounds or (prefix + bytes((codec.NULL + 1,)), codec.prefix_end(prefix))
    segments = [values] if bounds else ([nulls, values] if nulls_first else [values, nulls])
    for start, end in segments:
        if not desc:
            for key in core.store.iter_keys("index", start, end):
                yield key[-16:]
            continue
        for key in core.store.iter_keys_reverse("index", start, end):
            yield key[-16:]


# --------------------------------------------------------------------------- compiled query
class RowProgram:
    """The query's filter, sort keys and projection compiled for Python rows.

    With one table a row is its record; with joins it is {alias: record or None}.
    """

    def __init__(self, query: Query) -> None:
        self.query = query
        sources = {s.alias: s for s in query.sources}
        single = query.single
        if single is not None:
            relation = single.relation
            self.compiler = Compiler(lambda p: relation.is_timestamp(p), aliases=(single.alias,))
            self._timestamp: Callable[[tuple[str, ...]], bool] = lambda parts: relation.is_timestamp(parts[1:])
        else:
            self.compiler = Compiler(lambda p: len(p) > 1 and sources[p[0]].relation.is_timestamp(p[1:]))
            self._timestamp = lambda parts: sources[parts[0]].relation.is_timestamp(parts[1:])

    def predicate(self, conjuncts: list[exp.Expression]) -> Callable[[Row], bool] | None:
        if not conjuncts:
            return None
        tests = [self.compiler.predicate(c) for c in conjuncts]
        if len(tests) == 1:
            return tests[0]
        return lambda r: all(t(r) for t in tests)

    def sort(self, rows: list[Row]) -> list[Row]:
        """Sort by every ORDER BY key (stable passes, last key first)."""
        for key in reversed(self.query.order):
            getter = self.compiler.value(key.expr)
            parts = ref_parts(key.expr)
            timestamp = parts is not None and self._timestamp(parts)
            null_key = (0,) if key.nulls_first != key.desc else (2,)

            def sort_by(row: Row, getter: Any = getter, timestamp: bool = timestamp, null_key: Any = null_key) -> Any:
                value = getter(row)
                return null_key if value is None else (1, sort_key(value, timestamp))

            rows.sort(key=sort_by, reverse=key.desc)
        return rows

    def first_key(self) -> Callable[[Row], Any]:
        key = self.query.order[0]
        getter = self.compiler.value(key.expr)
        parts = ref_parts(key.expr)
        timestamp = parts is not None and self._timestamp(parts)
        return lambda row: None if (v := getter(row)) is None else sort_key(v, timestamp)

    def page(self, rows: list[Row]) -> list[Row]:
        query = self.query
        if query.distinct:
            return rows  # DISTINCT pages after projecting
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset : end]

    def project(self, rows: list[Row]) -> tuple[list[str], list[Row]]:
        """Output columns and rows; DISTINCT (first occurrence kept) and its page applied here."""
        query = self.query
        if query.single is not None and query.semantic is None and len(query.items) == 1 and query.items[0].star == "":
            # SELECT * of one table (a point get's shape): the column names are all it needs
            columns = unique_names(self._source_names(query.single, rows))
            if self._plain_star(columns):
                keys = set(columns)
                out = [row if row.keys() == keys else {c: row.get(c) for c in columns} for row in rows]
                return columns, self._distinct(out) if query.distinct else out
        columns = []
        getters: list[Callable[[Row], Any]] = []
        for item in query.items:
            if item.star is None:
                columns.append(item.name)
                getters.append(self.compiler.value(item.expr))  # type: ignore[arg-type]
                continue
            for name, getter in self._star(item.star, rows):
                columns.append(name)
                getters.append(getter)
        columns = unique_names(columns)
        if self._plain_star(columns):
            # SELECT * of one table: a record with exactly these keys is already the output row
            keys = set(columns)
            out = [row if row.keys() == keys else {c: row.get(c) for c in columns} for row in rows]
        else:
            out = [dict(zip(columns, (g(row) for g in getters), strict=True)) for row in rows]
            for position in self._time_outputs():  # a CAST to TIMESTAMP reads as microseconds
                name = columns[position]
                for row in out:
                    if isinstance(row[name], codec.Timestamp):
                        row[name] = row[name].to_datetime().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if query.distinct:
            out = self._distinct(out)
        return columns, out

    def _distinct(self, out: list[Row]) -> list[Row]:
        query = self.query
        seen: set[bytes] = set()
        unique = []
        for row in out:
            # 3 and 3.0 are one value (as in GROUP BY and DuckDB): integral floats as ints
            values = [int(v) if type(v) is float and v.is_integer() else v for v in row.values()]
            marker = orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)
            if marker not in seen:
                seen.add(marker)
                unique.append(row)
        end = None if query.limit is None else query.offset + query.limit
        out = unique[query.offset : end]
        return out

    def _time_outputs(self) -> list[int]:
        """Positions of output columns computed by a CAST to a timestamp (no star before them)."""
        if any(item.star is not None for item in self.query.items):
            return []
        return [i for i, item in enumerate(self.query.items) if item.expr is not None and item.expr.find(exp.Cast)]

    def _plain_star(self, columns: list[str]) -> bool:
        query = self.query
        return (
            query.single is not None
            and len(query.items) == 1
            and query.items[0].star is not None
            and "_score" not in columns
            and not any("." in c for c in columns)
        )

    def _source_names(self, source: Any, rows: list[Row]) -> list[str]:
        """The columns `*` shows of one source: declared, then the undeclared ones rows hold
        (before the three system times)."""
        names = list(source.relation.columns())
        if not source.relation.strict:
            single = self.query.single is not None
            seen = set(names)
            for row in rows:
                record = row if single else row.get(source.alias)
                if not record or record.keys() <= seen:
                    continue
                for key in record:
                    if key not in seen and not key.startswith("_"):
                        seen.add(key)
                        names.insert(len(names) - 3, key)
        return names

    def _star(self, alias: str, rows: list[Row]) -> list[tuple[str, Callable[[Row], Any]]]:
        query = self.query
        single = query.single
        sources = [s for s in query.sources if alias in ("", s.alias)]
        per_source: list[tuple[str, list[str]]] = []
        for source in sources:
            names = self._source_names(source, rows)
            if single is not None and query.semantic is not None:
                names.append("_score")
            per_source.append((source.alias, names))
        counts: dict[str, int] = {}
        for _alias, names in per_source:
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        out: list[tuple[str, Callable[[Row], Any]]] = []
        for source_alias, names in per_source:
            for name in names:
                label = name if counts[name] == 1 else f"{source_alias}.{name}"
                if single is not None:
                    out.append((label, lambda r, n=name: r.get(n)))
                else:
                    out.append((label, lambda r, a=source_alias, n=name: (r.get(a) or {}).get(n)))
        return out


def unique_names(names: list[str]) -> list[str]:
    """Output column names made unique (`id`, `id_2`, ...), as DuckDB would not do for a dict."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen[name] = seen.get(name, 0) + 1
        out.append(name if count == 1 else f"{name}_{count}")
    return out


def run_rows(
    program: RowProgram,
    rows: Iterable[Row],
    conjuncts: list[exp.Expression],
    *,
    stop_early: bool = True,
) -> list[Row]:
    """Filter, sort and page rows (LIMIT stops the source early when nothing needs sorting)."""
    query = program.query
    test = program.predicate(conjuncts)
    need = None
    if stop_early and not query.order and not query.distinct and query.limit is not None:
        need = query.offset + query.limit
    kept: list[Row] = []
    if need == 0:
        return kept
    for row in rows:
        if test is None or test(row):
            kept.append(row)
            if need is not None and len(kept) >= need:
                break
    if query.order:
        program.sort(kept)
    return program.page(kept)
