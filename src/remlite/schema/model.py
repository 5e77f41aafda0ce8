"""A registered table: its JSON Schema plus the remlite options read from `json_schema_extra`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

SYSTEM_FIELDS = ("id", "created_at", "modified_at", "deleted_at")
EDGES_VIEW = "edges"  # SQL's view of the graph (remlite.query.catalog)
# Names a table may not take: `FROM edges` must keep meaning the graph. (`FROM entities` always
# means the view over every table, so the built-in `entities` table is not hidden by it.)
RESERVED_TABLE_NAMES = frozenset((EDGES_VIEW,))
TIMESTAMP_SYSTEM_FIELDS = frozenset({"created_at", "modified_at", "deleted_at"})
EXTRA_KEYS = (
    "key_field",
    "indexed_fields",
    "embedding_fields",
    "text_fields",
    "embedding_metric",
    "description",
    "category",
    "version",
)


@dataclass
class TableSchema:
    name: str
    table_id: int
    json_schema: dict[str, Any]
    key_field: list[str] = field(default_factory=list)
    indexed_fields: list[str] = field(default_factory=list)
    embedding_fields: list[str] = field(default_factory=list)
    text_fields: list[str] = field(default_factory=list)
    embedding_metric: str = "cos"
    description: str = ""
    category: str = ""
    version: int = 1
    field_ids: dict[str, int] = field(default_factory=dict)
    template: bool = False

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> TableSchema:
        return cls(**orjson.loads(data))

    def describe(self) -> dict[str, Any]:
        """The public view: what `db.schema(name)` and `remlite schema show` return."""
        out = asdict(self)
        out.pop("field_ids")
        out.pop("table_id")
        out["key_field"] = self.key_field_spec
        return out

    @property
    def key_field_spec(self) -> str | list[str] | None:
        if not self.key_field:
            return None
        return self.key_field[0] if len(self.key_field) == 1 else list(self.key_field)

    @property
    def searchable_text_fields(self) -> list[str]:
        """Fields with a BM25 index: `text_fields` when declared, else the `embedding_fields`."""
        return list(self.text_fields or self.embedding_fields)

    @property
    def properties(self) -> dict[str, Any]:
        return self.json_schema.get("properties") or {}

    def field_schema(self, path: str) -> dict[str, Any] | None:
        """The JSON Schema of a (dotted) field, following `$ref`s into `$defs`; None if undeclared."""
        node: dict[str, Any] | None = {"properties": self.properties}
        for part in path.split("."):
            node = _resolve(self.json_schema, node)
            props = (node or {}).get("properties") or {}
            if part not in props:
                return None
            node = props[part]
        return _resolve(self.json_schema, node)

    def is_timestamp(self, path: str) -> bool:
        if path in TIMESTAMP_SYSTEM_FIELDS:
            return True
        schema = self.field_schema(path)
        return schema is not None and _has_format(self.json_schema, schema, ("date-time", "date"))


def _resolve(root: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any] | None:
    """Follow a local `$ref` and unwrap `anyOf: [X, null]` (how Pydantic writes Optional[X])."""
    seen = 0
    while node is not None and seen < 16:
        seen += 1
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            node = target
            continue
        options = node.get("anyOf") or node.get("oneOf")
        if options:
            non_null = [o for o in options if o.get("type") != "null"]
            if len(non_null) == 1:
                node = non_null[0]
                continue
        return node
    return node


def _has_format(root: dict[str, Any], node: dict[str, Any], formats: tuple[str, ...]) -> bool:
    node = _resolve(root, node) or {}
    if node.get("format") in formats:
        return True
    return any(_has_format(root, o, formats) for o in node.get("anyOf") or node.get("oneOf") or [])
