"""Encryption at rest: the data key, its wrapping by a passphrase, and the one `Cipher` every
sealed value and blinded key goes through.

An encrypted database has a random 256-bit **data key**. It is stored in `meta` only wrapped
(AES-256-GCM) by a key derived from the passphrase with scrypt; the scrypt parameters and salt are
stored beside it (`keyspace.DATA_KEY_KEY`, LOCAL: a replica has its own). Changing the passphrase
re-wraps the data key and rewrites nothing else.

With the data key, `Cipher`:
    seals a value: 0x01 ‖ nonce(12, random) ‖ AES-256-GCM(value) with the associated data
        family ‖ 0x00 ‖ key, so a value moved to another key (or family) fails its tag;
    opens it: a failed tag, a foreign version byte or a short value is `EncryptionError`, never
        garbage;
    blinds an equality-only key part (a lookup key's string, a term, a trigram): 16 ASCII bytes,
        base64url of the first 96 bits of HMAC-SHA256(blind key, family ‖ 0x00 ‖ part), where the
        blind key is HMAC-SHA256(data key, "remlite blind v1"). The form keeps every invariant of
        the plaintext shapes (no 0x00, first byte above 0x20, fixed length, so prefix scans stay
        exact);
    seals whole files (the HNSW index files) the same way, bound to the file's name.

The storage engine applies it (`remlite.storage.engine.Store`): which families are sealed and which
keys are blinded is `SEALED_FAMILIES` / `BLINDED_FAMILIES`; the unencrypted path never calls it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

import orjson

from remlite.errors import EncryptionError, WrongPassphrase

SEALED_FAMILIES = frozenset({"rows", "wal", "vectors", "edges_out"})  # every value sealed
BLINDED_FAMILIES = frozenset({"keys", "postings", "fuzzy"})  # the user string in each key blinded
ENCRYPTED_FILE = "remlite.encrypted"  # beside the RocksDB files: "a passphrase is needed" before opening

_VERSION = b"\x01"
_NONCE = 12
_OVERHEAD = 1 + _NONCE + 16
_FILE_MAGIC = b"REMSEAL\x01"
# scrypt: 2**15 x 8 x 1 (32 MiB, ~50-100 ms); the parameters are stored, so they can grow later.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1
_WRAP_AAD = b"remlite data key v1"
# Derived wrapping keys of this process, by a digest of (passphrase, parameters): a read-only handle
# reopens after every write it sees, and must not pay scrypt each time. The passphrase is not kept.
_derived: dict[bytes, bytes] = {}


def _aesgcm(key: bytes) -> Any:
    """AES-256-GCM from `cryptography`, imported when a database is encrypted (it adds ~8 MB to every
    process otherwise: the benchmark plan's idle-memory figure)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _invalid_tag() -> type[Exception]:
    """The exception a failed authentication tag raises (evaluated only when something was raised)."""
    from cryptography.exceptions import InvalidTag

    return InvalidTag


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise EncryptionError("a passphrase is a non-empty string")
    tag = hashlib.blake2b(passphrase.encode() + b"\x00" + salt + f"{n},{r},{p}".encode(), digest_size=32).digest()
    found = _derived.get(tag)
    if found is None:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        found = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())
        if len(_derived) > 64:
            _derived.clear()
        _derived[tag] = found
    return found


def wrap(data_key: bytes, passphrase: str) -> bytes:
    """The stored form of `data_key` under `passphrase` (JSON: kdf, parameters, salt, nonce, wrapped key)."""
    salt, nonce = os.urandom(16), os.urandom(_NONCE)
    kek = _kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    wrapped = _aesgcm(kek).encrypt(nonce, data_key, _WRAP_AAD)
    record = {
        "version": 1,
        "cipher": "AES-256-GCM",
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "wrapped": wrapped.hex(),
    }
    return orjson.dumps(record)


def unwrap(stored: bytes, passphrase: str | None) -> bytes:
    """The data key in `stored` (what `wrap` made); WrongPassphrase when `passphrase` does not open it."""
    if passphrase is None:
        raise EncryptionError("the database is encrypted: give its passphrase (passphrase= or REMLITE_PASSPHRASE)")
    try:
        record: dict[str, Any] = orjson.loads(stored)
        n, r, p = int(record["n"]), int(record["r"]), int(record["p"])
        salt, nonce, wrapped = (bytes.fromhex(record[k]) for k in ("salt", "nonce", "wrapped"))
        if record.get("kdf") != "scrypt" or record.get("cipher") != "AES-256-GCM":
            raise ValueError(f"unknown kdf or cipher {record.get('kdf')!r}/{record.get('cipher')!r}")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise EncryptionError(f"the database's wrapped data key is unreadable ({exc})") from None
    try:
        return _aesgcm(_kek(passphrase, salt, n, r, p)).decrypt(nonce, wrapped, _WRAP_AAD)
    except _invalid_tag():
        raise WrongPassphrase("wrong passphrase: it does not unwrap the database's data key") from None


def new_data_key() -> bytes:
    return os.urandom(32)  # what AESGCM.generate_key(bit_length=256) returns: 32 bytes of os.urandom


class Cipher:
    """Seals and opens values, blinds key parts and seals files with one data key (module docstring)."""

    __slots__ = ("_aead", "_blind")

    def __init__(self, data_key: bytes) -> None:
        self._aead = _aesgcm(data_key)
        self._blind = hmac.new(data_key, b"remlite blind v1", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "<remlite Cipher>"  # never the key

    def seal(self, family: str, key: bytes, value: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, bytes(value), family.encode() + b"\x00" + key)

    def open(self, family: str, key: bytes, value: bytes) -> bytes:
        if len(value) < _OVERHEAD or value[:1] != _VERSION:
            raise EncryptionError(f"a value in {family} is not sealed (written without the key, or damaged)")
        try:
            return self._aead.decrypt(value[1 : 1 + _NONCE], value[1 + _NONCE :], family.encode() + b"\x00" + key)
        except _invalid_tag():
            raise EncryptionError(
                f"a value in {family} failed its authentication tag: tampered with, or written under another key"
            ) from None

    def blind(self, family: str, part: bytes) -> bytes:
        digest = hmac.new(self._blind, family.encode() + b"\x00" + part, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12])

    def seal_file(self, name: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _FILE_MAGIC + nonce + self._aead.encrypt(nonce, data, b"file\x00" + name.encode())

    def open_file(self, name: str, data: bytes) -> bytes:
        if data[: len(_FILE_MAGIC)] != _FILE_MAGIC:
            raise EncryptionError(f"{name} is not a sealed file")
        at = len(_FILE_MAGIC)
        try:
            return self._aead.decrypt(data[at : at + _NONCE], data[at + _NONCE :], b"file\x00" + name.encode())
        except _invalid_tag():
            raise EncryptionError(f"{name} failed its authentication tag: tampered with, or another key's") from None
