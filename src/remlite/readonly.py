"""`remlite.connect(path, read_only=True)`: read a tenant that another process holds open for
writing.

RocksDB allows one writer per directory; a reader opens a *secondary* instance instead (no lock;
it reads the writer's files and log). `ReadOnlyDatabase` keeps such a handle current: before a
read, when a second has passed since it last looked, it catches up with the writer, and when the
change log moved it reopens its handle, so every derived structure (schemas, counters, vector
indexes caught up from the log, the SQL column cache) is rebuilt from the data as it now is —
derived state is never trusted when it might be stale. `refresh()` does the same at once. Every
write raises `ReadOnly`.

Reopening costs an open (~10-50 ms), at most once a second and only after writes; a reader that
must see a write at once calls `refresh()`. Threads may share the handle: each call runs on the
handle current when it began, and a replaced handle is closed by the last call still on it (an
iterator from `scan` outlives its call: consume it before the next refresh).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from remlite.database import Database
from remlite.errors import ReadOnly
from remlite.storage.wal import WAL

REFRESH_EVERY = 1.0  # seconds: the longest a read may lag an acknowledged write

# Every verb that changes a database (the rest read).
WRITE_VERBS = frozenset({
    "register_schema", "drop_schema", "insert", "insert_batch", "update", "delete", "add_edge", "add_edges",
    "remove_edge", "ingest", "apply", "truncate_wal", "rebuild_index", "reembed", "repair", "rotate_passphrase",
    "import_", "purge", "compact", "backup",  # backup: a secondary instance's checkpoint holds none of the writer's
})  # fmt: skip


def files_signature(directory: Any) -> tuple[Any, ...] | None:
    """The names, sizes and change times of the writer's log and manifest files: a write appends to
    the log, a flush or compaction makes new files and names them in CURRENT's manifest. Equal
    signatures mean nothing to catch up; reading them costs a directory listing and a few stats,
    where RocksDB's catch-up took ~6 ms holding the GIL even with nothing new (100 read-only
    tenants refreshed each second spent 0.6 s of every second in it). None when unreadable."""
    try:
        with os.scandir(directory) as entries:
            return tuple(sorted(
                (entry.name, stat.st_size, stat.st_mtime_ns)
                for entry in entries
                if entry.name.endswith(".log") or entry.name.startswith(("MANIFEST-", "CURRENT"))
                for stat in (entry.stat(),)
            ))  # fmt: skip
    except OSError:
        return None


class ReadOnlyDatabase:
    """A read-only handle on a tenant written by another process (see the module docstring). It has
    the read methods of `remlite.Database`; its write methods raise `ReadOnly`."""

    def __init__(self, path: Any, tenant: str = "default", **options: Any) -> None:
        self._options = {**options, "create": False}
        self._path, self._tenant = path, tenant
        self._lock = threading.Lock()
        self._db = Database(path, tenant, read_only=True, **self._options)
        self._retired: dict[int, Database] = {}  # replaced handles still in use by a call
        self._leases: dict[int, int] = {}  # calls running on each handle
        self._checked = time.monotonic()
        self._seen = files_signature(self._db.path)  # the writer's files when this handle last looked

    def __repr__(self) -> str:
        return f"<remlite.ReadOnlyDatabase {str(self._db.path)!r} tenant={self._tenant!r}>"

    @property
    def read_only(self) -> bool:
        return True

    def refresh(self) -> bool:
        """See every write the writer acknowledged so far; True when there were new ones."""
        with self._lock:
            self._checked = time.monotonic()
            seen = files_signature(self._db.path)
            if seen is not None and seen == self._seen:
                return False  # the writer's log and manifest did not change: nothing to catch up
            store = self._db._core.store
            store.catch_up()
            self._seen = seen
            if WAL(store).seq == self._db.last_seq:
                return False
            fresh = Database(self._path, self._tenant, read_only=True, **self._options)
            old, self._db = self._db, fresh
            idle = self._leases.get(id(old), 0) == 0
            if not idle:
                self._retired[id(old)] = old  # closed by the last call still running on it
        if idle:
            old.close()
        return True

    def _call(self, name: str) -> Any:
        """The current handle's method, run under a lease: a refresh meanwhile retires that
        handle, and the last call running on it closes it."""
        with self._lock:
            db = self._db
            method = getattr(db, name)
        if not callable(method):
            return method

        def leased(*args: Any, **kwargs: Any) -> Any:
            nonlocal db, method
            with self._lock:
                if db is not self._db and id(db) not in self._retired:
                    # refreshed between the lookup of the method and this call, and the old handle
                    # was idle, so it is closed: run on the current one
                    db = self._db
                    method = getattr(db, name)
                handle = db
                self._leases[id(handle)] = self._leases.get(id(handle), 0) + 1
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    left = self._leases[id(handle)] = self._leases[id(handle)] - 1
                    done = left == 0 and self._retired.pop(id(handle), None) is not None
                    if left == 0:
                        del self._leases[id(handle)]
                if done:
                    handle.close()

        return leased

    def close(self) -> None:
        with self._lock:
            handles, self._retired = [*self._retired.values(), self._db], {}
        for handle in handles:
            handle.close()

    @property
    def closed(self) -> bool:
        return self._db.closed

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name in WRITE_VERBS:
            raise ReadOnly(f"{name}() writes, and this handle is read-only (connect(..., read_only=True))")
        if name.startswith("_"):
            raise AttributeError(name)
        if time.monotonic() - self._checked >= REFRESH_EVERY:
            self.refresh()
        return self._call(name)
