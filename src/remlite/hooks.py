"""The seams of the write path: a chunk of rows handed to the hooks that keep a table's derived
structures, and the effects a commit hands to its listeners.

The row writer (`remlite.writes`) knows rows, ids, secondary indexes, lookup keys and counters.
Everything else a write must keep in step — BM25 postings, vectors, inline edges, a moment's
`references` edges, the moments span statistic — is a `RowHook` that `TenantCore.hooks(table)`
builds from the table's schema (a table without text fields has no text hook, and so on). A hook
adds its operations to the chunk's WriteBatch, so the chunk stays one atomic change, and records in
`Effects` what memory must learn once that batch is written; `TenantCore.commit` hands the effects
to its listeners (counters, loaded vector indexes, spans) only after the write succeeded, so a
failed write leaves no trace in memory.

Why plain classes with slots rather than a richer event object: one `RowChunk` is built per chunk
(once per single-row insert), and a dataclass with slots costs ~0.4 µs against ~60 µs for the insert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rocksdict import WriteBatch

    from remlite.records import TableLayout
    from remlite.semantic.vectors import FieldVectors
    from remlite.storage.changelog import Entry, RowsPut

EdgeLog = dict[str, list[dict[str, Any]]]  # {"edges": [...], "edges_removed": [...]} of a RowsPut


@dataclass(slots=True, eq=False)
class Effects:
    """What memory learns from a commit, published by the listeners once its batch is written.

    `counts`: live rows per table id after the commit. `next_rownum`: the next row number to
    hand out. `vectors`: per embedding field written, (its config when the commit gave it its
    first vectors, else None; (label, vector) added; labels removed). `spans`: a moments table's
    new longest span (table prefix -> microseconds)."""

    counts: dict[int, int] = field(default_factory=dict)
    next_rownum: int | None = None
    vectors: list[tuple[FieldVectors, dict[str, Any] | None, list[tuple[int, Any]], list[int]]] = field(
        default_factory=list
    )
    spans: dict[bytes, int] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class RowChunk:
    """One atomic chunk of a row write, as the writer computed it (column-wise, once).

    `rids` pairs each row's id with whether it may already exist; `records` are the stamped rows
    (id and system fields set) in input order; `previous` is each position's prior version (stored
    or earlier in the chunk), or None when no row had one; `existing` the stored versions by id;
    `labels` each row's row number (the label of its vectors, its key in the fuzzy index).
    `vectors`/`configs` are the embedding fields' new vectors (None per row: no vector now) and
    first-time configs. `inline_edges` are the records' `_edges`; `replay` the source's entry when
    a change log is being applied (hooks then write what it logged rather than recompute). A hook
    sets `edge_log` to the edges it wrote (they go into the change-log entry) and adds to `effects`."""

    layout: TableLayout
    batch: WriteBatch
    rids: list[tuple[bytes, bool]]
    rid_list: list[bytes]
    bodies: list[dict[str, Any]]
    records: list[dict[str, Any]]
    previous: list[dict[str, Any] | None] | None
    existing: dict[bytes, dict[str, Any]]
    labels: dict[bytes, int]
    vectors: dict[str, list[Any]] | None
    configs: dict[str, dict[str, Any]]
    inline_edges: list[Any] | None
    replay: RowsPut | None
    effects: Effects
    edge_log: EdgeLog | None = None


@dataclass(slots=True, eq=False)
class RowDeletion:
    """One row being deleted: soft (`hard` false: kept with `deleted_at`) or hard. `live`: it was
    not soft-deleted already. `rownum` labels it in vector indexes. A hook that removes edges lists
    them in `edges_removed` (they go into the change-log entry)."""

    layout: TableLayout
    batch: WriteBatch
    rid: bytes
    record: dict[str, Any]
    hard: bool
    live: bool
    rownum: int
    effects: Effects
    edges_removed: list[dict[str, Any]] = field(default_factory=list)


class RowHook(Protocol):
    """A table's derived structure kept by the row write path, in the write's own batch."""

    def write(self, chunk: RowChunk) -> None:
        """Add the structure's operations for a chunk of rows to `chunk.batch`."""

    def delete(self, deletion: RowDeletion) -> None:
        """Add the structure's operations for one deleted row to `deletion.batch`."""


class HookFactory(Protocol):
    def __call__(self, layout: TableLayout) -> RowHook | None:
        """The hook that keeps this table's structure, or None when the table has none."""


class Listener(Protocol):
    def __call__(self, entry: Entry, effects: Effects) -> None:
        """Told about every commit, under the write lock, after its batch was written."""
