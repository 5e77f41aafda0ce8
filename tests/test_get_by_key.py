"""`db.get(table, key)` and `db.get("TAP-1234")`: records by natural key, not only by id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import remlite
from remlite.errors import InvalidId, InvalidInput, NotFound

TICKETS = {
    "name": "tickets",
    "properties": {"code": {"type": "string"}, "title": {"type": "string"}},
    "key_field": "code",
}
PAIRS = {
    "name": "pairs",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    "key_field": ["a", "b"],
}


@pytest.fixture
def db(tmp_path: Any) -> Iterator[Any]:
    with remlite.connect(tmp_path) as handle:
        handle.register_schema(TICKETS)
        handle.register_schema(PAIRS)
        yield handle


def test_get_by_table_and_key(db: Any) -> None:
    rid = db.insert("tickets", {"code": "TAP-1234", "title": "login fails"})
    assert db.get("tickets", "TAP-1234")["id"] == rid
    pid = db.insert("pairs", {"a": "x", "b": 2})
    assert db.get("pairs", ["x", 2])["id"] == pid
    with pytest.raises(NotFound):
        db.get("tickets", "TAP-9999")
    with pytest.raises(InvalidInput, match="2 fields"):
        db.get("pairs", "x")
    with pytest.raises(InvalidInput, match="no natural key"):
        db.get("moments", "x")


def test_get_by_a_key_alone_when_it_names_one_record(db: Any) -> None:
    rid = db.insert("tickets", {"code": "TAP-1234", "title": "login fails"})
    assert db.get("TAP-1234") == db.get(rid)
    with pytest.raises(NotFound, match="TAP-0000"):
        db.get("TAP-0000")
    db.insert("resources", {"uri": "u", "name": "TAP-1234", "content": "the ticket's page"})  # a name too
    with pytest.raises(InvalidInput, match="2 records"):
        db.get("TAP-1234")
    with pytest.raises(InvalidId):
        db.get(42)


def test_a_deleted_record_is_not_found_by_key(db: Any) -> None:
    rid = db.insert("tickets", {"code": "TAP-1", "title": "t"})
    db.delete(rid)
    with pytest.raises(NotFound):
        db.get("tickets", "TAP-1")
    assert db.get("tickets", "TAP-1", include_deleted=True)["id"] == rid
