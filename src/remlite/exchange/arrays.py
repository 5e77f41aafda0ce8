"""Arrow arrays built from their buffers, not by `pa.array(...)`, and read back the same way.

Why: `pa.array` asks pyarrow's pandas shim whether its input is a pandas object, and the shim
imports pandas to answer (+49 MB resident, 0.36 s on this machine) — in an export of a table with
vectors or with rows typed columns cannot say, which otherwise needs no pandas at all. Building
from buffers is also one copy of the data, without a Python object per value. Reading back goes
through the buffers too: `to_numpy` and `to_pylist` of zoned timestamps take the same shim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    """Arrow's validity bitmap (least significant bit first), or None when every value is valid."""
    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


def utf8(encoded: Sequence[bytes], valid: np.ndarray | None = None) -> pa.Array:
    """A `pa.large_string()` array of UTF-8 bytes laid end to end (one copy, offsets from their
    lengths); `valid`, where some are null."""
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    validity = None if valid is None else _validity(valid)
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers)


def strings(values: Sequence[str | None]) -> pa.Array:
    """A `pa.string()` array of Python strings and Nones."""
    valid = np.fromiter((value is not None for value in values), dtype=bool, count=len(values))
    return utf8([b"" if value is None else value.encode() for value in values], valid).cast(pa.string())


def numbers(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """A primitive array (`kind`: pa.float32(), pa.int64(), …) over a 1-d numpy array of that type."""
    values = np.ascontiguousarray(values, dtype=kind.to_pandas_dtype())
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def flags(mask: np.ndarray) -> pa.Array:
    """A boolean array of a numpy bool array."""
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def whole(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array of a column that may come in chunks (DuckDB's do)."""
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array without nulls as numpy, from its bits (`to_numpy` goes through the
    pandas shim)."""
    array = whole(array)
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)


def _naive(kind: pa.DataType) -> pa.DataType:
    """`kind` with every zoned timestamp in it (nested ones too) made naive, in the same unit."""
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return pa.timestamp(kind.unit)
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_naive(field.type)) for field in kind])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_naive(kind.value_type)))
    return kind


def python_rows(table: pa.Table) -> list[dict[str, object]]:
    """`table.to_pylist()`, with instants as naive datetimes in UTC (what remlite's timestamps are):
    `to_pylist` of a zoned timestamp converts its zone through the pandas shim, which imports pandas."""
    naive = pa.schema([field.with_type(_naive(field.type)) for field in table.schema])
    return (table if naive == table.schema else table.cast(naive)).to_pylist()
