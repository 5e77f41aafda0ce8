"""Storage-layer reliability: damaged directories, fork(), corrupt table files, disk full and
mistyped tenants. Each test reproduces a fault found by a hostile review (issue 9)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import DatabaseLocked, NotFound, StorageError

NOTES: dict[str, Any] = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
    "required": ["title"],
    "indexed_fields": ["title"],
}
ROWS = 20_000


def _settle(db: remlite.Database) -> None:
    """Flush every memtable and compact, so the data lives in table files (.sst) only."""
    store = db._core.store
    for name in list(store.cf):
        store.cf[name].flush()
        store.cf[name].compact_range(None, None)


def _build(root: Path, rows: int = ROWS) -> None:
    with remlite.connect(root) as db:
        db.register_schema(NOTES)
        for start in range(0, rows, 1000):
            db.insert_batch("notes", [{"title": f"t{i}", "body": f"body {i} " * 8} for i in range(start, start + 1000)])
        _settle(db)


def _listing(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file() and p.name != "LOG"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database of ROWS notes in table files, copied by each test that damages it."""
    root = tmp_path_factory.mktemp("built")
    _build(root)
    return root


@pytest.fixture
def copy(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "db")
    return tmp_path / "db"


# ---------------------------------------------------------------- fault 1: missing CURRENT


def test_missing_current_is_refused_and_repair_recovers(copy: Path) -> None:
    directory = copy / "default"
    (directory / "CURRENT").unlink()
    before = _listing(directory)
    for _ in range(2):  # the second attempt is the one that used to delete every table file
        with pytest.raises(StorageError, match="repair") as caught:
            remlite.connect(copy)
        assert not isinstance(caught.value, DatabaseLocked)
        assert str(directory) in str(caught.value)
        assert _listing(directory) == before
    remlite.repair(copy, tenant="default")
    with remlite.connect(copy) as db:
        assert db.count("notes") == ROWS
        assert sum(1 for _ in db.scan("notes")) == ROWS
        assert db.check()["ok"]


def test_repair_from_the_cli(copy: Path) -> None:
    (copy / "default" / "CURRENT").unlink()
    runner = CliRunner()
    refused = runner.invoke(app, ["count", "notes", "--path", str(copy)])
    assert refused.exit_code == StorageError.exit_code and "remlite repair" in refused.stderr
    done = runner.invoke(app, ["repair", "--path", str(copy)])
    assert done.exit_code == 0, done.stderr
    counted = runner.invoke(app, ["count", "notes", "--path", str(copy)])
    assert counted.exit_code == 0 and counted.stdout.strip() == str(ROWS)


def test_repair_of_a_missing_tenant_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="ghost"):
        remlite.Database.repair(tmp_path, "ghost")
    assert not (tmp_path / "ghost").exists()


def test_a_directory_without_database_files_is_created(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "notes.txt").write_text("not a database file")
    with remlite.connect(tmp_path) as db:
        assert "entities" in [s["name"] for s in db.schemas()]


# ---------------------------------------------------------------- fault 8: corrupt table-file blocks


# Key lengths that tell the column families apart (live_files() does not name them): table id +
# id in rows, id in ids, sequence number in wal.
KEY_LENGTH = {"rows": 20, "ids": 16, "wal": 8}


def _largest_sst(root: Path, family: str) -> Path:
    with remlite.connect(root) as db:
        files = db._core.store.db.live_files()
    size = KEY_LENGTH[family]
    mine = [f for f in files if len(f["start_key"]) == size and len(f["end_key"]) == size]
    return root / "default" / max(mine, key=lambda f: f["size"])["name"].lstrip("/")


