"""Many tenants in one process: resident memory and open files with N tenants × 1,000 rows.

Run: `.venv/bin/python benchmarks/tenants.py [--tenants 100] [--rows 1000] [--modes pool,connect,per-tenant]
[--out FILE]`.

Each tenant gets a `notes` table (indexed `status`, BM25 text field `body`) of `--rows` rows
written in one batch, and is then queried once each way: a get by id, a GROUP BY through `db.sql`
and a text search (`mode="text"`). Measured after all tenants: VmRSS (and its peak) from
/proc/self/status and the number of open file descriptors (/proc/self/fd). Each mode runs in a
fresh interpreter, so one never inherits another's memory:

- pool: what a server does. Every tenant is used through a lease from the default runtime's
  pool (`with runtime.tenant(root, t) as db`), which keeps at most `max_open_tenants` (8) open.
- connect: every tenant opened with `remlite.connect(root, tenant)` and kept open (all share the
  default runtime's caches and DuckDB connection, but each open tenant holds ~17 files).
- per-tenant: every tenant on its own `remlite.Runtime()` and kept open: the configuration before
  runtimes were shared (its own block cache, write buffers, column cache and DuckDB connection).

Targets (issue 10): 100 tenants ≤ 250 MB RSS and ≤ 400 open files; 1,000 tenants ≤ 600 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import Row, memory_mb, print_table, temp_dir, write_results

WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu")
STATUSES = ["open", "active", "blocked", "done"]
NOTES = {
    "name": "notes",
    "type": "object",
    "properties": {"title": {"type": "string"}, "status": {"type": "string"}, "body": {"type": "string"}},
    "required": ["title"],
    "indexed_fields": ["status"],
    "text_fields": ["body"],
}
TARGETS = {100: (250.0, 400.0), 1000: (600.0, None)}


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def fill_and_query(db: Any, t: int, rows: int) -> None:
    db.register_schema(NOTES)
    records = [
        {
            "title": f"note {i}",
            "status": STATUSES[i % 4],
            "body": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12)) + f" tenant{t}",
        }
        for i in range(rows)
    ]
    ids = db.insert_batch("notes", records)
    assert db.get(ids[rows // 2])["title"] == f"note {rows // 2}"
    groups = db.sql("SELECT status, COUNT(*) AS n FROM notes GROUP BY status ORDER BY status").rows
    assert sum(g["n"] for g in groups) == rows, groups
    hits = db.search("notes", f"gamma tenant{t}", 5, mode="text")
    assert hits, t


def run(root: Path, tenants: int, rows: int, mode: str) -> dict[str, Any]:
    """Fill and query `tenants` tenants in this process; figures after the last one."""
    import remlite

    start = time.perf_counter()
    handles = []
    runtime = remlite.default_runtime()
    for t in range(tenants):
        if mode == "pool":
            with runtime.tenant(root, f"t{t:04d}") as db:
                fill_and_query(db, t, rows)
            continue
        db = remlite.connect(root, f"t{t:04d}", runtime=remlite.Runtime() if mode == "per-tenant" else None)
        fill_and_query(db, t, rows)
        handles.append(db)
    elapsed = time.perf_counter() - start
    figures = {**memory_mb(), "open_files": open_files(), "seconds": elapsed}
    figures["open_tenants"] = runtime.open_tenants if mode == "pool" else len(handles)
    for db in handles:
        db.close()
    runtime.close()
    return figures


def child(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """One mode in a fresh interpreter (the figures are per process)."""
    with temp_dir("remlite-tenants-") as root:
        command = [sys.executable, __file__, "--child", str(root), "--tenants", str(args.tenants)]
        command += ["--rows", str(args.rows), "--modes", mode]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--modes", default="pool,connect,per-tenant", help="pool, connect, per-tenant (comma list)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run(args.child, args.tenants, args.rows, args.modes)))
        return
    modes = [m for m in args.modes.split(",") if m]
    results = {mode: child(args, mode) for mode in modes}
    old = results.get("per-tenant")
    rss_target, files_target = TARGETS.get(args.tenants, (None, None))
    tables: dict[str, list[Row]] = {}
    for mode, got in results.items():
        if mode == "per-tenant":
            continue
        title = f"{args.tenants} tenants × {args.rows:,} rows ({mode}), each queried (get, GROUP BY, text search)"
        tables[title] = [
            Row("resident memory (VmRSS)", got["rss_mb"], old and old["rss_mb"], "MB", False, rss_target),
            Row("peak resident memory (VmHWM)", got["peak_mb"], old and old["peak_mb"], "MB", False),
            Row("open files", got["open_files"], old and old["open_files"], "count", False, files_target),
            Row("tenants open at the end", got["open_tenants"], old and old["open_tenants"], "count", False),
            Row("fill + query time", got["seconds"], old and old["seconds"], "s", False),
        ]
        print_table(title, tables[title], peer="runtime per tenant", ratio="ratio (shared smaller by)")
    path = write_results("tenants", {"peer": "runtime per tenant", "tables": tables, "modes": results}, args.out)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
