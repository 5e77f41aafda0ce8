"""remlite.vector: HNSW recall against brute force, filtered search, upserts, metrics and crash-safe files.

Recall is measured on structured data, never on uniform random vectors (the ANN worst case): a
Gaussian mixture with anisotropic clusters, and real MiniLM embeddings of Python's own documentation
when the `local` embedding provider is available.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

import remlite.vector.index as vector_index
from remlite.errors import InvalidInput, StorageError
from remlite.vector import VectorIndex, exact_topk, persist
from remlite.vector.persist import FOOTER_SIZE

DIM = 384
K = 10


def mixture(n: int, queries: int, *, d: int = DIM, clusters: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points near 50 anisotropic clusters (rank-128 spread with decaying scales, plus noise), sharing
    a common offset as sentence embeddings do; `queries` more points from the same distribution."""
    rng = np.random.default_rng(seed)
    rank = min(128, d)
    centers = rng.standard_normal(d) * 0.5 + rng.standard_normal((clusters, d)) * 0.3
    decay = 1.0 / np.sqrt(np.arange(1, rank + 1))
    bases = [rng.standard_normal((rank, d)) * decay[:, None] * rng.uniform(0.5, 2.0) for _ in range(clusters)]
    assign = rng.choice(clusters, size=n + queries, p=rng.dirichlet(np.full(clusters, 2.0)))
    out = np.empty((n + queries, d), dtype=np.float32)
    for c in range(clusters):
        rows = np.flatnonzero(assign == c)
        z = rng.standard_normal((len(rows), rank))
        out[rows] = centers[c] + z @ bases[c] + 0.5 * rng.standard_normal((len(rows), d))
    return out[:n], out[n:]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return mixture(10_000, 100)


@pytest.fixture(scope="module")
def built(data: tuple[np.ndarray, np.ndarray]) -> VectorIndex:
    vectors, _ = data
    index = VectorIndex(DIM, "cos")
    index.add(np.arange(len(vectors), dtype=np.uint64), vectors)
    return index


# -- recall -----------------------------------------------------------------------------------------


def test_recall_gaussian_mixture(built: VectorIndex, data: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, queries = data
    found = np.stack([built.search(q, K)[0] for q in queries])
    truth, _ = built.exact_search(queries, K)
    assert recall(found, truth) >= 0.98
    # the index's exact search agrees with an independent numpy brute force over the raw vectors
    independent = np.stack([exact_topk(vectors, q, K, "cos")[0] for q in queries[:20]])
    assert recall(truth[:20], independent) >= 0.99


def doc_paragraphs() -> list[str]:
    """~1,900 distinct passages of real prose from Python's bundled docs (offline everywhere);
    paragraphs longer than 300 characters are split at sentence ends."""
    import pydoc_data.topics

    passages = []
    for key in sorted(pydoc_data.topics.topics):
        for block in re.split(r"\n\s*\n", pydoc_data.topics.topics[key]):
            text = " ".join(block.split())
            if len(text) < 40 or text.startswith(">>>"):
                continue
            current = ""
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
                if current and len(current) + len(sentence) > 300:
                    passages.append(current)
                    current = sentence
                else:
                    current = f"{current} {sentence}".strip()
            passages.append(current)
    return list(dict.fromkeys(passages))


def test_recall_real_embeddings(request: pytest.FixtureRequest) -> None:
    try:
        from remlite.embed import get_provider
    except ImportError:
        pytest.skip("remlite.embed is not available")
    texts = doc_paragraphs()
    assert len(texts) >= 1_800
    try:  # 48 tokens (~2 sentences) keeps embedding ~1,900 passages to ~8-14 s on 2 cores
        provider, variant = get_provider("local", max_length=48), "48"
    except InvalidInput:  # a provider without that option: full length, just slower
        provider, variant = get_provider("local"), "full"
    key = hashlib.sha256("\n".join([variant, *texts]).encode()).hexdigest()[:16]
    config_cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = Path(config_cache.mkdir("remlite-vector")) / f"pydoc-minilm-{key}.npy" if config_cache else None
    if cache is not None and cache.exists():
        embeddings = np.load(cache)
    else:  # embedded once, then cached across runs by pytest
        embeddings = np.asarray(provider.embed(texts), dtype=np.float32)
        if cache is not None:
            np.save(cache, embeddings)
    assert embeddings.shape == (len(texts), DIM)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(texts))
    corpus, queries = order[100:], order[:100]
    index = VectorIndex(DIM, "cos")
    index.add(corpus.astype(np.uint64), embeddings[corpus])
    found = np.stack([index.search(embeddings[q], K)[0] for q in queries])
    truth, _ = index.exact_search(embeddings[queries], K)
    assert recall(found, truth) >= 0.98


