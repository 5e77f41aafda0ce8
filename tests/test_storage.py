from __future__ import annotations

from pathlib import Path

import pytest

import remlite
from remlite.errors import DatabaseLocked, FormatVersionError, InvalidInput, WalTruncated
from remlite.storage.engine import FORMAT_VERSION, Store
from remlite.storage.tuning import KEPT_INFO_LOGS


def test_future_format_version_is_refused(tmp_path: Path) -> None:
    remlite.connect(tmp_path).close()
    store = Store(tmp_path / "default")
    store.cf["meta"].put(b"format_version", str(FORMAT_VERSION + 1).encode())
    store.close()
    with pytest.raises(FormatVersionError, match="newer remlite"):
        remlite.connect(tmp_path)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    with remlite.connect(tmp_path), pytest.raises(DatabaseLocked, match="already open in this process"):
        remlite.connect(tmp_path)
    remlite.connect(tmp_path).close()  # released on close


def test_reopening_keeps_a_bounded_number_of_rocksdb_info_logs(tmp_path: Path) -> None:
    """RocksDB starts a new info LOG at every open and kept 1,000 old ones (~100 KB each): a tenant
    a server's pool reopened all day grew by ~100 MB of logs."""
    for _ in range(12):
        remlite.connect(tmp_path).close()
    logs = sorted(p.name for p in (tmp_path / "default").glob("LOG*"))
    assert 1 <= len(logs) <= KEPT_INFO_LOGS + 1, logs  # the current LOG and at most that many old ones


def test_compaction_threads_run_at_a_lower_cpu_priority_than_flushes(tmp_path: Path) -> None:
    """On two cores the compaction after a bulk load took a core from the Python thread writing or
    reading (remlite.storage.engine's `_ENV`); flushes keep the normal priority."""
    import subprocess
    import sys

    probe = f"""
import glob, os, remlite
db = remlite.connect({str(tmp_path)!r})
db.insert_batch("entities", [{{"key": f"k{{i}}", "name": f"n{{i}}"}} for i in range(20_000)])
db.compact()
for task in glob.glob(f"/proc/{{os.getpid()}}/task/*"):
    name = open(task + "/comm").read().strip()
    if name.startswith("rocksdb:"):
        print(name, open(task + "/stat").read().rsplit(")", 1)[1].split()[16])
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    nice = {name: int(value) for name, value in (line.split() for line in done.stdout.splitlines())}
    assert nice["rocksdb:low"] > 0 and nice["rocksdb:high"] == 0, nice


def test_tenants_are_separate_directories(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, tenant="a") as a, remlite.connect(tmp_path, tenant="b") as b:
        a.insert("entities", {"key": "k", "name": "only in a"})
        assert a.count("entities") == 1 and b.count("entities") == 0
    assert (tmp_path / "a").is_dir() and (tmp_path / "b").is_dir()


@pytest.mark.parametrize("tenant", ["", "../escape", "a/b", ".hidden", "x" * 200])
def test_bad_tenant_names(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(InvalidInput, match="tenant"):
        remlite.connect(tmp_path, tenant=tenant)


def test_reference_constructor_alias(tmp_path: Path) -> None:
    db = remlite.REMDatabase(tenant_id="acme", path=tmp_path)
    assert db.tenant == "acme" and db.path == tmp_path / "acme"
    db.close()


def test_default_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_PATH", str(tmp_path / "env-root"))
    with remlite.connect() as db:
        assert db.path == tmp_path / "env-root" / "default"


def test_wal_records_every_change_in_order(tasks_db: remlite.Database) -> None:
    start = tasks_db.last_seq
    ids = tasks_db.insert_batch("tasks", [{"name": f"t{i}", "priority": i} for i in range(3)])
    tasks_db.update(ids[0], {"priority": 9})
    tasks_db.delete(ids[1])
    tasks_db.delete(ids[2], hard=True)
    tasks_db.drop_schema("notes")
    entries = tasks_db.wal(after_seq=start)
    assert [e["op"] for e in entries] == ["put", "put", "delete", "delete", "drop_schema"]
    assert [e["seq"] for e in entries] == list(range(start + 1, start + 6))
    assert [r["name"] for r in entries[0]["rows"]] == ["t0", "t1", "t2"]
    assert entries[1]["rows"][0]["priority"] == 9
    assert entries[2]["hard"] is False and entries[3]["hard"] is True and entries[3]["ids"] == [ids[2]]
    assert tasks_db.wal(after_seq=start, limit=2) == entries[:2]
    assert tasks_db.wal(after_seq=tasks_db.last_seq) == []
    schema_entries = [e for e in tasks_db.wal(0, 1000) if e["op"] == "schema"]
    assert {"tasks", "notes", "resources"} <= {e["table"] for e in schema_entries}
    with pytest.raises(InvalidInput):
        tasks_db.wal(after_seq=-1)


def test_wal_sequence_continues_after_reopen(tasks_db: remlite.Database) -> None:
    tasks_db.insert("notes", {"title": "a"})
    seq, root = tasks_db.last_seq, tasks_db.root
    tasks_db.close()
    with remlite.connect(root) as db:
        db.insert("notes", {"title": "b"})
        assert db.last_seq == seq + 1
        assert db.wal(seq)[0]["rows"][0]["title"] == "b"


def test_truncate_wal_keeps_sequence_and_refuses_gaps(tasks_db: remlite.Database) -> None:
    ids = tasks_db.insert_batch("tasks", [{"name": f"t{i}", "priority": i} for i in range(5)], chunk_size=1)
    last, root = tasks_db.last_seq, tasks_db.root
    report = tasks_db.truncate_wal(keep=2)
    assert report == {"removed": last - 2, "first_seq": last - 1, "last_seq": last}
    assert [e["seq"] for e in tasks_db.wal()] == [last - 1, last] == [e["seq"] for e in tasks_db.wal(last - 2)]
    with pytest.raises(WalTruncated, match=f"up to seq {last - 2}"):
        tasks_db.wal(0)
    assert tasks_db.truncate_wal(before_seq=3)["removed"] == 0  # already gone: nothing to do
    assert tasks_db.get(ids[0])["name"] == "t0" and tasks_db.check()["ok"]  # data untouched
    for bad in ({}, {"keep": 1, "before_seq": 1}, {"keep": -1}):
        with pytest.raises(InvalidInput):
            tasks_db.truncate_wal(**bad)
    tasks_db.truncate_wal(keep=0)  # every entry: the sequence must still not restart
    assert tasks_db.wal() == []
    tasks_db.close()
    with remlite.connect(root) as db:
        assert (db.first_seq, db.last_seq) == (last + 1, last)
        db.insert("tasks", {"name": "after", "priority": 1})
        assert [e["seq"] for e in db.wal()] == [last + 1]
        with pytest.raises(WalTruncated):
            db.wal(last - 1)
