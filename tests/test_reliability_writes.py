"""Write-path reliability: a refused or interrupted write leaves the stored data and the in-memory
state as they were (chunk_size checks, atomic schema upgrades, writes racing an upgrade, derived
in-memory statistics published only after their batch is written, inline-edge endpoints checked
before the first chunk)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite import ids as idmod
from remlite import migrate
from remlite.errors import InvalidInput, NotFound, StorageError, UnknownTable, ValidationError
from remlite.records import TableLayout
from remlite.schema.validate import RecordValidator
from remlite.storage.engine import COLUMN_FAMILIES, Store

ITEMS_V1: dict[str, Any] = {
    "name": "items",
    "properties": {
        "kind": {"type": "string"},
        "size": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": "string"},
    },
    "required": ["kind"],
    "indexed_fields": ["kind", "size"],
    "text_fields": ["body"],
}
# drops the `size` index and the `body` text index, adds a `title` index and a `title` text index
ITEMS_V2: dict[str, Any] = {**ITEMS_V1, "indexed_fields": ["kind", "title"], "text_fields": ["title"]}
ROWS = 606
STAMP = {"type": "string", "format": "date-time"}


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"kind": "k", "size": i, "title": f"title{i} shared", "body": f"body{i} common words"}
        for i in range(start, start + n)
    ]


def snapshot(db: remlite.Database) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every column family."""
    return {name: list(db._core.store.cf[name].items()) for name in COLUMN_FAMILIES}


def assert_ok(db: remlite.Database) -> None:
    report = db.check()
    assert report["ok"], report["problems"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(root: Path) -> Iterator[remlite.Database]:
    database = remlite.connect(root, embedder="hash")
    yield database
    database.close()


# ---------------------------------------------------------------------- fault 3: chunk_size


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.5, "10", None])
def test_insert_batch_refuses_a_chunk_size_that_is_not_a_positive_int(db: remlite.Database, bad: Any) -> None:
    db.register_schema(ITEMS_V1)
    db.insert_batch("items", items(3))
    before = snapshot(db)
    with pytest.raises(InvalidInput, match="chunk_size"):
        db.insert_batch("items", items(3, 3), chunk_size=bad)
    with pytest.raises(InvalidInput, match="chunk_size"):  # before any work: not a ValidationError
        db.insert_batch("items", [{"size": "not an int"}], chunk_size=bad)
    with pytest.raises(InvalidInput, match="chunk_size"):
        db.insert_batch("items", [], chunk_size=bad)
    with pytest.raises(InvalidInput, match="chunk_size"):
        db.add_edges([], chunk_size=bad)
    assert snapshot(db) == before
    assert db.count("items") == 3


# ---------------------------------------------------------------------- fault 4: atomic upgrades


def _prepared(path: Path) -> None:
    with remlite.connect(path, embedder="hash") as db:
        db.register_schema(ITEMS_V1)
        db.insert_batch("items", items(ROWS))


def _assert_upgrade_state(db: remlite.Database) -> None:
    """The table is fully under one of the two schemas, and both schemas' indexes answer."""
    assert_ok(db)
    indexed = db.schema("items")["indexed_fields"]
    assert len(db.find("items", "kind", eq="k")) == ROWS
    if "size" in indexed:  # the old schema is in force, with all of its indexes
        assert indexed == ["kind", "size"]
        assert len(db.find("items", "size", gte=0)) == ROWS
        assert len(db.search("items", "common", k=ROWS, mode="text")) == ROWS
    else:
        assert indexed == ["kind", "title"]
        assert len(db.find("items", "title", gte="")) == ROWS
        assert len(db.search("items", "shared", k=ROWS, mode="text")) == ROWS


def _failing_writes(monkeypatch: pytest.MonkeyPatch, fail_at: int, only_once: bool) -> list[int]:
    """Make the store's k-th write (from now) raise, and with `only_once=False` every later one too
    (a full disk, or a process that died there). Returns the call counter."""
    calls = [0]
    real = Store.write

    def write(self: Store, batch: Any) -> None:
        calls[0] += 1
        if calls[0] == fail_at or (not only_once and calls[0] > fail_at):
            raise StorageError(f"simulated failure of write {calls[0]}")
        real(self, batch)

    monkeypatch.setattr(Store, "write", write)
    return calls


