"""Sealed files: an export (or any file) encrypted as it is written, for a passphrase.

Why not `Cipher.seal_file`: that seals a whole file held in memory (an HNSW index file), while an
export streams in batches at any size. A sealed file is a header and then segments of at most
`SEGMENT` bytes, each its own AES-256-GCM message:

    magic "REMLITE-SEALED\\x01"  u32 header length  header JSON {kdf, n, r, p, salt, nonce, segment}
    then per segment:  u32 length  AES-GCM(key, nonce_prefix(4) ‖ index(8), data, aad)

The key comes from the passphrase with scrypt (salt and parameters in the header). The associated
data of a segment is the header, the segment's index and whether it is the last one, so segments
cannot be reordered, dropped, taken from another file, or cut off at the end (a file without its
final segment is an error, not a shorter export). Nothing is written in the clear but the header.
"""

from __future__ import annotations

import io
import os
import struct
from typing import IO, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from remlite.errors import EncryptionError
from remlite.storage.crypto import SCRYPT_N, SCRYPT_P, SCRYPT_R, _kek

MAGIC = b"REMLITE-SEALED\x01"
SEGMENT = 1 << 20
_U32 = struct.Struct(">I")


def is_sealed(path: str | os.PathLike[str]) -> bool:
    """Whether the file at `path` starts like a sealed file."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


class SealedWriter(io.RawIOBase):
    """A binary file object that seals what is written to it into `raw` (closed with it)."""

    def __init__(self, raw: IO[bytes], passphrase: str, segment: int = SEGMENT) -> None:
        super().__init__()
        salt, prefix = os.urandom(16), os.urandom(4)
        header = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex(),
                  "nonce": prefix.hex(), "segment": segment, "cipher": "AES-256-GCM"}  # fmt: skip
        self._header = orjson.dumps(header)
        self._aead = AESGCM(_kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
        self._raw, self._prefix, self._segment = raw, prefix, segment
        self._pending, self._index = bytearray(), 0
        raw.write(MAGIC + _U32.pack(len(self._header)) + self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed sealed file")
        view = memoryview(data).cast("B")
        self._pending += view
        while len(self._pending) > self._segment:
            self._emit(bytes(self._pending[: self._segment]), last=False)
            del self._pending[: self._segment]
        return len(view)

    def _emit(self, chunk: bytes, last: bool) -> None:
        nonce = self._prefix + self._index.to_bytes(8, "big")
        sealed = self._aead.encrypt(nonce, chunk, _aad(self._header, self._index, last))
        self._raw.write(_U32.pack(len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            try:
                self._emit(bytes(self._pending), last=True)
                self._pending.clear()
                self._raw.close()
            finally:
                super().close()


def read_sealed(source: IO[bytes], passphrase: str | None) -> io.BytesIO:
    """The plaintext of a sealed file (EncryptionError for a wrong passphrase, a damaged, reordered
    or cut-off file: nothing of it is returned then)."""
    if passphrase is None:
        raise EncryptionError("the file is sealed: give its passphrase (passphrase= or REMLITE_PASSPHRASE)")
    if source.read(len(MAGIC)) != MAGIC:
        raise EncryptionError("not a sealed remlite file")
    try:
        (size,) = _U32.unpack(_exactly(source, 4))
        header_bytes = _exactly(source, size)
        header = orjson.loads(header_bytes)
        salt, prefix = bytes.fromhex(header["salt"]), bytes.fromhex(header["nonce"])
        aead = AESGCM(_kek(passphrase, salt, int(header["n"]), int(header["r"]), int(header["p"])))
    except (ValueError, KeyError, TypeError, struct.error, orjson.JSONDecodeError) as exc:
        raise EncryptionError(f"the sealed file's header is unreadable ({exc})") from None
    out, index, last = io.BytesIO(), 0, False
    while not last:
        raw = source.read(4)
        if len(raw) < 4:
            raise EncryptionError("the sealed file is cut short: its last segment is missing")
        sealed = _exactly(source, _U32.unpack(raw)[0])
        nonce = prefix + index.to_bytes(8, "big")
        for final in (False, True):
            try:
                out.write(aead.decrypt(nonce, sealed, _aad(header_bytes, index, final)))
                last = final
                break
            except InvalidTag:
                continue
        else:
            what = "a wrong passphrase, or a damaged file" if index == 0 else f"segment {index} is damaged"
            raise EncryptionError(f"the sealed file does not open: {what}")
        index += 1
    if source.read(1):
        raise EncryptionError("the sealed file has bytes after its last segment")
    out.seek(0)
    return out


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _exactly(source: IO[bytes], size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise EncryptionError("the sealed file is cut short")
    return data
