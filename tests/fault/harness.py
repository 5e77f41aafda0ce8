"""Shared machinery of the fault-injection suite: column-family snapshots, a kill -9 child runner,
integrity assertions that go beyond `check()`, and the counters the closing summary line prints.

Randomness comes from one session seed (`REMLITE_FAULT_SEED`, else drawn at import) so a failure
names the seed that reproduces its choices; kill moments are wall-clock and reproduce only roughly.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rocksdict import AccessType, Options, Rdict

import remlite
from remlite import ids as idmod
from remlite.schema.registry import TEXT_PREFIX
from remlite.storage import codec
from remlite.storage.engine import COLUMN_FAMILIES
from remlite.vector.index import EXACT_ALWAYS

SEED = int(os.environ.get("REMLITE_FAULT_SEED") or random.SystemRandom().randrange(1 << 31))
COUNTS: dict[str, int] = {"kills": 0, "inputs": 0, "corruptions": 0}
CHILD = Path(__file__).with_name("child.py")


def count(kind: str, n: int = 1) -> None:
    """Add to one of the counters the terminal summary reports (kills, inputs, corruptions)."""
    COUNTS[kind] += n


def rng_for(name: str) -> random.Random:
    """A generator per test, derived from the session seed, so tests do not shift each other's draws."""
    return random.Random(f"{SEED}:{name}")


def summary_line() -> str:
    return (
        f"fault-injection: {COUNTS['kills']} kills, {COUNTS['inputs']} inputs, "
        f"{COUNTS['corruptions']} corruptions (REMLITE_FAULT_SEED={SEED})"
    )


# ---------------------------------------------------------------------------------------- snapshots
Snapshot = dict[str, tuple[int, str]]


def _digest(items: Iterable[tuple[bytes, bytes]]) -> tuple[int, str]:
    h = hashlib.blake2b(digest_size=16)
    n = 0
    for key, value in items:
        h.update(len(key).to_bytes(4, "little") + key + len(value).to_bytes(4, "little") + value)
        n += 1
    return n, h.hexdigest()


def snapshot(db: remlite.Database) -> Snapshot:
    """(entries, blake2b) of every column family of an open database."""
    return {name: _digest(db._core.store.cf[name].items()) for name in COLUMN_FAMILIES}


def snapshot_path(db_dir: Path) -> Snapshot:
    """The same for a closed database directory, opened read-only (nothing is written to it)."""
    opts = Options(raw_mode=True)
    names = Rdict.list_cf(str(db_dir), opts)
    families = {name: Options(raw_mode=True) for name in names}
    ro = Rdict(str(db_dir), opts, column_families=families, access_type=AccessType.read_only())
    try:
        return {
            name: _digest(ro.get_column_family(name).items()) if name in names else (0, _digest([])[1])
            for name in COLUMN_FAMILIES
        }
    finally:
        ro.close()


def changed_families(before: Snapshot, after: Snapshot) -> list[str]:
    return [name for name in COLUMN_FAMILIES if before.get(name) != after.get(name)]


