"""`remlite.Runtime`: the memory, connections and models that every tenant opened in a process shares.

Each tenant is its own RocksDB database. Opened on their own, 100 tenants of 1,000 rows took
~1.1 GB resident and 1,700 open files: each had its own block cache, write-buffer budget, column
cache, DuckDB instance and embedding providers. A Runtime owns one of each instead:

- one RocksDB block cache and one memtable budget (`WriteBufferManager`), and a small number of
  table files kept open per tenant;
- one DuckDB connection (in-memory, used under a lock), where each tenant's cached relations are
  registered under names unique to that tenant, so a tenant's query never reads another's rows;
- one column-cache budget: the least recently used relation of any tenant is dropped first;
- one provider per (provider, model, dimension): one copy of each embedding model.

`memory_mb` (default `REMLITE_MEMORY_MB`, else 512) is split: 1/8 block cache, 1/8 memtables, 1/2
column cache; the rest is left for queries and Python objects. These are caps, not allocations.
Blocks outlive a tenant's handle in the shared cache: reopening the tenant in the same process
reads them from memory (their checksums were verified when first read), so a block damaged on
disk afterwards is noticed once it leaves the cache; `remlite check` in its own process reads all.

`remlite.connect()` uses the process's `default_runtime()` unless given `runtime=`. What it returns
is an independent handle: the caller closes it, and nothing else ever does. Every tenant open
costs ~17 open files (RocksDB keeps a descriptor per column family), so a process that serves many
tenants uses the runtime's pool instead:

    with runtime.tenant(root, "acme") as db:   # a lease on the shared handle of (root, "acme")
        db.get(record_id)

The pool keeps at most `max_open_tenants` (default `REMLITE_MAX_OPEN_TENANTS`, else 8) tenants
open, closing the least recently used idle one when another is opened. A handle is only ever
closed while no lease holds it, so code inside a `with` block is never surprised by a closed
handle; when every open tenant is leased the pool grows past the bound and shrinks back as leases
end. Leases instead of handles that reopen themselves: a reopened handle would silently lose what
the caller relied on (its `embedder=`, caches, a transaction in progress), while a lease states
how long the handle is needed.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.errors import InvalidInput, StorageError
from remlite.settings import Settings
from remlite.storage.tuning import SharedMemory

if TYPE_CHECKING:  # the SQL layer (DuckDB, pyarrow, sqlglot) loads on the first query, not at connect
    from remlite.database import Database
    from remlite.query.columns import ColumnBudget
    from remlite.query.duck import Duck

_MB = 1 << 20


class Runtime:
    """Shared memory budgets, DuckDB connection, embedding providers and tenant pool."""

    def __init__(
        self,
        memory_mb: int | None = None,
        *,
        max_open_tenants: int | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        memory = self.settings.memory_mb if memory_mb is None else memory_mb
        pool = self.settings.max_open_tenants if max_open_tenants is None else max_open_tenants
        for name, value in (("memory_mb", memory), ("max_open_tenants", pool)):
            if type(value) is not int or value < 1:
                raise InvalidInput(f"{name} must be a positive integer, got {value!r}")
        self.memory_mb = memory
        self.max_open_tenants = pool
        self.memory = SharedMemory.sized(memory * _MB // 8, memory * _MB // 8)
        self._sql: tuple[Duck, ColumnBudget] | None = None
        self._providers: dict[tuple[str, str, int], Any] = {}
        self._serial = itertools.count(1)
        self._pool: OrderedDict[tuple[Path, str], _Slot] = OrderedDict()
        self._closing: dict[tuple[Path, str], threading.Event] = {}  # tenants being closed by the pool
        self._lock = threading.RLock()
        self._keys: dict[tuple[str | None, str], tuple[Path, str]] = {}

    def __repr__(self) -> str:
        return f"<remlite.Runtime memory_mb={self.memory_mb} max_open_tenants={self.max_open_tenants}>"

    # ------------------------------------------------------------------ shared pieces
    def sql_state(self) -> tuple[Duck, ColumnBudget, str]:
        """The shared DuckDB connection and column budget, and a prefix unique within this
        runtime for a database's relation names in DuckDB."""
        with self._lock:
            if self._sql is None:
                from remlite.query.columns import ColumnBudget
                from remlite.query.duck import Duck

                self._sql = (Duck(), ColumnBudget(self.memory_mb * _MB // 2))
            return (*self._sql, f"d{next(self._serial)}_")

    def provider(self, key: tuple[str, str, int], make: Callable[[], Any]) -> Any:
        """The provider for (name, model, dimension), made once for every tenant."""
        with self._lock:
            found = self._providers.get(key)
            if found is None:
                found = self._providers[key] = make()
            return found

    # ------------------------------------------------------------------ handles
    def connect(self, path: str | os.PathLike[str] | None = None, tenant: str = "default", **options: Any) -> Database:
        """An independent handle on this runtime (the caller closes it); see `remlite.connect`."""
        from remlite.database import Database

        return Database(path, tenant, runtime=self, **options)

    def tenant(
        self, path: str | os.PathLike[str] | None = None, tenant: str = "default", **options: Any
    ) -> AbstractContextManager[Database]:
        """A lease on the pool's shared handle of the tenant, opened on first use with `options`
        (sync, embedder, create). The handle stays open while leased; don't close it yourself."""
        return _Lease(self, self._key(path, tenant), path, tenant, options)

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.leases -= 1
            victims = self._victims()
        if victims:
            self._close(victims)

    def _acquire(
        self, key: tuple[Path, str], path: str | os.PathLike[str] | None, tenant: str, options: dict[str, Any]
    ) -> tuple[_Slot, Database]:
        """The tenant's slot with one more lease. Opening and closing happen outside the pool's
        lock (each takes tens of ms), so leases of open tenants never wait for them; a tenant
        being closed is waited for (RocksDB allows one handle per directory)."""
        from remlite.database import Database

        while True:
            with self._lock:
                closing = self._closing.get(key)
                if closing is None:
                    found = self._pool.get(key)
                    opener = found is None or (found.db is not None and found.db.closed)  # closed by its user
                    slot = self._pool[key] = _Slot() if found is None or opener else found
                    slot.leases += 1
                    self._pool.move_to_end(key)
                    break
            closing.wait()
        if opener:
            try:
                slot.db = Database(path, tenant, runtime=self, **options)
            except BaseException as exc:
                with self._lock:
                    self._pool.pop(key, None)
                slot.error = exc
                raise
            finally:
                slot.ready.set()
            with self._lock:
                victims = self._victims()
            self._close(victims)
        if not slot.ready.is_set():  # an attribute read; wait() takes a lock even when set
            slot.ready.wait()
        if slot.db is None:  # the lease that was opening it failed: the same error here
            raise slot.error or StorageError(f"tenant {tenant!r} could not be opened")
        return slot, slot.db

    def _key(self, path: str | os.PathLike[str] | None, tenant: str) -> tuple[Path, str]:
        """The pool's key of a tenant: its resolved directory (resolved once per spelling: resolving
        took 4 lstat calls a lease, the top cost of a served point read). Only absolute spellings
        are remembered (a relative one follows the cwd), so a remembered one is used as it is."""
        spelled = (path if path is None or type(path) is str else os.fspath(path), tenant)
        key = self._keys.get(spelled)  # type: ignore[arg-type]
        if key is None:
            from remlite.database import _tenant_path

            key = (_tenant_path(path, tenant)[1].resolve(), tenant)
            if spelled[0] is not None and os.path.isabs(spelled[0]) and len(self._keys) < 100_000:
                self._keys[spelled] = key  # type: ignore[index]
        return key

    def evict(self, path: str | os.PathLike[str] | None, tenant: str, timeout: float = 60.0) -> bool:
        """Close the pool's handle of the tenant once the leases on it end (a replica's re-seed
        replaces the directory under it). New leases wait meanwhile and then open it afresh.
        False when it was not open; StorageError when leases outlast `timeout` seconds."""
        key = self._key(path, tenant)
        with self._lock:
            slot = self._pool.pop(key, None)
            if slot is None or slot.db is None:
                return False
            self._closing[key] = threading.Event()
        deadline = time.monotonic() + timeout
        while slot.leases > 0:  # calls still running on it finish first
            if time.monotonic() > deadline:
                with self._lock:
                    self._pool[key] = slot  # still open, still pooled
                    self._closing.pop(key).set()
                raise StorageError(f"tenant {tenant!r} stayed in use for {timeout:g} s: not closed")
            time.sleep(0.005)
        try:
            slot.db.close()
        finally:
            with self._lock:
                self._closing.pop(key).set()
        return True

    def holds(self, path: str | os.PathLike[str] | None, tenant: str) -> bool:
        """Whether the pool has this tenant open now (a lease would not open it)."""
        key = self._key(path, tenant)
        with self._lock:
            slot = self._pool.get(key)
            return slot is not None and slot.db is not None and not slot.db.closed

    def held(self) -> list[tuple[Path, str]]:
        """The (directory, tenant) of every tenant the pool holds open now."""
        with self._lock:
            return [key for key, slot in self._pool.items() if slot.db is not None and not slot.db.closed]

    @property
    def open_tenants(self) -> int:
        """Tenants the pool holds open (leased or idle)."""
        with self._lock:
            return sum(1 for slot in self._pool.values() if slot.db is not None and not slot.db.closed)

    def _victims(self) -> list[tuple[tuple[Path, str], Database]]:
        """Idle tenants to close, least recently used first, so the pool fits its bound; they move
        from the pool to `_closing` (called under the lock)."""
        excess = len(self._pool) - self.max_open_tenants
        if excess <= 0:
            return []
        victims = []
        for key, slot in list(self._pool.items()):
            if excess <= 0:
                break
            if slot.leases == 0 and slot.db is not None:
                del self._pool[key]
                self._closing[key] = threading.Event()
                victims.append((key, slot.db))
                excess -= 1
        return victims

    def _close(self, victims: list[tuple[tuple[Path, str], Database]]) -> None:
        for key, db in victims:
            try:
                db.close()
            except StorageError as exc:  # closed all the same; the lease that evicted it is not to blame
                warnings.warn(f"remlite pool: {exc}", RuntimeWarning, stacklevel=3)
            finally:
                with self._lock:
                    self._closing.pop(key).set()

    def close(self) -> None:
        """Close every pooled tenant and the DuckDB connection. Handles from `connect()` are
        their callers' to close."""
        with self._lock:
            while self._pool:
                _, slot = self._pool.popitem(last=False)
                if slot.db is not None:
                    slot.db.close()
            if self._sql is not None:
                self._sql[0].close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Lease:
    """`with runtime.tenant(...) as db`: a class rather than a generator context manager. With the
    remembered key, a lease of an open tenant costs 3.4 µs against 6.1 before, where a get on the
    handle costs 3 µs (benchmarks/lease.py)."""

    __slots__ = ("key", "options", "path", "runtime", "slot", "tenant")

    def __init__(
        self, runtime: Runtime, key: tuple[Path, str], path: str | os.PathLike[str] | None, tenant: str,
        options: dict[str, Any],
    ) -> None:  # fmt: skip
        self.runtime, self.key, self.path, self.tenant, self.options = runtime, key, path, tenant, options
        self.slot: _Slot | None = None

    def __enter__(self) -> Database:
        self.slot, db = self.runtime._acquire(self.key, self.path, self.tenant, self.options)
        return db

    def __exit__(self, *exc: object) -> None:
        slot, self.slot = self.slot, None
        if slot is not None:
            self.runtime._release(slot)


class _Slot:
    """A pooled tenant: its handle once opened (`ready`), or why opening failed, and its leases."""

    __slots__ = ("db", "error", "leases", "ready")

    def __init__(self) -> None:
        self.db: Database | None = None
        self.error: BaseException | None = None
        self.leases = 0
        self.ready = threading.Event()


_default: Runtime | None = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The runtime `connect()` uses when given none: made on first use, from the environment."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Runtime()
    return _default


def _forget_default() -> None:
    """A forked child makes its own: the parent's DuckDB connection and locks are not its own."""
    global _default, _default_lock
    _default, _default_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_default)
