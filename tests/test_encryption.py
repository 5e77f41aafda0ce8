"""Encryption at rest: what an encrypted database stores, what it refuses, and that every verb works
on it (docs/python.md, "Encryption at rest")."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import EncryptionError, ReadOnly, WrongPassphrase
from remlite.settings import Settings
from remlite.storage.crypto import ENCRYPTED_FILE

PASS = "correct horse battery staple"
MARK = "Zqxwvmarker"  # a word, so it is also a text-search term and fuzzy grams
SCHEMA: dict[str, Any] = {
    "name": "notes",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "secret": {"type": "string"},
        "status": {"type": "string"},
        "n": {"type": "integer"},
    },
    "key_field": "title",
    "indexed_fields": ["status", "n"],
    "searchable_text_fields": ["body"],
    "embedding_fields": ["body"],
}
runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None, "REMLITE_PASSPHRASE": None})


def _open(root: Path, passphrase: str | None = PASS, **options: Any) -> remlite.Database:
    return remlite.connect(root, "t", passphrase=passphrase, embedder="hash", **options)


def _fill(db: remlite.Database) -> tuple[str, str]:
    db.register_schema(SCHEMA)
    a = db.insert(
        "notes",
        {
            "title": f"key{MARK}",
            "name": f"name {MARK}",
            "body": f"hello {MARK} world",
            "secret": MARK,
            "status": "open",
        },
    )
    b = db.insert("notes", {"title": "other", "body": "plain words here", "status": "done", "n": 3})
    db.add_edge(a, b, "links", {"why": MARK})
    return a, b


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _holding(root: Path, needle: str) -> list[str]:
    """Files under `root` holding `needle` in any case (a term or gram is stored lowercased)."""
    forms = {needle.encode(), needle.lower().encode(), needle.upper().encode()}
    return [name for name, data in _files(root).items() if any(form in data for form in forms)]


def _flush(db: remlite.Database) -> None:
    store = db._core.store
    for name in store.cf:
        store.cf[name].flush()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def filled(root: Path) -> Iterator[tuple[remlite.Database, str, str]]:
    db = _open(root)
    a, b = _fill(db)
    yield db, a, b
    db.close()


def test_no_plaintext_of_a_marker_anywhere_in_the_directory(root: Path) -> None:
    db = _open(root)
    assert db.encrypted
    a, _ = _fill(db)
    assert db.search("notes", MARK, mode="vector", k=1)[0]["id"] == a  # an HNSW index is built (and saved at close)
    assert _holding(root, MARK) == []  # RocksDB's own log and memtables' files
    _flush(db)
    assert _holding(root, MARK) == []  # table files and manifest
    db.close()
    assert any(name.endswith(".hnsw") for name in _files(root)), "the vector index file was saved"
    assert _holding(root, MARK) == []
    db = _open(root)
    assert db.get(a)["secret"] == MARK
    assert db.search("notes", MARK, mode="vector", k=1)[0]["id"] == a  # loaded from the sealed file
    db.close()
    assert _holding(root, MARK) == []


def test_the_vector_index_file_is_sealed_whole(filled: tuple[remlite.Database, str, str], root: Path) -> None:
    db, a, _ = filled
    db.search("notes", "hello", mode="vector")
    db.close()
    (hnsw,) = list(root.rglob("*.hnsw"))
    assert hnsw.read_bytes()[:8] == b"REMSEAL\x01"
    db = _open(root)
    field = db._core.vectors("notes").fields["body"]
    assert db.search("notes", MARK, mode="vector", k=1)[0]["id"] == a
    assert field.index is not None and field.index_seq == db.last_seq  # loaded, not rebuilt past its seq
    db.close()


def test_what_stays_plaintext(root: Path) -> None:
    """Documented limits (docs/python.md): `index` keys keep indexed values in order (ranges and
    ORDER BY read them), and table names, field names and edge types are plain. A value only in a
    non-indexed field, a key, a name, a text or an edge's properties is never plain."""
    db = _open(root)
    db.register_schema(SCHEMA)
    db.insert("notes", {"title": "t1", "body": "x", "status": "Statusmarker"})
    db.add_edge(db.insert("notes", {"title": "t2", "body": "y"}), db.get("notes", "t1")["id"], "Edgetypemarker")
    _flush(db)
    db.close()
    assert _holding(root, "Statusmarker")  # the `index` family's key
    assert _holding(root, "Edgetypemarker")  # edges_out / edges_in keys
    assert _holding(root, "notes")  # the table's schema in `meta`