# -- filtered search --------------------------------------------------------------------------------


def test_filtered_one_percent_is_exact(built: VectorIndex, data: tuple[np.ndarray, np.ndarray]) -> None:
    _, queries = data
    rng = np.random.default_rng(2)
    allowed = rng.choice(len(built), len(built) // 100, replace=False).astype(np.uint64)
    allowed_set = set(allowed.tolist())
    for q in queries[:30]:
        labels, scores = built.search(q, K, allowed=allowed)
        assert len(labels) == K
        assert set(labels.tolist()) <= allowed_set
        truth, truth_scores = built.exact_search(q, K, allowed=allowed)
        assert labels.tolist() == truth.tolist()
        np.testing.assert_allclose(scores, truth_scores, rtol=1e-5, atol=1e-6)


def test_filtered_thirty_percent(built: VectorIndex, data: tuple[np.ndarray, np.ndarray]) -> None:
    _, queries = data
    rng = np.random.default_rng(3)
    allowed = rng.choice(len(built), len(built) * 3 // 10, replace=False)
    allowed_set = set(allowed.tolist())
    found = []
    for q in queries:
        labels, scores = built.search(q, K, allowed=allowed)
        assert len(labels) == K
        assert set(labels.tolist()) <= allowed_set
        assert np.all(np.diff(scores) <= 0)
        found.append(labels)
    truth, _ = built.exact_search(queries, K, allowed=allowed)
    assert recall(np.stack(found), truth) >= 0.95


def test_filtered_never_short_when_the_filter_is_far_from_the_query() -> None:
    # Two well separated groups; the query sits in group A and only group B is allowed, so the
    # graph's neighbourhood of the query holds no allowed vector at all.
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4_000, 32)).astype(np.float32) + 10
    b = rng.standard_normal((2_000, 32)).astype(np.float32) - 10
    index = VectorIndex(32, "l2")
    index.add(np.arange(6_000), np.vstack([a, b]))
    allowed = np.arange(4_000, 6_000)
    assert len(allowed) > vector_index.EXACT_ALWAYS  # so the filtered HNSW path runs first
    labels, scores = index.search(a[0], K, allowed=allowed)
    truth, truth_scores = index.exact_search(a[0], K, allowed=allowed)
    assert labels.tolist() == truth.tolist()
    np.testing.assert_allclose(scores, truth_scores, rtol=1e-5)


def test_filtered_returns_what_exists_when_fewer_than_k(built: VectorIndex) -> None:
    allowed = np.concatenate([np.arange(5), np.arange(10**9, 10**9 + 3_000)])  # 5 present, 3,000 absent
    labels, _ = built.search(np.ones(DIM), K, allowed=allowed)
    assert sorted(labels.tolist()) == [0, 1, 2, 3, 4]
    assert len(built.search(np.ones(DIM), K, allowed=[])[0]) == 0
    assert len(built.search(np.ones(DIM), K, allowed=np.arange(10**9, 10**9 + 50))[0]) == 0


# -- mutation ---------------------------------------------------------------------------------------


