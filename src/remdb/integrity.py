"""`Database.check()`: recompute every derived key from the rows and compare with what is stored.

Slow by design (it reads everything); used by the crash tests and `rem check`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from remdb import ids as idmod
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
        for key, value in store.iter_prefix("rows", layout.tid):
            rows_seen += 1
            rid = key[4:]
            record = orjson.loads(value)
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
    return {
        "ok": not problems,
        "rows": rows_seen,
        "index_entries": len(stored_index),
        "lookup_keys": len(stored_keys),
        "problems": problems,
    }