def test_every_verb_works_on_an_encrypted_database(filled: tuple[remlite.Database, str, str], tmp_path: Path) -> None:
    db, a, b = filled
    assert db.get(a)["secret"] == MARK
    assert db.get("notes", f"key{MARK}")["id"] == a
    assert [r["id"] for r in db.lookup(f"key{MARK}")] == [a]
    assert [r["id"] for r in db.lookup(f"name {MARK}")] == [a]  # a name: through the blinded `keys`
    assert db.lookup(f"nme {MARK}", fuzzy=True)[0]["id"] == a  # trigrams, blinded
    assert db.find("notes", "status", eq="open") == [a]
    assert db.find("notes", "n", gte=1, fetch=True)[0]["id"] == b
    assert [r["id"] for r in db.search("notes", MARK, mode="text")] == [a]  # postings, blinded
    assert db.search("notes", "plain words", mode="hybrid")[0]["id"] == b
    assert db.sql(f"SELECT title FROM notes WHERE secret = '{MARK}'").rows == [{"title": f"key{MARK}"}]
    assert len(db.sql("SELECT * FROM notes WHERE status = 'done'").rows) == 1
    assert [e["properties"] for e in db.edges(a, "out")] == [{"why": MARK}]
    assert db.neighbors(a) or db.traverse(a)
    assert db.update(a, {"secret": "changed", "status": "done"})["secret"] == "changed"
    assert sorted(db.find("notes", "status", eq="done")) == sorted([a, b])
    db.delete(b)
    assert db.get_batch([a, b]) == [db.get(a), None]
    assert db.count("notes") == 1
    assert [r["id"] for r in db.scan("notes")] == [a]
    assert db.check()["ok"], db.check()["problems"]
    changes = db.changes()
    assert changes and db.wal()[-1]["op"] == "delete"
    for target, passphrase in ((tmp_path / "copy-enc", "other passphrase"), (tmp_path / "copy-plain", None)):
        with remlite.connect(target, "t", passphrase=passphrase, embedder="hash") as other:
            assert other.encrypted is (passphrase is not None)
            other.apply(db.changes(after_seq=other.last_seq))
            assert other.get(a)["secret"] == "changed"
            assert [r["id"] for r in other.lookup(f"key{MARK}")] == [a]
            assert other.check()["ok"], other.check()["problems"]


def test_a_wrong_passphrase_is_refused_and_the_directory_is_untouched(root: Path) -> None:
    db = _open(root)
    _fill(db)
    db.close()
    before = _files(root)
    with pytest.raises(WrongPassphrase) as raised:
        _open(root, "not it")
    assert "not it" not in str(raised.value) and PASS not in str(raised.value)
    assert raised.value.exit_code == 14
    assert _files(root) == before  # byte for byte: RocksDB was not opened for writing
    db = _open(root)  # and the lock was released
    db.close()


def test_no_passphrase_is_refused_before_opening(root: Path) -> None:
    _open(root).close()
    before = _files(root)
    with pytest.raises(EncryptionError) as raised:
        _open(root, None)
    assert not isinstance(raised.value, WrongPassphrase)
    assert _files(root) == before
    (root / "t" / ENCRYPTED_FILE).unlink()  # the marker file gone: the one in `meta` still refuses
    with pytest.raises(EncryptionError):
        _open(root, None)
    _open(root).close()  # ... and the right passphrase opens it (and writes the marker file again)
    assert (root / "t" / ENCRYPTED_FILE).exists()


def test_rotate_passphrase(filled: tuple[remlite.Database, str, str], root: Path) -> None:
    db, a, _ = filled
    with pytest.raises(WrongPassphrase):
        db.rotate_passphrase("not it", "new one")
    db.rotate_passphrase(PASS, "new one")
    assert db.get(a)["secret"] == MARK
    db.close()
    with pytest.raises(WrongPassphrase):
        _open(root, PASS)
    db = _open(root, "new one")
    assert db.get(a)["secret"] == MARK
    db.close()


def test_a_tampered_or_moved_value_fails_its_tag(filled: tuple[remlite.Database, str, str]) -> None:
    db, a, b = filled
    store = db._core.store
    raw = store.cf["rows"]._cf  # the family's own map, under the sealing wrapper
    tid = db._core.layout("notes").tid
    ka, kb = tid + remlite.ids.to_bytes(a), tid + remlite.ids.to_bytes(b)
    sealed = raw.get(ka)
    assert MARK.encode() not in sealed
    flipped = bytearray(sealed)
    flipped[-20] ^= 1
    raw.put(ka, bytes(flipped))
    with pytest.raises(EncryptionError, match="authentication tag"):
        db.get(a)
    raw.put(ka, raw.get(kb))  # another row's value, moved: bound to its own key
    with pytest.raises(EncryptionError):
        db.get(a)
    raw.put(ka, sealed)
    assert db.get(a)["secret"] == MARK


def test_the_passphrase_is_never_shown(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"REMLITE_PASSPHRASE": PASS, "REMLITE_PATH": str(root)})
    assert settings.passphrase == PASS
    assert PASS not in repr(settings) and PASS not in str(settings)
    caplog.set_level(logging.DEBUG)
    db = _open(root)
    _fill(db)
    assert PASS not in repr(db) and PASS not in repr(db._core.store.cipher)
    db.close()
    for bad in ("wrong one", PASS + "x"):
        with pytest.raises(WrongPassphrase) as raised:
            _open(root, bad)
        assert bad not in str(raised.value) and bad not in repr(raised.value)
    assert PASS not in caplog.text and "wrong one" not in caplog.text


