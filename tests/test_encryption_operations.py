"""Encryption at rest across the operations: a backup of an encrypted database holds no plaintext
and restores only with its passphrase, and an encrypted primary replicates to an encrypted replica
(each with its own data key) holding the same content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_an_encrypted_database_exports_sealed_files_that_import_back_identical(tmp_path: Path, fmt: str) -> None:
    from remlite.storage.sealed import is_sealed

    with remlite.connect(tmp_path / "db", "t", passphrase=PASS, embedder="hash") as db:
        _fill(db)
        rows = sorted(db.scan("notes", include_deleted=True), key=lambda r: r["id"])
        with pytest.raises(EncryptionError, match="needs a passphrase"):  # an encrypted db's export: sealed
            db.export("notes", tmp_path / f"notes.{fmt}", fmt)
        report = db.export("notes", tmp_path / f"notes.{fmt}", fmt, passphrase="export pass")
        assert report["encrypted"] and is_sealed(tmp_path / f"notes.{fmt}")
        db.export(None, tmp_path / "all", fmt, passphrase="export pass")
    assert _files_holding(tmp_path, MARK.encode()) == []  # the database, the file, the --all directory
    import json

    assert json.loads((tmp_path / "all" / "manifest.json").read_text())["encrypted"] is True
    with remlite.connect(tmp_path / "plain", "t", embedder="hash") as target:
        target.register_schema(json.loads(json.dumps(_schema())))
        with pytest.raises(EncryptionError):
            target.import_("notes", tmp_path / f"notes.{fmt}")
        with pytest.raises(EncryptionError, match="does not open"):
            target.import_("notes", tmp_path / f"notes.{fmt}", passphrase="not it")
        assert target.count("notes") == 0
        assert target.import_("notes", tmp_path / f"notes.{fmt}", passphrase="export pass")["sealed"] is True
        assert sorted(target.scan("notes", include_deleted=True), key=lambda r: r["id"]) == rows


def test_export_encrypt_false_is_plain_and_the_cli_seals_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from remlite.cli.app import app
    from remlite.storage.sealed import is_sealed

    with remlite.connect(tmp_path / "db", "t", passphrase=PASS, embedder="hash") as db:
        _fill(db)
        db.export("notes", tmp_path / "plain.jsonl", "jsonl", encrypt=False)
    assert MARK.encode() in (tmp_path / "plain.jsonl").read_bytes()
    monkeypatch.setenv("REMLITE_PASSPHRASE", PASS)
    runner = CliRunner()
    common = ["--path", str(tmp_path / "db"), "--tenant", "t"]
    done = runner.invoke(app, ["export", "notes", "-o", str(tmp_path / "cli.parquet"), *common, "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["encrypted"] and is_sealed(tmp_path / "cli.parquet")
    plain = runner.invoke(app, ["export", "notes", "-o", str(tmp_path / "p.csv"), "--no-encrypt", *common])
    assert plain.exit_code == 0 and not is_sealed(tmp_path / "p.csv")
    other = ["--path", str(tmp_path / "other"), "--tenant", "t"]
    with remlite.connect(tmp_path / "other", "t", embedder="hash") as target:
        target.register_schema(_schema())
    back = runner.invoke(app, ["import", "notes", str(tmp_path / "cli.parquet"), *other, "--json"])
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["rows"] == 2


def _schema() -> dict[str, Any]:
    from tests.test_encryption import SCHEMA

    return SCHEMA
