"""`remdb.Database`: the one entry point that composes storage, schemas and records.

Every logical change (row + index entries + lookup keys + id directory + row counter + WAL entry)
is one RocksDB WriteBatch, so a crash leaves each change either fully applied or absent. Reads take
no lock; writes are serialised by the store's write lock (one writer process per database).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from remdb import ids as idmod
from remdb.errors import InvalidInput, NotFound, SchemaError, ValidationError
from remdb.records import MISSING, TableLayout, diff, now_iso
from remdb.schema.loader import normalize
from remdb.schema.model import TableSchema
from remdb.schema.registry import NEXT_TABLE_KEY, SCHEMA_PREFIX, Registry, SchemaChange
from remdb.schema.templates import TEMPLATES
from remdb.storage import codec
from remdb.storage.engine import Store
from remdb.storage.wal import WAL

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_COUNT_PREFIX = b"count:"
_INITIALISED = b"initialised"
_NEXT_ROWNUM = b"next_rownum"
DEFAULT_CHUNK = 10_000


def default_root() -> Path:
    """`REMDB_PATH`, else the per-user data directory."""
    env = os.environ.get("REMDB_PATH")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "remdb"


class Database:
    """An open remdb tenant database. Use `remdb.connect()` to get one."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, tenant: str = "default", *, sync: bool = False
    ) -> None:
        if not isinstance(tenant, str) or not _TENANT_RE.match(tenant):
            raise InvalidInput(f"invalid tenant name {tenant!r}: letters, digits, '.', '_', '-'")
        self.root = Path(path) if path is not None else default_root()
        self.tenant = tenant
        self.path = self.root / tenant
        self._store = Store(self.path, sync=sync)
        self._registry = Registry()
        self._layouts: dict[str, TableLayout] = {}
        self._counts: dict[int, int] = {}
        self._next_rownum = 1
        self._wal = WAL(self._store)
        self._load()

    # ------------------------------------------------------------------ lifecycle
    def _load(self) -> None:
        meta = self._store.cf["meta"]
        raw_next = meta.get(NEXT_TABLE_KEY)
        self._registry.load(
            list(self._store.iter_prefix("meta", SCHEMA_PREFIX)),
            codec.read_u32(raw_next) if raw_next else 1,
        )
        raw_rownum = meta.get(_NEXT_ROWNUM)
        self._next_rownum = codec.read_u64(raw_rownum) if raw_rownum else 1
        for key, value in self._store.iter_prefix("meta", _COUNT_PREFIX):
            self._counts[codec.read_u32(key, len(_COUNT_PREFIX))] = codec.read_u64(value)
        if meta.get(_INITIALISED) is None:
            for name, doc in TEMPLATES.items():
                if name not in self._registry:
                    self._register(doc, name, template=True)
            meta.put(_INITIALISED, b"1")

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<remdb.Database {str(self.path)!r} tenant={self.tenant!r}>"

    @property
    def closed(self) -> bool:
        return self._store.closed

    # ------------------------------------------------------------------ schemas
    def register_schema(self, source: Any, name: str | None = None) -> dict[str, Any]:
        """Register or upgrade a table from a Pydantic model, dict, .json/.yaml file or 'module:Model'."""
        return self._register(source, name).describe()

    def _register(self, source: Any, name: str | None, template: bool = False) -> TableSchema:
        table_name, schema, options = normalize(source, name)
        with self._store.write_lock:
            change = self._registry.plan(table_name, schema, options, template=template)
            if change.noop:
                return change.table
            self._apply_schema_change(change)
            return change.table

    def _apply_schema_change(self, change: SchemaChange) -> None:
        table, store = change.table, self._store
        layout = TableLayout(table)
        for removed in change.removed_indexes:
            old_prefix = codec.u32(table.table_id) + change.previous.field_ids[removed].to_bytes(2, "big")  # type: ignore[union-attr]
            self._delete_prefix("index", old_prefix)
        if change.previous is not None and change.added_indexes:
            added = [layout.by_name[f] for f in change.added_indexes]
            for field in added:
                self._delete_prefix("index", field.prefix)
            batch, pending = store.batch(), 0
            for key, value in store.iter_prefix("rows", layout.tid):
                record = orjson.loads(value)
                if record.get("deleted_at"):
                    continue
                rid = key[4:]
                for field in added:
                    for v in field.values(record):
                        batch.put(field.prefix + codec.encode(v) + rid, b"", store.handle["index"])
                pending += 1
                if pending >= DEFAULT_CHUNK:
                    store.write(batch)
                    batch, pending = store.batch(), 0
            store.write(batch)
        batch = store.batch()
        batch.put(SCHEMA_PREFIX + table.name.encode(), table.to_bytes(), store.handle["meta"])
        batch.put(
            NEXT_TABLE_KEY, codec.u32(max(self._registry.next_table_id, table.table_id + 1)), store.handle["meta"]
        )
        self._wal.append(
            batch, {"op": "schema", "table": table.name, "version": table.version, "schema": table.describe()}
        )
        store.write(batch)
        self._wal.commit()
        self._registry.put(table)
        self._layouts.pop(table.name, None)

    def _delete_prefix(self, family: str, prefix: bytes) -> None:
        end = codec.prefix_end(prefix)
        batch = self._store.batch()
        batch.delete_range(prefix, end if end is not None else prefix + b"\xff" * 32, self._store.handle[family])
        self._store.write(batch)

    def schemas(self) -> list[dict[str, Any]]:
        """Every registered table, with its row count."""
        out = []
        for name in self._registry.names():
            table = self._registry.get(name)
            out.append({**table.describe(), "count": self._counts.get(table.table_id, 0)})
        return out

    def schema(self, name: str) -> dict[str, Any]:
        table = self._registry.get(name)
        return {**table.describe(), "count": self._counts.get(table.table_id, 0)}

    def templates(self) -> list[str]:
        return list(TEMPLATES)

    def drop_schema(self, name: str, *, force: bool = False) -> int:
        """Drop a table and every row, index entry and lookup key of it; return the rows removed."""
        table = self._registry.get(name)
        if table.template and not force:
            raise SchemaError(f"{name} is a built-in template; pass force=True (CLI: --force) to drop it")
        store, layout = self._store, self._layout(name)
        removed = 0
        with store.write_lock:
            batch = store.batch()
            for key, value in store.iter_prefix("rows", layout.tid):
                rid = key[4:]
                batch.delete(rid, store.handle["ids"])
                for lookup_key in layout.lookup_keys(orjson.loads(value), rid):
                    batch.delete(lookup_key, store.handle["keys"])
                removed += 1
            end = codec.prefix_end(layout.tid)
            batch.delete_range(layout.tid, end, store.handle["rows"])
            batch.delete_range(layout.tid, end, store.handle["index"])
            batch.delete(SCHEMA_PREFIX + name.encode(), store.handle["meta"])
            batch.delete(_COUNT_PREFIX + layout.tid, store.handle["meta"])
            self._wal.append(batch, {"op": "drop_schema", "table": name, "rows": removed})
            store.write(batch)
            self._wal.commit()
            self._registry.remove(name)
            self._layouts.pop(name, None)
            self._counts.pop(table.table_id, None)
        return removed

    def _layout(self, table: str) -> TableLayout:
        layout = self._layouts.get(table)
        if layout is None:
            layout = self._layouts[table] = TableLayout(self._registry.get(table))
        return layout

    # ------------------------------------------------------------------ writes
    def validate(self, table: str, record: Any) -> dict[str, Any]:
        """Check a record against its table without writing; return it with defaults applied."""
        body = self._registry.validator(table).validate(record)
        layout = self._layout(table)
        if layout.key_parts:
            try:
                layout.key_values(body)
            except InvalidInput as exc:
                raise ValidationError(exc.message, table=table) from None
        return body

    def insert(self, table: str, record: Any) -> str:
        """Insert a record; with a natural key this is an upsert. Returns the id."""
        return self.insert_batch(table, [record])[0]

    def insert_batch(
        self,
        table: str,
        records: Sequence[Any],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        on_chunk: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Validate every record first (nothing is written if one is invalid), then write them in
        atomic chunks of `chunk_size` rows, one WriteBatch each, calling `on_chunk(rows written so
        far)` after each. Returns ids in input order."""
        if len(records) > 1000 and gc.isenabled():
            # Building many short-lived dicts triggers the cyclic collector over and over; none of
            # them form cycles, so pausing it for the batch is safe and ~20% faster.
            gc.disable()
            try:
                return self.insert_batch(table, records, chunk_size=chunk_size, on_chunk=on_chunk)
            finally:
                gc.enable()
        layout = self._layout(table)
        validator = self._registry.validator(table)
        bodies = []
        for position, record in enumerate(records):
            try:
                bodies.append(validator.validate(record))
            except ValidationError as exc:
                if len(records) > 1:
                    exc.args = (f"record {position}: {exc.message}",)
                    exc.message = exc.args[0]
                    exc.details["record"] = position
                raise
        rids = self._record_ids(layout, bodies)
        out: list[str] = []
        with self._store.write_lock:
            if not layout.key_parts:  # key-derived ids embed the table name: no other table has them
                self._check_owner(layout, [rid for rid, may_exist in rids if may_exist])
            for start in range(0, len(bodies), chunk_size):
                out += self._write_rows(layout, bodies[start : start + chunk_size], rids[start : start + chunk_size])
                if on_chunk is not None:
                    on_chunk(len(out))
        return out

    def _check_owner(self, layout: TableLayout, rids: list[bytes]) -> None:
        """Refuse, before anything is written, ids that already belong to another table."""
        if not rids:
            return
        for rid, owner in zip(rids, self._store.cf["ids"][rids], strict=True):
            if owner is not None and owner[:4] != layout.tid:
                other = self._registry.by_id(codec.read_u32(owner)).name
                raise ValidationError(f"id {idmod.to_str(rid)} belongs to table {other}", field="id")

    def _record_ids(self, layout: TableLayout, bodies: list[dict[str, Any]]) -> list[tuple[bytes, bool]]:
        """(id bytes, may already exist) per body; pops any user-given `id` from the body."""
        if not layout.key_parts and not any("id" in body for body in bodies):
            return [(rid, False) for rid in idmod.new_ids(len(bodies))]
        return [self._record_id(layout, body) for body in bodies]

    def _record_id(self, layout: TableLayout, body: dict[str, Any]) -> tuple[bytes, bool]:
        given = body.pop("id", None)
        if layout.key_parts:
            try:
                key = idmod.key_text(layout.key_values(body))
            except InvalidInput as exc:
                raise ValidationError(exc.message, table=layout.table.name) from None
            rid = idmod.key_id_bytes(self.tenant, layout.table.name, key)
            if given is not None and idmod.to_bytes(given) != rid:
                raise ValidationError(
                    f"{layout.table.name}: id {given} does not match the id of its natural key {key!r}",
                    field="id",
                    table=layout.table.name,
                )
            return rid, True
        if given is not None:
            return idmod.to_bytes(given), True
        return idmod.new_id_bytes(), False

    def _write_rows(
        self, layout: TableLayout, bodies: list[dict[str, Any]], rids: list[tuple[bytes, bool]]
    ) -> list[str]:
        """Write one atomic chunk; return the ids as strings."""
        store = self._store
        rows_h, ids_h, index_h, keys_h = (store.handle[n] for n in ("rows", "ids", "index", "keys"))
        maybe = [rid for rid, may_exist in rids if may_exist]
        existing: dict[bytes, dict[str, Any]] = {}
        if maybe:
            found = store.cf["rows"][[layout.tid + r for r in maybe]]
            existing = {r: orjson.loads(v) for r, v in zip(maybe, found, strict=True) if v is not None}
        now = now_iso()
        batch = store.batch()
        put = batch.put
        values: list[bytes] = []
        id_strings: list[str] = []
        count = self._counts.get(layout.table.table_id, 0)
        rownum = self._next_rownum
        tid, dumps, index_keys, lookup_keys = layout.tid, orjson.dumps, layout.index_keys, layout.lookup_keys
        u64 = codec.u64
        for body, (rid, _) in zip(bodies, rids, strict=True):
            old = existing.get(rid) if maybe else None
            id_string = idmod.to_str(rid)
            id_strings.append(id_string)
            record = {"id": id_string, **body}
            if old is not None:
                record["created_at"] = old["created_at"]
            elif "created_at" not in body:
                record["created_at"] = now
            record["modified_at"] = now
            record["deleted_at"] = None
            value = dumps(record)
            put(tid + rid, value, rows_h)
            values.append(value)
            new_index, new_lookup = index_keys(record, rid), lookup_keys(record, rid)
            if old is None:
                put(rid, tid + u64(rownum), ids_h)
                rownum += 1
                count += 1
            elif old.get("deleted_at"):
                count += 1
            else:
                drop_index, new_index = diff(index_keys(old, rid), new_index)
                drop_lookup, new_lookup = diff(lookup_keys(old, rid), new_lookup)
                for key in drop_index:
                    batch.delete(key, index_h)
                for key in drop_lookup:
                    batch.delete(key, keys_h)
            for key in new_index:
                put(key, b"", index_h)
            for key in new_lookup:
                put(key, b"", keys_h)
            if maybe:
                existing[rid] = record
        put(_COUNT_PREFIX + tid, u64(count), store.handle["meta"])
        if rownum != self._next_rownum:
            put(_NEXT_ROWNUM, u64(rownum), store.handle["meta"])
        self._wal.append_rows(batch, "put", layout.table.name, values)
        store.write(batch)
        self._wal.commit()
        self._counts[layout.table.table_id] = count
        self._next_rownum = rownum
        return id_strings

    def update(self, record_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a live record (top-level keys), re-validate, bump `modified_at`."""
        if not isinstance(changes, dict):
            raise InvalidInput(f"changes must be a JSON object, got {type(changes).__name__}")
        for system in ("id", "created_at", "modified_at", "deleted_at"):
            if system in changes:
                raise ValidationError(f"'{system}' is a system field and cannot be updated", field=system)
        with self._store.write_lock:
            rid = idmod.to_bytes(record_id)
            table_name, current = self._get_raw(rid)
            layout = self._layout(table_name)
            merged = {k: v for k, v in current.items() if k not in ("created_at", "modified_at", "deleted_at")}
            merged.update(changes)
            body = self._registry.validator(table_name).validate(merged)
            new_rid, _ = self._record_id(layout, dict(body))
            if new_rid != rid:
                raise ValidationError(
                    f"{table_name}: changing the natural key {layout.table.key_field_spec!r} would change the "
                    "record's id; insert a new record and delete this one",
                    field=layout.table.key_field[0],
                )
            body.pop("id", None)
            self._write_rows(layout, [body], [(rid, True)])
        return self.get(idmod.to_str(rid))

    def delete(self, record_id: str, hard: bool = False) -> None:
        """Soft delete (sets `deleted_at`, hides the record) or, with hard=True, remove it entirely."""
        rid = idmod.to_bytes(record_id)
        store = self._store
        with store.write_lock:
            table_name, record = self._get_raw(rid, include_deleted=hard)
            layout = self._layout(table_name)
            batch = store.batch()
            live = not record.get("deleted_at")
            if live:
                for key in layout.index_keys(record, rid):
                    batch.delete(key, store.handle["index"])
                for key in layout.lookup_keys(record, rid):
                    batch.delete(key, store.handle["keys"])
            now = now_iso()
            if hard:
                batch.delete(layout.tid + rid, store.handle["rows"])
                batch.delete(rid, store.handle["ids"])
            else:
                record["deleted_at"] = now
                record["modified_at"] = now
                batch.put(layout.tid + rid, orjson.dumps(record), store.handle["rows"])
            count = self._counts.get(layout.table.table_id, 0) - (1 if live else 0)
            batch.put(_COUNT_PREFIX + layout.tid, codec.u64(count), store.handle["meta"])
            self._wal.append(
                batch,
                {
                    "op": "delete",
                    "table": table_name,
                    "ids": [idmod.to_str(rid)],
                    "rownums": [codec.read_u64(store.cf["ids"][rid], 4)],
                    "hard": hard,
                    "at": now,
                },
            )
            store.write(batch)
            self._wal.commit()
            self._counts[layout.table.table_id] = count

    # ------------------------------------------------------------------ reads
    def _get_raw(self, rid: bytes, include_deleted: bool = False) -> tuple[str, dict[str, Any]]:
        entry = self._store.cf["ids"].get(rid)
        tid = entry[:4] if entry is not None else None
        value = self._store.cf["rows"].get(tid + rid) if tid is not None else None
        if value is None:
            raise NotFound(f"no record with id {idmod.to_str(rid)}")
        record = orjson.loads(value)
        if record.get("deleted_at") and not include_deleted:
            raise NotFound(f"record {idmod.to_str(rid)} was deleted at {record['deleted_at']}")
        return self._registry.by_id(codec.read_u32(tid)).name, record

    def get(self, record_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The record with this id; raises NotFound (also for soft-deleted records by default)."""
        return self._get_raw(idmod.to_bytes(record_id), include_deleted)[1]

    def table_of(self, record_id: str) -> str:
        return self._get_raw(idmod.to_bytes(record_id), include_deleted=True)[0]

    def get_batch(self, record_ids: Sequence[str], *, include_deleted: bool = False) -> list[dict[str, Any] | None]:
        """Records in the order asked; None where an id is unknown or deleted."""
        rids = [idmod.to_bytes(r) for r in record_ids]
        if not rids:
            return []
        tids = self._store.cf["ids"][rids]
        wanted = [(i, t[:4] + r) for i, (t, r) in enumerate(zip(tids, rids, strict=True)) if t is not None]
        out: list[dict[str, Any] | None] = [None] * len(rids)
        if wanted:
            values = self._store.cf["rows"][[k for _, k in wanted]]
            for (i, _), value in zip(wanted, values, strict=True):
                if value is not None:
                    record = orjson.loads(value)
                    if include_deleted or not record.get("deleted_at"):
                        out[i] = record
        return out

    def count(self, table: str) -> int:
        """Live (not deleted) rows in the table, from a counter kept in the same WriteBatch as the rows."""
        return self._counts.get(self._registry.get(table).table_id, 0)

    def scan(
        self, table: str, limit: int | None = None, after: str | None = None, *, include_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Stream a table's records in key (id) order; `after` is the last id of the previous page."""
        layout = self._layout(table)
        start = layout.tid + idmod.to_bytes(after) + b"\x00" if after is not None else None
        if limit is not None and limit < 0:
            raise InvalidInput("limit must be >= 0")
        return self._scan(layout, start, limit, include_deleted)

    def _scan(
        self, layout: TableLayout, start: bytes | None, limit: int | None, include_deleted: bool
    ) -> Iterator[dict[str, Any]]:
        if limit == 0:
            return
        produced = 0
        loads = orjson.loads
        for _key, value in self._store.iter_prefix("rows", layout.tid, start):
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
        layout = self._layout(table)
        rids = self._find_raw(layout, field, {"eq": eq, "gt": gt, "gte": gte, "lt": lt, "lte": lte}, limit)
        if not fetch:
            return [idmod.to_str(r) for r in rids]
        return self._fetch(layout, rids)

    def _find_raw(
        self, layout: TableLayout, field: str, bounds: dict[str, Any], limit: int | None = None
    ) -> list[bytes]:
        bound = {k: bounds.get(k, MISSING) for k in ("eq", "gt", "gte", "lt", "lte")}
        start, end = layout.range_keys(layout.field(field), **bound)
        seen: dict[bytes, None] = {}
        for key in self._store.iter_keys("index", start, end):
            seen[key[-16:]] = None
            if limit is not None and len(seen) >= limit:
                break
        return list(seen)

    def _fetch(self, layout: TableLayout, rids: list[bytes]) -> list[dict[str, Any]]:
        """Live records of one table by raw id, in order, skipping any that vanished."""
        if not rids:
            return []
        loads, tid = orjson.loads, layout.tid
        values = self._store.cf["rows"][[tid + r for r in rids]]
        return [record for v in values if v is not None and (record := loads(v))["deleted_at"] is None]

    def lookup(self, key: str) -> list[dict[str, Any]]:
        """Records whose natural key (or name) is `key`, across all tables, each with `_table`."""
        if not isinstance(key, str):
            key = str(key)
        prefix = codec.encode(key)
        found = [(k[-20:-16], k[-16:]) for k, _ in self._store.iter_prefix("keys", prefix)]
        values = self._store.cf["rows"][[t + r for t, r in found]] if found else []
        out = []
        for (tid, _), value in zip(found, values, strict=True):
            if value is not None:
                out.append({**orjson.loads(value), "_table": self._registry.by_id(codec.read_u32(tid)).name})
        return out

    def wal(self, after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Change entries with seq > after_seq, oldest first."""
        return self._wal.read(after_seq, limit)

    @property
    def last_seq(self) -> int:
        return self._wal.seq

    def check(self) -> dict[str, Any]:
        """Verify that counters, the id directory, indexes and lookup keys agree with the rows."""
        from remdb.integrity import check_database

        return check_database(self._store, self._registry, self._layout, self._counts)


def connect(path: str | os.PathLike[str] | None = None, tenant: str = "default", *, sync: bool = False) -> Database:
    """Open (creating if needed) the database of `tenant` under the root `path`.

    `path` defaults to `REMDB_PATH`, then the per-user data directory. `sync=True` fsyncs every
    write (survives power loss; ~100x slower). Without it every acknowledged write still survives a
    process crash (kill -9): RocksDB's log is written before the call returns.
    """
    return Database(path, tenant, sync=sync)


def REMDatabase(tenant_id: str = "default", path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Database:  # noqa: N802
    """The constructor the reference design's examples use; the same as `connect(path, tenant_id)`."""
    return connect(path, tenant_id, **kwargs)
