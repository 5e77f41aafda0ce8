from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

import remlite
from remlite.errors import InvalidId, InvalidInput, NotFound, SchemaError, ValidationError


def test_insert_get_system_fields(tasks_db: remlite.Database) -> None:
    rid = tasks_db.insert("tasks", {"name": "write docs", "priority": 2})
    record = tasks_db.get(rid)
    assert record["id"] == rid and uuid.UUID(rid).version == 5
    assert record["status"] == "open"  # schema default applied
    assert record["created_at"] == record["modified_at"] and record["deleted_at"] is None
    assert datetime.fromisoformat(record["created_at"]).tzinfo is not None


def test_natural_key_insert_is_upsert(tasks_db: remlite.Database) -> None:
    first = tasks_db.insert("tasks", {"name": "a", "priority": 1, "status": "open"})
    created = tasks_db.get(first)["created_at"]
    second = tasks_db.insert("tasks", {"name": "a", "priority": 5, "status": "done"})
    assert first == second and tasks_db.count("tasks") == 1
    record = tasks_db.get(first)
    assert record["priority"] == 5 and record["created_at"] == created and record["modified_at"] > created
    assert tasks_db.find("tasks", "status", eq="open") == []
    assert tasks_db.find("tasks", "status", eq="done") == [first]
    assert tasks_db.check()["ok"]


def test_ids_are_deterministic_per_tenant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import TASKS

    ids = []
    for tenant in ("acme", "acme", "globex"):
        with remlite.connect(tmp_path / tenant, tenant=tenant) as db:
            db.register_schema(TASKS)
            ids.append(db.insert("tasks", {"name": "same", "priority": 1}))
    assert ids[0] == ids[1] != ids[2]


def test_resource_id_derives_from_uri_and_ordinal(db: remlite.Database) -> None:
    a = db.insert("resources", {"uri": "file:///a.md", "chunk_ordinal": 0, "content": "x"})
    b = db.insert("resources", {"uri": "file:///a.md", "chunk_ordinal": 1, "content": "y"})
    again = db.insert("resources", {"uri": "file:///a.md", "chunk_ordinal": 0, "content": "x2"})
    assert a == again != b and db.count("resources") == 2
    assert {r["id"] for r in db.lookup("file:///a.md")} == {a, b}