def _flip_middle(path: Path, offset: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    at = int(len(data) * offset)
    for i in range(at, at + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_block_fails_reads_instead_of_cutting_them_short(copy: Path) -> None:
    for family in ("rows", "wal", "ids"):
        _flip_middle(_largest_sst(copy, family))
    # A runtime of its own: the default one's block cache may hold these blocks, verified when
    # read before the corruption (every copy of `built` has the same table files).
    with remlite.connect(copy, runtime=remlite.Runtime()) as db:
        with pytest.raises(StorageError, match=r"corrupt.*rows") as caught:
            sum(1 for _ in db.scan("notes"))
        assert "repair" in str(caught.value)
        with pytest.raises(StorageError, match="corrupt"):
            db.sql("SELECT COUNT(*) AS n FROM notes WHERE body IS NOT NULL")
        with pytest.raises(StorageError, match="corrupt"):
            db.wal(limit=1000)
        with pytest.raises(StorageError, match="corrupt"):
            db.find("notes", "title", gte="t", fetch=True)
        with pytest.raises(StorageError, match="corrupt"):
            db.check()


def test_point_reads_of_a_corrupt_block_raise_storage_error(copy: Path) -> None:
    with remlite.connect(copy) as db:
        ids = [r["id"] for r in db.scan("notes")]
    _flip_middle(_largest_sst(copy, "rows"))
    failed = 0
    with remlite.connect(copy, runtime=remlite.Runtime()) as db:  # not the blocks cached by the scan above
        for rid in ids[::10]:
            try:
                db.get(rid)
            except StorageError as exc:
                assert "corrupt" in str(exc)
                failed += 1
        assert failed
        with pytest.raises(StorageError, match="corrupt"):
            db.get_batch(ids)


# ---------------------------------------------------------------- fault 16: precise error classes


def test_corrupt_manifest_is_a_storage_error(copy: Path) -> None:
    manifest = next((copy / "default").glob("MANIFEST-*"))
    _flip_middle(manifest, 0.3)
    before = _listing(copy / "default")
    with pytest.raises(StorageError, match="corrupt") as caught:
        remlite.connect(copy)
    assert type(caught.value) is StorageError and "repair" in str(caught.value)
    assert _listing(copy / "default") == before


def test_checksum_mismatch_at_open_is_not_reported_as_a_lock(copy: Path) -> None:
    for sst in (copy / "default").glob("*.sst"):  # the index and properties blocks sit at the end
        data = bytearray(sst.read_bytes())
        for i in range(len(data) - 120, len(data) - 60):
            data[i] ^= 0xFF
        sst.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="block checksum mismatch") as caught:
        remlite.connect(copy)
    assert type(caught.value) is StorageError and "repair" in str(caught.value)


def test_cli_reports_a_corrupt_manifest_in_one_line(copy: Path) -> None:
    _flip_middle(next((copy / "default").glob("MANIFEST-*")), 0.3)
    result = CliRunner().invoke(app, ["count", "notes", "--path", str(copy)])
    assert result.exit_code == StorageError.exit_code
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


# ---------------------------------------------------------------- fault 18: mistyped tenant


def test_create_false_refuses_a_missing_tenant(tmp_path: Path) -> None:
    remlite.connect(tmp_path, "real").close()
    with pytest.raises(NotFound, match=r"'typo'.*" + str(tmp_path)):
        remlite.connect(tmp_path, "typo", create=False)
    assert not (tmp_path / "typo").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="empty"):
        remlite.connect(tmp_path, "empty", create=False)
    assert list((tmp_path / "empty").iterdir()) == []
    with remlite.connect(tmp_path, "real", create=False) as db:
        assert db.tenant == "real"


