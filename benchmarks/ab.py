"""A/B of the hot paths between two checkouts, in one quiet period on the same interpreter.

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/ab.py /tmp/base ; .venv/bin/python benchmarks/ab.py .   # alternate a few times

Imports the package from `<checkout>/src` (ahead of the installed one) and times 4,000 single keyed
inserts, a 20,000-row batch, 5,000 gets and a full scan (best of 3). On a shared, noisy machine the
absolute figures of crud.py drift with the host; alternating the two checkouts separates a code
regression from that drift.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

SCHEMA = {
    "name": "docs",
    "properties": {
        "name": {"type": "string"},
        "category": {"type": "string"},
        "n": {"type": "integer"},
        "body": {"type": "string"},
    },
    "key_field": "name",
    "indexed_fields": ["category", "n"],
}


def run(remlite: Any) -> tuple[float, float, float, float]:
    db = remlite.connect(tempfile.mkdtemp())
    db.register_schema(SCHEMA)
    singles = 4000
    start = time.perf_counter()
    for i in range(singles):
        db.insert("docs", {"name": f"k{i}", "category": f"c{i % 50}", "n": i, "body": "x" * 100})
    single = singles / (time.perf_counter() - start)
    rows = [{"name": f"b{i}", "category": f"c{i % 50}", "n": i, "body": "x" * 100} for i in range(20000)]
    start = time.perf_counter()
    db.insert_batch("docs", rows)
    batch = len(rows) / (time.perf_counter() - start)
    ids = [r["id"] for r in db.list("docs", limit=5000)]
    start = time.perf_counter()
    for rid in ids:
        db.get(rid)
    get = len(ids) / (time.perf_counter() - start)
    start = time.perf_counter()
    scanned = sum(1 for _ in db.scan("docs"))
    scan = scanned / (time.perf_counter() - start)
    db.close()
    return single, batch, get, scan


def main() -> None:
    checkout = sys.argv[1] if len(sys.argv) > 1 else "."
    sys.path.insert(0, f"{checkout}/src")
    import remlite

    best = [0.0, 0.0, 0.0, 0.0]
    for _ in range(3):
        best = [max(b, v) for b, v in zip(best, run(remlite), strict=True)]
    single, batch, get, scan = best
    print(f"{checkout}: single {single:,.0f}/s  batch {batch:,.0f} rows/s  get {get:,.0f}/s  scan {scan:,.0f}/s")


if __name__ == "__main__":
    main()
