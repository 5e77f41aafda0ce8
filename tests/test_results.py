"""`Rows` (`remlite.results`): search, traverse, neighbors and moments return lists that also become
Arrow tables and DataFrames in one call."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import remlite
from remlite.results import Rows


@pytest.fixture()
def db(tmp_path: Path) -> remlite.Database:
    database = remlite.connect(tmp_path, embedder="hash")
    database.register_schema({"name": "notes", "properties": {"title": {"type": "string"}, "body": {"type": "string"},
                              "stars": {"type": "integer"}}, "embedding_fields": ["body"]})  # fmt: skip
    return database


def test_results_are_lists_that_become_frames(db: remlite.Database) -> None:
    a = db.insert("notes", {"title": "a", "body": "rivers and stones", "stars": 3})
    b = db.insert("notes", {"title": "b", "body": "stones and clouds", "stars": 5})
    db.add_edge(a, b, "near")
    db.insert("moments", {"name": "standup", "start_time": "2025-10-01T10:00:00Z", "tags": ["daily"]})
    for found in (db.search("notes", "stones", 5), db.traverse(a), db.neighbors(a), db.moments(since="2025-01-01")):
        assert isinstance(found, Rows) and isinstance(found, list) and found == list(found) and found
        assert json.loads(json.dumps(found)) == found  # still JSON as a list
        table = found.to_arrow()
        assert isinstance(table, pa.Table) and table.num_rows == len(found)
        assert table.column_names[0] in found[0]
        assert found.to_pandas().shape[0] == len(found)
        assert found.to_polars().height == len(found)
    hits = db.search("notes", "stones", 5).to_arrow()
    assert hits.schema.field("stars").type == pa.int64() and "_score" in hits.column_names


def test_a_column_of_mixed_values_becomes_json_text() -> None:
    rows = Rows([{"v": 1, "w": {"x": 1}}, {"v": "one", "w": [1, 2]}, {"u": True}])
    table = rows.to_arrow()
    assert table.column_names == ["v", "w", "u"]
    assert table.column("v").to_pylist() == ["1", '"one"', None]
    assert table.column("w").to_pylist() == ['{"x":1}', "[1,2]", None]
    assert table.column("u").to_pylist() == [None, None, True]
    assert Rows([]).to_arrow().num_rows == 0