@pytest.mark.parametrize("only_once", [False, True], ids=["crash", "one-failed-write"])
def test_an_interrupted_upgrade_leaves_one_whole_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, only_once: bool
) -> None:
    monkeypatch.setattr(migrate, "CHUNK", 100)  # several backfill batches
    pristine = tmp_path / "pristine"
    _prepared(pristine)
    completed = False
    for fail_at in range(1, 30):
        path = tmp_path / f"run{fail_at}"
        shutil.copytree(pristine, path)
        db = remlite.connect(path, embedder="hash")
        calls = _failing_writes(monkeypatch, fail_at, only_once)
        try:
            db.register_schema(ITEMS_V2)
        except StorageError:
            failed = True
        else:
            failed = False
        finally:
            monkeypatch.undo()
            monkeypatch.setattr(migrate, "CHUNK", 100)
        if only_once and failed:
            _assert_upgrade_state(db)  # the failed attempt cleaned up after itself, in this process
        db.close()
        with remlite.connect(path, embedder="hash") as reopened:
            _assert_upgrade_state(reopened)
            reopened.register_schema(ITEMS_V2)  # a retry completes the upgrade
            _assert_upgrade_state(reopened)
            assert reopened.schema("items")["indexed_fields"] == ["kind", "title"]
        shutil.rmtree(path)
        if not failed:
            assert calls[0] < fail_at, "every write of the upgrade happened"
            completed = True
            break
    assert completed and fail_at > 5, "the upgrade never ran to completion"


_KILLER = """
import os, signal, sys
from remlite import ids as idmod
from remlite import migrate
from remlite.storage.engine import Store
import remlite

path, kill_at = sys.argv[1], int(sys.argv[2])
migrate.CHUNK = 100
db = remlite.connect(path, embedder="hash")
calls = [0]
real = Store.write
def write(self, batch):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, batch)
Store.write = write
db.register_schema({schema!r})
print("upgraded", calls[0])
"""


