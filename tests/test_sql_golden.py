"""Golden files for the SQL dialect: each `tests/fixtures/sql/NAME.sql` runs against the fixed dataset
below and must give `NAME.json`: {"columns", "rows", "ordered"} or {"error": {class, message, line,
col}}. A first line `-- params: JSON` passes parameters, `-- include_deleted` reads deleted rows.

Rows are compared in order when the query orders them (ORDER BY, search, EXPLAIN), else as a
multiset; floats are rounded to 6 places; `modified_at` / `deleted_at` values (the clock at load
time) read as "<modified_at>" / "<deleted_at>". To rewrite the expected files after an intended
change, run `REMLITE_SQL_GOLDEN=update pytest tests/test_sql_golden.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite.errors import RemliteError

FIXTURES = Path(__file__).parent / "fixtures" / "sql"
CASES = sorted(p.stem for p in FIXTURES.glob("*.sql"))

TASKS = {
    "name": "tasks",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string"},
        "priority": {"type": "integer"},
        "due": {"type": ["string", "null"], "format": "date-time"},
        "owner": {"type": "object", "properties": {"team": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}, "default": []},
        "estimate": {"type": ["number", "null"]},
        "done": {"type": "boolean", "default": False},
    },
    "required": ["name", "status", "priority"],
    "key_field": "name",
    "indexed_fields": ["status", "priority", "due", "owner.team", "tags"],
}
PEOPLE = {
    "name": "people",
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "name": {"type": "string"},
        "team": {"type": "string"},
        "age": {"type": "integer"},
    },
    "required": ["email", "name"],
    "key_field": "email",
    "indexed_fields": ["team"],
}
NOTES = {
    "name": "notes",
    "type": "object",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "stars": {"type": "integer"}},
    "required": ["title", "body"],
    "key_field": "title",
    "indexed_fields": ["stars"],
    "embedding_fields": ["body"],
}
GADGETS = {
    "name": "gadgets",
    "type": "object",
    "properties": {"sku": {"type": "string"}, "color": {"type": "string"}, "weight": {"type": "number"}},
    "required": ["sku"],
    "additionalProperties": False,
    "key_field": "sku",
}


def _task(name: str, status: str, priority: int, team: str, day: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "priority": priority,
        "owner": {"team": team},
        "created_at": f"2025-01-{day:02d}T09:00:00Z",
        **extra,
    }


def load(db: remlite.Database) -> None:
    """The fixed dataset every golden file runs against."""
    for schema in (TASKS, PEOPLE, NOTES, GADGETS):
        db.register_schema(schema)
    db.insert_batch(
        "tasks",
        [
            _task("write docs", "open", 2, "web", 3, due="2025-03-01T12:00:00Z", tags=["docs"], estimate=3.5),
            _task("fix login", "blocked", 5, "web", 4, due="2025-02-10T08:00:00Z", tags=["bug", "auth"], estimate=1),
            _task("ship v1", "active", 4, "infra", 5, due="2025-04-01T00:00:00Z", estimate=8),
            _task("tune cache", "active", 3, "infra", 6, tags=["perf"]),
            _task("select * from where", "open", 1, "web", 7, estimate=0.5),
            _task("review PR", "done", 2, "infra", 8, due="2025-01-20T17:30:00Z", done=True, estimate=2),
            _task("plan Q2", "active", 5, "web", 9, due="2025-03-31T23:00:00+02:00"),
            _task("old task", "done", 1, "infra", 2, done=True),
            {
                "name": "legacy",
                "status": "open",
                "priority": 3,
                "owner": {"team": "ops"},
                "created_at": "2024-12-30T10:00:00Z",
            },
        ],
    )
    db.insert_batch(
        "people",
        [
            {"email": "ann@example.com", "name": "Ann", "team": "web", "age": 34, "created_at": "2025-01-01T08:00:00Z"},
            {
                "email": "bob@example.com",
                "name": "Bob",
                "team": "infra",
                "age": 41,
                "created_at": "2025-01-01T08:00:01Z",
            },
            {"email": "cho@example.com", "name": "Cho", "team": "web", "age": 29, "created_at": "2025-01-01T08:00:02Z"},
            {
                "email": "dee@example.com",
                "name": "Dee",
                "team": "data",
                "age": 38,
                "created_at": "2025-01-01T08:00:03Z",
            },
        ],
    )
    db.insert_batch(
        "entities",
        [
            {
                "key": "acme",
                "name": "Acme",
                "entity_type": "company",
                "created_at": "2025-02-01T00:00:00Z",
                "properties": {"status": "active", "priority": 5},
            },
            {
                "key": "globex",
                "name": "Globex",
                "entity_type": "company",
                "created_at": "2025-02-02T00:00:00Z",
                "properties": {"status": "active", "priority": "7"},
            },
            {
                "key": "initech",
                "name": "Initech",
                "entity_type": "company",
                "created_at": "2024-11-01T00:00:00Z",
                "properties": {"status": "active", "priority": 2},
            },
            {
                "key": "hooli",
                "name": "Hooli",
                "entity_type": "company",
                "created_at": "2025-02-03T00:00:00Z",
                "properties": {"status": "dormant", "priority": 9},
            },
        ],
    )
    db.insert_batch(
        "notes",
        [
            {
                "title": "fox",
                "body": "the quick brown fox jumps over the lazy dog",
                "stars": 3,
                "created_at": "2025-01-10T00:00:00Z",
            },
            {"title": "dog", "body": "a lazy dog sleeps all day", "stars": 1, "created_at": "2025-01-11T00:00:00Z"},
            {"title": "cat", "body": "the cat watches the quick fox", "stars": 2, "created_at": "2025-01-12T00:00:00Z"},
            {"title": "bird", "body": "birds sing at dawn", "stars": 5, "created_at": "2025-01-13T00:00:00Z"},
        ],
    )
    db.insert_batch("gadgets", [{"sku": "g-1", "color": "red", "weight": 1.5, "created_at": "2025-01-01T00:00:00Z"}])
    ids = {r["name"]: r["id"] for r in db.sql("SELECT id, name FROM tasks")}
    people = {r["email"]: r["id"] for r in db.sql("SELECT id, email FROM people")}
    db.add_edge(people["ann@example.com"], ids["write docs"], "owns", {"since": 2024})
    db.add_edge(people["ann@example.com"], ids["fix login"], "owns")
    db.add_edge(people["bob@example.com"], ids["ship v1"], "owns")
    db.add_edge(people["bob@example.com"], people["ann@example.com"], "mentors")
    db.delete(ids["old task"])


@pytest.fixture(scope="module")
def golden_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[remlite.Database]:
    db = remlite.connect(tmp_path_factory.mktemp("golden") / "db", embedder="hash")
    load(db)
    yield db
    db.close()


def _clean(value: Any, column: str) -> Any:
    if value is not None and column.split(".")[-1] in ("modified_at", "deleted_at"):
        return f"<{column.split('.')[-1]}>"
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _clean(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, column) for v in value]
    return value


def run_case(db: remlite.Database, name: str) -> dict[str, Any]:
    text = (FIXTURES / f"{name}.sql").read_text()
    first = text.splitlines()[0] if text.strip() else ""
    params = json.loads(first.split(":", 1)[1]) if first.startswith("-- params:") else None
    db._sql.engine().cache.clear()  # EXPLAIN says whether the column cache was warm
    try:
        result = db.sql(text, params, include_deleted=first.startswith("-- include_deleted"))
    except RemliteError as exc:
        return {"error": {"class": type(exc).__name__, "message": exc.message, **exc.details}}
    rows = [{c: _clean(r[c], c) for c in result.columns} for r in result.rows]
    upper = text.upper()
    ordered = any(w in upper for w in ("ORDER BY", "EXPLAIN", "SEARCH", "TRAVERSE", "SIMILAR(", "MATCH(", "COSINE("))
    if not ordered:
        rows.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return {"columns": result.columns, "rows": rows, "ordered": ordered}


def expected(name: str, got: dict[str, Any]) -> dict[str, Any]:
    path = FIXTURES / f"{name}.json"
    if os.environ.get("REMLITE_SQL_GOLDEN") == "update":
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False, default=str) + "\n")
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", CASES)
def test_golden(golden_db: remlite.Database, name: str) -> None:
    assert (got := json.loads(json.dumps(run_case(golden_db, name), default=str))) == expected(name, got)


def test_every_sql_file_has_its_expected_result() -> None:
    assert CASES and all((FIXTURES / f"{name}.json").exists() for name in CASES)
