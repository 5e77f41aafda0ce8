"""Applying a schema upgrade to existing rows: build new secondary and text indexes, drop old ones.

An upgrade is atomic. New indexes are built first, under field ids the old schema does not have,
so they are invisible until the new schema is published. The old indexes are removed in the very
WriteBatch that publishes the new schema (`removal_ops`), so no moment exists where the old schema
is in force without its indexes.

A crash during the build leaves partial entries of fields no schema has. A marker (meta key
`upgrading:<table_id>`, written before the first entry, removed with the publication) names their
key prefixes: a failed upgrade removes them at once (`discard_partial`), and a process that died
mid-build has them removed at the next open (`discard_interrupted`). A retried upgrade also clears
them before building.
"""

from __future__ import annotations

import contextlib

import orjson
from rocksdict import WriteBatch

from remlite.errors import StorageError
from remlite.records import TableLayout
from remlite.schema.registry import TEXT_PREFIX, Registry, SchemaChange
from remlite.storage import codec
from remlite.storage.engine import Store
from remlite.storage.keyspace import UPGRADE_PREFIX, index_prefix, table_prefix, upgrade_key

CHUNK = 5_000
_FIELD_PREFIX = 6  # table_id(4) + field_id(2): index entries, text postings and text counters
_FAMILIES = ("index", "postings")


def _added_prefixes(change: SchemaChange) -> list[bytes]:
    """Key prefixes of the index and text fields the upgrade builds."""
    table = change.table
    tid = table_prefix(table.table_id)
    names = [*change.added_indexes, *(TEXT_PREFIX + f for f in change.added_text)]
    return [index_prefix(tid, table.field_ids[name]) for name in names]


def _clear_ops(store: Store, batch: WriteBatch, prefixes: list[bytes]) -> None:
    """Add to `batch` the removal of every index entry, posting and text counter under `prefixes`."""
    for prefix in prefixes:
        end = codec.prefix_end(prefix)
        for family in _FAMILIES:
            batch.delete_range(prefix, end, store.handle[family])
        batch.delete(prefix, store.handle["textstats"])


def _unused(marker: bytes | None, in_use: set[int]) -> list[bytes]:
    """The prefixes a build marker names whose field id the table's schema does not have."""
    if not marker:
        return []
    prefixes = [marker[i : i + _FIELD_PREFIX] for i in range(0, len(marker), _FIELD_PREFIX)]
    return [p for p in prefixes if int.from_bytes(p[4:], "big") not in in_use]


def build_added_indexes(store: Store, change: SchemaChange) -> None:
    """Backfill the indexes the upgrade adds from the live rows, in chunks, before publication."""
    from remlite.semantic.text import TableText

    prefixes = _added_prefixes(change)
    if not prefixes:
        return
    table = change.table
    layout = TableLayout(table)
    batch = store.batch()
    batch.put(upgrade_key(layout.tid), b"".join(prefixes), store.handle["meta"])
    _clear_ops(store, batch, prefixes)  # entries of an earlier attempt that died half-way
    store.write(batch)
    added = [layout.by_name[f] for f in change.added_indexes]
    text = TableText(store, table)
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


def removal_ops(store: Store, change: SchemaChange, batch: WriteBatch) -> None:
    """Add to the batch that publishes `change` the removal of the indexes it drops, and of its
    build marker with any partial entries of an earlier failed build the new schema does not use."""
    from remlite.semantic.text import TableText

    table, previous = change.table, change.previous
    marker_key = upgrade_key(table_prefix(table.table_id))
    marker = store.cf["meta"].get(marker_key)
    if marker is not None:
        _clear_ops(store, batch, _unused(marker, set(table.field_ids.values())))
        batch.delete(marker_key, store.handle["meta"])
    if previous is None:
        return
    for removed in change.removed_indexes:
        prefix = index_prefix(table_prefix(table.table_id), previous.field_ids[removed])
        batch.delete_range(prefix, codec.prefix_end(prefix), store.handle["index"])
    if change.removed_text:
        TableText(store, previous).drop_ops(batch, change.removed_text)


def discard_partial(store: Store, change: SchemaChange) -> None:
    """Remove what a failed build wrote, and its marker (the old schema stays in force)."""
    prefixes = _added_prefixes(change)
    if not prefixes:
        return
    batch = store.batch()
    _clear_ops(store, batch, prefixes)
    batch.delete(upgrade_key(table_prefix(change.table.table_id)), store.handle["meta"])
    store.write(batch)


def discard_interrupted(store: Store, registry: Registry) -> None:
    """At open: remove the partial entries of upgrades whose process died before publishing. Only
    prefixes of field ids the table's schema does not have are touched, so a stale marker can never
    remove a published index."""
    markers = list(store.iter_prefix("meta", UPGRADE_PREFIX))
    if not markers:
        return
    batch = store.batch()
    for key, value in markers:
        table_id = codec.read_u32(key, len(UPGRADE_PREFIX))
        try:
            in_use = set(registry.by_id(table_id).field_ids.values())
        except KeyError:  # the table was dropped: none of its entries are in use
            in_use = set()
        _clear_ops(store, batch, _unused(value, in_use))
        batch.delete(key, store.handle["meta"])
    with contextlib.suppress(StorageError):  # a full disk must not stop the open: the next one retries
        store.write(batch)
