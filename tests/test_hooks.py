"""The seams of the tenant core: write hooks built from a table's schema, commit listeners told
after the batch is written, and the facade's verbs as one-line delegations to components."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite.core import on_commit
from remlite.database import Database
from remlite.fuzzy import FuzzyHook
from remlite.graph.edges import EdgeHook
from remlite.hooks import Effects, RowChunk, RowDeletion
from remlite.moments import SpanHook
from remlite.semantic.hooks import TextHook, VectorHook
from remlite.storage.changelog import Entry, RowsDeleted, RowsPut

PLAIN = {"name": "plain", "properties": {"k": {"type": "string"}}, "key_field": "k"}
TEXT = {"name": "texts", "properties": {"body": {"type": "string"}}, "text_fields": ["body"]}
VECTORS = {"name": "vecs", "properties": {"body": {"type": "string"}}, "embedding_fields": ["body"]}
EVENTS = {  # shaped like the moments template, under another name
    "name": "events",
    "properties": {
        "title": {"type": "string"},
        "start_time": {"type": "string", "format": "date-time"},
        "end_time": {"type": ["string", "null"], "format": "date-time"},
        "resource_ids": {"type": "array", "items": {"type": "string"}},
    },
    "indexed_fields": ["start_time", "end_time"],
}


@pytest.fixture
def db(tmp_path: Path) -> Any:
    with remlite.connect(tmp_path, embedder="hash") as handle:
        for schema in (PLAIN, TEXT, VECTORS, EVENTS):
            handle.register_schema(schema)
        yield handle


def kinds(db: Database, table: str) -> set[type]:
    return {type(hook) for hook in db._core.hooks(table)}


def test_hooks_are_built_from_each_tables_schema(db: Database) -> None:
    # inline edges and a hard delete's edges, the trigrams of names and keys: any table
    assert kinds(db, "plain") == {EdgeHook, FuzzyHook}
    assert kinds(db, "texts") == {EdgeHook, FuzzyHook, TextHook}
    assert kinds(db, "vecs") == {EdgeHook, FuzzyHook, TextHook, VectorHook}  # embedded text is also BM25-searchable
    assert kinds(db, "events") == {EdgeHook, FuzzyHook, SpanHook}
    assert kinds(db, "moments") >= {EdgeHook, FuzzyHook, SpanHook}


def test_a_moments_table_is_decided_by_shape_not_name(db: Database) -> None:
    """A user table shaped like moments gets the span statistic and `references` edges."""
    doc = db.insert("plain", {"k": "doc"})
    event = db.insert(
        "events",
        {"title": "t", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-03T00:00:00Z", "resource_ids": [doc]},
    )
    assert [(e["dst"], e["type"]) for e in db.edges(event)] == [(doc, "references")]
    assert [m["id"] for m in db.moments("2026-01-02", "2026-01-02", table="events")] == [event]
    assert db.check()["ok"]


def test_a_schema_change_rebuilds_the_tables_hooks(db: Database) -> None:
    assert kinds(db, "plain") == {EdgeHook, FuzzyHook}
    properties = {"k": {"type": "string"}, "t": {"type": "string"}}
    db.register_schema({**PLAIN, "properties": properties, "text_fields": ["t"]})
    assert kinds(db, "plain") == {EdgeHook, FuzzyHook, TextHook}
    db.insert("plain", {"k": "a", "t": "zebra crossing"})
    assert [r["k"] for r in db.search("plain", "zebra", mode="text")] == ["a"]


class Recorder:
    """A hook that records what the write path hands it, and can fail."""

    def __init__(self) -> None:
        self.chunks: list[RowChunk] = []
        self.deletions: list[RowDeletion] = []
        self.fail = False

    def write(self, chunk: RowChunk) -> None:
        if self.fail:
            raise RuntimeError("hook failed")
        self.chunks.append(chunk)

    def delete(self, deletion: RowDeletion) -> None:
        self.deletions.append(deletion)


def test_hooks_get_the_chunk_the_writer_computed(db: Database) -> None:
    recorder = Recorder()
    db._core.hook_factories.append(lambda layout: recorder if layout.table.name == "plain" else None)
    db._core.forget_table("plain")
    first = db.insert_batch("plain", [{"k": "a"}, {"k": "b"}])
    db.insert("plain", {"k": "a"})  # an upsert: the hook sees the previous version
    db.delete(first[1], hard=True)
    one, two = recorder.chunks
    assert [r["id"] for r in one.records] == first and one.previous is None and one.replay is None
    assert two.previous is not None and two.previous[0]["k"] == "a"
    (deletion,) = recorder.deletions
    assert deletion.hard and deletion.live and deletion.record["id"] == first[1]


def test_a_failing_hook_writes_nothing_and_tells_no_listener(db: Database) -> None:
    recorder, told = Recorder(), []
    db._core.hook_factories.append(lambda layout: recorder)
    db._core.forget_table("texts")
    on_commit(db._core, lambda entry, effects: told.append(entry.seq))
    db.insert("texts", {"body": "kept"})
    seq, count = db.last_seq, db.count("texts")
    recorder.fail = True
    with pytest.raises(RuntimeError, match="hook failed"):
        db.insert("texts", {"body": "lost"})
    assert (db.last_seq, db.count("texts"), told) == (seq, count, [seq])
    assert [r["body"] for r in db.scan("texts")] == ["kept"] and db.check()["ok"]


def test_listeners_are_told_each_commit_with_its_effects(db: Database) -> None:
    told: list[tuple[Entry, Effects]] = []
    on_commit(db._core, lambda entry, effects: told.append((entry, effects)))
    rid = db.insert("plain", {"k": "a"})
    db.delete(rid)
    (put, put_effects), (deleted, delete_effects) = told
    table_id = db._core.registry.get("plain").table_id
    assert isinstance(put, RowsPut) and put_effects.counts == {table_id: 1}
    assert isinstance(deleted, RowsDeleted) and delete_effects.counts == {table_id: 0}
    assert [seq for seq in (put.seq, deleted.seq)] == [db.last_seq - 1, db.last_seq]


def test_every_public_verb_is_a_delegation_to_one_component() -> None:
    """The facade holds lifecycle and one line per verb: every other public function of Database
    wraps a method defined on a component class (not on Database)."""
    lifecycle = {"close", "repair", "check"}
    verbs = {
        name: member
        for name, member in vars(Database).items()
        if not name.startswith("_") and inspect.isfunction(member) and name not in lifecycle
    }
    assert len(verbs) >= 38
    for name, member in verbs.items():
        target = inspect.unwrap(member)
        assert target is not member, name
        owner = target.__qualname__.split(".")[0]
        assert owner != "Database" and target.__name__ == name, (name, target.__qualname__)
