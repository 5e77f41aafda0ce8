"""Compiled, cached record validation.

The JSON Schema is the single source of truth for a table (a Pydantic model is turned into one at
registration), so records are validated by a compiled JSON Schema validator rather than by the
model class, which may not be importable when the database is reopened. jsonschema-rs was chosen by
measurement on this machine (a 5-field record with a nested model, per call): jsonschema-rs
`is_valid` 0.34 µs, fastjsonschema 1.8 µs, Pydantic `model_validate` 1.5 µs.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import orjson

from remlite.errors import ValidationError
from remlite.schema.model import TableSchema


def to_json_native(value: Any) -> Any:
    """Datetimes, UUIDs, dataclasses, numpy values and Pydantic models become JSON types."""
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY))
    except TypeError as exc:
        raise ValidationError(f"record is not JSON-serialisable: {exc}") from None


_DUMP_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
# Integers are signed 64-bit everywhere: index keys and SQL BIGINT columns hold no more, and orjson
# (which also takes uint64) refuses the rest. A value from 2**63 has 19+ digits in the encoding.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_LONG_DIGITS = re.compile(rb"\d{19}")
# orjson refuses nesting beyond 254 containers; a record is checked inside a list, one level more.
MAX_DEPTH = 253
_NONE = type(None)
_FLAT = frozenset((str, int, bool, _NONE))
_SCALARS = _FLAT | {float}
_float_check = float.__instancecheck__
_SLICE = 4096  # records checked per orjson encoding (about 0.5 MB of transient output)


def _fault(value: Any, path: list[str], depth: int) -> tuple[str, str] | None:
    """(dotted path, why) of the first value in `value` that a row cannot hold exactly, or None.

    The slow, exhaustive walk: it runs only when the fast checks of `json_value_fault` saw something
    (orjson refused the values, a float sum was not finite, or there are nested containers)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        if kind is str and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                return ".".join(path), f"{value!r} is not valid Unicode (a lone surrogate)"
        return None
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            return ".".join(path), f"integer {value} is outside the signed 64-bit range (-2**63 to 2**63-1)"
        return None
    if isinstance(value, float):
        if value - value != 0.0:
            return ".".join(path), f"{value} is not a finite number (JSON has no NaN or Infinity)"
        return None
    if isinstance(value, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            return ".".join(path), f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, dict):
            items: Any = value.items()
        else:
            items = ((str(i), item) for i, item in enumerate(value))
        for key, item in items:
            if not isinstance(key, str):
                return ".".join(path), f"key {key!r} is not a string"
            found = _fault(key, [*path, key], depth) or _fault(item, [*path, key], depth + 1)
            if found is not None:
                return found
        return None
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return _fault(value.model_dump(), path, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fault(dataclasses.asdict(value), path, depth)
    if hasattr(value, "tolist"):  # numpy arrays and scalars: orjson writes their NaN as null
        return _fault(value.tolist(), path, depth)
    try:
        orjson.dumps(value, option=_DUMP_OPTIONS)
    except TypeError:
        return ".".join(path), f"a {kind.__name__} is not a JSON value"
    return None


def _floats_finite(value: Any) -> bool:
    """Whether every float in `value` is finite (orjson, which checked everything else, writes a
    non-finite float as null without a word)."""
    kind = type(value)
    if kind is dict:
        return all(map(_floats_finite, value.values()))
    if kind is list or kind is tuple:
        return all(map(_floats_finite, value))
    if isinstance(value, float):
        return value - value == 0.0
    if kind in _FLAT:
        return True
    return not hasattr(value, "tolist") or _floats_finite(value.tolist())


def json_value_fault(records: Sequence[dict[str, Any]]) -> tuple[int, str, str] | None:
    """(position, field path, why) of the first record value a row cannot hold exactly, else None:
    NaN and ±Infinity (orjson would store null, an index +inf), integers beyond 64 bits, lone
    surrogates, non-string keys, nesting orjson refuses, and types JSON does not have.

    Runs on every write, so the common case is C-level passes over a slice of records: one orjson
    encoding, which refuses everything but non-finite floats and writes those as null, so output
    whose nulls are all top-level Nones is clean; otherwise a sum of the top-level floats, finite
    only if each is, and a walk of the values that are not scalars. Slices bound the encoding's
    transient memory for large batches."""
    if len(records) <= _SLICE:
        return _slice_fault(records)
    for start in range(0, len(records), _SLICE):
        found = _slice_fault(records[start : start + _SLICE])
        if found is not None:
            return start + found[0], found[1], found[2]
    return None


def _slice_fault(records: Sequence[dict[str, Any]]) -> tuple[int, str, str] | None:
    try:
        encoded = orjson.dumps(records, option=_DUMP_OPTIONS)
    except TypeError:
        pass
    else:
        if _clean(records, encoded):
            return None
    for position, record in enumerate(records):
        found = _fault(record, [], 1)
        if found is not None:
            return position, *found
    return None


def _clean(records: Sequence[dict[str, Any]], encoded: bytes) -> bool:
    """Whether orjson's encoding of `records` proves them clean, so the exact walk can be skipped."""
    if _LONG_DIGITS.search(encoded) is not None:
        return False  # an integer from 2**63 on (or a long run of digits in a string)
    if b"null" not in encoded:  # orjson writes NaN and ±Infinity as null: none anywhere
        return True
    values = list(chain.from_iterable(map(dict.values, records)))
    types = list(map(type, values))
    if encoded.count(b"null") == types.count(_NONE):  # every null is a top-level None
        return True
    kinds = set(types)
    return (float not in kinds or _finite_sum(filter(_float_check, values))) and (
        kinds <= _SCALARS or all(_floats_finite(v) for v in values if type(v) not in _SCALARS)
    )


def _finite_sum(floats: Any) -> bool:
    """Whether every float is finite: a NaN or infinity makes the sum non-finite (a sum that
    overflows only sends the caller to the exact walk)."""
    total = sum(floats)
    return total - total == 0.0


def check_json_value(value: Any, what: str = "value") -> None:
    """Raise ValidationError naming the path of the first part of `value` a row cannot hold."""
    found = _fault(value, [], 1)
    if found is not None:
        path, why = found
        raise ValidationError(f"{what}: field '{path}': {why}" if path else f"{what}: {why}", field=path or None)


def _check_timestamp(table: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = to_json_native(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                value = parsed.replace(tzinfo=UTC).isoformat()
            return value
    raise ValidationError(
        f"{table}: field 'created_at': {value!r} is not an ISO 8601 timestamp", field="created_at", table=table
    )


def _restamp(body: dict[str, Any], created_at: str | None, record_id: Any) -> dict[str, Any]:
    """Put back the system fields a write may carry, after validation."""
    if record_id is not None:
        body["id"] = record_id
    if created_at is not None:
        body["created_at"] = created_at
    return body


def _list_of(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema for a list of records: `$defs` and the dialect stay at the root, where the record
    schema's `$ref`s point."""
    items = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema", "$id")}
    root = {k: v for k, v in schema.items() if k in ("$defs", "definitions", "$schema", "$id")}
    return {**root, "type": "array", "items": items}


# Defaults inside nested objects (a Pydantic sub-model's fields, `$defs`): per object, its own
# fields' defaults, the plans of its object fields, and the plan of its array items.
_Plan = tuple[dict[str, Any], dict[str, Any], Any]


def _resolve(node: Any, root: dict[str, Any], seen: frozenset[str]) -> tuple[Any, frozenset[str]]:
    """A subschema with a local `$ref` (and Pydantic's `allOf: [{$ref}]` / `anyOf: [{$ref}, null]`)
    followed; a reference already on the path is not followed again (recursive models)."""
    for _ in range(8):
        if not isinstance(node, dict):
            return node, seen
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            node, seen = target, seen | {ref}
            continue
        for key in ("allOf", "anyOf", "oneOf"):
            options = [o for o in node.get(key) or [] if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(options) == 1 and "properties" not in node:
                node = options[0]
                break
        else:
            return node, seen
    return node, seen


def _defaults_plan(node: Any, root: dict[str, Any], seen: frozenset[str]) -> _Plan | None:
    """How to fill the defaults of one object value (None when nothing inside it has one)."""
    node, seen = _resolve(node, root, seen)
    if not isinstance(node, dict):
        return None
    items = _defaults_plan(node.get("items"), root, seen) if isinstance(node.get("items"), dict) else None
    own, children = {}, {}
    for name, prop in (node.get("properties") or {}).items():
        resolved, _ = _resolve(prop, root, seen)
        if isinstance(resolved, dict) and "default" in resolved:
            own[name] = resolved["default"]
        elif isinstance(prop, dict) and "default" in prop:
            own[name] = prop["default"]
        child = _defaults_plan(prop, root, seen)
        if child is not None:
            children[name] = child
    return (own, children, items) if own or children or items else None


def _fill(plan: _Plan, value: Any) -> Any:
    """`value` with the plan's defaults filled in where it lacks them (a copy when it changes)."""
    own, children, items = plan
    if isinstance(value, list):
        return [_fill(items, v) for v in value] if items is not None else value
    if not isinstance(value, dict):
        return value
    out = value
    missing = [k for k in own if k not in value]
    if missing:
        out = {**{k: copy.deepcopy(own[k]) for k in missing}, **value}
    for name, child in children.items():
        inner = out.get(name)
        if isinstance(inner, (dict, list)):
            filled = _fill(child, inner)
            if filled is not inner:
                out = dict(out) if out is value else out
                out[name] = filled
    return out


class RecordValidator:
    def __init__(self, table: TableSchema) -> None:
        self.table = table.name
        schema = dict(table.json_schema)
        self._declares_id = "id" in (schema.get("properties") or {})
        import jsonschema_rs  # ~8 MB resident: loaded by the first table that validates a row, not at open

        try:
            # offline: a `$ref` to another document is never fetched (registration refuses them)
            self._validator = jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)
            self._list_validator = jsonschema_rs.validator_for(_list_of(schema), validate_formats=True, offline=True)
        except Exception as exc:
            raise ValidationError(f"table {table.name}: its JSON Schema does not compile: {exc}") from None
        self._defaults = {
            name: prop["default"]
            for name, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, dict) and "default" in prop
        }
        self._mutable_defaults = any(isinstance(v, (dict, list)) for v in self._defaults.values())
        self._nested = {
            name: plan
            for name, prop in (schema.get("properties") or {}).items()
            if (plan := _defaults_plan(prop, schema, frozenset())) is not None
        }

    def validate(self, record: Any) -> dict[str, Any]:
        """Return the record with defaults applied, or raise ValidationError.

        System fields: `id` is kept when present (the caller checks it); a `created_at` is kept (an
        import may preserve when a record was first made) after checking it is a timestamp;
        `modified_at` is dropped (the database sets it); a non-null `deleted_at` is refused (use
        delete()), so a record read with get() can be written back as it is.
        """
        return self.validate_many([record])[0]

    def validate_many(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """`validate` of each record, checked against the schema in one call for the whole list
        (0.17 µs a record against 0.30 µs one by one). An error names the record's position when
        there are several."""
        bodies, stamps = [], []
        position = 0
        try:
            for position, record in enumerate(records):  # noqa: B007 (named in the error)
                body, created_at, record_id = self._prepare(record)
                bodies.append(body)
                stamps.append((created_at, record_id))
            fault = json_value_fault(bodies)
            if fault is not None:
                position, path, why = fault
                raise ValidationError(f"{self.table}: field '{path}': {why}", field=path, table=self.table)
            try:
                ok = self._list_validator.is_valid(bodies)
            except ValueError:  # a value JSON does not have (datetime, UUID, …): normalise and retry
                bodies = [to_json_native(body) for body in bodies]
                ok = self._list_validator.is_valid(bodies)
            if not ok:
                for position, body in enumerate(bodies):  # noqa: B007
                    if not self._validator.is_valid(body):
                        self._raise_first_error(body)
        except ValidationError as exc:
            raise (exc.at_record(position) if len(records) > 1 else exc) from None
        return [_restamp(body, *stamp) for body, stamp in zip(bodies, stamps, strict=True)]

    def _prepare(self, record: Any) -> tuple[dict[str, Any], str | None, Any]:
        """(body without system fields, checked created_at, given id) of one record."""
        if not isinstance(record, dict):
            record = to_json_native(record)
            if not isinstance(record, dict):
                raise ValidationError(f"a record must be a JSON object, got {type(record).__name__}", table=self.table)
        body = dict(record)
        created_at = None
        if "created_at" in body or "modified_at" in body or "deleted_at" in body:
            if body.pop("deleted_at", None) is not None:
                raise ValidationError(
                    f"{self.table}: 'deleted_at' is set by delete(), not by a write",
                    field="deleted_at",
                    table=self.table,
                )
            body.pop("modified_at", None)
            created_at = _check_timestamp(self.table, body.pop("created_at", None))
        record_id = None if self._declares_id else body.pop("id", None)
        if self._defaults:
            missing = {k: v for k, v in self._defaults.items() if k not in body}
            if missing:
                body = {**(copy.deepcopy(missing) if self._mutable_defaults else missing), **body}
        for name, plan in self._nested.items():
            value = body.get(name)
            if isinstance(value, (dict, list)):
                body[name] = _fill(plan, value)
        return body, created_at, record_id

    def _raise_first_error(self, body: dict[str, Any]) -> None:
        for error in self._validator.iter_errors(body):
            path = ".".join(str(p) for p in error.instance_path)
            if type(error.kind).__name__ == "Required" and '"' in error.message:
                missing = error.message.split('"')[1]
                path = f"{path}.{missing}" if path else missing
            where = f"field '{path}'" if path else "record"
            raise ValidationError(f"{self.table}: {where}: {error.message}", field=path or None, table=self.table)
        raise ValidationError(f"{self.table}: record does not match the schema", table=self.table)
