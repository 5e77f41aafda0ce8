"""HNSW vector indexes (usearch) as derived state: exact, filtered and approximate search, atomic files.

`VectorIndex` is the component; `exact_topk` is the numpy brute force it (and the recall tests) use
as the reference. See `index.py` for the measurements behind the library and threshold choices.
`VectorIndex` is imported on first use (PEP 562): usearch adds ~15 MB to a process that opens a
database but never searches vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remlite.vector.exact import METRICS, exact_topk
from remlite.vector.persist import IndexFileInfo

if TYPE_CHECKING:
    from remlite.vector.index import VectorIndex

__all__ = ["METRICS", "IndexFileInfo", "VectorIndex", "exact_topk"]


def __getattr__(name: str) -> Any:
    if name == "VectorIndex":
        from remlite.vector.index import VectorIndex

        return VectorIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
