"""What a planner knows about a tenant: its tables, their fields and words, values seen in the data,
and the edge types of the graph.

Both planners read it: the rules planner matches a question's words against table names and
synonyms, field names, enum-like values ("delayed", "critical", "DHL") and relation words; the LLM
planner puts it in its prompt. It is built from the public verbs (`schemas`, `sql`, `edge_types`);
`VocabularyCache` says when it is rebuilt (at once for a schema change, in the background for data).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remlite.database import Database

REFRESH_SECONDS = 2.0
log = logging.getLogger("remlite.ask")
MAX_VALUES = 40  # a string field with more distinct values is not enum-like
SAMPLE_ROWS = 2000
_SYSTEM_TIMES = ("created_at", "modified_at")
_IRREGULAR = {"people": ("person", "persons", "people", "folks", "users"), "person": ("people", "persons")}


@dataclass(frozen=True)
class FieldInfo:
    """One top-level field. `values`: the distinct strings seen (enum-like fields only, or the
    schema's `enum`), most frequent first."""

    name: str
    type: str
    description: str = ""
    indexed: bool = False
    timestamp: bool = False
    is_array: bool = False
    values: tuple[str, ...] = ()
    system: bool = False  # created_at / modified_at as remlite sets them (the schema does not declare them)


@dataclass(frozen=True)
class TableInfo:
    """A table as planners see it. `words`: how a question may name it (name, singular, plural,
    declared `synonyms`). `time_field`: the field a time window filters on by default — the first
    timestamp field of the schema (a domain date says more than the row's insertion time), else
    `created_at`."""

    name: str
    description: str
    key_field: str | None
    fields: dict[str, FieldInfo]
    searchable: tuple[str, ...]
    embedded: tuple[str, ...]
    moments: bool
    count: int
    words: frozenset[str]
    time_field: str
    key_samples: tuple[str, ...] = ()

    def timestamp_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.timestamp]


@dataclass(frozen=True)
class EdgeInfo:
    """An edge type with the tables its sources and targets were seen in (from a sample)."""

    type: str
    count: int
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass
class Vocabulary:
    tables: dict[str, TableInfo]
    edges: dict[str, EdgeInfo]
    seq: int
    schema_version: tuple[tuple[str, int], ...]
    built: float = field(default_factory=time.monotonic)
    derived: dict[str, Any] = field(default_factory=dict)  # what a planner computed from it, kept with it

    def describe(self) -> dict[str, Any]:
        """The vocabulary as JSON data (what the LLM planner's prompt shows)."""
        return {
            "tables": [
                {
                    "name": t.name,
                    "description": t.description,
                    "rows": t.count,
                    "key_field": t.key_field,
                    "moments": t.moments,
                    "searchable_text": list(t.searchable),
                    "default_time_field": t.time_field,
                    "fields": [
                        {
                            k: v
                            for k, v in {
                                "name": f.name,
                                "type": f.type,
                                "description": f.description or None,
                                "indexed": f.indexed or None,
                                "array": f.is_array or None,
                                "values": list(f.values[:12]) or None,
                            }.items()
                            if v is not None
                        }
                        for f in t.fields.values()
                    ],
                }
                for t in self.tables.values()
            ],
            "edge_types": [
                {"type": e.type, "count": e.count, "from": list(e.sources), "to": list(e.targets)}
                for e in self.edges.values()
            ],
        }


def table_words(name: str, schema: dict[str, Any]) -> frozenset[str]:
    """The words that name a table: itself, its singular/plural, `synonyms` declared in its schema."""
    base = name.lower().replace("_", " ")
    words = {base}
    if base.endswith("ies"):
        words.add(base[:-3] + "y")
    elif base.endswith("s"):
        words.add(base[:-1])
    else:
        words.add(base + "s")
    words.update(_IRREGULAR.get(base, ()))
    declared = schema.get("synonyms") or schema.get("x-synonyms") or []
    if isinstance(declared, list):
        words.update(str(w).lower() for w in declared)
    return frozenset(words)


class VocabularyCache:
    """One tenant's vocabulary. A new or changed schema rebuilds it before the question is planned;
    new data only refreshes it in the background (at most every REFRESH_SECONDS), the question being
    planned with the one at hand: a rebuild is ~100 ms of GROUP BYs at a few thousand records, which
    a process writing all the time should not pay before every question."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._current: Vocabulary | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        self._thread: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        """Wait for a background refresh to end: the database closes after it, never under it."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join()

    def get(self) -> Vocabulary:
        current = self._current
        if current is not None and current.seq == self.db.last_seq:
            return current
        if current is not None and _schema_versions(self.db) == current.schema_version:
            if time.monotonic() - current.built >= REFRESH_SECONDS:
                self._refresh_in_background()
            return current
        with self._lock:
            if self._current is current:
                self._current = build(self.db)
            return self._current  # type: ignore[return-value]

    def _refresh_in_background(self) -> None:
        def refresh() -> None:
            try:
                fresh = build(self.db)
                with self._lock:
                    self._current = fresh
            except Exception:  # closed meanwhile, or a transient read error: the next question retries
                log.debug("vocabulary refresh failed", exc_info=True)
            finally:
                self._refreshing = False

        with self._lock:
            if self._refreshing or self._closed:
                return
            self._refreshing = True
            self._thread = threading.Thread(target=refresh, name="remlite-vocabulary", daemon=True)
            self._thread.start()


