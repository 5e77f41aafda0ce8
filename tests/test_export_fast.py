"""The streaming export path (`remlite.exchange.batches`): one DuckDB query over the whole scan, the
stored text of each parsed batch taken from a queue beside it, soft-deleted rows dropped by Arrow,
the colon count that finds the rows typed columns may lose (a key no column holds), the grid check of
timestamp forms; and the stages' threads: an error of the scan raised as itself, an early stop."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import remlite
from remlite.errors import StorageError
from remlite.exchange import arrays
from remlite.exchange.batches import BatchReader, _take

FLAT = {  # no struct: the key-count path
    "name": "flat",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "n": {"type": ["integer", "null"]},
        "note": {"type": ["string", "null"], "default": None},
        "tags": {"type": "array", "items": {"type": ["string", "null"]}},
        "meta": {"type": "object"},
        "j": {"type": "string"},  # DuckDB's input column is named j
        "it's": {"type": "integer"},  # a quote in the SQL string of the spec
    },
    "required": ["title"],
}
CANONICAL_AT = "2024-03-01T10:00:00.000000Z"
LOSSY = {  # rows the typed columns cannot give back: `_remlite_row` must carry them
    "extra key": {"x": 1},
    "explicit null": {"n": None},
    "lowercase z": {"at": "2024-03-01T10:00:00.000000z"},  # canonical length, other form
    "lowercase t": {"at": "2024-03-01t10:00:00.000000Z"},
    "short form": {"at": "2024-03-01T10:00:00Z"},
}
EXACT = {  # rows the typed columns give back as they are
    "plain": {},
    "null default": {"note": None},
    "null in a list": {"tags": ["a", None]},
    "null in a free object": {"meta": {"k": None, "l": [None]}},
    "odd names": {"j": "jay", "it's": 3},
    "null text": {"j": "null", "meta": {"say": '":'}},  # the old text counts' false suspects
    "day": {"day": "2024-03-01"},
}


def _rows(db: remlite.Database, table: str) -> list[dict[str, Any]]:
    return sorted(db.scan(table, include_deleted=True), key=lambda r: r["id"])


@pytest.fixture
def flat(tmp_path: Path) -> Iterator[remlite.Database]:
    db = remlite.connect(tmp_path / "source", embedder="hash")
    db.register_schema(FLAT)
    rows = []
    for i in range(40):  # lossy and exact rows spread over several batches, deleted rows among them
        for title, extra in (*LOSSY.items(), *EXACT.items()):
            rows.append({"title": f"{title} {i}", "at": CANONICAL_AT, **extra})
    db.insert_batch("flat", rows)
    for row in db.list("flat", limit=len(rows))[::7]:
        db.delete(row["id"])
    yield db
    db.close()


@pytest.mark.parametrize("batch_size", [1, 7, 10_000])
def test_stored_record_only_where_lossy(flat: remlite.Database, tmp_path: Path, batch_size: int) -> None:
    path = tmp_path / "f.parquet"
    report = flat.export("flat", path, batch_size=batch_size)
    table = pq.read_table(path)
    assert report["rows"] == table.num_rows == flat.count("flat")
    stored = {r["id"]: r for r in flat.scan("flat")}
    for row in table.to_pylist():
        lossy = row["title"].rsplit(" ", 1)[0] in LOSSY
        assert (row["_remlite_row"] is not None) == lossy, row["title"]
        if lossy:  # the stored record of this very row (the text queue kept in step with DuckDB)
            assert json.loads(row["_remlite_row"]) == stored[row["id"]]
    assert table.column("id").to_pylist() == sorted(stored)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_of_a_table_without_structs(flat: remlite.Database, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"f.{fmt}"
    flat.export("flat", path, fmt, include_deleted=True, batch_size=5)
    target = remlite.connect(tmp_path / "target", embedder="hash")
    try:
        target.register_schema(FLAT)
        target.import_("flat", path)
        assert _rows(target, "flat") == _rows(flat, "flat")
    finally:
        target.close()


def test_deleted_rows_are_dropped_and_batches_bounded(flat: remlite.Database) -> None:
    live = flat.count("flat")
    every = len(list(flat.scan("flat", include_deleted=True)))
    assert every > live
    sizes = [b.num_rows for b in flat.iter_batches("flat", 6)]
    assert sum(sizes) == live and all(0 < size <= 6 for size in sizes)
    assert sum(b.num_rows for b in flat.iter_batches("flat", 6, include_deleted=True)) == every
    bare = next(flat.iter_batches("flat", 50, system=False, exact=True))
    assert "id" not in bare.schema.names and bare.column("_remlite_row").null_count < bare.num_rows


def test_a_scan_error_is_raised_as_itself(
    flat: remlite.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = BatchReader.raw_values

    def failing(self: BatchReader) -> Iterator[list[bytes]]:
        chunks = real(self)
        yield next(chunks)
        raise StorageError("corrupt block in rows")

    monkeypatch.setattr(BatchReader, "raw_values", failing)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StorageError, match="corrupt block"):
        flat.export("flat", out / "f.parquet", batch_size=4)
    assert not list(out.iterdir())  # no file, not even the partial one


def test_stopping_early_ends_the_stage_threads(flat: remlite.Database) -> None:
    before = threading.active_count()
    batches = flat.iter_batches("flat", 3)
    assert 0 < next(batches).num_rows <= 3
    batches.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before


def test_take_straddles_the_queued_arrays() -> None:
    pending = deque([pa.array(["a", "b", "c"]), pa.array(["d"]), pa.array(["e", "f"])])
    assert _take(pending, 2).to_pylist() == ["a", "b"]
    assert _take(pending, 3).to_pylist() == ["c", "d", "e"]
    assert _take(pending, 1).to_pylist() == ["f"] and not pending


def test_a_table_of_deleted_rows_exports_no_rows(flat: remlite.Database, tmp_path: Path) -> None:
    for row in flat.list("flat", limit=1000):
        flat.delete(row["id"])
    report = flat.export("flat", tmp_path / "none.parquet", batch_size=8)
    assert report["rows"] == 0 == pq.read_table(tmp_path / "none.parquet").num_rows
    assert list(flat.iter_batches("flat", 8)) == []


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_an_export_with_vectors_and_lossy_rows_does_not_import_pandas(tmp_path: Path, fmt: str) -> None:
    """`pa.array(...)` goes through pyarrow's pandas shim, which imports pandas (~49 MB, 0.36 s):
    the export builds its arrays from buffers instead."""
    import subprocess
    import sys

    code = f"""
