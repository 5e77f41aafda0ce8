"""How a table's JSON Schema becomes typed Arrow columns, and how a typed row becomes a record again.

Export and import share this one mapping, so whatever export writes, import reads back the same way.
A field's *kind* is chosen from its JSON Schema alone (never from the values, unlike the SQL column
cache in `remlite.query.columns`, which types what it finds), because a file's schema must be known
before its first batch is written and must not change from batch to batch:

    ts      "format": "date-time" and the system timestamps   timestamp[us, tz=UTC]
    date    "format": "date"                                   date32
    int     "integer"                                          int64
    float   "number"                                           float64
    bool    "boolean"                                          bool
    str     "string"                                           string
    list    "array" of one of the scalar kinds above          list<...>
    struct  "object" that declares its "properties"           struct<...> (children by the same rules)
    json    anything else (no type, several types, a free object, an array of objects)
                                                               string: the value as JSON text

`Optional[X]` (`anyOf: [X, null]`, `type: [X, "null"]`) is X. In the *flat* profile (CSV) every list
and struct is JSON text and timestamps stay the text they were stored as: CSV has neither nesting nor
a timestamp type.

A typed row is turned back into a record by `Rebuild`: nulls are left out (import then lets
validation fill defaults, as the original insert did), timestamps become remlite's own text form
(`YYYY-MM-DDTHH:MM:SS.ffffffZ`, which every system timestamp already has), JSON text is parsed. A JSON
column keeps presence exactly: a missing value is null, a JSON null is the text `null`. Where that
cannot give back the stored record — an explicit null the defaults would not restore, a key the
schema does not declare, a timestamp written another way — export adds the stored record itself in
the `_remlite_row` column (see `remlite.exchange.batches`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from remlite.exchange.limits import EXACT_COLUMN, VECTOR_PREFIX
from remlite.schema.model import SYSTEM_FIELDS, TableSchema, _resolve

SCALARS = ("int", "float", "bool", "str")
TS_TYPE = pa.timestamp("us", tz="UTC")
_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(), "json": pa.string()}
_DUCK = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "VARCHAR", "json": "JSON"}
_JSON_TYPES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}


@dataclass
class Column:
    """One column: a top-level field, or a child of a struct."""

    name: str
    kind: str
    children: list[Column] = field(default_factory=list)  # struct
    item: str = ""  # list: the kind of its items
    null_default: bool = False  # the schema's default is null: an explicit null comes back by itself

    def arrow_type(self) -> pa.DataType:
        if self.kind == "ts":
            return TS_TYPE
        if self.kind == "date":
            return pa.date32()
        if self.kind == "list":
            return pa.list_(_ARROW[self.item])
        if self.kind == "struct":
            return pa.struct([pa.field(c.name, c.arrow_type()) for c in self.children])
        return _ARROW[self.kind]

    def duck_type(self) -> Any:
        """The type spec DuckDB's `json_transform` reads this column's JSON values with."""
        if self.kind in ("ts", "date"):
            return "VARCHAR"  # parsed to Arrow timestamps afterwards, so written forms can be checked
        if self.kind == "list":
            return [_DUCK[self.item]]
        if self.kind == "struct":
            return {c.name: c.duck_type() for c in self.children}
        return _DUCK[self.kind]


def kind_of(root: dict[str, Any], node: Any, depth: int = 0) -> Column:
    """The column a JSON Schema node maps to (named later)."""
    node = _resolve(root, node) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return Column("", "json")
    null_default = "default" in node and node["default"] is None
    declared = node.get("type")
    types = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        return Column("", "json", null_default=null_default)
    kind = types[0]
    if kind == "string":
        fmt = node.get("format")
        return Column("", "ts" if fmt == "date-time" else "date" if fmt == "date" else "str", null_default=null_default)
    if kind in _JSON_TYPES:
        return Column("", _JSON_TYPES[kind], null_default=null_default)
    if kind == "array":
        item = kind_of(root, node.get("items"), depth + 1)
        if item.kind in SCALARS:
            return Column("", "list", item=item.kind, null_default=null_default)
    if kind == "object" and isinstance(node.get("properties"), dict) and node["properties"] and depth < 8:
        children = []
        for name, prop in node["properties"].items():
            child = kind_of(root, prop, depth + 1)
            child.name = name
            children.append(child)
        return Column("", "struct", children=children, null_default=null_default)
    return Column("", "json", null_default=null_default)


@dataclass
class TablePlan:
    """The columns of one table's export, in order: `id`, the declared fields, the system timestamps."""

    table: str
    columns: list[Column]
    flat: bool = False

    @classmethod
    def of(cls, table: TableSchema, *, system: bool = True, flat: bool = False) -> TablePlan:
        columns = [Column("id", "str")] if system else []
        for name, prop in table.properties.items():
            if name in SYSTEM_FIELDS:
                continue
            column = kind_of(table.json_schema, prop)
            column.name = name
            columns.append(_flatten(column) if flat else column)
        if system:
            stamp = "str" if flat else "ts"
            columns += [Column(name, stamp) for name in SYSTEM_FIELDS[1:]]
        return cls(table.name, columns, flat)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type()) for c in self.columns])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _flatten(column: Column) -> Column:
    """The CSV form of a column: lists and objects become JSON text, timestamps their stored text."""
    if column.kind in ("list", "struct"):
        return Column(column.name, "json", null_default=column.null_default)
    if column.kind in ("ts", "date"):
        return Column(column.name, "str", null_default=column.null_default)
    return column


