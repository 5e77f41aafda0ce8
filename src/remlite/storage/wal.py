"""remlite's own change log and its one commit path, in the `wal` column family.

RocksDB has a write-ahead log of its own; this one is remlite's replication and catch-up feed: an
entry (a typed `remlite.storage.changelog.Entry`) is written in the same WriteBatch as the change it
describes, so it exists exactly when the change does. Keys are big-endian sequence numbers (scans
are in order).

Every logged change goes through `TenantCore.commit`, which calls `WAL.commit(batch, entry)`: under
the store's write lock it checks the entry holds the next seq, puts the encoded entry in the batch,
writes the batch and advances the seq; the core then tells its listeners (counters, loaded vector
indexes, spans) while it still holds the lock. Writes to the store outside this path are
classified:
    derived (rebuilt from logged state, so replay recomputes them): remlite.migrate's index-backfill
        batches written before the `SchemaPut` that publishes them, their build marker and the
        removal of an interrupted build's leftovers; a moments table's longest-span counter
        (remlite.moments, recomputed from the rows); the trigrams `remlite.fuzzy.backfill` writes
        for a table registered before the `fuzzy` family existed, with its `fuzzy:tid` marker (a
        replica's tables are registered with the marker and keep their grams from the first row);
        HNSW index files (outside RocksDB);
    local (this database's own, meaningless elsewhere): the vector-index identity `database_id`
        (binds index files to this database), the log's floor (`truncate`), the `initialised`
        flag, when the daily purge last ran (`maintained_at`, `remlite.ops.space`), and a database's
        place in replication (`replica:<name>` on a primary, `replica_of` on a replica: single
        puts by `remlite.replication.registry`, outside any batch). The built-in
        templates are registered by every new database alike and logged, so logs of one lineage
        agree from seq 1.

The log keeps every entry until `truncate()` removes a prefix of it. The first kept seq (the
floor) is stored in `meta`, so sequence numbers never restart, even when every entry is gone, and a
reader asking for removed entries gets `WalTruncated` instead of a silent gap.

Encryption at rest (`remlite.storage.crypto`) adds local writes made by the store itself
(`Store._check_encryption`, `Store.rotate_passphrase`): the `encrypted` marker and the wrapped
`data_key` of a database created with a passphrase, and the data key re-wrapped under a new one.
A replica has its own key; entries carry plaintext (sealed again by whoever stores them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from rocksdict import WriteBatch

from remlite.errors import InvalidInput, StorageError, WalTruncated
from remlite.storage import codec
from remlite.storage.changelog import Entry
from remlite.storage.engine import Store
from remlite.storage.keyspace import FLOOR_KEY, wal_key


class WAL:
    def __init__(self, store: Store) -> None:
        self._store = store
        floor = store.cf["meta"].get(FLOOR_KEY)
        self.floor = codec.read_u64(floor) if floor is not None else 1  # the oldest seq that may exist
        last = store.last_key("wal")
        self.seq = codec.read_u64(last) if last is not None else self.floor - 1
        # The seq of the last commit touching each table since open ("" for edges): what the SQL
        # column cache asks instead of re-reading the log.
        self._touched: dict[str, int] = {}

    @property
    def next_seq(self) -> int:
        """The seq the next commit takes; stable while the caller holds the write lock."""
        return self.seq + 1

    def commit(self, batch: WriteBatch, entry: Entry) -> Entry:
        """Write `batch` with `entry` as one atomic change, then advance the seq. The entry's seq
        must be `next_seq`. Called by `TenantCore.commit` only."""
        store = self._store
        with store.write_lock:
            if entry.seq != self.seq + 1:
                raise StorageError(f"change-log entry has seq {entry.seq}; the next is {self.seq + 1}")
            batch.put(wal_key(entry.seq), entry.to_bytes(), store.handle["wal"])
            store.write(batch)
            # Touched before the seq moves: a lock-free reader that sees the new seq must also see
            # the table touched, or the column cache would adopt that seq for a stale entry.
            self._touched[entry.table or ""] = entry.seq
            self.seq = entry.seq
        return entry

    def changed_since(self, tables: Iterable[str], seq: int) -> bool:
        """Whether a commit after `seq` touched one of `tables` (only commits since open are known:
        callers hold no state older than that)."""
        touched = self._touched
        return any(touched.get(table, 0) > seq for table in tables)

    def iter_after(self, after_seq: int) -> Iterator[Entry]:
        """Every entry with seq > after_seq, oldest first (catch-up of derived indexes). Raises
        WalTruncated at once (not on the first next()) when some of them were removed."""
        self._check_kept(after_seq)
        return (Entry.from_bytes(value) for _key, value in self._store.iter_from("wal", wal_key(after_seq + 1)))

    def entry_at(self, seq: int) -> Entry | None:
        raw = self._store.cf["wal"].get(wal_key(seq))
        return Entry.from_bytes(raw) if raw is not None else None

    def _check_kept(self, after_seq: int) -> None:
        if after_seq < self.floor - 1:
            raise WalTruncated(
                f"change-log entries up to seq {self.floor - 1} were truncated; "
                f"read after seq {self.floor - 1} or later (a reader that far behind must start from a copy)"
            )

    def truncate(self, before_seq: int) -> int:
        """Remove every entry with seq < before_seq (at most up to the last one). Returns how many
        were removed. One range delete and a new floor, in one batch (a local write: the floor is
        this log's, not a change); then the range is compacted so the disk space comes back."""
        before_seq = min(before_seq, self.seq + 1)
        if before_seq <= self.floor:
            return 0
        removed = before_seq - self.floor
        batch = self._store.batch()
        start, end = wal_key(self.floor), wal_key(before_seq)
        batch.delete_range(start, end, self._store.handle["wal"])
        batch.put(FLOOR_KEY, end, self._store.handle["meta"])
        self._store.write(batch)
        self.floor = before_seq
        self._store.cf["wal"].compact_range(start, end)
        return removed

    def entries(self, after_seq: int | None = None, limit: int = 100) -> list[Entry]:
        """Entries with seq > after_seq (None: from the oldest kept), oldest first."""
        if after_seq is None:
            after_seq = self.floor - 1
        if after_seq < 0 or limit < 0:
            raise InvalidInput("after_seq and limit must be >= 0")
        return list(islice(self.iter_after(after_seq), limit))

    def read(self, after_seq: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """`entries` as JSON objects (the view `Database.wal()` returns)."""
        return [entry.to_json() for entry in self.entries(after_seq, limit)]
