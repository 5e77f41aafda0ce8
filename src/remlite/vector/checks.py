"""Argument checks for the vector index: every bad argument becomes InvalidInput, before any state changes.

Why a module of its own: the index must validate before it takes its lock (a half-applied add would
leave the graph and the exact store disagreeing), and the messages should read the same everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from remlite.errors import InvalidInput

NO_KEY = int(np.iinfo(np.uint64).max)  # usearch's "missing key" sentinel, so not a usable label


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as an int >= `minimum` (bools refused), else InvalidInput naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInput(f"{name} must be an integer >= {minimum}, got {value!r}", **{name: repr(value)})
    return int(value)


def as_labels(labels: Any) -> np.ndarray:
    """Labels as a 1-d uint64 array; InvalidInput for negatives, non-integers and 2**64-1."""
    arr = np.asarray(labels)
    if arr.dtype == object:
        try:
            arr = np.array(arr.tolist(), dtype=np.uint64)
        except (OverflowError, TypeError, ValueError) as exc:
            raise InvalidInput(f"labels must be unsigned 64-bit integers: {exc}") from exc
    if arr.dtype.kind == "i":
        if arr.size and arr.min() < 0:
            raise InvalidInput("labels must be unsigned 64-bit integers, got a negative label")
    elif arr.dtype.kind != "u" and arr.size:
        raise InvalidInput(f"labels must be unsigned 64-bit integers, got dtype {arr.dtype}")
    arr = arr.astype(np.uint64, copy=False).reshape(-1)
    if arr.size and int(arr.max()) == NO_KEY:
        raise InvalidInput("label 2**64-1 is reserved")
    return arr


def _dimension_error(what: str, got: int, dimension: int) -> InvalidInput:
    return InvalidInput(
        f"{what} has dimension {got} but the index has dimension {dimension}", expected=dimension, got=got
    )


def as_matrix(vectors: Any, dimension: int) -> np.ndarray:
    """Vectors as a C-contiguous float32 (n, dimension) matrix of finite values."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"vectors must be numeric arrays: {exc}") from exc
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dimension:
        raise _dimension_error("vectors", int(arr.shape[-1]) if arr.ndim else 0, dimension)
    if not np.isfinite(arr).all():
        raise InvalidInput("vectors must be finite (no NaN or infinity)")
    return np.ascontiguousarray(arr)


def as_query(query: Any, dimension: int) -> np.ndarray:
    """One query as a float32 (dimension,) vector of finite values; (1, dimension) is accepted."""
    try:
        arr = np.asarray(query, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"query must be a numeric array: {exc}") from exc
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] != dimension:
        raise _dimension_error("query", int(arr.shape[-1]) if arr.ndim else 0, dimension)
    if not np.isfinite(arr).all():
        raise InvalidInput("query must be finite (no NaN or infinity)")
    return arr


__all__ = ["NO_KEY", "as_labels", "as_matrix", "as_query", "positive_int"]
