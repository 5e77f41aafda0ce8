"""One `Database` shared by eight threads running a seeded mix of every kind of call (inserts,
upserts of the same natural keys from several threads at once, updates, soft and hard deletes,
gets, finds, lookups, vector/text/hybrid searches with and without `where`, SQL, edges), then
every derived structure compared with the rows: `check()`, counters, natural keys at their
derived ids, index scans, search results and SQL counts, before and after a reopen.

`REMLITE_THREAD_SEEDS=1,2,3,...` runs other seeds (the committed runs use two) and
`REMLITE_THREAD_ITERATIONS` longer workloads (120 calls a thread by default)."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite import ids as idmod
from remlite.errors import NotFound

THREADS = 8
ITERATIONS = int(os.environ.get("REMLITE_THREAD_ITERATIONS", "120"))  # per thread
KEYS = [f"k{i:02d}" for i in range(24)]  # the shared natural-key space every thread upserts
GROUPS = ["g0", "g1", "g2", "g3"]
WORDS = ["cat", "dog", "fish", "bird", "stock", "bank", "rate", "python", "rust", "kitten", "park", "market"]

ITEMS = {
    "name": "items",
    "properties": {
        "name": {"type": "string"},
        "grp": {"type": "string"},
        "n": {"type": "integer"},
        "body": {"type": "string"},
    },
    "required": ["name", "grp"],
    "key_field": "name",
    "indexed_fields": ["grp", "n"],
    "embedding_fields": ["body"],
}
EVENTS = {
    "name": "events",
    "properties": {"kind": {"type": "string"}, "note": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["kind"],
    "indexed_fields": ["kind"],
    "text_fields": ["note"],
}

SEEDS = [int(s) for s in os.environ.get("REMLITE_THREAD_SEEDS", "1,2").split(",") if s.strip()]


def _body(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))


def _item(rng: random.Random, key: str | None = None) -> dict[str, Any]:
    return {"name": key or rng.choice(KEYS), "grp": rng.choice(GROUPS), "n": rng.randint(0, 50), "body": _body(rng)}


def _item_id(key: str) -> str:
    return idmod.to_str(idmod.key_id_bytes("default", "items", key))


class Worker:
    """One thread's seeded, bounded workload. Event ids it created are shared through `pool` so
    other threads update, delete and link them too."""

    def __init__(
        self, db: remlite.Database, seed: int, marker: int, pool: list[str], pool_lock: threading.Lock
    ) -> None:
        self.db, self.rng, self.pool, self.pool_lock = db, random.Random(seed), pool, pool_lock
        self.marker, self.private = marker, 0  # events only this thread writes: `n` = marker
        self.calls = 0
        self.not_found = 0
        self.ops: list[tuple[int, Callable[[], Any]]] = [
            (3, self.upsert_batch),
            (2, self.upsert_one),
            (2, self.insert_event),
            (1, self.insert_private),
            (2, self.update),
            (1, self.soft_delete),
            (1, self.hard_delete),
            (3, self.get),
            (2, self.find),
            (1, self.lookup),
            (3, self.search),
            (2, self.sql),
            (2, self.edge),
        ]
        self.weights = [w for w, _ in self.ops]

    def run(self, iterations: int) -> None:
        for _ in range(iterations):
            op = self.rng.choices(self.ops, weights=self.weights)[0][1]
            self.calls += 1
            try:
                op()
            except NotFound:  # another thread deleted the row between our choice and the call
                self.not_found += 1

    # ---------------------------------------------------------------- writes
    def upsert_batch(self) -> None:
        rows = [_item(self.rng) for _ in range(self.rng.randint(1, 6))]
        ids = self.db.insert_batch("items", rows)
        assert ids == [_item_id(r["name"]) for r in rows]

    def upsert_one(self) -> None:
        key = self.rng.choice(KEYS)
        assert self.db.insert("items", _item(self.rng, key)) == _item_id(key)

    def insert_event(self) -> None:
        rid = self.db.insert("events", {"kind": self.rng.choice(GROUPS), "note": _body(self.rng), "n": 1})
        with self.pool_lock:
            self.pool.append(rid)

    def insert_private(self) -> None:
        """Read your own writes through the SQL column cache (`n` is not indexed), while other
        threads write the same table."""
        self.db.insert("events", {"kind": self.rng.choice(GROUPS), "note": _body(self.rng), "n": self.marker})
        self.private += 1
        self._check_private()

    def _check_private(self) -> None:
        found = self.db.sql("SELECT COUNT(*) AS c FROM events WHERE n = ?", [self.marker]).scalar()
        assert found == self.private, (self.marker, found, self.private)

    def _event(self) -> str | None:
        with self.pool_lock:
            return self.rng.choice(self.pool) if self.pool else None

    def _target(self) -> str | None:
        return _item_id(self.rng.choice(KEYS)) if self.rng.random() < 0.6 else self._event()

    def update(self) -> None:
        if self.rng.random() < 0.6:
            key = self.rng.choice(KEYS)
            row = self.db.update(_item_id(key), {"grp": self.rng.choice(GROUPS), "body": _body(self.rng)})
            assert row["name"] == key
        elif (rid := self._event()) is not None:
            self.db.update(rid, {"kind": self.rng.choice(GROUPS), "note": _body(self.rng)})

    def soft_delete(self) -> None:
        if (rid := self._target()) is not None:
            self.db.delete(rid)

    def hard_delete(self) -> None:
        if (rid := self._target()) is not None:
            self.db.delete(rid, hard=True)

    def edge(self) -> None:
        src, dst = _item_id(self.rng.choice(KEYS)), self._event()
        if dst is None:
            return
        if self.rng.random() < 0.6:
            self.db.add_edge(src, dst, "mentions", {"w": self.rng.randint(0, 9)})
        else:
            self.db.remove_edge(src, dst, "mentions")

    # ---------------------------------------------------------------- reads
    def get(self) -> None:
        key = self.rng.choice(KEYS)
        assert self.db.get(_item_id(key))["name"] == key
        found = self.db.get_batch([_item_id(k) for k in self.rng.sample(KEYS, 4)])
        assert all(row is None or row["id"] == _item_id(row["name"]) for row in found)

    def find(self) -> None:
        grp = self.rng.choice(GROUPS)
        self.db.find("items", "grp", eq=grp)
        self.db.find("items", "n", gte=10, lt=30, fetch=True)
        self.db.find("events", "kind", eq=grp)

    def lookup(self) -> None:
        key = self.rng.choice(KEYS)
        assert all(row["name"] == key for row in self.db.lookup(key))

    def search(self) -> None:
        mode = self.rng.choice(["vector", "text", "hybrid"])
        where = f"grp = '{self.rng.choice(GROUPS)}'" if self.rng.random() < 0.5 else None
        rows = self.db.search("items", _body(self.rng), k=5, mode=mode, where=where)
        assert all(row["id"] == _item_id(row["name"]) for row in rows)
        self.db.search("events", self.rng.choice(WORDS), k=5, mode="text")

    def sql(self) -> None:
        grp = self.rng.choice(GROUPS)
        self.db.sql("SELECT id, name, n FROM items WHERE grp = ? AND n >= ?", [grp, self.rng.randint(0, 40)])
        groups = self.db.sql("SELECT grp, COUNT(*) AS c, SUM(n) AS s FROM items GROUP BY grp")
        assert all(row["grp"] in GROUPS and row["c"] >= 1 for row in groups)
        self.db.sql("SELECT kind, COUNT(*) AS c FROM events WHERE n = 1 GROUP BY kind")
        self._check_private()


def _verify(db: remlite.Database) -> None:
    report = db.check()
    assert report["ok"], report["problems"]
    for table in ("items", "events"):
        live = list(db.scan(table))
        assert db.count(table) == len(live), table
        assert db.sql(f"SELECT COUNT(*) AS c FROM {table}").scalar() == len(live), table
        field = "grp" if table == "items" else "kind"
        for value in GROUPS:
            expected = sorted(row["id"] for row in live if row[field] == value)
            assert sorted(db.find(table, field, eq=value)) == expected, (table, value)
            assert len(db.sql(f"SELECT id FROM {table} WHERE {field} = ?", [value])) == len(expected)
        live_ids = {row["id"] for row in live}
        text_field = "body" if table == "items" else "note"
        for word in WORDS[:6]:
            for row in db.search(table, word, k=100, mode="text", field=text_field):
                assert row["id"] in live_ids, (table, word, row)
    items = list(db.scan("items", include_deleted=True))
    names = [row["name"] for row in items]
    assert len(names) == len(set(names)), "two rows share a natural key"
    assert all(row["id"] == _item_id(row["name"]) for row in items)
    live_items = {row["id"] for row in items if row["deleted_at"] is None}
    for mode in ("vector", "hybrid"):
        for word in WORDS[:4]:
            for row in db.search("items", word, k=100, mode=mode):
                assert row["id"] in live_items, (mode, word, row)
    assert all(row["id"] in live_items for row in db.search("items", "cat", k=100, where="grp = 'g1'"))


@pytest.mark.parametrize("seed", SEEDS)
def test_threads_share_one_database(tmp_path: Path, seed: int) -> None:
    db = remlite.connect(tmp_path / "db", embedder="hash")
    db.register_schema(ITEMS)
    db.register_schema(EVENTS)
    pool: list[str] = []
    pool_lock = threading.Lock()
    workers = [Worker(db, seed * 1000 + n, 100 + n, pool, pool_lock) for n in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(worker: Worker) -> None:
        try:
            start.wait()
            worker.run(ITERATIONS)
        except BaseException as exc:  # reported by the main thread, with its traceback
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: races show up in far fewer operations
    began = time.perf_counter()
    try:
        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    elapsed = time.perf_counter() - began
    calls = sum(w.calls for w in workers)
    print(f"seed {seed}: {calls} calls in {elapsed:.2f}s, {sum(w.not_found for w in workers)} NotFound")
    if errors:
        raise errors[0]
    assert all(db.sql("SELECT COUNT(*) FROM events WHERE n = ?", [w.marker]).scalar() == w.private for w in workers)
    try:
        _verify(db)
    finally:
        db.close()
    with remlite.connect(tmp_path / "db", embedder="hash") as again:
        _verify(again)


class _PausingDict(dict):  # type: ignore[type-arg]
    """`WAL._touched` that stops a commit of `table` at the moment it records the table as
    touched, until the test lets it go: a read can then run at that exact point of the commit."""

    def __init__(self, items: dict[str, int], table: str) -> None:
        super().__init__(items)
        self.table, self.paused, self.go = table, threading.Event(), threading.Event()

    def __setitem__(self, key: str, value: int) -> None:
        if key == self.table and not self.go.is_set():
            self.paused.set()
            self.go.wait(10)
        super().__setitem__(key, value)


def test_sql_cache_sees_a_write_whose_commit_a_query_overlapped(tmp_path: Path) -> None:
    """The SQL column cache trusts an entry when the log's seq moved but no commit since touched
    its table. A commit advanced the seq before recording the table it touched, so a query in
    between took the new seq without the table being touched, kept the stale entry as current,
    and every later query missed the write until the table was written again."""
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        db.register_schema(EVENTS)
        db.insert("events", {"kind": "g0", "n": 7})
        query = "SELECT COUNT(*) AS c FROM events WHERE n = 7"  # n is not indexed: the column cache answers
        assert db.sql(query).scalar() == 1
        pausing = db._core.wal._touched = _PausingDict(db._core.wal._touched, "events")
        writer = threading.Thread(target=db.insert, args=("events", {"kind": "g1", "n": 7}))
        writer.start()
        try:
            assert pausing.paused.wait(10)
            db.sql(query)  # mid-commit: either count is right, but the cache must not adopt the new seq
        finally:
            pausing.go.set()
            writer.join()
        assert db.sql(query).scalar() == 2


def test_sql_cache_columns_added_while_another_query_builds_the_arrow_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the eight-thread run: a query needing a column the cached relation lacked added it
    to the shared entry while another query was building that entry's Arrow table; the table
    without the new column was kept as current, and the next query registered it in DuckDB
    (`BinderException: ... does not have a column named "c1_v"`)."""
    import pyarrow as pa

    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        db.register_schema(EVENTS)
        db.insert("events", {"kind": "g0", "n": 1})
        assert db.sql("SELECT COUNT(*) AS c FROM events WHERE n = 1").scalar() == 1  # caches `n` only
        cache = db._sql.engine().cache
        (entry,) = cache._entries.values()
        real_table = pa.table
        added = threading.Event()

        def add_kind() -> None:  # another query's fill, needing `kind` too
            cache.get(entry.relation, [("n",), ("kind",)])
            added.set()

        def table_while_a_column_is_added(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(pa, "table", real_table)
            other = threading.Thread(target=add_kind)
            other.start()
            added.wait(0.5)  # it must wait for this build, or the build must not be kept
            return real_table(*args, **kwargs)

        entry._table = None
        monkeypatch.setattr(pa, "table", table_while_a_column_is_added)
        entry.table()
        assert added.wait(10)
        grouped = db.sql("SELECT kind, COUNT(*) AS c FROM events WHERE n = 1 GROUP BY kind")
        assert grouped.rows == [{"kind": "g0", "c": 1}]
