"""Vectors of a table's embedding fields: stored in RocksDB, indexed by HNSW as derived state.

Source of truth, written in the row's WriteBatch (column family `vectors`, shapes in
`remlite.storage.keyspace`): the vectors per (table, field, version), the field's config (provider,
model, dimension, metric) and the row label (rownum -> table id + row id).
The HNSW label of a row is its row number (`ids` column family), which never changes and is never
reused. The index file `<tenant>/vectors/<table_id>-<field>-v<version>.hnsw` records the change-log sequence it
reflects. It is loaded lazily (first search), caught up from the change log (entries after its
sequence name the rows to re-read; a hard delete's freed label is found by its missing row-label
key), or rebuilt from the stored
vectors when it is missing, torn, newer than the log, or not provably this database's state at its
sequence. It is saved on close and after every `SAVE_EVERY` changes, so a kill -9 loses no
searchable row: the next open catches the file up.

Why a file is bound to more than its sequence: a sequence alone cannot tell a restored backup, a
log that lost its tail to a power cut and then grew again, or a file copied from another database
from the real thing. So a saved file records the database's identity (a random id in `meta`) and a
digest of the change-log entry at its sequence; a file that disagrees with either is rebuilt.

`generation` counts vector-space switches (first config, re-embed). Writers embed before taking the
write lock and compare it under the lock; searches compare it under the field's lock; a mismatch
means the text was embedded for a space that is no longer current, so it is embedded again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rocksdict import WriteBatch

from remlite.errors import InvalidInput, StorageError, WalTruncated
from remlite.schema.model import TableSchema
from remlite.storage import codec, keyspace
from remlite.storage.changelog import Reembedded, RowsDeleted, RowsPut, SchemaDropped
from remlite.storage.engine import Store

SAVE_EVERY = 50_000
_ID_LOCK = threading.Lock()


def database_id(store: Store, create: bool = False) -> str | None:
    """This database's identity (None if it never needed one and `create` is False)."""
    meta = store.cf["meta"]
    raw = meta.get(keyspace.DATABASE_ID_KEY)
    if raw is None and create:
        with _ID_LOCK:
            raw = meta.get(keyspace.DATABASE_ID_KEY)
            if raw is None:
                raw = os.urandom(16).hex().encode()
                batch = store.batch()
                batch.put(keyspace.DATABASE_ID_KEY, raw, store.handle["meta"])
                store.write(batch)
    return raw.decode() if raw is not None else None


def log_entry_digest(store: Store, seq: int) -> str | None:
    """Digest of the change-log entry at `seq` (None when there is none): what an index file saved
    at `seq` must match to be this history's state."""
    raw = store.cf["wal"].get(keyspace.wal_key(seq))
    return hashlib.blake2b(raw, digest_size=16).hexdigest() if raw is not None else None


