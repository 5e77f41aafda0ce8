"""What a name in FROM means: a registered table, or the virtual `entities` table over all of them.

- `FROM notes` is the registered table `notes`; its columns are `id`, the schema's properties and
  the system timestamps. On a strict schema (`additionalProperties: false`) any other column is an
  error; otherwise an undeclared field reads as NULL where a row lacks it.
- `FROM entities` is a read-only view spanning every table: `id, type (table name), name,
  properties (the user fields as one JSON object), created_at, modified_at, deleted_at`. A record's
  own `properties` object (the free-form attributes of the built-in `entities` template) is lifted
  into `properties`, so `properties->>'priority'` reads it wherever it lives.
- `FROM tables.entities` names the built-in `entities` template table itself (any registered
  table can be named `tables.<name>`).
- `FROM edges` lists the graph's stored edges: `src, dst, type, properties, created_at`, so
  `JOIN edges e ON e.src = t.id` follows a record's outgoing edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
from sqlglot import exp

from remlite.errors import UnknownTable
from remlite.query.fieldnames import suggestion
from remlite.query.values import get_path
from remlite.schema.model import EDGES_VIEW, SYSTEM_FIELDS, TIMESTAMP_SYSTEM_FIELDS, TableSchema
from remlite.storage.keyspace import table_prefix

if TYPE_CHECKING:
    from remlite.core import TenantCore

ENTITIES = "entities"
TABLES_SCHEMA = "tables"
ENTITY_COLUMNS = ("id", "type", "name", "properties", "created_at", "modified_at", "deleted_at")
EDGES = EDGES_VIEW
EDGE_COLUMNS = ("src", "dst", "type", "properties", "created_at")


class Relation:
    """A table as the query engine sees it."""

    name: str
    tables: list[TableSchema]
    strict: bool = False

    def columns(self) -> list[str]:
        raise NotImplementedError

    def has_column(self, name: str) -> bool:
        return name in self.columns()

    def check_path(self, path: tuple[str, ...]) -> str | None:
        """Why `path` is not a column of this relation, or None when it may be read."""
        raise NotImplementedError

    def is_timestamp(self, path: tuple[str, ...]) -> bool:
        raise NotImplementedError

    def view(self, record: dict[str, Any], table: str) -> dict[str, Any]:
        """The row this relation shows for a stored record of `table`."""
        return record

    @property
    def is_view(self) -> bool:
        """Whether any change anywhere may change its rows (cached columns are then dropped on
        every write, not only on writes to its own tables)."""
        return False

    def scan(self, core: TenantCore) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """(storage key, row) of every stored row, soft-deleted ones included."""
        loads = orjson.loads
        for table in self.tables:
            for key, value in core.store.iter_prefix("rows", table_prefix(table.table_id)):
                yield key, self.view(loads(value), table.name)

    def fetch(self, core: TenantCore, keys: list[bytes]) -> list[dict[str, Any] | None]:
        """Rows by storage key, in order; None where a row vanished."""
        if not keys:
            return []
        names: dict[bytes, str] = {}
        out: list[dict[str, Any] | None] = []
        for key, value in zip(keys, core.store.cf["rows"][keys], strict=True):
            if value is None:
                out.append(None)
                continue
            tid = key[:4]
            name = names.get(tid)
            if name is None:
                name = names[tid] = core.table_name(tid)
            out.append(self.view(orjson.loads(value), name))
        return out

    def count(self, core: TenantCore) -> int:
        return sum(core.counts.get(t.table_id, 0) for t in self.tables)

    def getter(self, path: tuple[str, ...], table: str) -> Callable[[dict[str, Any]], Any]:
        """Reads `path` of this relation's row straight from a stored record of `table`."""
        return lambda record: get_path(self.view(record, table), path)

    def scan_columns(
        self, core: TenantCore, paths: list[tuple[str, ...]]
    ) -> tuple[list[bytes], list[bool], list[list[Any]]]:
        """One pass over the stored rows: their keys, whether each is live, and per path its values."""
        keys: list[bytes] = []
        live: list[bool] = []
        values: list[list[Any]] = [[] for _ in paths]
        loads = orjson.loads
        for table in self.tables:
            getters = [self.getter(path, table.name) for path in paths]
            columns = list(zip(values, getters, strict=True))
            add_key, add_live = keys.append, live.append
            for key, value in core.store.iter_prefix("rows", table_prefix(table.table_id)):
                record = loads(value)
                add_key(key)
                add_live(record.get("deleted_at") is None)
                for column, get in columns:
                    column.append(get(record))
        return keys, live, values


