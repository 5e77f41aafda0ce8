"""Turn what a user hands `register_schema` into (table name, JSON Schema, remlite options).

Accepted sources: a Pydantic model class, a JSON Schema dict, a path to a `.json`/`.yaml`/`.yml`
file, or `"package.module:Model"`. The remlite options (`key_field`, `indexed_fields`, …) are read
from `json_schema_extra`, both nested under that key and flattened at the top level (as Pydantic
emits a dict `json_schema_extra`).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from typing import Any

import orjson

from remlite.errors import SchemaError, ValidationError, shown
from remlite.schema.model import EXTRA_KEYS, RESERVED_TABLE_NAMES
from remlite.schema.validate import check_json_value

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # always fullmatch: `$` also matches before a final newline
_MODEL_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_DATA_KEYS = frozenset(("enum", "const", "default", "examples"))  # instances, not schemas: a "$ref" there is data


def snake_case(title: str) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "_", title.strip())
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return text.strip("_").lower()


def check_table_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise SchemaError(
            f"invalid table name {shown(name)}: use letters, digits and underscores, starting with a letter"
        )
    if name.lower() in RESERVED_TABLE_NAMES:
        raise SchemaError(f"table name {name!r} is reserved: SQL's `FROM {name.lower()}` is a built-in view")
    return name


def read_document(path: Path) -> dict[str, Any]:
    """Parse a JSON or YAML file into a dict, with errors that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read schema file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SchemaError(f"schema file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return parse_document(text, str(path), yaml=path.suffix.lower() in (".yaml", ".yml"))


def parse_document(text: str, origin: str, yaml: bool | None = None) -> dict[str, Any]:
    if yaml is None:
        yaml = not text.lstrip().startswith("{")
    try:
        if yaml:
            import yaml as pyyaml

            doc = pyyaml.load(text, Loader=_no_alias_loader())
        else:
            doc = orjson.loads(text)
    except Exception as exc:
        raise SchemaError(f"{origin}: not valid {'YAML' if yaml else 'JSON'}: {exc}") from None
    if not isinstance(doc, dict):
        raise SchemaError(f"{origin}: a schema must be a mapping, got {type(doc).__name__}")
    return doc


@functools.cache
def _no_alias_loader() -> Any:
    """PyYAML's SafeLoader refusing aliases: a few hundred bytes of nested aliases expand to
    billions of nodes ("billion laughs"), and a schema has no use for them."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*{event.anchor}) are not allowed in a schema", event.start_mark
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def _import_model(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SchemaError(f"cannot import module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SchemaError(f"module {module_name!r} has no attribute {attr!r}") from None


def load_source(source: Any) -> tuple[dict[str, Any], str | None]:
    """Return (raw schema document, name hint from the model class) for any accepted source."""
    if isinstance(source, type) and hasattr(source, "model_json_schema"):
        return source.model_json_schema(), snake_case(source.__name__)
    if isinstance(source, dict):
        return dict(source), None
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = Path(text)
        try:
            exists = path.exists()
        except OSError as exc:  # a name too long: exists() passes on all but "no such file"
            raise SchemaError(f"not a usable schema path {text[:80]!r}: {exc.strerror}") from None
        if path.suffix.lower() in (".json", ".yaml", ".yml") or exists:
            if not exists:
                raise SchemaError(f"schema file not found: {path}")
            return read_document(path), None
        if _MODEL_SPEC.fullmatch(text):
            return load_source(_import_model(text))
        raise SchemaError(f"not a schema file, dict or 'module:Model': {text!r}")
    raise SchemaError(
        f"cannot register a schema from {type(source).__name__}: pass a Pydantic model, a dict, "
        "a .json/.yaml path or 'module:Model'"
    )


def split_extras(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate remlite options from the JSON Schema proper."""
    schema = dict(doc)
    extras: dict[str, Any] = {}
    nested = schema.pop("json_schema_extra", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise SchemaError("json_schema_extra must be a mapping")
        extras.update({k: v for k, v in nested.items() if k in EXTRA_KEYS or k == "name"})
    for key in (*EXTRA_KEYS, "name"):
        if key in schema and key not in extras:
            extras[key] = schema.pop(key)
        elif key in schema:
            schema.pop(key)
    return schema, extras


def _string_list(extras: dict[str, Any], key: str) -> list[str]:
    value = extras.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SchemaError(f"{key} must be a field name or a list of field names, got {value!r}")
    return list(dict.fromkeys(value))


def _remote_ref(node: Any) -> str | None:
    """The first `$ref` (or dynamic/recursive ref) in the schema that is not local (`#...`)."""
    if isinstance(node, list):
        return next((found for item in node if (found := _remote_ref(item)) is not None), None)
    if not isinstance(node, dict):
        return None
    for key, value in node.items():
        if key in _REF_KEYS and isinstance(value, str) and not value.startswith("#"):
            return value
        if key not in _DATA_KEYS and (found := _remote_ref(value)) is not None:
            return found
    return None


def check_compiles(table: str, schema: dict[str, Any]) -> None:
    """Refuse a schema that could never validate a row: one the JSON Schema meta-schema rejects
    (a misspelt type, a bad pattern), a dangling `$ref`, or a `$ref` to another document, which
    compiling would fetch over HTTP or read from a local file (`offline` makes sure of it)."""
    import jsonschema_rs  # loaded at the first registration, not at open (~8 MB resident)

    remote = _remote_ref(schema)
    if remote is not None:
        raise SchemaError(f"table {table}: $ref {remote!r} points outside the schema; only local refs ('#/...') work")
    try:
        jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"table {table}: not a valid JSON Schema: {first}") from None


def normalize(source: Any, name: str | None, *, built_in: bool = False) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Return (table name, JSON Schema, options) with options checked against the schema.

    `built_in`: one of remlite's own templates, which a test compiles once; not compiling them at
    every new database keeps jsonschema-rs (~8 MB resident) out of a process that never validates."""
    doc, model_name = load_source(source)
    try:
        check_json_value(doc, "schema")
    except ValidationError as exc:
        raise SchemaError(exc.message) from None
    schema, extras = split_extras(doc)
    title = schema.get("title")
    table = name or extras.get("name") or (snake_case(title) if isinstance(title, str) and title else model_name)
    if not table:
        raise SchemaError("the schema has no name: pass name=, or give it a top-level 'name' or 'title'")
    check_table_name(table)
    if schema.get("type", "object") != "object":
        raise SchemaError(f"table {table}: a schema must describe an object, got type {schema.get('type')!r}")
    schema.setdefault("type", "object")
    if not built_in:
        check_compiles(table, schema)
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        raise SchemaError(f"table {table}: 'properties' must be a mapping")
    options: dict[str, Any] = {
        "key_field": _string_list(extras, "key_field"),
        "indexed_fields": _string_list(extras, "indexed_fields"),
        "embedding_fields": _string_list(extras, "embedding_fields"),
        "text_fields": _string_list(extras, "text_fields"),
        "embedding_metric": str(extras.get("embedding_metric") or "cos"),
        "description": str(extras.get("description") or schema.get("description") or ""),
        "category": str(extras.get("category") or ""),
    }
    if options["embedding_metric"] not in ("cos", "ip", "l2"):
        raise SchemaError(f"table {table}: embedding_metric must be cos, ip or l2, got {options['embedding_metric']!r}")
    version = extras.get("version")
    if version is not None:
        try:
            options["version"] = int(str(version).split(".")[0])
        except ValueError:
            raise SchemaError(f"table {table}: version must be a number, got {version!r}") from None
    for key in ("key_field", "embedding_fields", "text_fields"):
        for field_name in options[key]:
            if field_name.split(".")[0] not in properties:
                raise SchemaError(f"table {table}: {key} names {field_name!r}, which is not a property")
    for field_name in options["indexed_fields"]:
        top = field_name.split(".")[0]
        if top not in properties and top not in ("created_at", "modified_at", "deleted_at"):
            raise SchemaError(f"table {table}: indexed_fields names {field_name!r}, which is not a property")
    required = set(schema.get("required") or [])
    missing = [f for f in options["key_field"] if f not in required and "default" not in (properties[f] or {})]
    if missing:
        schema["required"] = [*schema.get("required", []), *missing]
    return table, schema, options
