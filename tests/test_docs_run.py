r"""Docs that run (issue 15): every fenced code block of README.md and docs/**/*.md is executed.

Each block is one test item, `docs/cli.md:120` (the line of its opening fence). A document's
blocks run in order, as one session, in a fresh directory laid out as the repository's root (copies
of `examples/`, `docs/` and README.md) with `REMLITE_PATH=./data`, `HOME` inside it, a dead proxy
(nothing reaches the network; 127.0.0.1 and localhost are reached directly) and the venv's
`remlite` first on PATH. Selecting one block runs the blocks before it first; a block after a
failed one of the same document is skipped, naming it. The conventions, for the documents:

- ```python blocks share one namespace per document, like a doctest session (top-level `await`
  allowed, as in `python -m asyncio`); tracebacks carry the document's line numbers. A statement
  whose line ends with `# raises NAME` must raise that exception (a remlite.errors class, a
  builtin, or a dotted name).
- ```bash / ```sh / ```shell blocks are scripts: every line is a command. ```console blocks are
  transcripts: lines starting with `$ ` are commands, the others their output. A line ending with
  `\` continues on the next one. Every command must exit 0 unless its line says otherwise with a
  comment `# exits N`. Variables a block sets (`ID=$(remlite insert ...)`) are seen by the later
  blocks of the document, Python ones included (`os.environ`).
- A console command whose shown output is a single id (`remlite insert` printing
  `01936b0e-...`) binds that id: later commands and Python blocks of the document get the id it
  really printed wherever the shown one appears.
- `remlite serve ...` and `remlite replicate ... --follow` are started by the test in the
  background on 127.0.0.1 with a free port (the document's port, 8000 by default, is replaced
  wherever it appears after that: `--port 8000`, `127.0.0.1:8000`, `localhost:8000`), awaited
  (`/v1/health`), and stopped with SIGTERM at the end of the document; one that exits before that
  fails the document.
- `http://localhost:11434/v1` (Ollama's address) is served by a fake OpenAI-compatible endpoint:
  its chat completions plan a search of every table for any question, its embeddings are hashed
  bags of words.
- ```text and ```json blocks are output and samples, not code: a json block must parse (as one
  document or as JSON Lines). A block without a language tag, or with a tag not listed here, fails.
- `<!-- docs-test: skip because REASON -->` on the line before a block skips it (reported with
  its reason); test_skips_are_few keeps those to a handful.

The CLI runs in children forked from one process that imported it (tests/docs_runner.py), so a
command costs what it does rather than the CLI's 0.6 s of imports: the whole file runs in about a
minute. `REMLITE_DOCS_NO_FORK=1` runs the venv's `remlite` itself for every command instead.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

import remlite
from remlite.embed.quantize import cache_dir as model_cache_dir
from tests.docs_runner import REPLY, error_class, expect_raises, write_shim
from tests.fake_http import FakeEndpoint

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PYTHON_LANGS = {"python", "py"}
SCRIPT_LANGS = {"bash", "sh", "shell"}
CONSOLE_LANGS = {"console"}
OUTPUT_LANGS = {"text", "json"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>.*?)\s*-->\s*$")
EXITS = re.compile(r"#\s*exits\s+(\d+)\b")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SERVE = re.compile(r"\bremlite\s+serve\b")
FOLLOW = re.compile(r"\bremlite\s+replicate\b.*\s--follow\b", re.S)
ASSIGNMENTS = re.compile(r"^(?:\s*[A-Za-z_]\w*=(?:'[^']*'|\"[^\"]*\"|[^\s'\"])*)*\s*")
FAKE_LLM = "http://localhost:11434/v1"
BLOCK_TIMEOUT = 180.0


def doc_files() -> list[Path]:
    """README.md and every Markdown file under docs/, found by glob (new docs are picked up)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass
