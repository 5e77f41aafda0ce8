"""Pausing Python's cyclic garbage collector around work that makes many short-lived objects.

A batch insert builds a dict per record, a bulk edge load a tuple per edge, and a query's result a
tuple and a dict per row; none of them form reference cycles, yet making them by the thousand sets
off the collector over and over, and each full collection walks the whole heap (the column cache's
arrays and rows included). Measured: batch inserts ~20% faster paused; 50,000 rows out of a query
took 80 ms with the collector running and 25 ms paused.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The collector off for the block (left alone when the caller had already turned it off)."""
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
