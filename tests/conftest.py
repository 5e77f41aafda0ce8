from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import remlite

TASKS = {
    "name": "tasks",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string", "default": "open"},
        "priority": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}, "default": []},
        "due": {"type": ["string", "null"], "format": "date-time"},
        "owner": {"type": "object", "properties": {"team": {"type": "string"}}},
    },
    "required": ["name", "priority"],
    "key_field": "name",
    "indexed_fields": ["status", "priority", "tags", "due", "owner.team"],
}

NOTES = {
    "name": "notes",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "score": {"type": "number"}},
    "required": ["title"],
    "indexed_fields": ["score"],
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[remlite.Database]:
    database = remlite.connect(tmp_path / "db")
    yield database
    database.close()


@pytest.fixture
def tasks_db(db: remlite.Database) -> remlite.Database:
    db.register_schema(TASKS)
    db.register_schema(NOTES)
    return db