def test_the_passphrase_defaults_to_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_PASSPHRASE", PASS)
    with remlite.connect(root, "t") as db:
        assert db.encrypted  # a new database opened with a passphrase is created encrypted
        db.insert("entities", {"key": MARK, "name": MARK})
    monkeypatch.delenv("REMLITE_PASSPHRASE")
    with pytest.raises(EncryptionError):
        remlite.connect(root, "t")


def test_a_plain_database_ignores_a_passphrase(root: Path) -> None:
    with remlite.connect(root, "t") as db:
        assert not db.encrypted
    with remlite.connect(root, "t", passphrase=PASS) as db:
        assert not db.encrypted
        with pytest.raises(EncryptionError):
            db.rotate_passphrase(PASS, "other")


def test_read_only_handles_take_the_passphrase(filled: tuple[remlite.Database, str, str], root: Path) -> None:
    writer, a, _ = filled
    with pytest.raises(EncryptionError):
        remlite.connect(root, "t", read_only=True)
    with pytest.raises(WrongPassphrase):
        remlite.connect(root, "t", read_only=True, passphrase="not it")
    reader = remlite.connect(root, "t", read_only=True, passphrase=PASS)
    try:
        assert reader.get(a)["secret"] == MARK
        assert [r["id"] for r in reader.lookup(f"key{MARK}")] == [a]
        with pytest.raises(ReadOnly):
            reader.rotate_passphrase(PASS, "x")
        c = writer.insert("notes", {"title": "later", "body": f"more {MARK}"})
        reader.refresh()
        assert reader.get(c)["body"] == f"more {MARK}"
    finally:
        reader.close()


def test_cli_init_encrypt_with_the_environment_and_the_prompt(root: Path) -> None:
    result = runner.invoke(
        app, ["init", "--encrypt", "--path", str(root), "--tenant", "a", "--json"], env={"REMLITE_PASSPHRASE": PASS}
    )
    assert result.exit_code == 0, result.output
    assert PASS not in result.output
    with remlite.connect(root, "a", passphrase=PASS) as db:
        assert db.encrypted
    result = runner.invoke(app, ["init", "--encrypt", "--path", str(root), "--tenant", "b"], input="pw one\npw one\n")
    assert result.exit_code == 0, result.output
    assert "pw one" not in result.output and "encrypted" in result.output
    with remlite.connect(root, "b", passphrase="pw one") as db:
        assert db.encrypted
    result = runner.invoke(app, ["count", "entities", "--path", str(root), "--tenant", "b"])
    assert result.exit_code == 14, result.output  # EncryptionError: no passphrase
    result = runner.invoke(
        app, ["count", "entities", "--path", str(root), "--tenant", "b"], env={"REMLITE_PASSPHRASE": "pw one"}
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["init", "--path", str(root), "--tenant", "plain"])
    assert result.exit_code == 0
    result = runner.invoke(app, ["init", "--encrypt", "--path", str(root), "--tenant", "plain"], input="p\np\n")
    assert result.exit_code == 14, result.output  # exists, not encrypted


def test_cli_rotate_passphrase(root: Path) -> None:
    _open(root).close()
    result = runner.invoke(
        app, ["key", "rotate-passphrase", "--path", str(root), "--tenant", "t"], input=f"{PASS}\nfresh\nfresh\n"
    )
    assert result.exit_code == 0, result.output
    assert PASS not in result.output and "fresh" not in result.output
    with pytest.raises(WrongPassphrase):
        _open(root)
    _open(root, "fresh").close()
    result = runner.invoke(
        app,
        ["key", "rotate-passphrase", "--path", str(root), "--tenant", "t", "--json"],
        input="again\nagain\n",
        env={"REMLITE_PASSPHRASE": "fresh"},  # the current one from the environment
    )
    assert result.exit_code == 0, result.output
    assert '"rotated":true' in result.stdout and "fresh" not in result.output and "again" not in result.output
    _open(root, "again").close()
    result = runner.invoke(
        app, ["key", "rotate-passphrase", "--path", str(root), "--tenant", "t"], input="wrong\nx\nx\n"
    )
    assert result.exit_code == 14
    assert "wrong" not in result.output.replace("wrong passphrase", "")


def test_an_unencrypted_database_is_stored_as_before(root: Path) -> None:
    """The plain path is untouched: no cipher, raw RocksDB batches and families, plain values."""
    with remlite.connect(root, "t", embedder="hash") as db:
        db.register_schema(SCHEMA)
        db.insert("notes", {"title": "k", "body": "b", "secret": MARK})
        store = db._core.store
        assert store.cipher is None and type(store.batch()).__module__ == "builtins"
        assert type(store.cf["rows"]).__name__ == "Rdict"
        _flush(db)
    assert _holding(root, MARK)
    assert not os.path.exists(root / "t" / ENCRYPTED_FILE)
