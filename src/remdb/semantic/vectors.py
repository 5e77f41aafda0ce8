"""Vectors of a table's embedding fields: stored in RocksDB, indexed by HNSW as derived state.

Source of truth, written in the row's WriteBatch (column family `vectors`):
    b"v" + table_id(4) + encode(field) + version(4) + id(16) -> float32 vector bytes
    b"r" + rownum(8)                            -> table_id(4) + id(16)   (HNSW label -> row)
    b"c" + table_id(4) + encode(field)          -> orjson {provider, model, dimension, metric}
The HNSW label of a row is its row number (`ids` column family), which never changes and is never
reused. The index file `<tenant>/vectors/<table_id>-<field>-v<version>.hnsw` records the change-log sequence it
reflects. It is loaded lazily (first search), caught up from the change log (entries after its
sequence name the rows to re-read), or rebuilt from the stored vectors when it is missing, torn, or
newer than the log. It is saved on close and after every `SAVE_EVERY` changes, so a kill -9 loses
no searchable row: the next open catches the file up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rocksdict import WriteBatch

from remdb.errors import InvalidInput, StorageError, WalTruncated
from remdb.schema.model import TableSchema
from remdb.semantic.keys import CONFIG, VECTOR, row_label_key
from remdb.storage import codec
from remdb.storage.engine import Store

SAVE_EVERY = 50_000


class FieldVectors:
    """One embedding field of one table."""

    def __init__(self, store: Store, table: TableSchema, field: str, directory: Path) -> None:
        self.store = store
        self.table = table.name
        self.field = field
        self.metric = table.embedding_metric
        self.tid = codec.u32(table.table_id)
        self.field_prefix = VECTOR + self.tid + codec.encode(field)
        self.config_key = CONFIG + self.tid + codec.encode(field)
        self.directory = directory
        self.table_id = table.table_id
        raw = store.cf["vectors"].get(self.config_key)
        self.config: dict[str, Any] | None = orjson.loads(raw) if raw else None
        self.index: Any = None  # remdb.vector.VectorIndex once loaded
        self.index_seq = 0
        self.unsaved = 0
        self.lock = threading.RLock()

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
    def check_config(self, provider: dict[str, Any]) -> dict[str, Any] | None:
        """The config to store with the first vectors; refuses a different vector space later."""
        if self.config is None:
            return {**provider, "metric": self.metric}
        if self.config["dimension"] != provider["dimension"]:
            raise InvalidInput(
                f"{self.table}.{self.field} holds {self.config['dimension']}-d vectors "
                f"({self.config['provider']}/{self.config['model']}); got {provider['dimension']}-d "
                f"({provider['provider']}/{provider['model']}): use `rem reembed` to switch models"
            )
        return None

    def put_config(self, batch: WriteBatch, config: dict[str, Any]) -> None:
        batch.put(self.config_key, orjson.dumps(config), self.store.handle["vectors"])

    # ------------------------------------------------------------------ writes
    def put_ops(self, batch: WriteBatch, rid: bytes, rownum: int, vector: np.ndarray) -> None:
        handle = self.store.handle["vectors"]
        batch.put(self.prefix + rid, vector.tobytes(), handle)
        batch.put(row_label_key(rownum), self.tid + rid, handle)

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
            self.index_seq = seq
            self.unsaved += len(adds) + len(removes)
            if self.unsaved >= SAVE_EVERY:
                self.save()

    # ------------------------------------------------------------------ the derived index
    def ensure_index(
        self, wal_seq: int, wal_after: Callable[[int], Any], rownum_of: Callable[[list[bytes]], list[int | None]]
    ) -> Any:
        """The loaded index, caught up to `wal_seq` (loading or rebuilding it first if needed)."""
        with self.lock:
            if self.index is None:
                self._load_or_rebuild(wal_seq, rownum_of)
            if self.index_seq < wal_seq:
                self._catch_up(wal_seq, wal_after, rownum_of)
            return self.index

    def _new_index(self) -> Any:
        from remdb.vector import VectorIndex

        if self.config is None:
            raise StorageError(f"{self.table}.{self.field} has no vectors yet")
        return VectorIndex(self.config["dimension"], self.config.get("metric", self.metric))

    def _load_or_rebuild(self, wal_seq: int, rownum_of: Callable[[list[bytes]], list[int | None]]) -> None:
        from remdb.vector import VectorIndex

        if self.path.exists():
            try:
                index, seq = VectorIndex.load(self.path)
                if seq <= wal_seq and self.config and index.dimension == self.config["dimension"]:
                    self.index, self.index_seq = index, seq
                    return
            except StorageError:
                pass  # torn or foreign: rebuilt below from the source of truth
        self.rebuild(wal_seq, rownum_of)

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
        touched: dict[bytes, int | None] = {}
        try:
            entries = wal_after(self.index_seq)
        except WalTruncated:  # the log no longer reaches back to this index: rebuild it
            self.rebuild(wal_seq, rownum_of)
            return
        for entry in entries:
            if entry.get("table") != self.table:
                continue
            op = entry["op"]
            if op == "put":
                for row in entry["rows"]:
                    touched[bytes.fromhex(row["id"].replace("-", ""))] = None
            elif op == "delete":
                for rid_text, rownum in zip(entry["ids"], entry.get("rownums", []), strict=False):
                    touched[bytes.fromhex(rid_text.replace("-", ""))] = rownum
            elif op in ("drop_schema", "reembed"):
                self.rebuild(wal_seq, rownum_of)
                return
        if touched:
            rids = list(touched)
            current = rownum_of(rids)
            values = self.store.cf["vectors"][[self.prefix + r for r in rids]]
            adds, removes = [], []
            dim = self.config["dimension"] if self.config else 0
            for rid, label, value in zip(rids, current, values, strict=True):
                label = label if label is not None else touched[rid]
                if label is None:
                    continue
                if value is None:
                    removes.append(label)
                else:
                    adds.append((label, np.frombuffer(value, dtype=np.float32, count=dim)))
            if removes:
                self.index.remove(np.asarray(removes, dtype=np.uint64))
            if adds:
                self.index.add(np.asarray([a for a, _ in adds], dtype=np.uint64), np.stack([v for _, v in adds]))
            self.unsaved += len(adds) + len(removes)
        self.index_seq = wal_seq

    def save(self, force: bool = False) -> None:
        """Write the index file if it has unsaved changes (`force`: also when only its seq moved)."""
        with self.lock:
            if self.index is None or (self.unsaved == 0 and not force):
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.index.save(self.path, seq=self.index_seq)
            self.unsaved = 0

    def drop_files(self) -> None:
        with self.lock:
            self.index = None
            for stale in self.directory.glob(f"{self.table_id}-{self.field}-v*.hnsw"):
                stale.unlink(missing_ok=True)