class TableRelation(Relation):
    def __init__(self, table: TableSchema, stored: Callable[[str], set[str]] | None = None) -> None:
        self.table = table
        self.stored = stored  # the field names of the stored rows (undeclared names are checked)
        self.name = table.name
        self.tables = [table]
        self.strict = table.json_schema.get("additionalProperties") is False
        names = ["id", *(p for p in table.properties if p not in SYSTEM_FIELDS), "created_at", "modified_at"]
        self._columns = [*names, "deleted_at"]

    def columns(self) -> list[str]:
        return self._columns

    def check_path(self, path: tuple[str, ...]) -> str | None:
        if path[0] in SYSTEM_FIELDS:
            return None if len(path) == 1 else f"{path[0]} has no fields"
        if path[0] not in self.table.properties:
            if self.strict:
                return f"{self.name} has no column {path[0]}{suggestion(path[0], self._columns)}"
            stored = self.stored(self.name) if self.stored is not None else None
            if stored is None or path[0] in stored:
                return None
            near = suggestion(path[0], [*self._columns, *stored])
            return f"{self.name} has no column {path[0]}: it is not declared and no stored row has it{near}"
        node = self.table.field_schema(path[0])
        for depth, part in enumerate(path[1:], start=1):
            if not isinstance(node, dict) or node.get("additionalProperties") is not False:
                return None
            if part not in (node.get("properties") or {}):
                return f"{self.name}.{'.'.join(path[:depth])} has no field {part}"
            node = self.table.field_schema(".".join(path[: depth + 1]))
        return None

    def is_timestamp(self, path: tuple[str, ...]) -> bool:
        return self.table.is_timestamp(".".join(path))

    def getter(self, path: tuple[str, ...], table: str) -> Callable[[dict[str, Any]], Any]:
        if len(path) == 1:
            key = path[0]
            return lambda record: record.get(key)
        return lambda record: get_path(record, path)


class EntitiesView(Relation):
    def __init__(self, tables: list[TableSchema]) -> None:
        self.name = ENTITIES
        self.tables = tables
        self.strict = True
        self._timestamps: dict[str, bool] = {}

    @property
    def is_view(self) -> bool:
        return True

    def columns(self) -> list[str]:
        return list(ENTITY_COLUMNS)

    def check_path(self, path: tuple[str, ...]) -> str | None:
        if path[0] not in ENTITY_COLUMNS:
            return f"entities has no column {path[0]} (its columns: {', '.join(ENTITY_COLUMNS)})"
        if len(path) > 1 and path[0] != "properties":
            return f"entities.{path[0]} has no fields"
        return None

    def is_timestamp(self, path: tuple[str, ...]) -> bool:
        if len(path) == 1:
            return path[0] in TIMESTAMP_SYSTEM_FIELDS
        if path[0] != "properties" or len(path) != 2:
            return False
        name = path[1]
        known = self._timestamps.get(name)
        if known is None:
            declared = [t for t in self.tables if t.field_schema(name) is not None]
            known = self._timestamps[name] = bool(declared) and all(t.is_timestamp(name) for t in declared)
        return known

    def view(self, record: dict[str, Any], table: str) -> dict[str, Any]:
        return entity_row(record, table)

    def getter(self, path: tuple[str, ...], table: str) -> Callable[[dict[str, Any]], Any]:
        head = path[0]
        if head == "type" and len(path) == 1:
            return lambda _record: table
        if head != "properties" and len(path) == 1:
            return lambda record: record.get(head)
        if head == "properties" and len(path) > 1:
            name, rest = path[1], path[2:]

            def prop(record: dict[str, Any]) -> Any:  # what entity_row(record)["properties"][name] holds
                own = record.get("properties")
                lifted = isinstance(own, dict)
                if name in SYSTEM_FIELDS or (name == "properties" and lifted) or name not in record:
                    value = own.get(name) if lifted else None
                else:
                    value = record[name]
                return value if not rest else get_path(value, rest) if isinstance(value, (dict, list)) else None

            return prop
        return super().getter(path, table)


