"""Threads racing on one database: batch writes and deletes against schema upgrades (an indexed field
added and removed), re-embeds, searches and SQL. Each thread runs a fixed number of iterations (not
a time budget), so the work is the same on a slow machine. Afterwards the counts are exact, every
derived structure agrees with the rows, and no thread saw an exception that is not a remlite error."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import remlite
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, assert_search_exact, rng_for

_PROPS = {
    "key": {"type": "string"},
    "grp": {"type": "integer"},
    "f1": {"type": "integer"},
    "f2": {"type": "integer"},
    "body": {"type": "string"},
}
RACE_1 = {
    "name": "race",
    "properties": _PROPS,
    "key_field": "key",
    "indexed_fields": ["grp", "f1"],
    "embedding_fields": ["body"],
}
RACE_2 = {**RACE_1, "indexed_fields": ["grp", "f2"]}


def race_row(n: int, i: int) -> dict[str, Any]:
    k = n * 1000 + i
    return {"key": f"r{n}-{i}", "grp": k % 7, "f1": k % 5, "f2": k % 3, "body": s.body(k)}


class Threads:
    """Start callables together; collect every exception with the thread that raised it."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, BaseException]] = []
        self._threads: list[threading.Thread] = []
        self._funcs: list[tuple[str, Callable[[], None]]] = []

    def add(self, name: str, func: Callable[[], None]) -> None:
        self._funcs.append((name, func))

    def run(self) -> None:
        barrier = threading.Barrier(len(self._funcs))

        def wrap(name: str, func: Callable[[], None]) -> None:
            barrier.wait()
            try:
                func()
            except BaseException as exc:  # collected, the test reports it
                self.errors.append((name, exc))

        self._threads = [threading.Thread(target=wrap, args=f, name=f[0]) for f in self._funcs]
        for thread in self._threads:
            thread.start()
        for thread in self._threads:
            thread.join(timeout=120)
        hung = [t.name for t in self._threads if t.is_alive()]
        assert not hung, f"threads still running after 120 s (deadlock?): {hung}"


def _allowing_remlite_errors(name: str, calls: int, call: Callable[[int], None], seen: list[str]) -> Callable[[], None]:
    def run() -> None:
        for i in range(calls):
            try:
                call(i)
            except remlite.RemliteError as exc:
                seen.append(f"{name}: {type(exc).__name__}: {exc}")

    return run


