"""Replica lag under a steady write rate: how long after a primary commits does a replica hold it?

A primary process (an embedded database serving its change stream, `remlite.serve.app`, with a
writer thread inserting single records at `--rate` writes/s) and a replica in this process
(`remlite.replication.follower`) on loopback. Lag of an entry = the replica's clock when it is
applied minus its commit time on the primary (`Entry.ts`; one machine, one clock), so it covers
the stream's poll, the transfer, decoding and the apply with its hooks and listeners.

    .venv/bin/python benchmarks/replication.py [--rate 1000] [--seconds 20] [--quick]

No peer: none of the embedded peers (SQLite, Chroma, LanceDB) replicates; the reference design's
replication layer never ran. The figure to meet is the issue's: lag p50/p99 under 1,000 writes/s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, percentile, temp_dir, write_results

SCHEMA = {
    "name": "events",
    "properties": {"title": {"type": "string"}, "kind": {"type": "string"}, "n": {"type": "integer"}},
    "indexed_fields": ["kind"],
    "text_fields": ["title"],
}


def primary(root: str, port: int, rate: float, seconds: float) -> None:
    """The primary process: serve the stream, write at `rate` until `seconds` passed."""
    import uvicorn

    import remlite
    from remlite.serve.app import create_app

    runtime = remlite.Runtime()
    with runtime.tenant(root, "default") as db:
        db.register_schema(SCHEMA)
    server = uvicorn.Server(uvicorn.Config(create_app(root, runtime=runtime, auth=False), port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    print("ready", flush=True)
    sys.stdin.readline()  # the replica is following: write
    interval, started, n = 1.0 / rate, time.perf_counter(), 0
    with runtime.tenant(root, "default") as db:
        while (now := time.perf_counter()) - started < seconds:
            due = started + n * interval
            if now < due:
                time.sleep(due - now)
            db.insert("events", {"title": f"event number {n}", "kind": ("a", "b", "c")[n % 3], "n": n})
            n += 1
    elapsed = time.perf_counter() - started
    print(f"done {n} {elapsed:.3f}", flush=True)
    sys.stdin.readline()
    server.should_exit = True
    runtime.close()


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _quantiles(values: list[float]) -> dict[str, float]:
    return {q: round(percentile(values, p), 2) for q, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="writes per second on the primary")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="5 seconds")
    parser.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.seconds = 5.0
    if args.role == "primary":
        primary(args.root, args.port, args.rate, args.seconds)
        return
    from remlite.replication.follower import following

    with temp_dir() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        child = subprocess.Popen(
            [sys.executable, __file__, "--role", "primary", "--root", str(tmp / "primary"), "--port", str(port),
             "--rate", str(args.rate), "--seconds", str(args.seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
        )  # fmt: skip
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        lags: list[tuple[float, float]] = []  # (commit time, lag ms)

        def applied(entries: list) -> None:
            now = time.time()
            lags.extend((_epoch(e.ts), (now - _epoch(e.ts)) * 1000) for e in entries if e.op == "put")

        with following(f"http://127.0.0.1:{port}", tmp / "replica", on_applied=applied) as follower:
            child.stdin.write("go\n")
            child.stdin.flush()
            _, written, elapsed = child.stdout.readline().split()
            deadline = time.monotonic() + 30
            while len(lags) < int(written) and time.monotonic() < deadline:
                time.sleep(0.05)
            connects = follower.progress.connects
        child.stdin.write("stop\n")
        child.stdin.flush()
        child.wait(30)
    first = min(t for t, _ in lags)
    # the replica's first rows pay one-time costs (imports, caches, the first memtable): ~0.3 s
    steady = sorted(lag for t, lag in lags if t - first >= 1.0)
    everything = sorted(lag for _, lag in lags)
    result = {
        "rate_asked": args.rate,
        "writes": int(written),
        "rate_done": round(int(written) / float(elapsed), 1),
        "applied": len(lags),
        "connects": connects,
        "lag_ms": _quantiles(steady),
        "lag_ms_with_first_second": _quantiles(everything),
    }
    print(f"primary wrote {result['writes']} records at {result['rate_done']}/s; the replica applied "
          f"{result['applied']}; lag ms after the first second: {result['lag_ms']}; "
          f"with it: {result['lag_ms_with_first_second']}")  # fmt: skip
    write_results("replication", {"result": result, "machine": machine()})


if __name__ == "__main__":
    main()
