"""`connect(path, read_only=True)`: reading a tenant another process writes, and the CLI's read
commands falling back to it when the database is locked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import NotFound, ReadOnly

NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "n": {"type": "integer"}},
    "key_field": "title",
    "indexed_fields": ["n"],
    "embedding_fields": ["body"],
}

WRITER = """
import sys, remlite
db = remlite.connect(sys.argv[1], embedder="hash")
db.register_schema({schema!r})
print("ready", flush=True)
i = 0
while sys.stdin.readline().strip() == "go":  # one row per line the test sends; then hold until "stop"
    rid = db.insert("notes", {{"title": f"t{{i}}", "body": f"note number {{i}}", "n": i}})
    print(rid, flush=True)  # acknowledged: insert returned
    i += 1
db.close()
"""


def test_a_reader_sees_the_writers_rows_within_a_second(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(schema=NOTES), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        with pytest.raises(remlite.errors.DatabaseLocked):
            remlite.connect(tmp_path)
        with remlite.connect(tmp_path, read_only=True, embedder="hash") as reader:
            lags = []
            assert writer.stdin is not None
            for _ in range(8):
                writer.stdin.write("go\n")
                writer.stdin.flush()
                rid = writer.stdout.readline().strip()
                acknowledged = time.monotonic()
                while True:
                    try:
                        assert reader.get(rid)["id"] == rid
                        break
                    except NotFound:
                        assert time.monotonic() - acknowledged < 1.5, "a row was not visible within a second"
                        time.sleep(0.02)
                lags.append(time.monotonic() - acknowledged)
            reader.refresh()
            assert reader.count("notes") == 8
            assert reader.sql("SELECT COUNT(*) AS c FROM notes WHERE n >= 4").rows == [{"c": 4}]
            assert reader.search("notes", "note number 7", k=1)[0]["title"] == "t7"  # vectors caught up from the log
            assert max(lags) < 1.2
            runner = CliRunner()
            got = runner.invoke(app, ["get", rid, "--path", str(tmp_path), "--json"])
            assert got.exit_code == 0 and rid in got.stdout and "read-only" in got.stderr
            counted = runner.invoke(app, ["query", "SELECT COUNT(*) AS c FROM notes", "--path", str(tmp_path)])
            assert counted.exit_code == 0 and "8" in counted.stdout
            wrote = runner.invoke(app, ["insert", "notes", '{"title": "x"}', "--path", str(tmp_path)])
            assert wrote.exit_code == 9 and "DatabaseLocked" not in wrote.stdout  # writes still need the writer
    finally:
        writer.communicate("stop\n", timeout=30)
    assert writer.returncode == 0


def test_read_only_handles_refuse_writes_and_refresh_on_demand(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(NOTES)
        first = db.insert("notes", {"title": "a", "body": "alpha", "n": 1})
        with remlite.connect(tmp_path, read_only=True, embedder="hash") as reader:
            assert reader.read_only and reader.get(first)["title"] == "a"
            for call in (
                lambda: reader.insert("notes", {"title": "b"}),
                lambda: reader.update(first, {"n": 2}),
                lambda: reader.delete(first),
                lambda: reader.register_schema({"name": "x", "properties": {}}),
                lambda: reader.add_edge(first, first, "self"),
            ):
                with pytest.raises(ReadOnly):
                    call()
            second = db.insert("notes", {"title": "b", "body": "beta", "n": 2})
            assert reader.refresh() is True and reader.get(second)["title"] == "b"
            assert reader.refresh() is False  # nothing new
            db.update(first, {"n": 5})
            time.sleep(1.05)
            assert reader.get(first)["n"] == 5  # caught up on its own after a second
            assert reader.sql("SELECT title FROM notes WHERE n = 5").rows == [{"title": "a"}]
        assert db.get(first)["n"] == 5  # the writer is untouched by the reader's close
    with pytest.raises(NotFound):
        remlite.connect(tmp_path, "nobody", read_only=True)


def test_a_blocked_writer_is_told_who_holds_the_database(tmp_path: Path) -> None:
    from remlite.storage.engine import _owner_note, note_owner

    note_owner(server="http://127.0.0.1:8123")
    try:
        with remlite.connect(tmp_path) as db:
            assert (db.path / "remlite.owner").exists()
            holder = subprocess.run(
                [sys.executable, "-c", f"import remlite; remlite.connect({str(tmp_path)!r})"],
                capture_output=True,
                text=True,
            )
            assert holder.returncode != 0
            said = holder.stderr.strip().splitlines()[-1]
            assert "DatabaseLocked" in said and f"process {os.getpid()}" in said and "http://127.0.0.1:8123" in said
            assert "read_only=True" in said
        assert not (tmp_path / "default" / "remlite.owner").exists()  # removed at close
    finally:
        _owner_note.clear()


def test_cli_writes_go_through_the_server_that_holds_the_tenant(tmp_path: Path) -> None:
    import socket

    import httpx

    from remlite.serve.keys import KeyStore

    with remlite.connect(tmp_path) as db:
        db.register_schema({"name": "notes", "properties": {"title": {"type": "string"}}, "key_field": "title"})
    store = KeyStore(tmp_path)
    mine, theirs = store.create("default"), store.create("elsewhere")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launch = "import sys; from remlite.cli.app import main; sys.argv = ['remlite'] + sys.argv[1:]; main()"
    served = subprocess.Popen(
        [sys.executable, "-c", launch, "serve", "--path", str(tmp_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {mine}"}) as http:
            assert http.get("/v1/key").json()["tenant"] == "default"
            assert http.get("/v1/schemas").status_code == 200  # the server now holds the tenant
        runner = CliRunner()
        base = ["--path", str(tmp_path)]
        refused = runner.invoke(app, ["insert", "notes", '{"title": "a"}', *base], env={"REMLITE_API_KEY": None})
        assert refused.exit_code == 9 and url in refused.stderr and "REMLITE_API_KEY" in refused.stderr
        wrong = runner.invoke(app, ["insert", "notes", '{"title": "a"}', *base], env={"REMLITE_API_KEY": theirs})
        assert wrong.exit_code == 2 and "'elsewhere'" in wrong.stderr
        wrote = runner.invoke(
            app, ["insert", "notes", '{"title": "a"}', *base, "--json"], env={"REMLITE_API_KEY": mine}
        )
        assert wrote.exit_code == 0 and "writing through it" in wrote.stderr, wrote.stderr
        rid = json.loads(wrote.stdout)["id"]
        updated = runner.invoke(app, ["update", rid, '{"title": "a"}', *base], env={"REMLITE_API_KEY": mine})
        assert updated.exit_code == 0
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {mine}"}) as http:
            assert http.get(f"/v1/records/{rid}").json()["title"] == "a"
        deleted = runner.invoke(app, ["delete", rid, *base], env={"REMLITE_API_KEY": mine})
        assert deleted.exit_code == 0
    finally:
        served.terminate()
        served.wait(10)
    with remlite.connect(tmp_path) as db, pytest.raises(NotFound):
        db.get(rid)


def test_threads_reading_through_refreshes_never_meet_a_closed_handle(tmp_path: Path) -> None:
    import threading

    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(NOTES)
        first = db.insert("notes", {"title": "a", "body": "alpha", "n": 1})
        with remlite.connect(tmp_path, read_only=True, embedder="hash") as reader:
            failures: list[BaseException] = []
            stop = threading.Event()

            def read() -> None:
                while not stop.is_set():
                    try:
                        assert reader.get(first)["title"] == "a"
                        reader.sql("SELECT COUNT(*) AS c FROM notes")
                    except BaseException as exc:
                        failures.append(exc)
                        return

            threads = [threading.Thread(target=read) for _ in range(3)]
            for thread in threads:
                thread.start()
            for i in range(6):
                db.insert("notes", {"title": f"n{i}", "body": "x", "n": i})
                assert reader.refresh()
            stop.set()
            for thread in threads:
                thread.join(10)
            assert not failures, failures[0]
            assert reader.count("notes") == 7


def test_a_refresh_with_no_new_writes_costs_no_catch_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from remlite.storage.engine import Store

    calls: list[int] = []
    catch_up = Store.catch_up
    monkeypatch.setattr(Store, "catch_up", lambda self: (calls.append(1), catch_up(self))[1])
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(NOTES)
        with remlite.connect(tmp_path, read_only=True, embedder="hash") as reader:
            assert reader.refresh() is False and reader.refresh() is False
            assert calls == []  # the writer's files did not change: RocksDB was not asked
            rid = db.insert("notes", {"title": "a", "body": "x", "n": 1})
            assert reader.refresh() is True and len(calls) == 1 and reader.get(rid)["title"] == "a"
            assert reader.refresh() is False and len(calls) == 1


def test_a_method_fetched_before_a_refresh_runs_on_the_current_handle(tmp_path: Path) -> None:
    """`reader.get` fetched, a refresh swapping (and closing) the idle handle, then the call: the
    call must not meet the closed handle (a thread between attribute lookup and call saw this)."""
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(NOTES)
        first = db.insert("notes", {"title": "a", "body": "alpha", "n": 1})
        with remlite.connect(tmp_path, read_only=True, embedder="hash") as reader:
            get, count = reader.get, reader.count
            db.insert("notes", {"title": "b", "body": "beta", "n": 2})
            assert reader.refresh()
            assert get(first)["title"] == "a"
            assert count("notes") == 2


def test_operations_that_write_or_need_the_writer_refuse_on_a_read_only_handle(tmp_path: Path) -> None:
    with remlite.connect(tmp_path) as writer:
        writer.register_schema({"name": "notes", "properties": {"title": {"type": "string"}}})
        reader = remlite.connect(tmp_path, read_only=True)
        try:
            for verb, args in (("import_", ("notes", tmp_path / "x.jsonl")), ("purge", ()), ("compact", ()),
                               ("backup", (tmp_path / "bk",))):  # fmt: skip
                with pytest.raises(ReadOnly, match="read-only"):
                    getattr(reader, verb)(*args)
            assert not (tmp_path / "bk").exists()
        finally:
            reader.close()