def file_state(directory: Path) -> dict[str, str]:
    """Relative path -> blake2b of every file under `directory` (to prove nothing was deleted or rewritten)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(directory))] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return out


# ---------------------------------------------------------------------------------------- kill -9
@dataclass
class Run:
    """What a killed child acknowledged (the text after each `ack `), and how it ended."""

    acks: list[str]
    killed: bool
    returncode: int | None
    stderr: str
    delay: float


def run_and_kill(
    op: str,
    root: Path,
    rng: random.Random,
    max_delay: float,
    *extra: str,
    ready_timeout: float = 60.0,
    after_ack: str | None = None,
) -> Run:
    """Start `child.py op root *extra`, wait for its `ready` line, let it run a random moment of at
    most `max_delay` seconds, then SIGKILL it. A child that ends by itself first is an error.

    With `after_ack` the random moment starts at the first acknowledgement starting with it ("" for
    any) instead: a test that must see something acknowledged passes it on its last trial when none
    was, since on a slow machine the first write after `ready` can outlast every random moment (CI
    once killed all 4 `single` children before their first insert returned)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": "0"}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), op, str(root), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acks: list[str] = []
    ready, acked = threading.Event(), threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for raw in child.stdout:
            if not raw.endswith("\n"):
                break  # cut off by the kill mid-line: not an acknowledgement anyone could have read
            line = raw[:-1]
            if line == "ready":
                ready.set()
            elif line.startswith("ack "):
                acks.append(line[4:])
                if after_ack is not None and line[4:].startswith(after_ack):
                    acked.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + ready_timeout
    started = ready if after_ack is None else acked
    while not started.wait(0.01) and time.monotonic() < deadline and child.poll() is None:
        pass
    delay = rng.uniform(0.0, max_delay)
    if started.is_set() and child.poll() is None:
        time.sleep(delay)
    killed = child.poll() is None
    if killed:
        child.send_signal(signal.SIGKILL)
        count("kills")
    child.wait()
    reader.join(timeout=10)
    stderr = child.stderr.read() if child.stderr else ""
    if child.stderr:
        child.stderr.close()
    if child.stdout:
        child.stdout.close()
    return Run(list(acks), killed, child.returncode, stderr, delay)


def ack_json(run: Run, tag: str) -> list[Any]:
    """Payloads of the acks `tag <json>`."""
    return [json.loads(a[len(tag) + 1 :]) for a in run.acks if a.startswith(tag + " ")]


# ---------------------------------------------------------------------------------------- integrity
def orphan_problems(db: remlite.Database) -> list[str]:
    """Keys that belong to no registered table, or to an index (secondary, BM25, vector field) the
    table no longer declares. `check()` covers rows, ids, index and lookup keys; this covers what is
    left: postings, text counters, vectors, vector configs and per-table counters."""
    store = db._core.store
    tids: set[bytes] = set()
    postings: set[bytes] = set()
    vector_prefixes: dict[bytes, int] = {}  # field prefix -> current version
    configs: set[bytes] = set()
    for name in db._core.registry.names():
        table = db._core.registry.get(name)
        tid = codec.u32(table.table_id)
        tids.add(tid)
        for field in table.searchable_text_fields:
            postings.add(tid + table.field_ids[TEXT_PREFIX + field].to_bytes(2, "big"))
        for fv in db._core.vectors(name).fields.values():
            vector_prefixes[fv.field_prefix] = fv.version
            configs.add(fv.config_key)
    problems: list[str] = []
    for key in store.iter_keys("rows", b"", None):
        if key[:4] not in tids:
            problems.append(f"row of unknown table {codec.read_u32(key)}")
            break
    for key in store.iter_keys("postings", b"", None):
        if key[:6] not in postings:
            problems.append(f"posting of table {codec.read_u32(key)} text field id {key[4:6].hex()} not in force")
            break
    for key in store.iter_keys("textstats", b"", None):
        if key[:6] not in postings:
            problems.append(f"text counters of table {codec.read_u32(key)} field id {key[4:6].hex()} not in force")
            break
    for key, value in store.iter_prefix("meta", b"count:"):
        if key[6:10] not in tids:
            problems.append(f"row counter of dropped table {codec.read_u32(key, 6)} ({codec.read_u64(value)})")
    for key, value in store.cf["vectors"].items():
        kind = key[:1]
        if kind == b"r":
            if value[:4] not in tids:
                problems.append(f"vector label {key[1:].hex()} of dropped table {codec.read_u32(value)}")
                break
            continue
        if kind == b"c":
            if key not in configs:
                problems.append(f"vector config {key.hex()} of no embedding field in force")
            continue
        owner = next((p for p in vector_prefixes if key.startswith(p)), None)
        if owner is None:
            problems.append(f"vector key {key[:24].hex()}… of no embedding field in force")
            break
        if kind == b"v":
            version = codec.read_u32(key, len(owner))
            if version < vector_prefixes[owner]:
                problems.append(f"vector of superseded version {version} (current {vector_prefixes[owner]})")
                break
    return problems


