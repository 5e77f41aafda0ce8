"""One set of library tests run twice: on a local `remlite.connect(path)` and on the remote client
`remlite.connect("http://...", api_key=...)` of a server on loopback. Same method names, same
return shapes, the same `remlite.errors` classes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")  # the `serve` extra; `make test` installs it

import remlite
from remlite.errors import InvalidInput, NotFound, QueryError, UnknownTable, ValidationError
from remlite.serve.app import create_app
from remlite.serve.keys import KeyStore
from tests.test_serve import run_server

NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "stars": {"type": "integer"}, "body": {"type": "string"}},
    "required": ["title"],
    "key_field": "title",
    "indexed_fields": ["stars"],
    "text_fields": ["body"],
}


@pytest.fixture(params=["local", "remote"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "local":
        with remlite.connect(tmp_path, "acme") as local:
            yield local
        return
    runtime = remlite.Runtime()
    key = KeyStore(tmp_path).create("acme")
    server, thread, url = run_server(create_app(tmp_path, runtime=runtime))
    try:
        with remlite.connect(url, api_key=key) as remote:
            yield remote
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()


def test_records(db: Any) -> None:
    assert db.register_schema(NOTES)["name"] == "notes"
    first = db.insert("notes", {"title": "a", "stars": 3, "body": "rate limiting"})
    assert db.insert("notes", {"title": "a", "stars": 4}) == first  # upsert on the natural key
    ids = db.insert_batch("notes", [{"title": "b", "stars": 1}, {"title": "c", "stars": 5, "body": "retries"}])
    assert len(ids) == 2 and db.get(first)["stars"] == 4
    assert db.update(ids[0], {"stars": 2})["stars"] == 2
    assert [r["title"] for r in db.list("notes", limit=10)] == sorted(
        ["a", "b", "c"], key=lambda t: db.lookup(t)[0]["id"]
    )
    db.delete(ids[1])
    with pytest.raises(NotFound):
        db.get(ids[1])
    assert {s["name"] for s in db.schemas()} >= {"notes"} and db.schema("notes")["count"] == 2
    assert db.lookup("b")[0]["id"] == ids[0]


def test_queries_and_graph(db: Any) -> None:
    db.register_schema(NOTES)
    a, b, c = db.insert_batch("notes", [{"title": t, "stars": s, "body": x} for t, s, x in
                                        [("a", 1, "rate limiting"), ("b", 2, "limits"), ("c", 3, "cats")]])  # fmt: skip
    result = db.sql("SELECT title FROM notes WHERE stars >= ? ORDER BY stars", [2])
    assert result.columns == ["title"] and result.rows == [{"title": "b"}, {"title": "c"}] and len(result) == 2
    assert db.explain("SELECT title FROM notes WHERE stars = 2", format="json")["plan"]["step"] == "project"
    assert "index notes.stars" in db.explain("SELECT title FROM notes WHERE stars = 2")
    assert db.search("notes", "rate limiting", k=1, mode="text")[0]["title"] == "a"
    db.add_edge(a, b, "links")
    db.add_edge(b, c, "links")
    assert [r["title"] for r in db.traverse(a, depth=2)] == ["b", "c"]
    assert [e["dst"] for e in db.edges(a)] == [b]
    db.insert("moments", {"name": "standup", "start_time": "2026-11-30T09:00:00Z", "tags": ["team"]})
    assert [m["name"] for m in db.moments("2026-11-29T00:00:00Z", "2026-12-02T00:00:00Z", tags=["team"])] == ["standup"]
    entries = db.changes(0, 1000)
    assert entries and [e.seq for e in entries] == sorted(e.seq for e in entries)


def test_errors_are_the_same_classes(db: Any) -> None:
    db.register_schema(NOTES)
    with pytest.raises(NotFound):
        db.get("no-such-record")
    with pytest.raises(ValidationError):
        db.insert("notes", {"title": 5})
    with pytest.raises(UnknownTable):
        db.insert("nope", {"a": 1})
    with pytest.raises(QueryError) as error:
        db.sql("SELECT title FROM notes\nWHERE frobnicate(stars) > 1")
    assert (error.value.details.get("line"), error.value.details.get("col")) == (2, 7)
    with pytest.raises(UnknownTable):
        db.sql("SELECT * FROM nope")
    with pytest.raises(InvalidInput):
        db.traverse("not-an-id", direction="sideways")
    assert db.sql("SELECT COUNT(*) AS n FROM notes").rows == [{"n": 0}]  # nothing written by the failures


def test_edges_paths_counts_and_ingest(db: Any, tmp_path: Path) -> None:
    db.register_schema(NOTES)
    a, b, c = db.insert_batch("notes", [{"title": t} for t in "abc"])
    assert db.add_edges([(a, b, "links"), {"src": b, "dst": c, "type": "links", "properties": {"w": 2}}]) == 2
    assert db.shortest_path(a, c) == [a, b, c] and db.all_paths(a, c, max_depth=3) == [[a, b, c]]
    assert db.remove_edge(b, c, "links") is True and db.remove_edge(b, c, "links") is False
    assert db.shortest_path(a, c) == [] or db.shortest_path(a, c) is None
    assert db.count("notes") == 3
    docs = tmp_path / "upload-src"
    (docs / "guide").mkdir(parents=True)
    (docs / "guide" / "limits.md").write_text("# Limits\n\nOne hundred requests a minute per key.\n")
    (docs / "retries.txt").write_text("Retry with exponential backoff after a 429.\n")
    first = db.ingest(docs)
    assert (first.files, first.changed_files, first.skipped) == (2, 2, []) and first.new >= 2
    again = db.ingest(docs)  # the same names again: nothing changed, nothing written
    assert (again.files, again.changed_files, again.written) == (2, 0, 0)
    assert db.search("resources", "backoff", k=1, mode="text")[0]["content"].startswith("Retry")


def test_a_bad_record_in_a_batch_is_the_same_error(db: Any) -> None:
    db.register_schema(NOTES)
    with pytest.raises(ValidationError) as error:
        db.insert_batch("notes", [{"title": "ok"}, {"title": 5}])
    assert error.value.details["record"] == 1 and error.value.message.startswith("record 1:")
    assert db.count("notes") == 0  # nothing of the batch was written
