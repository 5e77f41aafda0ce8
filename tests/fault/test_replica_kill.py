"""kill -9 of a replica while it applies a primary's change log: after each kill the replica holds
exactly the primary's state at the replica's last seq — rows, index entries, lookup keys, postings,
edges, vectors (one digest of everything, `remlite.ops.digest`) — and `check()` is ok. This is
what lets a follower resume from its own `last_seq` after any crash: the applied seq is committed
in the same batch as the data it describes.

The primary's log holds every kind of entry: keyed upserts with vectors, updates, soft and hard
deletes, edges added and removed, a schema upgrade that adds an index (replayed as a backfill),
and a dropped table.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import remlite
from remlite.ops.digest import state_digest
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, rng_for, run_and_kill

KILLS = int(os.environ.get("REMLITE_FAULT_KILLS", "4"))
ROUNDS = 150  # ~550 entries: a replica applies them in ~0.3 s, so kills land across the whole log


def _primary(root: Path) -> remlite.Database:
    db = remlite.connect(root, "primary", embedder="hash")
    db.register_schema(s.DOCS)
    db.register_schema(s.DROPME)
    db.register_schema(s.COUNTERS)
    for n in range(ROUNDS):
        ids = db.insert_batch("docs", [s.doc_row(n * 5 + i, "p") for i in range(5)])
        db.insert("counters", {"key": f"c{n % 7}", "v": n})
        if n % 3 == 0:
            db.update(ids[0], {"grp": -n})
        if n % 4 == 0:
            db.delete(ids[1])
        if n % 5 == 0:
            db.delete(ids[2], hard=True)
        if n % 2 == 0:
            db.add_edge(ids[3], ids[4], "near", {"n": n})
        if n % 6 == 0:
            db.remove_edge(ids[3], ids[4], "near")
        if n == ROUNDS // 3:
            db.register_schema({**s.COUNTERS, "indexed_fields": ["v", "key"]})
        if n == ROUNDS // 2:
            db.insert_batch("dropme", [s.doc_row(i, "d") for i in range(20)])
        if n == ROUNDS * 2 // 3:
            db.drop_schema("dropme", force=True)
    return db


def test_a_killed_replica_holds_a_prefix_of_the_primary(tmp_path: Path) -> None:
    primary = _primary(tmp_path)
    entries = primary.changes(0, 100_000)
    log = tmp_path / "primary.log"
    log.write_bytes(b"".join(struct.pack(">I", len(e.to_bytes())) + e.to_bytes() for e in entries))
    rng, middle, lineage = rng_for("replica-apply"), 0, 0
    replica_root, reference = tmp_path / "replica0", remlite.connect(tmp_path, "reference0", embedder="hash")
    for trial in range(KILLS * 4):
        if middle >= KILLS:
            break
        run = run_and_kill("apply", replica_root, rng, 0.15, str(trial), str(log))
        context = f"REMLITE_FAULT_SEED={SEED} replica apply trial {trial} (killed {run.delay:.3f}s after ready)"
        acked = [int(a.split()[-1]) for a in run.acks]
        with remlite.connect(replica_root, embedder="hash") as replica:
            seq = replica.last_seq
            assert seq >= max(acked, default=0), f"{context}: an acknowledged apply was lost"
            reference.apply(e for e in entries if reference.last_seq < e.seq <= seq)
            assert reference.last_seq == seq
            assert state_digest(replica) == state_digest(reference), f"{context}: not the primary's state at {seq}"
            assert_intact(replica, context)
        middle += run.killed and seq < primary.last_seq
        if seq == primary.last_seq and middle < KILLS:  # the whole log applied: again, from nothing
            reference.close()
            lineage += 1
            replica_root = tmp_path / f"replica{lineage}"
            reference = remlite.connect(tmp_path, f"reference{lineage}", embedder="hash")
    assert middle >= KILLS, f"REMLITE_FAULT_SEED={SEED}: only {middle} kills landed inside the log"
    reference.close()
    with remlite.connect(replica_root, embedder="hash") as replica:  # finish the log
        held = replica.last_seq
        replica.apply([e for e in entries if e.seq >= held])
    with remlite.connect(replica_root, embedder="hash") as replica:
        assert state_digest(replica) == state_digest(primary)
        assert replica.search("docs", "river stone", 5) == primary.search("docs", "river stone", 5)
    primary.close()
