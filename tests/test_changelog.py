"""The change-log entry codec, its old-format reader, the generated reference, and the rule that
only the commit path (and classified derived/local writes) write to the store."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import orjson
import pytest

import remlite
from remlite.errors import StorageError
from remlite.schema.model import TableSchema
from remlite.storage import changelog as cl
from remlite.storage.engine import Store

ROOT = Path(__file__).resolve().parent.parent
VEC = np.arange(4, dtype=np.float32).tobytes()

EXAMPLES: list[cl.Entry] = [
    cl.RowsPut(
        7,
        "2025-01-01T00:00:00Z",
        "docs",
        orjson.dumps([{"id": "a", "x": 1}, {"id": "b", "x": 2}]),
        {"body": [VEC, None]},
        {"body": {"provider": "hash", "model": "m", "dimension": 4, "metric": "cos"}},
        [{"src": "a", "dst": "b", "type": "t", "properties": {}, "created_at": "2025"}],
        [{"src": "a", "dst": "c", "type": "t"}],
    ),
    cl.RowsPut(8, "2025-01-01T00:00:00Z", "docs", b"[]"),
    cl.RowsDeleted(9, "2025-01-02T00:00:00Z", "docs", ["a"], True, [{"src": "a", "dst": "b", "type": "t"}]),
    cl.EdgesPut(10, "ts", [{"src": "a", "dst": "b", "type": "t", "properties": {"w": 1}, "created_at": "c"}], True),
    cl.EdgesPut(11, "ts", [{"src": "a", "dst": "b", "type": "t", "properties": {}, "created_at": "c"}] * 2),
    cl.EdgeDeleted(12, "ts", "a", "b", "t"),
    cl.SchemaPut(13, "ts", "docs", 2, TableSchema("docs", 9, {"type": "object"}, field_ids={"kind": 1}).to_bytes()),
    cl.SchemaDropped(14, "ts", "docs", 3, 1),
    cl.ReembedVectors(15, "ts", "docs", "body", 2, ["a", "b"], VEC + VEC, True),
    cl.Reembedded(16, "ts", "docs", "body", {"provider": "hash", "version": 2}, ["a"], VEC, ["a", "z"]),
]


@pytest.mark.parametrize("entry", EXAMPLES, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_every_kind_round_trips(entry: cl.Entry) -> None:
    raw = entry.to_bytes()
    assert raw[0] == cl.FORMAT_VERSION and raw[1] == entry.kind
    back = cl.Entry.from_bytes(raw)
    assert type(back) is type(entry) and back.seq == entry.seq and back.ts == entry.ts
    assert back.content() == entry.content() and back.to_bytes() == raw
    assert back.to_json() == entry.to_json() and back.to_json()["op"] == entry.op
    assert not back.legacy


def test_rows_put_keeps_binary_vectors() -> None:
    back = cl.Entry.from_bytes(EXAMPLES[0].to_bytes())
    assert isinstance(back, cl.RowsPut)
    assert back.vectors == {"body": [VEC, None]} and back.rows == [{"id": "a", "x": 1}, {"id": "b", "x": 2}]


@pytest.mark.parametrize(
    "doc",
    [
        {"seq": 3, "ts": "t", "op": "put", "table": "docs", "rows": [{"id": "a"}], "edges": [], "edges_removed": []},
        {"seq": 4, "ts": "t", "op": "delete", "table": "docs", "ids": ["a"], "rownums": [5], "hard": False, "at": "t"},
        {
            "seq": 5,
            "ts": "t",
            "op": "edge_put",
            "src": "a",
            "dst": "b",
            "type": "x",
            "properties": {},
            "created_at": "t",
        },
        {"seq": 6, "ts": "t", "op": "edge_put", "edges": [{"src": "a", "dst": "b", "type": "x"}]},
        {"seq": 7, "ts": "t", "op": "edge_delete", "src": "a", "dst": "b", "type": "x"},
        {"seq": 8, "ts": "t", "op": "schema", "table": "docs", "version": 1, "schema": {"name": "docs"}},
        {"seq": 9, "ts": "t", "op": "drop_schema", "table": "docs", "rows": 2, "edges": 0},
        {"seq": 10, "ts": "t", "op": "reembed", "table": "docs", "field": "body", "version": 2, "provider": "hash"},
    ],
)
def test_old_json_entries_are_read_as_typed_entries(doc: dict) -> None:
    entry = cl.Entry.from_bytes(orjson.dumps(doc))
    assert entry.legacy and entry.seq == doc["seq"] and entry.op == doc["op"]
    view = entry.to_json()
    for key in set(doc) - {"rownums", "edges", "edges_removed"}:
        assert view[key] == doc[key], key


@pytest.mark.parametrize(
    "raw", [b"", b"\x01", b"\x01\x01\x00", b"\x09\x01" + bytes(8), b"{nope", b"\x01\x63" + bytes(8)]
)
def test_garbage_is_a_storage_error(raw: bytes) -> None:
    with pytest.raises(StorageError):
        cl.Entry.from_bytes(raw)


def test_architecture_doc_holds_the_generated_reference() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    found = re.search(r"<!-- changelog-reference:start -->\n(.*?)<!-- changelog-reference:end -->", text, re.S)
    assert found is not None and found.group(1) == cl.reference_markdown()
    for cls in cl.KINDS.values():
        assert cls.__doc__ and cls.__name__ in found.group(1)


def test_old_format_log_still_reads(tmp_path: Path) -> None:
    """A database whose log holds pre-format JSON entries: wal(), changes() and check() read them."""
    with remlite.connect(tmp_path) as db:
        rid = db.insert("notes", {"title": "a"}) if "notes" in [s["name"] for s in db.schemas()] else None
        rid = rid or db.insert("resources", {"uri": "u", "content": "x"})
        seq = db.last_seq
        legacy = {"seq": seq, "ts": "t", "op": "put", "table": "resources", "rows": [db.get(rid)]}
        db._core.store.cf["wal"].put(seq.to_bytes(8, "big"), orjson.dumps(legacy))
    with remlite.connect(tmp_path) as db:
        assert db.wal(seq - 1)[0]["rows"] == legacy["rows"]
        assert db.changes(seq - 1)[0].legacy and db.check()["ok"]


def test_only_the_commit_path_and_classified_writes_use_store_write(tmp_path: Path, monkeypatch) -> None:
    """Run a workload with Store.write wrapped: every caller is the commit path or a write the
    change-log module docstring classifies as derived or local."""
    allowed = {
        ("remlite.storage.wal", "commit"),
        ("remlite.storage.wal", "truncate"),  # local: the log's floor
        ("remlite.migrate", "build_added_indexes"),  # derived: index backfill before publication
        ("remlite.migrate", "_write_marker"),
        ("remlite.migrate", "discard_partial"),
        ("remlite.migrate", "discard_interrupted"),
        ("remlite.semantic.vectors", "database_id"),  # local: binds index files to this database
        ("remlite.fuzzy", "backfill"),  # derived: trigrams of a table registered before the fuzzy family
        ("remlite.ops.space", "_mark_maintained"),  # local: when the daily purge last ran
    }
    seen: set[tuple[str, str]] = set()
    original = Store.write

    def spying(self: Store, batch: object) -> None:
        caller = inspect.stack()[1]
        seen.add((caller.frame.f_globals["__name__"], caller.function))
        original(self, batch)

    monkeypatch.setattr(Store, "write", spying)
    from tests.test_changelog_replay import _workload

    with remlite.connect(tmp_path, embedder="hash") as db:
        _workload(db, 3)
        db.truncate_wal(keep=5)
    assert ("remlite.storage.wal", "commit") in seen
    assert seen <= allowed, seen - allowed
    # and statically: no other module of the package calls the store's write
    for path in (ROOT / "src" / "remlite").rglob("*.py"):
        module = path.relative_to(ROOT / "src").with_suffix("").as_posix().replace("/", ".")
        if re.search(r"\bstore\.write\(", path.read_text()):
            assert module in {m for m, _ in allowed}, module
