"""Kill -9 a writer at random points; every acknowledged batch must be there, none torn."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import remlite

BATCH = 200
WRITER = Path(__file__).with_name("crash_writer.py")


def run_and_kill(root: Path, first_batch: int, seconds: float) -> list[int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), str(first_batch), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked: list[int] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ack "):
                acked.append(int(line.split()[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not acked and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)  # let it get going before the random delay starts
    assert child.poll() is None, child.stderr.read() if child.stderr else ""
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join(timeout=5)
    return list(acked)


def test_kill_9_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    rng = random.Random(7)
    next_batch, all_acked = 0, []
    for _ in range(4):
        acked = run_and_kill(tmp_path, next_batch, rng.uniform(0.05, 0.6))
        assert acked, "the writer acknowledged nothing"
        all_acked += acked
        with remlite.connect(tmp_path) as db:
            present = {}
            for record in db.scan("crash", include_deleted=True):
                present.setdefault(record["batch"], []).append(record)
            for batch in all_acked:
                assert len(present.get(batch, [])) == BATCH, f"acknowledged batch {batch} incomplete"
            for batch, rows in present.items():
                assert len(rows) == BATCH, f"batch {batch} torn: {len(rows)} rows"
                live = [r for r in rows if not r["deleted_at"]]
                assert sorted(db.find("crash", "batch", eq=batch)) == sorted(r["id"] for r in live)
            report = db.check()
            assert report["ok"], report["problems"]
            updated = {r["id"] for r in db.scan("crash") if r.get("state") == "updated"}
            assert set(db.find("crash", "state", eq="updated")) == updated
            next_batch = max(present) + 1
            # the WAL holds one put entry per written batch, with increasing sequence numbers
            seqs = [e["seq"] for e in db.wal(0, 1_000_000)]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