def test_upsert_replaces_and_remove_hides() -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((200, 16)).astype(np.float32)
    index = VectorIndex(16, "cos")
    index.add(np.arange(200), vectors)
    new = -vectors[7]
    index.add([7], new)
    assert len(index) == 200
    labels, scores = index.search(new, 1)
    assert labels.tolist() == [7] and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert index.search(vectors[7], 1)[0].tolist() != [7]
    # a repeated label within one call keeps its last vector
    index.add([9, 9], np.stack([vectors[1], vectors[2]]))
    assert index.exact_search(vectors[2], 1)[0].tolist() in ([9], [2])
    assert index.exact_search(vectors[2], 2)[1][1] == pytest.approx(1.0, abs=1e-5)

    index.remove([3, 4, 10**12])  # the unknown label is ignored
    assert len(index) == 198
    assert 3 not in index and 4 not in index and 5 in index
    for q in (vectors[3], vectors[4]):
        assert not {3, 4} & set(index.search(q, K)[0].tolist())
        assert not {3, 4} & set(index.search(q, K, allowed=[3, 4, 5])[0].tolist())
    assert index.search(vectors[3], K, allowed=[3, 4])[0].tolist() == []
    assert sorted(index.labels().tolist()) == sorted(set(range(200)) - {3, 4})
    index.add([3], vectors[3])
    assert index.search(vectors[3], 1)[0].tolist() == [3]


def test_growth_beyond_initial_capacity() -> None:
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((3_000, 8)).astype(np.float32)
    index = VectorIndex(8, "l2")
    for start in range(0, 3_000, 37):
        index.add(np.arange(start, min(start + 37, 3_000)), vectors[start : start + 37])
    assert len(index) == 3_000
    for i in rng.choice(3_000, 50, replace=False):
        labels, scores = index.search(vectors[i], 1)
        assert labels.tolist() == [i] and scores[0] == pytest.approx(0.0, abs=1e-5)
    index.remove(np.arange(0, 3_000, 2))
    index.add(np.arange(10_000, 11_500), rng.standard_normal((1_500, 8)).astype(np.float32))
    assert len(index) == 3_000
    assert index.search(vectors[1], 1)[0].tolist() == [1]


@pytest.mark.parametrize("metric", ["cos", "ip", "l2"])
def test_metrics_match_numpy(metric: str) -> None:
    rng = np.random.default_rng(7)
    n = 2_000  # above EXACT_ALWAYS, so `search` goes through the graph
    vectors = (rng.standard_normal((n, 16)) * rng.uniform(0.5, 3.0, (n, 1))).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    index = VectorIndex(16, metric)
    index.add(np.arange(n), vectors)
    if metric == "cos":
        expected = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    elif metric == "ip":
        expected = vectors @ query
    else:
        expected = -((vectors - query) ** 2).sum(axis=1)
    best = np.argsort(-expected, kind="stable")[:K]
    for exact, (labels, scores) in ((False, index.search(query, K)), (True, index.exact_search(query, K))):
        assert len(labels) == K
        assert np.all(np.diff(scores) <= 0)
        np.testing.assert_allclose(scores, expected[labels.astype(np.int64)], rtol=1e-4, atol=1e-4)
        if exact:
            assert labels.tolist() == best.tolist()
        else:  # approximate: allow one miss
            assert len(set(labels.tolist()) & set(best.tolist())) >= K - 1
    positions, scores = exact_topk(vectors, query, K, metric)
    assert positions.tolist() == best.tolist()
    np.testing.assert_allclose(scores, expected[best], rtol=1e-4, atol=1e-4)


def test_small_index_search_is_exact() -> None:
    rng = np.random.default_rng(10)
    vectors = rng.standard_normal((vector_index.EXACT_ALWAYS, 24)).astype(np.float32)
    index = VectorIndex(24, "cos")
    index.add(np.arange(len(vectors)), vectors)
    queries = rng.standard_normal((30, 24)).astype(np.float32)
    truth, truth_scores = index.exact_search(queries, K)
    for q, t, ts in zip(queries, truth, truth_scores, strict=True):
        labels, scores = index.search(q, K)
        assert labels.tolist() == t.tolist()
        np.testing.assert_array_equal(scores, ts)


