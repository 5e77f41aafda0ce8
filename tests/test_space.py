"""Space (`remlite.ops.space`): stats, compact, purge of old soft-deleted rows through the logged
delete path (so a replica follows), the change-log retention policy as data, and the daily
maintenance run by `close()`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import InvalidInput
from remlite.ops.digest import state_digest
from remlite.ops.space import MAINTAIN_EVERY, log_cut, maintain, registered_floor
from remlite.settings import Settings
from remlite.storage import codec, keyspace
from remlite.storage.changelog import Entry
from remlite.storage.keyspace import MAINTAINED_KEY

runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})
NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "meta": {"type": "object"}},
    "key_field": "title",
    "embedding_fields": ["body"],
}

# (last_seq, first_seq, keep_min, keep_max, replica_floor) -> the new first_seq
LOG_CUTS = [
    # no replicas: keep the newest keep_min
    ((1000, 1, 100, 10_000, None), 901),
    ((50, 1, 100, 10_000, None), 1),  # fewer than keep_min: nothing goes
    ((1000, 950, 100, 10_000, None), 950),  # never below the current floor
    ((1000, 1, 0, 10_000, None), 1001),  # keep nothing: everything goes, the seq continues
    ((0, 1, 100, 10_000, None), 1),  # an empty log
    # a replica behind keeps what it has not applied ...
    ((1000, 1, 100, 10_000, 500), 501),
    ((1000, 1, 100, 10_000, 0), 1),  # a replica that applied nothing keeps everything
    # ... but a replica ahead of keep_min does not make the log shorter than keep_min
    ((1000, 1, 100, 10_000, 990), 901),
    ((1000, 1, 100, 10_000, 1000), 901),
    # never more than keep_max, even for a replica far behind
    ((100_000, 1, 100, 10_000, 5), 90_001),
    ((100_000, 1, 100, 100, None), 99_901),  # keep_min == keep_max
    ((1000, 1, 100, 10_000, 2000), 901),  # a floor past the end (a stale report) changes nothing
]


@pytest.mark.parametrize(("args", "cut"), LOG_CUTS)
def test_log_cut(args: tuple[int, int, int, int, int | None], cut: int) -> None:
    assert log_cut(*args) == cut


def test_log_cut_refuses_bounds_that_contradict() -> None:
    with pytest.raises(InvalidInput):
        log_cut(100, 1, 10, 5, None)
    with pytest.raises(InvalidInput):
        log_cut(100, 1, -1, 5, None)


def test_settings_read_and_check_the_retention_variables() -> None:
    settings = Settings.from_env(
        {"REMLITE_DELETED_RETENTION_DAYS": "7.5", "REMLITE_LOG_KEEP": "10", "REMLITE_LOG_MAX": "20"}
    )
    assert (settings.deleted_retention_days, settings.log_keep, settings.log_max) == (7.5, 10, 20)
    defaults = Settings.from_env({})
    assert (defaults.deleted_retention_days, defaults.log_keep, defaults.log_max) == (30, 100_000, 10_000_000)
    for bad in (
        {"REMLITE_DELETED_RETENTION_DAYS": "-1"},
        {"REMLITE_DELETED_RETENTION_DAYS": "nan"},
        {"REMLITE_LOG_KEEP": "x"},
        {"REMLITE_LOG_KEEP": "30", "REMLITE_LOG_MAX": "20"},
    ):
        with pytest.raises(InvalidInput, match="REMLITE_"):
            Settings.from_env(bad)


def _runtime(**changes: object) -> remlite.Runtime:
    return remlite.Runtime(64, settings=dataclasses.replace(Settings.from_env({}), **changes))


def _open(root: Path, runtime: remlite.Runtime | None = None) -> remlite.Database:
    return remlite.connect(root, embedder="hash", runtime=runtime)


def _backdate(db: remlite.Database, rid: str, days: float) -> None:
    """Soft-delete `rid` as if `days` ago (through apply-free means: the write path's own delete
    with a clock in the past)."""
    table, record = db._core.get_raw(bytes.fromhex(rid.replace("-", "")), include_deleted=True)
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with db._core.store.write_lock:
        db._writer.delete_row(table, bytes.fromhex(rid.replace("-", "")), record, False, when)


def test_stats_counts_rows_log_and_files(tmp_path: Path) -> None:
    with _open(tmp_path) as db:
        db.register_schema(NOTES)
        ids = db.insert_batch("notes", [{"title": f"n{i}", "body": f"word {i}"} for i in range(20)])
        db.delete(ids[0])
        db.delete(ids[1], hard=True)
        db.search("notes", "word", k=1)
    with _open(tmp_path) as db:  # the index file now exists
        stats = db.stats()
        assert stats["tables"]["notes"]["rows"] == 19
        assert stats["tables"]["notes"]["live"] == 18 == db.count("notes")
        assert stats["tables"]["notes"]["deleted"] == 1
        assert stats["tables"]["notes"]["bytes"] > 19 * 40
        assert stats["log"] == {
            "entries": db.last_seq,
            "first_seq": 1,
            "last_seq": db.last_seq,
            "bytes": stats["log"]["bytes"],
        }
        assert stats["log"]["bytes"] > 0
        assert set(stats["families"]) >= {"rows", "wal", "meta", "vectors"}
        assert all(set(f) == {"sst_bytes", "live_bytes", "memtable_bytes", "keys"} for f in stats["families"].values())
        assert len(stats["vectors"]["files"]) == 1 and stats["vectors"]["files"][0]["seq"] <= db.last_seq
        assert stats["disk_bytes"] >= stats["vectors"]["bytes"] > 0


def test_compact_gives_back_the_space_of_deleted_rows(tmp_path: Path) -> None:
    with _open(tmp_path) as db:
        db.register_schema(NOTES)
        ids = db.insert_batch("notes", [{"title": f"n{i}", "body": "x " * 200} for i in range(2000)])
        db._core.store.db.flush()
        for family in db._core.store.cf.values():
            family.flush()
        for rid in ids[:1800]:
            db.delete(rid, hard=True)
        db.truncate_wal(keep=10)
        report = db.compact()
        assert report["after"] < report["before"] / 2, report
        assert report["families"]["rows"]["after"] < report["families"]["rows"]["before"]
        assert db.count("notes") == 200 and db.check()["ok"]


def test_purge_hard_deletes_old_soft_deletes_and_a_replica_follows(tmp_path: Path) -> None:
    with _open(tmp_path / "src") as db, _open(tmp_path / "replica") as replica:
        db.register_schema(NOTES)
        ids = db.insert_batch(
            "notes", [{"title": f"n{i}", "body": f"word {i}", "meta": {"deleted_at": None}} for i in range(10)]
        )
        db.add_edge(ids[0], ids[5], "cites")
        _backdate(db, ids[0], 40)  # old: purged by default (30 days)
        _backdate(db, ids[1], 10)  # recent: kept unless the window is shorter
        db.delete(ids[2])  # just now
        report = db.purge()
        assert report["purged"] == 1 and report["tables"] == {"notes": 1} and report["log_removed"] == 0
        assert db.scan("notes", include_deleted=True) and ids[0] not in {
            r["id"] for r in db.scan("notes", include_deleted=True)
        }
        assert db.edges(ids[5], "both") == []  # a hard delete takes the row's edges
        assert db.purge(older_than_days=5)["purged"] == 1  # ids[1]
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
        assert db.purge(deleted_before=later)["tables"] == {"notes": 1}  # ids[2]
        assert db.purge(older_than_days=0)["purged"] == 0
        kept = {r["id"] for r in db.scan("notes", include_deleted=True)}
        assert kept == set(ids[3:]) and db.count("notes") == 7
        # the purges are ordinary logged hard deletes: a replica applying the log follows
        entries = db.changes(0, 10_000)
        replica.apply([Entry.from_bytes(e.to_bytes()) for e in entries])
        assert {r["id"] for r in replica.scan("notes", include_deleted=True)} == kept
        assert state_digest(replica)["digest"] == state_digest(db)["digest"]
        assert db.check()["ok"] and replica.check()["ok"]
        with pytest.raises(InvalidInput):
            db.purge(deleted_before="yesterday")
        with pytest.raises(InvalidInput):
            db.purge(deleted_before=later, older_than_days=1)


def test_purge_leaves_a_row_revived_after_the_scan(tmp_path: Path) -> None:
    with _open(tmp_path) as db:
        db.register_schema(NOTES)
        rid = db.insert("notes", {"title": "a", "body": "b"})
        _backdate(db, rid, 40)
        space = db._space
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        expired = space._expired("notes", cutoff)
        assert expired
        db.insert("notes", {"title": "a", "body": "back"})  # an upsert revives it
        assert sum(space._purge_row(r, cutoff) for r in expired) == 0
        assert db.get(rid)["body"] == "back"


def test_purge_cuts_the_log_by_the_policy(tmp_path: Path) -> None:
    runtime = _runtime(log_keep=5, log_max=40)
    try:
        with _open(tmp_path, runtime) as db:
            db.register_schema(NOTES)
            for i in range(60):
                db.insert("notes", {"title": f"n{i}", "body": f"w {i}"})
            db.search("notes", "w", k=1)  # a loaded index is checkpointed before the cut
            last = db.last_seq
            report = db.purge(replica_floor=last - 30)  # a replica 30 behind: its entries stay
            assert report["first_seq"] == last - 29 and report["log_removed"] == last - 30
            report = db.purge(replica_floor=0)  # one far behind: kept up to log_max only
            assert report["first_seq"] == last - 29  # (max 40 would allow more; never grows back)
            assert db.purge()["first_seq"] == last - 4  # no replicas: keep_min
            assert len(db.changes(last - 5, 100)) == 5
            assert db.purge(log=False)["log_removed"] == 0
            seq = db.last_seq
        with _open(tmp_path, runtime) as db:
            assert db.first_seq == seq - 4 and db.search("notes", "w 7", k=1) and db.check()["ok"]
    finally:
        runtime.close()


def test_purge_keeps_the_log_a_registered_replica_needs(tmp_path: Path) -> None:
    runtime = _runtime(log_keep=5, log_max=1000)
    try:
        with _open(tmp_path, runtime) as db:
            db.register_schema(NOTES)
            for i in range(40):
                db.insert("notes", {"title": f"n{i}", "body": "w"})
            behind = db.last_seq - 20
            batch = db._core.store.batch()
            value = orjson.dumps({"applied": behind, "seen": time.time(), "address": None})
            batch.put(keyspace.replica_key("r1"), value, db._core.store.handle["meta"])
            db._core.store.write(batch)
            del batch
            assert registered_floor(db._core.store) == behind
            assert db.purge()["first_seq"] == behind + 1  # everything r1 has not applied stays
            assert db.purge(replica_floor=db.last_seq)["first_seq"] == db.last_seq - 4  # an explicit floor
    finally:
        runtime.close()


def test_maintain_runs_once_a_day_and_close_runs_it(tmp_path: Path) -> None:
    runtime = _runtime(deleted_retention_days=0.0)
    try:
        with _open(tmp_path, runtime) as db:
            db.register_schema(NOTES)
            rid = db.insert("notes", {"title": "a", "body": "b"})
            db.delete(rid)
            assert maintain(db) is None  # first sight: only the time is recorded
            assert time.time() - codec.read_u64(db._core.store.cf["meta"].get(MAINTAINED_KEY)) < 5
            assert maintain(db) is None  # not due
            assert db.get(rid, include_deleted=True)["deleted_at"]
            assert maintain(db, force=True)["purged"] == 1
            rid = db.insert("notes", {"title": "c", "body": "d"})
            db.delete(rid)
            day_ago = int(time.time() - MAINTAIN_EVERY - 60)
            batch = db._core.store.batch()
            batch.put(MAINTAINED_KEY, codec.u64(day_ago), db._core.store.handle["meta"])
            db._core.store.write(batch)
            del batch  # it references the family's handle, which keeps RocksDB's lock after close
        # close() ran the due purge
        with _open(tmp_path, runtime) as db:
            assert list(db.scan("notes", include_deleted=True)) == []
            assert codec.read_u64(db._core.store.cf["meta"].get(MAINTAINED_KEY)) > day_ago
    finally:
        runtime.close()


def test_close_stays_cheap_with_maintenance(tmp_path: Path) -> None:
    """The check costs a meta read per close (3 µs): open and close stay well under a second."""
    with _open(tmp_path) as db:
        db.register_schema(NOTES)
    started = time.perf_counter()
    for _ in range(10):
        _open(tmp_path).close()
    assert (time.perf_counter() - started) / 10 < 0.5


def test_cli_stats_compact_purge(tmp_path: Path) -> None:
    with _open(tmp_path) as db:
        db.register_schema(NOTES)
        ids = db.insert_batch("notes", [{"title": f"n{i}", "body": "w"} for i in range(5)])
        db.delete(ids[0])
    result = runner.invoke(app, ["stats", "--path", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tables"]["notes"] == {
        "rows": 5,
        "live": 4,
        "deleted": 1,
        "bytes": json.loads(result.output)["tables"]["notes"]["bytes"],
    }
    result = runner.invoke(app, ["stats", "--path", str(tmp_path)])
    assert result.exit_code == 0 and "notes" in result.output and "change log:" in result.output
    result = runner.invoke(app, ["compact", "--path", str(tmp_path), "--json"])
    assert result.exit_code == 0 and set(json.loads(result.output)) == {"before", "after", "families", "seconds"}
    result = runner.invoke(app, ["purge", "--path", str(tmp_path), "--older-than-days", "0", "--no-log"])
    assert result.exit_code == 0 and result.output.startswith("purged 1 rows"), result.output
    result = runner.invoke(app, ["purge", "--path", str(tmp_path), "--json"])
    assert json.loads(result.output)["purged"] == 0
