"""Export and import (`remlite.exchange`): round trips that give identical records for every built-in
template and a schema with nested objects, lists and timestamps, in Parquet, JSON Lines and CSV;
typed columns; rejected imports that write nothing; vectors; bounded streaming; the CLI."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.errors import ImportRejected, InvalidInput
from remlite.exchange.component import Exchange

FORMATS = ("parquet", "jsonl", "csv")

EVENTS = {
    "name": "events",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "ends": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "day": {"type": "string", "format": "date"},
        "count": {"type": "integer"},
        "score": {"type": "number"},
        "done": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "default": []},
        "sizes": {"type": "array", "items": {"type": "integer"}},
        "place": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}},
                "seen": {"type": "string", "format": "date-time"},
            },
        },
        "attendees": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "extra": {},
        "note": {"type": ["string", "null"], "default": None},
    },
    "required": ["title", "at"],
    "indexed_fields": ["at", "count", "place.city"],
}

EVENT_ROWS: list[dict[str, Any]] = [
    {
        "title": "launch",
        "at": "2024-03-01T10:00:00.000000Z",
        "day": "2024-03-01",
        "count": 3,
        "score": 2.5,
        "done": True,
        "tags": ["a", "b"],
        "sizes": [1, 2, 3],
        "place": {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}, "seen": "2024-02-01T00:00:00.250000Z"},
        "attendees": [{"name": "ann"}, {"name": "bo", "role": "host"}],
        "extra": {"anything": [1, {"x": None}]},
    },
    # timestamps written other ways, an explicit null, a key the schema does not declare, a whole
    # number in a number field, an empty nested object, unicode and quotes in strings
    {"title": 'say "hi": ünï ✓', "at": "2024-03-02T10:00:00Z", "ends": None, "score": 4, "place": {}, "x": 1},
    {"title": "offset", "at": "2024-03-03T12:00:00+02:00", "ends": "2024-03-03T13:00:00.5+00:00", "extra": "null"},
    {"title": "nested extra", "at": "2024-03-04T10:00:00.000000Z", "place": {"city": "Rome", "zip": "00100"}},
    {"title": "empty strings", "at": "2024-03-05T10:00:00.000000Z", "tags": [""], "note": ""},
    {"title": "big", "at": "2024-03-06T10:00:00.000000Z", "count": -(2**63), "score": 1e300, "done": False},
]

TEMPLATE_ROWS: dict[str, list[dict[str, Any]]] = {
    "resources": [
        {"uri": "file:///a.md", "chunk_ordinal": 0, "content": "alpha text", "heading_path": ["A"], "page": 1},
        {"uri": "file:///a.md", "chunk_ordinal": 1, "content": "beta", "metadata": {"k": [1, 2]}, "name": None},
    ],
    "entities": [
        {"key": "ann", "name": "Ann", "entity_type": "person", "properties": {"age": 31}, "summary": "a person"},
        {"key": "oslo", "name": "Oslo", "properties": {}},
    ],
    "moments": [
        {
            "name": "standup",
            "start_time": "2024-01-02T09:00:00Z",
            "end_time": None,
            "tags": ["work"],
            "people": ["ann"],
        },
        {"name": "talk", "start_time": "2024-01-03T09:00:00.000000Z", "end_time": "2024-01-03T10:00:00.000000Z"},
    ],
    "agentlets": [{"name": "helper", "description": "helps", "tools": ["search"], "output_schema": {"type": "object"}}],
    "sessions": [{"name": "s1", "user_id": "u1", "started_at": "2024-01-01T00:00:00Z", "metadata": {"a": 1}}],
    "messages": [
        {"session_id": "s1", "role": "user", "content": "hello"},
        {"session_id": "s1", "role": "assistant", "content": "hi", "metadata": {"tokens": 2}},
    ],
}


def _open(path: Path) -> remlite.Database:
    return remlite.connect(path, embedder="hash")


@pytest.fixture
def source(tmp_path: Path) -> Iterator[remlite.Database]:
    db = _open(tmp_path / "source")
    db.register_schema(EVENTS)
    db.insert_batch("events", EVENT_ROWS[:3])
    for row in EVENT_ROWS[3:]:
        db.insert("events", row)
    gone = db.insert("events", {"title": "gone", "at": "2024-04-01T00:00:00.000000Z"})
    db.delete(gone)
    for table, rows in TEMPLATE_ROWS.items():
        db.insert_batch(table, rows)
    db.update(db.list("moments", limit=1)[0]["id"], {"tags": ["work"]})
    first = db.list("messages", limit=1)[0]["id"]
    db.update(first, {"content": "hello again"})  # a later modified_at than created_at
    db.delete(db.list("entities", limit=1)[0]["id"])
    yield db
    db.close()


def _rows(db: remlite.Database, table: str) -> list[dict[str, Any]]:
    return sorted(db.scan(table, include_deleted=True), key=lambda r: r["id"])


def _fresh(path: Path) -> remlite.Database:
    db = _open(path)
    db.register_schema(EVENTS)
    return db


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_gives_identical_records(source: remlite.Database, tmp_path: Path, fmt: str) -> None:
    target = _fresh(tmp_path / "target")
    try:
        for table in ["events", *TEMPLATE_ROWS]:
            path = tmp_path / f"{table}.{fmt}"
            report = source.export(table, path, fmt, include_deleted=True)
            assert report["rows"] == len(_rows(source, table)) and report["bytes"] == path.stat().st_size
            imported = target.import_(table, path)
            assert imported["rows"] == report["rows"]
            assert _rows(target, table) == _rows(source, table), (table, fmt)
            assert target.count(table) == source.count(table)
        assert target.check()["ok"]
    finally:
        target.close()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_records_of_a_batch_are_each_row_rebuilt(
    source: remlite.Database, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Rebuild.records` (column by column, what import reads with) gives exactly what `record` of
    each row does: nested objects, lists, JSON text (also "null"), lossy rows, a file's extra column."""
    import pyarrow as pa

    from remlite.exchange.columns import Rebuild, TablePlan
    from remlite.exchange.files import FileRows

    compared = []
    records = Rebuild.records

    def checked(self: Rebuild, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        extra = batch.append_column("not_in_the_plan", pa.array([{"x": [1, None]}] * batch.num_rows))
        for one in (batch, extra):
            assert records(self, one) == [self.record(row) for row in one.to_pylist()]
        compared.append(batch.num_rows)
        return records(self, batch)

    monkeypatch.setattr(Rebuild, "records", checked)
    for table in ["events", *TEMPLATE_ROWS]:
        path = tmp_path / f"{table}.{fmt}"
        source.export(table, path, fmt, include_deleted=True)
        plan = TablePlan.of(source._core.layout(table).table, system=True, flat=fmt == "csv")
        stored = len(list(source.scan(table, include_deleted=True)))
        assert sum(len(chunk[0]) for chunk in FileRows(path, fmt, plan, 3)) == stored
    assert sum(compared) >= len(EVENT_ROWS) + sum(map(len, TEMPLATE_ROWS.values()))


def test_every_template_is_covered(source: remlite.Database) -> None:
    assert set(source.templates()) == set(TEMPLATE_ROWS)


def test_jsonl_is_the_stored_records(source: remlite.Database, tmp_path: Path) -> None:
    source.export("events", tmp_path / "e.jsonl", "jsonl")
    lines = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert sorted(lines, key=lambda r: r["id"]) == [r for r in _rows(source, "events") if not r["deleted_at"]]


def test_typed_columns(source: remlite.Database) -> None:
    table = source.to_arrow("events")
    types = {f.name: f.type for f in table.schema}
    utc = pa.timestamp("us", tz="UTC")
    for name in ("at", "ends", "created_at", "modified_at", "deleted_at"):
        assert types[name] == utc, name
    assert types["day"] == pa.date32()
    assert types["count"] == pa.int64() and types["score"] == pa.float64() and types["done"] == pa.bool_()
    assert types["tags"] == pa.list_(pa.string()) and types["sizes"] == pa.list_(pa.int64())
    assert pa.types.is_struct(types["place"]) and types["place"].field("seen").type == utc
    assert types["place"].field("geo").type == pa.struct([("lat", pa.float64()), ("lon", pa.float64())])
    assert types["extra"] == pa.string() and types["attendees"] == pa.string()  # JSON text
    assert list(table.column_names[:2]) == ["id", "title"] and "_remlite_row" not in table.column_names
    assert table.num_rows == source.count("events")
    launch = next(r for r in table.to_pylist() if r["title"] == "launch")
    assert json.loads(launch["extra"]) == {"anything": [1, {"x": None}]}
    assert launch["place"]["geo"] == {"lat": 59.9, "lon": 10.7}
    assert launch["at"].isoformat() == "2024-03-01T10:00:00+00:00"
    offset = next(r for r in table.to_pylist() if r["title"] == "offset")
    assert offset["at"].isoformat() == "2024-03-03T10:00:00+00:00"
    assert source.to_arrow("events", include_deleted=True).num_rows == table.num_rows + 1
    bare = source.to_arrow("events", system=False)
    assert "id" not in bare.column_names and "created_at" not in bare.column_names


def test_parquet_carries_the_stored_record_only_where_needed(source: remlite.Database, tmp_path: Path) -> None:
    source.export("events", tmp_path / "e.parquet")
    table = pq.read_table(tmp_path / "e.parquet")
    exact = dict(zip(table.column("title").to_pylist(), table.column("_remlite_row").to_pylist(), strict=True))
    assert exact["launch"] is None and exact["empty strings"] is None and exact["big"] is None
    for title in ('say "hi": ünï ✓', "offset", "nested extra"):  # other timestamp forms, nulls, extra keys
        assert exact[title] is not None
    meta = json.loads(pq.read_schema(tmp_path / "e.parquet").metadata[b"remlite"])
    assert meta["table"] == "events" and meta["schema"]["name"] == "events"


def test_pandas_and_polars(source: remlite.Database) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    frame = source.to_pandas("events")
    assert len(frame) == source.count("events") and str(frame["at"].dtype).startswith("datetime64")
    assert str(frame["at"].dt.tz) == "UTC"
    polars_frame = source.to_polars("events", system=False)
    assert polars_frame.height == source.count("events") and "id" not in polars_frame.columns


def test_missing_dataframe_package_names_it(source: remlite.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "polars":
            raise ImportError("no polars")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.setattr("importlib.import_module", lambda name: refuse(name))
    with pytest.raises(InvalidInput, match="pip install polars"):
        source.to_polars("events")


@pytest.mark.parametrize("fmt", FORMATS)
def test_rejected_rows_write_nothing(source: remlite.Database, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"e.{fmt}"
    source.export("events", path, fmt)
    if fmt == "jsonl":
        lines = path.read_text().splitlines()
        lines[1] = json.dumps({"title": "no time"})
        lines.insert(3, "not json")
        path.write_text("\n".join(lines) + "\n")
        expected_rows = [2, 4]
    elif fmt == "csv":
        lines = path.read_text().splitlines()
        position = next(i for i, line in enumerate(lines) if ',"launch",' in line)
        lines[position] = lines[position].replace(',"launch",', ",,")  # an empty cell: null, and title is required
        path.write_text("\n".join(lines) + "\n")
        expected_rows = [position]  # the header is not a row
    else:
        table = pq.read_table(path)
        titles = table.column("title").to_pylist()
        titles[titles.index("launch")] = None
        table = table.set_column(table.column_names.index("title"), "title", pa.array(titles, pa.string()))
        pq.write_table(table, path)
        expected_rows = [titles.index(None) + 1]
    target = _fresh(tmp_path / "target")
    try:
        before_seq, before = target.last_seq, _rows(target, "events")
        with pytest.raises(ImportRejected) as raised:
            target.import_("events", path)
        assert [r["row"] for r in raised.value.rejected] == expected_rows  # type: ignore[attr-defined]
        assert raised.value.count == len(expected_rows)  # type: ignore[attr-defined]
        assert raised.value.exit_code == 3 and raised.value.to_dict()["error"]["code"] == "import_rejected"
        assert target.last_seq == before_seq and _rows(target, "events") == before
    finally:
        target.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_reports_progress_checking_then_writing(tmp_path: Path, fmt: str) -> None:
    source = _fresh(tmp_path / "source")
    rows = [{"title": f"t{i}", "at": f"2024-01-{1 + i % 28:02d}T00:00:00.000000Z"} for i in range(25)]
    source.insert_batch("events", rows)
    path = tmp_path / f"e.{fmt}"
    source.export("events", path, fmt, batch_size=7)
    source.close()
    calls: list[tuple[str, int]] = []
    target = _fresh(tmp_path / "target")
    try:
        report = target.import_("events", path, chunk_size=10, progress=lambda step, done: calls.append((step, done)))
        steps = [step for step, _done in calls]
        assert steps == sorted(steps) and set(steps) == {"check", "write"}  # every check before any write
        for step in ("check", "write"):
            counts = [done for s, done in calls if s == step]
            assert len(counts) > 1 and counts == sorted(set(counts)) and counts[-1] == report["rows"] == 25
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"title": "ok", "at": "2024-01-01T00:00:00Z"}\n{"title": 5}\n')
        calls.clear()
        with pytest.raises(ImportRejected):
            target.import_("events", bad, progress=lambda step, done: calls.append((step, done)))
        assert calls and {step for step, _done in calls} == {"check"}  # nothing written, nothing reported as written
        assert target.count("events") == 25
    finally:
        target.close()


def test_import_into_existing_data_is_an_upsert_and_repeatable(source: remlite.Database, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    source.export("events", path, include_deleted=True)
    target = _fresh(tmp_path / "target")
    try:
        target.import_("events", path)
        target.import_("events", path)  # a re-run (after a crash midway) converges
        assert _rows(target, "events") == _rows(source, "events")
    finally:
        target.close()


def test_ids_owned_by_another_table_are_rejected(source: remlite.Database, tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    source.export("events", path, "jsonl")
    with pytest.raises(ImportRejected, match="belongs to table events"):
        source.import_("sessions", path)


def test_vectors(source: remlite.Database, tmp_path: Path) -> None:
    table = source.to_arrow("resources", vectors=True)
    column = table.column("_vector_content")
    assert pa.types.is_fixed_size_list(column.type) and column.type.value_type == pa.float32()
    stored = column.to_pylist()
    assert all(v is not None and len(v) == column.type.list_size for v in stored)
    path = tmp_path / "r.parquet"
    source.export("resources", path, vectors=True)
    assert "vectors" in json.loads(pq.read_schema(path).metadata[b"remlite"])
    target = _open(tmp_path / "target")
    try:
        target.import_("resources", path)
        assert _rows(target, "resources") == _rows(source, "resources")
        again = target.to_arrow("resources", vectors=True).column("_vector_content").to_pylist()
        assert np.allclose(np.array(again), np.array(stored))
        assert target.index_status()  # the vector space came with the file
    finally:
        target.close()
    for fmt in ("jsonl", "csv"):
        source.export("resources", tmp_path / f"r.{fmt}", fmt, vectors=True)
    line = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert len(line["_vector_content"]) == column.type.list_size


def test_export_streams_bounded_batches(
    source: remlite.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.insert_batch("events", [{"title": f"e{i}", "at": "2024-01-01T00:00:00.000000Z"} for i in range(250)])
    seen: list[tuple[int, int]] = []
    real = Exchange.iter_batches

    def spy(self: Exchange, table: str, batch_size: int = 0, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        for batch in real(self, table, batch_size, **kwargs):
            seen.append((batch_size, batch.num_rows))
            yield batch

    monkeypatch.setattr(Exchange, "iter_batches", spy)
    for fmt in ("parquet", "csv"):
        seen.clear()
        report = source.export("events", tmp_path / f"e.{fmt}", fmt, batch_size=64)
        assert seen and all(size == 64 and rows <= 64 for size, rows in seen), fmt
        assert sum(rows for _, rows in seen) == report["rows"] == source.count("events")
    seen.clear()
    source.export("events", tmp_path / "d.parquet")
    assert seen and all(size <= 100_000 for size, _ in seen)  # the default is bounded too
    assert len(list(source.iter_batches("events", 100))) == 3
    with pytest.raises(InvalidInput):
        source.iter_batches("events", 0)


def test_export_all_writes_a_directory(source: remlite.Database, tmp_path: Path) -> None:
    report = source.export(None, tmp_path / "all", "csv")
    manifest = json.loads((tmp_path / "all" / "manifest.json").read_text())
    assert set(manifest["tables"]) == {"events", *TEMPLATE_ROWS} == set(report["tables"])
    for name, entry in manifest["tables"].items():
        assert (tmp_path / "all" / entry["file"]).is_file() and entry["rows"] == source.count(name)
    assert not list((tmp_path / "all").glob(".*partial"))


def test_bad_arguments(source: remlite.Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="format"):
        source.export("events", tmp_path / "e.xml", "xml")
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        source.import_("events", tmp_path / "e.xml")
    with pytest.raises(InvalidInput, match="no such file"):
        source.import_("events", tmp_path / "missing.parquet")
    with pytest.raises(InvalidInput, match="does not exist"):
        source.export("events", tmp_path / "no" / "e.parquet")
    with pytest.raises(remlite.errors.UnknownTable):
        source.export("nope", tmp_path / "n.parquet")
    assert not (tmp_path / "n.parquet").exists()


# ---------------------------------------------------------------------- CLI
runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None, "REMLITE_EMBED_PROVIDER": "hash"})


def test_cli_export_and_import(tmp_path: Path) -> None:
    root, other = tmp_path / "db", tmp_path / "other"
    with _open(root) as db:
        db.insert_batch("entities", TEMPLATE_ROWS["entities"])
        expected = _rows(db, "entities")
    out = tmp_path / "entities.csv"
    done = runner.invoke(app, ["export", "entities", "--format", "csv", "--output", str(out), "--path", str(root)])
    assert done.exit_code == 0, done.output
    assert "2 rows" in done.stdout and out.is_file()
    done = runner.invoke(app, ["export", "--all", "-o", str(tmp_path / "all"), "--json", "--path", str(root)])
    assert done.exit_code == 0 and json.loads(done.stdout)["tables"]["entities"]["rows"] == 2
    runner.invoke(app, ["init", "--path", str(other)])
    done = runner.invoke(app, ["import", "entities", str(out), "--json", "--path", str(other)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["rows"] == 2
    with _open(other) as db:
        assert _rows(db, "entities") == expected


def test_cli_export_and_import_draw_progress_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal a bar of rows goes to stderr (erased when done); stdout keeps only the summary;
    with --json there is no bar."""
    root, other = tmp_path / "db", tmp_path / "other"
    with _open(root) as db:
        db.insert_batch("entities", [{"key": f"k{i}", "name": f"N{i}"} for i in range(30)])
    terminal = {"TTY_COMPATIBLE": "1"}
    out = tmp_path / "e.parquet"
    done = runner.invoke(app, ["export", "entities", "-o", str(out), "--path", str(root)], env=terminal)
    assert done.exit_code == 0, done.output
    assert "export entities" in done.stderr and "30/30" in done.stderr
    assert done.stdout.startswith("entities: 30 rows") and done.stdout.count("\n") == 1
    runner.invoke(app, ["init", "--path", str(other)])
    done = runner.invoke(app, ["import", "entities", str(out), "--path", str(other)], env=terminal)
    assert done.exit_code == 0, done.output
    assert "checking entities" in done.stderr and "importing entities" in done.stderr and "30/30" in done.stderr
    assert done.stdout.startswith("entities: imported 30 rows") and done.stdout.count("\n") == 1
    done = runner.invoke(app, ["import", "entities", str(out), "--json", "--path", str(other)], env=terminal)
    assert done.exit_code == 0 and json.loads(done.stdout)["rows"] == 30 and "importing" not in done.stderr


def test_cli_import_rejected(tmp_path: Path) -> None:
    root = tmp_path / "db"
    runner.invoke(app, ["init", "--path", str(root)])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a", "name": "A"}\n{"key": "b"}\n')
    done = runner.invoke(app, ["import", "entities", str(bad), "--path", str(root)])
    assert done.exit_code == 3
    assert "row 2:" in done.stderr and "nothing was written" in done.stderr
    done = runner.invoke(app, ["import", "entities", str(bad), "--json", "--path", str(root)])
    error = json.loads(done.stdout)["error"]
    assert done.exit_code == 3 and error["code"] == "import_rejected" and error["rejected"][0]["row"] == 2
    with _open(root) as db:
        assert db.count("entities") == 0
    done = runner.invoke(app, ["export", "--path", str(root), "-o", str(tmp_path / "x")])
    assert done.exit_code == 2 and "TABLE or --all" in done.stderr
