"""Phase 2.1 of the reference plan: a RAG application, ingest then 1,000 semantic queries.

Run: `.venv/bin/python benchmarks/rag.py [--smoke|--quick|--full] [--profile] [--no-peers]`.

Chunks are real prose (fixtures.documents(): paragraphs of the Python 3.11 docs, then WordNet
glosses; 220 characters mean); queries are 1,000 WordNet definitions (short phrases, not among
the chunks). Every engine uses the same local model, all-MiniLM-L6-v2 int8 (remlite's default
provider), so the figures compare the stores, not the models:

- remlite: `db.insert_batch("resources", chunks)` embeds and writes (one call, as an app would);
  `db.search("resources", text, k=5)` embeds the query and searches: the time a user waits.
- ChromaDB: a PersistentClient collection whose embedding function is that same model (Chroma's
  own default would download the same MiniLM from the network).
- LanceDB: vectors computed by that model, a table with an IVF-HNSW-SQ index (>= 10k rows) as
  benchmarks/vector.py sets it up; queries embedded by the model, then searched.
The peers' ingest time is the model's time for the chunks, measured once in this run, plus their
own write/index time (the model would cost them the same; it is not run three times).
Sizes: the plan's 10k chunks in --full; --quick ingests 1,000 (about a minute of embedding on
2 cores) and says so; --smoke 40. Target (issue 16): query p95 <= 20 ms including the embedding.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import fixtures
import plan
from harness import latency, memory_mb, temp_dir
from plan import Measure, Scenario
from reference import TARGETS

K = 5


class Store:
    """A peer behind one interface: load precomputed vectors, search a query vector."""

    def load(self, texts: list[str], vectors: np.ndarray) -> None: ...
    def search(self, vector: np.ndarray) -> list[str]: ...


class Chroma(Store):
    def __init__(self, root: Path, provider: Any) -> None:
        import chromadb

        class Embedder(chromadb.EmbeddingFunction):  # the same local model as remlite
            def __init__(self) -> None:
                pass

            def __call__(self, input: list[str]) -> Any:  # chroma's signature
                return [np.asarray(v, dtype=np.float32) for v in provider.embed(list(input))]

            @staticmethod
            def name() -> str:
                return "remlite-local-minilm"

        self.client = chromadb.PersistentClient(path=str(root))
        self.col = self.client.create_collection("chunks", embedding_function=Embedder(),
                                                 metadata={"hnsw:space": "cosine"})  # fmt: skip

    def load(self, texts: list[str], vectors: np.ndarray) -> None:
        for i in range(0, len(texts), 5000):
            part = texts[i : i + 5000]
            self.col.add(ids=[f"c{i + j}" for j in range(len(part))], documents=part, embeddings=vectors[i : i + 5000])

    def search(self, vector: np.ndarray) -> list[str]:
        return list(self.col.query(query_embeddings=[vector], n_results=K)["documents"][0])


class Lance(Store):
    def __init__(self, root: Path, provider: Any) -> None:
        import lancedb

        self.db = lancedb.connect(str(root))
        self.table: Any = None

    def load(self, texts: list[str], vectors: np.ndarray) -> None:
        import pyarrow as pa

        data = pa.table({
            "text": texts,
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
        })  # fmt: skip
        self.table = self.db.create_table("chunks", data)
        if len(texts) >= 10_000:
            self.table.create_index(metric="cosine", index_type="IVF_HNSW_SQ")

    def search(self, vector: np.ndarray) -> list[str]:
        return self.table.search(vector).metric("cosine").limit(K).to_arrow()["text"].to_pylist()


def body(s: Scenario) -> None:
    import remlite
    from remlite.embed import get_provider

    smoke = s.profile == "smoke"
    n = s.pick(40, 1_000, 10_000)
    n_queries = s.pick(20, 1_000, 1_000)
    if s.profile != "full":
        s.note(f"{s.profile} profile: {n:,} chunks ingested instead of the plan's 10,000 (the local model embeds "
               f"~20-60 chunks/s on 2 cores); {n_queries:,} queries")  # fmt: skip
    texts = fixtures.documents(smoke)[:n]
    questions = fixtures.queries(n_queries, smoke)[:n_queries]
    on = s.peers_on("chromadb", "lancedb")
    provider = get_provider("local")
    provider.embed(["warm up"])
    got: dict[str, dict[str, Any]] = {}
    with temp_dir() as root:
        with remlite.connect(root / "remlite", "bench", embedder="local") as db:
            print(f"remlite: ingest {n:,} chunks ...", flush=True)
            start = time.perf_counter()
            db.insert_batch("resources", [{"uri": f"doc-{i}", "content": t} for i, t in enumerate(texts)])
            ingest_s = time.perf_counter() - start
            db.search("resources", questions[0], K)
            it = itertools.cycle(questions)
            total_start = time.perf_counter()
            lat = latency(lambda: db.search("resources", next(it), K), len(questions), warmup=0)
            total_s = time.perf_counter() - total_start
            vectors_q = provider.embed(questions[:200])
            it2 = itertools.cycle(list(vectors_q))
            search_only = latency(lambda: db.search("resources", next(it2), K), 200, warmup=10)
            got["remlite"] = {"ingest_s": ingest_s, "lat": lat, "total_s": total_s, "search": search_only,
                              "rss_mb": memory_mb()["rss_mb"]}  # fmt: skip
        peers = [p for p in ("chromadb", "lancedb") if on[p]]
        if peers:
            print(f"the model alone: embed {n:,} chunks ...", flush=True)
            start = time.perf_counter()
            vectors = np.asarray(provider.embed(texts), dtype=np.float32)
            embed_s = time.perf_counter() - start
            s.raw["embed_only_s"] = embed_s
        for name in peers:
            store: Store = (Chroma if name == "chromadb" else Lance)(root / name, provider)
            print(f"{name}: load + {n_queries:,} queries ...", flush=True)
            start = time.perf_counter()
            store.load(texts, vectors)
            load_s = time.perf_counter() - start
            it3 = itertools.cycle(questions)
            total_start = time.perf_counter()
            lat = latency(lambda store=store, it3=it3: store.search(provider.embed_one(next(it3))), n_queries, 0)
            total_s = time.perf_counter() - total_start
            it4 = itertools.cycle(list(vectors_q))
            search_only = latency(lambda store=store, it4=it4: store.search(next(it4)), 200, warmup=10)
            got[name] = {"ingest_s": embed_s + load_s, "store_s": load_s, "lat": lat, "total_s": total_s,
                         "search": search_only}  # fmt: skip
    mine = got["remlite"]
    others = {p: got.get(p) for p in ("chromadb", "lancedb") if on[p]}

    def m(metric: str, unit: str, fn: Any, higher: bool = False, ref: str | None = None, **kw: Any) -> Measure:
        theirs = {p: (None if v is None else fn(v)) for p, v in others.items()}
        return Measure(metric, unit, fn(mine), higher, ref, theirs, **kw)

    rows = [
        m("ingest, per chunk (embed + write)", "ms", lambda v: v["ingest_s"] * 1000 / n, ref="rag_ingest",
          note=f"{n:,} chunks, {sum(map(len, texts)) / n:.0f} chars mean; peers: the model's time + their write"),
        m("ingest", "chunks/s", lambda v: n / v["ingest_s"], True),
        m(f"{n_queries:,} queries, total", "s", lambda v: v["total_s"], note="one after another, each embedded"),
        m("query p50, with its embedding", "ms", lambda v: v["lat"].p50_ms),
        m("query p95, with its embedding", "ms", lambda v: v["lat"].p95_ms, ref="rag_query",
          target=TARGETS["rag_query_p95"]),
        m("query p99, with its embedding", "ms", lambda v: v["lat"].p99_ms),
        m("search p50, vector given (no embedding)", "ms", lambda v: v["search"].p50_ms, ref="vector_p50",
          note=f"{n:,} chunks, k={K}; remlite returns whole rows"),
    ]  # fmt: skip
    if "embed_only_s" in s.raw:
        rows.append(Measure("the model alone, per chunk", "ms", s.raw["embed_only_s"] * 1000 / n, False,
                            note="provider.embed of the chunks, no store"))  # fmt: skip
    s.table(f"2.1 RAG: {n:,} chunks ingested with the local model, then {n_queries:,} semantic queries (k={K})", rows)
    s.raw["rag"] = {k: {"ingest_s": v["ingest_s"], "total_s": v["total_s"], "p95_ms": v["lat"].p95_ms}
                    for k, v in got.items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return plan.run("rag", "Phase 2.1: RAG application simulation", "2", body, argv)


if __name__ == "__main__":
    sys.exit(main())
