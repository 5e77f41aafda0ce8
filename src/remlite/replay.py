"""`Database.changes()` and `Database.apply()`: the change log as typed entries, and their replay.

Replay is what replication and restore use: the entries of a source database applied in order to a
database of the same lineage (its log a prefix of the source's) make it the source's state, with
the source's ids, timestamps and sequence numbers. Each entry goes through the ordinary write path
(`WAL.commit` and the writers' in-memory updates), but takes its content from the entry: rows are
not validated or embedded again (they were valid at the source; their vectors are in the entry),
edges keep their created_at, schemas their table and field ids, and an upgrade's index backfill is
rebuilt from this database's rows as the source built it from its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from remlite import ids as idmod
from remlite.errors import ChangeLogConflict, InvalidInput, shown
from remlite.schema.model import TableSchema
from remlite.schema.registry import SchemaChange
from remlite.storage.changelog import (
    EdgeDeleted,
    EdgesPut,
    Entry,
    Reembedded,
    ReembedVectors,
    RowsDeleted,
    RowsPut,
    SchemaDropped,
    SchemaPut,
)

_SYSTEM_STAMPS = ("id", "modified_at", "deleted_at")  # set by the writer (`created_at` is kept from the row)


class ReplayMixin:
    """`changes` and `apply` of `remlite.Database`; state (`_store`, `_wal`, …) lives there."""

    _store: Any
    _wal: Any
    _registry: Any

    def changes(self, after_seq: int = 0, limit: int = 1000) -> list[Entry]:
        """Change-log entries with seq > after_seq, oldest first, as typed entries (see
        `remlite.storage.changelog`): each has `.seq`, `.to_bytes()`, and `Entry.from_bytes()` reads it
        back. Raises WalTruncated when some of them were removed by `truncate_wal`."""
        for name, value in (("after_seq", after_seq), ("limit", limit)):
            if type(value) is not int or not 0 <= value < 2**63:
                raise InvalidInput(f"{name} must be an integer from 0 to 2**63 - 1, got {shown(value)}")
        return self._wal.entries(after_seq, limit)  # type: ignore[no-any-return]

    def apply(self, entries: Iterable[Entry]) -> int:
        """Apply another database's entries in order; return how many were applied.

        An entry this database already holds (seq <= last_seq) is skipped when it is the same change
        (idempotent: applying a log twice changes nothing) and refused with ChangeLogConflict when
        it differs (another lineage), as is a gap (seq > last_seq + 1) and an entry of a log written
        before format 1 (it lacks vectors and schema ids). Entries before a refusal stay applied."""
        if isinstance(entries, Entry) or not isinstance(entries, Iterable):
            raise InvalidInput(f"entries must be a list of change-log entries, got {type(entries).__name__}")
        applied = 0
        with self._store.write_lock:
            for entry in entries:
                if not isinstance(entry, Entry):
                    raise InvalidInput(f"not a change-log entry: {shown(entry)}")
                if entry.legacy:
                    raise ChangeLogConflict(f"entry {entry.seq} is of a log written before format 1: not replayable")
                last = self._wal.seq
                if entry.seq <= last:
                    stored = self._wal.entry_at(entry.seq)
                    if stored is None or stored.content() != entry.content():
                        what = "was truncated here" if stored is None else "differs from the one here"
                        raise ChangeLogConflict(f"entry {entry.seq} {what}: not this database's lineage")
                    continue
                if entry.seq != last + 1:
                    raise ChangeLogConflict(f"entry {entry.seq} leaves a gap: this database ends at seq {last}")
                self._apply_one(entry)
                applied += 1
        return applied

    def _apply_one(self, entry: Entry) -> None:
        db: Any = self
        if isinstance(entry, RowsPut):
            layout = db._layout(entry.table)
            records = entry.rows
            rids = [(idmod.to_bytes(record["id"]), True) for record in records]
            bodies = [{k: v for k, v in r.items() if k not in _SYSTEM_STAMPS} for r in records]
            vectors = None
            if entry.vectors:
                import numpy as np

                vectors = {
                    name: [None if v is None else np.frombuffer(v, dtype=np.float32) for v in column]
                    for name, column in entry.vectors.items()
                }
            db._write_rows(layout, bodies, rids, vectors, entry.configs, None, replay=entry)
        elif isinstance(entry, RowsDeleted):
            if len(entry.ids) != 1:
                raise ChangeLogConflict(f"entry {entry.seq} deletes {len(entry.ids)} rows; replay takes one")
            rid = idmod.to_bytes(entry.ids[0])
            table, record = db._get_raw(rid, include_deleted=entry.hard)
            db._delete_row(table, rid, record, entry.hard, entry.ts)
        elif isinstance(entry, (EdgesPut, EdgeDeleted)):
            db._apply_edge_entry(entry)
        elif isinstance(entry, SchemaPut):
            db._apply_schema_change(_change_to(self._registry, TableSchema.from_bytes(entry.schema)), entry)
        elif isinstance(entry, SchemaDropped):
            db._drop_table(entry.table, entry)
        elif isinstance(entry, (ReembedVectors, Reembedded)):
            db._apply_reembed(entry)
        else:  # pragma: no cover - every kind is handled above
            raise ChangeLogConflict(f"entry {entry.seq}: unknown kind {type(entry).__name__}")


def _change_to(registry: Any, table: TableSchema) -> SchemaChange:
    """The upgrade from this database's definition of the table to `table` (with its ids)."""
    old = registry.get(table.name) if table.name in registry else None
    if old is not None and old.table_id != table.table_id:
        raise ChangeLogConflict(f"table {table.name} has id {old.table_id} here, {table.table_id} in the entry")
    change = SchemaChange(table=table, previous=old)
    if old is None:
        change.added_indexes, change.added_text = list(table.indexed_fields), table.searchable_text_fields
        return change
    change.added_indexes = [f for f in table.indexed_fields if f not in old.indexed_fields]
    change.removed_indexes = [f for f in old.indexed_fields if f not in table.indexed_fields]
    old_text, new_text = old.searchable_text_fields, table.searchable_text_fields
    change.added_text = [f for f in new_text if f not in old_text]
    change.removed_text = [f for f in old_text if f not in new_text]
    return change
