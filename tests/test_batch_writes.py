"""insert_batch builds a chunk column-wise; it must leave exactly the state that inserting the same
records one at a time leaves, including keys repeated within a chunk and revived soft deletes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import remlite

from .conftest import TASKS

NAMES = ["a", "b", "c", "d", "e"]
STATUSES = ["open", "done", "blocked"]

records = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES), "priority": st.integers(0, 3)},
    optional={
        "status": st.sampled_from(STATUSES),
        "tags": st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
        "owner": st.fixed_dictionaries({"team": st.sampled_from(["red", "blue"])}),
        "created_at": st.sampled_from(["2020-01-01T00:00:00+00:00", "2021-06-01T12:00:00+00:00"]),
    },
)
steps = st.lists(st.one_of(st.lists(records, min_size=1, max_size=8), st.sampled_from(NAMES)), max_size=6)


def state(db: remlite.Database) -> dict[str, Any]:
    """Everything a reader can observe, minus the wall-clock stamps of this run."""
    report = db.check()
    assert report["ok"], report
    rows = {}
    for row in db.scan("tasks"):
        created = row.pop("created_at")
        rows[row.pop("name")] = (row, created if created.startswith("202") and created < "2022" else "now")
        row.pop("modified_at")
    index = {
        "status": {s: sorted(db.get(i)["name"] for i in db.find("tasks", "status", eq=s)) for s in STATUSES},
        "priority": sorted(db.get(i)["name"] for i in db.find("tasks", "priority", gte=1)),
        "tags": sorted(db.get(i)["name"] for i in db.find("tasks", "tags", eq="x")),
        "team": sorted(db.get(i)["name"] for i in db.find("tasks", "owner.team", eq="red")),
    }
    lookups = {name: [hit["id"] for hit in db.lookup(name)] for name in NAMES}
    return {"rows": rows, "count": db.count("tasks"), "index": index, "lookups": lookups}


def apply(db: remlite.Database, plan: list[Any], batched: bool) -> None:
    for step in plan:
        if isinstance(step, str):  # soft-delete that name, if it is live
            hits = db.lookup(step)
            if hits:
                db.delete(hits[0]["id"])
        elif batched:
            db.insert_batch("tasks", step)
        else:
            for record in step:
                db.insert("tasks", record)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_batch_equals_one_at_a_time(tmp_path: Path, plan: list[Any]) -> None:
    root = tmp_path / str(random.random())
    with remlite.connect(root / "batched") as batched, remlite.connect(root / "single") as single:
        for db in (batched, single):
            db.register_schema(TASKS)
        apply(batched, plan, batched=True)
        apply(single, plan, batched=False)
        assert state(batched) == state(single)


def test_large_chunk_with_repeats_and_reverts(tmp_path: Path) -> None:
    """Over the vectorised threshold: 3,000 rows, each name three times (A, B, then A again)."""
    rng = random.Random(7)
    base = [{"name": f"n{i}", "priority": rng.randrange(4), "status": rng.choice(STATUSES)} for i in range(1000)]
    changed = [{**r, "status": "blocked" if r["status"] != "blocked" else "done", "priority": 9} for r in base]
    with remlite.connect(tmp_path / "b") as batched, remlite.connect(tmp_path / "s") as single:
        for db in (batched, single):
            db.register_schema(TASKS)
            db.insert_batch("tasks", base[:500])  # half of them already stored
        ids = batched.insert_batch("tasks", base + changed + base)
        for record in base + changed + base:
            single.insert("tasks", record)
        assert len(ids) == 3000 and ids[:1000] == ids[2000:]
        assert ids[0] == batched.lookup("n0")[0]["id"] == single.lookup("n0")[0]["id"]
        assert state(batched) == state(single)
        assert batched.find("tasks", "priority", eq=9) == []
