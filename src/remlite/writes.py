"""The write path of `remlite.Database`: insert/upsert, batches, update and delete.

Every logical change (row + id directory + index entries + lookup keys + text postings + vectors +
row counter + change-log entry) is one RocksDB WriteBatch. Records are validated and embedded before
the write lock is taken; the lock covers only reading the previous versions and writing the batch.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from remlite import ids as idmod
from remlite.collector import paused_gc
from remlite.errors import InvalidInput, ValidationError, shown
from remlite.graph.edges import INLINE_KEY, check_chunk_size, check_inline_endpoints, pop_inline_edges
from remlite.hooks import Effects, RowChunk, RowDeletion
from remlite.records import TableLayout
from remlite.schema.validate import to_json_native
from remlite.storage import codec
from remlite.storage.changelog import RowsDeleted, RowsPut
from remlite.storage.clock import now_iso
from remlite.storage.keyspace import NEXT_ROWNUM_KEY, count_key

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.semantic.table_vectors import FieldBatch, TableVectors

    # A batch validated, given ids and embedded under one schema: (layout, bodies, ids,
    # table vectors, their generation, vectors, configs). A tuple: a class cost 0.5 µs a call.
    _Prepared = tuple[
        TableLayout,
        list[dict[str, Any]],
        list[tuple[bytes, bool]],
        TableVectors,
        int,
        FieldBatch,
        dict[str, dict[str, Any]],
    ]

DEFAULT_CHUNK = 10_000


def _stamp(
    records: list[dict[str, Any]], rid_list: list[bytes], existing: dict[bytes, dict[str, Any]], now: str
) -> tuple[list[dict[str, Any] | None] | None, dict[bytes, dict[str, Any]]]:
    """Set the system timestamps of a chunk's records. Returns each position's previous version
    (stored, or earlier in the chunk; None when there are no previous versions at all) and the
    final version per id. A replaced record keeps its first `created_at`."""
    if not existing and len(set(rid_list)) == len(rid_list):
        for record in records:
            if "created_at" not in record:
                record["created_at"] = now
            record["modified_at"] = now
            record["deleted_at"] = None
        return None, {}
    latest = dict(existing)
    previous: list[dict[str, Any] | None] = []
    for rid, record in zip(rid_list, records, strict=True):
        old = latest.get(rid)
        previous.append(old)
        if old is not None:
            record["created_at"] = old["created_at"]
        elif "created_at" not in record:
            record["created_at"] = now
        record["modified_at"] = now
        record["deleted_at"] = None
        latest[rid] = record
    return previous, latest


def _put_keys(
    put: Callable[..., None], column: list[Any], values: list[bytes] | None, handle: Any, single: bool = False
) -> None:
    """Put a column of keys (bytes, or a set of keys for a multi-valued field; `single`: bytes
    only); values align with the column, or are all empty."""
    if single and values is None:
        for key in column:
            put(key, b"", handle)
        return
    if values is None:
        for key in column:
            if type(key) is bytes:
                put(key, b"", handle)
            else:
                for one in key:
                    put(one, b"", handle)
        return
    for key, value in zip(column, values, strict=True):
        if type(key) is bytes:
            put(key, value, handle)
        else:
            for one in key:
                put(one, value, handle)


class Writer:
    """validate, insert, insert_batch, update and delete of `remlite.Database`, and the row write
    path that `apply()` replays through. Derived structures beyond rows, ids, indexes, lookup keys
    and counters are the table's write hooks (`remlite.hooks`)."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core

    def validate(self, table: str, record: Any) -> dict[str, Any]:
        """Check a record against its table without writing; return it with defaults applied."""
        body = self.core.registry.validator(table).validate(record)
        layout = self.core.layout(table)
        if layout.key_parts:
            try:
                layout.key_values(body)
            except InvalidInput as exc:
                raise ValidationError(exc.message, table=table) from None
        return body

    def insert(
        self, table: str, record: Any, *, vectors: dict[str, Any] | None = None, edges: list[Any] | None = None
    ) -> str:
        """Insert a record; with a natural key this is an upsert. Returns the id.

        `vectors={"field": vector}` supplies a precomputed embedding (then no model runs).
        `edges=[{"dst": id, "type": t, "properties": {...}}, ...]` (or `"src"` for an incoming edge)
        are written in the row's WriteBatch; a record key `_edges` does the same (see remlite.graph)."""
        if edges is not None:
            record = {**(record if isinstance(record, dict) else to_json_native(record)), INLINE_KEY: edges}
        if vectors is not None and not isinstance(vectors, dict):
            raise InvalidInput(f"vectors must be a dict of field name to vector, got {type(vectors).__name__}")
        one = {name: [vector] for name, vector in vectors.items()} if vectors else None
        return self.insert_batch(table, [record], vectors=one)[0]

    def insert_batch(
        self,
        table: str,
        records: Sequence[Any],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        on_chunk: Callable[[int], None] | None = None,
        vectors: dict[str, Any] | None = None,
    ) -> list[str]:
        """Validate every record first (nothing is written if one is invalid), then write them in
        atomic chunks of `chunk_size` rows, one WriteBatch each, calling `on_chunk(rows written so
        far)` after each. Embedding fields are embedded with one model call per field for the
        whole batch, unless `vectors={"field": matrix or list}` supplies them. Returns ids in input
        order."""
        check_chunk_size(chunk_size)
        if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
            raise InvalidInput(f"records must be a list of records, got {type(records).__name__}")
        if len(records) > 1000 and gc.isenabled():  # a dict per record, no cycles: see remlite.collector
            with paused_gc():
                return self.insert_batch(table, records, chunk_size=chunk_size, on_chunk=on_chunk, vectors=vectors)
        records, inline_edges = pop_inline_edges(records)
        layout, bodies, rids, table_vectors, generation, field_vectors, configs = self._prepare(table, records, vectors)
        out: list[str] = []
        with self.core.store.write_lock:
            if self.core.layout(table) is not layout:  # the schema changed meanwhile: redo it with the new one
                layout, bodies, rids, table_vectors, _, field_vectors, configs = self._prepare(table, records, vectors)
            elif table_vectors.generation != generation:  # a re-embed switched models meanwhile: embed again
                field_vectors, configs = table_vectors.compute(bodies, vectors)
            if not layout.key_parts:  # key-derived ids embed the table name: no other table has them
                self._check_owner(layout, [rid for rid, may_exist in rids if may_exist])
            if inline_edges:
                check_inline_endpoints(self.core.store, rids, inline_edges, chunk_size)
            for start in range(0, len(bodies), chunk_size):
                end = start + chunk_size
                chunk_vectors = {name: values[start:end] for name, values in field_vectors.items()}
                chunk_edges = inline_edges[start:end] if inline_edges else None
                out += self.write_rows(layout, bodies[start:end], rids[start:end], chunk_vectors, configs, chunk_edges)
                configs = {}
                if on_chunk is not None:
                    on_chunk(len(out))
        return out

    def _prepare(self, table: str, records: Sequence[Any], vectors: dict[str, Any] | None) -> _Prepared:
        """Validate, derive ids and embed with the table's schema of the moment: the expensive part
        of a write, done before the write lock is taken. The writer checks under the lock that the
        schema is still the one used, and calls this again (then under the lock) if it is not."""
        layout = self.core.layout(table)
        bodies = self.core.registry.validator(table).validate_many(records)
        rids = self._record_ids(layout, bodies)
        table_vectors = self.core.vectors(table)
        if vectors and not table_vectors:
            raise InvalidInput(f"vectors given, but {table} has no embedding_fields")
        generation = table_vectors.generation
        field_vectors, configs = table_vectors.compute(bodies, vectors) if table_vectors else ({}, {})
        return layout, bodies, rids, table_vectors, generation, field_vectors, configs

    def _check_owner(self, layout: TableLayout, rids: list[bytes]) -> None:
        """Refuse, before anything is written, ids that already belong to another table."""
        if not rids:
            return
        for rid, owner in zip(rids, self.core.store.cf["ids"][rids], strict=True):
            if owner is not None and owner[:4] != layout.tid:
                other = self.core.table_name(owner)
                raise ValidationError(f"id {idmod.to_str(rid)} belongs to table {other}", field="id")

    def _record_ids(self, layout: TableLayout, bodies: list[dict[str, Any]]) -> list[tuple[bytes, bool]]:
        """(id bytes, may already exist) per body; pops any user-given `id` from the body."""
        if not any("id" in body for body in bodies):
            if not layout.key_parts:
                return [(rid, False) for rid in idmod.new_ids(len(bodies))]
            if len(layout.key_parts) == 1 and len(layout.key_parts[0]) == 1:
                # Hot path: one top-level string key (validation guarantees it is present).
                name = layout.key_parts[0][0]
                keys = [body.get(name) for body in bodies]
                if all(type(key) is str for key in keys):
                    return [(rid, True) for rid in idmod.key_ids(self.core.tenant, layout.table.name, keys)]  # type: ignore[arg-type]
        return [self._record_id(layout, body) for body in bodies]

    def _record_id(self, layout: TableLayout, body: dict[str, Any]) -> tuple[bytes, bool]:
        given = body.pop("id", None)
        if layout.key_parts:
            try:
                key = idmod.key_text(layout.key_values(body))
            except InvalidInput as exc:
                raise ValidationError(exc.message, table=layout.table.name) from None
            rid = idmod.key_id_bytes(self.core.tenant, layout.table.name, key)
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

    def write_rows(
        self,
        layout: TableLayout,
        bodies: list[dict[str, Any]],
        rids: list[tuple[bytes, bool]],
        field_vectors: FieldBatch | None = None,
        configs: dict[str, dict[str, Any]] | None = None,
        inline_edges: list[Any] | None = None,
        replay: RowsPut | None = None,
    ) -> list[str]:
        """Write one atomic chunk; return the ids as strings. `replay` is a source database's entry
        being applied: its time stamps the rows and its logged edges are written as they are.

        Column-wise: id strings, records and index keys are built for the whole chunk, then put.
        Per-row work is left only for rows that replace a version (index diffs), text and vectors.
        Rows and ids go into the batch in id order: RocksDB inserts ascending keys into its
        memtable much faster than random ones, which doubled batch throughput for tables whose
        ids hash a natural key."""
        core = self.core
        store = core.store
        rows_h, ids_h, index_h, keys_h = (store.handle[n] for n in ("rows", "ids", "index", "keys"))
        tid, table = layout.tid, layout.table
        rid_list = [rid for rid, _ in rids]
        # Tables with vectors store each row's HNSW label (its row number) as the value of its index
        # entries, so a pre-filter yields labels straight from the index scan.
        labelled = bool(table.embedding_fields)
        existing, labels = self._stored_versions(layout, [rid for rid, may_exist in rids if may_exist])
        now = now_iso() if replay is None else replay.ts
        batch = store.batch()
        id_strings = idmod.to_strs(rid_list)
        records = [{"id": id_string, **body} for id_string, body in zip(id_strings, bodies, strict=True)]
        previous, latest = _stamp(records, rid_list, existing, now)
        count = core.counts.get(table.table_id, 0)
        rownum = core.next_rownum
        # Rows and ids go into the batch in id order (stable: a key repeated in the chunk keeps its
        # input order); new UUIDv7s ascend already.
        maybe_unsorted = any(may_exist for _, may_exist in rids)
        order = sorted(range(len(rid_list)), key=rid_list.__getitem__) if maybe_unsorted else range(len(rid_list))
        if previous is None:
            fresh = [rid_list[position] for position in order]
        else:
            fresh = [rid_list[position] for position in order if previous[position] is None]
        put = batch.put
        numbers = range(rownum, rownum + len(fresh))
        pack = codec.u64
        for rid, number in zip(fresh, numbers, strict=True):
            put(rid, tid + pack(number), ids_h)
        labels.update(zip(fresh, numbers, strict=True))  # every row's: the fuzzy index keys rows by it too
        rownum += len(fresh)
        count += len(fresh)
        if previous is not None:
            count += sum(1 for old in previous if old is not None and old.get("deleted_at"))  # revived
        effects = Effects()
        hooks = core.hooks(table.name)
        if hooks:
            chunk = RowChunk(
                layout, batch, rids, rid_list, bodies, records, previous, existing, labels,
                field_vectors or None, configs or {}, inline_edges, replay, effects,
            )  # fmt: skip
            for hook in hooks:
                hook.write(chunk)
            edge_log = chunk.edge_log
        else:
            edge_log = None
        # Every row is encoded once, in input order, straight into the change-log entry; the row
        # values are slices of it. Keeping each dumps() result alive instead fragments the heap
        # (orjson allocates 1 KiB per call): that measured 2 µs a row.
        dumps = orjson.dumps
        seq = core.next_seq
        entry = RowsPut.head(seq, now, table.name, configs or {}, edge_log)
        rows_at = len(entry)
        entry += b"["
        starts, ends = [], []
        for record in records:
            starts.append(len(entry))
            entry += dumps(record)
            ends.append(len(entry))
            entry += b","
        if records:
            entry[-1] = 0x5D  # "]"
        else:
            entry += b"]"
        rows_end = len(entry)
        vector_log = (
            {name: [None if v is None else v.tobytes() for v in values] for name, values in field_vectors.items()}
            if field_vectors
            else None
        )
        RowsPut.finish(entry, rows_at, vector_log)
        log_value = bytes(entry)
        del entry
        for position in order:
            put(tid + rid_list[position], log_value[starts[position] : ends[position]], rows_h)
        index_values = [codec.u64(labels[rid]) for rid in rid_list] if labelled else None
        for column, single in layout.index_key_columns(records, rid_list):
            _put_keys(put, column, index_values, index_h, single)
        if layout.stores_lookup_keys:
            _put_keys(put, [layout.lookup_keys(r, rid) for r, rid in zip(records, rid_list, strict=True)], None, keys_h)
        if previous is not None:
            self._drop_stale_keys(batch, layout, rid_list, previous, latest)
        put(count_key(tid), codec.u64(count), store.handle["meta"])
        if rownum != core.next_rownum:
            put(NEXT_ROWNUM_KEY, codec.u64(rownum), store.handle["meta"])
            effects.next_rownum = rownum
        committed = RowsPut(
            seq, now, table.name, memoryview(log_value)[rows_at:rows_end], vector_log, configs, **(edge_log or {})
        )
        committed._raw = log_value
        effects.counts[table.table_id] = count
        core.commit(batch, committed, effects)
        return id_strings

    def _stored_versions(
        self, layout: TableLayout, maybe: list[bytes]
    ) -> tuple[dict[bytes, dict[str, Any]], dict[bytes, int]]:
        """The stored rows among `maybe` ids, and their row numbers.

        Asks the id directory key by key: with its bloom filters that measured 0.16 µs an absent
        id, against 0.40 µs through rocksdict's multi-get."""
        store, tid = self.core.store, layout.tid
        if not maybe or (len(maybe) > 64 and next(store.iter_keys("rows", tid, layout.tid_end), None) is None):
            return {}, {}  # an empty table: a bulk load skips reading for previous versions
        in_directory = store.cf["ids"].get
        entries = {rid: entry for rid in maybe if (entry := in_directory(rid)) is not None and entry[:4] == tid}
        if not entries:
            return {}, {}
        read_row = store.cf["rows"].get
        existing = {rid: orjson.loads(value) for rid in entries if (value := read_row(tid + rid)) is not None}
        labels = {rid: codec.read_u64(entry, 4) for rid, entry in entries.items()}
        return existing, labels

    def _drop_stale_keys(
        self,
        batch: Any,
        layout: TableLayout,
        rid_list: list[bytes],
        previous: list[dict[str, Any] | None],
        latest: dict[bytes, dict[str, Any]],
    ) -> None:
        """Delete the index and lookup keys of replaced versions that the final version does not
        have. Runs after every put of the chunk, so a key that an earlier version in the same chunk
        put (A, then B, then A again) ends as the final version says."""
        store = self.core.store
        stale: dict[bytes, tuple[set[bytes], set[bytes]]] = {}
        for rid, old in zip(rid_list, previous, strict=True):
            if old is not None and not old.get("deleted_at"):
                index_keys, lookup_keys = stale.setdefault(rid, (set(), set()))
                index_keys |= layout.index_keys(old, rid)
                lookup_keys |= layout.lookup_keys(old, rid)
        for rid, (index_keys, lookup_keys) in stale.items():
            final = latest[rid]
            for key in index_keys - layout.index_keys(final, rid):
                batch.delete(key, store.handle["index"])
            for key in lookup_keys - layout.lookup_keys(final, rid):
                batch.delete(key, store.handle["keys"])

    def update(
        self, record_id: str, changes: dict[str, Any], *, vectors: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Merge `changes` into a live record (top-level keys), re-validate, bump `modified_at`.
        Only embedding fields whose text changed are re-embedded."""
        if not isinstance(changes, dict):
            raise InvalidInput(f"changes must be a JSON object, got {type(changes).__name__}")
        for system in ("id", "created_at", "modified_at", "deleted_at"):
            if system in changes:
                raise ValidationError(f"'{system}' is a system field and cannot be updated", field=system)
        with self.core.store.write_lock:
            rid = idmod.to_bytes(record_id)
            table_name, current = self.core.get_raw(rid)
            layout = self.core.layout(table_name)
            merged = {k: v for k, v in current.items() if k not in ("created_at", "modified_at", "deleted_at")}
            merged.update(changes)
            body = self.core.registry.validator(table_name).validate(merged)
            new_rid, _ = self._record_id(layout, dict(body))
            if new_rid != rid:
                raise ValidationError(
                    f"{table_name}: changing the natural key {layout.table.key_field_spec!r} would change the "
                    "record's id; insert a new record and delete this one",
                    field=layout.table.key_field[0],
                )
            body.pop("id", None)
            field_vectors: FieldBatch = {}
            configs: dict[str, dict[str, Any]] = {}
            # a table without embedding fields never builds its vectors (that imports numpy: ~200 ms
            # the first time in a process, which a first update should not pay)
            table_vectors = self.core.vectors(table_name) if layout.table.embedding_fields else None
            if table_vectors:
                touched = {name.split(".")[0] for name in table_vectors.fields}
                skip = frozenset(
                    name
                    for name in table_vectors.fields
                    if name.split(".")[0] not in changes and name not in (vectors or {})
                )
                if touched - {n.split(".")[0] for n in skip}:
                    field_vectors, configs = table_vectors.compute(
                        [body], {n: [v] for n, v in (vectors or {}).items()}, skip=skip
                    )
            elif vectors:
                raise InvalidInput(f"vectors given, but {table_name} has no embedding_fields")
            self.write_rows(layout, [body], [(rid, True)], field_vectors, configs)
        return self.core.get_raw(rid)[1]

    def delete(self, record_id: str, hard: bool = False) -> None:
        """Soft delete (sets `deleted_at`, hides the record) or, with hard=True, remove it entirely."""
        rid = idmod.to_bytes(record_id)
        if type(hard) is not bool:  # it is written into the change log
            raise InvalidInput(f"hard must be True or False, got {shown(hard)}")
        with self.core.store.write_lock:
            table_name, record = self.core.get_raw(rid, include_deleted=hard)
            self.delete_row(table_name, rid, record, hard, now_iso())

    def delete_row(self, table_name: str, rid: bytes, record: dict[str, Any], hard: bool, now: str) -> None:
        """Delete one row as of time `now` (the source's, when a logged delete is applied)."""
        core = self.core
        store = core.store
        layout = core.layout(table_name)
        batch = store.batch()
        live = not record.get("deleted_at")
        if live:
            for key in layout.index_keys(record, rid):
                batch.delete(key, store.handle["index"])
            for key in layout.lookup_keys(record, rid):
                batch.delete(key, store.handle["keys"])
        rownum = codec.read_u64(store.cf["ids"][rid], 4)
        effects = Effects()
        deletion = RowDeletion(layout, batch, rid, record, hard, live, rownum, effects)
        for hook in core.hooks(table_name):
            hook.delete(deletion)
        if hard:
            batch.delete(layout.tid + rid, store.handle["rows"])
            batch.delete(rid, store.handle["ids"])
        else:
            record["deleted_at"] = now
            record["modified_at"] = now
            batch.put(layout.tid + rid, orjson.dumps(record), store.handle["rows"])
        count = core.counts.get(layout.table.table_id, 0) - (1 if live else 0)
        batch.put(count_key(layout.tid), codec.u64(count), store.handle["meta"])
        effects.counts[layout.table.table_id] = count
        entry = RowsDeleted(core.next_seq, now, table_name, [idmod.to_str(rid)], hard, deletion.edges_removed)
        core.commit(batch, entry, effects)
