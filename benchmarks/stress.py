"""Phase 4.2 of the reference plan: the concurrent workload over HTTP, 70% reads by id, 20% scans
(LIMIT 10), 10% writes, at the plan's 1,000 requests/s.

Run: `.venv/bin/python benchmarks/stress.py [--smoke|--quick|--full] [--profile]`.

benchmarks/server.py's scenario "mix", reused as is (its seeding, `remlite serve` in its own
process, its open-loop generator timing each request from its scheduled time): 10,000 entities in
one tenant; GET /v1/records/{id}, POST /v1/sql `SELECT * FROM items LIMIT 10`, POST of one new
record. --quick runs 10 s at 1,000/s; --full the plan's 60 s at 1,000/s, then 60 s at 2,000/s
(server.py's own target). The generator shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import plan
import server
from harness import temp_dir
from plan import Measure, Scenario


def body(s: Scenario) -> None:
    seconds = s.pick(1.0, 10.0, 60.0)
    rates = s.pick([1000], [1000], [1000, 2000])
    n = s.pick(1_000, 10_000, 10_000)
    if s.profile != "full":
        s.note(f"{s.profile} profile: {seconds:.0f} s per rate (the plan's 60 s in --full)")
    results: dict[int, dict[str, Any]] = {}
    with temp_dir() as root:
        data = server.seed(root, 1, n)
        srv = server.Server(root)
        try:
            asyncio.run(server.drive(srv.url, 200, 1 if seconds < 5 else 2, server.mix_requests(data)))  # warm-up
            for rate in rates:
                print(f"stress: {rate:,}/s for {seconds:.0f} s ...", flush=True)
                results[rate] = asyncio.run(server.drive(srv.url, rate, seconds, server.mix_requests(data)))
                results[rate]["server_memory"] = srv.memory()
        finally:
            srv.stop()
    for rate, got in results.items():
        errors = sum(got["errors"].values())
        kinds = got["p99_ms_by_kind"]
        by_kind = "; ".join(f"{k} {v:.1f}" for k, v in sorted(kinds.items()))
        s.table(
            f"4.2 stress over HTTP: 70% get / 20% SELECT LIMIT 10 / 10% insert, {rate:,} req/s offered for "
            f"{seconds:.0f} s, {n:,} entities",
            [
                Measure("achieved QPS", "req/s", got["achieved_qps"], True, "stress_qps",
                        note=f"offered {rate:,}/s, {got['requests']:,} requests, {errors} errors"),
                Measure("p50", "ms", got["p50_ms"], False),
                Measure("p95", "ms", got["p95_ms"], False),
                Measure("p99", "ms", got["p99_ms"], False, "stress_p99", note=f"p99 by kind (ms): {by_kind}"),
                Measure("errors", "count", errors, False, target=0),
                Measure("server resident memory (peak)", "MB", got["server_memory"].get("peak_mb"), False),
            ],
        )  # fmt: skip
    s.raw = {str(rate): {k: v for k, v in got.items()} for rate, got in results.items()}


def main(argv: list[str] | None = None) -> int:
    return plan.run("stress", "Phase 4.2: concurrent workload over HTTP", "4", body, argv)


if __name__ == "__main__":
    sys.exit(main())
