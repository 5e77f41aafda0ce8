"""Replication in one process: a served primary, followers applying its change stream (the
three-process test with kill -9 is tests/test_replication_processes.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import remlite
from remlite.errors import ChangeLogConflict, ReplicationError
from remlite.ops.digest import state_digest
from remlite.ops.space import registered_floor
from remlite.replication import registry, wire
from remlite.replication.follower import Follower, catch_up, following
from remlite.serve.app import create_app
from tests.test_serve import run_server

NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "rank": {"type": "integer"}},
    "key_field": "title",
    "indexed_fields": ["rank"],
    "text_fields": ["body"],
    "embedding_fields": ["body"],
}


class Primary:
    def __init__(self, root: Path, url: str, runtime: remlite.Runtime) -> None:
        self.root, self.url, self.runtime = root, url, runtime

    def db(self) -> Any:
        return self.runtime.tenant(self.root, "default", embedder="hash")


@pytest.fixture()
def primary(tmp_path: Path) -> Iterator[Primary]:
    root = tmp_path / "primary"
    runtime = remlite.Runtime()
    server, thread, url = run_server(create_app(root, runtime=runtime, auth=False))
    with runtime.tenant(root, "default", embedder="hash") as db:
        db.register_schema(NOTES)
        rows = [{"title": f"t{i}", "body": f"note about topic {i % 7}", "rank": i} for i in range(60)]
        db.insert_batch("notes", rows)
    try:
        yield Primary(root, url, runtime)
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


def _same(primary: Primary, replica_root: Path) -> None:
    with primary.db() as source, remlite.connect(replica_root, embedder="hash") as copy:
        since = max(source.first_seq, copy.first_seq)
        assert state_digest(copy, since_seq=since) == state_digest(source, since_seq=since)
        for query in ("topic 3", "note"):
            assert copy.search("notes", query, 5, mode="hybrid") == source.search("notes", query, 5, mode="hybrid")


def test_a_replica_catches_up_and_follows(primary: Primary, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    progress = catch_up(primary.url, replica, embedder="hash")
    assert progress.applied > 0 and progress.connects == 1
    _same(primary, replica)
    seen: list[int] = []
    with following(primary.url, replica, embedder="hash", on_applied=lambda es: seen.extend(e.seq for e in es)) as f:
        with primary.db() as db:
            ids = db.insert_batch("notes", [{"title": f"n{i}", "body": "fresh words", "rank": i} for i in range(5)])
            db.update(ids[0], {"rank": 1000})
            db.delete(ids[1])
            db.delete(ids[2], hard=True)
            db.add_edge(ids[3], ids[4], "follows", {"why": "test"})
            last = db.last_seq
        deadline = time.monotonic() + 10
        while f.db is None or f.db.last_seq < last:
            assert time.monotonic() < deadline, "the replica did not follow"
            time.sleep(0.02)
    assert seen == sorted(seen) and seen[-1] == last
    _same(primary, replica)


def test_the_primary_registers_what_replicas_applied(primary: Primary, tmp_path: Path) -> None:
    catch_up(primary.url, tmp_path / "r1", name="r1", embedder="hash")
    with primary.db() as db:
        found = registry.replicas(db)
        assert [r["name"] for r in found] == ["r1"] and found[0]["applied"] == db.last_seq
        assert registered_floor(db._core.store) == db.last_seq
        report = registry.status(db)
        assert report["mode"] == "primary" and report["replicas"][0]["lag_entries"] == 0
        db.insert("notes", {"title": "later", "body": "x", "rank": 1})
        assert registry.status(db)["replicas"][0]["lag_entries"] == 1
    answer = httpx.get(f"{primary.url}/v1/replication").json()
    assert answer["mode"] == "primary" and answer["replicas"][0]["name"] == "r1"
    with remlite.connect(tmp_path / "r1", embedder="hash") as copy:
        mine = registry.status(copy)
        assert mine["mode"] == "replica" and mine["primary"] == primary.url and mine["name"] == "r1"


def test_a_diverged_replica_stops_with_a_conflict(primary: Primary, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    catch_up(primary.url, replica, embedder="hash")
    with remlite.connect(replica, embedder="hash") as copy:
        copy.insert("notes", {"title": "written here", "body": "not on the primary", "rank": 0})
        before = state_digest(copy)
    with primary.db() as db:
        db.insert("notes", {"title": "written there", "body": "on the primary", "rank": 0})
    with pytest.raises(ChangeLogConflict):
        catch_up(primary.url, replica, embedder="hash")
    with remlite.connect(replica, embedder="hash") as copy:
        assert registry.status(copy)["stopped"].startswith("ChangeLogConflict")
        assert state_digest(copy) == before  # nothing overwritten (the note of why it stopped is local)


def test_stream_bad_requests_get_one_error_shape(primary: Primary) -> None:
    bad = [("", "after"), ("after=-1", "after"), ("after=x", "after"), ("after=0&heartbeat=0", "heartbeat"),
           ("after=0&replica=%00", "replica name")]  # fmt: skip
    for query, what in bad:
        reply = httpx.get(f"{primary.url}/v1/changes/stream?{query}")
        assert reply.status_code == 400, (query, reply.text)
        assert reply.json()["error"]["code"] == "invalid_input", what
    for body in (b"not json", b'{"replica": "r"}', b'{"replica": "r", "applied": -1}'):
        reply = httpx.post(f"{primary.url}/v1/replication/ack", content=body)
        assert reply.status_code == 400 and "error" in reply.json(), body
    reply = httpx.post(f"{primary.url}/v1/replication/ack", json={"replica": "r", "applied": 10**9})
    assert reply.status_code == 400 and "log ends at" in reply.json()["error"]["message"]


def test_a_purged_log_answers_410_before_the_stream(primary: Primary) -> None:
    with primary.db() as db:
        db.insert("notes", {"title": "one more", "body": "x", "rank": 1})
        db.truncate_wal(keep=1)
    reply = httpx.get(f"{primary.url}/v1/changes/stream?after=0")
    assert reply.status_code == 410 and reply.json()["error"]["code"] == "wal_truncated"


def test_the_stream_is_frames_with_heartbeats(primary: Primary) -> None:
    with primary.db() as db:
        last = db.last_seq
    reader, kinds = wire.FrameReader(), []
    with httpx.stream("GET", f"{primary.url}/v1/changes/stream", params={"after": last - 2, "heartbeat": 0.05}) as r:
        assert r.headers["content-type"] == wire.MEDIA_TYPE
        started = time.monotonic()
        for chunk in r.iter_raw():
            kinds += [kind for kind, _ in reader.feed(chunk)]
            if kinds.count(wire.HEARTBEAT) >= 4 or time.monotonic() - started > 5:
                break
    assert kinds[0] == wire.HEARTBEAT and kinds[1:3] == [wire.ENTRY, wire.ENTRY] and kinds.count(wire.HEARTBEAT) >= 4


def test_frames_split_anywhere_read_back() -> None:
    data = wire.frame(wire.ENTRY, b"abc") + wire.heartbeat(5, 1, 1.0) + wire.frame(wire.ENTRY, b"")
    for cut in range(len(data) + 1):
        reader = wire.FrameReader()
        got = [*reader.feed(data[:cut]), *reader.feed(data[cut:])]
        assert [k for k, _ in got] == [wire.ENTRY, wire.HEARTBEAT, wire.ENTRY] and got[0][1] == b"abc"
        assert reader.pending == 0
    with pytest.raises(ValueError, match="not a change stream"):
        list(wire.FrameReader().feed(b"\x00\x00\x00\x00E"))


def test_a_replica_server_refuses_writes(primary: Primary, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    catch_up(primary.url, replica, embedder="hash")
    server, thread, url = run_server(create_app(replica, replica_of=primary.url, auth=False,
                                                max_open_tenants=4))  # fmt: skip
    try:
        reply = httpx.post(f"{url}/v1/tables/notes/records", json={"title": "no", "body": "x", "rank": 1})
        assert reply.status_code == 403 and primary.url in reply.json()["error"]["message"]
        assert httpx.get(f"{url}/v1/tables/notes/count").json() == {"count": 60}
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_replica_server_reads_what_its_follower_applied_at_once(primary: Primary, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    runtime = remlite.Runtime()
    follower = Follower(primary.url, replica, runtime=runtime, embedder="hash")
    follower.open()
    app = create_app(replica, runtime=runtime, replica_of=primary.url, replica_tenants=frozenset({"default"}),
                     auth=False)  # fmt: skip
    server, thread, url = run_server(app)
    import threading

    running = threading.Thread(target=follower.run, daemon=True)
    running.start()
    try:
        with primary.db() as db:
            rid = db.insert("notes", {"title": "fresh", "body": "just written", "rank": 5})
            last = db.last_seq
        deadline = time.monotonic() + 10
        while follower.db is None or follower.db.last_seq < last:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert httpx.get(f"{url}/v1/records/{rid}").json()["title"] == "fresh"  # no refresh interval
        other = httpx.get(f"{url}/v1/tables/notes/count", headers={"x-remlite-tenant": "other"})
        assert other.status_code == 404 and "not replicated here" in other.json()["error"]["message"]
        assert not (replica / "other").exists()
    finally:
        follower.stop()
        running.join(10)
        follower.close()
        server.should_exit = True
        thread.join(10)
        runtime.close()


def test_an_unreachable_primary_is_retried_and_a_refusal_is_not(tmp_path: Path) -> None:
    with pytest.raises(ReplicationError, match="URL"):
        Follower("ftp://nowhere", tmp_path)
    follower = Follower("http://127.0.0.1:9", tmp_path, max_backoff=0.05, embedder="hash")
    import threading

    def stop_after_three_tries() -> None:
        deadline = time.monotonic() + 20
        while follower.progress.connects < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        follower.stop()

    threading.Thread(target=stop_after_three_tries, daemon=True).start()
    progress = follower.run(follow=True)
    follower.close()
    assert progress.connects >= 3 and "ConnectError" in (progress.last_error or "")


def test_a_replica_behind_a_purged_log_re_seeds_from_a_snapshot(primary: Primary, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    catch_up(primary.url, replica, embedder="hash")
    with primary.db() as db:
        for i in range(5):
            db.insert("notes", {"title": f"late {i}", "body": "after the copy", "rank": i})
        db.truncate_wal(keep=2)  # the entries the replica needs are gone
    progress = catch_up(primary.url, replica, embedder="hash")
    assert progress.reseeds == 1
    _same(primary, replica)
    with remlite.connect(replica, embedder="hash") as copy:
        assert registry.status(copy)["reseeds"] == 1 and copy.check()["ok"]
    with primary.db() as db:  # and it follows on from the snapshot's seq
        db.insert("notes", {"title": "after the re-seed", "body": "x", "rank": 1})
    assert catch_up(primary.url, replica, embedder="hash").applied == 1
    _same(primary, replica)


def test_a_fresh_replica_of_a_purged_primary_starts_from_a_snapshot(primary: Primary, tmp_path: Path) -> None:
    with primary.db() as db:
        db.truncate_wal(keep=1)
    progress = catch_up(primary.url, tmp_path / "fresh", embedder="hash")
    assert progress.reseeds == 1
    _same(primary, tmp_path / "fresh")


def test_the_cli_replicates_and_reports(primary: Primary, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from remlite.cli.app import app

    runner = CliRunner()
    copy = ["--path", str(tmp_path / "copy")]
    done = runner.invoke(app, ["replicate", "--primary", primary.url, "--name", "cli", *copy, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    with primary.db() as db:
        assert report["last_seq"] == db.last_seq == report["primary_last_seq"] and report["applied"] > 0
    mine = json.loads(runner.invoke(app, ["replication", "status", *copy, "--json"]).stdout)
    assert mine["mode"] == "replica" and mine["lag_entries"] == 0 and mine["name"] == "cli"
    theirs = json.loads(runner.invoke(app, ["replication", "status", "--primary", primary.url, "--json"]).stdout)
    assert theirs["mode"] == "primary" and [r["name"] for r in theirs["replicas"]] == ["cli"]
    text = runner.invoke(app, ["replication", "status", *copy])
    assert "mode:      replica" in text.stdout and primary.url in text.stdout
    refused = runner.invoke(app, ["replicate", "--primary", "ftp://x", *copy])
    assert refused.exit_code == 15 and "URL" in refused.output
    unknown = runner.invoke(app, ["replication", "forget", "nobody", *copy])
    assert unknown.exit_code == 5 and "no replica" in unknown.output
    assert runner.invoke(app, ["replication", "forget", "cli", "--primary", primary.url]).exit_code == 0
    with primary.db() as db:
        assert registry.replicas(db) == [] and registered_floor(db._core.store) is None
    gone = runner.invoke(app, ["replication", "forget", "cli", "--primary", primary.url, "--json"])
    assert gone.exit_code == 5 and json.loads(gone.stdout)["error"]["code"] == "not_found"
    promoted = runner.invoke(app, ["replication", "promote", *copy, "--json"])
    assert promoted.exit_code == 0 and json.loads(promoted.stdout)["was_replica_of"] == primary.url
    again = runner.invoke(app, ["replication", "promote", *copy])
    assert again.exit_code == 5 and "not a replica" in again.output


def test_a_replica_never_purges_rows_itself(primary: Primary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its rows follow the primary's purges (hard deletes in the log); a purge of its own would be
    a write the primary never made, and the next entry from the primary would conflict."""
    from remlite.ops.space import maintain

    monkeypatch.setenv("REMLITE_DELETED_RETENTION_DAYS", "0")
    with primary.db() as db:
        db.delete(db.lookup("t1")[0]["id"])
    replica = tmp_path / "replica"
    catch_up(primary.url, replica, embedder="hash")
    with remlite.connect(replica, embedder="hash", runtime=remlite.Runtime()) as copy:
        before = state_digest(copy)
        maintain(copy, force=True)
        assert state_digest(copy)["families"]["rows"] == before["families"]["rows"]
        assert copy.last_seq == before["last_seq"]
    with primary.db() as db:
        db.insert("notes", {"title": "next", "body": "x", "rank": 2})
    assert catch_up(primary.url, replica, embedder="hash").applied == 1
    _same(primary, replica)


