"""`Database.check()`: recompute every derived key from the rows and compare with what is stored.

Slow by design (it reads everything); used by the crash tests and `rem check`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from remdb import ids as idmod
from remdb.moments import SPAN_PREFIX, has_time_index, span_of
from remdb.records import TableLayout
from remdb.schema.registry import Registry
from remdb.storage import codec
from remdb.storage.engine import Store


def check_database(
    store: Store,
    registry: Registry,
    layout_of: Callable[[str], TableLayout],
    counts: dict[int, int],
) -> dict[str, Any]:
    problems: list[str] = []
    expected_index: set[bytes] = set()
    expected_keys: set[bytes] = set()
    rows_seen = 0
    table_tids = set()
    for name in registry.names():
        layout = layout_of(name)
        table_tids.add(layout.tid)
        live = 0
        timed, longest = has_time_index(layout), 0
        for key, value in store.iter_prefix("rows", layout.tid):
            rows_seen += 1
            rid = key[4:]
            record = orjson.loads(value)
            if timed:
                longest = max(longest, span_of(record))
            if record.get("id") != idmod.to_str(rid):
                problems.append(f"{name}: row key {idmod.to_str(rid)} holds id {record.get('id')}")
            if (store.cf["ids"].get(rid) or b"")[:4] != layout.tid:
                problems.append(f"{name}: id {idmod.to_str(rid)} missing from the id directory")
            if record.get("deleted_at"):
                continue
            live += 1
            expected_index |= layout.index_keys(record, rid)
            expected_keys |= layout.lookup_keys(record, rid)
        if counts.get(layout.table.table_id, 0) != live:
            problems.append(f"{name}: counter says {counts.get(layout.table.table_id, 0)}, rows say {live}")
        span = store.cf["meta"].get(SPAN_PREFIX + layout.tid) if timed else None
        if span is not None and codec.read_u64(span) < longest:
            problems.append(f"{name}: max moment span {codec.read_u64(span)} µs is below a row's {longest} µs")
    stored_index = set(store.cf["index"].keys())
    stored_keys = set(store.cf["keys"].keys())
    for key in sorted(stored_index - expected_index)[:20]:
        problems.append(f"index entry without a live row: table {codec.read_u32(key)} id {idmod.to_str(key[-16:])}")
    for key in sorted(expected_index - stored_index)[:20]:
        problems.append(f"missing index entry: table {codec.read_u32(key)} id {idmod.to_str(key[-16:])}")
    for key in sorted(stored_keys ^ expected_keys)[:20]:
        problems.append(f"lookup key mismatch: id {idmod.to_str(key[-16:])}")
    id_entries = 0
    rownums = set()
    for _rid, entry in store.cf["ids"].items():
        id_entries += 1
        tid = entry[:4]
        rownums.add(entry[4:])
        if tid not in table_tids:
            problems.append(f"id directory points at unknown table {codec.read_u32(tid)}")
    if len(rownums) != id_entries:
        problems.append("two rows share a row number")
    if id_entries != rows_seen:
        problems.append(f"id directory has {id_entries} entries for {rows_seen} rows")
    edges = _check_edges(store, problems)
    return {
        "ok": not problems,
        "rows": rows_seen,
        "index_entries": len(stored_index),
        "lookup_keys": len(stored_keys),
        "edges": edges,
        "problems": problems,
    }


def _check_edges(store: Store, problems: list[str]) -> int:
    """Every edges_out key has its edges_in twin and the other way round, and both endpoints of
    every edge are rows (soft-deleted ones count: they keep their edges)."""
    out_keys = set(store.iter_keys("edges_out", b"", None))
    twins = {k[-16:] + k[16:-16] + k[:16] for k in store.iter_keys("edges_in", b"", None)}
    for key in sorted(out_keys - twins)[:20]:
        problems.append(f"edge {idmod.to_str(key[:16])} -> {idmod.to_str(key[-16:])} has no edges_in twin")
    for key in sorted(twins - out_keys)[:20]:
        problems.append(f"edges_in entry {idmod.to_str(key[-16:])} <- {idmod.to_str(key[:16])} has no edge")
    endpoints = list({n for k in out_keys for n in (k[:16], k[-16:])})
    missing = [
        rid
        for rid, entry in zip(endpoints, store.cf["ids"][endpoints] if endpoints else [], strict=True)
        if entry is None
    ]
    for rid in sorted(missing)[:20]:
        problems.append(f"edge endpoint {idmod.to_str(rid)} is not a record")
    return len(out_keys)
