"""The issue's bar for replication: a primary and two replicas as separate processes on loopback,
writes going on while the primary is killed (-9) and restarted and while a replica is killed (-9)
and restarted; at the end all three hold the same rows, indexes, edges and vectors (one digest of
everything, `remlite.ops.digest`) and answer searches alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import remlite
from remlite.ops.digest import state_digest
from tests.test_serve_workers import LAUNCH, free_port

pytest.importorskip("uvicorn")

SCHEMA = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "rank": {"type": "integer"}},
    "key_field": "title",
    "indexed_fields": ["rank"],
    "text_fields": ["body"],
    "embedding_fields": ["body"],
}
# fmt: off
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
# fmt: on


class Process:
    """One `remlite` command in its own process, its output in a log file."""

    def __init__(self, tmp: Path, name: str, args: list[str]) -> None:
        self.tmp, self.name, self.args, self.process = tmp, name, args, None
        self.env = {**os.environ, "REMLITE_EMBED_PROVIDER": "hash"}

    def start(self) -> Process:
        log = (self.tmp / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCH, *self.args], env=self.env,
                                        stdout=log, stderr=log)  # fmt: skip
        log.close()
        return self

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.log()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return (self.tmp / f"{self.name}.log").read_text(errors="replace")[-3000:]


def _wait_answers(url: str, process: Process, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.process is not None and process.process.poll() is None, process.log()
        assert time.monotonic() < deadline, process.log()
        time.sleep(0.1)


class Writer(threading.Thread):
    """Writes to the primary until stopped, each write retried until acknowledged (the primary
    may be down): inserts, upserts, updates, soft and hard deletes, edges."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.done, self.acknowledged, self.ids = url, threading.Event(), 0, []
        self.error: BaseException | None = None

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        while True:
            try:
                reply = httpx.request(method, f"{self.url}{path}", timeout=10, **kwargs)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            assert reply.status_code < 300, reply.text
            self.acknowledged += 1
            return reply.json()

    def run(self) -> None:
        try:
            i = 0
            while not self.done.is_set():
                i += 1
                body = " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7))
                if i % 10 == 0 and len(self.ids) > 5:
                    self._send("POST", "/v1/edges", json={"src": self.ids[-1], "dst": self.ids[-5], "type": "near"})
                elif i % 13 == 0 and self.ids:
                    self._send("DELETE", f"/v1/records/{self.ids.pop(0)}", params={"hard": i % 2 == 0})
                elif i % 7 == 0 and self.ids:
                    self._send("PATCH", f"/v1/records/{self.ids[-1]}", json={"rank": -i, "body": body})
                else:  # every 9th an upsert of an earlier key
                    title = f"note {i - 8 if i % 9 == 0 else i}"
                    record = {"title": title, "body": body, "rank": i}
                    answer = self._send("POST", "/v1/tables/notes/records", json=record)
                    self.ids.append(answer["ids"][0])
                time.sleep(0.005)
        except BaseException as exc:
            self.error = exc


def _wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _primary_status(url: str) -> dict[str, Any]:
    try:
        return httpx.get(f"{url}/v1/replication", timeout=5).json()  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return {}


def test_a_primary_and_two_replicas_agree_after_kill_9_restarts(tmp_path: Path) -> None:
    p_port, a_port = free_port(), free_port()
    url, replica_url = f"http://127.0.0.1:{p_port}", f"http://127.0.0.1:{a_port}"
    primary = Process(tmp_path, "primary", ["serve", "--path", str(tmp_path / "p"), "--port", str(p_port), "--no-auth"])
    replica_a = Process(tmp_path, "replica-a", ["serve", "--path", str(tmp_path / "a"), "--port", str(a_port),
                                                "--no-auth", "--replica-of", url])  # fmt: skip
    replica_b = Process(tmp_path, "replica-b", ["replicate", "--primary", url, "--path", str(tmp_path / "b"),
                                                "--follow", "--name", "b"])  # fmt: skip
    processes = [primary, replica_a, replica_b]
    writer = Writer(url)
    try:
        primary.start()
        _wait_answers(url, primary)
        assert httpx.post(f"{url}/v1/schemas", json=SCHEMA).status_code == 201
        replica_a.start()
        replica_b.start()
        _wait_answers(replica_url, replica_a)
        writer.start()
        _wait_for(lambda: writer.acknowledged >= 80, "writes before the primary's restart")
        primary.kill()  # writes are retried until the new primary acknowledges them
        primary.start()
        _wait_answers(url, primary)
        _wait_for(lambda: writer.acknowledged >= 160, "writes before the replica's restart")
        replica_b.kill()
        time.sleep(0.3)
        replica_b.start()
        _wait_for(lambda: writer.acknowledged >= 240, "writes after the replica's restart")
        writer.done.set()
        writer.join(30)
        assert writer.error is None, writer.error
        last = _primary_status(url)["last_seq"]

        def caught_up() -> bool:
            replicas = {r["name"]: r["applied"] for r in _primary_status(url).get("replicas", [])}
            return len(replicas) == 2 and all(applied == last for applied in replicas.values())

        _wait_for(caught_up, f"both replicas at seq {last}: {_primary_status(url)}")
        for query in ("alpha gamma", "theta"):
            body = {"table": "notes", "query": query, "k": 5, "mode": "hybrid"}
            expected = httpx.post(f"{url}/v1/search", json=body).json()
            assert httpx.post(f"{replica_url}/v1/search", json=body).json() == expected
    finally:
        writer.done.set()
        for process in processes:
            process.stop()
    found, results = {}, []
    for name in ("p", "a", "b"):
        with remlite.connect(tmp_path / name, create=False) as db:
            assert db.check()["ok"], name
            found[name] = state_digest(db, since_seq=1)  # no log was purged: all of it
            results.append(db.search("notes", "alpha gamma", 10, mode="hybrid"))
    assert found["p"]["last_seq"] >= 240
    assert found["a"] == found["p"], "replica a differs from the primary"
    assert found["b"] == found["p"], "replica b differs from the primary"
    assert results[0] == results[1] == results[2]


def test_remlite_backup_of_a_served_database_goes_through_its_server(tmp_path: Path) -> None:
    """The server holds the database's lock: `remlite backup` takes the server's snapshot (the same
    verified backup directory), and it restores to what the server serves."""
    from typer.testing import CliRunner

    from remlite.cli.app import app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Process(tmp_path, "server", ["serve", "--path", str(tmp_path / "p"), "--port", str(port), "--no-auth"])
    try:
        server.start()
        _wait_answers(url, server)
        assert httpx.post(f"{url}/v1/schemas", json=SCHEMA).status_code == 201
        rows = [{"title": f"n{i}", "body": "served words", "rank": i} for i in range(30)]
        assert httpx.post(f"{url}/v1/tables/notes/records", json=rows).status_code == 201
        done = CliRunner().invoke(app, ["backup", str(tmp_path / "bk"), "--path", str(tmp_path / "p"), "--json"])
        assert done.exit_code == 0, done.output
        assert "backing up through it" in done.stderr
        served = httpx.post(f"{url}/v1/sql", json={"sql": "SELECT title, rank FROM notes ORDER BY title"}).json()
    finally:
        server.stop()
    remlite.restore(tmp_path / "bk", tmp_path / "restored")
    with remlite.connect(tmp_path / "restored", create=False) as db:
        assert db.sql("SELECT title, rank FROM notes ORDER BY title").rows == served["rows"]
        assert db.check()["ok"]
