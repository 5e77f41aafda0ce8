"""HNSW vector indexes (usearch) as derived state: exact, filtered and approximate search, atomic files.

`VectorIndex` is the component; `exact_topk` is the numpy brute force it (and the recall tests) use
as the reference. See `index.py` for the measurements behind the library and threshold choices.
"""

from remdb.vector.exact import METRICS, exact_topk
from remdb.vector.index import VectorIndex
from remdb.vector.persist import IndexFileInfo

__all__ = ["METRICS", "IndexFileInfo", "VectorIndex", "exact_topk"]
