"""remdb's own change log: one entry per logical change, in the `wal` column family.

RocksDB has a write-ahead log of its own; this one is remdb's replication and catch-up feed: an
entry is written in the same WriteBatch as the change it describes, so it exists exactly when the
change does. Keys are big-endian sequence numbers (scans are in order); values are orjson objects:
    {"seq", "ts", "op": "put", "table", "rows": [record, ...]}
    {"seq", "ts", "op": "delete", "table", "ids": [...], "hard": bool, "at"}
    {"seq", "ts", "op": "schema" | "drop_schema", "table", ...}

The log keeps every entry until `truncate()` removes a prefix of it. The first kept seq (the
floor) is stored in `meta`, so sequence numbers never restart, even when every entry is gone, and a
reader asking for removed entries gets `WalTruncated` instead of a silent gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

import orjson
from rocksdict import WriteBatch

from remdb.errors import InvalidInput, WalTruncated
from remdb.storage import codec
from remdb.storage.clock import now_iso
from remdb.storage.engine import Store

FLOOR_KEY = b"wal_floor"


class WAL:
    def __init__(self, store: Store) -> None:
        self._store = store
        floor = store.cf["meta"].get(FLOOR_KEY)
        self.floor = codec.read_u64(floor) if floor is not None else 1  # the oldest seq that may exist
        last = store.last_key("wal")
        self.seq = codec.read_u64(last) if last is not None else self.floor - 1
        self._pending = self.seq

    def _next(self) -> int:
        self._pending = self.seq + 1
        return self._pending

    def append(self, batch: WriteBatch, entry: dict[str, Any]) -> int:
        seq = self._next()
        value = orjson.dumps({"seq": seq, "ts": now_iso(), **entry})
        batch.put(codec.u64(seq), value, self._store.handle["wal"])
        return seq

    def rows_head(self, op: str, table: str) -> bytes:
        """Reserve the next seq for a row-carrying entry and return its JSON up to the rows array
        (`{..., "rows":[`): the caller appends the rows' JSON, closes the array and object, and
        hands the whole to `put_entry`, so no row is encoded twice."""
        seq = self._next()
        return orjson.dumps({"seq": seq, "ts": now_iso(), "op": op, "table": table})[:-1] + b',"rows":['

    def put_entry(self, batch: WriteBatch, value: bytes) -> None:
        batch.put(codec.u64(self._pending), value, self._store.handle["wal"])

    def commit(self) -> None:
        """Call after the batch holding the entry was written."""
        self.seq = self._pending

    def iter_after(self, after_seq: int) -> Iterator[dict[str, Any]]:
        """Every entry with seq > after_seq, oldest first (catch-up of derived indexes). Raises
        WalTruncated at once (not on the first next()) when some of them were removed."""
        self._check_kept(after_seq)
        return (orjson.loads(value) for _key, value in self._store.iter_from("wal", codec.u64(after_seq + 1)))

    def _check_kept(self, after_seq: int) -> None:
        if after_seq < self.floor - 1:
            raise WalTruncated(
                f"change-log entries up to seq {self.floor - 1} were truncated; "
                f"read after seq {self.floor - 1} or later (a reader that far behind must start from a copy)"
            )

    def truncate(self, before_seq: int) -> int:
        """Remove every entry with seq < before_seq (at most up to the last one). Returns how many
        were removed. One range delete and a new floor, in one batch; then the range is compacted
        so the disk space comes back."""
        before_seq = min(before_seq, self.seq + 1)
        if before_seq <= self.floor:
            return 0
        removed = before_seq - self.floor
        batch = self._store.batch()
        start, end = codec.u64(self.floor), codec.u64(before_seq)
        batch.delete_range(start, end, self._store.handle["wal"])
        batch.put(FLOOR_KEY, end, self._store.handle["meta"])
        self._store.write(batch)
        self.floor = before_seq
        self._store.cf["wal"].compact_range(start, end)
        return removed

    def read(self, after_seq: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Entries with seq > after_seq (None: from the oldest kept), oldest first."""
        if after_seq is None:
            after_seq = self.floor - 1
        if after_seq < 0 or limit < 0:
            raise InvalidInput("after_seq and limit must be >= 0")
        return list(islice(self.iter_after(after_seq), limit))