def assert_intact(db: remlite.Database, context: str) -> dict[str, Any]:
    """`check()` is ok and no key outlived its table or index; returns the check report."""
    report = db.check()
    assert report["ok"], f"{context}: check() problems: {report['problems']}"
    orphans = orphan_problems(db)
    assert not orphans, f"{context}: {orphans}"
    return report


def exact_scores(db: remlite.Database, table: str, field: str, query: str) -> dict[str, float]:
    """Cosine of `query` against the stored (current-version) vector of every live row: the truth
    a vector search must agree with, read straight from the source of truth."""
    vectors = db._core.vectors(table)
    fv = vectors.fields[field]
    if fv.config is None:
        return {}
    q = np.asarray(vectors.provider(field).embed_one(query), dtype=np.float32)
    rids, chunks = [], []
    for key, value in db._core.store.iter_prefix("vectors", fv.prefix):
        rids.append(key[-16:])
        chunks.append(value)
    if not rids:
        return {}
    matrix = np.frombuffer(b"".join(chunks), dtype=np.float32).reshape(len(rids), -1)
    scores = matrix @ q
    alive = {r["id"] for r in db._core.fetch(db._core.layout(table), rids)}
    return {idmod.to_str(r): float(s) for r, s in zip(rids, scores, strict=True) if idmod.to_str(r) in alive}


def assert_search_exact(db: remlite.Database, table: str, field: str, queries: list[str], k: int, context: str) -> None:
    """Every vector search returns min(k, live rows) live rows whose scores are their true scores
    and are the k best (ties allowed): no ghost, no stale vector, no row missed."""
    for query in queries:
        truth = exact_scores(db, table, field, query)
        got = db.search(table, query, k=k, field=field)
        best = sorted(truth.values(), reverse=True)[:k]
        assert len(got) == len(best), f"{context}: {query!r}: {len(got)} results, expected {len(best)}"
        for row in got:
            assert row["id"] in truth, f"{context}: {query!r}: result {row['id']} is not a live row with a vector"
            assert abs(truth[row["id"]] - row["_score"]) < 1e-3, (
                f"{context}: {query!r}: {row['id']} scored {row['_score']}, its stored vector says {truth[row['id']]}"
            )
        scores = [row["_score"] for row in got]
        index = db._core.vectors(table).fields[field].index
        if index is None or len(index) <= EXACT_ALWAYS:  # the index is scanned exactly: exact top-k
            assert np.allclose(scores, best, atol=1e-3), f"{context}: {query!r}: scores {scores} vs exact {best}"
        else:
            # HNSW is approximate (ties make it miss one now and then), so "no row missed, no stale
            # vector" is checked on the index's own exact copy: its exact top-k must be the truth's.
            q = db._core.vectors(table).provider(field).embed_one(query)
            _labels, exact = index.exact_search(q, k)
            assert np.allclose(sorted(exact.tolist(), reverse=True), best, atol=1e-3), (
                f"{context}: {query!r}: the index's exact top {k} {exact.tolist()} vs the stored vectors' {best}"
            )
            hits = sum(1 for score in scores if score >= best[-1] - 1e-3)
            assert hits >= 0.8 * len(best), f"{context}: {query!r}: recall {hits}/{len(best)}: {scores} vs {best}"
    fv = db._core.vectors(table).fields[field]
    if fv.index is not None:  # loaded by the searches: it must hold exactly the live rows' labels
        rids = [key[-16:] for key, _ in db._core.store.iter_prefix("vectors", fv.prefix)]
        live = {r for r, n in zip(rids, db._core.rownums(rids), strict=True) if n is not None}
        want = {n for n in db._core.rownums(sorted(live))}
        have = {int(label) for label in fv.index.labels()}
        assert have == want, (
            f"{context}: HNSW index of {table}.{field}: {len(have - want)} ghost labels "
            f"{sorted(have - want)[:10]}, {len(want - have)} rows missing"
        )
