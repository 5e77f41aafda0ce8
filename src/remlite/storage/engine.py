"""RocksDB (through rocksdict) opened with remlite's column families and options.

One `Store` is one tenant's database directory. All keys and values are raw bytes (`raw_mode`), so
rocksdict never pickles; values are orjson documents encoded by the layers above. The column families
and every key shape in them are documented (and built) in `remlite.storage.keyspace`.
"""

from __future__ import annotations

import contextlib
import ctypes  # imported up front: an import in a forked child can deadlock on the import lock
import os
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rocksdict import AccessType, Cache, Rdict, WriteBatch, WriteOptions

from remlite.errors import (
    DatabaseClosed,
    DatabaseLocked,
    EncryptionError,
    FormatVersionError,
    NotFound,
    ReadOnly,
    StorageError,
)
from remlite.storage.codec import prefix_end
from remlite.storage.crypto import BLINDED_FAMILIES, ENCRYPTED_FILE, SEALED_FAMILIES, Cipher
from remlite.storage.keyspace import (
    COLUMN_FAMILIES,
    DATA_KEY_KEY,
    ENCRYPTED_KEY,
    FORMAT_KEY,
    blinded_key,
    blinded_prefix,
)
from remlite.storage.sealing import SealedFamily, SealingBatch, stored_data_key
from remlite.storage.tuning import (
    POINT_LOOKUP_FAMILIES,
    WRITE_BUFFER_TOTAL,
    SharedMemory,
    options,
    read_options,
)

FORMAT_VERSION = 1
# What RocksDB leaves in a database directory. Any of them means "a database was here": opening
# without CURRENT would create an empty database over the old files, and RocksDB then deletes
# every table file it does not know (a partial copy lost all its rows by being read twice).
_ROCKSDB_FILES = ("CURRENT", "MANIFEST-*", "*.sst", "*.log", "OPTIONS-*")
# RocksDB's status texts for a held lock: "IO error: lock hold by current process" (this process),
# "IO error: While lock file: ...: Resource temporarily unavailable" (another one). Matched
# precisely: "block checksum mismatch" also contains "lock".
_LOCK_TEXTS = ("IO error: lock ", "lock hold by current process", "Resource temporarily unavailable")
_ROCKSDB_STATUS = ("Corruption:", "IO error:", "Invalid argument:", "Not implemented:", "Incomplete:")
_REPAIR_HINT = (
    "run `remlite check` to see what is affected; `remlite repair` (remlite.repair) salvages what is readable "
    "(copy the directory first)"
)


def has_database(path: Path) -> bool:
    """Whether `path` holds any RocksDB file (a database, whole or damaged)."""
    return path.is_dir() and any(next(path.glob(pattern), None) is not None for pattern in _ROCKSDB_FILES)


OWNER_FILE = "remlite.owner"  # who holds a tenant for writing: {"pid", "since", "server"}
_owner_note: dict[str, str] = {}  # what this process adds to its owner files (a server's address)


def note_owner(**note: str) -> None:
    """Name this process in the owner files of the tenants it opens for writing from now on
    (`remlite serve` gives its address, so a blocked writer is told where to send writes)."""
    _owner_note.update(note)


