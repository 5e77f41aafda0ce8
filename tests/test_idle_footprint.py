"""A process that opens a database and reads by id stays small (issue 16: idle RSS <= 40 MB).

numpy, pydantic and jsonschema-rs cost ~16, ~12 and ~8 MB resident; pyarrow, DuckDB, usearch and
cryptography more. Each is loaded by the first call that needs it, which these tests keep true, and
the names the packages export lazily still resolve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import remlite

HEAVY = ("numpy", "pydantic", "jsonschema_rs", "pyarrow", "duckdb", "usearch", "cryptography", "sqlglot")


def loaded_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter holds after running `code`."""
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(done.stdout.strip().splitlines()[-1])  # a list literal printed by the probe


def test_opening_a_new_database_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    assert loaded_after(f"import remlite\nremlite.connect({str(tmp_path)!r}, 'fresh')") == []


def test_reopening_a_database_with_text_and_vectors_and_reading_by_id_loads_none(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, "t", embedder="hash") as db:
        db.register_schema(
            {
                "name": "notes",
                "type": "object",
                "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
                "indexed_fields": ["title"],
                "text_fields": ["body"],
                "embedding_fields": ["body"],
            }
        )
        rid = db.insert("notes", {"title": "a", "body": "hello world"})
    code = (
        "import remlite\n"
        f"db = remlite.connect({str(tmp_path)!r}, 't', embedder='hash')\n"
        f"assert db.get({rid!r})['title'] == 'a'\n"
        "assert len(db.find('notes', 'title', eq='a')) == 1"
    )
    assert loaded_after(code) == []


def test_the_first_search_and_question_load_what_they_need(tmp_path: Path) -> None:
    with remlite.connect(tmp_path, "t", embedder="hash") as db:
        db.register_schema({"name": "notes", "type": "object", "properties": {"body": {"type": "string"}},
                            "text_fields": ["body"]})  # fmt: skip
        db.insert("notes", {"body": "hello world"})
        assert [r["body"] for r in db.search("notes", "hello", mode="text")] == ["hello world"]
        assert db.plan("notes about hello").to_dict()["stages"]
    assert {"numpy", "pydantic", "jsonschema_rs"} <= set(sys.modules)


def test_lazily_exported_names_resolve_and_unknown_names_still_fail() -> None:
    from remlite import ask, text, vector
    from remlite.ask.plan import Plan
    from remlite.text.index import TextIndex
    from remlite.vector.exact import METRICS

    assert ask.Plan is Plan and text.TextIndex is TextIndex and vector.METRICS is METRICS
    with pytest.raises(AttributeError, match=r"remlite\.text.*no attribute 'nothing'"):
        _ = text.nothing  # type: ignore[attr-defined]


def test_writing_to_a_table_without_vectors_loads_no_numpy(tmp_path: Path) -> None:
    """numpy (~16 MB, 0.08 s) came with the first insert into any table: a writer that never embeds
    paid it, and a kill-test child lost its first 0.16 s to it."""
    code = (
        "import remlite\n"
        f"db = remlite.connect({str(tmp_path)!r}, 't', embedder='hash')\n"
        "db.register_schema({'name': 'singles', 'properties': {'n': {'type': 'integer'}, 'w': {'type': 'string'}},"
        " 'indexed_fields': ['n'], 'text_fields': ['w']})\n"
        "rid = db.insert('singles', {'n': 1, 'w': 'hello'})\n"
        "db.insert_batch('singles', [{'n': i, 'w': 'x'} for i in range(2, 50)])\n"
        "db.update(rid, {'n': 0})\n"
        "db.delete(rid)\n"
        "db.close()"
    )
    assert "numpy" not in loaded_after(code)