import sys, remlite
db = remlite.connect({str(tmp_path)!r}, embedder="hash")
db.register_schema({{"name": "notes", "type": "object", "properties": {{"title": {{"type": "string"}},
    "body": {{"type": "string"}}}}, "embedding_fields": ["body"]}})
db.insert_batch("notes", [{{"title": f"t{{i}}", "body": f"b{{i}}"}} for i in range(300)])
db.insert("notes", {{"title": "x", "body": "an undeclared key: a lossy row", "extra": 1}})
db.insert("notes", {{"title": "no vector here"}})
db.export("notes", {str(tmp_path / ("out." + fmt))!r}, format={fmt!r}, vectors=True)
print("pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("depth", [1, 4])
def test_a_stage_runs_at_most_its_depth_ahead_of_the_next(depth: int) -> None:
    """What bounds an export's memory: a producer holds at most `depth` items in the queue and one
    in its hand, however slow the consumer."""
    from remlite.exchange.ahead import ahead

    made: list[int] = []

    def produce() -> Iterator[int]:
        for n in range(20):
            made.append(n)
            yield n

    for n in ahead(produce(), depth):
        threading.Event().wait(0.01)  # a slow consumer: the producer runs as far ahead as it may
        assert len(made) - n - 1 <= depth + 1


@pytest.mark.parametrize("batch_size", [1, 7, 10_000, 40_000, 100_000, 1_000_000])
def test_rows_in_flight_stay_bounded_whatever_the_batch_size(batch_size: int) -> None:
    from remlite.exchange.limits import AHEAD_ROWS, ahead_depth

    depth = ahead_depth(batch_size)
    assert depth >= 1 and depth * batch_size <= max(AHEAD_ROWS, batch_size)


NESTED = {  # a struct and lists: rows are counted one by one
    "name": "nested",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "place": {
            "type": ["object", "null"],
            "properties": {"city": {"type": ["string", "null"]}, "a:b": {"type": "integer"}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "a:b": {"type": "string"},  # a colon in a declared name
        "meta": {"type": "object"},
    },
}
SCALARS = {  # no list, no struct: batch totals first
    "name": "scalars",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "n": {"type": ["integer", "null"]},
        "a:b": {"type": "string"},
        "meta": {"type": "object"},
        "at": {"type": "string", "format": "date-time"},
    },
}
SCHEMAS = {"flat": FLAT, "nested": NESTED, "scalars": SCALARS}
COLONS_CLEAN = {  # colons that are not keys, in every kind of value: nothing to suspect (a null default is
    # suspected, as `json_keys` did: whether its key was stored is not in the typed value)
    "flat": {"title": "a:b::c", "tags": ["x:y", None], "meta": {"k:": "v:", "n": {"q": "::"}}, "j": '":', "note": ":"},
    "scalars": {"title": "a:b", "a:b": "::", "meta": {"k:": {"q": ":"}}, "at": CANONICAL_AT},
    "nested": {"title": "t:", "place": {"city": "a:b", "a:b": 1}, "tags": ["::"], "a:b": "c:d", "meta": {"k": ":"}},
}
COLONS_LOSSY = {  # a key no column holds, with and without a colon in its value
    "scalars": [{"title": "x", "extra": "no colon"}, {"title": "x", "n": None}, {"title": "x:", "extra": "a:b"}],
    "flat": [{"title": "x", "extra": "no colon"}, {"title": "x", "n": None}, {"title": "x:", "extra": "a:b"}],
    "nested": [
        {"title": "x", "place": {"city": "c", "other": 1}},  # a member the struct does not declare
        {"title": "x", "place": {"city": None}},  # an explicit null inside the struct
        {"title": "x", "place": None},
        {"title": "x", "stray": ["a:b"]},
    ],
}


def _suspects(db: remlite.Database, table: str, system: bool = True) -> dict[str, bool]:
    """Per stored row (by title and position), whether the colon count suspects it."""
    reader = BatchReader(db._core, table, exact=True, system=system, batch_size=4)
    out = {}
    for parsed, stored in reader._parsed():
        live = ~arrays.bools(parsed.column(reader.position["deleted_at"]).is_valid())
        flags = reader._counted(stored, parsed, live)
        for text, flag in zip(stored.to_pylist(), flags.tolist(), strict=True):
            out[json.loads(text)["id"]] = flag
    return out


@pytest.mark.parametrize("system", [True, False])
@pytest.mark.parametrize("table", ["flat", "nested", "scalars"])
def test_the_colon_count_suspects_exactly_the_rows_with_a_key_no_column_holds(
    tmp_path: Path, table: str, system: bool
) -> None:
    db = remlite.connect(tmp_path / "db", embedder="hash")
    try:
        db.register_schema(SCHEMAS[table])
        clean = [{**COLONS_CLEAN[table], "title": f"clean {i}"} for i in range(6)]
        if table == "flat":
            clean = [{**row, "at": CANONICAL_AT} for row in clean]
        clean_ids = set(db.insert_batch(table, clean))
        lossy_ids = {db.insert(table, row) for row in COLONS_LOSSY[table]}
        got = _suspects(db, table, system)
        assert {i for i, flag in got.items() if flag} == lossy_ids
        assert set(got) == clean_ids | lossy_ids
    finally:
        db.close()