def canonical_ts(value: dt.datetime) -> str:
    """remlite's text form of an instant (the form `remlite.storage.clock.now_iso` writes)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Rebuild:
    """Records from typed rows (`to_pylist()` dicts) by a `TablePlan`: the inverse of export."""

    def __init__(self, plan: TablePlan) -> None:
        self.plan = plan
        self.by_name = {c.name: c for c in plan.columns}

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        exact = row.get(EXACT_COLUMN)
        if exact:  # (a CSV rewritten by another tool may hold "" where there is none)
            return orjson.loads(exact)  # type: ignore[no-any-return]
        out: dict[str, Any] = {}
        by_name = self.by_name
        for name, value in row.items():
            if value is None or name == EXACT_COLUMN or name.startswith(VECTOR_PREFIX):
                continue
            column = by_name.get(name)
            out[name] = _value(column, value) if column is not None else _loose(value)
        return out

    def records(self, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        """`record` of every row of `batch`, column by column: each column is read and converted
        once, then the rows are assembled without a conversion call per value (import reads every
        file twice, and this was a fifth of its Python time)."""
        exact: list[Any] | None = None
        columns: list[tuple[str, list[Any], Any]] = []  # (name, values, what marks a missing value)
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            if name == EXACT_COLUMN:
                exact = array.to_pylist()
                continue
            if name.startswith(VECTOR_PREFIX):
                continue
            values = array.to_pylist()
            column = self.by_name.get(name)
            if column is not None and column.kind in SCALARS:
                columns.append((name, values, None))  # kept as they are: only a null is missing
                continue
            convert = _loose if column is None else functools.partial(_value, column)
            # (a converted value may be None itself, JSON text "null": kept, as `record` keeps it)
            columns.append((name, [_MISSING if v is None else convert(v) for v in values], _MISSING))
        out: list[dict[str, Any]] = []
        for i in range(batch.num_rows):
            if exact is not None and exact[i]:  # (a CSV rewritten by another tool may hold "")
                out.append(orjson.loads(exact[i]))
            else:
                out.append({name: v for name, values, missing in columns if (v := values[i]) is not missing})
        return out


_MISSING = object()


def _value(column: Column, value: Any) -> Any:
    kind = column.kind
    if kind == "json":
        return orjson.loads(value) if isinstance(value, (str, bytes)) else _loose(value)
    if kind == "ts":
        return canonical_ts(value) if isinstance(value, dt.datetime) else value
    if kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else value
    if kind == "struct" and isinstance(value, dict):
        children = {c.name: c for c in column.children}
        return {k: (_value(children[k], v) if k in children else _loose(v)) for k, v in value.items() if v is not None}
    return _loose(value) if kind == "list" else value


def _loose(value: Any) -> Any:
    """A value of a column the plan does not know (a file written elsewhere): as JSON-like as it gets."""
    if isinstance(value, dt.datetime):
        return canonical_ts(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _loose(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_loose(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value
