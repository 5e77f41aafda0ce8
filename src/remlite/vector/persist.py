"""The on-disk format of a saved vector index: one file, written atomically, verified on load.

Why one file and not a sidecar: two files cannot be renamed together, so a crash between the two
renames would pair a new index with an old sidecar. Here the library's own serialisation comes
first, unchanged, and a trailer follows it:

    [payload: the usearch index, as usearch writes it, then the exact float32 vectors (store.py)]
    [meta: UTF-8 JSON — format, seq, count, dimension, metric, options, library + version,
           payload length and blake2b-256 of the payload]
    [footer, 48 bytes: magic b"REMVEC\\x00\\x01" | meta length u64 | payload length u64
                       | blake2b-192 of the meta]

A truncated (torn) file loses its footer or no longer adds up; a flipped byte fails one of the two
checksums; a foreign file has no magic. All of these raise StorageError, and the caller rebuilds
the index from the source of truth. Saving writes ``<name>.tmp`` beside the target, fsyncs it,
renames it over the target and fsyncs the directory, so a crash at any point leaves either the old
file or the new one — a stray ``.tmp`` is simply overwritten by the next save. A save that fails
(a full disk, say) removes its ``.tmp`` at once: a large index must not keep the space it could not use.

usearch (2.26) reads its index from a path and ignores bytes after its own serialisation, which is
what lets the payload be loaded in place without copying it into memory first.

In an encrypted database the file is sealed whole (`write_sealed_file`): the same bytes are built in
memory and stored as `Cipher.seal_file` of them, bound to the file's name (magic b"REMSEAL\x01",
nonce, AES-GCM ciphertext and tag); nothing of it reaches the disk in the clear. `read_info` with the
cipher opens it into memory (`IndexFileInfo.data`) and the index is loaded from that buffer. A file
that fails its tag is a StorageError like any corrupt file: the caller rebuilds the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remlite.errors import StorageError

MAGIC = b"REMVEC\x00\x01"
FORMAT_VERSION = 1
_FOOTER = struct.Struct("<8sQQ24s")
FOOTER_SIZE = _FOOTER.size
_CHUNK = 1 << 20


@dataclass(frozen=True)
class IndexFileInfo:
    """What a saved index file says about itself (read from its trailer, payload not yet verified)."""

    path: Path
    seq: int
    count: int
    dimension: int
    metric: str
    meta: dict[str, Any]
    payload_len: int
    data: bytes | None = None  # a sealed file's bytes, opened (None: read the payload from `path`)


def _meta_digest(meta: bytes) -> bytes:
    return hashlib.blake2b(meta, digest_size=24).digest()


def _hash_prefix(fh: Any, length: int) -> str:
    """blake2b-256 of the first `length` bytes of an open binary file."""
    h = hashlib.blake2b(digest_size=32)
    fh.seek(0)
    remaining = length
    while remaining:
        chunk = fh.read(min(_CHUNK, remaining))
        if not chunk:
            raise StorageError("vector index file is torn: payload shorter than recorded")
        h.update(chunk)
        remaining -= len(chunk)
    return h.hexdigest()


def tmp_path(path: Path) -> Path:
    """The one temporary name used while saving `path` (deterministic, so stray ones never pile up)."""
    return path.with_name(path.name + ".tmp")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _saving(path: Path) -> Iterator[Path]:
    """The temporary file of an atomic save of `path` (a stray one from a crash removed first):
    renamed over `path` when the block ends, removed on an error (a failure of the save itself is
    StorageError), and the directory fsynced."""
    tmp = tmp_path(path)
    try:
        tmp.unlink(missing_ok=True)  # a stray one from a crash: never append to or reuse its bytes
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, StorageError) or not isinstance(exc, Exception):
            raise
        raise StorageError(f"cannot save vector index to {path}: {exc}", path=str(path)) from exc
    _fsync_dir(path.parent)


def _trailer(meta: dict[str, Any], payload_len: int, digest: str) -> bytes:
    """Meta and footer of a file whose payload has `payload_len` bytes and blake2b `digest`."""
    full = {**meta, "format": FORMAT_VERSION, "payload_len": payload_len, "payload_blake2b": digest}
    meta_bytes = json.dumps(full, sort_keys=True).encode()
    return meta_bytes + _FOOTER.pack(MAGIC, len(meta_bytes), payload_len, _meta_digest(meta_bytes))


def write_index_file(path: Path, write_payload: Callable[[Path], None], meta: dict[str, Any]) -> None:
    """Atomically write `path`: `write_payload(tmp)` writes the payload (and may fill `meta`), then the
    trailer is appended, the file fsynced and renamed over `path`."""
    path = Path(path)
    with _saving(path) as tmp:
        write_payload(tmp)
        with open(tmp, "r+b") as fh:
            payload_len = fh.seek(0, os.SEEK_END)
            digest = _hash_prefix(fh, payload_len)
            fh.seek(payload_len)
            fh.write(_trailer(meta, payload_len, digest))
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())


def write_sealed_file(path: Path, payload: bytes, meta: dict[str, Any], cipher: Any) -> None:
    """`write_index_file` for an encrypted database: the whole file sealed by `cipher`
    (`remlite.storage.crypto.Cipher.seal_file`), written atomically the same way."""
    path = Path(path)
    digest = hashlib.blake2b(payload, digest_size=32).hexdigest()
    with _saving(path) as tmp:
        sealed = cipher.seal_file(path.name, payload + _trailer(meta, len(payload), digest))
        with open(tmp, "wb") as fh:
            fh.write(sealed)
            fh.flush()
            os.fsync(fh.fileno())


def read_info(path: Path, cipher: Any = None) -> IndexFileInfo:
    """Read and check the trailer of a saved index (cheap: does not hash the payload). With `cipher`
    (an encrypted database), open the sealed file into memory first."""
    path = Path(path)
    if cipher is not None:
        return _read_sealed_info(path, cipher)
    try:
        with open(path, "rb") as fh:
            return _read_trailer(fh, path)
    except FileNotFoundError as exc:
        raise StorageError(f"vector index file {path} does not exist", path=str(path)) from exc
    except OSError as exc:
        raise StorageError(f"cannot read vector index file {path}: {exc}", path=str(path)) from exc


def _read_sealed_info(path: Path, cipher: Any) -> IndexFileInfo:
    from remlite.errors import EncryptionError

    try:
        sealed = path.read_bytes()
    except FileNotFoundError as exc:
        raise StorageError(f"vector index file {path} does not exist", path=str(path)) from exc
    except OSError as exc:
        raise StorageError(f"cannot read vector index file {path}: {exc}", path=str(path)) from exc
    try:
        data = cipher.open_file(path.name, sealed)
    except EncryptionError as exc:
        raise StorageError(f"vector index file {path} is torn or corrupt: {exc.message}", path=str(path)) from None
    info = _read_trailer(io.BytesIO(data), path)
    return IndexFileInfo(
        info.path, info.seq, info.count, info.dimension, info.metric, info.meta, info.payload_len, data=data
    )


def _read_trailer(fh: Any, path: Path) -> IndexFileInfo:
    """Check the trailer of a saved index read through `fh` (a file, or an opened sealed one)."""
    size = fh.seek(0, os.SEEK_END)
    if size < FOOTER_SIZE:
        raise StorageError(f"vector index file {path} is torn or corrupt: too short", path=str(path))
    fh.seek(size - FOOTER_SIZE)
    magic, meta_len, payload_len, meta_digest = _FOOTER.unpack(fh.read(FOOTER_SIZE))
    if magic != MAGIC:
        raise StorageError(
            f"vector index file {path} is torn or corrupt, or not a remlite vector index: no footer",
            path=str(path),
        )
    if payload_len + meta_len + FOOTER_SIZE != size:
        raise StorageError(f"vector index file {path} is torn or corrupt: sizes do not add up", path=str(path))
    fh.seek(payload_len)
    meta_bytes = fh.read(meta_len)
    if _meta_digest(meta_bytes) != meta_digest:
        raise StorageError(f"vector index file {path} is torn or corrupt: header checksum mismatch", path=str(path))
    try:
        meta = json.loads(meta_bytes)
        if meta.get("format") != FORMAT_VERSION:
            raise StorageError(f"vector index file {path} has unknown format {meta.get('format')!r}", path=str(path))
        return IndexFileInfo(
            path=path,
            seq=int(meta["seq"]),
            count=int(meta["count"]),
            dimension=int(meta["dimension"]),
            metric=str(meta["metric"]),
            meta=meta,
            payload_len=int(payload_len),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"vector index file {path} is corrupt: bad header ({exc})", path=str(path)) from exc


def verify_payload(info: IndexFileInfo) -> None:
    """Hash the payload and compare with the trailer; StorageError on mismatch."""
    if info.data is not None:
        digest = hashlib.blake2b(memoryview(info.data)[: info.payload_len], digest_size=32).hexdigest()
    try:
        if info.data is None:
            with open(info.path, "rb") as fh:
                digest = _hash_prefix(fh, info.payload_len)
    except OSError as exc:
        raise StorageError(f"cannot read vector index file {info.path}: {exc}", path=str(info.path)) from exc
    if digest != info.meta.get("payload_blake2b"):
        raise StorageError(
            f"vector index file {info.path} is torn or corrupt: payload checksum mismatch", path=str(info.path)
        )


__all__ = [
    "FOOTER_SIZE",
    "MAGIC",
    "IndexFileInfo",
    "read_info",
    "tmp_path",
    "verify_payload",
    "write_index_file",
    "write_sealed_file",
]
