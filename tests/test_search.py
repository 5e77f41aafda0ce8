"""The semantic layer through the Database: embedding on write, vector/text/hybrid search,
pre-filtering, updates and deletes reflected at once, and derived indexes rebuilt after crashes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import remlite
from remlite.errors import InvalidInput, QueryError
from remlite.vector import VectorIndex

DOCS = [
    ("cats", "the cat sat on the mat and purred at the kitten"),
    ("dogs", "dogs chase cats around the park every morning"),
    ("stocks", "stock markets crashed after the central bank raised rates"),
    ("python", "python is a programming language with dynamic typing"),
    ("rust", "rust is a systems programming language without a garbage collector"),
    ("kitten", "a kitten sleeps on a warm rug near the fire"),
]
NOTES = {
    "name": "notes",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "topic": {"type": "string"},
        "rank": {"type": "integer"},
    },
    "required": ["title"],
    "key_field": "title",
    "indexed_fields": ["topic", "rank"],
    "embedding_fields": ["body"],
}


@pytest.fixture
def sdb(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = remlite.connect(tmp_path / "db", embedder="hash")
    db.register_schema(NOTES)
    db.insert_batch(
        "notes",
        [
            {"title": t, "body": b, "topic": "animals" if i in (0, 1, 5) else "other", "rank": i}
            for i, (t, b) in enumerate(DOCS)
        ],
    )
    yield db
    db.close()


def titles(rows: list[dict]) -> list[str]:
    return [r["title"] for r in rows]


def test_vector_text_and_hybrid_modes(sdb: remlite.Database) -> None:
    vector = sdb.search("notes", "a cat and a kitten", k=3)
    assert vector[0]["title"] in ("cats", "kitten") and len(vector) == 3
    assert all(a["_score"] >= b["_score"] for a, b in itertools.pairwise(vector))
    text = sdb.search("notes", "programming language", k=5, mode="text")
    assert set(titles(text)) == {"python", "rust"}
    hybrid = sdb.search("notes", "programming language", k=2, mode="hybrid")
    assert set(titles(hybrid)) == {"python", "rust"}
    assert {"_vector_score", "_text_score"} <= set(hybrid[0])


def test_where_prefilters_and_returns_k(sdb: remlite.Database) -> None:
    rows = sdb.search("notes", "a cat and a kitten", k=3, where="topic = 'other'")
    assert len(rows) == 3 and {r["topic"] for r in rows} == {"other"}
    rows = sdb.search("notes", "cats", k=10, where="rank >= ? AND topic = :t".replace(":t", "'animals'"), params=[1])
    assert set(titles(rows)) == {"dogs", "kitten"}
    rows = sdb.search("notes", "cats", k=10, where="body LIKE '%rug%'")  # not indexed: scan
    assert titles(rows) == ["kitten"]
    assert sdb.search("notes", "cats", where="topic = 'none'") == []
    with pytest.raises(QueryError):
        sdb.search("notes", "cats", where="topic = ")


def test_updates_and_deletes_are_reflected_at_once(sdb: remlite.Database) -> None:
    cats = sdb.lookup("cats")[0]["id"]
    sdb.update(cats, {"body": "quarterly earnings and interest rates"})
    assert "cats" not in titles(sdb.search("notes", "purred at the kitten", k=2, mode="text"))
    assert titles(sdb.search("notes", "earnings interest rates", k=1, mode="text")) == ["cats"]
    sdb.delete(cats)
    assert "cats" not in titles(sdb.search("notes", "earnings interest rates", k=10))
    assert "cats" not in titles(sdb.search("notes", "earnings interest rates", k=10, mode="text"))
    kitten = sdb.lookup("kitten")[0]["id"]
    sdb.delete(kitten, hard=True)
    assert "kitten" not in titles(sdb.search("notes", "kitten rug", k=10, mode="hybrid"))
    assert sdb.check()["ok"]


def test_update_of_other_fields_does_not_reembed(sdb: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    python = sdb.lookup("python")[0]["id"]
    provider = sdb._core.vectors("notes").provider("body")
    monkeypatch.setattr(provider, "embed", lambda texts: pytest.fail("re-embedded an unchanged field"))
    sdb.update(python, {"rank": 99})
    assert sdb.search("notes", "python programming", k=1, mode="text")[0]["rank"] == 99


def test_precomputed_vectors(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(dict(NOTES, name="vecs"))
        rng = np.random.default_rng(1)
        matrix = rng.normal(size=(50, 8)).astype(np.float32)
        ids = db.insert_batch(
            "vecs", [{"title": f"v{i}", "body": "x", "rank": i} for i in range(50)], vectors={"body": matrix}
        )
        hits = db.search("vecs", matrix[7], k=1)
        assert hits[0]["id"] == ids[7] and hits[0]["_score"] == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(InvalidInput, match="8-d"):
            db.insert("vecs", {"title": "bad", "body": "x"}, vectors={"body": [1.0, 2.0]})
        with pytest.raises(InvalidInput, match="not embedding fields"):
            db.insert("vecs", {"title": "bad"}, vectors={"title": [1.0] * 8})
        with pytest.raises(InvalidInput, match="has dimension 2 but the index has dimension 8"):
            db.search("vecs", [1.0, 2.0])
        assert db.count("vecs") == 50


def test_stored_vectors_read_back_by_id(sdb: remlite.Database) -> None:
    rows = sdb.list("notes", limit=10)
    untitled = sdb.insert("notes", {"title": "no body"})  # no text to embed: no vector
    ids = [rows[2]["id"], untitled, rows[0]["id"]]
    vectors = sdb.vectors("notes", ids)
    expected = remlite.embed.get_provider("hash").embed([rows[2]["body"], rows[0]["body"]])
    assert vectors[1] is None and np.allclose(np.stack([vectors[0], vectors[2]]), expected, atol=1e-6)
    assert sdb.vectors("notes", ids, field="body")[0] @ vectors[0] == pytest.approx(1.0, abs=1e-5)
    assert sdb.vectors("notes", []) == []
    with pytest.raises(InvalidInput, match="not one of its embedding fields"):
        sdb.vectors("notes", ids, field="title")
    with pytest.raises(InvalidInput, match="list of ids"):
        sdb.vectors("notes", ids[0])


def test_bad_search_arguments(sdb: remlite.Database) -> None:
    with pytest.raises(InvalidInput, match="mode"):
        sdb.search("notes", "x", mode="fuzzy")
    with pytest.raises(InvalidInput, match="k must"):
        sdb.search("notes", "x", k=0)
    with pytest.raises(InvalidInput, match="not one of"):
        sdb.search("notes", "x", field="title")
    with pytest.raises(InvalidInput, match="no embedding"):
        sdb.search("tasks_missing" if False else "sessions", "x")
    dim = sdb.index_status("notes")[0]["dimension"]
    for bad in ([1e300] + [0.0] * (dim - 1), [float("nan")] * dim, [float("inf")] + [0.0] * (dim - 1)):
        with pytest.raises(InvalidInput, match="finite"):  # not an overflow warning and ranks of NaN
            sdb.search("notes", bad)
        with pytest.raises(InvalidInput, match="finite"):
            sdb.insert("notes", {"title": "bad vector", "body": "x"}, vectors={"body": bad})


def test_index_file_catch_up_and_torn_file_rebuild(tmp_path: Path) -> None:
    db = remlite.connect(tmp_path, embedder="hash")
    db.register_schema(NOTES)
    db.insert_batch("notes", [{"title": t, "body": b} for t, b in DOCS])
    assert db.search("notes", "kitten rug", k=1)[0]["title"] == "kitten"
    db.close()  # saves the index at the current sequence
    index_file = next((tmp_path / "default" / "vectors").glob("*.hnsw"))
    db = remlite.connect(tmp_path, embedder="hash")
    db.insert("notes", {"title": "new", "body": "an entirely new kitten story"})  # index not loaded
    db._core.store.close()  # no save: the file is now behind the log
    db = remlite.connect(tmp_path, embedder="hash")
    assert "new" in titles(db.search("notes", "entirely new kitten story", k=2))
    db.close()
    index_file.write_bytes(index_file.read_bytes()[:100])  # torn
    db = remlite.connect(tmp_path, embedder="hash")
    assert set(titles(db.search("notes", "kitten", k=7))) == {t for t, _ in DOCS} | {"new"}
    db.close()


def test_truncated_wal_never_strands_a_vector_index(tmp_path: Path) -> None:
    """truncate_wal saves every vector index at the current seq first; an index file older than
    the log's floor (restored from a backup, say) is rebuilt instead of caught up."""
    db = remlite.connect(tmp_path, embedder="hash")
    db.register_schema(NOTES)
    db.insert_batch("notes", [{"title": t, "body": b} for t, b in DOCS[:4]])
    assert len(db.search("notes", "kitten", k=10)) == 4  # loads the index; close saves it
    db.close()
    index_file = next((tmp_path / "default" / "vectors").glob("*.hnsw"))
    stale = index_file.read_bytes()  # reflects only the first four rows
    db = remlite.connect(tmp_path, embedder="hash")
    db.insert_batch("notes", [{"title": t, "body": b} for t, b in DOCS[4:]])  # index not loaded
    assert db.truncate_wal(keep=0)["removed"] > 0
    assert VectorIndex.load(index_file)[1] == db.last_seq  # checkpointed: no rebuild needed
    db._core.store.close()  # no save on close: truncate_wal must already have saved it
    db = remlite.connect(tmp_path, embedder="hash")
    assert set(titles(db.search("notes", "kitten", k=len(DOCS)))) == {t for t, _ in DOCS}
    db.close()
    index_file.write_bytes(stale)
    db = remlite.connect(tmp_path, embedder="hash")
    db.insert("notes", {"title": "late", "body": "a late kitten"})
    assert set(titles(db.search("notes", "kitten", k=len(DOCS) + 1))) == {t for t, _ in DOCS} | {"late"}
    db.close()