class Block:
    doc: str  # path relative to the repository, e.g. "docs/cli.md"
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None = None  # the reason of a `docs-test: skip because ...` marker

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def parse_blocks(doc: str, text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text (CommonMark fences: ``` or ~~~, closed by a fence
    of the same character at least as long; the opening fence's indentation is removed)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        lang = opening["info"].strip().split()[0].lower() if opening["info"].strip() else ""
        skip = None
        previous = next((text for text in reversed(lines[:i]) if text.strip()), "")
        marker = MARKER.match(previous)
        if marker is not None:
            what = marker["what"]
            if not what.startswith("skip because "):
                raise ValueError(f"{doc}:{i + 1}: unknown docs-test marker {previous.strip()!r}")
            skip = what.removeprefix("skip because ").strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = lines[j].strip()
            if closing.startswith(fence[0] * len(fence)) and set(closing) == {fence[0]}:
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        blocks.append(Block(doc, i + 1, lang, "\n".join(body) + "\n", skip))
        i = j + 1
    return blocks


ALL_BLOCKS = [
    block for path in doc_files() for block in parse_blocks(path.relative_to(ROOT).as_posix(), path.read_text())
]


# -- commands of shell blocks -----------------------------------------------------------------------


@dataclass
class Command:
    line: int  # the document's line
    text: str  # as the document shows it (continuation lines joined with their backslashes)
    expect: int = 0
    shown: list[str] = field(default_factory=list)  # the output a console block shows after it

    @property
    def binds(self) -> str | None:
        """The id this command's shown output is, when it is exactly one id."""
        shown = [line.strip() for line in self.shown if line.strip()]
        return shown[0] if len(shown) == 1 and UUID.fullmatch(shown[0]) else None

    @property
    def background(self) -> bool:
        command = without_comment(self.text)
        return bool(SERVE.search(command) or FOLLOW.search(command))


def parse_commands(block: Block) -> list[Command]:
    console = block.lang in CONSOLE_LANGS
    commands: list[Command] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        raw, number = lines[i], block.line + 1 + i
        i += 1
        if console and not raw.startswith("$ "):
            if commands:
                commands[-1].shown.append(raw)
            elif raw.strip() and not raw.lstrip().startswith("#"):
                raise ValueError(f"{block.id}: output before the first `$ ` command: {raw!r}")
            continue
        text = raw[2:] if console else raw
        if not console and (not text.strip() or text.lstrip().startswith("#")):
            continue
        while text.endswith("\\") and i < len(lines):
            text += "\n" + lines[i]
            i += 1
        expect = EXITS.search(text)
        commands.append(Command(number, text, int(expect[1]) if expect else 0))
    if not commands:
        raise ValueError(f"{block.id}: a {block.lang} block without a command")
    return commands


class BlockFailed(Exception):
    """A block that failed; `poisons`: the document's later blocks are not run (they depend on it)."""

    def __init__(self, message: str, poisons: bool = True) -> None:
        super().__init__(message)
        self.poisons = poisons


# -- the fake LLM -----------------------------------------------------------------------------------


class FakeOpenAI(FakeEndpoint):
    """An OpenAI-compatible endpoint, as Ollama serves one at http://localhost:11434/v1: chat
    completions plan a search of every table for any question; embeddings are deterministic
    64-d bags of hashed words."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/embeddings"):
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            data = [{"object": "embedding", "index": i, "embedding": hashed(text)} for i, text in enumerate(texts)]
            return self._send(200, json.dumps({"object": "list", "data": data, "model": body.get("model")}).encode())
        question = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "anything")
        words = " ".join(re.findall(r"\w+", question)[-12:]) or "anything"
        plan = {"stages": [{"kind": "search", "text": words}], "confidence": 0.5,
                "explanation": f"a search of every table for {words!r}"}
        reply = {"id": "chatcmpl-docs", "object": "chat.completion", "model": body.get("model", "fake"),
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(plan)},
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        self._send(200, json.dumps(reply).encode())


def hashed(text: str, dimension: int = 64) -> list[float]:
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()) or ["empty"]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[digest[0] % dimension] += 1.0 if digest[1] % 2 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


# -- one document's session -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text if len(text) <= limit else "...\n" + text[-limit:]


@dataclass
class Background:
    command: Command
    text: str  # as run
    process: subprocess.Popen[bytes]
    log: Path


class DocRun:
    """The state of one document's blocks: directory, environment, bound ids, ports, processes."""

    def __init__(self, doc: str, blocks: list[Block], work: Path, session: Session) -> None:
        self.doc, self.blocks, self.work, self.python = doc, blocks, work, session.python
        (work / "home").mkdir(parents=True)
        for tree in ("examples", "docs"):  # the repository's root, as the documents' commands expect it
            shutil.copytree(ROOT / tree, work / tree)
        shutil.copy(ROOT / "README.md", work / "README.md")
        self.env = {**session.env, "HOME": str(work / "home"), "REMLITE_PATH": str(work / "data")}
        self.cwd = work
        self.replacements: dict[str, str] = {FAKE_LLM: session.llm_url}  # shown text -> the real one
        self.ports: dict[int, int] = {}
        self.background: list[Background] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.done = 0  # blocks run so far
        self.failed: str | None = None
        self.steps = 0

    # text shown -> text run
    def fill(self, text: str) -> str:
        for shown, real in self.replacements.items():
            text = text.replace(shown, real)
        for shown_port, port in self.ports.items():
            text = re.sub(rf"(--port[ =]){shown_port}\b", rf"\g<1>{port}", text)
            text = re.sub(rf"\b(localhost|127\.0\.0\.1|0\.0\.0\.0):{shown_port}\b", rf"\g<1>:{port}", text)
        return text

    def run_through(self, block: Block) -> None:
        """Run the document's blocks up to this one (those before it first, if not yet run)."""
        index = self.blocks.index(block)
        while self.done <= index:
            current = self.blocks[self.done]
            if self.failed is not None:
                pytest.skip(f"not run: {self.failed} failed before it")
            self.done += 1
            message, poisons = None, True
            try:
                self.run_block(current)
                if self.done == len(self.blocks):
                    self.stop()
            except BlockFailed as failure:
                message, poisons = str(failure), failure.poisons
            except BaseException:
                self.failed = current.id
                self.stop()
                raise
            if message is not None:
                if poisons:
                    self.failed = self.failed or current.id
                    with contextlib.suppress(BlockFailed):
                        self.stop()
                if current is not block:
                    message = f"{current.id}, run before {block.id}, failed:\n{message}"
                pytest.fail(message, pytrace=False)

    def run_block(self, block: Block) -> None:
        if block.lang == "":
            raise BlockFailed(f"{block.id}: a code block without a language tag (```python, ```console, "
                              "```text, ...): say what it is, so that code is run and output is not", poisons=False)
        if block.skip is not None:
            return
        if block.lang in PYTHON_LANGS:
            self.run_python(block)
        elif block.lang in SCRIPT_LANGS | CONSOLE_LANGS:
            self.run_shell(block)
        elif block.lang == "json":
            check_json(block)
        elif block.lang not in OUTPUT_LANGS:
            raise BlockFailed(f"{block.id}: unknown language tag {block.lang!r} (known: "
                              f"{sorted(PYTHON_LANGS | SCRIPT_LANGS | CONSOLE_LANGS | OUTPUT_LANGS)})", poisons=False)

    # -- Python ---------------------------------------------------------------------------------

    def run_python(self, block: Block) -> None:
        if self.worker is None:
            with (self.work / "python-worker.log").open("wb") as log:
                self.worker = subprocess.Popen(
                    self.python, cwd=self.work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                    env={**self.env, "REMLITE_DOCS_ENTRY": "pyworker"}, start_new_session=True,
                )
        request = {"code": self.fill(block.text), "filename": block.doc, "line": block.line + 1, "env": self.env}
        assert self.worker.stdin is not None and self.worker.stdout is not None
        self.worker.stdin.write((json.dumps(request) + "\n").encode())
        self.worker.stdin.flush()
        deadline = time.monotonic() + BLOCK_TIMEOUT
        while True:
            ready, _, _ = select.select([self.worker.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise BlockFailed(f"{block.id}: the Python block ran over {BLOCK_TIMEOUT:.0f} s")
            line = self.worker.stdout.readline().decode()
            if not line:
                raise BlockFailed(f"{block.id}: the Python worker died:\n{tail(self.work / 'python-worker.log')}")
            if line.startswith(REPLY):
                reply = json.loads(line[len(REPLY) :])
                break
        if not reply["ok"]:
            output = f"\n--- output ---\n{reply['output']}" if reply["output"] else ""
            raise BlockFailed(f"{block.id}: the Python block failed:\n{reply['error']}{output}{self.server_logs()}")

    # -- shell ----------------------------------------------------------------------------------

    def run_shell(self, block: Block) -> None:
        try:
            commands = parse_commands(block)
        except ValueError as error:
            raise BlockFailed(str(error)) from None
        segment: list[Command] = []
        for command in commands:
            if command.background:
                self.run_segment(block, segment)
                segment = []
                self.start_background(block, command)
                continue
            segment.append(command)
            if command.binds is not None:
                self.run_segment(block, segment)
                segment = []
        self.run_segment(block, segment)

    def run_segment(self, block: Block, commands: list[Command]) -> None:
        """Run commands in one bash process, each announced on stdout and stderr by a marker line;
        stop at the first whose exit code is not the expected one."""
        if not commands:
            return
        self.steps += 1
        step = self.work / ".docs-steps" / f"{self.steps:03d}"
        step.mkdir(parents=True)
        status, env_out, cwd_out = step / "status", step / "env", step / "cwd"
        script = [
            "set -a -o pipefail",
            f"__docs_fail() {{ printf '%s %s\\n' \"$__docs_i\" \"$1\" > {shlex.quote(str(status))}; exit 1; }}",
            "trap '__docs_fail $?' ERR",
        ]
        for index, command in enumerate(commands):
            text = self.fill(command.text)
            script.append(f"__docs_i={index}; printf '\\n@@docs-cmd {index} %s\\n' $EPOCHREALTIME; "
                          f"printf '\\n@@docs-cmd {index}\\n' >&2")
            if command.expect == 0:
                script.append(text)
            else:
                script += ["{ " + text, "} && __docs_rc=0 || __docs_rc=$?",
                           f'[ "$__docs_rc" = {command.expect} ] || __docs_fail "$__docs_rc"']
        script += [
            "trap - ERR",
            f"printf 'done\\n' > {shlex.quote(str(status))}",
            f"pwd > {shlex.quote(str(cwd_out))}",
            f"env -0 > {shlex.quote(str(env_out))}",
        ]
        (step / "script.sh").write_text("\n".join(script) + "\n")
        with (step / "stdout").open("wb") as out, (step / "stderr").open("wb") as err:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", str(step / "script.sh")], cwd=self.cwd, env=self.env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )
            try:
                process.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stdout = split_output((step / "stdout").read_text(errors="replace"))
        stderr = split_output((step / "stderr").read_text(errors="replace"))
        state = status.read_text().split() if status.exists() else []
        if state != ["done"]:
            index, code = (int(state[0]), state[1]) if len(state) == 2 else (max(stdout, default=0), "?")
            if not state:
                code = f"? (killed after {BLOCK_TIMEOUT:.0f} s)" if process.returncode < 0 else "? (bash failed)"
            command = commands[index]
            shown = self.fill(command.text)
            ran = "" if shown == command.text else f"\nrun as:\n    {shown}"
            raise BlockFailed(
                f"{block.id}: line {command.line}: exited {code}, expected {command.expect}:\n"
                f"    $ {command.text}{ran}\n"
                f"--- stdout ---\n{stdout.get(index, '')}--- stderr ---\n{stderr.get(index, '')}"
                f"{self.server_logs()}"
            )
        for index, command in enumerate(commands):
            if command.binds is not None:
                printed = stdout.get(index, "").strip()
                if not UUID.fullmatch(printed):
                    raise BlockFailed(f"{block.id}: line {command.line}: its output is shown as the id "
                                      f"{command.binds}, but it printed:\n{printed}")
                self.replacements[command.binds] = printed
        self.cwd = Path(cwd_out.read_text().strip())
        env: dict[str, str] = {}
        for item in env_out.read_bytes().decode(errors="replace").split("\0"):
            name, sep, value = item.partition("=")
            if sep and not name.startswith("__docs") and name not in {"_", "PWD", "OLDPWD", "SHLVL"}:
                env[name] = value
        self.env = env

    def start_background(self, block: Block, command: Command) -> None:
        shown = without_comment(command.text)
        text = self.fill(shown)
        if SERVE.search(text):
            shown_port = int(m[1]) if (m := re.search(r"--port[ =](\d+)", shown)) else 8000
            if shown_port not in self.ports:
                self.ports[shown_port] = free_port()
            text = self.fill(shown)
            if "--port" not in text:
                text += f" --port {self.ports[shown_port]}"
            text = re.sub(r"--host[ =]\S+", "--host 127.0.0.1", text)
        prefix = ASSIGNMENTS.match(text)
        assert prefix is not None
        run = text[: prefix.end()] + "exec " + text[prefix.end() :].replace("\\\n", " ")
        log = self.work / f"background-{len(self.background) + 1}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", run], cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT,
            )
        self.background.append(Background(command, text, process, log))
        port = int(m[1]) if (m := re.search(r"--port[ =](\d+)", text)) and SERVE.search(text) else None
        replicas = self.replicas(text[prefix.end() :])
        waiting = f"an answer on port {port}" if port is not None else ""
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BlockFailed(f"{block.id}: line {command.line}: exited {process.returncode} at once:\n"
                                  f"    $ {command.text}\nrun as:\n    {text}\n--- its output ---\n{tail(log)}")
            if port is not None and health(port):
                port = None
            if port is None:
                waiting = f"its replica {replicas[0]} to catch up with the primary" if replicas else ""
                if replicas and self.caught_up(*replicas[0]):
                    replicas.pop(0)
                if not replicas:
                    return
            if time.monotonic() > deadline:
                raise BlockFailed(f"{block.id}: line {command.line}: no sign of {waiting} after 60 s:\n"
                                  f"    $ {command.text}\n--- its output ---\n{tail(log)}")
            time.sleep(0.1)

    def replicas(self, command: str) -> list[tuple[str, str]]:
        """(path, tenant) of each replica a `remlite serve --replica-of` or `remlite replicate --follow` keeps."""
        words = shlex.split(command.replace("\\\n", " "))

        def values(option: str) -> list[str]:
            return [words[i + 1] for i, word in enumerate(words[:-1]) if word == option]

        path = (values("--path") or [self.env["REMLITE_PATH"]])[0]
        if "--replica-of" in words:
            return [(path, tenant) for tenant in values("--replica-tenant") or ["default"]]
        if FOLLOW.search(command):
            return [(path, (values("--tenant") or [self.env.get("REMLITE_TENANT", "default")])[0])]
        return []

    def caught_up(self, path: str, tenant: str) -> bool:
        """The replica has heard from its primary and applied all it had then (`replication status`)."""
        remlite_ = shutil.which("remlite", path=self.env["PATH"]) or "remlite"
        status = subprocess.run(
            [remlite_, "replication", "status", "--path", path, "--tenant", tenant, "--json"], cwd=self.cwd,
            env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        with contextlib.suppress(ValueError):
            report = json.loads(status.stdout) if status.returncode == 0 else {}
            return report.get("heard_seconds_ago") is not None and report.get("lag_entries") == 0
        return False

    def server_logs(self) -> str:
        return "".join(f"\n--- output of `{b.text}` (background) ---\n{tail(b.log, 2000)}" for b in self.background)

    def stop(self) -> None:
        """Stop the background processes (the last started first) and the Python worker. A background
        process must still be running, and exit on SIGTERM within 20 s (0, or by the signal)."""
        problems = []
        for item in reversed(self.background):
            if item.process.poll() is not None:
                problems.append(f"`{item.text}` (line {item.command.line}) exited {item.process.returncode} "
                                f"before the end of the document:\n{tail(item.log, 2000)}")
                continue
            item.process.send_signal(signal.SIGTERM)
            try:
                item.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                item.process.kill()
                item.process.wait()
                problems.append(f"`{item.text}` did not stop within 20 s of SIGTERM:\n{tail(item.log, 2000)}")
                continue
            # 0, or the SIGTERM itself (uvicorn shuts down gracefully, then re-raises the signal)
            if item.process.returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                problems.append(f"`{item.text}` (line {item.command.line}) exited {item.process.returncode} "
                                f"on SIGTERM:\n{tail(item.log, 2000)}")
        self.background = []
        if self.worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
            self.worker = None
        if problems and self.failed is None:
            self.failed = self.doc
            raise BlockFailed(f"{self.doc}: stopping its background processes:\n" + "\n".join(problems))


def without_comment(command: str) -> str:
    """The command without its trailing `# ...` comment (a `#` after a blank, outside quotes)."""
    quote = None
    for i, char in enumerate(command):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip()
    return command


def split_output(text: str) -> dict[int, str]:
    """Output split at the marker lines: command index -> what it printed."""
    parts = re.split(r"\n?@@docs-cmd (\d+)(?: [\d.]+)?\n", text)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def health(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/v1/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def check_json(block: Block) -> None:
    try:
        json.loads(block.text)
    except ValueError:
        for number, line in enumerate(block.text.splitlines(), block.line + 1):
            try:
                if line.strip():
                    json.loads(line)
            except ValueError as error:
                raise BlockFailed(f"{block.id}: line {number}: neither JSON nor JSON Lines: {error}", False) from None


# -- fixtures ---------------------------------------------------------------------------------------


class Session:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.runs: dict[str, DocRun] = {}
        shim_dir = tmp / "bin"
        shim_dir.mkdir()
        self.shim = shim_dir / "remlite"
        write_shim(str(self.shim), sys.executable, str(VENV_BIN / "remlite"))
        self.zygote: subprocess.Popen[bytes] | None = None
        env = {
            "PATH": f"{shim_dir}:{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "COLUMNS": "120",
            "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1",
            "HF_HUB_OFFLINE": "1", "NO_COLOR": "1",
            # the machine's cache of the local model's int8 graph (derived once per machine, ~4 s)
            "REMLITE_MODEL_CACHE": str(model_cache_dir()),
        }
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            env[name] = "http://127.0.0.1:9"  # nothing listens there: no request leaves the machine
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
        runner = str(ROOT / "tests" / "docs_runner.py")
        self.python = [sys.executable, runner, "pyworker"]
        self.sockets = Path(tempfile.mkdtemp(prefix="remlite-docs-"))  # short: a socket's path has 107 bytes
        if os.environ.get("REMLITE_DOCS_NO_FORK") != "1":
            sock = str(self.sockets / "zygote.sock")
            with (tmp / "zygote.log").open("wb") as log:
                self.zygote = subprocess.Popen(
                    [sys.executable, runner, "zygote", sock], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                    stderr=log, env={**env, "HOME": str(tmp)}, start_new_session=True,
                )
            assert self.zygote.stdout is not None
            assert self.zygote.stdout.readline().strip() == b"ready", tail(tmp / "zygote.log")
            env["REMLITE_DOCS_ZYGOTE"] = sock
            self.python = [str(self.shim)]
        self.env = env
        self.llm = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
        self.llm.daemon_threads = True
        import threading

        threading.Thread(target=self.llm.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.llm_url = f"http://127.0.0.1:{self.llm.server_address[1]}/v1"

    def run(self, doc: str) -> DocRun:
        if doc not in self.runs:
            blocks = [block for block in ALL_BLOCKS if block.doc == doc]
            work = self.tmp / re.sub(r"[^\w.-]", "-", doc)
            self.runs[doc] = DocRun(doc, blocks, work, self)
        return self.runs[doc]

    def close(self) -> None:
        for run in self.runs.values():
            with contextlib.suppress(BlockFailed):
                run.stop()
        self.llm.shutdown()
        self.llm.server_close()
        if self.zygote is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.zygote.pid, signal.SIGKILL)
            self.zygote.wait()
        shutil.rmtree(self.sockets, ignore_errors=True)


@pytest.fixture(scope="session")
def docs_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    session = Session(tmp_path_factory.mktemp("docs"))
    yield session
    session.close()


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_block(block: Block, docs_session: Session) -> None:
    docs_session.run(block.doc).run_through(block)
    if block.skip is not None:
        pytest.skip(f"{block.id}: {block.skip}")


def test_docs_are_found() -> None:
    docs = {block.doc for block in ALL_BLOCKS}
    assert {"README.md", "docs/cli.md", "docs/python.md", "docs/serve.md"} <= docs
    assert all(b.lang in PYTHON_LANGS | SCRIPT_LANGS | CONSOLE_LANGS for b in ALL_BLOCKS if b.skip)


def test_skips_are_few() -> None:
    """A block that cannot run in a test says why, in the document; keep those to a handful."""
    skipped = [f"{block.id}: {block.skip}" for block in ALL_BLOCKS if block.skip is not None]
    assert len(skipped) <= 5, "\n".join(skipped)


def test_parser_reads_fences_markers_and_commands() -> None:
    text = (
        "# t\n\n```console\n$ remlite insert notes '{}'\n01936b0e-7d0a-7c3e-9a51-3f6f2b8d1e42\n"
        "$ remlite get 01936b0e-7d0a-7c3e-9a51-3f6f2b8d1e42 \\\n    --json   # exits 5\n```\n\n"
        "<!-- docs-test: skip because it needs a GPU -->\n\n````python\n```\nx = 1\n````\n\n```\nplain\n```\n"
    )
    blocks = parse_blocks("docs/probe.md", text)
    assert [(b.line, b.lang, b.skip) for b in blocks] == [(3, "console", None), (12, "python", "it needs a GPU"),
                                                          (17, "", None)]
    assert blocks[1].text == "```\nx = 1\n"
    commands = parse_commands(blocks[0])
    assert [(c.line, c.expect, c.binds, c.background) for c in commands] == [
        (4, 0, "01936b0e-7d0a-7c3e-9a51-3f6f2b8d1e42", False), (6, 5, None, False)]
    assert commands[1].text.endswith("\\\n    --json   # exits 5")
    assert split_output("\n@@docs-cmd 0\nabc\n\n@@docs-cmd 1\nx") == {0: "abc\n", 1: "x"}



def test_raises_comment_expects_the_error() -> None:
    source = "int('x')  # raises ValueError\nx = 1\n{}['k']  # raises KeyError: not there\n"
    namespace: dict[str, object] = {}
    namespace["__docs_error__"] = lambda name: error_class(name, namespace)
    exec(compile(expect_raises(ast.parse(source), source), "probe.md", "exec"), namespace)
    assert namespace["x"] == 1
    source = "int('1')  # raises remlite.errors.NotFound\n"
    with pytest.raises(AssertionError, match=r"line 1: expected remlite\.errors\.NotFound, but nothing was raised"):
        exec(compile(expect_raises(ast.parse(source), source), "probe.md", "exec"), {**namespace, "remlite": remlite})
