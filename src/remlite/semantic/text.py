"""A table's BM25 indexes, kept in step with its rows inside each row's WriteBatch."""

from __future__ import annotations

from typing import Any

from rocksdict import WriteBatch

from remlite.records import get_path
from remlite.schema.model import TableSchema
from remlite.schema.registry import TEXT_PREFIX
from remlite.storage.engine import Store
from remlite.text import TextIndex


def text_of(record: dict[str, Any] | None, parts: tuple[str, ...]) -> str | None:
    """The indexable text of a field: a string, or the strings of a list joined."""
    if record is None:
        return None
    value = record.get(parts[0]) if len(parts) == 1 else get_path(record, parts)
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        joined = " ".join(v for v in value if isinstance(v, str))
        return joined or None
    return None


class TableText:
    def __init__(self, store: Store, table: TableSchema) -> None:
        self.fields = {
            name: (tuple(name.split(".")), TextIndex(store, table.table_id, table.field_ids[TEXT_PREFIX + name]))
            for name in table.searchable_text_fields
        }

    def __bool__(self) -> bool:
        return bool(self.fields)

    def row_ops(
        self,
        batch: WriteBatch,
        rid: bytes,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        only: list[str] | None = None,
    ) -> None:
        """`old`: the live row before (None if new or deleted); `new`: after (None when deleting)."""
        for name, (parts, index) in self.fields.items():
            if only is not None and name not in only:
                continue
            before, after = text_of(old, parts), text_of(new, parts)
            if before != after:
                index.index_ops(batch, rid, before, after)

    def drop_ops(self, batch: WriteBatch, fields: list[str] | None = None) -> None:
        for name, (_parts, index) in self.fields.items():
            if fields is None or name in fields:
                index.drop_ops(batch)

    def index(self, field: str) -> TextIndex:
        return self.fields[field][1]
