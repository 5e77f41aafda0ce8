"""Phase 4.1 of the reference plan: a large database, 1M entities (`make bench-full` only).

Run: `.venv/bin/python benchmarks/large_db.py --full [--profile] [--no-peers]` (--smoke: 3,000
entities, checkpoints at 1k/2k/3k; --quick: 200k, checkpoints at 100k/200k).

The fixture entities_1m.jsonl (benchmarks/sql.py's generator, no embeddings) is read in chunks
of 50,000 and bulk-inserted with `insert_batch` (natural key + 3 indexes: fixtures.entity_schema(),
as its sqlite3 peer), timing every chunk: the ingest rate over time. At 100k, 500k and 1M rows, untimed: the indexed
queries' latency (p50/p95, 200 calls each: get by id, `find(category=, limit=10)`,
`SELECT * FROM items WHERE category = ? LIMIT 10`, `SELECT COUNT(*) FROM items WHERE status = ?`),
right after the chunk (RocksDB compacts what was just written meanwhile, on the same two cores) and
again once its flushes and compactions are done ("settled"; the wait is untimed),
the size on disk (every file under the database directory) and this process's RSS. The peer is
stdlib sqlite3 as crud.py sets it up (JSON table, 3 expression indexes, `executemany` per chunk).
Targets (issue 16): 1M in <= 40 s, <= 700 MB on disk, indexed query p50 at 1M within 1.5x of 100k.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import crud
import fixtures
import plan
from harness import fresh_process_memory_mb, latency, memory_mb, temp_dir
from plan import Measure, Scenario
from reference import TARGETS

CHUNK = 50_000


OPEN_AND_QUERY = """
import random, remlite
db = remlite.connect({path!r}, "bench")
rng = random.Random(7)
ids = db.find("items", "status", eq="active", limit=1000)
for i in range(300):
    db.get(ids[i % len(ids)])
    db.find("items", "category", eq=f"category-{{rng.randrange(100):03d}}", limit=10, fetch=True)
    db.sql("SELECT * FROM items WHERE category = ? LIMIT 10", [f"category-{{rng.randrange(100):03d}}"])
