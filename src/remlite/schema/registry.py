"""The schema registry: tables, their ids and versions, persisted in the `meta` column family.

Registration decides; the Database writes. `plan` returns the new TableSchema and what changed
(indexes to build or drop) so the caller can apply it in one WriteBatch with its WAL entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remlite.errors import IncompatibleSchema, InvalidInput, UnknownTable
from remlite.schema.model import TableSchema, _resolve
from remlite.schema.validate import RecordValidator

TEXT_PREFIX = "text:"  # field_ids key of a field's BM25 index


@dataclass
class SchemaChange:
    table: TableSchema
    previous: TableSchema | None
    added_indexes: list[str] = field(default_factory=list)
    removed_indexes: list[str] = field(default_factory=list)
    added_text: list[str] = field(default_factory=list)
    removed_text: list[str] = field(default_factory=list)

    @property
    def noop(self) -> bool:
        return self.previous is not None and self.previous.to_bytes() == self.table.to_bytes()


def _types(root: dict[str, Any], prop: dict[str, Any]) -> set[str]:
    """The JSON types a property admits (empty set: anything)."""
    if not isinstance(prop, dict):
        return set()
    if "$ref" in prop:
        return _types(root, _resolve(root, prop) or {})
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        found: set[str] = set()
        for option in options:
            sub = _types(root, option)
            if not sub:
                return set()
            found |= sub
        return found
    kind = prop.get("type")
    if kind is None:
        return {"object"} if "properties" in prop else set()
    return {kind} if isinstance(kind, str) else set(kind)


def _narrowed(old: set[str], new: set[str]) -> set[str]:
    if not new:
        return set()
    if not old:
        return {"any"}
    widened = new | ({"integer"} if "number" in new else set())
    return old - widened


def check_compatible(old: TableSchema, schema: dict[str, Any], options: dict[str, Any]) -> None:
    """Raise IncompatibleSchema when existing rows might not fit the new definition."""
    name = old.name
    if options["key_field"] != old.key_field:
        raise IncompatibleSchema(
            f"table {name}: key_field changes from {old.key_field_spec!r} to {options['key_field']!r}; "
            "ids derive from the key, so register a new table and copy the rows"
        )
    new_props = schema.get("properties") or {}
    for prop_name, old_prop in old.properties.items():
        if prop_name not in new_props:
            raise IncompatibleSchema(f"table {name}: property '{prop_name}' was removed (existing rows have it)")
        lost = _narrowed(_types(old.json_schema, old_prop), _types(schema, new_props[prop_name]))
        if lost:
            raise IncompatibleSchema(
                f"table {name}: property '{prop_name}' no longer accepts {', '.join(sorted(lost))}"
            )
    old_required = set(old.json_schema.get("required") or [])
    for prop_name in schema.get("required") or []:
        if prop_name not in old_required and "default" not in (new_props.get(prop_name) or {}):
            raise IncompatibleSchema(
                f"table {name}: property '{prop_name}' becomes required without a default; existing rows lack it"
            )
    if options["embedding_metric"] != old.embedding_metric and old.embedding_fields:
        raise IncompatibleSchema(
            f"table {name}: embedding_metric changes from {old.embedding_metric} to {options['embedding_metric']}; "
            "stored vector indexes were built for the old metric"
        )
    declared = options.get("version")
    if declared is not None and declared < old.version:
        raise IncompatibleSchema(f"table {name}: version {declared} is older than the registered {old.version}")


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, TableSchema] = {}
        self._by_id: dict[int, TableSchema] = {}
        self._validators: dict[str, RecordValidator] = {}
        self.next_table_id = 1

    def load(self, items: list[tuple[bytes, bytes]], next_table_id: int) -> None:
        for _key, value in items:
            self._add(TableSchema.from_bytes(value))
        self.next_table_id = max([next_table_id, *(t.table_id + 1 for t in self._by_id.values())])

    def _add(self, table: TableSchema) -> None:
        self._by_name[table.name] = table
        self._by_id[table.table_id] = table
        self._validators.pop(table.name, None)

    def put(self, table: TableSchema) -> None:
        old = self._by_name.get(table.name)
        if old is not None and old.table_id != table.table_id:
            self._by_id.pop(old.table_id, None)
        self._add(table)
        self.next_table_id = max(self.next_table_id, table.table_id + 1)

    def remove(self, name: str) -> None:
        table = self._by_name.pop(name)
        self._by_id.pop(table.table_id, None)
        self._validators.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> TableSchema:
        if not isinstance(name, str):
            raise InvalidInput(f"a table name is a string, got {type(name).__name__}")
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownTable(f"unknown table {name!r} (registered: {known})") from None

    def by_id(self, table_id: int) -> TableSchema:
        return self._by_id[table_id]

    def validator(self, name: str) -> RecordValidator:
        validator = self._validators.get(name)
        if validator is None:
            validator = self._validators[name] = RecordValidator(self.get(name))
        return validator

    def plan(self, name: str, schema: dict[str, Any], options: dict[str, Any], template: bool = False) -> SchemaChange:
        old = self._by_name.get(name)
        if old is not None:
            check_compatible(old, schema, options)
        table = TableSchema(
            name=name,
            table_id=old.table_id if old else self.next_table_id,
            json_schema=schema,
            key_field=options["key_field"],
            indexed_fields=options["indexed_fields"],
            embedding_fields=options["embedding_fields"],
            text_fields=options["text_fields"],
            embedding_metric=options["embedding_metric"],
            description=options["description"],
            category=options["category"],
            version=old.version if old else options.get("version", 1),
            field_ids=dict(old.field_ids) if old else {},
            template=template or (old.template if old else False),
        )
        wanted = [*table.indexed_fields, *(TEXT_PREFIX + f for f in table.searchable_text_fields)]
        for key in wanted:
            if key not in table.field_ids:
                table.field_ids[key] = max(table.field_ids.values(), default=0) + 1
        change = SchemaChange(table=table, previous=old)
        if old is not None:
            change.added_indexes = [f for f in table.indexed_fields if f not in old.indexed_fields]
            change.removed_indexes = [f for f in old.indexed_fields if f not in table.indexed_fields]
            old_text, new_text = old.searchable_text_fields, table.searchable_text_fields
            change.added_text = [f for f in new_text if f not in old_text]
            change.removed_text = [f for f in old_text if f not in new_text]
            for removed in [*change.removed_indexes, *(TEXT_PREFIX + f for f in change.removed_text)]:
                table.field_ids.pop(removed, None)
            if not change.noop:
                declared = options.get("version")
                table.version = declared if declared is not None and declared > old.version else old.version + 1
        else:
            change.added_indexes = list(table.indexed_fields)
            change.added_text = table.searchable_text_fields
        return change
