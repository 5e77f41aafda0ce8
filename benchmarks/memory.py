"""Phase 3.1 of the reference plan: memory. Every figure is VmRSS/VmHWM of a fresh process (the
only honest figure: a benchmark process has already grown), remlite beside stdlib sqlite3.

Run: `.venv/bin/python benchmarks/memory.py [--smoke|--quick|--full] [--profile] [--no-peers]`.

Stages, one process per engine (each step adds to the previous one):
- idle: import, open a database (remlite: `remlite.connect`; sqlite3: `sqlite3.connect` + `json`);
- 10k entities loaded: the fixture entities_10k.jsonl inserted in batches of 2,000 (natural key +
  3 indexes; sqlite3: a JSON table with 3 expression indexes, crud.py's setup), then scanned once;
  the records read from the file are dropped, so what remains is the database's;
- 100 concurrent query threads: 100 threads for a few seconds of gets, indexed finds and
  `SELECT ... LIMIT 10` (sqlite3: a connection per thread); peak RSS during it (the peak reset
  before, through /proc/self/clear_refs) and RSS after;
- the embedding model: a separate fresh process that loads remlite's local model and embeds one
  text (the document's 'Embedding model' row).
Targets (issue 16): idle <= 40 MB, 10k loaded <= 80 MB.
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import crud
import fixtures
import plan
from harness import fresh_process_memory_mb, memory_mb, temp_dir
from plan import Measure, Scenario
from reference import TARGETS

HERE = Path(__file__).resolve().parent


def stages(engine: str, root: Path, n: int, threads: int, seconds: float) -> dict[str, Any]:
    """In a fresh process: the three stages' memory (MB)."""
    out: dict[str, Any] = {}
    if engine == "remlite":
        import remlite

        db: Any = remlite.connect(root, "bench")
        db.register_schema(fixtures.entity_schema())
    else:
        db = crud.SqliteBackend(root)
    out["idle"] = memory_mb()["rss_mb"]
    for batch in fixtures.iter_entities(n, 2_000):
        rows = [fixtures.body(r) for r in batch]
        if engine == "remlite":
            db.insert_batch("items", rows)
        else:
            db.insert_batch(rows)
        del rows, batch
    if engine == "remlite":
        ids = [r["id"] for r in db.scan("items")]
    else:
        ids = [json.loads(d)["id"] for (d,) in db.conn.execute("SELECT data FROM docs")]
    gc.collect()
    out["loaded"] = memory_mb()["rss_mb"]
    out["peak_before_threads"] = memory_mb()["peak_mb"]
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM: the threads' own peak
    stop = time.perf_counter() + seconds
    done = [0] * threads
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        rng = random.Random(t)
        conn = None if engine == "remlite" else sqlite3.connect(root / "docs.db")
        barrier.wait()
        while time.perf_counter() < stop:
            roll = rng.random()
            if engine == "remlite":
                if roll < 0.6:
                    db.get(ids[rng.randrange(len(ids))])
                elif roll < 0.8:
                    db.find("items", "category", eq=f"category-{rng.randrange(100):03d}", limit=10, fetch=True)
                else:
                    db.sql("SELECT * FROM items WHERE status = ? LIMIT 10", ["active"])
            else:
                assert conn is not None
                if roll < 0.6:
                    json.loads(conn.execute("SELECT data FROM docs WHERE id = ?", (ids[rng.randrange(len(ids))],))
                               .fetchone()[0])  # fmt: skip
                else:
                    field, value = ("category", f"category-{rng.randrange(100):03d}") if roll < 0.8 else ("status",
                                                                                                        "active")
                    sql = f"SELECT data FROM docs WHERE json_extract(data, '$.{field}') = ? LIMIT 10"
                    [json.loads(d) for (d,) in conn.execute(sql, (value,))]
            done[t] += 1

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    after = memory_mb()
    out["threads_peak"] = after["peak_mb"]
    out["threads_after"] = after["rss_mb"]
    out["queries"] = sum(done)
    out["peak"] = max(out["peak_before_threads"], after["peak_mb"])
    return out


MODEL = """
from remlite.embed import get_provider
provider = get_provider("local")
provider.embed(["a short sentence to load the model and run it once"])
"""


def child(engine: str, n: int, threads: int, seconds: float) -> dict[str, Any]:
    with temp_dir("remlite-mem-") as root:
        command = [sys.executable, str(HERE / "memory.py"), "--child", engine, str(root), str(n), str(threads)]
        done = subprocess.run([*command, str(seconds)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        return plan.child_json(done.stdout)


def body(s: Scenario) -> None:
    n, threads, seconds = s.pick(1_000, 10_000, 10_000), 100, s.pick(1.0, 3.0, 10.0)
    on = s.peers_on("sqlite3")
    engines = ["remlite", *(["sqlite3"] if on["sqlite3"] and s.profile != "smoke" else [])]  # --smoke: 1 process
    with temp_dir() as d:
        idle = {
            "remlite": fresh_process_memory_mb(f"import remlite\ndb = remlite.connect({str(d)!r}, 'bench')"),
            "sqlite3": fresh_process_memory_mb(f"import sqlite3, json\nc = sqlite3.connect({str(d / 'x.db')!r})"),
            "python": fresh_process_memory_mb("pass"),
        }
    got = {}
    for engine in engines:
        print(f"memory: {engine} ...", flush=True)
        got[engine] = child(engine, n, threads, seconds)
    model = fresh_process_memory_mb(MODEL)
    mine, peers = got["remlite"], {e: got[e] for e in engines if e != "remlite"}
    bare = idle["python"]["rss_mb"]

    def m(metric: str, key: str, ref: str | None, target: float | None = None, note: str = "") -> Measure:
        return Measure(metric, "MB", mine[key], False, ref, {p: v[key] for p, v in peers.items()}, target, note)

    s.table(
        f"3.1 memory of a fresh process per engine ({n:,} entities, {threads} threads)",
        [
            Measure("idle: import + open", "MB", idle["remlite"]["rss_mb"], False, "idle_rss",
                    {"sqlite3": idle["sqlite3"]["rss_mb"]} if on["sqlite3"] else {}, TARGETS["idle_rss"],
                    f"bare python {bare:.1f} MB"),
            m(f"{fixtures.label(n)} entities loaded (and scanned once)", "loaded", "loaded_rss",
              TARGETS["loaded_rss"] if n == 10_000 else None, "the process that loaded them"),
            m(f"{threads} concurrent query threads: peak", "threads_peak", "threads_rss", None,
              f"remlite {mine['queries']:,} queries in {seconds:.0f} s"),
            m(f"{threads} concurrent query threads: after", "threads_after", None),
            m("peak RSS of the whole run (VmHWM)", "peak", None),
            Measure("the local embedding model loaded, one text embedded", "MB", model["rss_mb"], False, "model_rss",
                    note=f"all-MiniLM-L6-v2 int8 (onnxruntime); peak {model['peak_mb']:.0f} MB"),
        ],
    )  # fmt: skip
    s.raw = {"idle": idle, "stages": got, "model": model}


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        engine, root, n, threads, seconds = sys.argv[2:7]
        print(json.dumps(stages(engine, Path(root), int(n), int(threads), float(seconds))))
        return 0
    return plan.run("memory", "Phase 3.1: memory", "3", body, argv)


if __name__ == "__main__":
    sys.exit(main())
