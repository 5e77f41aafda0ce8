"""Applying a schema upgrade to existing rows: build new secondary and text indexes, drop old ones.

Runs before the new schema is published, so a crash half-way leaves the old schema in force; the
partial entries it wrote are cleared (range delete) and rebuilt when the upgrade is retried.
"""

from __future__ import annotations

import orjson

from remdb.records import TableLayout
from remdb.schema.registry import SchemaChange
from remdb.storage import codec
from remdb.storage.engine import Store

CHUNK = 5_000


def delete_prefix(store: Store, family: str, prefix: bytes) -> None:
    """Remove every key starting with `prefix` from `family`, in one range delete."""
    end = codec.prefix_end(prefix)
    batch = store.batch()
    batch.delete_range(prefix, end if end is not None else prefix + b"\xff" * 32, store.handle[family])
    store.write(batch)


def apply_index_changes(store: Store, change: SchemaChange) -> None:
    from remdb.semantic.text import TableText

    table, previous = change.table, change.previous
    assert previous is not None
    for removed in change.removed_indexes:
        delete_prefix(store, "index", codec.u32(table.table_id) + previous.field_ids[removed].to_bytes(2, "big"))
    if change.removed_text:
        batch = store.batch()
        TableText(store, previous).drop_ops(batch, change.removed_text)
        store.write(batch)
    if not change.added_indexes and not change.added_text:
        return
    layout = TableLayout(table)
    added = [layout.by_name[f] for f in change.added_indexes]
    for field in added:
        delete_prefix(store, "index", field.prefix)
    text = TableText(store, table)
    if change.added_text:
        batch = store.batch()
        text.drop_ops(batch, change.added_text)
        store.write(batch)
    batch, pending = store.batch(), 0
    index_handle = store.handle["index"]
    for key, value in store.iter_prefix("rows", layout.tid):
        record = orjson.loads(value)
        if record.get("deleted_at"):
            continue
        rid = key[4:]
        label = (store.cf["ids"].get(rid) or b"")[4:12] if table.embedding_fields else b""
        for field in added:
            for v in field.values(record):
                batch.put(field.prefix + codec.encode(v) + rid, label, index_handle)
        if change.added_text:
            text.row_ops(batch, rid, None, record, only=change.added_text)
        pending += 1
        if pending >= CHUNK:
            store.write(batch)
            batch, pending = store.batch(), 0
    store.write(batch)
