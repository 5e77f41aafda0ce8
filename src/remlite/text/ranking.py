"""The numpy side of BM25: adding up per-term scores by document and picking the best. Loaded by
the first text search, not by writes: a process that only indexes text never pays numpy (~16 MB,
0.08 s to import)."""

from __future__ import annotations

import numpy as np

POSTING_DTYPE = np.dtype([("tf", ">u2"), ("dl", ">u4")])  # a posting's value, as `index._POSTING` packs it


def _halves(ids: np.ndarray) -> np.ndarray:
    """16-byte ids as two big-endian u64 columns: numpy sorts those in id (byte) order."""
    return np.ascontiguousarray(ids).view(">u8").reshape(-1, 2)


def sum_by_id(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add up the scores of equal ids. Sorting the ids as two u64 columns is ~20x faster than
    `np.unique` on the V16 array (9,229 postings: 0.04 ms against 0.96 ms)."""
    if len(ids) == 0:
        return ids, scores
    halves = _halves(ids)
    order = np.lexsort((halves[:, 1], halves[:, 0]))
    ids, scores, halves = ids[order], scores[order], halves[order]
    starts = np.flatnonzero(np.concatenate(([True], (halves[1:] != halves[:-1]).any(axis=1))))
    return ids[starts], np.add.reduceat(scores, starts)


def best(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[bytes, float]]:
    """The `k` best (id, score), best first, equal scores by smaller id. Everything tied with the
    k-th score stays a candidate, so ties break by id, not by chance; one lexsort orders them
    (sorting (bytes, float) tuples in Python took 0.8 ms for 1,000 documents of equal score)."""
    if len(ids) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        chosen = np.flatnonzero(scores >= kth)
        ids, scores = ids[chosen], scores[chosen]
    halves = _halves(ids)
    order = np.lexsort((halves[:, 1], halves[:, 0], -scores))[:k]
    return [(ids[i].tobytes(), float(scores[i])) for i in order]
