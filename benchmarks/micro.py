"""Phase 1 of the reference plan, baseline micro-benchmarks: insert, get, scan, vector search.

Run: `.venv/bin/python benchmarks/micro.py [--smoke|--quick|--full] [--profile] [--no-peers]`.

- 1.1 insert: single durable inserts and batches (benchmarks/crud.py's measures, on the fixture
  entities: natural key + 3 indexes; peer stdlib sqlite3 as crud.py sets it up), then with local
  embeddings (the packaged MiniLM int8 model, paragraphs of the Python docs): ms per insert, single
  and in a batch.
- 1.2 get: by id, p50/p95/p99 per call; reads/s with 1, 10 and 100 threads sharing one handle
  (sqlite3: a connection per thread); reads/s with 1 and 2 reader processes opened with
  `remlite.connect(path, read_only=True)` while this process holds the database open for writing
  (sqlite3: a connection per process on the WAL database).
- 1.3 scan: a full scan to dicts of 1k, 10k and 100k entities, rows/s, and the memory the scan
  adds (peak RSS during the scan minus RSS before it, the peak reset through /proc/self/clear_refs);
  a scan by two reader processes at once.
- 1.4 vector search: 10k and 100k real 384-d vectors (WordNet glosses, benchmarks/vector.py's
  engines and measures): build time, p50/p95/p99, QPS (one thread, k=10), recall@10, a 1% filter;
  peers ChromaDB and LanceDB (at 10k in --quick, both sizes in --full).
Profiles: --smoke 1k entities; --quick 100k (crud measures), scans 1k/10k/100k; --full the same with
3 runs per figure.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import crud
import fixtures
import plan
import vector
from harness import latency, memory_mb, temp_dir, throughput
from plan import Measure, Scenario

HERE = Path(__file__).resolve().parent
SQLITE_GET = "SELECT data FROM docs WHERE id = ?"


def factories() -> dict[str, Any]:
    return {"remlite": lambda path: crud.RemliteBackend(path, fixtures.entity_schema()), "sqlite3": crud.SqliteBackend}


def load(name: str, path: Path, records: list[dict[str, Any]]) -> Any:
    db = factories()[name](path)
    db.insert_batch(records)
    return db


def all_ids(name: str, db: Any) -> list[str]:
    if name == "remlite":
        return [r["id"] for r in db.db.scan(crud.TABLE)]
    return [i for (i,) in db.conn.execute("SELECT id FROM docs")]


# --------------------------------------------------------------------------- 1.1 and 1.2
def insert_and_get(s: Scenario, n: int, peers: list[str]) -> None:
    records = [fixtures.body(r) for r in fixtures.entities(n)]
    categories = sorted({r["category"] for r in records})
    figures: dict[str, dict[str, Any]] = {}
    with temp_dir() as root:
        for name in ["remlite", *peers]:
            print(f"crud measures, {n:,} entities: {name} ...", flush=True)
            figures[name], db = crud.measure(name, root, records, s.profile != "full", factories(), categories)
            db.close()
    mine, theirs = figures["remlite"], {p: figures[p] for p in peers}

    def m(metric: str, key: str, unit: str, ref: str | None, note: str = "") -> Measure:
        return Measure(metric, unit, mine[key], True, ref, {p: f[key] for p, f in theirs.items()}, note=note)

    single_note = f"first {crud.SINGLE_CAP:,} of {n:,}" if n > crud.SINGLE_CAP else ""
    s.raw["crud"] = {k: {x: y for x, y in v.items() if not hasattr(y, "p50_ms")} for k, v in figures.items()}
    s.table(
        f"1.1 insert, {n:,} entities (natural key + 3 indexes), no embeddings",
        [
            m("single insert, durable (autocommit)", "single", "ops/s", "insert", single_note),
            m("batch insert (10k per batch)", "batch", "rows/s", "insert_bulk"),
            m("get_batch of 100 ids", "get_batch", "rows/s", None),
        ],
    )
    concurrency(s, n, records, peers)


def _threads(fn: Any, threads: int, per_thread: int) -> float:
    """Total ops/s of `threads` threads each calling fn(thread, i) per_thread times, started together."""
    barrier = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            fn(t, i)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    return threads * per_thread / (time.perf_counter() - start)


def readers(engine: str, path: Path, ids_file: Path, processes: int, ops: int, op: str) -> float:
    """Total ops/s of `processes` reader processes started together (each opens its own handle,
    says `ready`, and starts at the time it then reads on its stdin)."""
    command = [sys.executable, str(HERE / "micro.py"), "--reader", engine, str(path), str(ids_file), str(ops), op]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    children = [subprocess.Popen(command, **pipes) for _ in range(processes)]  # type: ignore[call-overload]
    for child in children:
        assert child.stdout.readline().strip() == "ready", command
    start_at = time.time() + 0.05
    for child in children:
        child.stdin.write(f"{start_at}\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"reader failed: {command}")
        results.append(plan.child_json(out))
    first = min(r["start"] for r in results)
    last = max(r["end"] for r in results)
    return sum(r["ops"] for r in results) / (last - first)


def reader_child(engine: str, path: str, ids_file: str, ops: int, op: str) -> None:
    """One reader process: open read-only, wait for the common start, run `ops` gets (or scans)."""
    ids = json.loads(Path(ids_file).read_text())
    rng = random.Random(os.getpid())
    if engine == "remlite":
        import remlite

        db = remlite.connect(path, "bench", read_only=True)
        get, scan = db.get, (lambda: len(list(db.scan(crud.TABLE))))
    else:
        conn = sqlite3.connect(f"file:{path}/docs.db?mode=ro", uri=True)

        def get(record_id: str) -> Any:
            return json.loads(conn.execute(SQLITE_GET, (record_id,)).fetchone()[0])

        def scan() -> int:
            return len([json.loads(d) for (d,) in conn.execute("SELECT data FROM docs")])

    get(ids[0])
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    time.sleep(max(0.0, start_at - time.time()))
    start = time.time()
    done = 0
    if op == "get":
        for _ in range(ops):
            get(ids[rng.randrange(len(ids))])
        done = ops
    else:
        for _ in range(ops):
            done += scan()
    print(json.dumps({"start": start, "end": time.time(), "ops": done}))


def concurrency(s: Scenario, n: int, records: list[dict[str, Any]], peers: list[str]) -> None:
    total = s.pick(2_000, 30_000, 100_000)
    reps = s.pick(200, 2_000, 10_000)
    rows: list[Measure] = []
    lat: dict[str, Any] = {}
    rates: dict[str, dict[str, float | None]] = {}
    with temp_dir() as root:
        for name in ["remlite", *peers]:
            print(f"get: {name} ...", flush=True)
            db = load(name, root / name, records)
            ids = all_ids(name, db)
            rng = random.Random(crud.SEED)
            lat[name] = latency(lambda db=db, ids=ids, rng=rng: db.get(ids[rng.randrange(len(ids))]), reps, 50)
            rates[name] = {}
            for threads in (1, 10, 100):
                if name == "remlite":
                    fn = lambda t, i, db=db, ids=ids: db.get(ids[(t * 7919 + i * 104729) % len(ids)])  # noqa: E731
                else:
                    local = threading.local()

                    def fn(t: int, i: int, path: Path = root / name, ids: list[str] = ids, local: Any = local) -> Any:
                        if not hasattr(local, "conn"):  # a connection per thread, as sqlite3 requires
                            local.conn = sqlite3.connect(path / "docs.db")
                        key = ids[(t * 7919 + i * 104729) % len(ids)]
                        return json.loads(local.conn.execute(SQLITE_GET, (key,)).fetchone()[0])

                rates[name][f"threads{threads}"] = _threads(fn, threads, max(1, total // threads))
            ids_file = root / f"{name}-ids.json"
            ids_file.write_text(json.dumps(ids))
            if s.profile == "smoke" and name != "remlite":  # --smoke: each process costs a second of imports
                rates[name].update({"processes1": None, "processes2": None, "scan2": None})
                db.close()
                continue
            for processes in (1, 2):
                rates[name][f"processes{processes}"] = readers(name, root / name, ids_file, processes, total, "get")
            rates[name]["scan2"] = None if s.profile == "smoke" else readers(name, root / name, ids_file, 2, 3, "scan")
            db.close()
    mine, theirs = lat["remlite"], {p: lat[p] for p in peers}
    for q in ("p50", "p95", "p99"):
        rows.append(Measure(f"get by id {q}", "ms", getattr(mine, f"{q}_ms"), False, "get_ms" if q == "p50" else None,
                            {p: getattr(v, f"{q}_ms") for p, v in theirs.items()}, note=f"{reps:,} calls"))  # fmt: skip
    labels = {
        "threads1": ("get, 1 thread", "get"),
        "threads10": ("get, 10 threads, one handle", "get_concurrent"),
        "threads100": ("get, 100 threads, one handle", "get_concurrent"),
        "processes1": ("get, 1 reader process (read_only=True)", "get"),
        "processes2": ("get, 2 reader processes (read_only=True)", "get_concurrent"),
        "scan2": ("scan, 2 reader processes at once", "scan"),
    }
    for key, (metric, ref) in labels.items():
        unit = "rows/s" if key == "scan2" else "ops/s"
        note = "sqlite3: a connection per thread" if key.startswith("threads") and peers else ""
        theirs_rate = {p: rates[p][key] for p in peers}
        rows.append(Measure(metric, unit, rates["remlite"][key], True, ref, theirs_rate, note=note))
    s.raw["get"] = {"latency": {k: v.__dict__ for k, v in lat.items()}, "rates": rates}
    s.table(f"1.2 get and concurrent reads, {n:,} entities (this process holds the database open for writing)", rows)


# --------------------------------------------------------------------------- 1.3
def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def scan_memory_child(engine: str, path: str) -> None:
    """In a fresh process: RSS before a full scan to a list of dicts, and the peak during it."""
    db = factories()[engine](Path(path))
    gc.collect()
    before = memory_mb()["rss_mb"]
    reset_peak()
    rows = db.scan()
    print(json.dumps({"before": before, "peak": memory_mb()["peak_mb"], "rows": rows}))


def scan_memory(engine: str, path: Path) -> float:
    """MB the scan adds in a fresh process that opened the database (peak during - RSS before)."""
    command = [sys.executable, str(HERE / "micro.py"), "--scan-memory", engine, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    got = plan.child_json(done.stdout)
    return got["peak"] - got["before"]


def scans(s: Scenario, sizes: list[int], peers: list[str]) -> None:
    rows: list[Measure] = []
    series: dict[str, list[float]] = {name: [] for name in ["remlite", *peers]}
    runs = s.pick(1, 3, 5)
    for n in sizes:
        records = [fixtures.body(r) for r in fixtures.entities(n)]
        rate: dict[str, float] = {}
        grew: dict[str, float | None] = {}
        with temp_dir() as root:
            for name in ["remlite", *peers]:
                db = load(name, root / name, records)
                db.scan()  # warm: the first scan reads the files into the page cache
                rate[name] = throughput(db.scan, n, runs)
                db.close()
                smoke_peer = s.profile == "smoke" and name != "remlite"  # --smoke: one process less
                grew[name] = None if smoke_peer or not reset_peak() else scan_memory(name, root / name)
                series[name].append(rate[name])
        del records
        rows.append(Measure(f"scan {fixtures.label(n)} to dicts", "rows/s", rate["remlite"], True, "scan",
                            {p: rate[p] for p in peers}))  # fmt: skip
        rows.append(Measure(f"memory added by the scan of {fixtures.label(n)}", "MB", grew["remlite"], False,
                            "scan_memory", {p: grew[p] for p in peers},
                            note="a fresh process that opened the database: peak RSS during a scan to a list of "
                                 "dicts - RSS before it"))  # fmt: skip
    s.table("1.3 scan (full table to dicts)", rows)
    s.line_series("scan rate by table size", "entities", "rows/s", [float(n) for n in sizes], series)


# --------------------------------------------------------------------------- 1.1 with embeddings
def embedded_inserts(s: Scenario) -> None:
    import remlite

    docs = fixtures.documents(smoke=s.profile == "smoke")
    singles, batch = s.pick(5, 60, 200), s.pick(10, 200, 1000)
    schema = {
        "name": "notes",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
        "embedding_fields": ["body"],
    }
    texts = iter(docs)
    with temp_dir() as root, remlite.connect(root, "bench", embedder="local") as db:
        db.register_schema(schema)
        one = latency(lambda: db.insert("notes", {"title": "t", "body": next(texts)}), singles, warmup=3)
        part = [{"title": "b", "body": next(texts)} for _ in range(batch)]
        start = time.perf_counter()
        db.insert_batch("notes", part)
        per_row = (time.perf_counter() - start) * 1000 / batch
        mean_chars = sum(len(r["body"]) for r in part) / batch
    s.table(
        "1.1 insert with local embeddings (all-MiniLM-L6-v2 int8 on the CPU, 384-d)",
        [
            Measure("single insert p50", "ms", one.p50_ms, False, "insert_embed", note=f"{singles} calls"),
            Measure("single insert p95", "ms", one.p95_ms, False, None),
            Measure(f"insert_batch of {batch}, per row", "ms", per_row, False, "insert_embed",
                    note=f"paragraphs of {mean_chars:.0f} chars mean (Python docs); the model is ~all of it"),
        ],
    )  # fmt: skip


# --------------------------------------------------------------------------- 1.4
def vectors(s: Scenario, sizes: list[int], peer_sizes: list[int], peers: list[str]) -> None:
    engines = {"chromadb": vector.ChromaEngine, "lancedb": vector.LanceEngine}
    repeat = s.pick(20, 200, 500)
    series: dict[str, list[float]] = {}
    for n in sizes:
        senses, all_vectors = fixtures.gloss_vectors(n, vector.QUERIES, smoke=s.profile == "smoke")
        rows = [
            {"sense": sense, "gloss": gloss, "category": f"c{i % vector.CATEGORIES}"}
            for i, (sense, _l, gloss) in enumerate(senses[:n])
        ]
        matrix, queries = all_vectors[:n], all_vectors[n : n + vector.QUERIES]
        ids = [r["sense"] for r in rows]
        truth = [vector.exact_ids(matrix, ids, q, vector.K) for q in queries]
        mask = np.array([r["category"] == "c7" for r in rows])
        sub = [i for i, keep in zip(ids, mask, strict=True) if keep]
        filtered_truth = [vector.exact_ids(matrix[mask], sub, q, vector.K) for q in queries]
        got: dict[str, dict[str, Any]] = {}
        for name, cls in [("remlite", vector.RemliteEngine), *((p, engines[p]) for p in peers if n in peer_sizes)]:
            print(f"vector {n:,}: {name} ...", flush=True)
            got[name] = vector.run_engine(cls, rows, matrix, queries, repeat)
            got[name]["recall"] = vector.recall(got[name]["found"], truth)
            got[name]["filtered_recall"] = vector.recall(got[name]["filtered_found"], filtered_truth)
            series.setdefault(name, []).append(got[name]["plain"].p50_ms)
        mine, others = got["remlite"], {p: got[p] for p in peers if p in got}

        def m(metric: str, unit: str, fn: Any, higher: bool, ref: str | None = None, note: str = "",
              mine: dict[str, Any] = mine, others: dict[str, Any] = others) -> Measure:
            theirs = {p: (None if v is None else fn(v)) for p, v in others.items()}
            return Measure(metric, unit, fn(mine), higher, ref, theirs, note=note)

        at_10k = n == 10_000
        table = [
            m("build: load + index", "s", lambda v: v["build_s"], False),
            m("search p50, k=10", "ms", lambda v: v["plain"].p50_ms, False, "vector_p50" if at_10k else None),
            m("search p95", "ms", lambda v: v["plain"].p95_ms, False),
            m("search p99", "ms", lambda v: v["plain"].p99_ms, False),
            m("queries per second, one thread", "q/s", lambda v: v["qps"], True, "vector_qps" if at_10k else None,
              "remlite returns whole rows, the peers ids"),
            m("recall@10 vs exact", "", lambda v: v["recall"], True),
            m("1% filter p50", "ms", lambda v: v["filtered"].p50_ms, False),
            m("1% filter recall@10", "", lambda v: v["filtered_recall"], True),
        ]  # fmt: skip
        if n not in peer_sizes and peers:
            s.note_once(f"vector peers at {', '.join(f'{x:,}' for x in peer_sizes)} vectors only in this profile")
        s.table(f"1.4 vector search, {n:,} real 384-d vectors (WordNet glosses, MiniLM int8), k=10", table)
        s.raw[f"vector_{n}"] = {k: {"build_s": v["build_s"], "qps": v["qps"], "p50_ms": v["plain"].p50_ms,
                                    "recall": v["recall"]} for k, v in got.items()}  # fmt: skip
    if len(sizes) > 1:
        s.line_series("vector search p50 by index size", "vectors", "ms", [float(n) for n in sizes],
                      {k: v for k, v in series.items() if len(v) == len(sizes)})  # fmt: skip


def body(s: Scenario) -> None:
    on = s.peers_on("sqlite3", "chromadb", "lancedb")
    sql_peers = ["sqlite3"] if on["sqlite3"] else []
    vector_peers = [p for p in ("chromadb", "lancedb") if on[p]]
    insert_and_get(s, s.pick(1_000, 100_000, 100_000), sql_peers)
    embedded_inserts(s)
    scans(s, s.pick([1_000], [1_000, 10_000, 100_000], [1_000, 10_000, 100_000]), sql_peers)
    sizes = s.pick([1_000], [10_000, 100_000], [10_000, 100_000])
    vectors(s, sizes, s.pick([1_000], [10_000], [10_000, 100_000]), vector_peers)
    s.note("parallel scans on 1/2/4/8 cores (Phase 1.3): this machine has 2; the 2-process scan is the measurable part")


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--scan-memory":
        scan_memory_child(sys.argv[2], sys.argv[3])
        return 0
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--reader":
        engine, path, ids_file, ops, op = sys.argv[2:7]
        reader_child(engine, path, ids_file, int(ops), op)
        return 0
    return plan.run("micro", "Phase 1: baseline micro-benchmarks", "1", body, argv)


if __name__ == "__main__":
    sys.exit(main())