def _rid(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


class FieldVectors:
    """One embedding field of one table."""

    def __init__(self, store: Store, table: TableSchema, field: str, directory: Path) -> None:
        self.store = store
        self.table = table.name
        self.field = field
        self.metric = table.embedding_metric
        self.tid = keyspace.table_prefix(table.table_id)
        self.field_prefix = keyspace.vector_field_prefix(self.tid, field)
        self.config_key = keyspace.vector_config_key(self.tid, field)
        self.directory = directory
        self.table_id = table.table_id
        raw = store.cf["vectors"].get(self.config_key)
        # (generation, config) in one attribute, so a reader never pairs one's old value with the other's new
        self.space: tuple[int, dict[str, Any] | None] = (0, orjson.loads(raw) if raw else None)
        self.index: Any = None  # remlite.vector.VectorIndex once loaded
        self.index_seq = 0
        self.unsaved = 0
        self.lock = threading.RLock()

    @property
    def config(self) -> dict[str, Any] | None:
        return self.space[1]

    @config.setter
    def config(self, value: dict[str, Any] | None) -> None:
        with self.lock:
            self.space = (self.space[0] + 1, value)

    @property
    def generation(self) -> int:
        return self.space[0]

    @property
    def version(self) -> int:
        """Vector-space version: bumped by a re-embed, which writes the new vectors beside the old."""
        return int(self.config.get("version", 1)) if self.config else 1

    def prefix_of(self, version: int) -> bytes:
        return self.field_prefix + codec.u32(version)

    @property
    def prefix(self) -> bytes:
        return self.prefix_of(self.version)

    def path_of(self, version: int) -> Path:
        return self.directory / f"{self.table_id}-{self.field}-v{version}.hnsw"

    @property
    def path(self) -> Path:
        return self.path_of(self.version)

    # ------------------------------------------------------------------ configuration
    def check_config(self, provider: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any] | None:
        """The config to store with the first vectors; refuses a different vector space later.
        `config` is the field's config as read before embedding (it may have changed since)."""
        if config is None:
            return {**provider, "metric": self.metric}
        if config["dimension"] != provider["dimension"]:
            raise InvalidInput(
                f"{self.table}.{self.field} holds {config['dimension']}-d vectors "
                f"({config['provider']}/{config['model']}); got {provider['dimension']}-d "
                f"({provider['provider']}/{provider['model']}): use `remlite reembed` to switch models"
            )
        return None

    def put_config(self, batch: WriteBatch, config: dict[str, Any]) -> None:
        batch.put(self.config_key, orjson.dumps(config), self.store.handle["vectors"])

    # ------------------------------------------------------------------ reads
    def stored(self, rids: Sequence[bytes], version: int | None = None) -> list[bytes | None]:
        """The rows' stored vectors (raw float32, None where a row has none) in one multi-get: what
        export, ingest (a chunk moved to another ordinal keeps its vector) and `db.vectors` read
        instead of embedding again."""
        if not rids:
            return []
        prefix = self.prefix if version is None else self.prefix_of(version)
        return list(self.store.cf["vectors"][[prefix + rid for rid in rids]])

    # ------------------------------------------------------------------ writes
    def put_ops(self, batch: WriteBatch, rid: bytes, rownum: int, vector: np.ndarray) -> None:
        handle = self.store.handle["vectors"]
        batch.put(self.prefix + rid, vector.tobytes(), handle)
        batch.put(keyspace.row_label_key(rownum), self.tid + rid, handle)

    def delete_ops(self, batch: WriteBatch, rid: bytes) -> None:
        batch.delete(self.prefix + rid, self.store.handle["vectors"])

    def apply(self, adds: list[tuple[int, np.ndarray]], removes: list[int], seq: int) -> None:
        """Reflect a written batch in the loaded index (if any): it now matches change `seq`."""
        with self.lock:
            if self.index is None:
                return
            if removes:
                self.index.remove(np.asarray(removes, dtype=np.uint64))
            if adds:
                labels = np.fromiter((label for label, _ in adds), dtype=np.uint64, count=len(adds))
                self.index.add(labels, np.stack([v for _, v in adds]))
            self.index_seq = max(self.index_seq, seq)  # a catch-up may have read past this write already
            self.unsaved += len(adds) + len(removes)
            if self.unsaved >= SAVE_EVERY:
                self.save()

    # ------------------------------------------------------------------ the derived index
    def ensure_index(
        self, wal_seq: int, wal_after: Callable[[int], Any], rownum_of: Callable[[list[bytes]], list[int | None]]
    ) -> Any:
        """The loaded index, caught up to at least `wal_seq` (loading or rebuilding it first if needed)."""
        with self.lock:
            if self.index is None:
                self._load_or_rebuild(wal_seq, rownum_of)
                # To the log's end, not to `wal_seq` (read before the lock): a write committed since
                # found no index to apply to, and a later write's `apply` would skip past it.
                self._catch_up(wal_seq, wal_after, rownum_of)
            elif self.index_seq < wal_seq:
                self._catch_up(wal_seq, wal_after, rownum_of)
            return self.index

    def _new_index(self) -> Any:
        from remlite.vector import VectorIndex

        if self.config is None:
            raise StorageError(f"{self.table}.{self.field} has no vectors yet")
        return VectorIndex(self.config["dimension"], self.config.get("metric", self.metric))

    def _load_or_rebuild(self, wal_seq: int, rownum_of: Callable[[list[bytes]], list[int | None]]) -> None:
        from remlite.vector import VectorIndex

        if self.path.exists():
            try:
                info = VectorIndex.info(self.path, self.store.cipher)
                if self.trusts(info, wal_seq):
                    index, seq = VectorIndex.load(self.path, info=info)
                    if self.config and index.dimension == self.config["dimension"]:
                        self.index, self.index_seq = index, seq
                        return
            except StorageError:
                pass  # torn or foreign: rebuilt below from the source of truth
        self.rebuild(wal_seq, rownum_of)

    def trusts(self, info: Any, wal_seq: int) -> bool:
        """Whether a saved file (`persist.IndexFileInfo`) is this database's index as of its seq, so
        catching it up from the log is exact."""
        meta = info.meta
        if info.seq > wal_seq or meta.get("database") != database_id(self.store):
            return False
        digest = log_entry_digest(self.store, info.seq)
        if digest is None:
            # No entry: only right when the log was cut just after the file was saved (truncate_wal
            # checkpoints first); an older seq falls below the floor and catch-up would need the gap.
            raw_floor = self.store.cf["meta"].get(keyspace.FLOOR_KEY)
            return info.seq == (codec.read_u64(raw_floor) if raw_floor is not None else 1) - 1
        return bool(meta.get("log_entry") == digest)

    def rebuild(self, wal_seq: int, rownum_of: Callable[[list[bytes]], list[int | None]]) -> int:
        """Build the index from the stored vectors; returns how many it holds."""
        with self.lock:
            index = self._new_index()
            dim = self.config["dimension"] if self.config else 0
            rids: list[bytes] = []
            chunks: list[bytes] = []
            for key, value in self.store.iter_prefix("vectors", self.prefix):
                rids.append(key[-16:])
                chunks.append(value)
                if len(rids) >= 20_000:
                    self._add_raw(index, rids, chunks, dim, rownum_of)
                    rids, chunks = [], []
            self._add_raw(index, rids, chunks, dim, rownum_of)
            self.index, self.index_seq, self.unsaved = index, wal_seq, len(index)
            return len(index)

    @staticmethod
    def _add_raw(index: Any, rids: list[bytes], chunks: list[bytes], dim: int, rownum_of: Any) -> None:
        if not rids:
            return
        labels = rownum_of(rids)
        keep = [i for i, label in enumerate(labels) if label is not None]
        matrix = np.frombuffer(b"".join(chunks[i] for i in keep), dtype=np.float32).reshape(len(keep), dim)
        index.add(np.asarray([labels[i] for i in keep], dtype=np.uint64), matrix)

    def _catch_up(
        self, wal_seq: int, wal_after: Callable[[int], Any], rownum_of: Callable[[list[bytes]], list[int | None]]
    ) -> None:
        # Per touched row, the labels it held in the window: a hard delete frees a label that a later
        # re-insert of the same id does not reuse, so the delete entry's label must be removed too.
        freed: dict[bytes, set[int]] = {}
        last = wal_seq
        try:
            entries = wal_after(self.index_seq)
        except WalTruncated:  # the log no longer reaches back to this index: rebuild it
            self.rebuild(wal_seq, rownum_of)
            return
        hard_deleted = False
        for entry in entries:
            last = max(last, entry.seq)
            if entry.table != self.table:
                continue
            if isinstance(entry, RowsPut):
                for row in entry.rows:
                    freed.setdefault(_rid(row["id"]), set())
            elif isinstance(entry, RowsDeleted):
                for rid_text in entry.ids:
                    freed.setdefault(_rid(rid_text), set())
                hard_deleted = hard_deleted or entry.hard
            elif isinstance(entry, (SchemaDropped, Reembedded)):
                self.rebuild(wal_seq, rownum_of)
                return
        if hard_deleted:
            # The log names rows by id, not by this database's labels: a hard-deleted row's label is
            # found as a label whose row-label key is gone (rare: only a file behind the log).
            labels = [int(label) for label in self.index.labels()]
            targets = self.store.cf["vectors"][[keyspace.row_label_key(label) for label in labels]] if labels else []
            gone = [label for label, target in zip(labels, targets, strict=True) if target is None]
            if gone:
                self.index.remove(np.asarray(gone, dtype=np.uint64))
                self.unsaved += len(gone)
        if freed:
            rids = list(freed)
            values = self.store.cf["vectors"][[self.prefix + r for r in rids]]
            adds, removes = [], []
            dim = self.config["dimension"] if self.config else 0
            for rid, label, value in zip(rids, rownum_of(rids), values, strict=True):
                stale = freed[rid]
                if label is not None and value is not None:
                    adds.append((label, np.frombuffer(value, dtype=np.float32, count=dim)))
                    stale.discard(label)
                elif label is not None:
                    stale.add(label)  # soft-deleted, or no embedding source any more
                removes.extend(stale)
            if removes:
                self.index.remove(np.asarray(removes, dtype=np.uint64))
            if adds:
                self.index.add(np.asarray([a for a, _ in adds], dtype=np.uint64), np.stack([v for _, v in adds]))
            self.unsaved += len(adds) + len(removes)
        self.index_seq = last

    # ------------------------------------------------------------------ ghost labels
    def rids_of(self, labels: Sequence[int]) -> list[bytes | None]:
        """The row id each label names (its row-label key), None where the key is gone (hard delete)."""
        targets = self.store.cf["vectors"][[keyspace.row_label_key(label) for label in labels]] if len(labels) else []
        return [t[4:] if t is not None and t[:4] == self.tid else None for t in targets]

    def ghosts(self, labels: Sequence[int]) -> list[int]:
        """The labels of no live embedded row: the row-label key is gone (hard delete) or the row has
        no vector (soft delete, text removed — both delete it)."""
        rids = self.rids_of(labels)
        prefix = self.prefix
        present = iter(self.store.cf["vectors"][[prefix + rid for rid in rids if rid is not None]])
        return [label for label, rid in zip(labels, rids, strict=True) if rid is None or next(present) is None]

    def forget(self, labels: Sequence[int], generation: int) -> None:
        """Remove labels a search found to be ghosts, re-checked under the write lock (a concurrent
        write may have revived one), unless the index was replaced meanwhile."""
        with self.store.write_lock, self.lock:
            if self.index is None or self.generation != generation:
                return
            ghosts = self.ghosts(labels)
            if ghosts:
                self.index.remove(np.asarray(ghosts, dtype=np.uint64))
                self.unsaved += len(ghosts)

    def save(self, force: bool = False) -> None:
        """Write the index file if it has unsaved changes (`force`: also when only its seq moved)."""
        with self.lock:
            if self.index is None or (self.unsaved == 0 and not force) or self.store.read_only:
                return  # a read-only handle never writes: its writer saves the index files
            self.path.parent.mkdir(parents=True, exist_ok=True)
            binding = {
                "database": database_id(self.store, create=True),
                "log_entry": log_entry_digest(self.store, self.index_seq),
            }
            self.index.save(self.path, seq=self.index_seq, extra_meta=binding, cipher=self.store.cipher)
            self.unsaved = 0

    def drop_files(self) -> None:
        with self.lock:
            self.index = None
            for stale in self.directory.glob(f"{self.table_id}-{self.field}-v*.hnsw"):
                stale.unlink(missing_ok=True)
