"""Issue 10, one runtime shared by many tenants: shared caches, DuckDB connection and providers,
the bounded tenant pool, settings read from the environment in one place, and tenants sharing
DuckDB never seeing each other's rows."""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import remlite
from remlite.errors import InvalidInput, UnknownTable
from remlite.settings import Settings

ITEMS = {
    "name": "items",
    "type": "object",
    "properties": {"n": {"type": "integer"}, "kind": {"type": "string"}, "body": {"type": "string"}},
    "required": ["n"],
    "indexed_fields": ["kind"],
    "text_fields": ["body"],
}


@pytest.fixture
def runtime() -> Iterator[remlite.Runtime]:
    with remlite.Runtime(memory_mb=64, max_open_tenants=2) as rt:
        yield rt


def fill(db: remlite.Database, tag: str, rows: int = 30) -> list[str]:
    db.register_schema(ITEMS)
    return db.insert_batch("items", [{"n": i, "kind": f"{tag}{i % 3}", "body": f"word {tag}"} for i in range(rows)])


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_tenants_share_one_cache_duckdb_column_budget_and_provider(tmp_path: Path, runtime: remlite.Runtime) -> None:
    a = runtime.connect(tmp_path, "a", embedder="hash")
    b = runtime.connect(tmp_path, "b", embedder="hash")
    other = remlite.Runtime().connect(tmp_path, "c", embedder="hash")
    try:
        assert a._core.store.shared is b._core.store.shared is runtime.memory
        assert a._core.store.shared is not other._core.store.shared
        assert a._sql.engine().duck is b._sql.engine().duck
        assert a._sql.engine().cache.shared is b._sql.engine().cache.shared
        assert a._core.provider_for(None) is b._core.provider_for(None)
        assert a._core.provider_for(None) is not other._core.provider_for(None)
    finally:
        for db in (a, b, other):
            db.close()


def test_connect_uses_the_default_runtime(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, "a") as a, remlite.connect(tmp_path, "b") as b:
        assert a._core.runtime is b._core.runtime is remlite.default_runtime()
        assert a._core.store.shared is b._core.store.shared
    with pytest.raises(InvalidInput, match="runtime"):
        remlite.connect(tmp_path, "c", runtime="shared")  # type: ignore[arg-type]


def test_sql_results_stay_per_tenant_on_one_duckdb(tmp_path: Path, runtime: remlite.Runtime) -> None:
    a, b = runtime.connect(tmp_path, "a"), runtime.connect(tmp_path, "b")
    try:
        fill(a, "a", 30)
        fill(b, "b", 12)
        group = "SELECT kind, COUNT(*) AS c FROM items GROUP BY kind ORDER BY kind"
        for _ in range(2):  # the second round is answered from the registered (cached) relations
            assert a.sql(group).rows == [{"kind": f"a{i}", "c": 10} for i in range(3)]
            assert b.sql(group).rows == [{"kind": f"b{i}", "c": 4} for i in range(3)]
            assert {r["kind"][0] for r in a.sql("SELECT kind FROM items WHERE n >= 0").rows} == {"a"}
            assert b.sql("SELECT COUNT(*) AS c FROM entities WHERE type = 'items'").rows == [{"c": 12}]
        a.register_schema({"name": "only_a", "properties": {"x": {"type": "integer"}}})
        a.insert("only_a", {"x": 1})
        assert a.sql("SELECT x FROM only_a").rows == [{"x": 1}]
        with pytest.raises(UnknownTable):
            b.sql("SELECT x FROM only_a")
        a.insert("items", {"n": 99, "kind": "a0"})  # a write to one tenant leaves the other's cache alone
        assert a.sql(group).rows[0] == {"kind": "a0", "c": 11}
        assert b.sql(group).rows[0] == {"kind": "b0", "c": 4}
    finally:
        a.close()
        b.close()


def test_column_budget_evicts_least_recently_used_across_tenants(tmp_path: Path, runtime: remlite.Runtime) -> None:
    a, b = runtime.connect(tmp_path, "a"), runtime.connect(tmp_path, "b")
    try:
        fill(a, "a")
        fill(b, "b")
        query = "SELECT kind, COUNT(*) AS c FROM items GROUP BY kind"
        a.sql(query)
        budget = a._sql.engine().cache.shared
        budget.limit = 1  # room for one relation of either tenant
        b.sql(query)
        assert not a._sql.engine().cache._entries and len(b._sql.engine().cache._entries) == 1
        assert budget.used == b._sql.engine().cache._entries[("table", "items")].nbytes
        assert sorted(r["c"] for r in a.sql(query).rows) == [10, 10, 10]  # refilled, still right
        assert not b._sql.engine().cache._entries
    finally:
        a.close()
        b.close()


