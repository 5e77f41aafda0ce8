"""Record ids: 16-byte UUIDs.

Rows without a natural key get a UUIDv7 (time-ordered, so a table scans roughly in insertion
order and new keys land at the end of the RocksDB key space). Rows with a natural key get a
UUIDv5 of tenant + table + key, so inserting the same key again is an upsert.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Any

import orjson

from remdb.errors import InvalidId

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://remdb.dev/ids")
_last_ms = 0
_counter = 0


def new_ids(count: int) -> list[bytes]:
    """UUIDv7s: 48-bit ms timestamp, 12-bit counter (monotonic within a process), 62 random bits."""
    global _last_ms, _counter
    rand = os.urandom(8 * count)
    low_mask = (1 << 62) - 1
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _counter = ms, -1
    out = []
    for i in range(count):
        _counter += 1
        if _counter > 0xFFF:
            _last_ms += 1
            _counter = 0
        low = int.from_bytes(rand[8 * i : 8 * i + 8], "big") & low_mask
        out.append(((_last_ms << 80) | (0x7 << 76) | (_counter << 64) | (0b10 << 62) | low).to_bytes(16, "big"))
    return out


def new_id_bytes() -> bytes:
    return new_ids(1)[0]


def key_text(values: list[Any]) -> str:
    """The canonical text of a natural key (one or several fields)."""
    parts = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return parts[0] if len(parts) == 1 else "\x1f".join(parts)


_NAMESPACE_BYTES = NAMESPACE.bytes


def key_id_bytes(tenant: str, table: str, key: str) -> bytes:
    """uuid5(NAMESPACE, tenant/table/key), computed on bytes (3x faster than uuid.uuid5)."""
    return key_ids(tenant, table, [key])[0]


_VERSION_MASK = int.from_bytes(b"\xff" * 6 + b"\x0f\xff" + b"\x3f" + b"\xff" * 7, "big")
_VERSION_BITS = int.from_bytes(b"\x00" * 6 + b"\x50\x00" + b"\x80" + b"\x00" * 7, "big")


def key_ids(tenant: str, table: str, keys: list[str]) -> list[bytes]:
    """uuid5 ids of many keys of one table: the shared prefix is hashed once, then copied."""
    base = hashlib.sha1(_NAMESPACE_BYTES + f"{tenant}\x1f{table}\x1f".encode())
    out = []
    for key in keys:
        h = base.copy()
        h.update(key.encode())
        value = (int.from_bytes(h.digest()[:16], "big") & _VERSION_MASK) | _VERSION_BITS
        out.append(value.to_bytes(16, "big"))
    return out


def to_bytes(record_id: Any) -> bytes:
    """Parse an id given by a user (str or UUID) into its 16 bytes, or raise InvalidId."""
    if isinstance(record_id, uuid.UUID):
        return record_id.bytes
    if isinstance(record_id, str):
        if len(record_id) == 36 and record_id[8] == "-" and record_id[13] == "-":
            try:
                return bytes.fromhex(record_id.replace("-", ""))  # the canonical form, fast
            except ValueError:
                pass
        try:
            return uuid.UUID(record_id).bytes
        except ValueError:
            pass
    raise InvalidId(f"not a record id (ids are UUIDs): {record_id!r}")


def to_str(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
