"""`Database.check()` reports damage to every derived structure: each test plants one kind of
damage in a healthy database and asserts it is named (a check that missed it would trust it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import remlite
from remlite.storage import codec
from remlite.storage.wal import FLOOR_KEY

DOCS = {
    "name": "docs",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "kind": {"type": "string"}},
    "required": ["title"],
    "key_field": "title",
    "indexed_fields": ["kind"],
    "text_fields": ["body"],
}


@pytest.fixture
def docs_db(tmp_path: Path) -> Iterator[remlite.Database]:
    db = remlite.connect(tmp_path / "db")
    db.register_schema(DOCS)
    db.insert_batch(
        "docs", [{"title": f"t{i}", "body": f"refunds take {i} days to arrive", "kind": "faq"} for i in range(20)]
    )
    assert db.check()["ok"], db.check()["problems"]
    yield db
    db.close()


def _one_key(db: remlite.Database, family: str) -> tuple[bytes, bytes]:
    return next(iter(db._core.store.iter_prefix(family, b"")))


def _problems(db: remlite.Database) -> list[str]:
    report = db.check()
    assert not report["ok"]
    return report["problems"]


def test_healthy_database_counts_postings_and_log(docs_db: remlite.Database) -> None:
    report = docs_db.check()
    assert report["postings"] > 20 and report["log_entries"] == docs_db.last_seq - docs_db.first_seq + 1


def test_missing_posting_is_reported(docs_db: remlite.Database) -> None:
    key, _ = _one_key(docs_db, "postings")
    docs_db._core.store.cf["postings"].delete(key)
    assert any("posting" in p for p in _problems(docs_db))


def test_orphan_posting_is_reported(docs_db: remlite.Database) -> None:
    key, value = _one_key(docs_db, "postings")
    docs_db._core.store.cf["postings"].put(key[:-16] + b"\x01" * 16, value)
    assert any("posting without a live row" in p for p in _problems(docs_db))


def test_posting_with_wrong_counts_is_reported(docs_db: remlite.Database) -> None:
    key, value = _one_key(docs_db, "postings")
    docs_db._core.store.cf["postings"].put(key, bytes([value[0], value[1] + 1]) + value[2:])
    assert any("wrong counts" in p for p in _problems(docs_db))


def test_text_counters_of_a_dropped_index_are_reported(docs_db: remlite.Database) -> None:
    key, value = _one_key(docs_db, "textstats")
    docs_db._core.store.cf["textstats"].put(codec.u32(999) + key[4:], value)
    assert any("text counters of no text index" in p for p in _problems(docs_db))


def test_gap_in_the_change_log_is_reported(docs_db: remlite.Database) -> None:
    docs_db.insert("docs", {"title": "later"})
    docs_db._core.store.cf["wal"].delete(codec.u64(docs_db.last_seq - 1))
    assert any("change log: expected seq" in p for p in _problems(docs_db))


def test_entry_below_the_floor_is_reported(docs_db: remlite.Database) -> None:
    docs_db.insert("docs", {"title": "later"})
    docs_db.truncate_wal(keep=1)
    docs_db._core.store.cf["wal"].put(codec.u64(1), b'{"seq":1}')
    assert docs_db._core.store.cf["meta"].get(FLOOR_KEY) is not None
    assert any("change log" in p for p in _problems(docs_db))


def test_log_entry_naming_another_seq_is_reported(docs_db: remlite.Database) -> None:
    seq = docs_db.last_seq
    docs_db._core.store.cf["wal"].put(codec.u64(seq), b'{"seq":12345}')
    assert any(f"entry at seq {seq}" in p for p in _problems(docs_db))


def test_index_entry_with_a_wrong_row_label_is_reported(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        db.insert_batch("resources", [{"uri": f"u{i}", "content": f"text {i}", "category": "c"} for i in range(5)])
        assert db.check()["ok"], db.check()["problems"]
        key, value = next(iter(db._core.store.iter_prefix("index", b"")))
        assert len(value) == 8
        db._core.store.cf["index"].put(key, codec.u64(codec.read_u64(value) + 1000))
        assert any("wrong row label" in p for p in _problems(db))


def test_vector_damage_is_reported_by_check(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        rid = db.insert("resources", {"uri": "u", "content": "refunds take days", "category": "c"})
        assert db.check()["ok"], db.check()["problems"]
        raw = bytes.fromhex(rid.replace("-", ""))
        key = next(k for k, _ in db._core.store.iter_prefix("vectors", b"v") if k.endswith(raw))
        db._core.store.cf["vectors"].delete(key)
        assert any(rid in p and "vector" in p for p in _problems(db))