def test_pool_closes_least_recently_used_idle_tenants(tmp_path: Path, runtime: remlite.Runtime) -> None:
    ids = {}
    before = open_files()
    with runtime.tenant(tmp_path, "t0") as held:
        ids["t0"] = fill(held, "t0")
        for name in ("t1", "t2", "t3", "t4"):
            with runtime.tenant(tmp_path, name) as db:
                ids[name] = fill(db, name)
                assert not held.closed  # a leased handle is never closed under its user
        assert runtime.open_tenants == 2
    files = open_files() - before
    with runtime.tenant(tmp_path, "t5") as db:
        fill(db, "t5")
    assert runtime.open_tenants == 2 and open_files() - before == files  # bounded: one closed for one opened
    for name in ("t0", "t1", "t2"):  # closed by the pool: reopened on the next lease, data intact
        with runtime.tenant(tmp_path, name) as db:
            assert db.get(ids[name][7])["kind"] == f"{name}1"
            assert db.sql("SELECT COUNT(*) AS c FROM items").rows == [{"c": 30}]
            assert db.search("items", name, 3, mode="text")
    assert runtime.open_tenants == 2
    runtime.close()
    assert runtime.open_tenants == 0 and open_files() <= before


def test_pool_hands_out_one_handle_per_tenant(tmp_path: Path, runtime: remlite.Runtime) -> None:
    with runtime.tenant(tmp_path, "a") as first, runtime.tenant(tmp_path / "." / "", "a") as second:
        assert first is second
        with runtime.tenant(tmp_path, "b"), runtime.tenant(tmp_path, "c"):
            assert runtime.open_tenants == 3  # every one leased: over the bound until leases end
    assert runtime.open_tenants == 2


def test_a_lease_ends_when_its_block_raises(tmp_path: Path, runtime: remlite.Runtime) -> None:
    with pytest.raises(KeyError), runtime.tenant(tmp_path, "a"):
        raise KeyError("the caller's own error, not swallowed")
    for name in ("b", "c"):  # the pool of 2 can close "a" only if its lease ended
        with runtime.tenant(tmp_path, name):
            pass
    assert not runtime.holds(tmp_path, "a") and runtime.open_tenants == 2


