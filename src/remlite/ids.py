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

from remlite.errors import InvalidId, shown

# Part of the on-disk format (keyed ids derive from it): it keeps the name the project had when it
# was fixed, so databases written before the rename keep their ids.
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


# Batches at least this long set version bits and format id strings with numpy, over all rows
# at once (0.3 µs a row for both, against 0.8 µs row by row); smaller ones avoid importing numpy.
_VECTORISE_FROM = 256


def key_ids(tenant: str, table: str, keys: list[str]) -> list[bytes]:
    """uuid5 ids of many keys of one table: the shared prefix is hashed once, then copied."""
    base = hashlib.sha1(_NAMESPACE_BYTES + f"{tenant}\x1f{table}\x1f".encode())
    copy = base.copy
    digests = []
    for key in keys:
        h = copy()
        h.update(key.encode())
        digests.append(h.digest())
    if len(digests) >= _VECTORISE_FROM:
        import numpy as np

        rows = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 20)[:, :16].copy()
        rows[:, 6] = (rows[:, 6] & 0x0F) | 0x50
        rows[:, 8] = (rows[:, 8] & 0x3F) | 0x80
        raw = rows.tobytes()
        return [raw[i : i + 16] for i in range(0, len(raw), 16)]
    return [((int.from_bytes(d[:16], "big") & _VERSION_MASK) | _VERSION_BITS).to_bytes(16, "big") for d in digests]


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
    raise InvalidId(f"not a record id (ids are UUIDs): {shown(record_id)}")


def to_str(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEX_DIGITS: Any = None


def to_strs(raws: list[bytes]) -> list[str]:
    """`to_str` of many ids."""
    if len(raws) < _VECTORISE_FROM:
        return [to_str(raw) for raw in raws]
    import numpy as np

    global _HEX_DIGITS
    if _HEX_DIGITS is None:  # byte value -> its two hex digits, as one uint16
        _HEX_DIGITS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint16)
    digits = _HEX_DIGITS[np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(-1, 16)].view(np.uint8)
    text = np.full((len(raws), 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_COLUMNS] = digits.reshape(-1, 32)
    joined = text.tobytes().decode("ascii")
    return [joined[i : i + 36] for i in range(0, len(joined), 36)]


_DIGIT_COLUMNS = [i for i in range(36) if i not in (8, 13, 18, 23)]
