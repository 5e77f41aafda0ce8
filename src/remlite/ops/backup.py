"""Backup and restore of one tenant database: a consistent online copy, verified before it is used.

A backup is a directory (or, for replication's re-seed, the same files as one tar stream):

    manifest.json   {"format": "remlite-backup", "version": 1, "tenant", "seq", "first_seq",
                     "database_id", "db_format", "created_at", "remlite", "files": {name: {size,
                     blake2b}}, "checksum": blake2b of the rest}
    db/...          a RocksDB checkpoint: every column family as of one instant
    vectors/...     the HNSW index files that existed when the backup began (`seq` in the manifest)

Why a checkpoint: RocksDB's checkpoint is a point-in-time copy of the whole database taken while
writers continue (it flushes the memtables and hard-links the immutable table files). Every
logged change is one WriteBatch holding its change-log entry, so the copy holds a prefix of the
change log — entries 1..`seq` — and exactly the state those entries made. `seq` is read from the
checkpoint itself (its last `wal` key), not from the live handle, which has moved on by then. The
hard links are then replaced by copies: a backup that shared inodes with the live database would
share its fate (a flipped byte on disk, a careless edit).

Why the vector index files are copied *before* the checkpoint: each is saved atomically (rename),
so a copy is some whole file, and one saved before the checkpoint reflects a seq at or below the
checkpoint's. On the restored database it is trusted only if it names this database and the log
entry at its seq is the one it was saved at (`semantic.vectors.FieldVectors.trusts`), then caught
up from the log entries after it; otherwise (no file, torn, newer than the log, below a truncated
log) it is rebuilt from the stored vectors. Either way search is exact; the files only save time.

Why a restored database keeps its `database_id`: the id binds index files to a lineage, and the
digest of the log entry at a file's seq binds it to a history. A restore is the same database at
an earlier point of its history, so keeping the id lets the copied index files be used; if the
restored copy and the original then take different writes, their entries at the same seq differ
and a file carried from one to the other fails the digest and is rebuilt (architecture, "Derived
state"). A fresh id would only force a rebuild of every index on the first search.

Why restore refuses another tenant name: the ids of keyed records are UUIDv5 of (tenant, table,
key), so a copy restored under another name would insert a second record for an existing key.

Restore checks the manifest's own checksum and every file's size and blake2b before anything is
put in place: the files are copied (or unpacked) into a hidden staging directory beside the
target, verified there, and renamed to the tenant's directory in one step. A corrupt or
incomplete backup raises `BackupCorrupt` naming the file, and the target is left untouched; an
existing database is never overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rocksdict import AccessType, Checkpoint, Options, Rdict

from remlite.errors import BackupCorrupt, InvalidInput, StorageError
from remlite.ops.space import writable
from remlite.storage import codec
from remlite.storage.engine import FORMAT_VERSION, has_database, is_rocksdb_error, storage_error
from remlite.storage.keyspace import DATABASE_ID_KEY, FLOOR_KEY, FORMAT_KEY
from remlite.vector import persist

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.database import Database

FORMAT = "remlite-backup"
VERSION = 1
MANIFEST = "manifest.json"
DB_DIR = "db"
VECTORS_DIR = "vectors"
_CHUNK = 1 << 20


class Backups:
    """`Database.backup`: the component that copies one tenant database while it is in use."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core

    def backup(self, dest: str | os.PathLike[str]) -> dict[str, Any]:
        """Write a consistent backup of this database to the new directory `dest` while other
        threads keep writing. Returns the manifest's summary: path, tenant, seq (the last change-log
        entry the backup holds), first_seq, files, bytes, vector_files, seconds.

        `dest` must not exist (or be an empty directory); a failed backup leaves nothing there."""
        started = time.perf_counter()
        writable(self.core, "backup")
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput(f"backup destination {dest} exists and is not empty: give a new directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        try:
            manifest = self._write(staging)
            _fsync_dir(staging)
            if dest.exists():
                dest.rmdir()
            os.rename(staging, dest)
            _fsync_dir(dest.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return _summary(manifest, dest, time.perf_counter() - started)

    def _write(self, staging: Path) -> dict[str, Any]:
        core = self.core
        files: dict[str, dict[str, Any]] = {}
        # 1. the index files first: any one saved so far reflects a seq at or below the checkpoint's
        source_vectors = core.path / VECTORS_DIR
        if source_vectors.is_dir():
            (staging / VECTORS_DIR).mkdir()
            for path in sorted(source_vectors.glob("*.hnsw")):
                name = f"{VECTORS_DIR}/{path.name}"
                try:
                    files[name] = _copy(path, staging / name, link_ok=False)
                except OSError:  # gone meanwhile (a dropped table, a re-embed): rebuilt on restore
                    (staging / name).unlink(missing_ok=True)
                    continue
                files[name]["seq"] = _index_seq(staging / name)
        # 2. the checkpoint: RocksDB's point-in-time copy of every column family
        checkpoint = staging / "checkpoint"
        try:
            Checkpoint(core.store.db).create_checkpoint(str(checkpoint))
        except Exception as exc:
            if not is_rocksdb_error(exc):
                raise
            raise storage_error(exc, core.path, "creating a checkpoint for the backup") from None
        facts = read_checkpoint(checkpoint)
        # 3. copies, not the checkpoint's hard links into the live database
        (staging / DB_DIR).mkdir()
        for path in sorted(checkpoint.iterdir()):
            name = f"{DB_DIR}/{path.name}"
            files[name] = _copy(path, staging / name, link_ok=True)
        shutil.rmtree(checkpoint)
        _fsync_dir(staging / DB_DIR)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tenant": core.tenant,
            **facts,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "remlite": _remlite_version(),
            "files": files,
        }
        manifest["checksum"] = _manifest_digest(manifest)
        _write_file(staging / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        return manifest


def _index_seq(path: Path) -> int | None:
    """The seq an index file says it reflects (None: unreadable here, e.g. sealed; it is copied all
    the same, and the restored database decides whether to trust it)."""
    try:
        return persist.read_info(path).seq
    except StorageError:
        return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """What a checkpoint holds, read from its own files (opened read-only: nothing is written):
    seq (its last change-log entry), first_seq, the on-disk format and the database id."""
    try:
        families = Rdict.list_cf(str(path), Options(raw_mode=True))
        db = Rdict(
            str(path),
            Options(raw_mode=True),
            column_families={name: Options(raw_mode=True) for name in families},
            access_type=AccessType.read_only(),
        )
    except Exception as exc:
        raise storage_error(exc, path, "reading the checkpoint") from None
    try:
        meta = db.get_column_family("meta")
        raw_floor, raw_format, raw_id = meta.get(FLOOR_KEY), meta.get(FORMAT_KEY), meta.get(DATABASE_ID_KEY)
        wal = db.get_column_family("wal")
        it = wal.iter()
        it.seek_to_last()
        last = it.key() if it.valid() else None
        first = codec.read_u64(raw_floor) if raw_floor is not None else 1
        del it, wal, meta
    finally:
        db.close()
    return {
        "seq": codec.read_u64(last) if last is not None else first - 1,
        "first_seq": first,
        "db_format": int(raw_format) if raw_format is not None else FORMAT_VERSION,
        "database_id": raw_id.decode() if raw_id is not None else None,
    }


# ---------------------------------------------------------------------------------- restore
def restore(
    src: str | os.PathLike[str], path: str | os.PathLike[str] | None, tenant: str = "default"
) -> dict[str, Any]:
    """Restore the backup directory `src` as tenant `tenant` under the root `path` (a new database:
    an existing one is never overwritten). Every file is verified against the manifest before the
    database is put in place; a corrupt or incomplete backup raises `BackupCorrupt` naming the file
    and leaves the target untouched. Returns path, tenant, seq, first_seq, files, bytes,
    vector_files, seconds."""
    started = time.perf_counter()
    src = Path(src)
    manifest = read_manifest(src / MANIFEST)
    target = _target(manifest, path, tenant)
    staging = _staging(target)
    try:
        for name, expected in manifest["files"].items():
            source = src / name
            if not source.is_file():
                raise BackupCorrupt(f"backup {src} is incomplete: {name} is missing", file=name)
            got = _copy(source, _staged(staging, name), link_ok=False)
            _check(name, got, expected)
        _install(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _summary(manifest, target, time.perf_counter() - started)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path`, checked: its format, its own checksum, and file names that stay
    inside the backup. BackupCorrupt otherwise."""
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BackupCorrupt(f"{path.parent} is not a remlite backup: no {MANIFEST}", file=MANIFEST) from None
    except (OSError, ValueError) as exc:
        raise BackupCorrupt(f"the manifest {path} is unreadable: {exc}", file=MANIFEST) from None
    return check_manifest(manifest, str(path))


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupCorrupt(f"{where} is not a remlite backup manifest", file=MANIFEST)
    if manifest.get("checksum") != _manifest_digest(manifest):
        raise BackupCorrupt(f"the manifest {where} is corrupt: checksum mismatch", file=MANIFEST)
    if manifest.get("version") != VERSION or int(manifest.get("db_format", 0)) > FORMAT_VERSION:
        raise StorageError(
            f"{where} is a backup of version {manifest.get('version')} (database format "
            f"{manifest.get('db_format')}); this remlite reads version {VERSION}: upgrade remlite to restore it"
        )
    for name in manifest["files"]:
        parts = Path(name).parts
        if len(parts) != 2 or parts[0] not in (DB_DIR, VECTORS_DIR) or parts[1] in ("", ".", ".."):
            raise BackupCorrupt(f"the manifest {where} names a file outside the backup: {name!r}", file=name)
    return manifest


def _target(manifest: dict[str, Any], path: str | os.PathLike[str] | None, tenant: str) -> Path:
    from remlite.database import _tenant_path

    if manifest["tenant"] != tenant:
        raise InvalidInput(
            f"this is a backup of tenant {manifest['tenant']!r}; restore it as that tenant (under another root "
            f"path): the ids of keyed records derive from the tenant name, so as {tenant!r} an upsert of an "
            "existing key would insert a second record"
        )
    _root, target = _tenant_path(path, tenant)
    if target.exists() and (has_database(target) or any(target.iterdir())):
        raise InvalidInput(f"{target} already holds a database (or other files): restore never overwrites one")
    return target


def _staging(target: Path) -> Path:
    """A hidden directory beside the target (same file system, so the final rename is atomic; its
    name is no valid tenant name, so nothing lists it as one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".restore-{target.name}-", dir=target.parent))


def _staged(staging: Path, name: str) -> Path:
    """Where a backup file goes in the restored tenant directory: the database files at its top."""
    folder, base = Path(name).parts
    out = staging / base if folder == DB_DIR else staging / VECTORS_DIR / base
    out.parent.mkdir(exist_ok=True)
    return out


def _check(name: str, got: dict[str, Any], expected: dict[str, Any]) -> None:
    if got["size"] != expected.get("size"):
        raise BackupCorrupt(
            f"backup file {name} is {got['size']} bytes; the manifest says {expected.get('size')}", file=name
        )
    if got["blake2b"] != expected.get("blake2b"):
        raise BackupCorrupt(f"backup file {name} is corrupt: checksum mismatch", file=name)


def _install(staging: Path, target: Path) -> None:
    for folder in (staging / VECTORS_DIR, staging):
        if folder.is_dir():
            _fsync_dir(folder)
    if target.exists():
        target.rmdir()  # empty (checked): the rename needs it gone
    os.rename(staging, target)
    _fsync_dir(target.parent)


# ---------------------------------------------------------------------------------- streams
def backup_to_stream(db: Database, fileobj: IO[bytes]) -> dict[str, Any]:
    """Write a backup of `db` to `fileobj` as an uncompressed tar stream (the manifest first, then
    the files it lists): what a primary sends to re-seed a replica. Returns the backup's summary."""
    with tempfile.TemporaryDirectory(prefix=".remlite-backup-", dir=db.root) as tmp:
        report = db.backup(Path(tmp) / "backup")
        folder = Path(report["path"])
        with tarfile.open(fileobj=fileobj, mode="w|") as tar:
            tar.add(folder / MANIFEST, arcname=MANIFEST)
            for name in read_manifest(folder / MANIFEST)["files"]:
                tar.add(folder / name, arcname=name)
    return report


def restore_from_stream(fileobj: IO[bytes], path: str | os.PathLike[str] | None, tenant: str) -> dict[str, Any]:
    """Restore a tar stream written by `backup_to_stream` as tenant `tenant` under the root `path`,
    verifying the manifest's checksums as `restore` does (nothing is put in place before every
    file checked out; BackupCorrupt names the file that did not)."""
    return _from_stream(fileobj, lambda manifest: _target(manifest, path, tenant), _staged, keep_manifest=False)


def save_stream(fileobj: IO[bytes], dest: str | os.PathLike[str]) -> dict[str, Any]:
    """Save a tar stream written by `backup_to_stream` (a server's snapshot) as the backup
    directory `dest`, verified as a restore verifies it: `remlite backup` of a database that a
    server holds."""
    return _from_stream(fileobj, lambda manifest: _new_backup_dir(Path(dest)), _as_in_backup, keep_manifest=True)


def _from_stream(
    fileobj: IO[bytes],
    target_of: Callable[[dict[str, Any]], Path],
    staged: Callable[[Path, str], Path],
    keep_manifest: bool,
) -> dict[str, Any]:
    started = time.perf_counter()
    staging: Path | None = None
    try:
        with tarfile.open(fileobj=fileobj, mode="r|") as tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BackupCorrupt(f"not a remlite backup stream: it does not start with {MANIFEST}", file=MANIFEST)
            raw = tar.extractfile(first).read()  # type: ignore[union-attr]
            try:
                manifest = check_manifest(json.loads(raw), "the stream's manifest")
            except ValueError as exc:
                raise BackupCorrupt(f"the stream's manifest is unreadable: {exc}", file=MANIFEST) from None
            target = target_of(manifest)
            staging = _staging(target)
            seen: set[str] = set()
            for member in members:
                name = member.name
                if name not in manifest["files"] or name in seen or not member.isfile():
                    raise BackupCorrupt(f"the backup stream holds {name!r}, not in its manifest", file=name)
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None  # a regular file (checked above)
                _check(name, _copy_stream(source, staged(staging, name)), manifest["files"][name])
        missing = sorted(set(manifest["files"]) - seen)
        if missing:
            raise BackupCorrupt(f"the backup stream is incomplete: {missing[0]} is missing", file=missing[0])
        if keep_manifest:
            _write_file(staging / MANIFEST, raw)
        _install(staging, target)
    except tarfile.TarError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise BackupCorrupt(f"the backup stream is not a readable tar stream: {exc}") from None
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return _summary(manifest, target, time.perf_counter() - started)


def _new_backup_dir(dest: Path) -> Path:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest} exists and is not an empty directory: a backup goes into a new one")
    return dest


def _as_in_backup(staging: Path, name: str) -> Path:
    """Where a file goes in a backup directory: where the manifest names it."""
    out = staging / name
    out.parent.mkdir(exist_ok=True)
    return out


# ---------------------------------------------------------------------------------- files
def _copy(source: Path, out: Path, *, link_ok: bool) -> dict[str, Any]:
    """Copy `source` to `out` (fsynced), hashing what is written: {size, blake2b}. With `link_ok`, a
    file no other path links to (a checkpoint's own CURRENT, MANIFEST, log) is moved instead."""
    if link_ok and source.stat().st_nlink == 1:
        os.replace(source, out)
        with open(out, "rb") as fh:
            return _hash(fh)
    with open(source, "rb") as fh:
        return _copy_stream(fh, out)


def _copy_stream(source: IO[bytes], out: Path) -> dict[str, Any]:
    h, size = hashlib.blake2b(digest_size=32), 0
    with open(out, "xb") as fh:
        while chunk := source.read(_CHUNK):
            h.update(chunk)
            fh.write(chunk)
            size += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return {"size": size, "blake2b": h.hexdigest()}


def _hash(fh: IO[bytes]) -> dict[str, Any]:
    h, size = hashlib.blake2b(digest_size=32), 0
    while chunk := fh.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return {"size": size, "blake2b": h.hexdigest()}


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=32).hexdigest()


def _remlite_version() -> str:
    import remlite

    return str(getattr(remlite, "__version__", "unknown"))


def _summary(manifest: dict[str, Any], where: Path, seconds: float) -> dict[str, Any]:
    files = manifest["files"]
    return {
        "path": str(where),
        "tenant": manifest["tenant"],
        "seq": manifest["seq"],
        "first_seq": manifest["first_seq"],
        "created_at": manifest["created_at"],
        "files": len(files),
        "bytes": sum(f["size"] for f in files.values()),
        "vector_files": sum(1 for name in files if name.startswith(f"{VECTORS_DIR}/")),
        "seconds": round(seconds, 3),
    }


__all__ = [
    "Backups",
    "backup_to_stream",
    "read_checkpoint",
    "read_manifest",
    "restore",
    "restore_from_stream",
    "save_stream",
]
