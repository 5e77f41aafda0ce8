"""Space: what a database holds on disk (`stats`), giving space back (`compact`) and keeping it
bounded (`purge`, `maintain`).

Two things grow without bound unless something removes them: soft-deleted rows (kept so a delete
can be seen and undone, and replicated) and the change log (every write adds an entry holding the
full rows). `purge` hard-deletes soft-deleted rows older than the retention window
(`REMLITE_DELETED_RETENTION_DAYS`, default 30) and cuts the log by the policy `log_cut`.

Why hard deletes go through `Writer.delete_row`, the ordinary logged path: a replica follows the
primary's log, so a purge must be a change like any other, or replicas would keep every row the
primary purged. Each row is re-read under the write lock before it goes: a row revived or
re-deleted since the scan is left alone.

The log policy (`log_cut`) keeps the newest `REMLITE_LOG_KEEP` entries always, keeps every entry a
registered replica has not yet applied (`replica_floor`, supplied by replication: the lowest seq
every replica has applied; None when there are none), and never more than `REMLITE_LOG_MAX`
entries, so one replica that stopped for good cannot fill the disk — it must be re-seeded from a
backup (`WalTruncated` tells it so).

Why maintenance runs on close, not in a thread: a thread per open handle costs every test and
every short CLI command, and must be stopped before the process exits. Instead `maintain(db)`
runs `purge` when its last run (the LOCAL meta key `maintained_at`) is more than a day old;
`Database.close()` calls it, and a server is to call it periodically for the tenants it holds.
Checking costs one meta read per close: 3 µs measured, against 72-98 ms for an open and close of
a small database on the same (loaded) machine, which measured the same without the check. A
database's first close only records the time, so a database that never ran a purge is not purged
by surprise on the close that first sees this code; the first purge comes a day later.
When it is due, close takes as long as the purge: a scan of every table's rows (live rows are
recognised without parsing them; 1.3 s for 100k rows of ~200 bytes on a loaded test machine)
plus, past `REMLITE_LOG_KEEP` entries, a vector-index checkpoint and a range delete.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rocksdict import BottommostLevelCompaction, CompactOptions

from remlite.errors import InvalidInput, NotFound, ReadOnly, shown
from remlite.storage import codec
from remlite.storage.clock import now_iso
from remlite.storage.keyspace import (
    COLUMN_FAMILIES,
    MAINTAINED_KEY,
    REPLICA_OF_KEY,
    REPLICA_PREFIX,
    table_prefix,
)

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.database import Database
    from remlite.replay import ChangeLog
    from remlite.storage.engine import Store
    from remlite.writes import Writer

MAINTAIN_EVERY = 24 * 3600.0  # seconds between automatic purges
_PROPERTIES = {
    "sst_bytes": "rocksdb.total-sst-files-size",
    "live_bytes": "rocksdb.estimate-live-data-size",
    "memtable_bytes": "rocksdb.cur-size-all-mem-tables",
    "keys": "rocksdb.estimate-num-keys",
}


def log_cut(last_seq: int, first_seq: int, keep_min: int, keep_max: int, replica_floor: int | None) -> int:
    """The change log's new first seq (entries below it go): keep the newest `keep_min` entries,
    every entry after `replica_floor` (the lowest seq all replicas applied; None: no replicas), but
    never more than `keep_max`. Never below `first_seq` (the log only shrinks from the front) nor
    above `last_seq + 1` (everything gone: the sequence still continues from `last_seq`)."""
    if keep_min < 0 or keep_max < keep_min:
        raise InvalidInput(f"need 0 <= keep_min <= keep_max, got keep_min={keep_min}, keep_max={keep_max}")
    cut = last_seq - keep_min + 1
    if replica_floor is not None:
        cut = min(cut, replica_floor + 1)
    cut = max(cut, last_seq - keep_max + 1)
    return max(first_seq, min(cut, last_seq + 1))


class Space:
    """`Database.stats`, `compact` and `purge`."""

    def __init__(self, core: TenantCore, writer: Writer, changelog: ChangeLog) -> None:
        self.core = core
        self.writer = writer
        self.changelog = changelog

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict[str, Any]:
        """What the database holds and where its bytes go: per column family RocksDB's own figures
        (table-file bytes, estimated live bytes, memtable bytes, estimated keys), per table the rows
        (live, soft-deleted, the bytes of their stored values), the change log (entries, first_seq,
        last_seq, bytes) and the vector index files. Reads every row once (admin use)."""
        core, store = self.core, self.core.store
        families = {name: self._family(name) for name in store.handle}
        tables: dict[str, dict[str, int]] = {}
        for name in core.registry.names():
            table = core.registry.get(name)
            rows = deleted = size = 0
            for key, value in store.iter_prefix("rows", table_prefix(table.table_id)):
                rows += 1
                size += len(key) + len(value)
                if not _live(value) and orjson.loads(value).get("deleted_at"):
                    deleted += 1
            tables[name] = {"rows": rows, "live": rows - deleted, "deleted": deleted, "bytes": size}
        wal = core.wal
        log = families.get("wal", {})
        vectors = [
            {"file": path.name, "bytes": path.stat().st_size, "seq": _index_seq(path)}
            for path in sorted((core.path / "vectors").glob("*.hnsw"))
        ]
        return {
            "path": str(core.path),
            "tenant": core.tenant,
            "disk_bytes": _directory_bytes(core.path),
            "families": families,
            "tables": tables,
            "log": {
                "entries": max(0, wal.seq - wal.floor + 1),
                "first_seq": wal.floor,
                "last_seq": wal.seq,
                "bytes": log.get("sst_bytes", 0) + log.get("memtable_bytes", 0),
            },
            "vectors": {"files": vectors, "bytes": sum(f["bytes"] for f in vectors)},
        }

    def _family(self, name: str) -> dict[str, int]:
        cf = self.core.store.db.get_column_family(name)  # rocksdict's own (`Store.cf` may wrap it)
        return {field: int(cf.property_int_value(prop) or 0) for field, prop in _PROPERTIES.items()}

    # ------------------------------------------------------------------ compact
    def compact(self) -> dict[str, Any]:
        """Compact every column family fully (RocksDB compact_range over its whole key range, the
        bottom level rewritten too), so deleted and overwritten data gives its space back. Returns
        the table-file bytes per family before and after, and the seconds it took. Writers may
        continue meanwhile."""
        started = time.perf_counter()
        store = self.core.store
        writable(self.core, "compact")
        options = CompactOptions()
        options.set_bottommost_level_compaction(BottommostLevelCompaction.force())
        before = {name: self._family(name) for name in COLUMN_FAMILIES if name in store.handle}
        for name in before:
            store.db.get_column_family(name).compact_range(None, None, options)
        after = {name: self._family(name) for name in before}
        per = {name: {"before": _bytes(before[name]), "after": _bytes(after[name])} for name in before}
        return {
            "before": sum(v["before"] for v in per.values()),
            "after": sum(v["after"] for v in per.values()),
            "families": per,
            "seconds": round(time.perf_counter() - started, 3),
        }

    # ------------------------------------------------------------------ purge
    def purge(
        self,
        *,
        deleted_before: str | dt.datetime | None = None,
        older_than_days: float | None = None,
        log: bool = True,
        replica_floor: int | None = None,
    ) -> dict[str, Any]:
        """Hard-delete the soft-deleted rows deleted before `deleted_before` (a datetime or ISO
        timestamp), or more than `older_than_days` ago (default `REMLITE_DELETED_RETENTION_DAYS`),
        each through the logged delete path so replicas follow; then, with `log`, remove the
        change-log entries the retention policy (`log_cut`: `REMLITE_LOG_KEEP`, `REMLITE_LOG_MAX`,
        `replica_floor`) lets go. `replica_floor` defaults to the lowest seq the replicas registered
        on this database (`meta` keys `replica:<name>`, see `remlite.replication`) have applied, or
        no floor when none is. A replica (`meta` key `replica_of`) purges only its log: its rows
        follow the primary's purges. Returns purged (rows), tables ({table: rows}), cutoff,
        log_removed, first_seq, last_seq and replica."""
        writable(self.core, "purge")
        settings = self.core.runtime.settings
        cutoff = _cutoff(deleted_before, older_than_days, settings.deleted_retention_days)
        if replica_floor is not None and (type(replica_floor) is not int or replica_floor < 0):
            raise InvalidInput(f"replica_floor must be an integer >= 0 or None, got {shown(replica_floor)}")
        purged: dict[str, int] = {}
        # A replica's rows follow the primary's purges (hard deletes in its log): one of its own
        # would be a change the primary never made, and the primary's next entry would conflict.
        replica = self.core.store.cf["meta"].get(REPLICA_OF_KEY) is not None
        for name in [] if replica else self.core.registry.names():
            count = sum(self._purge_row(rid, cutoff) for rid in self._expired(name, cutoff))
            if count:
                purged[name] = count
        removed = 0
        wal = self.core.wal
        if log:
            if replica_floor is None:
                replica_floor = registered_floor(self.core.store)
            cut = log_cut(wal.seq, wal.floor, settings.log_keep, settings.log_max, replica_floor)
            if cut > wal.floor:
                removed = self.changelog.truncate_wal(cut)["removed"]
        return {
            "purged": sum(purged.values()),
            "tables": purged,
            "cutoff": cutoff.isoformat().replace("+00:00", "Z"),
            "log_removed": removed,
            "first_seq": wal.floor,
            "last_seq": wal.seq,
            "replica": replica,
        }

    def _expired(self, table: str, cutoff: dt.datetime) -> list[bytes]:
        """Ids of the table's rows soft-deleted before `cutoff` (a live row's stored value holds
        `"deleted_at":null` once, so only deleted ones are parsed)."""
        if table not in self.core.registry:
            return []  # dropped meanwhile
        tid = table_prefix(self.core.registry.get(table).table_id)
        found = []
        for key, value in self.core.store.iter_prefix("rows", tid):
            if _live(value):
                continue
            deleted_at = orjson.loads(value).get("deleted_at")
            if deleted_at and _parse(deleted_at) < cutoff:
                found.append(key[4:])
        return found

    def _purge_row(self, rid: bytes, cutoff: dt.datetime) -> int:
        """Hard-delete one row if it is still soft-deleted before `cutoff` (checked under the write
        lock: a concurrent upsert may have revived it). 1 if it went."""
        core = self.core
        with core.store.write_lock:
            try:
                table, record = core.get_raw(rid, include_deleted=True)
            except NotFound:
                return 0
            deleted_at = record.get("deleted_at")
            if not deleted_at or _parse(deleted_at) >= cutoff:
                return 0
            self.writer.delete_row(table, rid, record, True, now_iso())
        return 1


def writable(core: TenantCore, verb: str) -> None:
    """ReadOnly unless `core` is the writer's handle (a secondary instance cannot compact, purge or
    take a checkpoint: a checkpoint of one held none of the writer's recent changes)."""
    if core.store.read_only:
        raise ReadOnly(
            f"{verb}() needs the process that writes {core.path} (this handle is read-only): run it there, "
            "or stop that process",
            path=str(core.path),
        )


