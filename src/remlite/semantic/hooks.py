"""The write hooks of tables with text or embedding fields, and the listener that keeps loaded
vector indexes in step with commits.

`TextHook` writes BM25 postings in the row's batch (text search needs no recovery). `VectorHook`
writes each row's vectors and its row-label key in the row's batch and records the additions and
removals in the commit's `Effects`; `publish_vectors` applies them to a loaded HNSW index once the
batch is written (an index not loaded catches up from the change log when it is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remlite.storage.keyspace import row_label_key

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.hooks import Effects, RowChunk, RowDeletion, RowHook
    from remlite.records import TableLayout
    from remlite.semantic.table_vectors import TableVectors
    from remlite.semantic.text import TableText
    from remlite.storage.changelog import Entry
    from remlite.storage.engine import Store


def text_hook(core: TenantCore, layout: TableLayout) -> RowHook | None:
    text = core.text(layout.table.name) if layout.table.searchable_text_fields else None
    return TextHook(text) if text else None


def vector_hook(core: TenantCore, layout: TableLayout) -> RowHook | None:
    if not layout.table.embedding_fields:
        return None
    return VectorHook(core.vectors(layout.table.name), core.store)


class TextHook:
    def __init__(self, text: TableText) -> None:
        self.text = text

    def write(self, chunk: RowChunk) -> None:
        row_ops, batch, previous = self.text.row_ops, chunk.batch, chunk.previous
        for position, (rid, record) in enumerate(zip(chunk.rid_list, chunk.records, strict=True)):
            old = previous[position] if previous is not None else None
            row_ops(batch, rid, old if old is not None and not old.get("deleted_at") else None, record)

    def delete(self, deletion: RowDeletion) -> None:
        if deletion.live:
            self.text.row_ops(deletion.batch, deletion.rid, deletion.record, None)


class VectorHook:
    def __init__(self, vectors: TableVectors, store: Store) -> None:
        self.vectors = vectors
        self.store = store  # not its families: a held handle keeps RocksDB's lock after close

    def write(self, chunk: RowChunk) -> None:
        field_vectors = chunk.vectors
        if not field_vectors:
            return
        fields, batch, labels, previous = self.vectors.fields, chunk.batch, chunk.labels, chunk.previous
        for name, values in field_vectors.items():
            field = fields[name]
            config = chunk.configs.get(name)
            if config is not None:
                field.put_config(batch, config)
            adds: list[tuple[int, Any]] = []
            removes: list[int] = []
            for position, (rid, vector) in enumerate(zip(chunk.rid_list, values, strict=True)):
                if vector is not None:
                    label = labels[rid]
                    field.put_ops(batch, rid, label, vector)
                    adds.append((label, vector))
                elif previous is not None and previous[position] is not None:
                    field.delete_ops(batch, rid)
                    removes.append(labels[rid])
            chunk.effects.vectors.append((field, config, adds, removes))

    def delete(self, deletion: RowDeletion) -> None:
        for field in self.vectors.fields.values():
            field.delete_ops(deletion.batch, deletion.rid)
            deletion.effects.vectors.append((field, None, [], [deletion.rownum]))
        if deletion.hard:
            deletion.batch.delete(row_label_key(deletion.rownum), self.store.handle["vectors"])


def publish_vectors(entry: Entry, effects: Effects) -> None:
    """The commit listener of vector fields: a first config, then the loaded index's changes."""
    for field, config, adds, removes in effects.vectors:
        if config is not None:
            field.config = config
        field.apply(adds, removes, entry.seq)
