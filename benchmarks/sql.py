"""SQL benchmark: remlite's `db.sql()` vs the same queries in Python's stdlib sqlite3 over a JSON table.

Run: `.venv/bin/python benchmarks/sql.py [--sizes 10000,100000] [--quick] [--out FILE]`.

Data: N `items` (natural key `name`; indexed `status`, `priority`, `category`, `score`, `owner_id`;
not indexed `color`, `size`) and N/100 `owners` (indexed `region`), with `created_at` spread over
2024-2025. The sqlite3 side is what a typical Python user would write: one `docs(id, type, name,
created_at, data JSON)` table holding both kinds of record, expression indexes on
json_extract() for the same fields, WAL, `json.loads` of every returned row (remlite returns dicts
too). Both sides bind parameters (`?`), so both reuse a parsed statement.

Queries (p50 and p95 per call, same results checked on both sides before timing):
    indexed equality     SELECT * FROM items WHERE category = ?                     (~N/100 rows)
    range+order+limit    SELECT * FROM items WHERE score >= ? ORDER BY score LIMIT 20
    full-scan filter     SELECT * FROM items WHERE color = ? AND size > ?           (not indexed)
    analytics: group by  SELECT type, COUNT(*), AVG(properties->>'priority') FROM entities
                         WHERE created_at > '2025-01-01' GROUP BY type              (the reference query)
    analytics: filter    SELECT * FROM entities WHERE properties->>'status' = 'active'
                         AND properties->>'priority' > 3 ORDER BY created_at DESC LIMIT 100
    two-table join       items JOIN owners ON owners.id = items.owner_id WHERE owners.region = ?
                         ORDER BY items.priority DESC, items.name LIMIT 50
remlite answers scans, analytics and joins from its column cache (Arrow columns of the fields the
queries read, filled by the first such query and dropped by writes to the table): the steady state
is measured, and one extra line times the GROUP BY right after a write, when the cache is refilled.
Ratios are sqlite3/remlite time: > 1 means remlite is faster.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Row, fmt, latency, parse_args, print_table, temp_dir
from harness import write_results as write_json

SEED = 20251125
STATUSES = ["active", "open", "blocked", "done"]
COLORS = [f"color-{i:02d}" for i in range(20)]
REGIONS = [f"region-{i}" for i in range(10)]
BASE = datetime(2024, 1, 1, tzinfo=UTC)
ITEMS = {
    "name": "items",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string"},
        "priority": {"type": "integer"},
        "category": {"type": "string"},
        "score": {"type": "integer"},
        "color": {"type": "string"},
        "size": {"type": "integer"},
        "owner_id": {"type": "string"},
    },
    "required": ["name", "status", "priority"],
    "key_field": "name",
    "indexed_fields": ["status", "priority", "category", "score", "owner_id"],
}
OWNERS = {
    "name": "owners",
    "type": "object",
    "properties": {"name": {"type": "string"}, "region": {"type": "string"}},
    "required": ["name"],
    "key_field": "name",
    "indexed_fields": ["region"],
}
TARGETS = {"eq_p50_10k": 1.0, "scan_p50_10k": 10.0, "group_p50_100k": 100.0}
NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def stamp(rng: random.Random) -> str:
    return (BASE + timedelta(seconds=rng.randrange(730 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(SEED + n)
    owners = [
        {"name": f"owner-{i:05d}", "region": rng.choice(REGIONS), "created_at": stamp(rng)}
        for i in range(max(1, n // 100))
    ]
    scores = rng.sample(range(10 * n), n)  # distinct, so ORDER BY score has one right answer
    items = [
        {
            "name": f"item-{i:07d}",
            "status": rng.choice(STATUSES),
            "priority": rng.randrange(10),
            "category": f"category-{rng.randrange(100):03d}",
            "score": scores[i],
            "color": rng.choice(COLORS),
            "size": rng.randrange(1000),
            "owner": rng.randrange(len(owners)),
            "created_at": stamp(rng),
        }
        for i in range(n)
    ]
    return items, owners


# --------------------------------------------------------------------------- the two engines
QUERIES = {
    "eq": "SELECT * FROM items WHERE category = ?",
    "range": "SELECT * FROM items WHERE score >= ? ORDER BY score LIMIT 20",
    "scan": "SELECT * FROM items WHERE color = ? AND size > ?",
    "group": "SELECT type, COUNT(*), AVG(properties->>'priority') FROM entities WHERE created_at > '2025-01-01' "
    "GROUP BY type",
    "filter": "SELECT * FROM entities WHERE properties->>'status' = 'active' AND properties->>'priority' > 3 "
    "ORDER BY created_at DESC LIMIT 100",
    "join": "SELECT i.name, i.priority, o.name AS owner FROM items i JOIN owners o ON o.id = i.owner_id "
    "WHERE o.region = ? ORDER BY i.priority DESC, i.name LIMIT 50",
}
SQLITE = {
    "eq": "SELECT data FROM docs WHERE type = 'items' AND json_extract(data, '$.category') = ?",
    "range": "SELECT data FROM docs WHERE type = 'items' AND json_extract(data, '$.score') >= ? "
    "ORDER BY json_extract(data, '$.score') LIMIT 20",
    "scan": "SELECT data FROM docs WHERE type = 'items' AND json_extract(data, '$.color') = ? "
    "AND json_extract(data, '$.size') > ?",
    "group": "SELECT type, COUNT(*), AVG(json_extract(data, '$.priority')) FROM docs WHERE created_at > '2025-01-01' "
    "GROUP BY type",
    "filter": "SELECT id, type, created_at, data FROM docs WHERE json_extract(data, '$.status') = 'active' "
    "AND json_extract(data, '$.priority') > 3 ORDER BY created_at DESC LIMIT 100",
    "join": "SELECT json_extract(i.data, '$.name'), json_extract(i.data, '$.priority'), json_extract(o.data, '$.name') "
    "FROM docs o JOIN docs i ON json_extract(i.data, '$.owner_id') = o.id "
    "WHERE o.type = 'owners' AND json_extract(o.data, '$.region') = ? AND i.type = 'items' "
    "ORDER BY json_extract(i.data, '$.priority') DESC, json_extract(i.data, '$.name') LIMIT 50",
}


class Remlite:
    def __init__(self, path: Path, items: list[dict[str, Any]], owners: list[dict[str, Any]]) -> None:
        import remlite

        self.db = remlite.connect(path, "bench")
        self.db.register_schema(ITEMS)
        self.db.register_schema(OWNERS)
        owner_ids = self.db.insert_batch("owners", owners)
        self.db.insert_batch("items", [{**_body(r), "owner_id": owner_ids[r["owner"]]} for r in items])

    def run(self, name: str, params: list[Any]) -> list[Any]:
        return self.db.sql(QUERIES[name], params or None).rows

    def touch(self) -> None:
        """One write to items (drops its cached columns)."""
        self.db.insert(
            "items", {"name": "touched", "status": "open", "priority": 1, "created_at": "2025-06-01T00:00:00Z"}
        )

    def close(self) -> None:
        self.db.close()


def _body(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "owner"}


class Sqlite:
    def __init__(self, path: Path, items: list[dict[str, Any]], owners: list[dict[str, Any]]) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path / "docs.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE docs(id TEXT PRIMARY KEY, type TEXT, name TEXT, created_at TEXT, data TEXT)")
        owner_ids = [str(uuid.uuid5(NAMESPACE, o["name"])) for o in owners]
        rows = [
            (i, "owners", o["name"], o["created_at"], json.dumps({"id": i, **o}))
            for i, o in zip(owner_ids, owners, strict=True)
        ]
        for r in items:
            rid = str(uuid.uuid5(NAMESPACE, r["name"]))
            body = {"id": rid, **_body(r), "owner_id": owner_ids[r["owner"]]}
            rows.append((rid, "items", r["name"], r["created_at"], json.dumps(body)))
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")
        for field in ("status", "priority", "category", "score", "owner_id", "region"):
            self.conn.execute(f"CREATE INDEX docs_{field} ON docs(json_extract(data, '$.{field}'))")
        self.conn.execute("CREATE INDEX docs_created ON docs(created_at)")
        self.conn.execute("ANALYZE")

    def run(self, name: str, params: list[Any]) -> list[Any]:
        cursor = self.conn.execute(SQLITE[name], params)
        if name in ("eq", "range", "scan"):
            return [json.loads(d) for (d,) in cursor]
        if name == "filter":
            return [{"id": i, "type": t, "created_at": c, "properties": json.loads(d)} for i, t, c, d in cursor]
        return cursor.fetchall()

    def plan(self, name: str, params: list[Any]) -> str:
        return " / ".join(r[-1] for r in self.conn.execute("EXPLAIN QUERY PLAN " + SQLITE[name], params))

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- measuring
def param_sets(n: int) -> dict[str, Callable[[], list[Any]]]:
    rng = random.Random(SEED)
    return {
        "eq": lambda: [f"category-{rng.randrange(100):03d}"],
        "range": lambda: [rng.randrange(10 * n)],
        "scan": lambda: [rng.choice(COLORS), rng.randrange(900, 1000)],
        "group": list,
        "filter": list,
        "join": lambda: [rng.choice(REGIONS)],
    }


def check_same(remlite_db: Remlite, peer: Sqlite, n: int) -> dict[str, int]:
    """Both engines return the same rows for every query (so the timings compare like with like)."""
    hits = {}
    for name in QUERIES:
        params = param_sets(n)[name]()
        mine, theirs = remlite_db.run(name, params), peer.run(name, params)
        assert len(mine) == len(theirs), (name, len(mine), len(theirs))
        if name == "group":
            got = {r["type"]: (r["count"], round(r["avg"] or 0, 9)) for r in mine}
            assert got == {t: (c, round(a or 0, 9)) for t, c, a in theirs}, (got, theirs)
        elif name in ("eq", "scan"):
            assert sorted(r["name"] for r in mine) == sorted(r["name"] for r in theirs), name
        elif name == "join":
            assert [(r["name"], r["priority"], r["owner"]) for r in mine] == [tuple(t) for t in theirs], name
        elif name == "range":
            assert [r["name"] for r in mine] == [r["name"] for r in theirs], name
        hits[name] = len(mine)
    return hits


def measure(engine: Any, n: int, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in QUERIES:
        params = param_sets(n)[name]
        heavy = name in ("group", "filter", "scan", "join")
        repeat = 20 if quick else (60 if heavy and n >= 100_000 else 200)
        out[name] = latency(lambda params=params, name=name: engine.run(name, params()), repeat, warmup=5)
    return out


def cold_group(engine: Remlite, runs: int = 3) -> float:
    """The GROUP BY right after a write to items: the cache is refilled by one scan."""
    times = []
    for _ in range(runs):
        engine.touch()
        start = time.perf_counter()
        engine.run("group", [])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


LABELS = {
    "eq": "indexed equality (category = ?)",
    "range": "indexed range + ORDER BY + LIMIT 20",
    "scan": "full-scan filter (color = ? AND size > ?)",
    "group": "entities GROUP BY type (reference query 1)",
    "filter": "entities filter + ORDER BY + LIMIT 100 (reference query 2)",
    "join": "two-table join + ORDER BY + LIMIT 50",
}


def rows_for(n: int, r: dict[str, Any], s: dict[str, Any], hits: dict[str, int], cold: float) -> list[Row]:
    targets = {
        "eq": TARGETS["eq_p50_10k"] if n == 10_000 else None,
        "scan": TARGETS["scan_p50_10k"] if n == 10_000 else None,
        "group": TARGETS["group_p50_100k"] if n == 100_000 else None,
    }
    out = []
    for name, label in LABELS.items():
        note = f"{hits[name]} rows"
        out.append(Row(f"{label} p50", r[name].p50_ms, s[name].p50_ms, "ms", False, targets.get(name), note))
        out.append(Row(f"{label} p95", r[name].p95_ms, s[name].p95_ms, "ms", False, None))
    out.append(
        Row(
            "GROUP BY right after a write (cache refill)",
            cold,
            s["group"].p50_ms,
            "ms",
            False,
            None,
            "median of 3; vs sqlite3's p50",
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], [10_000, 100_000], argv)
    started = time.perf_counter()
    tables: dict[str, list[Row]] = {}
    raw: dict[str, Any] = {}
    plans: dict[str, dict[str, str]] = {}
    for n in args.sizes:
        items, owners = generate(n)
        with temp_dir() as root:
            peer = Sqlite(root / "sqlite", items, owners)
            mine = Remlite(root / "remlite", items, owners)
            hits = check_same(mine, peer, n)
            plans[str(n)] = {
                name: {
                    "remlite": mine.db.explain(QUERIES[name], param_sets(n)[name]() or None),
                    "sqlite3": peer.plan(name, param_sets(n)[name]()),
                }
                for name in QUERIES
            }
            # one engine at a time, so the other's background work does not bias the figures
            theirs = measure(peer, n, args.quick)
            ours = measure(mine, n, args.quick)
            cold = cold_group(mine)
            mine.close()
            peer.close()
        tables[str(n)] = rows = rows_for(n, ours, theirs, hits, cold)
        raw[str(n)] = {"remlite": ours, "sqlite3": theirs, "hits": hits, "cold_group_ms": cold}
        print_table(f"SQL, {n:,} items + {max(1, n // 100):,} owners", rows, "sqlite3")
    all_rows = [(f"{n}: ", r) for n, rows in tables.items() for r in rows]
    missed = [
        f"{n}{r.metric}: {fmt(r.remlite)} ms (target {fmt(r.target)})" for n, r in all_rows if r.target_met is False
    ]
    slower = [f"{n}{r.metric}: {r.ratio:.2f}x" for n, r in all_rows if r.ratio is not None and r.ratio < 0.5]
    print("targets missed:", "; ".join(missed) or "none")
    print("more than 2x slower than sqlite3:", "; ".join(slower) or "none")
    path = write_json(
        "sql", {"peer": "sqlite3", "sizes": args.sizes, "tables": tables, "raw": raw, "plans": plans}, args.out
    )
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
