"""`VectorIndex`: one HNSW index over uint64 labels, with exact, filtered and approximate search.

The database keeps vectors in RocksDB as the source of truth; an index per table+field is derived
state, saved with the change-log sequence it reflects (`persist.py`) and caught up on open.

Layout: a usearch graph holding bfloat16 copies of the vectors finds candidates; `VectorStore`
(`store.py`) holds the exact float32 vectors, re-scores every result (scores are always exact) and
serves the exact paths. Cosine vectors are normalised on insert and ranked by inner product.
Memory and file size: ~2.6 KB per 384-d vector (100k: 259 MB file; save 0.6 s, load 0.6 s with the
checksum).

Measured on this machine: 2 shared, noisy cores (figures move ±30%); a Gaussian-mixture stand-in for
embeddings (384-d, 50 anisotropic rank-128 clusters with a common offset; queries held out), k=10,
one search thread. Real MiniLM vectors are easier (tests, 1,824 doc passages: recall@10 .994 at ef 16, 1.0 at 64).

Library and storage type (connectivity 16, expansion_add 128), recall@10 / p50 by expansion_search:
  usearch f32   10k ef32 .985/.10ms ef64 .994/.16ms; 100k ef64 .988/.42ms ef96 .995/.55ms; build 100k 56 s
  usearch f16   10k ef32 .984/.07ms ef64 .993/.10ms; 100k ef64 .983/.27ms ef96 .995/.39ms; build 22 s
  usearch bf16  10k ef32 .983/.06ms ef64 .992/.08ms; 100k ef64 .980/.17ms ef96 .994/.23ms; build 29 s
  hnswlib f32   10k ef32 .984/.05ms ef64 .991/.10ms; 100k ef64 .979/.21ms ef96 .998/.27ms; build 24 s
hnswlib is no faster than usearch bf16 and has no wheel for Python 3.11 (a ~45 s C++ build on each
fresh machine), so usearch it is; bf16 keeps float32's range (f16 overflows past 65,504 on raw
`ip`/`l2` inputs) and the exact float32 copy makes its rounding invisible in scores.

Graph shape (bf16, 100k, recall@10 / p50): connectivity 16 ef64 .965-.979/.31ms (varies by build);
24 ef64 .992/.28ms; 32 ef48 .992/.24ms, ef64 .996/.28ms. Defaults: connectivity 32,
expansion_add 128, expansion_search 64.

This module's figures (defaults, cos; two runs; build includes the exact copy; p99 tails are the
shared machine's scheduler):
  10k:  build 1.8-2.0 s; search p50 0.21-0.25 / p95 0.30-0.46 / p99 0.47-8.4 ms, recall .994-.995;
        1% filter p50 0.05 / p99 0.20-0.24 ms, recall 1.0; 30% filter p50 0.26-0.30 ms, recall .981-.984.
  100k: build 22-26 s; search p50 0.34-0.40 / p95 0.56-0.80 / p99 0.9-4.8 ms, recall .995-.996;
        1% filter p50 0.27 / p95 0.37-0.40 / p99 0.66-0.96 ms, recall 1.0; 30% p50 0.41-0.46, .993-.994.
  100k by filter size (p50): 0.5% .15ms, 1% .27, 2% .54, 3% .81 (exact scans); 5% 1.0, 10% .69 (HNSW).

Search strategies (`search`):
- ``allowed=None``: HNSW fetches ``RERANK * k`` candidates, re-scored exactly; an index of at most
  ``EXACT_ALWAYS`` vectors is simply scanned (exact, and still < 0.4 ms), as is any index whose scan
  costs less than fetching that many candidates (k above ~6% of the index: the same cost model).
- ``allowed`` given: a cost model picks the cheaper of an exact scan of the allowed labels
  (``EXACT_US_PER_LABEL`` each) and filtered HNSW (``HNSW_US_PER_CANDIDATE`` per candidate fetched,
  ``k / selectivity * OVERFETCH`` to start). At 100k x k=10 the crossover is ~4% of the index.
  usearch's Python binding has no filter predicate, so filtered HNSW over-fetches, keeps allowed
  labels and grows the fetch ``GROWTH``-fold until k are found; when growing would cost more than a
  scan (the filter is far from the query), it scans. The caller passes labels only: vectors come
  from the store. Either way the result has exactly ``min(k, len(allowed ∩ index))`` rows.
  Sorted, duplicate-free ``allowed`` skips a sort (~0.1 us per label).

Thread safety: searches run in parallel (usearch releases the GIL); add/remove are exclusive.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import usearch
from usearch.index import Index, MetricKind, ScalarKind

from remlite.errors import InvalidInput, StorageError
from remlite.vector import exact as _exact
from remlite.vector import persist
from remlite.vector.checks import as_labels, as_matrix, as_query, positive_int
from remlite.vector.rwlock import RWLock
from remlite.vector.store import VectorStore

# Filter strategy: a cost model with constants measured at 100k x 384-d on 2 shared cores. An exact
# scan costs ~0.35 us per allowed label (dict lookup + gather + dot product); HNSW costs ~3 us per
# fetched candidate once the fetch exceeds expansion_search (fetch 256: 0.6 ms, 1024: 3.1 ms).
EXACT_US_PER_LABEL = 0.35
HNSW_US_PER_CANDIDATE = 3.0
EXACT_ALWAYS = 1024  # a scan of this many vectors is always cheap (< 0.4 ms), and exact
OVERFETCH = 2.0  # first fetch: k / selectivity * OVERFETCH candidates
GROWTH = 4  # fetch multiplier when too few allowed candidates came back
RERANK = 2  # HNSW candidates fetched per wanted result, re-scored exactly in float32
# usearch inserts in parallel, but a graph built by 2 threads from empty measured worse (recall@10
# 0.991 vs 0.9975 at 500 vectors; equal from ~3,000 on), so the first nodes go in one at a time.
SEQUENTIAL_BELOW = 1024

_GRAPH_DTYPE = ScalarKind.BF16
_USEARCH_METRIC = {"cos": MetricKind.IP, "ip": MetricKind.IP, "l2": MetricKind.L2sq}


def _sorted_unique(labels: Any) -> np.ndarray:
    """Labels sorted and deduplicated; already strictly increasing input (cheap to check) is kept as is."""
    keys = as_labels(labels)
    if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():
        keys = np.unique(keys)
    return keys


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.float32)


class VectorIndex:
    """An HNSW index of vectors keyed by uint64 labels. Scores are similarities (higher is better)."""

    def __init__(
        self,
        dimension: int,
        metric: str = "cos",
        *,
        connectivity: int = 32,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> None:
        self.dimension: int = positive_int("dimension", dimension)
        self.metric: str = _exact.check_metric(metric)
        self._graph = Index(
            ndim=self.dimension,
            metric=_USEARCH_METRIC[metric],
            dtype=_GRAPH_DTYPE,
            connectivity=positive_int("connectivity", connectivity, 2),
            expansion_add=positive_int("expansion_add", expansion_add),
            expansion_search=positive_int("expansion_search", expansion_search),
        )
        self._store = VectorStore(self.dimension)
        self._lock = RWLock()
        # cos vectors are stored unit-length, so cos is scored as a plain inner product.
        self._internal_metric = "l2" if metric == "l2" else "ip"

    # -- introspection -------------------------------------------------------------------------

    @property
    def connectivity(self) -> int:
        return int(self._graph.connectivity)

    @property
    def expansion_add(self) -> int:
        return int(self._graph.expansion_add)

    @property
    def expansion_search(self) -> int:
        return int(self._graph.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._graph.expansion_search = positive_int("expansion_search", value)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, label: object) -> bool:
        try:
            keys = as_labels(label)
        except InvalidInput:
            return False
        return keys.size == 1 and int(keys[0]) in self._store

    def labels(self) -> np.ndarray:
        """Every label in the index (uint64, unordered) — for reconciling with the source of truth."""
        with self._lock.read():
            return self._store.labels.copy()

    def __repr__(self) -> str:
        return f"VectorIndex(dimension={self.dimension}, metric={self.metric!r}, len={len(self)})"

    def _query(self, query: Any) -> np.ndarray:
        q = as_query(query, self.dimension)
        return _exact.normalize_rows(q) if self.metric == "cos" else q

    # -- mutation ------------------------------------------------------------------------------

    def add(self, labels: Any, vectors: Any) -> None:
        """Insert or replace (upsert) `vectors[i]` under `labels[i]`; capacity grows as needed.

        Within one call a repeated label keeps its last vector. Cosine vectors are stored
        normalised (a zero vector stays zero and scores 0 against everything).
        """
        keys = as_labels(labels)
        mat = as_matrix(vectors, self.dimension)
        if len(keys) != len(mat):
            raise InvalidInput(f"got {len(keys)} labels for {len(mat)} vectors")
        if not len(keys):
            return
        uniq, last_from_end = np.unique(keys[::-1], return_index=True)
        if len(uniq) != len(keys):
            keep = np.sort(len(keys) - 1 - last_from_end)
            keys, mat = keys[keep], mat[keep]
        if self.metric == "cos":
            mat = _exact.normalize_rows(mat)
        with self._lock.write():
            present = keys[self._store.rows_of(keys) >= 0]
            try:
                if len(present):
                    self._graph.remove(present)
                head = max(0, SEQUENTIAL_BELOW - len(self._graph))
                if head:
                    self._graph.add(keys[:head], mat[:head], threads=1)
                if head < len(keys):
                    self._graph.add(keys[head:], mat[head:])
            except BaseException:
                # Keep graph and store agreeing: whatever the graph holds now, these labels are out.
                self._graph.remove(keys[self._graph._compiled.contains_many(keys)])
                self._store.remove(keys)
                raise
            self._store.upsert(keys, mat)

    def remove(self, labels: Any) -> None:
        """Remove labels; labels not in the index are ignored."""
        keys = as_labels(labels)
        if not len(keys):
            return
        with self._lock.write():
            present = self._store.remove(keys)
            if len(present):
                self._graph.remove(present)

    # -- search (callers hold the read lock) ---------------------------------------------------

    def _rescore(self, query: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 scores for candidate labels, best `k` first."""
        rows = self._store.rows_of(keys)
        rows = rows[rows >= 0]
        pos, scores = _exact.topk_from_scores(_exact.scores(self._store.vectors[rows], query, self._internal_metric), k)
        return self._store.labels[rows[pos]], scores

    def _hnsw(self, query: np.ndarray, count: int) -> np.ndarray:
        return np.asarray(self._graph.search(query, count, threads=1).keys, dtype=np.uint64)

    def _search_allowed(self, query: np.ndarray, k: int, allowed: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scan or filtered HNSW, whichever the cost model says is cheaper; never short."""
        scan_cost = len(allowed) * EXACT_US_PER_LABEL
        fetch = min(n, max(RERANK * k, math.ceil(k * n / len(allowed) * OVERFETCH)))
        if len(allowed) <= EXACT_ALWAYS or scan_cost <= fetch * HNSW_US_PER_CANDIDATE:
            return self._rescore(query, allowed, k)
        while True:
            keys = self._hnsw(query, fetch)
            pos = np.minimum(np.searchsorted(allowed, keys), len(allowed) - 1)
            hits = keys[allowed[pos] == keys]
            if len(hits) >= k or len(keys) >= n:  # enough, or every indexed vector was ranked
                return self._rescore(query, hits, k)
            grown = min(n, fetch * GROWTH)
            if fetch >= n or grown * HNSW_US_PER_CANDIDATE > scan_cost:
                # the graph left vectors unreached, or growing further costs more than a scan
                return self._rescore(query, allowed, k)
            fetch = grown

    def search(self, query: Any, k: int, *, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` (labels uint64, scores float32), best first; `allowed` restricts to those labels.

        Scores are exact float32 similarities whichever path ran. With `allowed`, the result has
        exactly min(k, len(allowed ∩ index)) rows: small sets are scanned exactly, larger ones go
        through filtered HNSW with an exact fallback.
        """
        q = self._query(query)
        k = positive_int("k", k, 0)
        allowed_keys = None if allowed is None else _sorted_unique(allowed)
        with self._lock.read():
            n = len(self._store)
            if n == 0 or k == 0 or (allowed_keys is not None and not len(allowed_keys)):
                return _empty()
            fetch = min(n, RERANK * k)
            if allowed_keys is None and (n <= EXACT_ALWAYS or fetch * HNSW_US_PER_CANDIDATE >= n * EXACT_US_PER_LABEL):
                # small, or so large a k that ranking by the graph costs more than a scan: scan (exact;
                # a graph walk also misses nodes once k nears n, so two copies of one index differed)
                pos, scores = _exact.topk_from_scores(_exact.scores(self._store.vectors, q, self._internal_metric), k)
                return self._store.labels[pos], scores
            if allowed_keys is None:
                return self._rescore(q, self._hnsw(q, fetch), k)
            return self._search_allowed(q, k, allowed_keys, n)

    def exact_search(self, query: Any, k: int, *, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-`k` over the stored float32 vectors (all, or `allowed`): the recall reference.

        `query` may also be a batch (m, d): labels and scores are then (m, min(k, candidates)).
        """
        k = positive_int("k", k, 0)
        batch = np.asarray(query, dtype=np.float32)
        single = batch.ndim == 1
        queries = [self._query(q) for q in (batch.reshape(1, -1) if single else batch)]
        allowed_keys = None if allowed is None else _sorted_unique(allowed)
        results = []
        with self._lock.read():
            if allowed_keys is None:
                labels, matrix = self._store.labels, self._store.vectors
            else:
                rows = self._store.rows_of(allowed_keys)
                rows = rows[rows >= 0]
                labels, matrix = self._store.labels[rows], self._store.vectors[rows]
            for q in queries:
                pos, scores = _exact.topk_from_scores(_exact.scores(matrix, q, self._internal_metric), k)
                results.append((labels[pos], scores))
        out_labels = np.array([r[0] for r in results], dtype=np.uint64).reshape(len(queries), -1)
        out_scores = np.array([r[1] for r in results], dtype=np.float32).reshape(len(queries), -1)
        return (out_labels[0], out_scores[0]) if single else (out_labels, out_scores)

    # -- persistence ---------------------------------------------------------------------------

    def save(
        self, path: Path | str, *, seq: int, extra_meta: dict[str, Any] | None = None, cipher: Any = None
    ) -> None:
        """Atomically save to `path`, recording `seq` (the change-log sequence this index reflects)
        and `extra_meta` (the owner's JSON facts, e.g. which database the index belongs to; read
        back through `info`). StorageError if the file cannot be written (no `.tmp` is left).
        `cipher` (an encrypted database's): the file is built in memory and sealed whole."""
        seq = positive_int("seq", seq, 0)
        meta: dict[str, Any] = {
            **(extra_meta or {}),
            "seq": seq,
            "dimension": self.dimension,
            "metric": self.metric,
            "connectivity": self.connectivity,
            "expansion_add": self.expansion_add,
            "expansion_search": self.expansion_search,
            "library": "usearch",
            "library_version": usearch.__version__,
        }

        def write_payload(tmp: Path) -> None:
            with self._lock.read():  # one consistent snapshot; hashing and fsync run unlocked
                self._graph.save(str(tmp))
                with open(tmp, "ab") as fh:
                    meta["graph_len"] = fh.tell()
                    self._store.write(fh)
                meta["count"] = len(self._store)

        if cipher is not None:
            with self._lock.read():
                payload = io.BytesIO()
                payload.write(self._graph.save())
                meta["graph_len"] = payload.tell()
                self._store.write(payload)
                meta["count"] = len(self._store)
            persist.write_sealed_file(Path(path), payload.getvalue(), meta, cipher)
            return
        persist.write_index_file(Path(path), write_payload, meta)

    @staticmethod
    def info(path: Path | str, cipher: Any = None) -> persist.IndexFileInfo:
        """A saved file's header (seq, count, dimension, metric) without loading or hashing it
        (a sealed file, with `cipher`, is opened into memory: `load(info=)` then reuses it)."""
        return persist.read_info(Path(path), cipher)

    @classmethod
    def load(
        cls, path: Path | str, cipher: Any = None, info: persist.IndexFileInfo | None = None
    ) -> tuple[VectorIndex, int]:
        """Load a file written by `save`: (index, seq). StorageError if torn, corrupt or foreign."""
        if info is None:
            info = persist.read_info(Path(path), cipher)
        persist.verify_payload(info)
        meta, where = info.meta, str(info.path)
        if meta.get("library") != "usearch" or str(meta.get("library_version", "")).split(".")[0] != "2":
            raise StorageError(
                f"vector index file {where} was written by {meta.get('library')} {meta.get('library_version')}; "
                "rebuild it",
                path=where,
            )
        try:
            index = cls(
                info.dimension,
                info.metric,
                connectivity=int(meta["connectivity"]),
                expansion_add=int(meta["expansion_add"]),
                expansion_search=int(meta["expansion_search"]),
            )
            source: Any = info.data if info.data is not None else where  # a sealed file: its opened bytes
            header = Index.metadata(source)
            if (
                header is None
                or header["dimensions"] != info.dimension
                or header["kind_metric"] != _USEARCH_METRIC[info.metric]
                or header["kind_scalar"] != _GRAPH_DTYPE
                or header["count_present"] != info.count
            ):
                raise StorageError(f"vector index file {where} is corrupt: graph does not match header", path=where)
            index._graph.load(source)
            with open(where, "rb") if info.data is None else io.BytesIO(info.data) as fh:
                fh.seek(int(meta["graph_len"]))
                index._store = VectorStore.read(fh, info.dimension, info.count)
        except (InvalidInput, KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:
            raise StorageError(f"vector index file {where} is corrupt: {exc}", path=where) from exc
        labels = index._store.labels
        if len(index._graph) != info.count or not index._graph._compiled.contains_many(labels).all():
            raise StorageError(f"vector index file {where} is corrupt: graph and vectors disagree", path=where)
        return index, info.seq


__all__ = ["VectorIndex"]