def test_exact_topk_edges() -> None:
    matrix = np.array([[1, 0], [0, 1], [1, 1], [2, 2]], dtype=np.float32)
    assert exact_topk(matrix, [1, 1], 10, "ip")[0].tolist() == [3, 2, 0, 1]  # k > n: all, ordered
    assert exact_topk(matrix, [1, 1], 2, "cos")[0].tolist() == [2, 3]  # ties keep position order
    assert exact_topk(matrix, [1, 1], 0, "l2")[0].tolist() == []
    assert exact_topk(np.empty((0, 2), np.float32), [1, 1], 3, "l2")[0].tolist() == []


def test_small_and_empty_indexes() -> None:
    index = VectorIndex(4, "ip")
    assert len(index) == 0 and 1 not in index
    assert index.search(np.ones(4), K)[0].tolist() == []
    index.add([5, 6], np.eye(4, dtype=np.float32)[:2])
    labels, scores = index.search(np.array([1, 0, 0, 0]), K)  # k > len: everything, best first
    assert labels.tolist() == [5, 6] and scores.tolist() == [1.0, 0.0]
    assert index.search(np.ones(4), 0)[0].tolist() == []


def test_bad_arguments_raise_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="metric"):
        VectorIndex(8, "hamming")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InvalidInput):
            VectorIndex(bad)  # type: ignore[arg-type]
    index = VectorIndex(8)
    with pytest.raises(InvalidInput, match=r"dimension 5 .* dimension 8"):
        index.add([1], np.ones((1, 5)))
    with pytest.raises(InvalidInput, match=r"dimension 9 .* dimension 8"):
        index.search(np.ones(9), 3)
    with pytest.raises(InvalidInput, match="2 labels for 3 vectors"):
        index.add([1, 2], np.ones((3, 8)))
    with pytest.raises(InvalidInput, match="negative"):
        index.add([-1], np.ones((1, 8)))
    with pytest.raises(InvalidInput, match="reserved"):
        index.add([2**64 - 1], np.ones((1, 8)))
    with pytest.raises(InvalidInput, match="unsigned"):
        index.add([1.5], np.ones((1, 8)))
    with pytest.raises(InvalidInput, match="finite"):
        index.add([1], np.full((1, 8), np.nan))
    with pytest.raises(InvalidInput, match="k must be"):
        index.search(np.ones(8), -1)
    assert len(index) == 0  # nothing half-applied


def test_concurrent_searches_and_writes() -> None:
    rng = np.random.default_rng(8)
    vectors = rng.standard_normal((2_000, 16)).astype(np.float32)
    index = VectorIndex(16, "cos")
    index.add(np.arange(1_000), vectors[:1_000])
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for i in range(300):
                labels, _ = index.search(vectors[i % 1_000], 5)
                assert len(labels) == 5
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for start in range(1_000, 2_000, 50):  # grows the graph while the readers search
        index.add(np.arange(start, start + 50), vectors[start : start + 50])
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 2_000


# -- persistence ------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> tuple[VectorIndex, Path, np.ndarray]:
    vectors, _ = mixture(1_000, 0, d=32, seed=9)
    index = VectorIndex(32, "cos", expansion_search=80)
    index.add(np.arange(1_000, 2_000), vectors)
    path = tmp_path / "idx.rvec"
    index.save(path, seq=41)
    return index, path, vectors


def test_save_load_round_trip(saved: tuple[VectorIndex, Path, np.ndarray]) -> None:
    index, path, vectors = saved
    loaded, seq = VectorIndex.load(path)
    assert seq == 41
    assert (len(loaded), loaded.dimension, loaded.metric, loaded.expansion_search) == (1_000, 32, "cos", 80)
    for q in vectors[:20]:
        a, b = index.search(q, K), loaded.search(q, K)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_array_equal(a[1], b[1])
    info = VectorIndex.info(path)
    assert (info.seq, info.count, info.dimension, info.metric) == (41, 1_000, 32, "cos")
    assert not persist.tmp_path(path).exists()
    # the loaded index keeps working: upsert, remove, save again
    loaded.add([1_000], -vectors[0])
    loaded.remove([1_001])
    loaded.save(path, seq=42)
    again, seq = VectorIndex.load(path)
    assert seq == 42 and len(again) == 999 and 1_001 not in again
    assert again.search(-vectors[0], 1)[0].tolist() == [1_000]


