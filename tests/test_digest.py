"""`remlite.ops.digest.state_digest`: equal for databases of one state, different when any logged
or derived key differs (what the replication and backup tests rely on)."""

from __future__ import annotations

from pathlib import Path

import pytest

import remlite
from remlite.ops.digest import state_digest
from remlite.storage import keyspace

NOTES = {
    "name": "notes",
    "properties": {
        "title": {"type": "string"},
        "name": {"type": "string"},
        "body": {"type": "string"},
        "rank": {"type": "integer"},
    },
    "key_field": "title",
    "indexed_fields": ["rank"],
    "embedding_fields": ["body"],
}


def _source(tmp_path: Path) -> remlite.Database:
    db = remlite.connect(tmp_path, "source", embedder="hash")
    db.register_schema(NOTES)
    ids = db.insert_batch(
        "notes", [{"title": f"t{i}", "name": f"n{i}", "body": f"about topic {i}", "rank": i} for i in range(40)]
    )
    db.add_edge(ids[0], ids[1], "links", {"weight": 2})
    db.update(ids[2], {"rank": 99})
    db.delete(ids[3])
    db.delete(ids[4], hard=True)
    return db


def test_a_replayed_copy_has_the_same_digest(tmp_path: Path) -> None:
    source = _source(tmp_path)
    copy = remlite.connect(tmp_path, "copy", embedder="hash")
    copy.apply(source.changes(0, 10_000))
    first, second = state_digest(source), state_digest(copy)
    assert first == second
    assert first["entries"] == source.last_seq and first["last_seq"] == copy.last_seq


@pytest.mark.parametrize(
    ("family", "what"),
    [("rows", "a row"), ("index", "an index entry"), ("keys", "a lookup key"), ("edges_in", "an edge twin"),
     ("postings", "a posting"), ("fuzzy", "a trigram"), ("ids", "an id directory entry")],
)  # fmt: skip
def test_a_missing_key_changes_the_digest(tmp_path: Path, family: str, what: str) -> None:
    source = _source(tmp_path)
    before = state_digest(source)
    store = source._core.store
    key = next(k for k, _ in store.iter_from(family) if family != "fuzzy" or not k.startswith(keyspace.FUZZY_ROW_TAG))
    store.cf[family].delete(key)
    after = state_digest(source)
    assert after["families"][family] != before["families"][family], what
    assert after["digest"] != before["digest"]


def test_local_keys_and_commit_times_are_left_out(tmp_path: Path) -> None:
    source = _source(tmp_path)
    before = state_digest(source)
    meta = source._core.store.cf["meta"]
    meta.put(keyspace.replica_key("r1"), b'{"applied": 3}')
    meta.put(keyspace.DATABASE_ID_KEY, b"another")
    assert state_digest(source) == before
