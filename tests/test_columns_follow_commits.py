"""The column cache follows commits: a write appends the changed rows' new versions instead of
dropping the table's columns, and every answer equals the one a fresh scan gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

import remlite

ITEMS = {
    "name": "items",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string"},
        "amount": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {},
    },
    "key_field": "name",
    "indexed_fields": ["status"],
}
QUERIES = [
    "SELECT status, COUNT(*) AS n, SUM(amount) AS total FROM items GROUP BY status ORDER BY status",
    "SELECT name, amount FROM items WHERE amount > 50 ORDER BY name",
    "SELECT COUNT(*) AS n, MAX(amount) AS top FROM items",
    "SELECT DISTINCT status FROM items ORDER BY status",
    "SELECT name, note FROM items ORDER BY name LIMIT 30",
]


@pytest.fixture
def db(tmp_path: Path) -> Any:
    with remlite.connect(tmp_path) as handle:
        handle.register_schema(ITEMS)
        handle.insert_batch("items", [row(i, random.Random(i)) for i in range(300)])
        yield handle


def row(i: int, rng: random.Random) -> dict[str, Any]:
    return {
        "name": f"n{i:04d}",
        "status": rng.choice(["a", "b", "c"]),
        "amount": rng.randrange(100),
        "tags": [rng.choice("xyz")],
        "note": rng.choice([None, 1, "one", {"k": 1}]),
    }


def answers(db: Any, include_deleted: bool = False) -> list[list[dict[str, Any]]]:
    return [db.sql(q, include_deleted=include_deleted).rows for q in QUERIES]


def scanned(db: Any, include_deleted: bool = False) -> list[list[dict[str, Any]]]:
    engine = db._sql.engine()
    engine.use_cache = False
    try:
        return answers(db, include_deleted)
    finally:
        engine.use_cache = True


def test_writes_are_followed_without_a_rescan(db: Any) -> None:
    engine = db._sql.engine()
    assert answers(db) == scanned(db)
    builds = engine.cache.builds
    names = [f"n{i:04d}" for i in range(300)]
    db.insert("items", {"name": "new", "status": "d", "amount": 99, "tags": [], "note": "x"})
    db.insert("items", {"name": names[3], "status": "a", "amount": 1000, "tags": ["q"], "note": None})  # upsert
    db.update(db.lookup(names[4])[0]["id"], {"amount": 7})
    db.delete(db.lookup(names[5])[0]["id"])  # soft
    db.delete(db.lookup(names[6])[0]["id"], hard=True)
    assert answers(db) == scanned(db)
    assert answers(db, include_deleted=True) == scanned(db, include_deleted=True)
    assert engine.cache.builds == builds  # followed, not rebuilt
    assert "warm" in db.explain(QUERIES[0])


def test_a_value_the_column_cannot_hold_rebuilds_it(db: Any) -> None:
    answers(db)
    builds = db._sql.engine().cache.builds
    db.insert("items", {"name": "odd", "status": "a", "amount": 1.5, "tags": [], "note": None})  # int column, float
    assert answers(db) == scanned(db)
    assert db._sql.engine().cache.builds > builds
    builds = db._sql.engine().cache.builds
    db.insert("items", {"name": "odder", "status": "a", "amount": 2, "tags": [], "note": None})  # float column, int
    assert answers(db) == scanned(db) and db._sql.engine().cache.builds == builds


def test_a_schema_change_rebuilds(db: Any) -> None:
    answers(db)
    builds = db._sql.engine().cache.builds
    db.register_schema({**ITEMS, "indexed_fields": ["status", "amount"]})
    assert answers(db) == scanned(db) and db._sql.engine().cache.builds > builds


@pytest.mark.parametrize("seed", range(6))
def test_a_random_workload_answers_as_a_scan(db: Any, seed: int) -> None:
    rng = random.Random(seed)
    for step in range(120):
        if step % 10 == 0:
            assert answers(db) == scanned(db), step
        live = [r["id"] for r in db.scan("items")]
        op = rng.random()
        if op < 0.4:
            db.insert("items", row(rng.randrange(400), rng))
        elif op < 0.55 and live:
            db.update(rng.choice(live), {"amount": rng.randrange(100), "status": rng.choice("abc")})
        elif op < 0.7 and live:
            db.delete(rng.choice(live), hard=rng.random() < 0.5)
        elif op < 0.75:
            db.insert_batch("items", [row(rng.randrange(400), rng) for _ in range(rng.randrange(1, 40))])
        else:
            db.sql(rng.choice(QUERIES))  # reads between writes apply what is pending
    assert answers(db) == scanned(db)
    assert answers(db, include_deleted=True) == scanned(db, include_deleted=True)