@pytest.mark.parametrize(
    "args",
    [
        ["count", "notes"],
        ["list", "notes"],
        ["get", "00000000-0000-0000-0000-000000000000"],
        ["lookup", "k"],
        ["wal"],
        ["check"],
        ["query", "SELECT 1"],
        ["schema", "list"],
        ["edge", "list", "00000000-0000-0000-0000-000000000000"],
        ["index", "status"],
    ],
)
def test_read_commands_do_not_create_a_mistyped_tenant(tmp_path: Path, args: list[str]) -> None:
    remlite.connect(tmp_path).close()
    result = CliRunner().invoke(app, [*args, "--path", str(tmp_path), "--tenant", "typo"])
    assert result.exit_code == NotFound.exit_code, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1 and "typo" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_write_commands_still_create_a_tenant(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--path", str(tmp_path), "--tenant", "fresh"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "fresh" / "CURRENT").exists()


# ---------------------------------------------------------------- fault 2: fork()


def _wait(pid: int, timeout: float = 60.0) -> int:
    """The child's exit code; a hung child is killed and fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def _child_attempts(db: remlite.Database, rid: str) -> int:
    """Run in a forked child: every use of the inherited handle must raise; returns a bit mask of
    the attempts that did not raise the fork error."""
    attempts = [
        lambda: db.insert("notes", {"title": "from the child"}),
        lambda: db.get(rid),
        lambda: list(db.scan("notes")),
        lambda: db.wal(),
        db.close,  # raises too, touching nothing (it hung when both processes closed)
    ]
    failures = 0
    for bit, attempt in enumerate(attempts):
        try:
            attempt()
            failures |= 1 << bit
        except StorageError as exc:
            if "fork" not in str(exc):
                failures |= 1 << bit
    return failures


def test_handle_inherited_through_fork_refuses_every_use(tmp_path: Path) -> None:
    db = remlite.connect(tmp_path)
    db.register_schema(NOTES)
    rid = db.insert("notes", {"title": "parent"})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            code = _child_attempts(db, rid)
        finally:
            os._exit(code)
    assert _wait(pid) == 0
    ids = db.insert_batch("notes", [{"title": f"after {i}"} for i in range(100)])
    assert db.get(rid)["title"] == "parent" and db.count("notes") == 101
    db.close()
    with remlite.connect(tmp_path) as again:
        assert again.get(ids[-1])["title"] == "after 99" and again.count("notes") == 101


def _mp_child(db: remlite.Database, rid: str, out: Any) -> None:
    out.put(_child_attempts(db, rid))


def test_multiprocessing_fork_child_refuses_the_handle(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    with remlite.connect(tmp_path) as db:
        db.register_schema(NOTES)
        rid = db.insert("notes", {"title": "parent"})
        out = ctx.Queue()
        child = ctx.Process(target=_mp_child, args=(db, rid, out))
        child.start()
        assert out.get(timeout=60) == 0
        child.join(60)
        assert child.exitcode == 0
        assert db.get(rid)["title"] == "parent"


def test_forked_child_that_exits_normally_does_not_hang(tmp_path: Path) -> None:
    script = (
        "import os, sys, remlite\n"
        f"db = remlite.connect({str(tmp_path)!r})\n"
        "db.insert('entities', {'key': 'k', 'name': 'n'})\n"
        "if os.fork() == 0:\n"
        "    sys.exit(0)\n"  # normal interpreter shutdown in the child, handle never closed
        "os.wait()\n"
        "db.close()\n"
    )
    done = subprocess.run([os.sys.executable, "-c", script], timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with remlite.connect(tmp_path) as db:
        assert db.lookup("k")


# ---------------------------------------------------------------- fault 17: disk full

VECTORS: dict[str, Any] = {
    "name": "docs",
    "properties": {"body": {"type": "string"}},
    "embedding_fields": ["body"],
}


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), RuntimeError("serialize")])
def test_close_releases_the_database_when_saving_an_index_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    from remlite.vector.store import VectorStore

    db = remlite.connect(tmp_path, embedder="hash")
    db.register_schema(VECTORS)
    db.insert_batch("docs", [{"body": f"document {i}"} for i in range(200)])
    db.search("docs", "document 3", k=2)

    def full_disk(self: VectorStore, fh: BinaryIO) -> int:
        fh.write(b"\0" * 4096)
        raise failure

    monkeypatch.setattr(VectorStore, "write", full_disk)
    with pytest.raises(StorageError, match="vector index") as caught:
        db.close()
    assert "not saved" in str(caught.value)
    assert db.closed
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.undo()
    with remlite.connect(tmp_path, embedder="hash") as again:  # the lock was released
        assert again.count("docs") == 200
        assert len(again.search("docs", "document 3", k=2)) == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _eventually(write: Callable[[], object], seconds: float = 10.0) -> None:
    """RocksDB resumes a handle stopped by a full disk by itself (it retries every second)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            write()
            return
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_full_disk_on_tmpfs(small_disk: Path) -> None:
    db = remlite.connect(small_disk, embedder="hash")
    db.register_schema(VECTORS)
    db.insert_batch("docs", [{"body": f"text number {i} " * 5} for i in range(3000)])
    db.search("docs", "text number 5", k=3)
    filler = _fill(small_disk)
    with pytest.raises(StorageError, match=r"[Nn]o space"):
        db.insert_batch("docs", [{"body": "x" * 1000}] * 300)
    filler.unlink()
    _eventually(lambda: db.insert("docs", {"body": "after space came back"}))  # the open handle recovers
    filler = _fill(small_disk)
    with pytest.raises(StorageError, match="not saved"):
        db.close()
    assert db.closed and not list(small_disk.rglob("*.tmp"))
    filler.unlink()
    with remlite.connect(small_disk, embedder="hash") as again:
        assert again.count("docs") == 3001