def _schema_versions(db: Database) -> tuple[tuple[str, int], ...]:
    return tuple((s["name"], s.get("version", 1)) for s in db.schemas())


def build(db: Database) -> Vocabulary:
    seq = db.last_seq
    tables: dict[str, TableInfo] = {}
    versions = []
    for schema in db.schemas():
        name = schema["name"]
        versions.append((name, schema.get("version", 1)))
        tables[name] = _table_info(db, schema)
    edges = {
        e["type"]: EdgeInfo(e["type"], e["count"], tuple(e["sources"]), tuple(e["targets"])) for e in db.edge_types()
    }
    return Vocabulary(tables, edges, seq, tuple(versions))


def _table_info(db: Database, schema: dict[str, Any]) -> TableInfo:
    name = schema["name"]
    json_schema = schema.get("json_schema") or {}
    properties: dict[str, Any] = json_schema.get("properties") or {}
    indexed = set(schema.get("indexed_fields") or [])
    key = schema.get("key_field")
    key_field = key if isinstance(key, str) else None
    searchable = tuple(schema.get("text_fields") or schema.get("embedding_fields") or ())
    fields: dict[str, FieldInfo] = {}
    for field_name, spec in properties.items():
        if not isinstance(spec, dict):
            continue
        kind = _type_of(spec)
        timestamp = spec.get("format") in ("date-time", "date") or _any_format(spec)
        values: tuple[str, ...] = ()
        if isinstance(spec.get("enum"), list):
            values = tuple(str(v) for v in spec["enum"])
        elif kind == "string" and not timestamp and field_name not in searchable and schema.get("count", 0):
            values = _enum_values(db, name, field_name)
        elif kind == "array" and (spec.get("items") or {}).get("type") == "string" and schema.get("count", 0):
            values = _member_values(db, name, field_name)
        fields[field_name] = FieldInfo(
            field_name,
            "timestamp" if timestamp else kind,
            str(spec.get("description") or ""),
            field_name in indexed,
            bool(timestamp),
            kind == "array",
            values,
        )
    for system in _SYSTEM_TIMES:
        fields.setdefault(system, FieldInfo(system, "timestamp", "set by remlite", False, True, system=True))
    domain_times = [f.name for f in fields.values() if f.timestamp and f.name not in _SYSTEM_TIMES]
    moments = "start_time" in indexed and "end_time" in indexed
    return TableInfo(
        name=name,
        description=str(schema.get("description") or json_schema.get("description") or ""),
        key_field=key_field,
        fields=fields,
        searchable=searchable,
        embedded=tuple(schema.get("embedding_fields") or ()),
        moments=moments,
        count=int(schema.get("count") or 0),
        words=table_words(name, json_schema),
        time_field="start_time" if moments else (domain_times[0] if domain_times else "created_at"),
        key_samples=_key_samples(db, name, key_field) if key_field and schema.get("count") else (),
    )


def _member_values(db: Database, table: str, field_name: str) -> tuple[str, ...]:
    """The strings an array field's members take (tags), from the first SAMPLE_ROWS rows, when
    there are at most MAX_VALUES of them: remlite's SQL has no unnest, and a sample bounds the cost."""
    quoted = '"' + field_name.replace('"', '""') + '"'
    try:
        rows = db.sql(f'SELECT {quoted} AS v FROM "{table}" LIMIT {SAMPLE_ROWS}').rows
    except Exception:
        return ()
    counts: dict[str, int] = {}
    for row in rows:
        for member in row["v"] if isinstance(row["v"], list) else ():
            if isinstance(member, str) and member:
                counts[member] = counts.get(member, 0) + 1
    if len(counts) > MAX_VALUES:
        return ()
    return tuple(sorted(counts, key=lambda v: -counts[v]))


def _key_samples(db: Database, table: str, key_field: str) -> tuple[str, ...]:
    """A few natural keys of the table: their shape ("INV-2291") tells a planner which table a code
    in a question belongs to."""
    quoted = '"' + key_field.replace('"', '""') + '"'
    try:
        rows = db.sql(f'SELECT {quoted} AS k FROM "{table}" LIMIT 5').rows
    except Exception:
        return ()
    return tuple(str(r["k"]) for r in rows if r.get("k") is not None)


def _type_of(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and "anyOf" in spec:
        kinds = [s.get("type") for s in spec["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        kind = kinds[0] if kinds else None
    return str(kind or "any")


def _any_format(spec: dict[str, Any]) -> bool:
    options = spec.get("anyOf") or []
    return any(isinstance(s, dict) and s.get("format") in ("date-time", "date") for s in options)


def _enum_values(db: Database, table: str, field_name: str) -> tuple[str, ...]:
    """The field's distinct strings, most frequent first, when there are at most MAX_VALUES."""
    quoted = '"' + field_name.replace('"', '""') + '"'
    try:
        rows = db.sql(
            f'SELECT {quoted} AS v, count(*) AS n FROM "{table}" GROUP BY {quoted} '
            f"ORDER BY n DESC LIMIT {MAX_VALUES + 1}"
        ).rows
    except Exception:  # a field the SQL layer cannot group (mixed types): not enum-like
        return ()
    if len(rows) > MAX_VALUES:
        return ()
    return tuple(str(r["v"]) for r in rows if isinstance(r["v"], str) and r["v"])
