"""The frames of `GET /v1/changes/stream`: what a primary sends a replica on one long response.

Why frames of our own and not NDJSON: an entry's binary form (`Entry.to_bytes`) holds float32
vectors and the rows' JSON; base64 in JSON lines costs a third more bytes and an encode/decode per
entry on both sides. Why not gRPC: the server is an ASGI app already, and one HTTP response with
chunked transfer is all a one-way feed needs; acknowledgements are ordinary POSTs.

A frame is `length(4, big-endian) ‖ kind(1) ‖ payload`, `length` counting kind and payload:
    E  one change-log entry's binary form, in seq order
    H  a heartbeat: JSON {"last_seq", "first_seq", "time"} (the primary's log bounds and clock),
       sent first, after every batch of entries and whenever the stream was idle for a while
    X  an error in the one JSON error shape; the primary ends the stream after it
A stream that ends without an X frame ended because the connection did (a restart, a timeout):
the replica reconnects from what it has applied.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import orjson

ENTRY, HEARTBEAT, ERROR = b"E", b"H", b"X"
MEDIA_TYPE = "application/vnd.remlite.changes"
_LENGTH = struct.Struct(">I")
MAX_FRAME = 1 << 31  # an entry holds one write's rows: a larger length is a broken stream


def frame(kind: bytes, payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload) + 1) + kind + payload


def heartbeat(last_seq: int, first_seq: int, now: float) -> bytes:
    return frame(HEARTBEAT, orjson.dumps({"last_seq": last_seq, "first_seq": first_seq, "time": now}))


class FrameReader:
    """Frames out of a byte stream that arrives in arbitrary pieces (`feed`)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Each (kind, payload) completed by `data`."""
        buffer = self._buffer
        buffer += data
        at = 0
        while len(buffer) - at >= 4:
            (size,) = _LENGTH.unpack_from(buffer, at)
            if not 1 <= size <= MAX_FRAME:
                raise ValueError(f"a frame of {size} bytes: not a change stream")
            if len(buffer) - at - 4 < size:
                break
            kind = bytes(buffer[at + 4 : at + 5])
            yield kind, bytes(buffer[at + 5 : at + 4 + size])
            at += 4 + size
        del buffer[:at]

    @property
    def pending(self) -> int:
        """Bytes of a frame not complete yet."""
        return len(self._buffer)


def parse_json(payload: bytes) -> dict[str, Any]:
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("a control frame must hold a JSON object")
    return value
