"""A full disk while writing through the library: writes fail with StorageError, nothing that was
acknowledged is lost, `close()` releases the database even when it cannot save, no temporary file is
left eating the space, and once space is freed the database reopens whole.

Needs a small tmpfs, so it runs as root (CI does); elsewhere it is skipped with a note.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import remlite
from remlite import errors
from tests.fault import schemas as s
from tests.fault.harness import SEED, assert_intact, assert_search_exact, count

PAD = {"name": "pad", "properties": {"key": {"type": "string"}, "blob": {"type": "string"}}, "key_field": "key"}
SIZE_MB = 48
HEADROOM = 10 << 20  # what is left free when the filler file is written


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs: the disk-full tests run in CI (as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"needs root to mount a tmpfs: mount failed: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(mount: Path, leave: int) -> Path:
    """A file taking all free space but `leave` bytes."""
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    filler = mount / "filler"
    with open(filler, "wb") as fh:
        remaining = max(0, free - leave)
        while remaining:
            step = min(remaining, 1 << 20)
            fh.write(b"\0" * step)
            remaining -= step
    return filler


def test_disk_full_loses_no_acknowledged_write(small_disk: Path) -> None:
    root = small_disk / "db"
    db = remlite.connect(root, embedder="hash")
    db.register_schema(s.DOCS)
    db.register_schema(PAD)
    db.insert_batch("docs", [s.doc_row(i) for i in range(1500)])
    db.search("docs", "river", k=1)  # a loaded index: close() will want to save it
    filler = _fill(small_disk, HEADROOM)
    acked: list[str] = []
    failure: Exception | None = None
    for n in range(400):
        rows = [{"key": f"p{n}-{i}", "blob": f"{n}-{i}-" + "x" * 2000} for i in range(100)]
        try:
            db.insert_batch("pad", rows)
        except Exception as exc:  # judged below: it must be a StorageError
            failure = exc
            break
        acked += [r["key"] for r in rows]
        if n % 7 == 0:
            with contextlib.suppress(errors.StorageError):
                db.insert("docs", s.doc_row(10_000 + n, "late"))
    count("corruptions")
    assert failure is not None, "the disk never filled up"
    assert isinstance(failure, errors.StorageError), f"a full disk raised {type(failure).__name__}: {failure}"
    for call in (
        lambda: db.insert("pad", {"key": "after", "blob": "y" * 5000}),
        lambda: db.update(db.lookup(acked[0])[0]["id"], {"blob": "z"}) if acked else None,
        lambda: db.get(db.lookup(acked[-1])[0]["id"]) if acked else None,
    ):
        try:
            call()
        except errors.StorageError:
            pass
        except Exception as exc:
            pytest.fail(f"REMLITE_FAULT_SEED={SEED}: on a full disk a call raised {type(exc).__name__}: {exc}")
    with contextlib.suppress(errors.StorageError):  # it could not save; it must still let go of the database
        db.close()
    assert db.closed, "close() on a full disk left the database open"
    leftovers = [str(p) for p in root.rglob("*.tmp")]
    assert not leftovers, f"temporary files left on the full disk: {leftovers}"
    filler.unlink()
    with remlite.connect(root, embedder="hash") as again:  # DatabaseLocked here: close() kept the lock
        keys = {r["key"] for r in again.scan("pad")}
        lost = [k for k in acked if k not in keys]
        assert not lost, f"{len(lost)} acknowledged rows lost on a full disk, e.g. {lost[:3]}"
        assert again.count("pad") == len(keys)
        assert_search_exact(again, "docs", "body", ["river stone cloud", "zephyr walnut"], 10, "after disk full")
        assert_intact(again, "after disk full")
        again.insert("pad", {"key": "after-free", "blob": "ok"})  # writable again


def test_disk_full_while_saving_the_vector_index_on_close(small_disk: Path) -> None:
    """close() cannot write the index file: StorageError at most, the lock released, no .tmp left,
    and the next open searches right (it rebuilds or catches up the old file)."""
    root = small_disk / "db"
    db = remlite.connect(root, embedder="hash")
    db.register_schema(s.DOCS)
    db.insert_batch("docs", [s.doc_row(i) for i in range(3000)])
    db.search("docs", "river", k=1)
    db._core.store.db.flush()
    filler = _fill(small_disk, 256 << 10)
    count("corruptions")
    with contextlib.suppress(errors.StorageError):
        db.close()
    assert db.closed
    leftovers = [str(p) for p in root.rglob("*.tmp")]
    assert not leftovers, f"temporary files left on the full disk: {leftovers}"
    filler.unlink()
    with remlite.connect(root, embedder="hash") as again:
        assert again.count("docs") == 3000
        assert_search_exact(again, "docs", "body", ["river stone cloud", s.body(5)], 10, "index save failed")
        assert_intact(again, "index save failed")
