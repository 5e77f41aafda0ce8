"""Vector-index reliability: exact catch-up (no ghost labels), model switches racing writes and
searches, index files bound to their database and change log, and the vector integrity check."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remlite
from remlite.embed.hashing import HashProvider
from remlite.errors import StorageError
from remlite.semantic.check import check_vectors
from remlite.storage.keyspace import row_label_key
from remlite.vector import VectorIndex
from remlite.vector.store import VectorStore

DOCS = [
    ("cats", "the cat sat on the mat and purred at the kitten"),
    ("dogs", "dogs chase cats around the park every morning"),
    ("stocks", "stock markets crashed after the central bank raised rates"),
    ("python", "python is a programming language with dynamic typing"),
    ("rust", "rust is a systems programming language without a garbage collector"),
    ("kitten", "a kitten sleeps on a warm rug near the fire"),
]
OTHER = [
    ("ships", "container ships queue outside the harbour at dawn"),
    ("bread", "sourdough bread needs a lively starter and patience"),
    ("comets", "a comet tail always points away from the sun"),
    ("violin", "the violin was carved from spruce and maple wood"),
    ("glacier", "glaciers carve deep valleys over thousands of years"),
    ("chess", "the queen sacrifice won the chess game in twelve moves"),
    ("tides", "the moon pulls the ocean into two daily tides"),
    ("honey", "bees turn flower nectar into honey inside the hive"),
]
NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
    "required": ["title"],
    "key_field": "title",
    "embedding_fields": ["body"],
}


def titles(rows: list[dict[str, Any]]) -> list[str]:
    return [r["title"] for r in rows]


def field_of(db: remlite.Database) -> Any:
    return db._core.vectors("notes").fields["body"]


def problems(db: remlite.Database) -> list[str]:
    return check_vectors(db._core.store, db._core.registry, db._core.layout, db._core.vectors)


def live_labels(db: remlite.Database) -> set[int]:
    return {int(n) for n in db._core.rownums([bytes.fromhex(r["id"].replace("-", "")) for r in db.scan("notes")])}


def loaded_index(db: remlite.Database) -> VectorIndex:
    fv = field_of(db)
    return fv.ensure_index(db._core.wal.seq, db._core.wal.iter_after, db._core.rownums)


def fresh(path: Path, rows: list[tuple[str, str]]) -> remlite.Database:
    db = remlite.connect(path, embedder="hash")
    db.register_schema(NOTES)
    for title, body in rows:
        db.insert("notes", {"title": title, "body": body})
    return db


# ---------------------------------------------------------------- fault 9: ghost labels


def test_hard_delete_and_reinsert_while_the_index_is_not_loaded_leaves_no_ghost(tmp_path: Path) -> None:
    db = fresh(tmp_path, DOCS)
    assert titles(db.search("notes", DOCS[5][1], k=1)) == ["kitten"]
    db.close()  # the index is saved
    for _ in range(4):  # every round would add one more ghost
        db = remlite.connect(tmp_path, embedder="hash")  # no search: the index stays on disk
        db.delete(db.lookup("kitten")[0]["id"], hard=True)
        db.insert("notes", {"title": "kitten", "body": DOCS[5][1]})
        db.close()
        db = remlite.connect(tmp_path, embedder="hash")
        assert titles(db.search("notes", DOCS[5][1], k=1)) == ["kitten"]
        index = loaded_index(db)
        assert len(index) == len(DOCS) and set(index.labels().tolist()) == live_labels(db)
        db.close()
    with remlite.connect(tmp_path, embedder="hash") as db:
        assert problems(db) == []


def test_soft_delete_and_emptied_text_while_unloaded_are_removed_on_catch_up(tmp_path: Path) -> None:
    db = fresh(tmp_path, DOCS)
    db.search("notes", "cat", k=1)
    db.close()
    db = remlite.connect(tmp_path, embedder="hash")
    db.delete(db.lookup("dogs")[0]["id"])  # soft
    db.insert("notes", {"title": "rust"})  # keyed upsert without body: no embedding source any more
    db.delete(db.lookup("stocks")[0]["id"], hard=True)
    db.insert("notes", {"title": "stocks", "body": DOCS[2][1]})
    db.delete(db.lookup("stocks")[0]["id"])  # re-inserted, then soft deleted
    db.close()
    with remlite.connect(tmp_path, embedder="hash") as db:
        found = titles(db.search("notes", "cats dogs stock rust programming", k=10))
        assert sorted(found) == ["cats", "kitten", "python"]
        embedded = [bytes.fromhex(db.lookup(t)[0]["id"].replace("-", "")) for t in ("cats", "kitten", "python")]
        assert set(loaded_index(db).labels().tolist()) == set(db._core.rownums(embedded))
        assert problems(db) == []


def test_search_skips_ghost_labels_and_still_returns_k(tmp_path: Path) -> None:
    with fresh(tmp_path, DOCS) as db:
        index = loaded_index(db)
        kitten = HashProvider().embed_one(DOCS[5][1])
        for ghost in range(10**9, 10**9 + 5):  # labels that map to no row, right at the query
            index.add([ghost], [kitten])
        assert titles(db.search("notes", DOCS[5][1], k=1)) == ["kitten"]
        assert len(db.search("notes", DOCS[5][1], k=len(DOCS))) == len(DOCS)
        assert len(index) == len(DOCS)  # the ghosts found were dropped from the index
        gone = [bytes.fromhex(db.lookup(title)[0]["id"].replace("-", "")) for title in ("kitten", "cats")]
        db.delete(db.lookup("kitten")[0]["id"])  # soft
        db.insert("notes", {"title": "cats"})  # no text any more
        index.add(db._core.rownums(gone), [kitten, kitten])  # as if the index had missed both changes
        assert sorted(titles(db.search("notes", DOCS[5][1], k=4))) == ["dogs", "python", "rust", "stocks"]
        assert len(index) == len(DOCS) - 2


# ---------------------------------------------------------------- fault 10: model switch races

NEW_MODEL_DIM = 32


def assert_in_new_space(db: remlite.Database, model: HashProvider) -> None:
    fv = field_of(db)
    assert fv.config["dimension"] == model.dimension
    rows = list(db.scan("notes"))
    assert rows
    for row in rows:
        stored = db._core.store.cf["vectors"].get(fv.prefix + bytes.fromhex(row["id"].replace("-", "")))
        assert stored is not None, row["title"]
        vector = np.frombuffer(stored, dtype=np.float32)
        assert vector.shape == (model.dimension,), row["title"]
        np.testing.assert_allclose(vector, model.embed_one(row["body"]), atol=1e-6, err_msg=row["title"])
    assert problems(db) == []
    assert db.check()["ok"]


def test_row_embedded_before_a_model_switch_is_embedded_again_under_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_model = HashProvider(dimension=NEW_MODEL_DIM)
    real_embed = HashProvider.embed
    with fresh(tmp_path, DOCS) as db:
        db.search("notes", "cat", k=1)  # index loaded: the write also goes to it

        def embed_then_switch(provider: HashProvider, texts: Any) -> Any:
            out = real_embed(provider, texts)
            if list(texts) == ["late turtles arrive"] and provider.dimension != NEW_MODEL_DIM:
                db.reembed("notes", provider=new_model)  # between embedding and the write lock
            return out

        monkeypatch.setattr(HashProvider, "embed", embed_then_switch)
        db.insert("notes", {"title": "late", "body": "late turtles arrive"})
        monkeypatch.undo()
        assert_in_new_space(db, new_model)
        assert titles(db.search("notes", "late turtles arrive", k=1)) == ["late"]


def test_search_whose_query_was_embedded_before_a_model_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new_model = HashProvider(dimension=NEW_MODEL_DIM)
    real_embed_one = HashProvider.embed_one
    with fresh(tmp_path, DOCS) as db:
        db.search("notes", "cat", k=1)

        def embed_one_then_switch(provider: HashProvider, text: str) -> Any:
            out = real_embed_one(provider, text)
            if text == DOCS[3][1] and provider.dimension != NEW_MODEL_DIM:
                db.reembed("notes", provider=new_model)  # between embedding the query and searching
            return out

        monkeypatch.setattr(HashProvider, "embed_one", embed_one_then_switch)
        assert titles(db.search("notes", DOCS[3][1], k=1)) == ["python"]
        monkeypatch.undo()
        assert_in_new_space(db, new_model)


def test_writes_and_searches_racing_a_reembed(tmp_path: Path) -> None:
    new_model = HashProvider(dimension=NEW_MODEL_DIM)
    db = fresh(tmp_path, DOCS)
    db.insert_batch("notes", [{"title": f"seed{i}", "body": f"seed row {i} word{i}"} for i in range(500)])
    db.search("notes", "cat", k=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    written: list[str] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                db.insert_batch(
                    "notes", [{"title": f"w{i}-{j}", "body": f"writer {i} row {j} zz{i}q{j}"} for j in range(3)]
                )
                written.append(f"w{i}")
                i += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def searcher() -> None:
        try:
            while not stop.is_set():
                for title, body in DOCS:
                    assert titles(db.search("notes", body, k=1)) == [title]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=searcher)]
    for thread in threads:
        thread.start()
    try:
        db.reembed("notes", provider=new_model, chunk_size=16)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert written
    assert_in_new_space(db, new_model)
    assert len(loaded_index(db)) == db.count("notes")
    db.close()


# ---------------------------------------------------------------- fault 11: stale index files


def index_file(path: Path) -> Path:
    return next((path / "default" / "vectors").glob("*.hnsw"))


def test_index_file_copied_from_another_database_is_not_trusted(tmp_path: Path) -> None:
    other = fresh(tmp_path / "other", DOCS)
    other.search("notes", "cat", k=1)
    other.close()
    db = fresh(tmp_path / "db", OTHER + DOCS[:2])  # a longer log, same table and field
    db.search("notes", "cat", k=1)
    db.close()
    shutil.copyfile(index_file(tmp_path / "other"), index_file(tmp_path / "db"))
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        for title, body in OTHER + DOCS[:2]:
            assert titles(db.search("notes", body, k=1)) == [title]
        assert problems(db) == []


def test_index_file_from_a_later_history_than_a_restored_backup_is_not_trusted(tmp_path: Path) -> None:
    db = fresh(tmp_path / "db", DOCS[:3])
    db.close()
    shutil.copytree(tmp_path / "db", tmp_path / "backup")
    db = remlite.connect(tmp_path / "db", embedder="hash")
    for title, body in DOCS[3:]:
        db.insert("notes", {"title": title, "body": body})
    db.search("notes", "cat", k=1)
    db.close()  # index saved at a seq the backup never reached
    newer_file = index_file(tmp_path / "db")
    newer = newer_file.read_bytes()
    shutil.rmtree(tmp_path / "db")
    shutil.copytree(tmp_path / "backup", tmp_path / "db")  # roll back
    db = remlite.connect(tmp_path / "db", embedder="hash")
    for title, body in OTHER:  # a different history, past the newer file's seq
        db.insert("notes", {"title": title, "body": body})
    db.close()  # the index was never loaded: nothing saved
    newer_file.parent.mkdir(parents=True, exist_ok=True)
    newer_file.write_bytes(newer)
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        assert VectorIndex.info(newer_file).seq <= db.last_seq
        for title, body in DOCS[:3] + OTHER:
            assert titles(db.search("notes", body, k=1)) == [title]
        assert problems(db) == []
        assert db.check()["ok"]


def test_an_untouched_index_file_is_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Binding files to the database must not turn every open into a rebuild."""
    db = fresh(tmp_path, DOCS)
    db.search("notes", "cat", k=1)
    db.close()
    db = remlite.connect(tmp_path, embedder="hash")
    db.insert("notes", {"title": "new", "body": "an entirely new kitten story"})
    monkeypatch.setattr(type(field_of(db)), "rebuild", lambda *a, **k: pytest.fail("rebuilt a good index"))
    assert titles(db.search("notes", "an entirely new kitten story", k=1)) == ["new"]
    monkeypatch.undo()
    db.close()


