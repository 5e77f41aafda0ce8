"""The Store's encryption seam: what `remlite.storage.engine.Store` puts in place of RocksDB's own
objects when a database is encrypted, so every layer above reads and writes plain bytes and only
this seam sees ciphertext (the unencrypted path uses RocksDB's objects themselves: no call per row).

- `SealedFamily`: the map of a sealed family (`Store.cf[name]`): values sealed on put, opened on get.
- `SealingBatch`: the WriteBatch (`Store.batch()`): sealed families' values sealed, blinded families'
  keys blinded (`remlite.storage.keyspace.blinded_key`), as they are put.
- `stored_data_key`: the wrapped data key, read before the database is opened for writing, so a
  wrong passphrase is refused with nothing written.

The cipher itself (keys, AEAD, blinding) is `remlite.storage.crypto`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocksdict import AccessType, Options, Rdict, WriteBatch

from remlite.storage.crypto import BLINDED_FAMILIES, SEALED_FAMILIES, Cipher
from remlite.storage.keyspace import DATA_KEY_KEY, ENCRYPTED_KEY, blinded_key


class SealedFamily:
    """A sealed family's map in an encrypted database (`Store.cf[name]`): `get`, `[key]`, `[keys]`
    and `put` seal and open values with their key as associated data; anything else (`compact_range`,
    key iterators) is the family's own."""

    __slots__ = ("_cf", "_family", "_open", "_seal")

    def __init__(self, cf: Rdict, family: str, cipher: Cipher) -> None:
        self._cf, self._family, self._open, self._seal = cf, family, cipher.open, cipher.seal

    def get(self, key: bytes, default: Any = None) -> Any:
        value = self._cf.get(key)
        return default if value is None else self._open(self._family, key, value)

    def __getitem__(self, key: Any) -> Any:
        values, family, open_ = self._cf[key], self._family, self._open
        if type(key) is list:
            return [None if v is None else open_(family, k, v) for k, v in zip(key, values, strict=True)]
        return open_(family, key, values)

    def put(self, key: bytes, value: bytes) -> None:
        self._cf.put(key, self._seal(self._family, key, value))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cf, name)


class SealingBatch:
    """The WriteBatch of an encrypted database (`Store.batch()`): values of the sealed families are
    sealed, keys of the blinded ones blinded (`remlite.storage.keyspace.blinded_key`), as they are
    put. Range deletes there are by table or field prefix, which blinding leaves unchanged."""

    __slots__ = ("_blind", "_families", "_seal", "raw")

    def __init__(self, raw: WriteBatch, families: dict[int, str], cipher: Cipher) -> None:
        self.raw, self._families, self._seal, self._blind = raw, families, cipher.seal, cipher.blind

    def put(self, key: bytes, value: bytes, handle: Any) -> None:
        family = self._families.get(id(handle))
        if family is not None:
            if family in SEALED_FAMILIES:
                value = self._seal(family, key, value)
            else:
                key = blinded_key(family, key, self._blind)
        self.raw.put(key, value, handle)

    def delete(self, key: bytes, handle: Any) -> None:
        family = self._families.get(id(handle))
        if family is not None and family in BLINDED_FAMILIES:
            key = blinded_key(family, key, self._blind)
        self.raw.delete(key, handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def stored_data_key(path: Path) -> bytes | None:
    """The wrapped data key of the database at `path`, read through a read-only RocksDB instance
    (which writes nothing there), or None when it is not encrypted: a wrong passphrase is then
    refused before the database is opened for writing."""
    options = Options(raw_mode=True)
    try:
        db = Rdict(
            str(path), options, column_families={"meta": Options(raw_mode=True)}, access_type=AccessType.read_only()
        )
    except Exception as exc:
        from remlite.storage.engine import storage_error  # (engine imports this module)

        raise storage_error(exc, path, "reading the data key") from None
    try:
        meta = db.get_column_family("meta")
        stored = meta.get(DATA_KEY_KEY) if meta.get(ENCRYPTED_KEY) is not None else None
        del meta
        return stored  # type: ignore[no-any-return]
    finally:
        db.close()