def test_empty_index_round_trip(tmp_path: Path) -> None:
    VectorIndex(8, "l2").save(tmp_path / "empty.rvec", seq=0)
    loaded, seq = VectorIndex.load(tmp_path / "empty.rvec")
    assert (seq, len(loaded), loaded.metric) == (0, 0, "l2")
    loaded.add([1], np.ones((1, 8)))
    assert loaded.search(np.ones(8), 3)[0].tolist() == [1]


@pytest.mark.parametrize("keep", [0.5, 0.99, -1, -FOOTER_SIZE - 3, 10])
def test_torn_file_is_detected(saved: tuple[VectorIndex, Path, np.ndarray], keep: float) -> None:
    _, path, _ = saved
    size = path.stat().st_size
    length = int(size * keep) if 0 < keep < 1 else (size + int(keep) if keep < 0 else int(keep))
    with open(path, "r+b") as fh:
        fh.truncate(length)
    with pytest.raises(StorageError, match="torn"):
        VectorIndex.load(path)


@pytest.mark.parametrize("where", [0.0, 0.3, 0.9, -FOOTER_SIZE - 5, -20])
def test_flipped_byte_is_detected(saved: tuple[VectorIndex, Path, np.ndarray], where: float) -> None:
    _, path, _ = saved
    size = path.stat().st_size
    offset = int(size * where) if where >= 0 else size + int(where)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"torn|corrupt"):
        VectorIndex.load(path)


def test_foreign_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        VectorIndex.load(tmp_path / "nope.rvec")
    foreign = tmp_path / "foreign.rvec"
    foreign.write_bytes(os.urandom(4096))
    with pytest.raises(StorageError, match="torn or corrupt"):
        VectorIndex.load(foreign)
    raw = tmp_path / "raw.usearch"  # a bare usearch file, without remlite's trailer
    index = VectorIndex(8)
    index.add([1], np.ones((1, 8)))
    index._graph.save(str(raw))
    with pytest.raises(StorageError, match="torn or corrupt"):
        VectorIndex.load(raw)


def test_save_is_atomic(saved: tuple[VectorIndex, Path, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    index, path, vectors = saved
    before = path.read_bytes()
    # a crash after the temporary file was written but before the rename leaves a stray tmp file
    # (here longer than any real save, so a save that reused its bytes would be caught below)
    persist.tmp_path(path).write_bytes(os.urandom(2 * len(before)))
    loaded, seq = VectorIndex.load(path)
    assert seq == 41 and len(loaded) == 1_000

    # a save that fails at the rename leaves the old file untouched
    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before rename")

    index.add([5_000], vectors[0])
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError, match="cannot save"):
        index.save(path, seq=42)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert VectorIndex.load(path)[1] == 41

    # the next save overwrites the stray tmp file and replaces the target
    index.save(path, seq=43)
    loaded, seq = VectorIndex.load(path)
    assert seq == 43 and len(loaded) == 1_001 and 5_000 in loaded
    assert not persist.tmp_path(path).exists()


def test_a_k_near_the_index_size_is_answered_exactly() -> None:
    """Ranking nearly every vector through the graph costs more than a scan, and a graph walk misses
    nodes: k of 1,500 over 3,000 vectors returned fewer rows, and two copies of one index (a replica,
    a restored backup) answered with different rows."""
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors[1000:2000] = vectors[0]  # many equal scores, as hash embeddings of few words give
    index = VectorIndex(16, "cos")
    index.add(np.arange(3000), vectors)
    query = rng.standard_normal(16).astype(np.float32)
    for k in (1500, 3000, 5000):
        labels, scores = index.search(query, k)
        exact_labels, exact_scores = index.exact_search(query, k)
        assert len(labels) == min(k, 3000)
        assert np.allclose(scores, exact_scores, atol=1e-6)
        assert set(labels.tolist()) == set(exact_labels.tolist()) or k < 3000
