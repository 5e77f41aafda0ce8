"""The change log of `remlite.Database`: `changes()` as typed entries, `apply()` (their replay),
`wal()` (the JSON view) and `truncate_wal()`.

Replay is what replication and restore use: the entries of a source database applied in order to a
database of the same lineage (its log a prefix of the source's) make it the source's state, with
the source's ids, timestamps and sequence numbers. Each entry goes through the ordinary write path
(`TenantCore.commit`, the write hooks and the listeners), but takes its content from the entry: rows are
not validated or embedded again (they were valid at the source; their vectors are in the entry),
edges keep their created_at, schemas their table and field ids, and an upgrade's index backfill is
rebuilt from this database's rows as the source built it from its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from remlite import ids as idmod
from remlite.errors import ChangeLogConflict, InvalidInput, shown
from remlite.schema.model import TableSchema
from remlite.schema.registry import Registry, SchemaChange
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

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.graph.edges import Edges
    from remlite.schemas import SchemaAdmin
    from remlite.semantic.admin import IndexAdmin
    from remlite.writes import Writer

_SYSTEM_STAMPS = ("id", "modified_at", "deleted_at")  # set by the writer (`created_at` is kept from the row)


class ChangeLog:
    """changes, apply, wal and truncate_wal of `remlite.Database` (the log's bounds, `last_seq`
    and `first_seq`, are properties of the database itself). `apply` replays each entry through
    the component that makes that change."""

    def __init__(
        self, core: TenantCore, writer: Writer, edges: Edges, schemas: SchemaAdmin, index_admin: IndexAdmin
    ) -> None:
        self.core = core
        self.writer = writer
        self.edges = edges
        self.schemas = schemas
        self.index_admin = index_admin

    def wal(self, after_seq: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Change entries with seq > after_seq (None: from the oldest kept), oldest first, as JSON
        objects. Raises WalTruncated when entries after `after_seq` were removed by `truncate_wal`."""
        for name, value in (("after_seq", after_seq), ("limit", limit)):
            if (value is not None or name == "limit") and (type(value) is not int or not 0 <= value < 2**63):
                raise InvalidInput(f"{name} must be an integer from 0 to 2**63 - 1, got {shown(value)}")
        return self.core.wal.read(after_seq, limit)

    def truncate_wal(self, before_seq: int | None = None, *, keep: int | None = None) -> dict[str, int]:
        """Remove change-log entries older than `before_seq`, or all but the newest `keep`.

        The log otherwise grows with every write (a put entry holds the full rows). Derived state
        is made independent of the removed entries first: every vector index is caught up and
        saved at the current seq, so no reopen needs them. Readers of the log (replicas, feeds)
        that are further behind get WalTruncated. Returns removed, first_seq and last_seq."""
        if (before_seq is None) == (keep is None):
            raise InvalidInput("give before_seq or keep (one of them)")
        for name, value in (("before_seq", before_seq), ("keep", keep)):
            if value is not None and (type(value) is not int or value < 0):
                raise InvalidInput(f"{name} must be an integer >= 0 (or None), got {shown(value)}")
        wal = self.core.wal
        with self.core.write_lock:
            cut = before_seq if before_seq is not None else wal.seq - keep + 1  # type: ignore[operator]
            if cut > wal.floor:
                self.core.checkpoint_vectors()
            removed = wal.truncate(cut)
        return {"removed": removed, "first_seq": wal.floor, "last_seq": wal.seq}

    def changes(self, after_seq: int = 0, limit: int = 1000) -> list[Entry]:
        """Change-log entries with seq > after_seq, oldest first, as typed entries (see
        `remlite.storage.changelog`): each has `.seq`, `.to_bytes()`, and `Entry.from_bytes()` reads it
        back. Raises WalTruncated when some of them were removed by `truncate_wal`."""
        for name, value in (("after_seq", after_seq), ("limit", limit)):
            if type(value) is not int or not 0 <= value < 2**63:
                raise InvalidInput(f"{name} must be an integer from 0 to 2**63 - 1, got {shown(value)}")
        return self.core.wal.entries(after_seq, limit)  # type: ignore[no-any-return]

    def apply(self, entries: Iterable[Entry]) -> int:
        """Apply another database's entries in order; return how many were applied.

        An entry this database already holds (seq <= last_seq) is skipped when it is the same change
        (idempotent: applying a log twice changes nothing) and refused with ChangeLogConflict when
        it differs (another lineage), as is a gap (seq > last_seq + 1) and an entry of a log written
        before format 1 (it lacks vectors and schema ids). Entries before a refusal stay applied."""
        if isinstance(entries, Entry) or not isinstance(entries, Iterable):
            raise InvalidInput(f"entries must be a list of change-log entries, got {type(entries).__name__}")
        applied = 0
        with self.core.store.write_lock:
            for entry in entries:
                if not isinstance(entry, Entry):
                    raise InvalidInput(f"not a change-log entry: {shown(entry)}")
                if entry.legacy:
                    raise ChangeLogConflict(f"entry {entry.seq} is of a log written before format 1: not replayable")
                last = self.core.wal.seq
                if entry.seq <= last:
                    stored = self.core.wal.entry_at(entry.seq)
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
        if isinstance(entry, RowsPut):
            layout = self.core.layout(entry.table)
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
            self.writer.write_rows(layout, bodies, rids, vectors, entry.configs, None, replay=entry)
        elif isinstance(entry, RowsDeleted):
            if len(entry.ids) != 1:
                raise ChangeLogConflict(f"entry {entry.seq} deletes {len(entry.ids)} rows; replay takes one")
            rid = idmod.to_bytes(entry.ids[0])
            table, record = self.core.get_raw(rid, include_deleted=entry.hard)
            self.writer.delete_row(table, rid, record, entry.hard, entry.ts)
        elif isinstance(entry, (EdgesPut, EdgeDeleted)):
            self.edges.apply_entry(entry)
        elif isinstance(entry, SchemaPut):
            self.schemas.apply_change(_change_to(self.core.registry, TableSchema.from_bytes(entry.schema)), entry)
        elif isinstance(entry, SchemaDropped):
            self.schemas.drop_table(entry.table, entry)
        elif isinstance(entry, (ReembedVectors, Reembedded)):
            self.index_admin.apply_reembed(entry)
        else:  # pragma: no cover - every kind is handled above
            raise ChangeLogConflict(f"entry {entry.seq}: unknown kind {type(entry).__name__}")


def _change_to(registry: Registry, table: TableSchema) -> SchemaChange:
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
