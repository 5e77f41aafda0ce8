"""The exchange layer's names and bounds, in a module that imports nothing heavy: `Exchange` (on
every `Database`) needs them when it is defined, and pyarrow (~28 MB of RSS, ~0.2 s) is imported
only when a table is first read as columns or a file written or read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remlite.errors import InvalidInput

DEFAULT_BATCH = 10_000  # rows per batch and Parquet row group (1M rows peak at ~260 MB; 25k: ~295 MB, ~10% faster)
MAX_BATCH = 1_000_000
# Rows each stage of an export may run ahead of the next (`ahead`'s queue depth, in batches): 4
# batches of 10k rows exported 1M rows at a median 431k rows/s against 406k for 1 batch (six
# alternated runs each), at the same peak RSS (~265 MB); 8 batches gave no more and ~280 MB.
AHEAD_ROWS = 40_000
DEFAULT_CHUNK = 10_000  # rows an import validates and writes at a time
FORMATS = ("parquet", "jsonl", "csv")
EXTENSIONS = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv"}
EXACT_COLUMN = "_remlite_row"  # the stored record, for the rows typed columns cannot give back exactly
VECTOR_PREFIX = "_vector_"  # `_vector_<field>`: a row's stored embedding, fixed_size_list<float32>


# A long export or import reports as it goes: progress(what, rows so far), after each batch. `what`
# is the table for an export; for an import, "check" during the first pass over the file (every row
# checked, nothing written), then "write".
Progress = Callable[[str, int], None]


def ahead_depth(batch_size: int) -> int:
    """The queue depth, in batches, between two stages of an export of `batch_size`-row batches."""
    return max(1, AHEAD_ROWS // batch_size)


def check_format(fmt: Any) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return str(fmt)
