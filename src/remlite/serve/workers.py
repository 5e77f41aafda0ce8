"""`remlite serve --workers N`: reads served by N processes, writes by one.

The process started by `remlite serve` is the writer: it owns every tenant (RocksDB allows one
writer per directory) and serves requests like a single-process server. It starts N-1 reader
processes. All N bind the public port with SO_REUSEPORT, so the kernel spreads connections among
them. A reader opens tenants read-only (`remlite.readonly`: a RocksDB secondary that catches up
with the writer at least once a second) and answers reads itself; a write, a tenant it cannot
open read-only (one that does not exist yet) and MCP are forwarded to the writer over a loopback
port of its own, with the client's headers (the writer checks the key again).

What a client sees: reads on a reader lag the writer's acknowledged writes by at most a second
(`REFRESH_EVERY`), a write answered by the writer, and every route, error and key check the same.
Readers exit when the writer does (they watch a pipe from it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remlite.errors import NotFound
from remlite.serve.front import Forward


class ReadOnlyPool:
    """The reader's tenants, opened read-only on first use; the least recently used one closes
    past `max_open` (the `Runtime` pool's interface, as `Dispatcher` uses it)."""

    def __init__(self, max_open: int = 256) -> None:
        self.max_open = max_open
        self._lock = threading.Lock()
        self._open: OrderedDict[tuple[str, str], Any] = OrderedDict()

    @contextlib.contextmanager
    def tenant(self, root: Any, tenant: str) -> Iterator[Any]:
        key = (os.fspath(root), tenant)
        with self._lock:
            db = self._open.get(key)
            if db is not None:
                self._open.move_to_end(key)
        if db is None:
            db = self._opened(key)
        yield db

    def _opened(self, key: tuple[str, str]) -> Any:
        import remlite

        try:
            db = remlite.connect(key[0], key[1], read_only=True)
        except NotFound:  # no such tenant yet: the writer creates it on its first request
            raise Forward(f"tenant {key[1]!r} is not readable here yet") from None
        with self._lock:
            found = self._open.setdefault(key, db)
            victims = []
            while len(self._open) > self.max_open:
                victims.append(self._open.popitem(last=False)[1])
        if found is not db:
            victims.append(db)  # another request opened it meanwhile
        for victim in victims:  # a call still running on it keeps its handle (ReadOnlyDatabase leases)
            victim.close()
        return found

    def holds(self, root: Any, tenant: str) -> bool:
        with self._lock:
            return (os.fspath(root), tenant) in self._open

    def close(self) -> None:
        with self._lock:
            handles, self._open = list(self._open.values()), OrderedDict()
        for db in handles:
            db.close()


class Forwarder:
    """Sends a request to the writer and relays its answer (status, body, content type)."""

    HOP = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding", b"keep-alive"})

    def __init__(self, writer_url: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=writer_url, timeout=None)

    async def relay(self, scope: Any, body: bytes | None, send: Any, request_id: str | None = None) -> int:
        """Answer with the writer's answer; the writer logs it under this request's id."""
        headers = [(k, v) for k, v in scope["headers"] if k not in self.HOP and k != b"x-request-id"]
        if request_id:
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        answer = await self.client.request(scope["method"], target, headers=headers, content=body)
        relayed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
                   if k.encode("latin-1") not in self.HOP]  # fmt: skip
        relayed.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": relayed})
        await send({"type": "http.response.body", "body": answer.content})
        return answer.status_code


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other processes can bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def loopback_socket() -> socket.socket:
    """The writer's own port for forwarded requests (loopback, chosen by the kernel)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def start_readers(count: int, argv: list[str], writer_url: str) -> list[subprocess.Popen[bytes]]:
    """Start `count` reader processes: `remlite serve` with the writer's arguments and
    `--reader-of writer_url`. Each gets a pipe on stdin that closes when this process ends."""
    code = "import sys; from remlite.cli.app import main; sys.argv = ['remlite'] + sys.argv[1:]; main()"
    args = [sys.executable, "-c", code, *argv, "--reader-of", writer_url]
    return [subprocess.Popen(args, stdin=subprocess.PIPE) for _ in range(count)]


def stop_readers(readers: list[subprocess.Popen[bytes]]) -> None:
    for process in readers:
        if process.poll() is None:
            process.terminate()
    for process in readers:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def exit_with_writer() -> None:
    """In a reader: stop (as on SIGTERM) when the writer's end of stdin closes."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while sys.stdin.buffer.read(1):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="remlite-writer-watch", daemon=True).start()


def reader_argv(path: Path, host: str, port: int, options: dict[str, Any]) -> list[str]:
    """The writer's `remlite serve` arguments a reader repeats (not --workers)."""
    argv = ["serve", "--path", str(path), "--host", host, "--port", str(port)]
    for name, value in options.items():
        if value is True:
            argv.append(f"--{name}")
        elif value not in (None, False):
            argv += [f"--{name}", str(value)]
    return argv


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a writer's readers), from /proc: what the tests and
    benchmarks/server.py use to find and measure them (no pgrep on a bare machine)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found
