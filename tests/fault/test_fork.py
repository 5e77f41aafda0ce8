"""A database used across `os.fork()`: RocksDB's threads, locks and file positions do not survive a
fork, so in the child every call must fail at once with a remlite error (not hang, not write through
the parent's files), and the parent must go on with its data intact and writable."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import remlite
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, assert_search_exact, snapshot

CHILD_TIMEOUT = 10.0


def _child_calls(db: remlite.Database, rid: str) -> dict[str, Callable[[], Any]]:
    return {
        "insert": lambda: db.insert("docs", s.doc_row(99_999, "child")),
        "insert_batch": lambda: db.insert_batch("docs", [s.doc_row(i, "kid") for i in range(50)]),
        "update": lambda: db.update(rid, {"body": "forked"}),
        "delete": lambda: db.delete(rid),
        "get": lambda: db.get(rid),
        "find": lambda: db.find("docs", "grp", eq=1),
        "scan": lambda: list(db.scan("docs", limit=5)),
        "search": lambda: db.search("docs", "river stone", k=3),
        "text search": lambda: db.search("docs", "river", k=3, mode="text"),
        "sql": lambda: db.sql("SELECT COUNT(*) AS n FROM docs").rows,
        "wal": lambda: db.wal(None, 5),
        "check": lambda: db.check(),
        "close": lambda: db.close(),
    }


def _run_in_child(db: remlite.Database, rid: str, log: Path) -> dict[str, str]:
    """Fork; the child tries every call and logs how each ended (a call that never ends is the
    last `start` line); the parent waits, bounded, then kills a hung child."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            with open(log, "a", buffering=1) as out:
                for name, call in _child_calls(db, rid).items():
                    out.write(json.dumps(["start", name]) + "\n")
                    try:
                        call()
                        how = "returned"
                    except remlite.RemliteError as exc:
                        how = f"remlite {type(exc).__name__}"
                    except BaseException as exc:  # reported to the parent, which fails the test
                        how = f"other {type(exc).__name__}: {exc}"
                    out.write(json.dumps([name, how]) + "\n")
        finally:
            os._exit(0)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        status = None
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    results = {name: how for name, how in lines if name != "start"}
    started = [how for name, how in lines if name == "start"]
    assert started and started[-1] in results, (
        f"the forked child hung (or died, status {status}) in {started[-1] if started else 'its first call'}; "
        f"before that: {results}"
    )
    return results


def test_every_call_in_a_forked_child_fails_and_the_parent_is_intact(tmp_path: Path) -> None:
    db = remlite.connect(tmp_path / "db", embedder="hash")
    try:
        db.register_schema(s.DOCS)
        ids = db.insert_batch("docs", [s.doc_row(i) for i in range(300)])
        db.search("docs", "river", k=1)
        before = snapshot(db)
        results = _run_in_child(db, ids[0], tmp_path / "child.log")
        wrong = {name: how for name, how in results.items() if not how.startswith("remlite ")}
        assert not wrong, f"REMLITE_FAULT_SEED={SEED}: in the forked child these did not raise a remlite error: {wrong}"
        assert snapshot(db) == before, "the forked child changed the parent's data"
        assert db.get(ids[0])["title"] == "d0"
        db.insert("docs", s.doc_row(300))
        db.update(ids[1], {"body": "after the fork"})
        assert db.count("docs") == 301
        assert_search_exact(db, "docs", "body", ["river stone", "after the fork"], 10, "parent after fork")
        assert_intact(db, "parent after fork")
    finally:
        db.close()
    with remlite.connect(tmp_path / "db", embedder="hash") as again:
        assert again.count("docs") == 301
        assert_intact(again, "reopened after fork")


def test_a_forked_child_that_only_exits_leaves_the_parent_alone(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(s.ITEMS)
        db.insert_batch("items", [{"key": f"k{i}", "v": i} for i in range(100)])
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        db.insert("items", {"key": "after", "v": -1})
        assert db.count("items") == 101
        assert_intact(db, "after an idle fork")