"""


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


class Remlite:
    name = "remlite"

    def __init__(self, root: Path) -> None:
        import remlite

        self.root = root
        self.db = remlite.connect(root, "bench")
        self.db.register_schema(fixtures.entity_schema())
        self.ids: list[str] = []

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self.ids += self.db.insert_batch("items", rows)

    def queries(self) -> dict[str, Any]:
        rng = random.Random(7)
        ids = self.ids
        cat = lambda: f"category-{rng.randrange(100):03d}"  # noqa: E731
        return {
            "get": lambda: self.db.get(ids[rng.randrange(len(ids))]),
            "find": lambda: self.db.find("items", "category", eq=cat(), limit=10, fetch=True),
            "sql_limit": lambda: self.db.sql("SELECT * FROM items WHERE category = ? LIMIT 10", [cat()]).rows,
            "count": lambda: self.db.sql("SELECT COUNT(*) FROM items WHERE status = ?", ["active"]).rows,
        }

    def settle(self, limit_s: float = 120.0) -> float:
        """Wait until RocksDB has no flush or compaction running or pending (what the bulk load left
        it to do): the state a database spends its life in. Seconds waited."""
        rocks = self.db._core.store.db  # RocksDB's own properties: no public verb reads them
        busy = ("rocksdb.num-running-compactions", "rocksdb.compaction-pending", "rocksdb.num-running-flushes",
                "rocksdb.mem-table-flush-pending")  # fmt: skip
        start = time.perf_counter()
        while any(rocks.property_int_value(p) for p in busy) and time.perf_counter() - start < limit_s:
            time.sleep(0.1)
        return time.perf_counter() - start

    def close(self) -> None:
        self.db.close()


class Sqlite:
    name = "sqlite3"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.backend = crud.SqliteBackend(root)
        self.ids: list[str] = []

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self.ids += self.backend.insert_batch(rows)

    def queries(self) -> dict[str, Any]:
        rng = random.Random(7)
        conn, ids = self.backend.conn, self.ids
        limit = "SELECT data FROM docs WHERE json_extract(data, '$.category') = ? LIMIT 10"
        count = "SELECT COUNT(*) FROM docs WHERE json_extract(data, '$.status') = ?"
        cat = lambda: f"category-{rng.randrange(100):03d}"  # noqa: E731
        return {
            "get": lambda: self.backend.get(ids[rng.randrange(len(ids))]),
            "find": lambda: [crud.json.loads(d) for (d,) in conn.execute(limit, (cat(),))],
            "sql_limit": lambda: [crud.json.loads(d) for (d,) in conn.execute(limit, (cat(),))],
            "count": lambda: conn.execute(count, ("active",)).fetchall(),
        }

    def settle(self) -> float:
        return 0.0  # no background work: every statement is done when it returns

    def close(self) -> None:
        self.backend.close()


LABELS = {
    "get": "get by id",
    "find": "find(category=, limit=10, fetch=True)",
    "sql_limit": "SQL WHERE category = ? LIMIT 10",
    "count": "SQL COUNT(*) WHERE status = ? (~25% of rows)",
}


def grow(engine: Any, n: int, checkpoints: list[int], chunk: int, repeat: int) -> dict[str, Any]:
    """Load n fixture entities in chunks, timing each; at each checkpoint measure the queries."""
    progress: list[tuple[int, float]] = []  # (rows so far, rows/s of the chunk)
    at: dict[int, dict[str, Any]] = {}
    loaded, load_s = 0, 0.0
    for batch in fixtures.iter_entities(n, chunk):
        rows = [fixtures.body(r) for r in batch]
        start = time.perf_counter()
        engine.insert(rows)
        took = time.perf_counter() - start
        load_s += took
        loaded += len(rows)
        progress.append((loaded, len(rows) / took))
        if loaded in checkpoints:
            queries = engine.queries()
            at[loaded] = {
                "latency": {k: latency(fn, repeat, warmup=20) for k, fn in queries.items()},
                "disk_mb": disk_mb(engine.root),
                "rss_mb": memory_mb()["rss_mb"],
                "load_s": load_s,
            }
            at[loaded]["settle_s"] = engine.settle()  # untimed, like the queries
            at[loaded]["settled"] = {k: latency(fn, repeat, warmup=20) for k, fn in queries.items()}
            print(f"  {engine.name} {loaded:,}: {load_s:.1f} s, {at[loaded]['disk_mb']:.0f} MB", flush=True)
    return {"progress": progress, "at": at, "load_s": load_s}


def body(s: Scenario) -> None:
    n = s.pick(3_000, 200_000, 1_000_000)
    checkpoints = s.pick([1_000, 2_000, 3_000], [100_000, 200_000], [100_000, 500_000, 1_000_000])
    chunk, repeat = s.pick(500, CHUNK, CHUNK), s.pick(20, 200, 200)
    if s.profile != "full":
        s.note(f"{s.profile} profile: {n:,} entities (the plan's 1M only in --full, `make bench-full`)")
    print(f"fixture entities_{fixtures.label(n)}.jsonl ...", flush=True)
    fixtures.entities_path(n)
    on = s.peers_on("sqlite3")
    got: dict[str, dict[str, Any]] = {}
    with temp_dir() as root:
        for cls in [Remlite, *([Sqlite] if on["sqlite3"] else [])]:
            engine = cls(root / cls.name)
            print(f"large db: {cls.name} ...", flush=True)
            got[cls.name] = grow(engine, n, checkpoints, chunk, repeat)
            engine.close()
            got[cls.name]["final_disk_mb"] = disk_mb(root / cls.name)  # after close: memtables flushed
            if cls is Remlite:
                code = OPEN_AND_QUERY.format(path=str(root / cls.name))
                got[cls.name]["fresh"] = fresh_process_memory_mb(code)
    mine, peers = got["remlite"], {k: v for k, v in got.items() if k != "remlite"}
    first, last = checkpoints[0], checkpoints[-1]
    rows = [
        Measure(f"bulk ingest of {fixtures.label(n)}", "s", mine["load_s"], False, None,
                {p: v["load_s"] for p, v in peers.items()}, TARGETS["bulk_1m_s"] if n == 1_000_000 else None,
                f"insert_batch of {chunk:,}, natural key + 3 indexes (sqlite3: the same)"),
        Measure("ingest rate, whole run", "rows/s", n / mine["load_s"], True, "insert_bulk",
                {p: n / v["load_s"] for p, v in peers.items()}),
        Measure("ingest rate, last chunk", "rows/s", mine["progress"][-1][1], True, None,
                {p: v["progress"][-1][1] for p, v in peers.items()}, note="steady state at the largest size"),
        Measure(f"on disk at {fixtures.label(n)} (closed)", "MB", mine["final_disk_mb"], False,
                "db_size_1m" if n == 1_000_000 else None, {p: v["final_disk_mb"] for p, v in peers.items()},
                TARGETS["disk_1m_mb"] if n == 1_000_000 else None),
        Measure(f"on disk at {fixtures.label(n)}, open, right after the load", "MB", mine["at"][last]["disk_mb"], False,
                None, {p: v["at"][last]["disk_mb"] for p, v in peers.items()},
                note="before RocksDB's compactions settle (the closed size is above)"),
        Measure(f"RSS of the loading process at {fixtures.label(n)}", "MB", mine["at"][last]["rss_mb"], False, None,
                {p: v["at"][last]["rss_mb"] for p, v in peers.items()},
                note="holds the ids of every row and what parsing the fixture left in the heap"),
        Measure(f"RSS of a fresh process: open {fixtures.label(n)} + 900 indexed queries", "MB",
                mine["fresh"]["rss_mb"], False, None, note=f"peak {mine['fresh']['peak_mb']:.0f} MB"),
    ]  # fmt: skip
    for key, label in LABELS.items():
        for size in checkpoints:
            theirs = {p: v["at"][size]["latency"][key].p50_ms for p, v in peers.items()}
            rows.append(Measure(f"{label} p50 at {fixtures.label(size)}", "ms",
                                mine["at"][size]["latency"][key].p50_ms, False, "get_ms" if key == "get" else None,
                                theirs))  # fmt: skip
        for when, note in (("latency", "measured right after the chunk's load, RocksDB compacting meanwhile"),
                           ("settled", "measured again once RocksDB's flushes and compactions were done")):
            growth = mine["at"][last][when][key].p50_ms / mine["at"][first][when][key].p50_ms
            suffix = "" if when == "latency" else ", settled"
            rows.append(Measure(f"{label} p50 growth {fixtures.label(first)} -> {fixtures.label(last)}{suffix}", "x",
                                growth, False, None, target=TARGETS["p50_growth_1m"] if key != "count" else None,
                                note="COUNT reads ~25% of rows: linear by nature" if key == "count" else note))
        rows.append(Measure(f"{label} p50 at {fixtures.label(last)}, settled", "ms",
                            mine["at"][last]["settled"][key].p50_ms, False, None,
                            {p: v["at"][last]["settled"][key].p50_ms for p, v in peers.items()}))  # fmt: skip
    at = ", ".join(map(fixtures.label, checkpoints))
    s.table(f"4.1 large database: {n:,} entities bulk-loaded (no embeddings), queries at {at}", rows)
    s.line_series("ingest rate over time", "rows loaded", "rows/s", [float(x) for x, _ in mine["progress"]],
                  {name: [r for _, r in v["progress"]] for name, v in got.items()})  # fmt: skip
    s.raw = {name: {"load_s": v["load_s"], "disk_mb": v["final_disk_mb"], "progress": v["progress"]}
             for name, v in got.items()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return plan.run("large_db", "Phase 4.1: large database (1M entities)", "4", body, argv)


if __name__ == "__main__":
    sys.exit(main())