def test_kill_9_during_an_upgrade_leaves_one_whole_schema(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    _prepared(pristine)
    script = textwrap.dedent(_KILLER).replace("{schema!r}", repr(ITEMS_V2))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for kill_at in (2, 4, 7, 9):
        path = tmp_path / f"run{kill_at}"
        shutil.copytree(pristine, path)
        child = subprocess.run(
            [sys.executable, "-c", script, str(path), str(kill_at)], env=env, capture_output=True, text=True
        )
        assert child.returncode == -signal.SIGKILL, child.stderr  # killed mid-upgrade, not after it
        with remlite.connect(path, embedder="hash") as db:
            _assert_upgrade_state(db)
            db.register_schema(ITEMS_V2)
            _assert_upgrade_state(db)
        shutil.rmtree(path)


def test_a_failed_upgrade_changes_nothing_in_memory(db: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db.register_schema(ITEMS_V1)
    db.insert_batch("items", items(20))
    seq, before = db.last_seq, db.schema("items")
    _failing_writes(monkeypatch, 1, only_once=False)
    with pytest.raises(StorageError):
        db.register_schema(ITEMS_V2)
    with pytest.raises(StorageError):
        db.drop_schema("items")
    monkeypatch.undo()
    assert db.last_seq == seq and db.schema("items") == before
    assert db.count("items") == 20 and len(db.find("items", "size", gte=0)) == 20
    db.insert_batch("items", items(5, 20))
    assert_ok(db)


def test_drop_schema_leaves_no_key_of_the_table(db: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nor of a partial upgrade build whose clean-up failed too (a full disk)."""
    timed = {
        **ITEMS_V1,
        "properties": {**ITEMS_V1["properties"], "start_time": STAMP, "end_time": STAMP},
        "indexed_fields": ["kind", "start_time", "end_time"],
    }
    db.register_schema(timed)
    day = {"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z"}
    db.insert_batch("items", [{**row, **day} for row in items(300)])
    monkeypatch.setattr(migrate, "CHUNK", 100)
    _failing_writes(monkeypatch, 3, only_once=False)  # the marker and one backfill chunk get written
    with pytest.raises(StorageError):
        db.register_schema({**timed, "indexed_fields": [*timed["indexed_fields"], "title"], "text_fields": ["title"]})
    monkeypatch.undo()
    tid = db._core.layout("items").tid
    assert db.moments(table="items") and not db.check()["ok"]  # a span statistic, and the partial build
    db.drop_schema("items")
    for family in ("rows", "index", "postings", "textstats"):
        assert not list(db._core.store.iter_prefix(family, tid)), family
    assert not [key for key, _ in db._core.store.cf["meta"].items() if key.endswith(tid)]
    assert_ok(db)


def test_a_table_losing_and_regaining_its_time_index_keeps_a_true_span(db: remlite.Database) -> None:
    """Rows written while start_time/end_time are not indexed do not raise the span statistic, so
    the statistic must be recomputed when the index comes back."""
    timed = {
        "name": "ev",
        "properties": {
            "start_time": {"type": "string", "format": "date-time"},
            "end_time": {"type": ["string", "null"], "format": "date-time"},
        },
        "indexed_fields": ["start_time", "end_time"],
    }
    db.register_schema(timed)
    db.insert("ev", {"start_time": "2025-01-01T00:00:00+00:00", "end_time": "2025-01-01T01:00:00+00:00"})
    assert db.moments(table="ev")
    db.register_schema({**timed, "indexed_fields": ["start_time"]})
    db.insert("ev", {"start_time": "2025-02-01T00:00:00+00:00", "end_time": "2025-02-09T00:00:00+00:00"})
    db.register_schema(timed)
    assert_ok(db)
    assert len(db.moments(since="2025-02-05T00:00:00+00:00", table="ev")) == 1


# ---------------------------------------------------------------------- fault 5: writes racing an upgrade


class _PauseAfterValidation:
    """Holds the inserting thread between its first validation of a batch (outside the write lock)
    and the write, until the other thread has changed the schema: the race, made deterministic."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, inserter: str) -> None:
        self.validated = threading.Event()
        self.upgraded = threading.Event()
        self.armed = False  # set by the inserter before each batch: a re-validation does not pause
        real = RecordValidator.validate_many

        def validate_many(validator: RecordValidator, records: Any) -> Any:
            bodies = real(validator, records)
            if threading.current_thread().name == inserter and self.armed:
                self.armed = False
                self.validated.set()
                assert self.upgraded.wait(20), "the upgrading thread never finished"
                self.upgraded.clear()
            return bodies

        monkeypatch.setattr(RecordValidator, "validate_many", validate_many)

    def run(self, change: Callable[[int], None], rounds: int) -> list[BaseException]:
        """Run `change(i)` `rounds` times, each once the inserter is paused after validation."""
        errors: list[BaseException] = []
        for i in range(rounds):
            assert self.validated.wait(20), "the inserting thread never validated"
            self.validated.clear()
            try:
                change(i)
            except BaseException as exc:  # reported by the test, not lost in a thread
                errors.append(exc)
            self.upgraded.set()
        return errors


def _race(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[int], None], insert: Callable[[int], None], rounds: int = 6
) -> tuple[list[BaseException], list[BaseException]]:
    """Errors of the inserts and of the schema changes, `insert(i)` racing `change(i)` each round."""
    pause = _PauseAfterValidation(monkeypatch, "inserter")
    insert_errors: list[BaseException] = []

    def inserter() -> None:
        for i in range(rounds):
            pause.armed = True
            try:
                insert(i)
            except BaseException as exc:
                insert_errors.append(exc)

    thread = threading.Thread(target=inserter, name="inserter")
    thread.start()
    change_errors = pause.run(change, rounds)
    thread.join(30)
    assert not thread.is_alive()
    monkeypatch.undo()
    return insert_errors, change_errors


def test_insert_batch_racing_schema_upgrades_writes_under_the_current_schema(
    db: remlite.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.register_schema(ITEMS_V1)
    db.insert_batch("items", items(10))
    batch = 25
    inserted, changed = _race(
        monkeypatch,
        lambda i: db.register_schema(ITEMS_V2 if i % 2 == 0 else ITEMS_V1),
        lambda i: db.insert_batch("items", items(batch, 10 + i * batch), chunk_size=10),
    )
    assert not inserted and not changed
    total = 10 + 6 * batch
    assert db.count("items") == total
    assert_ok(db)
    assert len(db.find("items", "kind", eq="k")) == total
    db.register_schema(ITEMS_V2)
    assert len(db.find("items", "title", gte="")) == total
    assert len(db.search("items", "shared", k=total, mode="text")) == total


def test_insert_racing_a_stricter_schema_is_refused_whole(
    db: remlite.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.register_schema(ITEMS_V1)
    strict = {**ITEMS_V1, "properties": {**ITEMS_V1["properties"], "kind": {"type": "string", "maxLength": 1}}}
    inserted, changed = _race(
        monkeypatch,
        lambda i: db.register_schema(strict) if i == 0 else None,
        lambda i: db.insert_batch("items", [{"kind": "k"}, {"kind": "long kind"}] if i == 0 else [{"kind": "x"}]),
    )
    assert not changed
    assert len(inserted) == 1 and isinstance(inserted[0], ValidationError), inserted
    assert db.count("items") == 5
    assert_ok(db)


def test_insert_racing_a_drop_of_its_table(db: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db.register_schema(ITEMS_V1)
    inserted, changed = _race(
        monkeypatch, lambda i: db.drop_schema("items"), lambda i: db.insert_batch("items", items(3)), 1
    )
    assert not changed
    assert len(inserted) == 1 and isinstance(inserted[0], UnknownTable), inserted
    assert_ok(db)

    db.register_schema(ITEMS_V1)

    def drop_and_recreate(i: int) -> None:
        if i == 0:
            db.drop_schema("items")
            db.register_schema(ITEMS_V1)

    inserted, changed = _race(monkeypatch, drop_and_recreate, lambda i: db.insert_batch("items", items(3, i * 3)), 3)
    assert not inserted and not changed
    assert db.count("items") == 9
    assert_ok(db)


def test_a_layout_cached_while_an_upgrade_publishes_is_not_stale(
    db: remlite.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader building the table's layout from the old schema must not store it after the
    upgrade emptied the cache (later writes would index the old schema's fields)."""
    db.register_schema(ITEMS_V1)
    db.insert_batch("items", items(10))
    db.register_schema(ITEMS_V2)  # empties the cache
    building, upgraded = threading.Event(), threading.Event()
    real = TableLayout.__init__

    def init(self: TableLayout, table: Any) -> None:
        if threading.current_thread().name == "reader":
            building.set()
            upgraded.wait(2)  # fixed: the upgrade waits for this build instead (a deadlock, broken by the timeout)
        real(self, table)

    monkeypatch.setattr(TableLayout, "__init__", init)
    reader = threading.Thread(target=lambda: db.find("items", "kind", eq="k"), name="reader")
    reader.start()
    assert building.wait(20)
    upgrader = threading.Thread(target=lambda: (db.register_schema(ITEMS_V1), upgraded.set()))
    upgrader.start()
    reader.join(30)
    upgrader.join(30)
    monkeypatch.undo()
    db.insert_batch("items", items(5, 10))
    assert_ok(db)
    assert len(db.find("items", "size", gte=0)) == 15


# ---------------------------------------------------------------------- fault 7: in-memory state


def _moment(name: str, start: str, end: str) -> dict[str, Any]:
    return {"name": name, "start_time": start, "end_time": end}


def _refuse_after_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next write fail after its span statistic was computed (as an encoding error does)."""
    real = TableLayout.index_key_columns

    def refuse(self: TableLayout, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(TableLayout, "index_key_columns", real)
        raise ValidationError("simulated: a value that cannot be encoded")

    monkeypatch.setattr(TableLayout, "index_key_columns", refuse)


@pytest.mark.parametrize("failure", ["store-write", "after-spans"])
def test_a_failed_write_leaves_no_in_memory_trace(root: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    with remlite.connect(root, embedder="hash") as db:
        db.insert("moments", _moment("short", "2025-01-01T00:00:00+00:00", "2025-01-01T01:00:00+00:00"))
        seq, count, rownum = db.last_seq, db.count("moments"), db._core.next_rownum
        before = snapshot(db)
        if failure == "store-write":
            _failing_writes(monkeypatch, 1, only_once=True)
        else:
            _refuse_after_spans(monkeypatch)
        with pytest.raises((StorageError, ValidationError)):
            db.insert("moments", _moment("long", "2025-03-01T00:00:00+00:00", "2025-03-10T00:00:00+00:00"))
        monkeypatch.undo()
        assert (db.last_seq, db.count("moments"), db._core.next_rownum) == (seq, count, rownum)
        assert snapshot(db) == before
        # a 5-day moment: longer than any stored one, shorter than the refused one
        db.insert("moments", _moment("trip", "2025-05-01T00:00:00+00:00", "2025-05-06T00:00:00+00:00"))
        assert db.last_seq == seq + 1 and db.count("moments") == count + 1
        assert_ok(db)
    with remlite.connect(root, embedder="hash") as db:
        assert_ok(db)
        found = db.moments(since="2025-05-04T00:00:00+00:00", until="2025-05-04T01:00:00+00:00")
        assert [m["name"] for m in found] == ["trip"]


# ---------------------------------------------------------------------- fault 12: inline-edge endpoints


def test_a_bad_inline_edge_endpoint_in_the_last_chunk_writes_nothing(db: remlite.Database) -> None:
    db.register_schema(ITEMS_V1)
    target = db.insert("items", {"kind": "target"})
    gone = db.insert("items", {"kind": "gone"})
    db.delete(gone)
    before = snapshot(db)
    for bad in (idmod.to_str(idmod.new_id_bytes()), gone):
        rows = [{**row, "_edges": [{"dst": target, "type": "links"}]} for row in items(9)]
        rows[8]["_edges"] = [{"dst": bad, "type": "links"}]
        with pytest.raises(NotFound):
            db.insert_batch("items", rows, chunk_size=3)
        assert snapshot(db) == before
    # an edge to a row of the same or an earlier chunk is fine; one to a later chunk is not
    rows = items(9)
    ids = db.insert_batch("items", rows, chunk_size=3)
    rows = [{**row, "id": rid} for row, rid in zip(rows, ids, strict=True)]
    forward = [dict(row) for row in rows]
    forward[1]["_edges"] = [{"dst": ids[7], "type": "links"}]
    db.delete(ids[7], hard=True)
    before = snapshot(db)
    with pytest.raises(NotFound):
        db.insert_batch("items", forward, chunk_size=3)
    assert snapshot(db) == before
    backward = [dict(row) for row in rows]
    backward[7]["_edges"] = [{"dst": ids[1], "type": "links"}, {"src": ids[8], "type": "links"}]
    db.insert_batch("items", backward, chunk_size=3)
    assert {e["dst"] for e in db.edges(ids[7])} == {ids[1]}
    assert_ok(db)


def test_a_reembed_racing_a_schema_upgrade_takes_effect(db: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade that leaves the embedding fields alone keeps the table's vector state, so a re-embed
    that started before it switches the field objects every later write and search uses."""

    docs = {**ITEMS_V1, "embedding_fields": ["body"]}
    db.register_schema(docs)
    db.insert_batch("items", items(20))
    started, go = threading.Event(), threading.Event()
    real = db._reader.scan

    def paused(*args: Any) -> Any:  # the re-embed has picked its field object and starts reading rows
        started.set()
        assert go.wait(20)
        return real(*args)

    monkeypatch.setattr(db._reader, "scan", paused)
    reembed = threading.Thread(target=lambda: db.reembed("items", "body", provider="hash"))
    reembed.start()
    assert started.wait(20)
    db.register_schema({**docs, "indexed_fields": ["kind", "title"]})
    db.insert("items", {"kind": "k", "body": "before the switch"})  # vector state looked up after the upgrade
    go.set()
    reembed.join(30)
    monkeypatch.undo()
    assert db._core.vectors("items").fields["body"].version == 2
    rid = db.insert("items", {"kind": "k", "body": "zebra quartz nebula"})
    assert [hit["id"] for hit in db.search("items", "zebra quartz nebula", k=1)] == [rid]
    assert_ok(db)
