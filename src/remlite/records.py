"""How one record maps onto storage keys: its row key, secondary-index entries and lookup keys.

A `TableLayout` is derived from a TableSchema once per schema version and reused for every write,
so the hot path does no schema interpretation: it walks precomputed (key prefix, field path) pairs.
"""

from __future__ import annotations

from typing import Any

import orjson

from remlite.errors import InvalidInput, SchemaError
from remlite.schema.model import TableSchema
from remlite.storage import codec
from remlite.storage.keyspace import index_prefix, table_prefix

_MISSING = object()
_BY_VALUE = frozenset((str, int, type(None)))
_SCALARS = frozenset((str, int, float, bool, type(None)))


def get_path(record: dict[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


class IndexedField:
    __slots__ = ("name", "parts", "prefix", "string_prefix", "timestamp", "top_level")

    def __init__(self, name: str, prefix: bytes, timestamp: bool) -> None:
        self.name = name
        self.parts = tuple(name.split("."))
        self.prefix = prefix
        self.string_prefix = prefix + bytes((codec.STRING,))
        self.timestamp = timestamp
        self.top_level = len(self.parts) == 1 and not timestamp

    def coerce(self, value: Any) -> Any:
        """Index form of a stored value: timestamps become Timestamp, dicts canonical JSON text."""
        if self.timestamp and isinstance(value, str):
            try:
                return codec.Timestamp.parse(value)
            except InvalidInput:
                return value
        if isinstance(value, dict):
            try:
                return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            except orjson.JSONEncodeError as exc:  # only a query bound can get here: stored rows are validated
                raise InvalidInput(f"{self.name}: a dict to compare with must be JSON ({exc})") from None
        return value

    def values(self, record: dict[str, Any]) -> list[Any]:
        value = get_path(record, self.parts)
        if value is _MISSING:
            return [None]
        if isinstance(value, list):
            return [self.coerce(v) for v in value] or [None]
        return [self.coerce(value)]


class TableLayout:
    def __init__(self, table: TableSchema) -> None:
        self.table = table
        self.tid = table_prefix(table.table_id)
        self.tid_end = codec.prefix_end(self.tid)
        self.fields = [
            IndexedField(name, index_prefix(self.tid, table.field_ids[name]), table.is_timestamp(name))
            for name in table.indexed_fields
        ]
        self.by_name = {f.name: f for f in self.fields}
        self.key_parts = [tuple(k.split(".")) for k in table.key_field]
        # A moments table, decided once and by shape: indexed start_time and end_time timestamps
        # (the `moments` template, or a user table shaped like it) get range queries, the span
        # statistic and `references` edges for their `resource_ids`.
        self.is_moments = all(
            name in self.by_name and self.by_name[name].timestamp for name in ("start_time", "end_time")
        )

    def row_key(self, rid: bytes) -> bytes:
        return self.tid + rid

    def index_keys(self, record: dict[str, Any], rid: bytes) -> set[bytes]:
        keys = set()
        for field in self.fields:
            if field.top_level:
                # Hot path: a top-level scalar needs no path walk or coercion.
                value = record.get(field.name)
                kind = type(value)
                if kind is str:
                    keys.add(field.string_prefix + value.encode().replace(b"\x00", b"\x00\xff") + b"\x00\x00" + rid)
                    continue
                if kind is int or kind is float or value is None or kind is bool:
                    keys.add(self._encoded(field, value) + rid)
                    continue
            keys |= self._field_keys(field, record, rid)
        return keys

    def index_key_columns(self, records: list[dict[str, Any]], rids: list[bytes]) -> list[tuple[list[Any], bool]]:
        """The index entries of many records, one column per indexed field, aligned with `records`,
        with a flag saying every entry is one key (bytes); otherwise an entry may be a set of keys
        (a list-valued field).

        The batch write path uses this instead of `index_keys` per record: a column reads one field
        of every record and encodes each distinct value once (statuses, categories and priorities
        repeat), which measured 0.3 µs per row for three fields against 1.2 µs."""
        columns = []
        for field in self.fields:
            if field.top_level:
                name = field.name
                values = [record.get(name) for record in records]
                if len(values) < 8:  # a few rows (a single insert): encode each, no dict to build
                    if all(type(value) in _SCALARS for value in values):
                        pairs = zip(values, rids, strict=True)
                        columns.append(([self._encoded(field, value) + rid for value, rid in pairs], True))
                        continue
                # Only str, int and None: with bool or float present, True == 1 == 1.0 would share
                # one dict slot and one encoding.
                elif set(map(type, values)) <= _BY_VALUE:
                    heads = {value: self._encoded(field, value) for value in set(values)}
                    columns.append(([heads[value] + rid for value, rid in zip(values, rids, strict=True)], True))
                    continue
            column = []
            for record, rid in zip(records, rids, strict=True):
                keys = self._field_keys(field, record, rid)
                column.append(keys.pop() if len(keys) == 1 else keys)
            columns.append((column, False))
        return columns

    def _field_keys(self, field: IndexedField, record: dict[str, Any], rid: bytes) -> set[bytes]:
        return {self._encoded(field, value) + rid for value in field.values(record)}

    def _encoded(self, field: IndexedField, value: Any) -> bytes:
        """The field's key prefix and the encoded value: an index key without its row id."""
        try:
            return field.prefix + codec.encode(value)
        except InvalidInput as exc:
            raise InvalidInput(f"{self.table.name}.{field.name}: {exc.message}") from None

    @property
    def stores_lookup_keys(self) -> bool:
        """False when `lookup_keys` is empty for every record: the natural key is `name` itself."""
        return self.key_parts != [("name",)]

    def lookup_keys(self, record: dict[str, Any], rid: bytes) -> set[bytes]:
        """Global lookup entries for what `lookup()` cannot derive: `name` (unless it equals a
        single-field natural key, whose id `lookup()` computes directly) and the first part of a
        composite key (e.g. a resource's uri)."""
        suffix = self.tid + rid
        name = record.get("name")
        named = type(name) is str and name != ""
        if len(self.key_parts) > 1:
            first = self.key_parts[0]
            value = record.get(first[0]) if len(first) == 1 else get_path(record, first)
            if type(value) is not str:
                value = str(value) if isinstance(value, int) and not isinstance(value, bool) else None
            if value is not None and (not named or value != name):
                key = codec.encode(value) + suffix
                return {key, codec.encode(name) + suffix} if named else {key}
        elif named and self.key_parts:
            parts = self.key_parts[0]
            value = record.get(parts[0]) if len(parts) == 1 else get_path(record, parts)
            if value == name:
                return set()
        return {codec.encode(name) + suffix} if named else set()

    def key_values(self, record: dict[str, Any]) -> list[Any]:
        values = []
        for parts in self.key_parts:
            value = record.get(parts[0]) if len(parts) == 1 else get_path(record, parts)
            if value is _MISSING or value is None:
                raise InvalidInput(f"{self.table.name}: natural key field '{'.'.join(parts)}' is missing")
            values.append(value)
        return values

    def field(self, name: str) -> IndexedField:
        try:
            return self.by_name[name]
        except KeyError:
            indexed = ", ".join(self.by_name) or "none"
            raise SchemaError(
                f"{self.table.name}.{name} is not indexed (indexed fields: {indexed}); "
                "add it to indexed_fields and re-register the schema"
            ) from None

    def range_keys(
        self, field: IndexedField, eq: Any, gt: Any, gte: Any, lt: Any, lte: Any
    ) -> tuple[bytes, bytes | None]:
        """[start, end) of index keys matching the bounds, kept within the bound's value type."""
        prefix = field.prefix
        if eq is not _MISSING:
            start = prefix + codec.encode(field.coerce(eq))
            return start, codec.prefix_end(start)
        if gt is not _MISSING and gte is not _MISSING:
            raise InvalidInput("give gt or gte, not both")
        if lt is not _MISSING and lte is not _MISSING:
            raise InvalidInput("give lt or lte, not both")
        low, high = (gt if gt is not _MISSING else gte), (lt if lt is not _MISSING else lte)
        tags = set()
        start: bytes | None = None
        end: bytes | None = None
        if low is not _MISSING:
            encoded = codec.encode(field.coerce(low))
            tags.add(encoded[0])
            start = prefix + encoded if gt is _MISSING else codec.prefix_end(prefix + encoded)
        if high is not _MISSING:
            encoded = codec.encode(field.coerce(high))
            tags.add(encoded[0])
            end = prefix + encoded if lt is not _MISSING else codec.prefix_end(prefix + encoded)
        if len(tags) > 1:
            raise InvalidInput(f"range bounds on {field.name} are of different types")
        if tags:
            tag = tags.pop()
            start = start or prefix + bytes((tag,))
            end = end or prefix + bytes((tag + 1,))
        return start or prefix, end if end is not None else codec.prefix_end(prefix)


MISSING = _MISSING