def entity_row(record: dict[str, Any], table: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    own = record.get("properties")
    if isinstance(own, dict):
        props.update(own)
    for key, value in record.items():
        if key not in SYSTEM_FIELDS and not (key == "properties" and isinstance(value, dict)):
            props[key] = value
    name = record.get("name")
    return {
        "id": record["id"],
        "type": table,
        "name": name,
        "properties": props,
        "created_at": record.get("created_at"),
        "modified_at": record.get("modified_at"),
        "deleted_at": record.get("deleted_at"),
    }


class EdgesView(Relation):
    """The graph's edges as rows (read from `edges_out`, decoded by the graph layer)."""

    def __init__(self) -> None:
        self.name = EDGES
        self.tables = []
        self.strict = True

    @property
    def is_view(self) -> bool:
        return True

    def columns(self) -> list[str]:
        return list(EDGE_COLUMNS)

    def check_path(self, path: tuple[str, ...]) -> str | None:
        if path[0] not in EDGE_COLUMNS:
            return f"edges has no column {path[0]} (its columns: {', '.join(EDGE_COLUMNS)})"
        if len(path) > 1 and path[0] != "properties":
            return f"edges.{path[0]} has no fields"
        return None

    def is_timestamp(self, path: tuple[str, ...]) -> bool:
        return path == ("created_at",)

    def scan(self, core: TenantCore) -> Iterator[tuple[bytes, dict[str, Any]]]:
        from remlite.graph.keys import OUT, edge_dict

        for key, value in core.store.iter_from(OUT):
            yield key, edge_dict(key[:16], key[16:-16], key[-16:], value)

    def fetch(self, core: TenantCore, keys: list[bytes]) -> list[dict[str, Any] | None]:
        from remlite.graph.keys import OUT, edge_dict

        if not keys:
            return []
        values = core.store.cf[OUT][keys]
        return [
            None if v is None else edge_dict(k[:16], k[16:-16], k[-16:], v) for k, v in zip(keys, values, strict=True)
        ]

    def count(self, core: TenantCore) -> int:
        return -1  # not counted

    def scan_columns(
        self, core: TenantCore, paths: list[tuple[str, ...]]
    ) -> tuple[list[bytes], list[bool], list[list[Any]]]:
        keys, live, values = [], [], [[] for _ in paths]
        for key, row in self.scan(core):
            keys.append(key)
            live.append(True)
            for column, path in zip(values, paths, strict=True):
                column.append(get_path(row, path))
        return keys, live, values


class Catalog:
    """Resolves FROM names against the database's registry."""

    def __init__(
        self,
        names: Callable[[], list[str]],
        get: Callable[[str], TableSchema],
        stored: Callable[[str], set[str]] | None = None,
    ) -> None:
        self._names = names
        self._get = get
        self._stored = stored

    def resolve(self, node: exp.Table) -> Relation:
        name, schema = node.name, node.args.get("db")
        if schema is not None:
            if schema.name != TABLES_SCHEMA or node.args.get("catalog") is not None:
                raise UnknownTable(f"unknown table {node.sql(dialect='postgres')}: only tables.<name> is qualified")
            return TableRelation(self._table(name), self._stored)
        if name == ENTITIES:
            return EntitiesView([self._get(n) for n in self._names()])
        if name == EDGES and EDGES not in self._names():
            return EdgesView()
        return TableRelation(self._table(name), self._stored)

    def _table(self, name: str) -> TableSchema:
        try:
            return self._get(name)
        except UnknownTable:
            views = ", ".join(v for v in (ENTITIES, EDGES) if v not in self._names())
            raise UnknownTable(f"unknown table {name} (tables: {', '.join(self._names())}; views: {views})") from None