def read_owner(path: Path) -> dict[str, Any] | None:
    """The live process named in a tenant's owner file (None: no file, or that process is gone)."""
    import orjson

    try:
        owner = orjson.loads((path / OWNER_FILE).read_bytes())
        os.kill(int(owner["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if isinstance(owner, dict) else None


def is_rocksdb_error(exc: BaseException) -> bool:
    """rocksdict raises plain `Exception` carrying RocksDB's status text."""
    return type(exc) is Exception and str(exc).startswith(_ROCKSDB_STATUS)


def storage_error(exc: BaseException, path: Path | None, doing: str) -> BaseException:
    """The remlite error for an exception out of rocksdict, classified by RocksDB's status text.
    Any other exception (a remlite error, a bug) is returned unchanged."""
    if type(exc) is not Exception:
        return exc
    text, where = str(exc), f"the database at {path}" if path is not None else "the database"
    at = str(path) if path is not None else None
    if "Corruption:" in text:
        return StorageError(f"{where} is corrupt ({doing}): {text}; {_REPAIR_HINT}", path=at)
    if any(marker in text for marker in _LOCK_TEXTS):
        owner = read_owner(path) if path is not None else None
        if owner is None:
            return DatabaseLocked(
                f"{where} is open in another process (or twice in this one); one writer per database: "
                "read it with connect(..., read_only=True), talk to its `remlite serve`, or close the other handle"
            )
        if owner["pid"] == os.getpid():
            return DatabaseLocked(
                f"{where} is already open in this process: one handle per database "
                "(share it between threads, or close it first)",
                pid=owner["pid"],
            )
        held = f"process {owner['pid']}" + (f" (remlite serve at {owner['server']})" if owner.get("server") else "")
        todo = f"send writes to {owner['server']}" if owner.get("server") else "close it there"
        return DatabaseLocked(
            f"{where} is held for writing by {held}; read it with connect(..., read_only=True) or {todo}",
            pid=owner["pid"],
            server=owner.get("server"),
        )
    return StorageError(f"{doing} failed for {where}: {text}", path=at)


class _Unusable(dict):  # type: ignore[type-arg]
    """Stands in for the column-family maps once the handle is closed or was inherited through
    fork(), so any use says why it fails (and no code path needs a check of its own)."""

    def __init__(self, refusal: Callable[[], StorageError]) -> None:
        super().__init__()
        self._refusal = refusal

    def __missing__(self, key: str) -> Any:
        raise self._refusal()


# Every open Store, so that a forked child can disown the handles it inherited.
_OPEN_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


def _disown_after_fork() -> None:
    for store in list(_OPEN_STORES):
        store._disown()


os.register_at_fork(after_in_child=_disown_after_fork)


class Store:
    """One RocksDB database with remlite's column families, opened for reading and writing.

    A handle belongs to the process that opened it: RocksDB's threads and locks do not survive
    fork(), so a child that used the inherited handle had its writes acknowledged and lost, and
    closing it in both processes hung. In a forked child every use raises instead."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: bool = False,
        cache_mb: int = 32,
        create: bool = True,
        shared: SharedMemory | None = None,
        read_only: bool = False,
        passphrase: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._pid = os.getpid()
        self.read_only = read_only
        self._secondary: str | None = None
        # None: not encrypted (values and keys are stored as they are, and nothing calls it)
        self.cipher: Cipher | None = None
        fresh = not has_database(self.path)
        if fresh and read_only:
            raise NotFound(f"no database at {self.path} to open read-only", path=str(self.path))
        if fresh and not create:
            raise NotFound(f"no database at {self.path} (nothing was created)", path=str(self.path))
        if not fresh and not (self.path / "CURRENT").exists():
            raise StorageError(
                f"{self.path} holds RocksDB files but no CURRENT file (an incomplete copy?): not opened, so "
                "nothing in it was changed; `remlite repair` (remlite.repair) rebuilds it from the table files",
                path=str(self.path),
            )
        data_key = None
        if not fresh and (self.path / ENCRYPTED_FILE).exists():
            # refused before RocksDB opens (for writing, that would write new log and manifest files)
            from remlite.storage.crypto import unwrap

            if passphrase is None:
                unwrap(b"", None)  # the EncryptionError that asks for one
            if not read_only:
                stored = stored_data_key(self.path)
                data_key = unwrap(stored, passphrase) if stored is not None else None
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_lock = threading.RLock()
        self.shared = shared
        cache = shared.cache if shared is not None else Cache(cache_mb * 1024 * 1024)
        base = options(cache, bloom=False)
        base.create_if_missing(fresh)  # files that vanish from under us are an error, not a new database
        if shared is not None:
            base.set_write_buffer_manager(shared.write_buffers)
        else:
            base.set_db_write_buffer_size(WRITE_BUFFER_TOTAL)
        families = {name: options(cache, name in POINT_LOOKUP_FAMILIES) for name in COLUMN_FAMILIES}
        try:
            existing = set() if fresh else set(Rdict.list_cf(str(self.path), base))
            for name in existing - families.keys():
                if name != "default":
                    families[name] = options(cache, False)
            if read_only:  # a reader cannot create a family a newer version added (`fuzzy`): it goes without
                families = {name: options for name, options in families.items() if name in existing}
            if read_only:
                # a secondary instance: reads the primary's files (and its log) without the lock;
                # its own small files live in a private directory removed at close
                import tempfile

                self._secondary = tempfile.mkdtemp(prefix="remlite-secondary-")
                access = AccessType.secondary(self._secondary)
                self._db: Rdict | None = Rdict(str(self.path), base, column_families=families, access_type=access)
            else:
                self._db = Rdict(str(self.path), base, column_families=families)
        except Exception as exc:  # rocksdict raises plain Exception
            self._drop_secondary()
            raise storage_error(exc, self.path, "opening") from None
        if not read_only:
            self._write_owner()
        self.cf: dict[str, Rdict] = {name: self._db.get_column_family(name) for name in families}
        self.handle: dict[str, Any] = {name: self._db.get_column_family_handle(name) for name in families}
        self._write_opts = WriteOptions()
        self._write_opts.sync = sync
        self._failed_writes: weakref.WeakSet[StorageError] = weakref.WeakSet()  # those still referenced
        _OPEN_STORES.add(self)
        try:
            self._check_format(fresh)
            self._check_encryption(fresh, passphrase, data_key)
        except Exception as exc:
            self.close()
            raise storage_error(exc, self.path, "reading the format version") from None

    def _check_encryption(self, fresh: bool, passphrase: str | None, data_key: bytes | None) -> None:
        """Make `cipher` from the data key (unwrapped before opening, or now), or create it for a
        new database opened with a passphrase; a plain database stays plain."""
        from remlite.storage import crypto

        meta = self.cf["meta"]
        stored = meta.get(DATA_KEY_KEY) if meta.get(ENCRYPTED_KEY) is not None else None
        if stored is None:
            if not (fresh and passphrase is not None and not self.read_only):
                return
            data_key = crypto.new_data_key()
            batch = self.batch()
            batch.put(DATA_KEY_KEY, crypto.wrap(data_key, passphrase), self.handle["meta"])
            batch.put(ENCRYPTED_KEY, b"1", self.handle["meta"])
            self.write(batch)
        elif data_key is None:
            data_key = crypto.unwrap(stored, passphrase)
        if not self.read_only and not (self.path / ENCRYPTED_FILE).exists():
            (self.path / ENCRYPTED_FILE).write_bytes(b"this database is encrypted: open it with its passphrase\n")
        self._use_cipher(Cipher(data_key))

    def _use_cipher(self, cipher: Cipher) -> None:
        """From now on seal and open the sealed families' values, and blind the blinded keys."""
        self.cipher = cipher
        self._families = {
            id(self.handle[name]): name for name in SEALED_FAMILIES | BLINDED_FAMILIES if name in self.handle
        }
        for name in SEALED_FAMILIES:
            if name in self.cf:
                self.cf[name] = SealedFamily(self.cf[name], name, cipher)  # type: ignore[assignment]

    @property
    def encrypted(self) -> bool:
        return self.cipher is not None

    def key_form(self, family: str, key: bytes) -> bytes:
        """How `key` of a `keys`, `postings` or `fuzzy` shape is stored (blinded when encrypted)."""
        return key if self.cipher is None else blinded_key(family, key, self.cipher.blind)

    def prefix_form(self, family: str, prefix: bytes) -> bytes:
        """How a scan prefix of those families is stored (`remlite.storage.keyspace.blinded_prefix`)."""
        return prefix if self.cipher is None else blinded_prefix(family, prefix, self.cipher.blind)

    def rotate_passphrase(self, old: str, new: str) -> None:
        """Re-wrap the data key under `new` (nothing else is rewritten). WrongPassphrase when `old`
        does not unwrap it; EncryptionError when the database is not encrypted."""
        from remlite.storage import crypto

        with self.write_lock:
            stored = self.cf["meta"].get(DATA_KEY_KEY)
            if self.cipher is None or stored is None:
                raise EncryptionError(f"{self.path} is not encrypted: there is no passphrase to change")
            data_key = crypto.unwrap(stored, old)
            batch = self.batch()
            batch.put(DATA_KEY_KEY, crypto.wrap(data_key, new), self.handle["meta"])
            self.write(batch)

    def _check_format(self, fresh: bool) -> None:
        meta = self.cf["meta"]
        stored = meta.get(FORMAT_KEY)
        if stored is None and self.read_only:
            raise FormatVersionError(f"{self.path} has no format version yet; open it for writing first")
        if stored is None:
            if not fresh and self.last_key("rows") is not None:
                raise FormatVersionError(f"{self.path} holds rows but no format version; not a remlite database")
            meta.put(FORMAT_KEY, str(FORMAT_VERSION).encode())
            return
        try:
            version = int(stored)
        except ValueError:
            raise FormatVersionError(f"{self.path}: unreadable format version {stored!r}") from None
        if version > FORMAT_VERSION:
            raise FormatVersionError(
                f"{self.path} was written by a newer remlite (format {version}; this version reads "
                f"up to {FORMAT_VERSION}): upgrade remlite to open it"
            )
        if version < 1:
            raise FormatVersionError(f"{self.path}: unknown format version {version}")

    @property
    def db(self) -> Rdict:
        if self._db is None or self._pid != os.getpid():
            raise self._refusal()
        return self._db

    def _refusal(self) -> StorageError:
        if self._pid != os.getpid():
            return StorageError(
                f"the handle of {self.path} was opened by process {self._pid} and inherited through fork(): "
                "RocksDB handles do not cross processes (writes would be lost); open the database in the "
                "child instead, and keep one process per database"
            )
        return DatabaseClosed("the database is closed")

    @property
    def closed(self) -> bool:
        return self._db is None

    def batch(self) -> WriteBatch:
        if self.cipher is not None:
            return SealingBatch(WriteBatch(raw_mode=True), self._families, self.cipher)  # type: ignore[return-value]
        return WriteBatch(raw_mode=True)

    def write(self, batch: WriteBatch) -> None:
        if self.read_only:
            raise ReadOnly(
                f"{self.path} is open read-only: write through the process that owns it", path=str(self.path)
            )
        if type(batch) is SealingBatch:
            batch = batch.raw
        try:
            self.db.write(batch, self._write_opts)
        except Exception as exc:
            error = storage_error(exc, self.path, "write")
            if isinstance(error, StorageError):
                self._failed_writes.add(error)
            raise error from None

    def _write_owner(self) -> None:
        """Name this process as the tenant's writer (best effort: the lock itself is RocksDB's)."""
        import time

        import orjson

        note = {"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **_owner_note}
        with contextlib.suppress(OSError):
            (self.path / OWNER_FILE).write_bytes(orjson.dumps(note))

    def _remove_owner(self) -> None:
        owner = read_owner(self.path)
        if owner is not None and owner["pid"] == os.getpid():
            with contextlib.suppress(OSError):
                (self.path / OWNER_FILE).unlink()

    def catch_up(self) -> None:
        """A read-only handle: see the primary's writes up to now (its memtables included)."""
        try:
            self.db.try_catch_up_with_primary()
        except Exception as exc:
            raise storage_error(exc, self.path, "catching up with the writer") from None

    def _drop_secondary(self) -> None:
        if self._secondary is not None:
            import shutil

            shutil.rmtree(self._secondary, ignore_errors=True)
            self._secondary = None

    def read_error(self, exc: BaseException, what: str) -> BaseException:
        """The remlite error for a failed read of `what` (a corrupt block raises from rocksdict)."""
        return storage_error(exc, self.path, f"reading {what}")

    def iter_prefix(self, family: str, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs whose key starts with `prefix`, from `start` (default: the prefix) on."""
        return self._iterate(family, start if start is not None else prefix, prefix_end(prefix), items=True)

    def iter_from(self, family: str, start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs from `start` to the end of the family."""
        return self._iterate(family, start, None, items=True)

    def iter_keys(self, family: str, start: bytes, end: bytes | None) -> Iterator[bytes]:
        """Keys in [start, end)."""
        return self._iterate(family, start, end, items=False)

    def iter_items(self, family: str, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        return self._iterate(family, start, end, items=True)

    def iterator(self, family: str) -> Any:
        """A raw RocksDB iterator (seek/valid/key/next) over the family; after `valid()` turns
        False, `check_iterator` tells the end from a read error."""
        return self.cf[family].iter(read_options())

    def check_iterator(self, it: Any, family: str) -> None:
        """Raise StorageError if `it` stopped on a read error, not at the end: rocksdict's own
        generators end silently at a corrupt block, which cut scans and counts short."""
        try:
            it.status()
        except Exception as exc:
            raise self.read_error(exc, family) from None

    def _iterate(self, family: str, start: bytes, end: bytes | None, items: bool) -> Iterator[Any]:
        # A generator, so that `opts` and `end` stay referenced while iterating: rocksdict keeps a
        # pointer to the upper-bound bytes without owning them (a freed bound cut scans short).
        opts = read_options()
        if end is not None:
            opts.set_iterate_upper_bound(end)
        it = self.cf[family].iter(opts)
        it.seek(start)
        key, next_ = it.key, it.next
        current = key()  # None once the iterator is not valid: one call fewer per row than valid()
        if items and self.cipher is not None and family in SEALED_FAMILIES:
            value, open_ = it.value, self.cipher.open
            while current is not None:
                yield current, open_(family, current, value())
                next_()
                current = key()
        elif items:
            value = it.value
            while current is not None:
                yield current, value()
                next_()
                current = key()
        else:
            while current is not None:
                yield current
                next_()
                current = key()
        self.check_iterator(it, family)
        del it, opts, end

    def iter_keys_reverse(self, family: str, start: bytes, end: bytes | None) -> Iterator[bytes]:
        """Keys in [start, end), last first."""
        opts = read_options()
        if end is not None:
            opts.set_iterate_upper_bound(end)
        it = self.cf[family].iter(opts)
        it.seek_to_last()
        while it.valid():
            key = it.key()
            if key < start:
                return
            yield key
            it.prev()
        self.check_iterator(it, family)
        del it, opts, end

    def last_key(self, family: str) -> bytes | None:
        it = self.iterator(family)
        it.seek_to_last()
        if it.valid():
            return it.key()  # type: ignore[no-any-return]
        self.check_iterator(it, family)
        return None

    def flush(self) -> None:
        self.db.flush_wal(True)

    def _disown(self) -> None:
        """In a forked child: make the inherited handle unusable without touching RocksDB. Its
        objects are leaked on purpose, past interpreter shutdown too: freeing the last reference
        closes RocksDB, which waits for background threads that exist only in the parent (hangs)."""
        if self._db is None:
            return
        ctypes.pythonapi.Py_IncRef(ctypes.py_object((self._db, self.cf, self.handle)))
        self.write_lock = threading.RLock()  # a parent thread may have held it at fork(): never released here
        self._db = None
        self.cf = self.handle = _Unusable(self._refusal)

    def check_process(self) -> None:
        """Raise if this handle was inherited through fork() (it belongs to the parent)."""
        if self._pid != os.getpid():
            self._disown()
            raise self._refusal()

    def close(self) -> None:
        """Close RocksDB. In a forked child: raise, touching nothing (closing it there hung)."""
        self.check_process()
        if self._db is None:
            return
        db, self._db = self._db, None
        _OPEN_STORES.discard(self)
        # rocksdict keeps the LOCK while column-family handles are referenced: drop them first,
        # and those held by the finished frames of a failed write (a caller that keeps the error,
        # e.g. after a full disk, would otherwise keep the database locked after close).
        self.cf = self.handle = _Unusable(self._refusal)
        for error in list(self._failed_writes):
            traceback.clear_frames(error.__traceback__)
        try:
            db.close()
        except Exception as exc:
            raise storage_error(exc, self.path, "closing") from None
        finally:
            del db
            self._drop_secondary()
            if not self.read_only:
                self._remove_owner()


def repair_store(path: Path) -> None:
    """RocksDB's repair of the database at `path`: rebuilds CURRENT and the MANIFEST from the
    table and log files, salvaging every readable record; unreadable files go to `lost/`."""
    if not has_database(path):
        raise NotFound(f"no database at {path}: nothing to repair", path=str(path))
    try:
        Rdict.repair(str(path), options(Cache(8 << 20), bloom=False))
    except Exception as exc:
        raise storage_error(exc, path, "repairing") from None
