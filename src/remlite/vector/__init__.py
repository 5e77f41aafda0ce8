"""HNSW vector indexes (usearch) as derived state: exact, filtered and approximate search, atomic files.

`VectorIndex` is the component; `exact_topk` is the numpy brute force it (and the recall tests) use
as the reference. See `index.py` for the measurements behind the library and threshold choices.
`VectorIndex` (usearch, ~15 MB) and `exact_topk`/`METRICS` (numpy, ~16 MB) are imported on first
use: a process that opens a database but never searches vectors loads neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from remlite.lazy import lazy_exports
from remlite.vector.persist import IndexFileInfo

if TYPE_CHECKING:
    from remlite.vector.exact import METRICS, exact_topk
    from remlite.vector.index import VectorIndex

__all__ = ["METRICS", "IndexFileInfo", "VectorIndex", "exact_topk"]

__getattr__ = lazy_exports(
    __name__,
    {"METRICS": "remlite.vector.exact", "exact_topk": "remlite.vector.exact", "VectorIndex": "remlite.vector.index"},
)