WRITER = """
import sys, remlite
db = remlite.connect(sys.argv[1], embedder="hash")
db.register_schema({schema!r})
i = 0
while True:
    rows = [{{"title": f"b{{i}}-{{j}}", "body": f"batch {{i}} row {{j}} zebra{{i}}x{{j}}"}} for j in range(20)]
    db.insert_batch("notes", rows)
    if i == 3:
        db.search("notes", "zebra", k=1)  # load the index, so later writes also go to it
    print(f"ack {{i}}", flush=True)
    i += 1
"""


def test_kill_9_loses_no_searchable_row(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(schema=NOTES))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "db")], stdout=subprocess.PIPE, text=True, env=env
    )
    acked = []
    assert child.stdout is not None
    for line in child.stdout:
        acked.append(int(line.split()[1]))
        if len(acked) >= 12:
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        for batch in acked[::3]:
            for j in (0, 19):
                title = f"b{batch}-{j}"
                token = f"zebra{batch}x{j}"
                assert titles(db.search("notes", token, k=1, mode="text")) == [title]
                assert titles(db.search("notes", f"batch {batch} row {j} {token}", k=1)) == [title]
        assert db.check()["ok"]


def test_reembed_switches_to_a_new_version(sdb: remlite.Database) -> None:
    before = sdb.index_status("notes")
    vector_status = next(s for s in before if s["kind"] == "vector")
    assert vector_status["version"] == 1 and vector_status["vectors"] == len(DOCS)
    progress: list[int] = []
    result = sdb.reembed("notes", provider="hash", progress=lambda done, total: progress.append(done))
    assert result["version"] == 2 and result["rows"] == len(DOCS) and progress[-1] == len(DOCS)
    after = next(s for s in sdb.index_status("notes") if s["kind"] == "vector")
    assert after["version"] == 2 and after["vectors"] == len(DOCS)
    assert sdb.search("notes", "a kitten sleeps on a warm rug", k=1)[0]["title"] == "kitten"
    assert sdb.rebuild_index("notes") == {"body": len(DOCS)}
    text_status = next(s for s in sdb.index_status("notes") if s["kind"] == "text")
    assert text_status["documents"] == len(DOCS)
    assert sdb.check()["ok"]


def test_one_percent_filter_returns_exactly_k(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    matrix = rng.normal(size=(n, 16)).astype(np.float32)
    with remlite.connect(tmp_path, embedder="hash") as db:
        db.register_schema(dict(NOTES, name="many"))
        topics = ["rare" if i % 100 == 7 else "common" for i in range(n)]
        rows = [{"title": f"r{i}", "body": "x", "topic": topic, "rank": i} for i, topic in enumerate(topics)]
        db.insert_batch("many", rows, vectors={"body": matrix})
        for query in rng.normal(size=(20, 16)).astype(np.float32):
            hits = db.search("many", query, k=10, where="topic = 'rare'")
            assert len(hits) == 10 and {h["topic"] for h in hits} == {"rare"}
            rare = np.array([i % 100 == 7 for i in range(n)])
            unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
            scores = unit[rare] @ (query / np.linalg.norm(query))
            expected = {f"r{i}" for i in np.flatnonzero(rare)[np.argsort(-scores)[:10]]}
            assert {h["title"] for h in hits} == expected
        assert len(db.search("many", matrix[0], k=50, where="topic = 'rare' AND rank < 1000")) == 10
