"""Key prefixes of the `vectors` column family (kept apart so writers need not import numpy)."""

from __future__ import annotations

from remdb.storage import codec

VECTOR = b"v"  # + table_id(4) + encode(field) + version(4) + id(16) -> float32 vector bytes
ROW = b"r"  # + rownum(8) -> table_id(4) + id(16)
CONFIG = b"c"  # + table_id(4) + encode(field) -> orjson {provider, model, dimension, metric}


def row_label_key(rownum: int) -> bytes:
    return ROW + codec.u64(rownum)
