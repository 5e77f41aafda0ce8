from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Optional

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, Field

import remlite
from remlite.errors import IncompatibleSchema, SchemaError, UnknownTable, ValidationError
from tests.conftest import TASKS


class Address(BaseModel):
    city: str
    zip: str


class Person(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"key_field": "email", "indexed_fields": ["age"], "description": "People we know"}
    )
    email: str
    name: str
    age: int = Field(ge=0)
    address: Optional[Address] = None  # noqa: UP045 - exercise the anyOf form Pydantic emits


class NestedExtras(BaseModel):
    model_config = ConfigDict(json_schema_extra={"json_schema_extra": {"key_field": "code", "category": "ref"}})
    code: str


def test_templates_registered_on_init(db: remlite.Database) -> None:
    names = {s["name"] for s in db.schemas()}
    assert {"resources", "entities", "moments", "agentlets", "sessions", "messages"} <= names
    assert db.schema("resources")["key_field"] == ["uri", "chunk_ordinal"]
    assert set(db.templates()) == {"resources", "entities", "moments", "agentlets", "sessions", "messages"}


def test_every_built_in_template_compiles() -> None:
    """A new database registers the templates without compiling them (remlite.schema.loader's
    `built_in`), so this test is what keeps each one a valid JSON Schema."""
    from remlite.schema.loader import check_compiles, split_extras
    from remlite.schema.templates import TEMPLATES

    for name, doc in TEMPLATES.items():
        check_compiles(name, split_extras(doc)[0])  # raises SchemaError naming the template


def test_register_pydantic_model_name_and_flattened_extras(db: remlite.Database) -> None:
    info = db.register_schema(Person)
    assert info["name"] == "person"
    assert info["key_field"] == "email"
    assert info["indexed_fields"] == ["age"]
    assert info["description"] == "People we know"


def test_nested_json_schema_extra_is_read(db: remlite.Database) -> None:
    info = db.register_schema(NestedExtras, name="codes")
    assert info["key_field"] == "code" and info["category"] == "ref"


def test_nested_model_validation_names_the_field(db: remlite.Database) -> None:
    db.register_schema(Person)
    with pytest.raises(ValidationError) as err:
        db.insert("person", {"email": "a@x", "name": "A", "age": 3, "address": {"city": "Oslo"}})
    assert err.value.field == "address"
    with pytest.raises(ValidationError) as err:
        db.insert("person", {"email": "a@x", "name": "A", "age": -1})
    assert err.value.field == "age"
    with pytest.raises(ValidationError) as err:
        db.insert("person", {"email": "a@x", "age": 1})
    assert err.value.field == "name" and "name" in str(err.value)
    rid = db.insert("person", {"email": "a@x", "name": "A", "age": 3, "address": {"city": "Oslo", "zip": "1"}})
    assert db.get(rid)["address"]["city"] == "Oslo"


def test_register_from_json_and_yaml_files(db: remlite.Database, tmp_path: Path) -> None:
    json_file = tmp_path / "Book Catalog.json"
    json_file.write_bytes(
        orjson.dumps({"title": "BookCatalog", "properties": {"isbn": {"type": "string"}}, "key_field": "isbn"})
    )
    assert db.register_schema(json_file)["name"] == "book_catalog"
    yaml_file = tmp_path / "songs.yaml"
    yaml_file.write_text(
        textwrap.dedent(
            """
            name: songs
            json_schema_extra:
              key_field: title
              indexed_fields: [artist]
            properties:
              title: {type: string}
              artist: {type: string}
            required: [title]
            """
        )
    )
    info = db.register_schema(str(yaml_file))
    assert info["name"] == "songs" and info["indexed_fields"] == ["artist"]
    db.insert("songs", {"title": "Hey", "artist": "X"})
    assert len(db.find("songs", "artist", eq="X")) == 1


