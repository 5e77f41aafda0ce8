"""Order-preserving binary key encoding.

Index keys are RocksDB keys, compared as raw bytes, so equality, range scans and ORDER BY become
prefix and range iterations. Every encoded value starts with a type tag (types sort as
null < false < true < numbers < timestamps < strings < bytes) and is self-delimiting, so a tuple of
values is just their concatenation and still sorts element by element.

- numbers: ints and floats share one encoding so that 3 == 3.0 and 2 < 2.5 < 3 hold in the index.
  The float64 image is stored with its sign bit flipped (negatives inverted), followed by a 4-byte
  correction that keeps integers beyond 2**53 exact.
- timestamps: microseconds since the Unix epoch (UTC) as an offset-binary int64.
- strings/bytes: 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x00 (UTF-8 byte order is code point
  order, the same order Python uses for str).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from remlite.errors import InvalidInput

NULL = 0x01
FALSE = 0x02
TRUE = 0x03
NUMBER = 0x04
TIMESTAMP = 0x05
STRING = 0x06
BYTES = 0x07

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_D = struct.Struct(">d")
_Q = struct.Struct(">Q")
_I = struct.Struct(">I")
_SIGN = 1 << 63
_MASK = (1 << 64) - 1
_TERM = b"\x00\x00"


class Timestamp(int):
    """Microseconds since the epoch (UTC); encodes with the timestamp tag instead of as a number."""

    @classmethod
    def from_datetime(cls, value: datetime) -> Timestamp:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return cls((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        try:
            return cls.from_datetime(datetime.fromisoformat(text))
        except ValueError:
            raise InvalidInput(f"not an ISO 8601 timestamp: {text!r}") from None

    def to_datetime(self) -> datetime:
        from datetime import timedelta

        return _EPOCH + timedelta(microseconds=int(self))


def _encode_number(value: int | float) -> bytes:
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInput(f"integer {value} is outside the indexable range of int64")
        image = float(value)
        correction = value - int(image)
    else:
        if value != value:
            raise InvalidInput("NaN cannot be stored in an index")
        image = value + 0.0  # folds -0.0 into 0.0
        correction = 0
    bits = _Q.unpack(_D.pack(image))[0]
    bits = (~bits & _MASK) if bits & _SIGN else (bits | _SIGN)
    return bytes((NUMBER,)) + _Q.pack(bits) + _I.pack(correction + 2**31)


_SMALL_INTS = [_encode_number(i) for i in range(-1024, 1025)]  # priorities, counts, flags: the common case


def _escape(raw: bytes, tag: int) -> bytes:
    return bytes((tag,)) + raw.replace(b"\x00", b"\x00\xff") + _TERM


def encode(value: Any) -> bytes:
    """Encode one scalar value. Lists and dicts are not scalars: callers index list items separately."""
    if type(value) is str:
        try:
            return b"\x06" + value.encode().replace(b"\x00", b"\x00\xff") + _TERM
        except UnicodeEncodeError:
            raise InvalidInput(f"{value!r} is not valid Unicode (it holds a lone surrogate)") from None
    if value is None:
        return b"\x01"
    if value is True:
        return b"\x03"
    if value is False:
        return b"\x02"
    if isinstance(value, Timestamp):
        return bytes((TIMESTAMP,)) + _Q.pack((int(value) + _SIGN) & _MASK)
    if isinstance(value, str):
        return encode(str(value))
    if type(value) is int and -1024 <= value <= 1024:
        return _SMALL_INTS[value + 1024]
    if isinstance(value, (int, float)):
        return _encode_number(value)
    if isinstance(value, datetime):
        return encode(Timestamp.from_datetime(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _escape(bytes(value), BYTES)
    raise InvalidInput(f"cannot encode a value of type {type(value).__name__} in a key")


def encode_tuple(*values: Any) -> bytes:
    return b"".join(encode(v) for v in values)


def _unescape(data: bytes, start: int) -> tuple[bytes, int]:
    out = bytearray()
    i = start
    while True:
        j = data.index(b"\x00", i)
        out += data[i:j]
        nxt = data[j + 1]
        if nxt == 0x00:
            return bytes(out), j + 2
        if nxt != 0xFF:
            raise InvalidInput("malformed key: bad escape in string")
        out.append(0)
        i = j + 2


def decode_one(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Decode the value at `pos`; return it and the position just after it."""
    try:
        tag = data[pos]
        if tag == NULL:
            return None, pos + 1
        if tag == TRUE:
            return True, pos + 1
        if tag == FALSE:
            return False, pos + 1
        if tag == NUMBER:
            bits = _Q.unpack_from(data, pos + 1)[0]
            bits = (bits & ~_SIGN & _MASK) if bits & _SIGN else (~bits & _MASK)
            image = _D.unpack(_Q.pack(bits))[0]
            correction = _I.unpack_from(data, pos + 9)[0] - 2**31
            if correction or (image.is_integer() and abs(image) < 2**63):
                return int(image) + correction, pos + 13
            return image, pos + 13
        if tag == TIMESTAMP:
            return Timestamp((_Q.unpack_from(data, pos + 1)[0]) - _SIGN), pos + 9
        if tag == STRING:
            raw, end = _unescape(data, pos + 1)
            return raw.decode(), end
        if tag == BYTES:
            return _unescape(data, pos + 1)
    except (IndexError, struct.error, ValueError, UnicodeDecodeError):
        raise InvalidInput("malformed key: truncated or corrupt value") from None
    raise InvalidInput(f"malformed key: unknown type tag {tag:#x}")


def decode_tuple(data: bytes) -> list[Any]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = decode_one(data, pos)
        values.append(value)
    return values


def u32(n: int) -> bytes:
    return _I.pack(n)


u64 = _Q.pack  # int -> 8 big-endian bytes (bound method: no Python frame on hot paths)


def read_u32(data: bytes, pos: int = 0) -> int:
    return _I.unpack_from(data, pos)[0]


def read_u64(data: bytes, pos: int = 0) -> int:
    return _Q.unpack_from(data, pos)[0]


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no such bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))