def test_a_promoted_replica_takes_writes_and_is_followed(primary: Primary, tmp_path: Path) -> None:
    replica, second = tmp_path / "replica", tmp_path / "second"
    catch_up(primary.url, replica, embedder="hash")
    with remlite.connect(replica, embedder="hash") as copy:
        report = registry.promote(copy)
        assert report["was_replica_of"] == primary.url and registry.status(copy)["mode"] == "standalone"
        with pytest.raises(remlite.errors.NotFound):
            registry.promote(copy)
    runtime = remlite.Runtime()  # the new primary serves its log
    server, thread, url = run_server(create_app(replica, runtime=runtime, auth=False))
    try:
        with runtime.tenant(replica, "default", embedder="hash") as db:
            db.insert("notes", {"title": "after the failover", "body": "new primary", "rank": 3})
        catch_up(url, second, embedder="hash")
        with runtime.tenant(replica, "default") as db, remlite.connect(second, embedder="hash") as follower:
            assert state_digest(follower) == state_digest(db)
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()



@contextlib.contextmanager
def _served_primary(root: Path) -> Iterator[tuple[str, remlite.Runtime]]:
    runtime = remlite.Runtime()  # its settings: the environment now
    with runtime.tenant(root, "default", embedder="hash") as db:
        db.register_schema(NOTES)
    server, thread, url = run_server(create_app(root, runtime=runtime, auth=False))
    try:
        yield url, runtime
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