def registered_floor(store: Store) -> int | None:
    """The lowest `applied` seq among the replicas registered in `meta` (None: none registered)."""
    applied = [int(orjson.loads(value)["applied"]) for _key, value in store.iter_prefix("meta", REPLICA_PREFIX)]
    return min(applied) if applied else None


def maintain(db: Database, *, force: bool = False, replica_floor: int | None = None) -> dict[str, Any] | None:
    """Run `db.purge()` if the last run is more than a day old (or `force`); record the time.
    Returns the purge's report, or None when it was not due. A database that never ran it only
    records the time (its first purge is a day later). A read-only handle does nothing."""
    core = db._core
    store = core.store
    if store.read_only or store.closed:
        return None
    now = time.time()
    raw = store.cf["meta"].get(MAINTAINED_KEY)
    if not force and (raw is None or now - codec.read_u64(raw) < MAINTAIN_EVERY):
        if raw is None:
            _mark_maintained(db, now)
        return None
    report: dict[str, Any] = db.purge(replica_floor=replica_floor)
    _mark_maintained(db, now)
    return report


def maintain_on_close(db: Database) -> list[str]:
    """`maintain` as `Database.close()` runs it: a failure is returned as a problem to report (the
    database is closed all the same), never raised before RocksDB is released."""
    try:
        maintain(db)
    except Exception as exc:
        return [f"the daily purge failed ({exc})"]
    return []