def test_settings_are_read_from_the_environment_in_one_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_PATH", str(tmp_path / "root"))
    monkeypatch.setenv("REMLITE_TENANT", "acme")
    monkeypatch.setenv("REMLITE_EMBED_PROVIDER", " Hash ")
    monkeypatch.setenv("REMLITE_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("REMLITE_EMBED_MODEL", "m1")
    monkeypatch.setenv("REMLITE_MEMORY_MB", "96")
    monkeypatch.setenv("REMLITE_MAX_OPEN_TENANTS", "3")
    monkeypatch.setenv("REMLITE_MODEL_CACHE", str(tmp_path / "models"))
    settings = Settings.from_env()
    assert settings == Settings(
        path=tmp_path / "root",
        tenant="acme",
        embed_provider="hash",
        embed_base_url="http://127.0.0.1:9/v1",
        embed_model="m1",
        memory_mb=96,
        max_open_tenants=3,
        model_cache=tmp_path / "models",
    )
    rt = remlite.Runtime()
    assert (rt.memory_mb, rt.max_open_tenants) == (96, 3)
    monkeypatch.setenv("REMLITE_MEMORY_MB", "512")
    assert rt.settings.memory_mb == 96 and rt.memory_mb == 96  # read once, when the runtime was made
    assert remlite.Runtime(memory_mb=32).memory_mb == 32
    with remlite.connect() as db:  # connect() without a path: REMLITE_PATH; the default embedder: hash
        assert db.path == tmp_path / "root" / "default"
        assert db._core.provider_for(None).name == "hash"
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv("REMLITE_MEMORY_MB", bad)
        with pytest.raises(InvalidInput, match="REMLITE_MEMORY_MB"):
            Settings.from_env()
    assert Settings.from_env({}).path.name == "remlite" and Settings.from_env({}).memory_mb == 512
    with pytest.raises(InvalidInput, match="max_open_tenants"):
        remlite.Runtime(max_open_tenants=0, settings=Settings.from_env({}))


def test_source_reads_the_environment_only_in_settings() -> None:
    src = Path(remlite.__file__).parent
    readers = sorted(
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    )
    assert readers == ["settings.py"]


def test_threads_querying_different_tenants(tmp_path: Path, runtime: remlite.Runtime) -> None:
    dbs = [runtime.connect(tmp_path, f"t{i}") for i in range(4)]
    for i, db in enumerate(dbs):
        fill(db, f"t{i}", 10 + i)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        db = dbs[i]
        try:
            for _ in range(15):
                rows = db.sql("SELECT kind, COUNT(*) AS c FROM items GROUP BY kind ORDER BY kind").rows
                assert sum(r["c"] for r in rows) == 10 + i, rows
                assert {r["kind"][:2] for r in rows} == {f"t{i}"}
                assert len(db.sql("SELECT n FROM items WHERE n >= 0 ORDER BY n").rows) == 10 + i
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in dbs:
        db.close()
    assert not errors, errors


def test_a_database_dropped_without_close_leaves_nothing_in_the_runtime(
    tmp_path: Path, runtime: remlite.Runtime
) -> None:
    db = runtime.connect(tmp_path, "a")
    fill(db, "a")
    db.sql("SELECT kind, COUNT(*) AS c FROM items GROUP BY kind")
    duck = db._sql.engine().duck
    assert duck._registered
    gone = weakref.ref(db)
    del db
    gc.collect()
    assert gone() is None and not duck._registered  # neither kept alive nor its tables registered


def test_pool_under_threads_stays_bounded_and_every_lease_sees_its_tenant(
    tmp_path: Path, runtime: remlite.Runtime
) -> None:
    names = [f"p{i}" for i in range(5)]
    for name in names:
        with runtime.tenant(tmp_path, name) as db:
            fill(db, name, 5)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for step in range(12):
                name = names[(offset + step) % len(names)]
                with runtime.tenant(tmp_path, name) as db:
                    assert not db.closed
                    assert {r["kind"][:2] for r in db.sql("SELECT kind FROM items WHERE n >= 0").rows} == {name}
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert runtime.open_tenants == 2 and not runtime._closing


def test_pool_open_failure_reaches_the_caller_and_leaves_no_slot(tmp_path: Path, runtime: remlite.Runtime) -> None:
    with pytest.raises(remlite.NotFound, match="ghost"), runtime.tenant(tmp_path, "ghost", create=False):
        pass
    assert runtime.open_tenants == 0 and not (tmp_path / "ghost").exists()
    with runtime.tenant(tmp_path, "ghost") as db:  # and a later lease may create it
        assert db.count("resources") == 0


def test_a_finalizer_inside_a_query_does_not_deadlock_the_shared_duckdb() -> None:
    """A database dropped without close() unregisters its relations from a finalizer, which may run
    on a thread already inside `Duck.run` (a garbage collection during an import there)."""
    import threading

    from remlite.query.duck import Duck

    duck = Duck()

    def query_holding_the_lock() -> None:
        with duck._lock:
            duck.forget_prefix("gone_")

    worker = threading.Thread(target=query_holding_the_lock, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    duck._registered["gone_cache_table_t"] = (0, 0)
    assert duck.run("SELECT 1", {}) == [(1,)]
    assert "gone_cache_table_t" not in duck._registered  # unregistered by the next query


def test_evict_closes_a_tenant_after_its_leases_and_the_next_lease_reopens_it(tmp_path: Path) -> None:

    with remlite.Runtime() as runtime:
        assert runtime.evict(tmp_path, "t") is False  # not open
        with runtime.tenant(tmp_path, "t") as db:
            db.register_schema({"name": "notes", "properties": {"title": {"type": "string"}}})
            first = db
            evicted = threading.Event()
            worker = threading.Thread(target=lambda: (runtime.evict(tmp_path, "t"), evicted.set()))
            worker.start()
            time.sleep(0.1)
            assert not evicted.is_set() and not first.closed  # a lease is still running on it
        worker.join(10)
        assert evicted.is_set() and first.closed
        with runtime.tenant(tmp_path, "t") as again:
            assert again is not first and again.count("notes") == 0