def test_register_from_module_path(db: remlite.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mymodels.py").write_text("from pydantic import BaseModel\nclass Widget(BaseModel):\n    sku: str\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert db.register_schema("mymodels:Widget")["name"] == "widget"
    sys.modules.pop("mymodels", None)


@pytest.mark.parametrize(
    "source, message",
    [
        ({"properties": {"a": {"type": "string"}}}, "no name"),
        ({"name": "bad name", "properties": {}}, "invalid table name"),
        ({"name": "t", "type": "array"}, "must describe an object"),
        ({"name": "t", "properties": {"a": {}}, "key_field": "b"}, "not a property"),
        ({"name": "t", "properties": {"a": {}}, "indexed_fields": ["zz"]}, "not a property"),
        ({"name": "t", "properties": {"a": {}}, "indexed_fields": 3}, "indexed_fields"),
        ("missing.yaml", "not found"),
        ("no_such_module:Thing", "cannot import"),
        (42, "cannot register"),
    ],
)
def test_bad_schemas_are_clear_errors(db: remlite.Database, source: object, message: str) -> None:
    before = db.last_seq
    with pytest.raises(SchemaError, match=message):
        db.register_schema(source)
    assert db.last_seq == before


def test_compatible_change_upgrades_version_and_backfills_index(tasks_db: remlite.Database) -> None:
    db = tasks_db
    db.insert_batch(
        "tasks", [{"name": f"t{i}", "priority": i % 3, "status": "open" if i % 2 else "done"} for i in range(50)]
    )
    upgraded = dict(TASKS, properties={**TASKS["properties"], "estimate": {"type": "number"}})
    upgraded["indexed_fields"] = ["priority", "name"]  # drop status, add name
    info = db.register_schema(upgraded)
    assert info["version"] == 2
    assert db.find("tasks", "name", eq="t7") == [db.lookup("t7")[0]["id"]]
    with pytest.raises(SchemaError, match="not indexed"):
        db.find("tasks", "status", eq="open")
    assert db.check()["ok"]
    assert db.register_schema(upgraded)["version"] == 2  # same definition: no change
    db.close()
    again = remlite.connect(db.root)
    assert again.schema("tasks")["version"] == 2
    assert len(again.find("tasks", "name", gte="t", lt="u")) == 50
    again.close()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["properties"].pop("owner") and s["indexed_fields"].remove("owner.team"), "removed"),
        (lambda s: s["properties"].__setitem__("priority", {"type": "string"}), "no longer accepts"),
        (lambda s: s.__setitem__("key_field", "status"), "key_field"),
        (
            lambda s: (
                s.__setitem__("required", [*s["required"], "status_x"])
                or s["properties"].__setitem__("status_x", {"type": "string"})
            ),
            "becomes required",
        ),
        (lambda s: s.__setitem__("version", 0), "older"),
    ],
)
def test_incompatible_changes_are_refused(tasks_db: remlite.Database, change, message: str) -> None:  # type: ignore[no-untyped-def]
    tasks_db.insert("tasks", {"name": "a", "priority": 1})
    schema = orjson.loads(orjson.dumps(TASKS))
    change(schema)
    with pytest.raises(IncompatibleSchema, match=message):
        tasks_db.register_schema(schema)
    assert tasks_db.schema("tasks")["version"] == 1
    assert tasks_db.get(tasks_db.lookup("a")[0]["id"])["priority"] == 1


def test_widening_a_type_is_compatible(tasks_db: remlite.Database) -> None:
    schema = orjson.loads(orjson.dumps(TASKS))
    schema["properties"]["priority"] = {"type": ["number", "null"]}
    assert tasks_db.register_schema(schema)["version"] == 2
    tasks_db.insert("tasks", {"name": "x", "priority": 2.5})
    assert tasks_db.find("tasks", "priority", gt=2) != []


def test_drop_schema_removes_rows_indexes_and_keys(tasks_db: remlite.Database) -> None:
    db = tasks_db
    ids = db.insert_batch("tasks", [{"name": f"t{i}", "priority": i} for i in range(20)])
    note = db.insert("notes", {"title": "keep", "score": 1.0})
    assert db.drop_schema("tasks") == 20
    with pytest.raises(UnknownTable):
        db.count("tasks")
    assert db.get_batch(ids) == [None] * 20
    assert db.lookup("t1") == []
    assert db.get(note)["title"] == "keep"
    assert db.check()["ok"]
    db.register_schema(TASKS)
    assert db.count("tasks") == 0


def test_templates_cannot_be_dropped_without_force(db: remlite.Database) -> None:
    with pytest.raises(SchemaError, match="built-in"):
        db.drop_schema("moments")
    db.drop_schema("moments", force=True)
    assert "moments" not in {s["name"] for s in db.schemas()}


def test_unknown_table_lists_known_ones(db: remlite.Database) -> None:
    with pytest.raises(UnknownTable, match="resources"):
        db.insert("nope", {})