def _mark_maintained(db: Database, now: float) -> None:
    """A local write (this database's own bookkeeping, never replicated)."""
    store = db._core.store
    batch = store.batch()
    batch.put(MAINTAINED_KEY, codec.u64(int(now)), store.handle["meta"])
    store.write(batch)


def _cutoff(
    deleted_before: str | dt.datetime | None, older_than_days: float | None, default_days: float
) -> dt.datetime:
    if deleted_before is not None and older_than_days is not None:
        raise InvalidInput("give deleted_before or older_than_days, not both")
    if deleted_before is not None:
        if isinstance(deleted_before, str):
            try:
                return _parse(deleted_before)
            except ValueError:
                raise InvalidInput(f"deleted_before must be an ISO timestamp, got {shown(deleted_before)}") from None
        if isinstance(deleted_before, dt.datetime):
            return deleted_before if deleted_before.tzinfo else deleted_before.replace(tzinfo=dt.UTC)
        raise InvalidInput(f"deleted_before must be a datetime or ISO timestamp, got {shown(deleted_before)}")
    days = default_days if older_than_days is None else older_than_days
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days < 1e6:
        raise InvalidInput(f"older_than_days must be a number of days >= 0, got {shown(days)}")
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def _parse(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _live(value: bytes) -> bool:
    """Whether a stored row is surely live without parsing it: its one `"deleted_at":` key (every
    row has it at the top; inside a string the quotes would be escaped) is null. A row with a nested
    `deleted_at` key is parsed instead."""
    return value.count(b'"deleted_at":') == 1 and b'"deleted_at":null' in value


def _bytes(family: dict[str, int]) -> int:
    return family["sst_bytes"] + family["memtable_bytes"]


def _index_seq(path: Path) -> int | None:
    from remlite.errors import StorageError
    from remlite.vector import persist

    try:
        return persist.read_info(path).seq
    except StorageError:
        return None


def _directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


__all__ = ["MAINTAIN_EVERY", "Space", "log_cut", "maintain", "maintain_on_close", "registered_floor"]