def test_failed_save_leaves_no_tmp_file_and_raises_storage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = VectorIndex(4)
    index.add([1, 2], np.eye(4, dtype=np.float32)[:2])
    target = tmp_path / "a.hnsw"
    index.save(target, seq=1)
    before = target.read_bytes()

    def full_disk(self: VectorStore, fh: Any) -> int:
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VectorStore, "write", full_disk)
    with pytest.raises(StorageError, match="No space"):
        index.save(target, seq=2)
    monkeypatch.setattr(VectorStore, "write", lambda self, fh: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(StorageError, match="boom"):
        index.save(target, seq=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hnsw"]
    assert target.read_bytes() == before


# ---------------------------------------------------------------- the vector integrity check


def test_check_vectors_reports_planted_damage(tmp_path: Path) -> None:
    db = fresh(tmp_path, DOCS)
    assert problems(db) == []
    index = loaded_index(db)
    index.add([10**9], [HashProvider().embed_one("ghost")])  # a label of no row, in the loaded index
    assert any("1000000000" in p for p in problems(db)), "the loaded index's ghost label is not reported"
    field_of(db).save(force=True)
    db.close()
    db = remlite.connect(tmp_path, embedder="hash")
    assert any("1000000000" in p for p in problems(db)), "the saved file's ghost label is not reported"
    assert field_of(db).index is None  # checking the file did not load it for the database
    db.close()
    db = remlite.connect(tmp_path, embedder="hash")
    field_of(db).path.unlink()
    python = bytes.fromhex(db.lookup("python")[0]["id"].replace("-", ""))
    db._core.store.cf["vectors"].delete(field_of(db).prefix + python)  # a live row lost its vector
    rust = bytes.fromhex(db.lookup("rust")[0]["id"].replace("-", ""))
    rust_label = db._core.rownums([rust])[0]
    db._core.store.cf["vectors"].delete(row_label_key(rust_label))  # and one its row label
    db._core.store.cf["vectors"].put(field_of(db).prefix + b"\x01" * 16, np.ones(384, np.float32).tobytes())  # orphan
    cats = bytes.fromhex(db.lookup("cats")[0]["id"].replace("-", ""))
    db._core.store.cf["vectors"].put(field_of(db).prefix + cats, np.ones(7, np.float32).tobytes())  # wrong dimension
    found = problems(db)
    assert any(db.lookup("python")[0]["id"] in p and "no vector" in p for p in found), found
    assert any(db.lookup("rust")[0]["id"] in p and "label" in p for p in found), found
    assert any("01010101" in p for p in found), found
    assert any("dimension" in p or "bytes" in p for p in found), found
    db.close()
