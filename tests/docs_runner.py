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
import gc
import io
import json
import linecache
import os
import re
import select
import signal
import socket
import struct
import sys
import tokenize
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


def preload() -> None:
    """Import what commands import: the CLI, every remlite module (but the integrations, which bring
    LangChain and LlamaIndex) and the SQL engines. Not onnxruntime or polars: they start threads,
    which a forked child would lack."""
    import importlib
    import pkgutil

    import remlite.cli.app  # the imports every command would pay for

    for module in pkgutil.walk_packages(remlite.__path__, "remlite."):
        if not module.name.startswith("remlite.integrations"):
            with contextlib.suppress(Exception):
                importlib.import_module(module.name)
    for name in ("sqlglot", "duckdb", "pyarrow.parquet"):
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the children's collections leave these objects (and their pages) alone


def zygote(sock_path: str) -> dict[str, Any]:
    """Serve requests until killed; in a forked child, return the request it is to run."""
    preload()

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
    parent = os.getppid()
    while os.getppid() == parent:  # the test process is gone: so is the zygote (its children too)
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
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sys.exit(0)


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


RAISES = re.compile(r"#\s*raises\s+([A-Za-z_][\w.]*)")


def expect_raises(tree: ast.Module, source: str) -> ast.Module:
    """A statement whose line ends with a comment `# raises NAME ...` must raise that exception (a
    name of the namespace, of remlite.errors or a builtin): it becomes `try: STATEMENT / except
    NAME: pass / else: raise AssertionError`."""
    expected = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and (match := RAISES.match(token.string)):
            expected[token.start[0]] = match[1]

    class Wrap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> Any:
            line = getattr(node, "end_lineno", None)
            simple = isinstance(node, ast.stmt) and not hasattr(node, "body")
            if not simple or line not in expected:
                return self.generic_visit(node)
            name = expected[line]
            missing = ast.Call(ast.Name("AssertionError", ast.Load()),
                               [ast.Constant(f"line {line}: expected {name}, but nothing was raised")], [])
            handler = ast.ExceptHandler(
                ast.Call(ast.Name("__docs_error__", ast.Load()), [ast.Constant(name)], []), None, [ast.Pass()]
            )
            wrapped = ast.Try([node], [handler], [ast.Raise(missing, None)], [])
            return ast.fix_missing_locations(ast.copy_location(wrapped, node))

    return Wrap().visit(tree)


def error_class(name: str, namespace: dict[str, Any]) -> type[BaseException]:
    import builtins

    import remlite.errors

    if "." in name:
        found = eval(name, namespace)
    else:
        found = namespace.get(name) or getattr(remlite.errors, name, None) or getattr(builtins, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise NameError(f"`# raises {name}`: no exception class of that name")
    return found


def pyworker() -> None:
    sys.path[0] = ""  # the current directory is importable, as in `python -c` or the REPL
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    namespace["__docs_error__"] = lambda name: error_class(name, namespace)
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
                tree = expect_raises(ast.parse(source, request["filename"]), source)
                code = compile(tree, request["filename"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, namespace)  # the docs' own examples
                if asyncio.iscoroutine(result):
                    loop.run_until_complete(result)
        except BaseException as error:  # reported to the test, which fails the block
            frames = error.__traceback__
            while frames is not None and frames.tb_frame.f_code.co_filename != request["filename"]:
                frames = frames.tb_next  # from the document's first frame on
            reply = {"ok": False, "error": "".join(traceback.format_exception(type(error), error, frames))}
        reply["output"] = output.getvalue()
        replies.write(REPLY + json.dumps(reply) + "\n")
        replies.flush()


def run_and_exit(request: dict[str, Any]) -> None:
    """Run the request's entry point, then exit as a finished process would: atexit handlers,
    non-daemon threads, flushed streams; but without the interpreter's final collection of every
    module's objects, which in a forked child would copy the zygote's whole heap page by page."""
    import atexit
    import threading

    code: Any = 0
    try:
        if request.get("entry") == "pyworker":
            pyworker()
        else:
            from remlite.cli.app import main as remlite_main

            code = remlite_main()
    except SystemExit as exit_:
        code = exit_.code
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined] - what the interpreter does at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code & 0xFF)


def main() -> None:
    if sys.argv[1] == "zygote":
        request = zygote(sys.argv[2])
        become(request)
        run_and_exit(request)
    elif sys.argv[1] == "pyworker":
        pyworker()


if __name__ == "__main__":
    main()
