"""Vector search benchmark on real embeddings: remlite vs a peer a user would pick instead.

Run: `make data-wordnet bench-peers` once, then `.venv/bin/python benchmarks/vector.py
[--sizes 10000,100000] [--peer chroma|lance] [--quick]`.

Data: WordNet glosses (Debian's wordnet-base) embedded with the packaged all-MiniLM-L6-v2 int8
model (384-d, cached by benchmarks/realdata.py). Queries are 300 held-out glosses (not in the
index): real query vectors from the same distribution. Every row has a `category` (100 values,
indexed), so `category = 'c7'` is a 1% filter.

Both engines go through their public Python API: remlite `db.search(table, vector, k=10[, where])`
returns full rows; the peer returns ids + metadata. Recall@10 is measured against exact brute force
over the same vectors (for the filtered case, over the rows passing the filter). Build time is
loading rows + vectors and building the ANN index.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

import remlite
from harness import Row, latency, parse_args, print_table, temp_dir, throughput, write_results
from realdata import embedded_glosses

K = 10
QUERIES = 300
CATEGORIES = 100
TARGETS = {10_000: 0.3, 100_000: 0.6}  # search p50 ms
FILTER_TARGET_MS = 2.0  # 1% filter p50 at 100k


def exact_ids(matrix: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    scores = matrix @ query
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    return [ids[i] for i in top[np.argsort(-scores[top])]]


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / sum(len(t) for t in truth)


class RemliteEngine:
    name = "remlite"

    def __init__(self, root: Path) -> None:
        self.db = remlite.connect(root, embedder="hash")
        self.db.register_schema(
            {
                "name": "senses",
                "properties": {
                    "sense": {"type": "string"},
                    "gloss": {"type": "string"},
                    "category": {"type": "string"},
                },
                "key_field": "sense",
                "indexed_fields": ["category"],
                "embedding_fields": ["gloss"],
            }
        )

    def load(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        self.db.insert_batch("senses", rows, vectors={"gloss": vectors})
        self.db.rebuild_index("senses")

    def search(self, query: np.ndarray, where: str | None = None) -> list[str]:
        return [r["sense"] for r in self.db.search("senses", query, k=K, where=where)]

    def close(self) -> None:
        self.db.close()


class ChromaEngine:
    name = "chromadb"

    def __init__(self, root: Path) -> None:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(root))
        self.col = self.client.create_collection("senses", metadata={"hnsw:space": "cosine"})

    def load(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        step = 5000  # chroma caps the batch size
        for i in range(0, len(rows), step):
            part = rows[i : i + step]
            self.col.add(
                ids=[r["sense"] for r in part],
                embeddings=vectors[i : i + step],
                documents=[r["gloss"] for r in part],
                metadatas=[{"category": r["category"]} for r in part],
            )

    def search(self, query: np.ndarray, where: str | None = None) -> list[str]:
        kwargs: dict[str, Any] = {"query_embeddings": [query], "n_results": K}
        if where:
            kwargs["where"] = {"category": where.split("'")[1]}
        return list(self.col.query(**kwargs)["ids"][0])

    def close(self) -> None:
        pass


class LanceEngine:
    name = "lancedb"

    def __init__(self, root: Path) -> None:
        import lancedb

        self.db = lancedb.connect(str(root))
        self.table: Any = None

    def load(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> None:
        import pyarrow as pa

        data = pa.table(
            {
                "sense": [r["sense"] for r in rows],
                "gloss": [r["gloss"] for r in rows],
                "category": [r["category"] for r in rows],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            }
        )
        self.table = self.db.create_table("senses", data)
        if len(rows) >= 10_000:
            self.table.create_index(metric="cosine", index_type="IVF_HNSW_SQ")
        self.table.create_scalar_index("category")

    def search(self, query: np.ndarray, where: str | None = None) -> list[str]:
        q = self.table.search(query).metric("cosine").limit(K)
        if where:
            q = q.where(where, prefilter=True)
        return q.to_arrow()["sense"].to_pylist()

    def close(self) -> None:
        pass


ENGINES = {"chroma": ChromaEngine, "lance": LanceEngine}


def run_engine(
    cls: Any, rows: list[dict[str, Any]], vectors: np.ndarray, queries: np.ndarray, repeat: int
) -> dict[str, Any]:
    with temp_dir() as root:
        engine = cls(root / "db")
        start = time.perf_counter()
        engine.load(rows, vectors)
        build_s = time.perf_counter() - start
        found = [engine.search(q) for q in queries]
        it = iter(range(10**9))
        plain = latency(lambda: engine.search(queries[next(it) % len(queries)]), repeat)
        qps = throughput(lambda: [engine.search(q) for q in queries], len(queries), runs=1)  # one thread
        where = "category = 'c7'"
        filtered_found = [engine.search(q, where) for q in queries]
        it2 = iter(range(10**9))
        filtered = latency(lambda: engine.search(queries[next(it2) % len(queries)], where), repeat)
        engine.close()
    return {
        "build_s": build_s,
        "found": found,
        "plain": plain,
        "qps": qps,
        "filtered_found": filtered_found,
        "filtered": filtered,
    }


def main() -> None:
    args = parse_args(__doc__ or "", [10_000, 100_000])
    peer_name = "chroma"
    senses, all_vectors = embedded_glosses()
    results: dict[str, Any] = {"peer": ENGINES[peer_name].name, "tables": {}}
    repeat = 100 if args.quick else 500
    for n in args.sizes:
        if n + QUERIES > len(senses):
            raise SystemExit(f"only {len(senses)} senses")
        vectors = all_vectors[:n]
        rows = [{"sense": s, "gloss": g, "category": f"c{i % CATEGORIES}"} for i, (s, _l, g) in enumerate(senses[:n])]
        queries = all_vectors[n : n + QUERIES]
        ids = [r["sense"] for r in rows]
        truth = [exact_ids(vectors, ids, q, K) for q in queries]
        mask = np.array([r["category"] == "c7" for r in rows])
        sub_ids = [i for i, keep in zip(ids, mask, strict=True) if keep]
        filtered_truth = [exact_ids(vectors[mask], sub_ids, q, K) for q in queries]
        measured = {}
        for name, cls in (("remlite", RemliteEngine), (peer_name, ENGINES[peer_name])):
            print(f"{n:,}: {name} ...", flush=True)
            measured[name] = run_engine(cls, rows, vectors, queries, repeat)
        ours, theirs = measured["remlite"], measured[peer_name]
        short = sum(len(f) < K for f in ours["filtered_found"])
        table = [
            Row("build (load + index)", ours["build_s"], theirs["build_s"], "s", False),
            Row("search p50", ours["plain"].p50_ms, theirs["plain"].p50_ms, "ms", False, TARGETS.get(n)),
            Row("search p95", ours["plain"].p95_ms, theirs["plain"].p95_ms, "ms", False),
            Row("search p99", ours["plain"].p99_ms, theirs["plain"].p99_ms, "ms", False),
            Row("recall@10", recall(ours["found"], truth), recall(theirs["found"], truth), "", True, 0.98),
            Row(
                "1% filter p50",
                ours["filtered"].p50_ms,
                theirs["filtered"].p50_ms,
                "ms",
                False,
                FILTER_TARGET_MS if n == 100_000 else None,
            ),
            Row("1% filter p95", ours["filtered"].p95_ms, theirs["filtered"].p95_ms, "ms", False),
            Row("1% filter p99", ours["filtered"].p99_ms, theirs["filtered"].p99_ms, "ms", False),
            Row(
                "1% filter recall@10",
                recall(ours["filtered_found"], filtered_truth),
                recall(theirs["filtered_found"], filtered_truth),
                "",
                True,
                0.98,
                f"remlite short results: {short}",
            ),
        ]
        title = f"{n:,} real 384-d vectors (WordNet glosses, MiniLM int8), k={K}"
        print_table(title, table, peer=ENGINES[peer_name].name)
        results["tables"][title] = table
    print(f"results: {write_results('vector', results, args.out)}")


if __name__ == "__main__":
    main()