def test_writes_race_schema_upgrades_reembeds_searches_and_sql(tmp_path: Path) -> None:
    rng = rng_for("races")
    db = remlite.connect(tmp_path / "db", embedder="hash")
    try:
        db.register_schema(RACE_1)
        db.insert_batch("race", [race_row(0, i) for i in range(600)])
        acked: set[str] = {f"r0-{i}" for i in range(600)}
        deleted: set[str] = set()
        lock = threading.Lock()
        remlite_errors: list[str] = []
        victims = [f"r0-{i}" for i in rng.sample(range(600), 60)]

        def write(n: int) -> None:
            rows = [race_row(n + 1, i) for i in range(40)]
            db.insert_batch("race", rows)
            with lock:
                acked.update(r["key"] for r in rows)

        def delete(n: int) -> None:
            key = victims[n]
            rid = db.lookup(key)[0]["id"]
            db.delete(rid, hard=n % 2 == 0)
            with lock:
                deleted.add(key)

        def upgrade(n: int) -> None:
            db.register_schema(RACE_2 if n % 2 == 0 else RACE_1)

        def reembed(n: int) -> None:
            db.reembed("race", "body", provider="hash")

        def search(n: int) -> None:
            for row in db.search("race", s.body(n), k=5, where="grp = 3" if n % 2 else None):
                assert row["deleted_at"] is None and (n % 2 == 0 or row["grp"] == 3), row
            db.search("race", "river", k=5, mode="hybrid")

        def sql(n: int) -> None:
            total = db.sql("SELECT COUNT(*) AS n FROM race").rows[0]["n"]
            assert 0 < total <= 600 + 40 * 30, total
            db.sql("SELECT grp, COUNT(*) AS n FROM race WHERE f1 = 2 GROUP BY grp")

        threads = Threads()
        for name, calls, func in (
            ("insert_batch", 30, write),
            ("delete", len(victims), delete),
            ("schema", 12, upgrade),
            ("reembed", 3, reembed),
            ("search", 40, search),
            ("sql", 40, sql),
        ):
            threads.add(name, _allowing_remlite_errors(name, calls, func, remlite_errors))
        threads.run()
        context = f"REMLITE_FAULT_SEED={SEED} races"
        assert not threads.errors, f"{context}: non-remlite exceptions: {[(n, repr(e)) for n, e in threads.errors]}"
        assert not remlite_errors, f"{context}: valid calls failed under concurrency: {remlite_errors[:5]}"
        live = {r["key"]: r for r in db.scan("race")}
        assert set(live) == acked - deleted, (
            f"{context}: rows lost {sorted(acked - deleted - set(live))[:5]}, "
            f"resurrected {sorted(set(live) & deleted)[:5]}"
        )
        assert db.count("race") == len(live), context
        for field in db.schema("race")["indexed_fields"]:
            for value in range(3):
                expected = sorted(r["id"] for r in live.values() if r[field] == value)
                assert sorted(db.find("race", field, eq=value)) == expected, f"{context}: find on {field}={value}"
        fv = db._core.vectors("race").fields["body"]
        assert fv.version == 4, f"{context}: {fv.version - 1} of 3 re-embeds took effect"
        stored = sum(1 for _ in db._core.store.iter_prefix("vectors", fv.prefix))
        assert stored == len(live), f"{context}: {stored} vectors for {len(live)} live rows"
        assert_search_exact(db, "race", "body", [s.body(7), "river stone cloud", "zephyr"], 10, context)
        assert_intact(db, context)
    finally:
        db.close()
    with remlite.connect(tmp_path / "db", embedder="hash") as again:
        assert_search_exact(again, "race", "body", [s.body(9), "copper lantern"], 10, "races, reopened")
        assert_intact(again, "races, reopened")


def test_concurrent_upserts_of_the_same_keys_during_schema_changes(tmp_path: Path) -> None:
    """Two writers upsert the same 200 keys while the indexed fields change: one row per key, and
    the index entries are those of each row's last version (no stale entry from an older one)."""
    db = remlite.connect(tmp_path / "db", embedder="hash")
    try:
        db.register_schema(RACE_1)
        remlite_errors: list[str] = []

        def upsert(offset: int) -> Callable[[int], None]:
            def run(n: int) -> None:
                db.insert_batch("race", [{**race_row(0, i), "f1": n + offset, "f2": n} for i in range(200)])

            return run

        threads = Threads()
        threads.add("upsert a", _allowing_remlite_errors("upsert a", 25, upsert(0), remlite_errors))
        threads.add("upsert b", _allowing_remlite_errors("upsert b", 25, upsert(100), remlite_errors))
        threads.add(
            "schema",
            _allowing_remlite_errors(
                "schema", 10, lambda n: db.register_schema(RACE_2 if n % 2 == 0 else RACE_1), remlite_errors
            ),
        )
        threads.run()
        context = f"REMLITE_FAULT_SEED={SEED} upsert races"
        assert not threads.errors, f"{context}: {[(n, repr(e)) for n, e in threads.errors]}"
        assert not remlite_errors, f"{context}: {remlite_errors[:5]}"
        rows = list(db.scan("race"))
        assert len(rows) == 200 == db.count("race"), context
        field = db.schema("race")["indexed_fields"][1]
        for value in {r[field] for r in rows}:
            expected = sorted(r["id"] for r in rows if r[field] == value)
            assert sorted(db.find("race", field, eq=value)) == expected, f"{context}: {field}={value}"
        assert_intact(db, context)
    finally:
        db.close()
