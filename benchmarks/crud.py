"""CRUD benchmark: remlite entities vs a JSON-document table in Python's stdlib sqlite3.

Run: `.venv/bin/python benchmarks/crud.py [--sizes 10000,100000] [--quick] [--out FILE]`.

The sqlite3 side is what a typical Python user would write: `docs(id, name UNIQUE, data JSON text)`
with expression indexes on json_extract(), WAL + synchronous=NORMAL, json.dumps/loads, an upsert on
the natural key, and each single insert in its own committed transaction (autocommit) — remlite
acknowledges each insert only once it is in RocksDB's log, so sqlite must commit each one too.
Ratios are remlite/sqlite speed: > 1 means remlite is faster.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from harness import Row, fmt, fresh_process_memory_mb, latency, memory_mb, parse_args, print_table, temp_dir, throughput
from harness import write_results as write_json

HERE = Path(__file__).resolve().parent
SEED = 20240601
TABLE = "items"
STATUSES = ["open", "in_progress", "blocked", "done"]
CATEGORIES = [f"category-{i:02d}" for i in range(20)]
SINGLE_CAP = 20_000  # at 100k, time the first 20k single inserts and report their rate
SAMPLE = 20_000  # at most this many distinct random ids fetched per get / get_batch run
BATCH_IDS = 100
SCHEMA: dict[str, Any] = {
    "name": TABLE,
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string", "enum": STATUSES},
        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
        "category": {"type": "string"},
        "created_at": {"type": "string"},
    },
    "required": ["name", "status", "priority", "category"],
    "key_field": "name",
    "indexed_fields": ["status", "priority", "category"],
}
# Targets from the project brief; every line should also beat sqlite3 (ratio > 1).
TARGETS = {"single": 20_000, "batch": 100_000, "get": 100_000, "scan": 500_000, "find_p50_10k": 1.0, "idle_rss": 60}


def generate(n: int, seed: int = SEED, start: int = 0) -> list[dict[str, Any]]:
    """Deterministic entities: unique name, 4 statuses, priority 0-9, ~20 categories, ISO timestamp."""
    rng = random.Random(seed + start)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        {
            "name": f"entity-{i:07d}",  # sequential names; both engines key rows by a uuid5 of it
            "status": rng.choice(STATUSES),
            "priority": rng.randrange(10),
            "category": rng.choice(CATEGORIES),
            "created_at": (base + timedelta(seconds=rng.randrange(365 * 86400))).isoformat(),
        }
        for i in range(start, start + n)
    ]


class Backend(Protocol):
    def insert(self, record: dict[str, Any]) -> str: ...
    def insert_batch(self, records: list[dict[str, Any]]) -> list[str]: ...
    def get(self, record_id: str) -> dict[str, Any]: ...
    def get_batch(self, record_ids: list[str]) -> list[Any]: ...
    def scan(self) -> int: ...
    def find(self, category: str) -> list[str]: ...
    def find_fetch(self, category: str) -> list[Any]: ...
    def close(self) -> None: ...


class RemliteBackend:
    """The public remlite API, used exactly as an application would."""

    def __init__(self, path: Path, schema: dict[str, Any] | None = None) -> None:
        import remlite  # imported here so the sqlite3-only memory probe does not pay for it

        self.db = remlite.connect(path, "bench")
        self.db.register_schema(schema or SCHEMA)  # another schema of table `items` (benchmarks/micro.py)

    def insert(self, record: dict[str, Any]) -> str:
        return self.db.insert(TABLE, record)

    def insert_batch(self, records: list[dict[str, Any]]) -> list[str]:
        return self.db.insert_batch(TABLE, records)

    def get(self, record_id: str) -> dict[str, Any]:
        return self.db.get(record_id)

    def get_batch(self, record_ids: list[str]) -> list[Any]:
        return self.db.get_batch(record_ids)

    def scan(self) -> int:
        return len(list(self.db.scan(TABLE)))

    def find(self, category: str) -> list[str]:
        return self.db.find(TABLE, "category", eq=category)

    def find_fetch(self, category: str) -> list[Any]:
        return self.db.find(TABLE, "category", eq=category, fetch=True)

    def close(self) -> None:
        self.db.close()


class SqliteBackend:
    """A JSON-document table in stdlib sqlite3, as a typical Python user would set it up."""

    UPSERT = "INSERT INTO docs(id, name, data) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data"
    NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path / "docs.db", isolation_level=None)  # autocommit
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS docs(id TEXT PRIMARY KEY, name TEXT UNIQUE, data TEXT)")
        for field in ("status", "priority", "category"):
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS docs_{field} ON docs(json_extract(data, '$.{field}'))")

    def _row(self, record: dict[str, Any]) -> tuple[str, str, str]:
        record_id = str(uuid.uuid5(self.NAMESPACE, record["name"]))  # natural key -> id, like remlite
        return record_id, record["name"], json.dumps({"id": record_id, **record})

    def insert(self, record: dict[str, Any]) -> str:
        row = self._row(record)
        self.conn.execute(self.UPSERT, row)
        return row[0]

    def insert_batch(self, records: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(records), 10_000):
            rows = [self._row(r) for r in records[start : start + 10_000]]
            self.conn.execute("BEGIN")
            self.conn.executemany(self.UPSERT, rows)
            self.conn.execute("COMMIT")
            out += [r[0] for r in rows]
        return out

    def get(self, record_id: str) -> dict[str, Any]:
        return json.loads(self.conn.execute("SELECT data FROM docs WHERE id = ?", (record_id,)).fetchone()[0])

    def get_batch(self, record_ids: list[str]) -> list[Any]:
        sql = f"SELECT data FROM docs WHERE id IN ({','.join('?' * len(record_ids))})"
        return [json.loads(d) for (d,) in self.conn.execute(sql, record_ids)]

    def scan(self) -> int:
        return len([json.loads(d) for (d,) in self.conn.execute("SELECT data FROM docs")])

    def find(self, category: str) -> list[str]:
        sql = "SELECT id FROM docs WHERE json_extract(data, '$.category') = ?"
        return [i for (i,) in self.conn.execute(sql, (category,))]

    def find_fetch(self, category: str) -> list[Any]:
        sql = "SELECT data FROM docs WHERE json_extract(data, '$.category') = ?"
        return [json.loads(d) for (d,) in self.conn.execute(sql, (category,))]

    def plan(self) -> str:
        sql = "EXPLAIN QUERY PLAN SELECT id FROM docs WHERE json_extract(data, '$.category') = ?"
        return " / ".join(r[-1] for r in self.conn.execute(sql, ("x",)))

    def close(self) -> None:
        self.conn.close()


FACTORIES: dict[str, Callable[[Path], Backend]] = {"remlite": RemliteBackend, "sqlite3": SqliteBackend}


def measure(
    name: str,
    root: Path,
    records: list[dict[str, Any]],
    quick: bool,
    factories: dict[str, Callable[[Path], Backend]] | None = None,
    categories: list[str] | None = None,
) -> tuple[dict[str, Any], Backend]:
    """All CRUD figures for one backend; returns them and the loaded backend (left open).
    `factories` and `categories` let another script (benchmarks/micro.py) run the same measures on
    its own records (whose `category` values are `categories`)."""
    factories = factories or FACTORIES
    categories = categories or CATEGORIES
    n, runs = len(records), 1 if quick else 3
    singles = records[: min(n, SINGLE_CAP)]
    state: dict[str, Any] = {"run": 0, "db": None}

    def fresh() -> None:  # a new empty database per timed run
        if state["db"] is not None:
            state["db"].close()
        state["run"] += 1
        state["db"] = factories[name](root / f"{name}-{state['run']}")

    out: dict[str, Any] = {}
    out["single"] = throughput(lambda: [state["db"].insert(r) for r in singles], len(singles), runs, fresh)
    ids: list[str] = []
    out["batch"] = throughput(lambda: ids.extend(state["db"].insert_batch(records)), n, runs, fresh)
    db: Backend = state["db"]
    ids = ids[-n:]  # the ids of the last (loaded, still open) database
    rng = random.Random(SEED + 1)
    sample = [ids[i] for i in rng.sample(range(n), min(SAMPLE, n))]  # distinct ids, same rows for both
    assert db.get(sample[0])["id"] == sample[0]
    out["get"] = throughput(lambda: [db.get(i) for i in sample], len(sample), runs + 2)
    batches = [sample[i : i + BATCH_IDS] for i in range(0, len(sample), BATCH_IDS)]
    assert len(db.get_batch(batches[0])) == len(set(batches[0]))
    out["get_batch"] = throughput(lambda: [db.get_batch(b) for b in batches], len(sample), runs + 2)
    assert db.scan() == n, f"{name}: scan did not return {n} rows"
    out["scan"] = throughput(db.scan, n, runs + 2)
    repeat = 100 if quick else max(40, min(400, 3_000_000 // n))
    cycle = iter(categories * (repeat + 20))
    out["find_hits"] = len(db.find(categories[0]))
    out["find"] = latency(lambda: db.find(next(cycle)), repeat)
    out["find_fetch"] = latency(lambda: db.find_fetch(next(cycle)), repeat)
    return out, db


def idle_rss() -> dict[str, dict[str, float]]:
    """Memory of a fresh interpreter right after opening each database (nothing else loaded)."""
    with temp_dir() as d:
        return {
            "remlite": fresh_process_memory_mb(f"import remlite\ndb = remlite.connect({str(d)!r}, 'bench')"),
            "sqlite3": fresh_process_memory_mb(
                f"import sqlite3, json\nconn = sqlite3.connect({str(d / 'x.db')!r})\nconn.execute('select 1')"
            ),
            "python": fresh_process_memory_mb("pass"),
        }


def load_only(name: str, path: str, n: int) -> None:
    """Run in a fresh process by `loaded_rss`: load n rows in 10k chunks (so the generated data does
    not dominate), scan them once, keep the database open."""
    db = FACTORIES[name](Path(path))
    for start in range(0, n, 10_000):
        db.insert_batch(generate(min(10_000, n - start), start=start))
    assert db.scan() == n
    globals()["_keep_open"] = db


def loaded_rss(n: int) -> dict[str, dict[str, float]]:
    """RSS of a fresh process per engine after loading and scanning n rows: each engine alone."""
    out = {}
    with temp_dir() as d:
        for name in FACTORIES:
            code = f"import sys\nsys.path.insert(0, {str(HERE)!r})\nimport crud\n"
            code += f"crud.load_only({name!r}, {str(d / name)!r}, {n})"
            out[name] = fresh_process_memory_mb(code)
    return out


def rows_for(n: int, r: dict[str, Any], s: dict[str, Any]) -> list[Row]:
    single_note = f"first {SINGLE_CAP:,} of {n:,} timed" if n > SINGLE_CAP else ""
    ten_k = TARGETS["find_p50_10k"] if n == 10_000 else None
    hits = f"{r['find_hits']} hits/query"
    return [
        Row("single insert, autocommit", r["single"], s["single"], "ops/s", True, TARGETS["single"], single_note),
        Row("batch insert (10k chunks)", r["batch"], s["batch"], "rows/s", True, TARGETS["batch"]),
        Row("get by id", r["get"], s["get"], "ops/s", True, TARGETS["get"], "random ids, one call each"),
        Row(f"get_batch of {BATCH_IDS}", r["get_batch"], s["get_batch"], "rows/s", True, None),
        Row("full scan to dicts", r["scan"], s["scan"], "rows/s", True, TARGETS["scan"]),
        Row("find category= p50", r["find"].p50_ms, s["find"].p50_ms, "ms", False, ten_k, f"ids only, {hits}"),
        Row("find category= p95", r["find"].p95_ms, s["find"].p95_ms, "ms", False, None),
        Row("find+fetch p50", r["find_fetch"].p50_ms, s["find_fetch"].p50_ms, "ms", False, None, "find(fetch=True)"),
        Row("find+fetch p95", r["find_fetch"].p95_ms, s["find_fetch"].p95_ms, "ms", False, None),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], [10_000, 100_000], argv)
    started = time.perf_counter()
    tables: dict[str, list[Row]] = {}
    raw: dict[str, Any] = {}
    for n in args.sizes:
        records = generate(n)
        with temp_dir() as root:
            figures, plan = {}, ""
            for name in FACTORIES:  # one engine at a time; close it so it is idle during the other
                figures[name], db = measure(name, root, records, args.quick)
                if isinstance(db, SqliteBackend):
                    plan = db.plan()
                db.close()
            assert figures["remlite"]["find_hits"] == figures["sqlite3"]["find_hits"], "find results differ"
        tables[str(n)] = rows = rows_for(n, figures["remlite"], figures["sqlite3"])
        raw[str(n)] = figures
        print_table(f"CRUD, {n:,} entities — sqlite3 find plan: {plan}", rows, "sqlite3")
    after, idle, largest = memory_mb(), idle_rss(), max(args.sizes)
    loaded = loaded_rss(largest)
    rem, peer = loaded["remlite"], loaded["sqlite3"]
    mem_rows = [
        Row("idle RSS after connect", idle["remlite"]["rss_mb"], idle["sqlite3"]["rss_mb"], "MB", False,
            TARGETS["idle_rss"], f"fresh process; bare python {idle['python']['rss_mb']:.1f} MB"),
        Row(f"RSS after loading {largest:,}", rem["rss_mb"], peer["rss_mb"], "MB", False, None,
            f"fresh process per engine; peaks {rem['peak_mb']:.0f} / {peer['peak_mb']:.0f} MB"),
        Row("RSS after whole run", after["rss_mb"], None, "MB", False, None,
            f"this process: both engines + data; peak {after['peak_mb']:.0f} MB"),
    ]  # fmt: skip
    print_table("Memory", mem_rows, "sqlite3", "ratio (remlite smaller by)")
    all_rows = [(f"{n}: ", r) for n, rows in tables.items() for r in rows] + [("", r) for r in mem_rows]
    missed = [
        f"{n}{r.metric}: {fmt(r.remlite)} {r.unit} (target {fmt(r.target)})"
        for n, r in all_rows
        if r.target_met is False
    ]
    slower = [f"{n}{r.metric}: {r.ratio:.2f}x" for n, r in all_rows if r.ratio is not None and r.ratio < 1]
    print("targets missed:", "; ".join(missed) or "none")
    print("slower than sqlite3:", "; ".join(slower) or "none")
    path = write_json(
        "crud",
        {
            "peer": "sqlite3",
            "sizes": args.sizes,
            "tables": {**tables, "memory": mem_rows},
            "raw": raw,
            "idle": idle,
            "loaded": loaded,
        },
        args.out,
    )
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
