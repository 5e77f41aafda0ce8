"""RocksDB (through rocksdict) opened with remdb's column families and options.

One `Store` is one tenant's database directory. All keys and values are raw bytes (`raw_mode`), so
rocksdict never pickles; values are orjson documents encoded by the layers above.

Column families (the on-disk layout, format version 1):
    meta     settings, format version, schemas, table ids, row counters
    rows     table_id(4) + id(16)                  -> record (orjson)
    ids      id(16)                                -> table_id(4) + rownum(8) (get by id without the table;
                                                     rownum labels the row in vector indexes)
    keys     encode(key) + table_id(4) + id(16)    -> ∅  (global natural-key/name lookup)
    index    table_id(4) + field_id(2) + encode(value) + id(16) -> ∅
    wal      seq(8)                                -> change entry (orjson)
    vectors  b"v" + table_id(4) + encode(field) + id(16) -> float32 vector; b"r" + rownum(8) -> table_id + id
    postings, textstats: BM25 postings and corpus counters (see remdb.text.index)
    edges_out src(16) + encode(type) + dst(16) -> orjson {properties, created_at}; edges_in: the reverse twin
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

from remdb.errors import DatabaseClosed, DatabaseLocked, FormatVersionError, StorageError
from remdb.storage.codec import prefix_end

FORMAT_VERSION = 1
COLUMN_FAMILIES = (
    "meta",
    "rows",
    "ids",
    "keys",
    "index",
    "wal",
    "vectors",
    "postings",
    "textstats",
    "edges_out",
    "edges_in",
)
_FORMAT_KEY = b"format_version"
_POINT_LOOKUP_FAMILIES = {"rows", "ids"}
# Memory budget: memtables are capped per column family and for the whole database, so RSS stays
# bounded under sustained writes (uncapped, 100k rows left ~176 MB resident).
_WRITE_BUFFER_PER_FAMILY = 4 << 20
_WRITE_BUFFER_TOTAL = 64 << 20


def _options(cache: Cache, bloom: bool) -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_compression_type(DBCompressionType.lz4())
    opts.set_write_buffer_size(_WRITE_BUFFER_PER_FAMILY)
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    if bloom:
        table.set_bloom_filter(10, False)
        # A bloom filter on the memtable too: looking up an absent id (every upsert of a new key
        # asks) measured 0.3 µs instead of 0.9 µs with 100k rows in the memtable.
        opts.set_memtable_whole_key_filtering(True)
        opts.set_memtable_prefix_bloom_ratio(0.05)
    opts.set_block_based_table_factory(table)
    return opts


class _ClosedFamilies(dict):  # type: ignore[type-arg]
    """Stands in for the column-family maps after close, so any use says why it fails."""

    def __missing__(self, key: str) -> Any:
        raise DatabaseClosed("the database is closed")


class Store:
    """One RocksDB database with remdb's column families, opened for reading and writing."""

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = False, cache_mb: int = 32) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_lock = threading.RLock()
        cache = Cache(cache_mb * 1024 * 1024)
        base = _options(cache, bloom=False)
        base.set_db_write_buffer_size(_WRITE_BUFFER_TOTAL)
        existing = set(Rdict.list_cf(str(self.path), base)) if (self.path / "CURRENT").exists() else set()
        families = {name: _options(cache, name in _POINT_LOOKUP_FAMILIES) for name in COLUMN_FAMILIES}
        for name in existing - set(COLUMN_FAMILIES) - {"default"}:
            families[name] = _options(cache, False)
        try:
            self._db: Rdict | None = Rdict(str(self.path), base, column_families=families)
        except Exception as exc:  # rocksdict raises plain Exception subclasses
            text = str(exc)
            if "lock" in text.lower():
                raise DatabaseLocked(
                    f"database {self.path} is open in another process (or twice in this one); "
                    "one writer per database: talk to `rem serve` or close the other handle"
                ) from None
            raise StorageError(f"cannot open database at {self.path}: {text}") from None
        self.cf: dict[str, Rdict] = {name: self._db.get_column_family(name) for name in families}
        self.handle: dict[str, Any] = {name: self._db.get_column_family_handle(name) for name in families}
        self._write_opts = WriteOptions()
        self._write_opts.sync = sync
        self._check_format(fresh=not existing)

    def _check_format(self, fresh: bool) -> None:
        meta = self.cf["meta"]
        stored = meta.get(_FORMAT_KEY)
        if stored is None:
            if not fresh and self.last_key("rows") is not None:
                raise FormatVersionError(f"{self.path} holds rows but no format version; not a remdb database")
            meta.put(_FORMAT_KEY, str(FORMAT_VERSION).encode())
            return
        try:
            version = int(stored)
        except ValueError:
            raise FormatVersionError(f"{self.path}: unreadable format version {stored!r}") from None
        if version > FORMAT_VERSION:
            self.close()
            raise FormatVersionError(
                f"{self.path} was written by a newer remdb (format {version}; this version reads "
                f"up to {FORMAT_VERSION}): upgrade remdb to open it"
            )
        if version < 1:
            self.close()
            raise FormatVersionError(f"{self.path}: unknown format version {version}")

    @property
    def db(self) -> Rdict:
        if self._db is None:
            raise DatabaseClosed("the database is closed")
        return self._db

    @property
    def closed(self) -> bool:
        return self._db is None

    def batch(self) -> WriteBatch:
        return WriteBatch(raw_mode=True)

    def write(self, batch: WriteBatch) -> None:
        try:
            self.db.write(batch, self._write_opts)
        except DatabaseClosed:
            raise
        except Exception as exc:
            raise StorageError(f"write failed: {exc}") from None

    def iter_prefix(self, family: str, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs whose key starts with `prefix`, from `start` (default: the prefix) on."""
        return self._iterate(family, start if start is not None else prefix, prefix_end(prefix), items=True)

    def iter_keys(self, family: str, start: bytes, end: bytes | None) -> Iterator[bytes]:
        """Keys in [start, end)."""
        return self._iterate(family, start, end, items=False)

    def _iterate(self, family: str, start: bytes, end: bytes | None, items: bool) -> Iterator[Any]:
        # A generator, so that `opts` and `end` stay referenced while iterating: rocksdict keeps a
        # pointer to the upper-bound bytes without owning them (a freed bound cut scans short).
        opts = ReadOptions()
        if end is not None:
            opts.set_iterate_upper_bound(end)
        cf = self.cf[family]
        source = cf.items(from_key=start, read_opt=opts) if items else cf.keys(from_key=start, read_opt=opts)
        yield from source
        del source, opts, end

    def last_key(self, family: str) -> bytes | None:
        for key in self.cf[family].keys(backwards=True):
            return key
        return None

    def flush(self) -> None:
        self.db.flush_wal(True)

    def close(self) -> None:
        if self._db is None:
            return
        db, self._db = self._db, None
        # rocksdict keeps the LOCK while column-family handles are referenced: drop them first.
        self.cf = _ClosedFamilies()
        self.handle = _ClosedFamilies()
        try:
            db.close()
        finally:
            del db
