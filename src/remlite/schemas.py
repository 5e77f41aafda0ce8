"""Tables of `remlite.Database` (`SchemaAdmin`): register or upgrade, describe, drop.

An upgrade builds the indexes it adds first (under a marker, with field ids the old schema does not
use), then publishes the schema in one batch with the removal of the indexes it drops and its
`SchemaPut` entry: an upgrade interrupted anywhere leaves either schema whole. A drop removes every
row and derived key of the table in one batch with its `SchemaDropped` entry.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson

from remlite.errors import SchemaError
from remlite.fuzzy import FuzzyHook
from remlite.graph.keys import delete_edge_ops
from remlite.migrate import build_added_indexes, discard_partial, removal_ops
from remlite.records import TableLayout
from remlite.schema.loader import normalize
from remlite.schema.model import TableSchema
from remlite.schema.registry import SchemaChange
from remlite.schema.templates import TEMPLATES
from remlite.storage import codec
from remlite.storage.changelog import SchemaDropped, SchemaPut
from remlite.storage.clock import now_iso
from remlite.storage.keyspace import (
    INITIALISED_KEY,
    NEXT_TABLE_KEY,
    count_key,
    fuzzy_marker_key,
    row_label_key,
    schema_key,
    table_prefix,
    upgrade_key,
)

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.moments import Spans


class SchemaAdmin:
    """register_schema, schemas, schema, templates and drop_schema of `remlite.Database`."""

    def __init__(self, core: TenantCore, spans: Spans) -> None:
        self.core = core
        self.spans = spans

    def initialise(self) -> None:
        """Register the built-in templates in a new database (logged: every new database logs them
        alike, so logs of one lineage agree from seq 1)."""
        meta = self.core.store.cf["meta"]
        if meta.get(INITIALISED_KEY) is None:
            for name, doc in TEMPLATES.items():
                if name not in self.core.registry:
                    self.register(doc, name, template=True)
            meta.put(INITIALISED_KEY, b"1")

    def register_schema(self, source: Any, name: str | None = None) -> dict[str, Any]:
        """Register or upgrade a table from a Pydantic model, dict, .json/.yaml file or 'module:Model'."""
        return self.register(source, name).describe()

    def register(self, source: Any, name: str | None, template: bool = False) -> TableSchema:
        table_name, schema, options = normalize(source, name, built_in=template)
        with self.core.write_lock:
            change = self.core.registry.plan(table_name, schema, options, template=template)
            if change.noop:
                return change.table
            self.apply_change(change)
            return change.table

    def apply_change(self, change: SchemaChange, replay: SchemaPut | None = None) -> None:
        """Build the indexes the change adds, then publish the schema in one batch with the removal
        of the indexes it drops and its log entry. In-memory state changes only once that batch is
        written; a failure removes the partial build (or the next open does, after a crash)."""
        core = self.core
        table, store, previous = change.table, core.store, change.previous
        retimed = previous is not None and TableLayout(previous).is_moments != TableLayout(table).is_moments
        try:
            if previous is not None:
                build_added_indexes(store, change)
            batch = store.batch()
            removal_ops(store, change, batch)
            if retimed:
                self.spans.reset_ops(batch, table.table_id)
            batch.put(schema_key(table.name), table.to_bytes(), store.handle["meta"])
            if previous is None:  # a new table keeps its grams from its first row (remlite.fuzzy)
                batch.put(fuzzy_marker_key(table_prefix(table.table_id)), b"1", store.handle["meta"])
            next_table = max(core.registry.next_table_id, table.table_id + 1)
            batch.put(NEXT_TABLE_KEY, codec.u32(next_table), store.handle["meta"])
            entry = replay or SchemaPut(core.next_seq, now_iso(), table.name, table.version, table.to_bytes())
            core.commit(batch, entry)
        except BaseException:
            with contextlib.suppress(Exception):  # else the marker has the next open remove it
                discard_partial(store, change)
            raise
        if retimed:
            self.spans.forget(table.table_id)
        core.registry.put(table)
        same_vectors = previous is not None and (previous.embedding_fields, previous.embedding_metric) == (
            table.embedding_fields,
            table.embedding_metric,
        )
        core.forget_table(table.name, keep_vectors=same_vectors)

    def schemas(self) -> list[dict[str, Any]]:
        """Every registered table, with its row count."""
        registry, counts = self.core.registry, self.core.counts
        return [
            {**(table := registry.get(name)).describe(), "count": counts.get(table.table_id, 0)}
            for name in registry.names()
        ]

    def schema(self, name: str) -> dict[str, Any]:
        table = self.core.registry.get(name)
        return {**table.describe(), "count": self.core.counts.get(table.table_id, 0)}

    def templates(self) -> list[str]:
        return list(TEMPLATES)

    def drop_schema(self, name: str, *, force: bool = False) -> int:
        """Drop a table and every row, index entry and lookup key of it; return the rows removed.
        The schema is read under the write lock: an upgrade or drop that ran meanwhile is seen."""
        with self.core.write_lock:
            table = self.core.registry.get(name)
            if table.template and not force:
                raise SchemaError(f"{name} is a built-in template; pass force=True (CLI: --force) to drop it")
            return self.drop_table(name)

    def drop_table(self, name: str, replay: SchemaDropped | None = None) -> int:
        core = self.core
        store = core.store
        removed = edges_removed = 0
        with store.write_lock:
            table = core.registry.get(name)
            layout, table_vectors = core.layout(name), core.vectors(name)
            grams = FuzzyHook(layout, store)
            batch = store.batch()
            for key, value in store.iter_prefix("rows", layout.tid):
                rid = key[4:]
                entry = store.cf["ids"].get(rid)
                if table_vectors and entry is not None:
                    batch.delete(row_label_key(codec.read_u64(entry, 4)), store.handle["vectors"])
                batch.delete(rid, store.handle["ids"])
                edges_removed += len(delete_edge_ops(store, batch, rid))
                record = orjson.loads(value)
                for lookup_key in layout.lookup_keys(record, rid):
                    batch.delete(lookup_key, store.handle["keys"])
                if record.get("deleted_at") is None and entry is not None:
                    grams.delete_ops(batch, codec.read_u64(entry, 4), record)
                removed += 1
            end = codec.prefix_end(layout.tid)
            for family in ("rows", "index", "postings", "textstats"):  # with any partial upgrade build
                batch.delete_range(layout.tid, end, store.handle[family])
            for field in table_vectors.fields.values():
                batch.delete_range(field.field_prefix, codec.prefix_end(field.field_prefix), store.handle["vectors"])
                batch.delete(field.config_key, store.handle["vectors"])
            batch.delete(schema_key(name), store.handle["meta"])
            batch.delete(count_key(layout.tid), store.handle["meta"])
            batch.delete(upgrade_key(layout.tid), store.handle["meta"])
            batch.delete(fuzzy_marker_key(layout.tid), store.handle["meta"])
            self.spans.reset_ops(batch, table.table_id)
            entry = replay or SchemaDropped(core.next_seq, now_iso(), name, removed, edges_removed)
            core.commit(batch, entry)
            core.registry.remove(name)
            core.counts.pop(table.table_id, None)
            core.forget_table(name)
            self.spans.forget(table.table_id)
            for field in table_vectors.fields.values():
                field.drop_files()
        return removed