@pytest.mark.parametrize(("log_max", "reseeds"), [(1000, 0), (10, 1)])
def test_the_log_is_kept_for_a_registered_replica_up_to_the_maximum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_max: int, reseeds: int
) -> None:
    """Retention: a purge keeps every entry a registered replica has not applied (REMLITE_LOG_KEEP=0
    would keep none), but never more than REMLITE_LOG_MAX: past it the replica re-seeds."""
    monkeypatch.setenv("REMLITE_LOG_KEEP", "0")
    monkeypatch.setenv("REMLITE_LOG_MAX", str(log_max))
    root, replica = tmp_path / "primary", tmp_path / "replica"
    with _served_primary(root) as (url, runtime):
        catch_up(url, replica, name="slow", embedder="hash")
        with runtime.tenant(root, "default") as db:
            applied = db.last_seq
            for i in range(20):
                db.insert("notes", {"title": f"n{i}", "body": "x", "rank": i})
            report = db.purge()
            assert report["first_seq"] == (applied + 1 if reseeds == 0 else db.last_seq - log_max + 1)
        assert catch_up(url, replica, name="slow", embedder="hash").reseeds == reseeds
        with runtime.tenant(root, "default") as db:
            assert db.purge()["first_seq"] == db.last_seq + 1  # every replica applied all: all gone
            with remlite.connect(replica, embedder="hash") as copy:
                assert state_digest(copy, since_seq=db.last_seq + 1)["families"] == state_digest(
                    db, since_seq=db.last_seq + 1
                )["families"]
