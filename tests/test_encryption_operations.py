"""Encryption at rest across the operations: a backup of an encrypted database holds no plaintext
and restores only with its passphrase, and an encrypted primary replicates to an encrypted replica
(each with its own data key) holding the same content."""

from __future__ import annotations

from pathlib import Path

import pytest

import remlite
from remlite.errors import EncryptionError, WrongPassphrase
from remlite.replication.follower import catch_up
from remlite.serve.app import create_app
from tests.test_encryption import MARK, PASS, _fill
from tests.test_serve import run_server


def _files_holding(directory: Path, marker: bytes) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and marker in p.read_bytes()]


def test_a_backup_of_an_encrypted_database_holds_no_plaintext(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db", "t", passphrase=PASS, embedder="hash") as db:
        _fill(db)
        assert db.search("notes", "hello world", 2)  # an index file, saved at close and backed up
        db.backup(tmp_path / "backup")
    assert _files_holding(tmp_path / "backup", MARK.encode()) == []
    remlite.restore(tmp_path / "backup", tmp_path / "restored", "t")
    with pytest.raises(EncryptionError):
        remlite.connect(tmp_path / "restored", "t", embedder="hash")
    with pytest.raises(WrongPassphrase):
        remlite.connect(tmp_path / "restored", "t", passphrase="not it", embedder="hash")
    with remlite.connect(tmp_path / "restored", "t", passphrase=PASS, embedder="hash") as db:
        assert db.lookup(f"key{MARK}")[0]["secret"] == MARK and db.check()["ok"]


def test_an_encrypted_primary_replicates_to_an_encrypted_replica(tmp_path: Path) -> None:
    runtime = remlite.Runtime()
    root = tmp_path / "primary"
    with runtime.tenant(root, "t", passphrase=PASS, embedder="hash") as db:
        _fill(db)
    server, thread, url = run_server(create_app(root, runtime=runtime, auth=False))
    try:
        catch_up(url, tmp_path / "replica", "t", passphrase="the replica's own", embedder="hash")
        with runtime.tenant(root, "t") as source, remlite.connect(
            tmp_path / "replica", "t", passphrase="the replica's own", embedder="hash"
        ) as copy:
            assert copy.encrypted and copy.last_seq == source.last_seq
            assert copy.lookup(f"key{MARK}") == source.lookup(f"key{MARK}")
            assert copy.search("notes", "hello", 2, mode="hybrid") == source.search("notes", "hello", 2, mode="hybrid")
            assert copy.sql("SELECT title, secret FROM notes ORDER BY title").rows == source.sql(
                "SELECT title, secret FROM notes ORDER BY title"
            ).rows
        assert _files_holding(tmp_path / "replica" / "t", MARK.encode()) == []
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()
