"""The read path of `remlite.Database`: records by id, table scans, index range scans, lookups.

Reads take no lock (see the Threads section of docs/python.md). Point reads translate a bare
RocksDB error (a corrupt block) into StorageError inline, where a wrapper per call would cost `get`
a few percent; iterators check RocksDB's status themselves (`Store._iterate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from remlite import ids as idmod
from remlite.errors import InvalidId, InvalidInput, NotFound, shown
from remlite.fuzzy import DEFAULT_LIMIT, MIN_SCORE, FuzzyIndex, check_options
from remlite.records import MISSING, TableLayout
from remlite.storage import codec
from remlite.storage.keyspace import table_prefix

if TYPE_CHECKING:
    from remlite.core import TenantCore


def check_limit(limit: Any) -> None:
    """A row limit is None or an integer >= 0 (not a bool, a float or a string)."""
    if limit is not None and (type(limit) is not int or limit < 0):
        raise InvalidInput(f"limit must be an integer >= 0 or None, got {shown(limit)}")


class Reader:
    """get, get_batch, table_of, count, scan, list, find and lookup of `remlite.Database`."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core
        self._get_raw = core.get_raw
        self._fuzzy: FuzzyIndex | None = None  # built by the first fuzzy lookup

    def get(self, record_id: str, key: Any = None, *, include_deleted: bool = False) -> dict[str, Any]:
        """The record with this id; raises NotFound (also for soft-deleted records by default).

        `get(table, key)` reads a record of `table` by its natural key (a value, or a list of values
        for a composite key); `get("TAP-1234")`, a string that is not an id, reads the one live
        record whose natural key or name it is, across tables (InvalidInput when several are)."""
        if key is None:
            try:
                rid = idmod.to_bytes(record_id)
            except InvalidId:
                return self._by_key_anywhere(record_id)
            return self._get_raw(rid, include_deleted)[1]
        layout = self.core.layout(record_id)
        if not layout.key_parts:
            raise InvalidInput(f"{record_id} has no natural key (key_field): get a record by its id")
        values = list(key) if isinstance(key, (list, tuple)) else [key]
        if len(values) != len(layout.key_parts):
            raise InvalidInput(f"{record_id}'s natural key has {len(layout.key_parts)} fields, got {shown(key)}")
        rid = idmod.key_id_bytes(self.core.tenant, record_id, idmod.key_text(values))
        table, record = self._get_raw(rid, include_deleted)
        if table != record_id:
            raise NotFound(f"no record of {record_id} has the key {shown(key)}")
        return record

    def _by_key_anywhere(self, key: Any) -> dict[str, Any]:
        if not isinstance(key, str):
            raise InvalidId(f"not a record id (ids are UUIDs): {shown(key)}")
        found = self.lookup(key)
        if not found:
            raise NotFound(f"no record has the id, natural key or name {key!r}")
        if len(found) > 1:
            tables = ", ".join(sorted({r["_table"] for r in found}))
            raise InvalidInput(f"{len(found)} records have the key or name {key!r} (in {tables}): use get(table, key)")
        record = found[0]
        del record["_table"]
        return record

    def table_of(self, record_id: str) -> str:
        return self._get_raw(idmod.to_bytes(record_id), include_deleted=True)[0]

    def get_batch(self, record_ids: Sequence[str], *, include_deleted: bool = False) -> list[dict[str, Any] | None]:
        """Records in the order asked; None where an id is unknown or deleted."""
        if isinstance(record_ids, (str, bytes)) or not isinstance(record_ids, Iterable):
            raise InvalidInput(f"record_ids must be a list of ids, got {type(record_ids).__name__}")
        rids = [idmod.to_bytes(r) for r in record_ids]
        if not rids:
            return []
        try:
            tids = self.core.store.cf["ids"][rids]
            wanted = [(i, t[:4] + r) for i, (t, r) in enumerate(zip(tids, rids, strict=True)) if t is not None]
            values = self.core.store.cf["rows"][[k for _, k in wanted]] if wanted else []
        except Exception as exc:
            raise self.core.store.read_error(exc, "records") from None
        out: list[dict[str, Any] | None] = [None] * len(rids)
        if wanted:
            for (i, _), value in zip(wanted, values, strict=True):
                if value is not None:
                    record = orjson.loads(value)
                    if include_deleted or not record.get("deleted_at"):
                        out[i] = record
        return out

    def count(self, table: str) -> int:
        """Live (not deleted) rows in the table, from a counter kept in the same WriteBatch as the rows."""
        return self.core.counts.get(self.core.registry.get(table).table_id, 0)

    def scan(
        self, table: str, limit: int | None = None, after: str | None = None, *, include_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Stream a table's records in key (id) order; `after` is the last id of the previous page."""
        layout = self.core.layout(table)
        start = layout.tid + idmod.to_bytes(after) + b"\x00" if after is not None else None
        check_limit(limit)
        return self._scan(layout, start, limit, include_deleted)

    def _scan(
        self, layout: TableLayout, start: bytes | None, limit: int | None, include_deleted: bool
    ) -> Iterator[dict[str, Any]]:
        if limit == 0:
            return
        produced = 0
        loads = orjson.loads
        for _key, value in self.core.store.iter_prefix("rows", layout.tid, start):
            record = loads(value)
            if record["deleted_at"] is not None and not include_deleted:
                continue
            yield record
            produced += 1
            if limit is not None and produced >= limit:
                return

    def list(self, table: str, limit: int | None = 100, after: str | None = None) -> list[dict[str, Any]]:
        return list(self.scan(table, limit=limit, after=after))

    def find(
        self,
        table: str,
        field: str,
        *,
        eq: Any = MISSING,
        gt: Any = MISSING,
        gte: Any = MISSING,
        lt: Any = MISSING,
        lte: Any = MISSING,
        limit: int | None = None,
        fetch: bool = False,
    ) -> list[Any]:
        """Ids of live records whose indexed `field` matches, in index (value, id) order; with
        `fetch=True` the records themselves (one multi-get, no id round trip)."""
        check_limit(limit)
        if not isinstance(field, str):
            raise InvalidInput(f"field must be a field name (a string), got {shown(field)}")
        layout = self.core.layout(table)
        rids = self.core.find_raw(layout, field, {"eq": eq, "gt": gt, "gte": gte, "lt": lt, "lte": lte}, limit)
        if not fetch:
            return [idmod.to_str(r) for r in rids]
        return self.core.fetch(layout, rids)

    def lookup(
        self, key: str, fuzzy: bool = False, limit: int = DEFAULT_LIMIT, min_score: float = MIN_SCORE
    ) -> list[dict[str, Any]]:
        """Live records whose natural key (or name) is `key`, across all tables, each with `_table`.

        Single-field natural keys need no index: the id is computed from (tenant, table, key) for
        every keyed table and fetched in one multi-get; names and composite-key prefixes come from
        the `keys` column family.

        `fuzzy=True` also finds records whose key or name is like `key` — another case, other
        punctuation, a typo, one word of a name ("alise" finds "Alice Johnson", "tap 1234" finds
        "TAP-1234") — through the trigrams of `remlite.fuzzy`: at most `limit` (1 to 1000) records,
        best first, each with `_score` in [0, 1] and none below `min_score` (0.6: a typo in a
        5-letter name scores 0.8, one word of a longer name 0.9). Records the exact lookup finds
        come first with 1.0, as does a key or name that normalises alike. `limit` and `min_score`
        apply to fuzzy lookups only: the exact one returns every record it finds, as it always did."""
        if fuzzy is not False or limit != DEFAULT_LIMIT or min_score != MIN_SCORE:
            return self._fuzzy_lookup(key, fuzzy, limit, min_score)
        if not isinstance(key, str):
            if not isinstance(key, (int, float)):  # str() of a list nested thousands deep raises RecursionError
                raise InvalidInput(f"key must be a string (or a number), got {shown(key)}")
            key = str(key)
        store = self.core.store
        prefix = store.prefix_form("keys", codec.encode(key))  # blinded in an encrypted database
        found = {(k[-20:-16], k[-16:]): None for k, _ in store.iter_prefix("keys", prefix)}
        for name in self.core.registry.names():
            table = self.core.registry.get(name)
            if len(table.key_field) == 1:
                found[(table_prefix(table.table_id), idmod.key_id_bytes(self.core.tenant, name, key))] = None
        pairs = list(found)
        values = self.core.store.cf["rows"][[t + r for t, r in pairs]] if pairs else []
        out = []
        for (tid, _), value in zip(pairs, values, strict=True):
            if value is not None:
                record = orjson.loads(value)
                if record.get("deleted_at") is None:
                    out.append({**record, "_table": self.core.table_name(tid)})
        return out

    def _fuzzy_lookup(self, key: Any, fuzzy: Any, limit: Any, min_score: Any) -> list[dict[str, Any]]:
        """`lookup` with options: checked here, off the exact lookup's hot path."""
        if type(fuzzy) is not bool:
            raise InvalidInput(f"fuzzy must be True or False, got {shown(fuzzy)}")
        check_options(limit, min_score)
        exact = self.lookup(key)
        if not fuzzy:
            return exact
        if self._fuzzy is None:
            self._fuzzy = FuzzyIndex(self.core)
        return self._fuzzy.lookup(key if isinstance(key, str) else str(key), limit, min_score, exact)
