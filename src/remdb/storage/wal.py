"""remdb's own change log: one entry per logical change, in the `wal` column family.

RocksDB has a write-ahead log of its own; this one is remdb's replication and catch-up feed: an
entry is written in the same WriteBatch as the change it describes, so it exists exactly when the
change does. Keys are big-endian sequence numbers (scans are in order); values are orjson objects:
    {"seq", "ts", "op": "put", "table", "rows": [record, ...]}
    {"seq", "ts", "op": "delete", "table", "ids": [...], "hard": bool, "at"}
    {"seq", "ts", "op": "schema" | "drop_schema", "table", ...}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from rocksdict import WriteBatch

from remdb.errors import InvalidInput
from remdb.storage import codec
from remdb.storage.clock import now_iso
from remdb.storage.engine import Store


class WAL:
    def __init__(self, store: Store) -> None:
        self._store = store
        last = store.last_key("wal")
        self.seq = codec.read_u64(last) if last is not None else 0
        self._pending = self.seq

    def _next(self) -> int:
        self._pending = self.seq + 1
        return self._pending

    def append(self, batch: WriteBatch, entry: dict[str, Any]) -> int:
        seq = self._next()
        value = orjson.dumps({"seq": seq, "ts": now_iso(), **entry})
        batch.put(codec.u64(seq), value, self._store.handle["wal"])
        return seq

    def append_rows(self, batch: WriteBatch, op: str, table: str, rows: list[dict[str, Any]]) -> int:
        """A row-carrying entry: the rows are encoded in one orjson call (one buffer for the chunk)."""
        seq = self._next()
        head = orjson.dumps({"seq": seq, "ts": now_iso(), "op": op, "table": table})
        value = head[:-1] + b',"rows":' + orjson.dumps(rows) + b"}"
        batch.put(codec.u64(seq), value, self._store.handle["wal"])
        return seq

    def commit(self) -> None:
        """Call after the batch holding the entry was written."""
        self.seq = self._pending

    def iter_after(self, after_seq: int) -> Iterator[dict[str, Any]]:
        """Every entry with seq > after_seq, oldest first (catch-up of derived indexes)."""
        for _key, value in self._store.cf["wal"].items(from_key=codec.u64(after_seq + 1)):
            yield orjson.loads(value)

    def read(self, after_seq: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        if after_seq < 0 or limit < 0:
            raise InvalidInput("after_seq and limit must be >= 0")
        out: list[dict[str, Any]] = []
        if limit == 0:
            return out
        for _key, value in self._store.cf["wal"].items(from_key=codec.u64(after_seq + 1)):
            out.append(orjson.loads(value))
            if len(out) >= limit:
                break
        return out
