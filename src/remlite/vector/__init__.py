"""HNSW vector indexes (usearch) as derived state: exact, filtered and approximate search, atomic files.

`VectorIndex` is the component; `exact_topk` is the numpy brute force it (and the recall tests) use
as the reference. See `index.py` for the measurements behind the library and threshold choices.
"""

from remlite.vector.exact import METRICS, exact_topk
from remlite.vector.index import VectorIndex
from remlite.vector.persist import IndexFileInfo

__all__ = ["METRICS", "IndexFileInfo", "VectorIndex", "exact_topk"]
