"""How remlite configures RocksDB: every option chosen by a measurement, in one place.

`remlite.storage.engine` opens databases with these; `remlite.Runtime` sizes the memory its tenants
share with `SharedMemory`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rocksdict import (
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Env,
    Options,
    ReadOptions,
    WriteBufferManager,
)

# Families read by point lookups (a record by id, the id directory): bloom filters on their tables
# and memtables.
POINT_LOOKUP_FAMILIES = {"rows", "ids"}
# Memory budget: memtables are capped per column family and for the whole database, so RSS stays
# bounded under sustained writes (uncapped, 100k rows left ~176 MB resident).
_WRITE_BUFFER_PER_FAMILY = 4 << 20
WRITE_BUFFER_TOTAL = 64 << 20
# Table files a tenant keeps open (RocksDB's default is all of them): with many tenants in one
# process, open files and the index blocks of open tables would grow with every tenant's data.
# The table cache holding them is split in 4 shards, not RocksDB's 64: 64 shards of a 54-file
# capacity hold less than one file each, and every get reopened its table (5x slower at 100k rows).
MAX_OPEN_FILES = 64
_TABLE_CACHE_SHARD_BITS = 2
# Memtable memory is allocated in blocks of this size (RocksDB's default is 1/8 of the write buffer,
# 512 KiB): every family written to holds at least one, ~4 MB per open tenant after a small batch.
_ARENA_BLOCK = 64 << 10
# The buffer of a file being written (the log, table files) grows to this (RocksDB: 1 MiB, which
# one batch write left allocated in every open tenant).
_FILE_BUFFER = 64 << 10
# Old info LOG files RocksDB keeps (its default: 1,000). It starts a new one at every open, ~100 KB
# each (the options of every column family): a tenant a server's pool reopens all day would keep
# ~100 MB of them.
KEPT_INFO_LOGS = 3
# RocksDB's compaction threads run at a lower CPU priority (nice), flushes at the normal one. On two
# cores the compaction that follows a bulk load otherwise takes a core from the Python thread that
# writes or reads: 1M rows loaded in 28.8-30.7 s instead of 36.1-37.0 (benchmarks/RESULTS.md), and
# reads right after a 100k load 14.5 µs instead of 22.5. When the cores are all busy, compaction still
# runs (RocksDB slows writes down once too much is left to compact, which frees a core for it).
_ENV = Env()  # RocksDB's default environment: its thread pools serve every database of the process
_ENV.lower_thread_pool_cpu_priority()


@dataclass(frozen=True)
class SharedMemory:
    """RocksDB memory shared by every Store of a `remlite.Runtime`: one block cache and one
    memtable budget, so many tenants in one process cost one budget, not one each."""

    cache: Cache
    write_buffers: WriteBufferManager

    @classmethod
    def sized(cls, cache_bytes: int, write_buffer_bytes: int) -> SharedMemory:
        return cls(Cache(cache_bytes), WriteBufferManager(write_buffer_bytes, False))


def options(cache: Cache, bloom: bool) -> Options:
    """The options of a database (and of each column family; `bloom` for the point-lookup ones)."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.set_compression_type(DBCompressionType.lz4())
    opts.set_write_buffer_size(_WRITE_BUFFER_PER_FAMILY)
    opts.set_max_open_files(MAX_OPEN_FILES)
    opts.set_table_cache_num_shard_bits(_TABLE_CACHE_SHARD_BITS)
    opts.set_arena_block_size(_ARENA_BLOCK)
    opts.set_writable_file_max_buffer_size(_FILE_BUFFER)
    opts.set_keep_log_file_num(KEPT_INFO_LOGS)
    opts.set_env(_ENV)
    table = BlockBasedOptions()
    table.set_block_cache(cache)
    if bloom:
        table.set_bloom_filter(10, False)
        # A bloom filter on the memtable too: looking up an absent id (every upsert of a new key
        # asks) measured 0.3 µs instead of 0.9 µs with 100k rows in the memtable. Its bits are
        # allocated when the memtable is: 0.02 of 4 MiB (~10 bits a key) is 80 KiB per family.
        opts.set_memtable_whole_key_filtering(True)
        opts.set_memtable_prefix_bloom_ratio(0.02)
    opts.set_block_based_table_factory(table)
    return opts


def read_options() -> ReadOptions:
    """The options of every read and iterator."""
    opts = ReadOptions()
    opts.set_verify_checksums(True)  # RocksDB's default, stated: a flipped byte must fail the read
    return opts
