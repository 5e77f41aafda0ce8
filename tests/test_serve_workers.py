"""`remlite serve --workers 2` as users run it: a writer process and a reader process on one port.
Reads are answered by both, writes by the writer (a reader forwards them), every acknowledged write
is visible from every connection within a second, and the reader exits with the writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from remlite.serve.keys import KeyStore  # noqa: E402
from remlite.serve.workers import child_pids  # noqa: E402

LAUNCH = "import sys; from remlite.cli.app import main; sys.argv = ['remlite'] + sys.argv[1:]; main()"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    key = KeyStore(tmp_path).create("acme")
    port = free_port()
    args = [sys.executable, "-c", LAUNCH, "serve", "--path", str(tmp_path), "--port", str(port), "--workers", "2"]
    log = (tmp_path / "serve.log").open("wb")  # a file, not a pipe nobody reads (a full pipe blocks the server)
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while len(child_pids(process.pid)) < 1 or not _answers(url):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
        time.sleep(0.1)
    try:
        yield url, key, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(15)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_reads_from_two_processes_writes_through_one(served: tuple[str, str, Any]) -> None:
    url, key, _process = served
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=auth) as http:
        schema = {"name": "notes", "properties": {"title": {"type": "string"}}, "key_field": "title"}
        assert http.post("/v1/schemas", json=schema).status_code == 201
    answered_by: set[str] = set()
    ids = []
    for i in range(24):  # a new connection each: the kernel spreads them over both processes
        with httpx.Client(base_url=url, headers=auth) as http:
            written = http.post("/v1/tables/notes/records", json={"title": f"n{i}"})
            assert written.status_code == 201, written.text
            ids.append(written.json()["ids"][0])
            deadline = time.monotonic() + 1.5
            while (read := http.get(f"/v1/records/{ids[-1]}")).status_code == 404:
                assert time.monotonic() < deadline, f"write {i} not visible after 1.5 s"
                time.sleep(0.05)
            assert read.json()["title"] == f"n{i}"
            answered_by.add(read.headers["x-request-id"][:8])  # a process's own prefix
            bad = http.post("/v1/tables/notes/records", json={"title": 5})
            assert bad.status_code == 422 and bad.json()["error"]["type"] == "ValidationError"
            assert http.get("/v1/records/nope").json()["error"]["type"] == "NotFound"
    assert len(answered_by) == 2, answered_by  # both processes answered reads
    time.sleep(1.1)
    with httpx.Client(base_url=url, headers=auth) as http:
        rows = http.post("/v1/sql", json={"sql": "SELECT COUNT(*) AS n FROM notes"}).json()["rows"]
        assert rows == [{"n": 24}]
        assert http.get("/v1/records/x", headers={"authorization": "Bearer rem_x_y"}).status_code == 401


def test_the_reader_exits_with_the_writer(served: tuple[str, str, Any]) -> None:
    _url, _key, process = served
    readers = child_pids(process.pid)
    assert readers
    os.kill(process.pid, signal.SIGKILL)
    process.wait(5)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in readers):
        assert time.monotonic() < deadline, "a reader outlived its writer"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
