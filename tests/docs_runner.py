"""Processes for tests/test_docs_run.py, which runs every code block of the docs.

`python tests/docs_runner.py zygote SOCKET` imports the `remlite` CLI once and then forks a child
for every request on the Unix socket SOCKET: the child takes the requester's stdin, stdout and
stderr (passed as file descriptors), argv, environment and working directory, and runs the CLI's
entry point (or, for `entry: pyworker`, the Python block worker below), exactly as a fresh
`remlite` process would after its imports. The `remlite` on the docs' PATH is `SHIM` (written by
the test, run by the venv's Python without site packages, so it starts in milliseconds): it sends
the request, forwards SIGTERM/SIGINT to the child and exits with the child's exit status. Without
the socket (REMLITE_DOCS_ZYGOTE unset) the shim execs the venv's own `remlite`. This makes each of
the docs' ~150 commands cost its work rather than the CLI's 0.6 s of imports.

The Python block worker (`pyworker`) runs the Python blocks of one document in one namespace, like a
doctest session: it reads one JSON request per line on stdin (`code`, `filename`, `line`, `env`),
runs the code with the document's line numbers (top-level `await` allowed, as in `python -m
asyncio`), and answers one line `REPLY {"ok", "output", "error"}` on its original stdout (its fd 1
is its stderr meanwhile, so a library writing to fd 1 cannot garble the replies).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import linecache
import os
import select
import signal
import socket
import struct
import sys
import traceback
from typing import Any

REPLY = "REPLY "

SHIM = """\
#!{python} -IS
# `remlite` for the docs test: runs the command in a child of the test's zygote (tests/docs_runner.py).
import json, os, signal, socket, struct, sys
path = os.environ.get("REMLITE_DOCS_ZYGOTE")
if not path:
    os.execv({remlite!r}, [{remlite!r}, *sys.argv[1:]])
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(path)
entry = os.environ.get("REMLITE_DOCS_ENTRY", "remlite")
request = json.dumps({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd(), "entry": entry}}).encode()
socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(number, lambda signum, frame: conn.sendall(struct.pack("!i", signum)))
data = b""
while len(data) < 4:
    try:
        chunk = conn.recv(4 - len(data))
    except InterruptedError:
        continue
    if not chunk:
        sys.exit(255)
    data += chunk
sys.exit(struct.unpack("!i", data)[0])
"""


def write_shim(path: str, python: str, remlite: str) -> None:
    with open(path, "w") as out:
        out.write(SHIM.format(python=python, remlite=remlite))
    os.chmod(path, 0o755)


# -- the zygote -------------------------------------------------------------------------------------


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise EOFError("the shim closed its socket mid-request")
        data += chunk
    (size,) = struct.unpack("!I", data[:4])
    return json.loads(data[4 : 4 + size]), fds


def zygote(sock_path: str) -> dict[str, Any]:
    """Serve requests until killed; in a forked child, return the request it is to run."""
    import remlite.cli.app  # noqa: F401 - the imports every command would pay for

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(128)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: dict[int, socket.socket] = {}  # child pid -> the shim's connection
    by_conn: dict[socket.socket, int] = {}
    print("ready", flush=True)
    while True:
        try:
            readable, _, _ = select.select([listener, wake_r, *by_conn], [], [], 1.0)
        except InterruptedError:
            readable = []
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        for conn in [c for c in readable if c in by_conn]:  # a signal to forward, or the shim is gone
            pid = by_conn[conn]
            try:
                data = conn.recv(4)
            except OSError:
                data = b""
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, struct.unpack("!i", data)[0] if len(data) == 4 else signal.SIGKILL)
            if len(data) != 4:
                del by_conn[conn]
        while children:  # reap, and tell each shim its child's exit status
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid)
            by_conn.pop(conn, None)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!i", code if code >= 0 else 128 - code))
            conn.close()
        if listener in readable:
            conn, _ = listener.accept()
            try:
                request, fds = _read_request(conn)
            except (OSError, EOFError, ValueError):
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:  # the child: become the command
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for other in (listener, conn, *by_conn):
                    other.close()
                os.close(wake_r)
                os.close(wake_w)
                for target, fd in zip((0, 1, 2), fds, strict=True):
                    os.dup2(fd, target)
                    os.close(fd)
                return request
            for fd in fds:
                os.close(fd)
            children[pid] = conn
            by_conn[conn] = pid


def become(request: dict[str, Any]) -> None:
    """In the forked child: the request's working directory, environment, argv and standard streams."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    # as a fresh process would have it: the script's directory (the CLI), the current one (Python)
    sys.path[0] = "" if request.get("entry") == "pyworker" else os.path.dirname(sys.executable)
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False, buffering=1 if os.isatty(1) else -1)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )


# -- the Python block worker ------------------------------------------------------------------------


def pyworker() -> None:
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        source = "\n" * (request["line"] - 1) + request["code"]
        linecache.cache[request["filename"]] = (len(source), None, source.splitlines(True), request["filename"])
        output = io.StringIO()
        reply: dict[str, Any] = {"ok": True, "error": None}
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = compile(source, request["filename"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, namespace)  # the docs' own examples
                if asyncio.iscoroutine(result):
                    loop.run_until_complete(result)
        except BaseException:  # reported to the test, which fails the block
            reply = {"ok": False, "error": traceback.format_exc()}
        reply["output"] = output.getvalue()
        replies.write(REPLY + json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    if sys.argv[1] == "zygote":
        request = zygote(sys.argv[2])
        become(request)
        if request.get("entry") == "pyworker":
            pyworker()
            sys.exit(0)
        from remlite.cli.app import main as remlite_main

        sys.exit(remlite_main())
    elif sys.argv[1] == "pyworker":
        pyworker()


if __name__ == "__main__":
    main()
