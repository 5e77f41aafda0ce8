"""What a multi-tenant request costs besides its query: a pool lease, and a text search whose matches
all score alike (benchmarks/multi_tenant.py's 10% of requests).

Run: `.venv/bin/python benchmarks/lease.py [--out FILE]`.

One tenant of benchmarks/tenants.py's `notes` (1,000 rows, every body holding `gamma` and
`tenant1`) in a runtime's pool; each figure is the best of 5 loops, per call:
- `with runtime.tenant(root, "t1") as db: pass` on the open tenant (what `remlite serve` and an
  embedded multi-tenant app pay per request), then with a get inside it, and a get on a held handle;
- `db.search("notes", "gamma", 5, mode="text")` and the two-term `"gamma tenant1"`: 1,000 and 2,000
  postings, every document equally scored, so the ranking breaks 1,000 ties by id.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

import tenants
from harness import write_results


def per_call_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import remlite

    root = tempfile.mkdtemp(prefix="remlite-lease-")
    runtime = remlite.Runtime(max_open_tenants=8)
    with runtime.tenant(root, "t1") as held:
        tenants.fill_and_query(held, 1, 1_000)
        rid = next(iter(held.scan("notes", limit=1)))["id"]

        def lease() -> None:
            with runtime.tenant(root, "t1"):
                pass

        def leased_get() -> None:
            with runtime.tenant(root, "t1") as db:
                db.get(rid)

        results = {
            "lease_us": per_call_us(lease, 5_000),
            "lease_and_get_us": per_call_us(leased_get, 5_000),
            "get_us": per_call_us(lambda: held.get(rid), 5_000),
            "text_1_term_tied_us": per_call_us(lambda: held.search("notes", "gamma", 5, mode="text"), 200),
            "text_2_terms_tied_us": per_call_us(lambda: held.search("notes", "gamma tenant1", 5, mode="text"), 200),
        }
    runtime.close()
    for name, value in results.items():
        print(f"{name:24s} {value:10.1f}")
    write_results("lease", results, args.out)


if __name__ == "__main__":
    main()