def test_records_without_key_get_time_ordered_ids(tasks_db: remlite.Database) -> None:
    ids = [tasks_db.insert("notes", {"title": f"n{i}"}) for i in range(5)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [r["id"] for r in tasks_db.scan("notes")] == ids


def test_insert_batch_returns_ids_in_order_and_dedupes_keys(tasks_db: remlite.Database) -> None:
    rows = [{"name": f"t{i % 10}", "priority": i} for i in range(25)]
    ids = tasks_db.insert_batch("tasks", rows, chunk_size=7)
    assert len(ids) == 25 and ids[0] == ids[10] == ids[20]
    assert tasks_db.count("tasks") == 10
    assert tasks_db.get(ids[0])["priority"] == 20  # last write wins
    assert sorted(tasks_db.find("tasks", "priority", gte=15)) == sorted(set(ids[15:]))
    assert tasks_db.check()["ok"]


def test_bad_record_in_batch_writes_nothing(tasks_db: remlite.Database) -> None:
    seq = tasks_db.last_seq
    rows = [{"name": f"t{i}", "priority": i} for i in range(100)] + [{"name": "bad", "priority": "high"}]
    with pytest.raises(ValidationError) as err:
        tasks_db.insert_batch("tasks", rows, chunk_size=10)
    assert err.value.details["record"] == 100 and err.value.field == "priority"
    assert tasks_db.count("tasks") == 0 and tasks_db.last_seq == seq


def test_batch_errors_name_the_record(tasks_db: remlite.Database) -> None:
    """Every kind of bad record in a batch is refused with its position, before anything is written."""
    good = [{"name": f"t{i}", "priority": i} for i in range(3)]
    cases = [
        ({"name": "x", "priority": 1, "deleted_at": "2024-01-01T00:00:00Z"}, "deleted_at"),
        ({"name": "x", "priority": 1, "created_at": "yesterday"}, "created_at"),
        ("not an object", None),
        ({"name": "x"}, "priority"),
    ]
    for bad, field in cases:
        with pytest.raises(ValidationError) as err:
            tasks_db.insert_batch("tasks", [*good, bad])
        assert err.value.details["record"] == 3 and err.value.message.startswith("record 3: ")
        assert err.value.field == field
    assert tasks_db.count("tasks") == 0
    when = datetime(2024, 5, 1, tzinfo=UTC)
    ids = tasks_db.insert_batch("notes", [{"title": "a", "when": when}, {"title": "b", "key": uuid.UUID(int=2)}])
    assert tasks_db.get(ids[0])["when"] == "2024-05-01T00:00:00+00:00"
    assert tasks_db.get(ids[1])["key"] == "00000000-0000-0000-0000-000000000002"


def test_get_batch(tasks_db: remlite.Database) -> None:
    ids = tasks_db.insert_batch("tasks", [{"name": f"t{i}", "priority": i} for i in range(5)])
    tasks_db.delete(ids[1])
    missing = str(uuid.uuid4())
    out = tasks_db.get_batch([ids[0], ids[1], missing, ids[4]])
    assert [r and r["name"] for r in out] == ["t0", None, None, "t4"]
    assert tasks_db.get_batch([ids[1]], include_deleted=True)[0]["name"] == "t1"
    with pytest.raises(InvalidId):
        tasks_db.get_batch(["nope"])


def test_update_merges_and_revalidates(tasks_db: remlite.Database) -> None:
    rid = tasks_db.insert("tasks", {"name": "a", "priority": 1, "tags": ["x"]})
    updated = tasks_db.update(rid, {"priority": 7, "tags": ["y", "z"]})
    assert updated["priority"] == 7 and updated["name"] == "a" and updated["modified_at"] > updated["created_at"]
    assert tasks_db.find("tasks", "tags", eq="x") == []
    assert tasks_db.find("tasks", "tags", eq="z") == [rid]
    with pytest.raises(ValidationError, match="priority"):
        tasks_db.update(rid, {"priority": "soon"})
    with pytest.raises(ValidationError, match="natural key"):
        tasks_db.update(rid, {"name": "b"})
    with pytest.raises(ValidationError, match="system field"):
        tasks_db.update(rid, {"created_at": "2020-01-01T00:00:00Z"})
    with pytest.raises(InvalidInput):
        tasks_db.update(rid, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert tasks_db.get(rid)["priority"] == 7
    with pytest.raises(NotFound):
        tasks_db.update(str(uuid.uuid4()), {"priority": 1})


def test_soft_and_hard_delete(tasks_db: remlite.Database) -> None:
    rid = tasks_db.insert("tasks", {"name": "a", "priority": 1})
    tasks_db.delete(rid)
    with pytest.raises(NotFound, match="deleted"):
        tasks_db.get(rid)
    assert tasks_db.get(rid, include_deleted=True)["deleted_at"]
    assert tasks_db.count("tasks") == 0 and tasks_db.find("tasks", "priority", eq=1) == []
    assert tasks_db.lookup("a") == [] and list(tasks_db.scan("tasks")) == []
    assert [r["id"] for r in tasks_db.scan("tasks", include_deleted=True)] == [rid]
    again = tasks_db.insert("tasks", {"name": "a", "priority": 3})  # upsert resurrects
    assert again == rid and tasks_db.count("tasks") == 1 and tasks_db.get(rid)["deleted_at"] is None
    tasks_db.delete(rid, hard=True)
    with pytest.raises(NotFound):
        tasks_db.get(rid, include_deleted=True)
    with pytest.raises(NotFound):
        tasks_db.delete(rid)
    assert tasks_db.count("tasks") == 0 and tasks_db.check()["ok"]


def test_scan_pages_with_cursor(tasks_db: remlite.Database) -> None:
    ids = tasks_db.insert_batch("notes", [{"title": f"n{i}"} for i in range(23)])
    pages, after = [], None
    while True:
        page = list(tasks_db.scan("notes", limit=10, after=after))
        if not page:
            break
        pages.append(page)
        after = page[-1]["id"]
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [r["id"] for p in pages for r in p] == sorted(ids)
    assert tasks_db.list("notes", limit=5) == pages[0][:5]
    with pytest.raises(InvalidInput):
        list(tasks_db.scan("notes", limit=-1))


def test_find_equality_and_ranges_in_index_order(tasks_db: remlite.Database) -> None:
    rows = [{"name": f"t{i}", "priority": i % 10, "owner": {"team": "ab"[i % 2]}} for i in range(100)]
    ids = dict(zip((r["name"] for r in rows), tasks_db.insert_batch("tasks", rows), strict=True))
    by_priority = lambda pred: {ids[r["name"]] for r in rows if pred(r["priority"])}  # noqa: E731
    assert set(tasks_db.find("tasks", "priority", eq=3)) == by_priority(lambda p: p == 3)
    assert set(tasks_db.find("tasks", "priority", gt=7)) == by_priority(lambda p: p > 7)
    assert set(tasks_db.find("tasks", "priority", gte=2, lt=4)) == by_priority(lambda p: 2 <= p < 4)
    assert set(tasks_db.find("tasks", "priority", lte=1)) == by_priority(lambda p: p <= 1)
    assert set(tasks_db.find("tasks", "priority", gt=2.5, lte=3)) == by_priority(lambda p: p == 3)
    ordered = tasks_db.find("tasks", "priority", gte=0)
    priorities = [tasks_db.get(i)["priority"] for i in ordered]
    assert priorities == sorted(priorities) and len(ordered) == 100
    assert len(tasks_db.find("tasks", "priority", gte=0, limit=7)) == 7
    assert len(tasks_db.find("tasks", "owner.team", eq="a")) == 50
    with pytest.raises(SchemaError, match="not indexed"):
        tasks_db.find("tasks", "name", eq="t1")
    with pytest.raises(InvalidInput):
        tasks_db.find("tasks", "priority", gt=1, gte=2)


def test_find_on_timestamps_compares_instants(tasks_db: remlite.Database) -> None:
    early = tasks_db.insert("tasks", {"name": "a", "priority": 1, "due": "2025-01-01T10:00:00+02:00"})
    late = tasks_db.insert("tasks", {"name": "b", "priority": 1, "due": datetime(2025, 1, 1, 9, tzinfo=UTC)})
    tasks_db.insert("tasks", {"name": "c", "priority": 1, "due": None})
    assert tasks_db.find("tasks", "due", gte="2025-01-01T00:00:00Z") == [early, late]
    assert tasks_db.find("tasks", "due", lt="2025-01-01T08:30:00Z") == [early]
    assert len(tasks_db.find("tasks", "due", eq=None)) == 1
    with pytest.raises(ValidationError, match="due"):
        tasks_db.insert("tasks", {"name": "d", "priority": 1, "due": "next tuesday"})


def test_lookup_across_tables(tasks_db: remlite.Database) -> None:
    task = tasks_db.insert("tasks", {"name": "alpha", "priority": 1})
    entity = tasks_db.insert("entities", {"key": "alpha", "name": "Alpha Inc"})
    found = {(r["_table"], r["id"]) for r in tasks_db.lookup("alpha")}
    assert found == {("tasks", task), ("entities", entity)}
    assert [r["id"] for r in tasks_db.lookup("Alpha Inc")] == [entity]
    assert tasks_db.lookup("alph") == []


def test_user_supplied_ids(tasks_db: remlite.Database) -> None:
    mine = str(uuid.uuid4())
    assert tasks_db.insert("notes", {"id": mine, "title": "x"}) == mine
    assert tasks_db.insert("notes", {"id": mine, "title": "y"}) == mine
    assert tasks_db.count("notes") == 1 and tasks_db.get(mine)["title"] == "y"
    with pytest.raises(InvalidId):
        tasks_db.insert("notes", {"id": "not-a-uuid", "title": "x"})
    with pytest.raises(ValidationError, match="belongs to table notes"):
        tasks_db.insert("entities", {"id": mine, "key": "k", "name": "n"}) if False else tasks_db.insert(
            "sessions", {"id": mine}
        )
    with pytest.raises(ValidationError, match="does not match"):
        tasks_db.insert("tasks", {"id": mine, "name": "a", "priority": 1})


@pytest.mark.parametrize("bad", [42, None, 1.5])
def test_malformed_ids(tasks_db: remlite.Database, bad: object) -> None:
    with pytest.raises(InvalidId):
        tasks_db.get(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidId):
        tasks_db.delete(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["nope", "1234"])
def test_a_string_that_is_no_id_is_read_as_a_natural_key(tasks_db: remlite.Database, text: str) -> None:
    with pytest.raises(NotFound, match="no record has the id, natural key or name"):
        tasks_db.get(text)
    with pytest.raises(InvalidId):
        tasks_db.delete(text)


def test_non_json_values_are_normalised(tasks_db: remlite.Database) -> None:
    rid = tasks_db.insert("notes", {"title": "t", "score": 1, "extra": uuid.UUID(int=1)})
    assert tasks_db.get(rid)["extra"] == "00000000-0000-0000-0000-000000000001"
    with pytest.raises(ValidationError):
        tasks_db.insert("notes", {"title": object()})
    with pytest.raises(ValidationError, match="JSON object"):
        tasks_db.insert("notes", ["a"])


def test_data_survives_reopen(tasks_db: remlite.Database) -> None:
    ids = tasks_db.insert_batch("tasks", [{"name": f"t{i}", "priority": i} for i in range(10)])
    seq = tasks_db.last_seq
    root = tasks_db.root
    tasks_db.close()
    with remlite.connect(root) as again:
        assert again.count("tasks") == 10 and again.get(ids[3])["priority"] == 3
        assert again.last_seq == seq
        assert again.check()["ok"]


def test_closed_database_raises(tasks_db: remlite.Database) -> None:
    tasks_db.close()
    with pytest.raises(remlite.errors.DatabaseClosed):
        tasks_db.insert("notes", {"title": "x"})


def test_system_fields_on_write(tasks_db: remlite.Database) -> None:
    rid = tasks_db.insert("notes", {"title": "old", "created_at": "2020-05-01T00:00:00Z", "modified_at": "x"})
    record = tasks_db.get(rid)
    assert record["created_at"] == "2020-05-01T00:00:00Z" and record["modified_at"] > "2026"
    assert tasks_db.insert("notes", record) == rid  # a record read back can be written as it is
    with pytest.raises(ValidationError, match="created_at"):
        tasks_db.insert("notes", {"title": "x", "created_at": "yesterday"})
    with pytest.raises(ValidationError, match="delete"):
        tasks_db.insert("notes", {"title": "x", "deleted_at": "2020-05-01T00:00:00Z"})


def test_find_fetch_returns_records(tasks_db: remlite.Database) -> None:
    tasks_db.insert_batch("tasks", [{"name": f"t{i}", "priority": i % 3} for i in range(9)])
    records = tasks_db.find("tasks", "priority", eq=1, fetch=True)
    assert sorted(r["name"] for r in records) == ["t1", "t4", "t7"]
    assert [r["id"] for r in records] == tasks_db.find("tasks", "priority", eq=1)
