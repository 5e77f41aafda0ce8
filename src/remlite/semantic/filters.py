"""Pre-filtering: the set of row ids a SQL WHERE expression admits, found through indexes first.

Sargable parts (equality, ranges, IN, IS NULL on indexed fields, combined with AND/OR) narrow the
candidates by index scans; the full predicate is then checked on those rows only. When nothing is
sargable the table is scanned once with the compiled predicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from remlite.query.candidates import CandidatePlanner
from remlite.query.dialect import parse_condition
from remlite.query.predicate import Compiler, bind_params
from remlite.records import TableLayout


def compile_where(layout: TableLayout, where: str, params: Any = None) -> tuple[Any, Callable[[dict[str, Any]], bool]]:
    tree = bind_params(parse_condition(where), params)
    table = layout.table
    compiler = Compiler(lambda path: table.is_timestamp(".".join(path)), aliases=(table.name,))
    return tree, compiler.predicate(tree)


def allowed_ids(
    layout: TableLayout,
    where: str,
    params: Any,
    find: Callable[[str, dict[str, Any]], list[bytes]],
    fetch: Callable[[list[bytes]], list[dict[str, Any]]],
    scan: Callable[[], Iterable[tuple[bytes, bytes]]],
) -> tuple[set[bytes], list[str]]:
    """(ids of live rows matching `where`, the plan steps taken)."""
    tree, predicate = compile_where(layout, where, params)
    planner = CandidatePlanner(layout, lambda name, bounds: set(find(name, bounds)))
    candidates = planner.ids(tree)
    if candidates is not None and planner.exact:
        planner.steps.append(f"the indexes answer the whole filter -> {len(candidates)}")
        return candidates, planner.steps
    if candidates is not None:
        ordered = sorted(candidates)
        rows = fetch(ordered)
        matched = {bytes.fromhex(r["id"].replace("-", "")) for r in rows if predicate(r)}
        planner.steps.append(f"checked the full filter on {len(rows)} candidate rows -> {len(matched)}")
        return matched, planner.steps
    matched = set()
    scanned = 0
    loads = orjson.loads
    for key, value in scan():
        record = loads(value)
        scanned += 1
        if record["deleted_at"] is None and predicate(record):
            matched.add(key[4:])
    return matched, [f"full scan of {layout.table.name} ({scanned} rows) -> {len(matched)}"]
