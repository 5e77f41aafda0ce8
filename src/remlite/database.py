"""`remlite.Database`: the one entry point that composes storage, schemas and records.

Every logical change (row + index entries + lookup keys + id directory + row counter + WAL entry)
is one RocksDB WriteBatch, so a crash leaves each change either fully applied or absent. Reads take
no lock; writes are serialised by the store's write lock (one writer process per database).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from remlite.errors import InvalidInput, NotFound, SchemaError, StorageError, shown
from remlite.graph import GraphMixin
from remlite.graph.keys import delete_edge_ops
from remlite.ingest.mixin import IngestMixin
from remlite.migrate import build_added_indexes, discard_interrupted, discard_partial, removal_ops
from remlite.moments import MomentsMixin, has_time_index
from remlite.query.mixin import SQLMixin
from remlite.reads import ReadMixin
from remlite.records import TableLayout
from remlite.replay import ReplayMixin
from remlite.runtime import Runtime, default_runtime
from remlite.schema.loader import normalize
from remlite.schema.model import TableSchema
from remlite.schema.registry import Registry, SchemaChange
from remlite.schema.templates import TEMPLATES
from remlite.semantic.admin import IndexAdminMixin
from remlite.semantic.search import SearchMixin
from remlite.settings import Settings
from remlite.storage import codec
from remlite.storage.changelog import SchemaDropped, SchemaPut
from remlite.storage.clock import now_iso
from remlite.storage.engine import Store, is_rocksdb_error, repair_store, storage_error
from remlite.storage.keyspace import (
    COUNT_PREFIX,
    INITIALISED_KEY,
    NEXT_ROWNUM_KEY,
    NEXT_TABLE_KEY,
    SCHEMA_PREFIX,
    count_key,
    row_label_key,
    schema_key,
    upgrade_key,
)
from remlite.storage.wal import WAL
from remlite.writes import WriteMixin

if TYPE_CHECKING:  # imported lazily: numpy and the stemmer stay out of a bare connect()
    from remlite.semantic.table_vectors import TableVectors
    from remlite.semantic.text import TableText

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_root() -> Path:
    """`REMLITE_PATH`, else the per-user data directory."""
    return Settings.from_env().path


class Database(
    ReadMixin, WriteMixin, SearchMixin, IndexAdminMixin, IngestMixin, GraphMixin, MomentsMixin, SQLMixin, ReplayMixin
):
    """An open remlite tenant database. Use `remlite.connect()` to get one.

    Threads may share one handle. Writes are serialised by its write lock, each one atomic; reads
    take no lock and see every write that returned before they began. A `scan` is a point-in-time
    view as of its first row; calls that read an index and then rows (`find(fetch=True)`,
    `search`, `sql`) may return a row's newer version or leave out a row deleted meanwhile.
    `count()` may lag a commit still in flight. See "Threads" in docs/python.md."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        tenant: str = "default",
        *,
        sync: bool = False,
        embedder: Any = None,
        create: bool = True,
        runtime: Runtime | None = None,
    ) -> None:
        self.root, self.path = _tenant_path(path, tenant)
        self.tenant = tenant
        if runtime is not None and not isinstance(runtime, Runtime):
            raise InvalidInput(f"runtime must be a remlite.Runtime, got {type(runtime).__name__}")
        self._runtime = runtime if runtime is not None else default_runtime()
        try:
            self._store = Store(self.path, sync=sync, create=create, shared=self._runtime.memory)
        except NotFound:
            raise NotFound(
                f"tenant {tenant!r} has no database at {self.path}: nothing was created "
                f"(`remlite init --tenant {tenant}` or connect(create=True) creates one)",
                tenant=tenant,
                path=str(self.path),
            ) from None
        self._registry = Registry()
        self._layouts: dict[str, TableLayout] = {}
        self._texts: dict[str, TableText] = {}
        self._table_vectors: dict[str, TableVectors] = {}
        self._embedder = embedder if embedder is not None else Settings.from_env().embed_provider
        self._counts: dict[int, int] = {}
        self._next_rownum = 1
        try:
            self._wal = WAL(self._store)
            self._load()
        except Exception as exc:  # release the lock: a half-opened handle is never returned to close
            self._store.close()
            raise self._store.read_error(exc, "the database's settings") from None

    # ------------------------------------------------------------------ lifecycle
    def _load(self) -> None:
        meta = self._store.cf["meta"]
        raw_next = meta.get(NEXT_TABLE_KEY)
        self._registry.load(
            list(self._store.iter_prefix("meta", SCHEMA_PREFIX)),
            codec.read_u32(raw_next) if raw_next else 1,
        )
        discard_interrupted(self._store, self._registry)
        raw_rownum = meta.get(NEXT_ROWNUM_KEY)
        self._next_rownum = codec.read_u64(raw_rownum) if raw_rownum else 1
        for key, value in self._store.iter_prefix("meta", COUNT_PREFIX):
            self._counts[codec.read_u32(key, len(COUNT_PREFIX))] = codec.read_u64(value)
        if meta.get(INITIALISED_KEY) is None:
            for name, doc in TEMPLATES.items():
                if name not in self._registry:
                    self._register(doc, name, template=True)
            meta.put(INITIALISED_KEY, b"1")

    def close(self) -> None:
        """Save loaded vector indexes (so the next open need not catch up), then close RocksDB.

        RocksDB is released (and its lock) even when a save fails (a full disk): a handle left
        open could not be closed again nor the database reopened. StorageError then says what was
        not saved; the next open catches vector indexes up from the change log."""
        self._store.check_process()  # an inherited handle: neither RocksDB nor the index files are touched
        if self._store.closed:
            return
        problems: list[str] = []
        try:
            self._close_sql()
            for table, vectors in self._table_vectors.items():
                try:
                    vectors.save()
                except Exception as exc:
                    problems.append(f"the vector index of {table} was not saved ({exc})")
        finally:
            try:
                self._store.close()
            except StorageError as exc:
                problems.append(exc.message)
        if problems:
            raise StorageError(f"closed {self.path}, but: {'; '.join(problems)}", path=str(self.path))

    @staticmethod
    def repair(path: str | os.PathLike[str] | None = None, tenant: str = "default") -> None:
        """Rebuild a damaged tenant database (no CURRENT file, a corrupt MANIFEST or table file)
        with RocksDB's repair, keeping every readable record. Table files it cannot read are
        moved to `lost/` in the directory. Run `check()` afterwards: counters and derived keys may
        need attention when rows were lost."""
        repair_store(_tenant_path(path, tenant)[1])

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<remlite.Database {str(self.path)!r} tenant={self.tenant!r}>"

    @property
    def closed(self) -> bool:
        return self._store.closed

    # ------------------------------------------------------------------ schemas
    def register_schema(self, source: Any, name: str | None = None) -> dict[str, Any]:
        """Register or upgrade a table from a Pydantic model, dict, .json/.yaml file or 'module:Model'."""
        return self._register(source, name).describe()

    def _register(self, source: Any, name: str | None, template: bool = False) -> TableSchema:
        table_name, schema, options = normalize(source, name)
        with self._store.write_lock:
            change = self._registry.plan(table_name, schema, options, template=template)
            if change.noop:
                return change.table
            self._apply_schema_change(change)
            return change.table

    def _apply_schema_change(self, change: SchemaChange, replay: SchemaPut | None = None) -> None:
        """Build the indexes the change adds, then publish the schema in one batch with the removal
        of the indexes it drops and its WAL entry: an upgrade interrupted anywhere leaves either
        schema whole. In-memory state changes only once that batch is written; a failure removes
        the partial build (or the next open does, after a crash)."""
        table, store, previous = change.table, self._store, change.previous
        retimed = previous is not None and has_time_index(TableLayout(previous)) != has_time_index(TableLayout(table))
        try:
            if previous is not None:
                build_added_indexes(store, change)
            batch = store.batch()
            removal_ops(store, change, batch)
            if retimed:
                self._span_reset_ops(batch, table.table_id)
            batch.put(schema_key(table.name), table.to_bytes(), store.handle["meta"])
            batch.put(
                NEXT_TABLE_KEY, codec.u32(max(self._registry.next_table_id, table.table_id + 1)), store.handle["meta"]
            )
            entry = replay or SchemaPut(self._wal.next_seq, now_iso(), table.name, table.version, table.to_bytes())
            self._wal.commit(batch, entry)
        except BaseException:
            with contextlib.suppress(Exception):  # else the marker has the next open remove it
                discard_partial(store, change)
            raise
        if retimed:
            self._forget_span(table.table_id)
        self._registry.put(table)
        self._layouts.pop(table.name, None)
        self._texts.pop(table.name, None)
        same_vectors = previous is not None and (previous.embedding_fields, previous.embedding_metric) == (
            table.embedding_fields,
            table.embedding_metric,
        )
        if not same_vectors:  # kept otherwise: a re-embed or a loaded index holds its field objects
            self._table_vectors.pop(table.name, None)

    def schemas(self) -> list[dict[str, Any]]:
        """Every registered table, with its row count."""
        out = []
        for name in self._registry.names():
            table = self._registry.get(name)
            out.append({**table.describe(), "count": self._counts.get(table.table_id, 0)})
        return out

    def schema(self, name: str) -> dict[str, Any]:
        table = self._registry.get(name)
        return {**table.describe(), "count": self._counts.get(table.table_id, 0)}

    def templates(self) -> list[str]:
        return list(TEMPLATES)

    def drop_schema(self, name: str, *, force: bool = False) -> int:
        """Drop a table and every row, index entry and lookup key of it; return the rows removed.
        The schema is read under the write lock: an upgrade or drop that ran meanwhile is seen."""
        with self._store.write_lock:
            table = self._registry.get(name)
            if table.template and not force:
                raise SchemaError(f"{name} is a built-in template; pass force=True (CLI: --force) to drop it")
            return self._drop_table(name)

    def _drop_table(self, name: str, replay: SchemaDropped | None = None) -> int:
        store = self._store
        removed = edges_removed = 0
        with store.write_lock:
            table = self._registry.get(name)
            layout, table_vectors = self._layout(name), self._vectors(name)
            batch = store.batch()
            for key, value in store.iter_prefix("rows", layout.tid):
                rid = key[4:]
                if table_vectors:
                    entry = store.cf["ids"].get(rid)
                    if entry is not None:
                        batch.delete(row_label_key(codec.read_u64(entry, 4)), store.handle["vectors"])
                batch.delete(rid, store.handle["ids"])
                edges_removed += len(delete_edge_ops(store, batch, rid))
                for lookup_key in layout.lookup_keys(orjson.loads(value), rid):
                    batch.delete(lookup_key, store.handle["keys"])
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
            self._span_reset_ops(batch, table.table_id)
            entry = replay or SchemaDropped(self._wal.next_seq, now_iso(), name, removed, edges_removed)
            self._wal.commit(batch, entry)
            self._registry.remove(name)
            self._layouts.pop(name, None)
            self._texts.pop(name, None)
            self._counts.pop(table.table_id, None)
            self._forget_span(table.table_id)
            self._table_vectors.pop(name, None)
            for field in table_vectors.fields.values():
                field.drop_files()
        return removed

    # The per-table caches below are filled under the write lock: schema changes publish and empty
    # them under it, so a fill that read the old schema can never land after the emptying.
    def _text(self, table: str) -> TableText:
        text = self._texts.get(table)
        if text is None:
            from remlite.semantic.text import TableText

            with self._store.write_lock:
                text = self._texts.get(table)
                if text is None:
                    text = self._texts[table] = TableText(self._store, self._registry.get(table))
        return text

    def _vectors(self, table: str) -> TableVectors:
        try:
            vectors = self._table_vectors.get(table)
        except TypeError:  # unhashable: reembed/rebuild_index given a list or a set as the table name
            raise InvalidInput(f"a table name is a string, got {type(table).__name__}") from None
        if vectors is None:
            from remlite.semantic.table_vectors import TableVectors

            with self._store.write_lock:
                vectors = self._table_vectors.get(table)
                if vectors is None:
                    vectors = self._table_vectors[table] = TableVectors(
                        self._store, self._registry.get(table), self.path / "vectors", self._provider_for
                    )
        return vectors

    def _provider_for(self, config: dict[str, Any] | None) -> Any:
        """The embedding provider for a field: the one its stored vectors came from, else the
        database's default (`embedder=` at connect, else REMLITE_EMBED_PROVIDER, else local)."""
        from remlite.embed import EmbeddingProvider, get_provider

        default = self._embedder
        own = isinstance(default, EmbeddingProvider)
        if own and (config is None or (config["provider"], config["model"]) == (default.name, default.model)):
            return default
        if config is not None and config["provider"] == "precomputed":
            raise InvalidInput(
                "this field holds precomputed vectors: pass vectors= with writes and a vector as the query"
            )
        name, model = (None if own else default, None) if config is None else (config["provider"], config["model"])
        key = (str(name), str(model), config["dimension"] if config else 0)
        options = {"dimension": config["dimension"]} if config and config["provider"] == "hash" else {}
        return self._runtime.provider(key, lambda: get_provider(name, model, **options))

    def _layout(self, table: str) -> TableLayout:
        try:
            layout = self._layouts.get(table)
        except TypeError:  # unhashable: a set or a list given as the table name
            raise InvalidInput(f"a table name is a string, got {type(table).__name__}") from None
        if layout is None:
            with self._store.write_lock:
                layout = self._layouts.get(table)
                if layout is None:
                    layout = self._layouts[table] = TableLayout(self._registry.get(table))
        return layout

    def wal(self, after_seq: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Change entries with seq > after_seq (None: from the oldest kept), oldest first. Raises
        WalTruncated when entries after `after_seq` were removed by `truncate_wal`."""
        for name, value in (("after_seq", after_seq), ("limit", limit)):
            if (value is not None or name == "limit") and (type(value) is not int or not 0 <= value < 2**63):
                raise InvalidInput(f"{name} must be an integer from 0 to 2**63 - 1, got {shown(value)}")
        return self._wal.read(after_seq, limit)

    @property
    def last_seq(self) -> int:
        return self._wal.seq

    @property
    def first_seq(self) -> int:
        """The oldest sequence number the change log may still hold (1 until it is truncated)."""
        return self._wal.floor

    def truncate_wal(self, before_seq: int | None = None, *, keep: int | None = None) -> dict[str, int]:
        """Remove change-log entries older than `before_seq`, or all but the newest `keep`.

        The log otherwise grows with every write (a put entry holds the full rows). Derived state
        is made independent of the removed entries first: every vector index is caught up and
        saved at the current seq, so no reopen needs them. Readers of the log (replicas, feeds)
        that are further behind get WalTruncated. Returns removed, first_seq and last_seq."""
        if (before_seq is None) == (keep is None):
            raise InvalidInput("give before_seq or keep (one of them)")
        for name, value in (("before_seq", before_seq), ("keep", keep)):
            if value is not None and (type(value) is not int or value < 0):
                raise InvalidInput(f"{name} must be an integer >= 0 (or None), got {shown(value)}")
        with self._store.write_lock:
            cut = before_seq if before_seq is not None else self._wal.seq - keep + 1  # type: ignore[operator]
            if cut > self._wal.floor:
                self._checkpoint_vectors()
            removed = self._wal.truncate(cut)
        return {"removed": removed, "first_seq": self._wal.floor, "last_seq": self._wal.seq}

    def _checkpoint_vectors(self) -> None:
        for table in self._registry.names():
            if not self._registry.get(table).embedding_fields:
                continue
            for field in self._vectors(table).fields.values():
                if field.config is not None:
                    field.ensure_index(self._wal.seq, self._wal.iter_after, self._rownums)  # type: ignore[attr-defined]
                    field.save(force=True)

    def check(self) -> dict[str, Any]:
        """Recompute every derived structure from the rows and report where the stored one differs:
        counters, the id directory, index entries and their row labels, lookup keys, moment spans,
        edges, BM25 postings, the change log's continuity, vectors and HNSW labels."""
        from remlite.integrity import check_database

        def vectors() -> list[str]:
            from remlite.semantic.check import check_vectors

            return check_vectors(self._store, self._registry, self._layout, self._vectors)

        return check_database(self._store, self._registry, self._layout, self._counts, extra=[vectors])


# The mixins (writes, graph, search, SQL, check) read with rocksdict's point gets, which raise a bare
# Exception on a corrupt block. Translated once per public call here (~0.1 µs); the per-row reads
# translate inline instead (a wrapper would cost `get` a few percent), iterators check themselves.
_TRANSLATED_INLINE = {"get", "get_batch", "table_of", "scan", "list", "close", "repair"}
_NO_STORAGE = {"count", "schema", "schemas", "templates", "validate"}


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Database, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not is_rocksdb_error(exc):
                raise
            raise storage_error(exc, self.path, f"in {method.__name__}()") from None

    return call


for _name, _method in inspect.getmembers(Database, inspect.isfunction):
    if not _name.startswith("_") and _name not in _TRANSLATED_INLINE | _NO_STORAGE:
        setattr(Database, _name, _translating(_method))


def _tenant_path(path: str | os.PathLike[str] | None, tenant: str) -> tuple[Path, Path]:
    """(root, the tenant's directory); the tenant name is checked, so it never escapes the root."""
    if not isinstance(tenant, str) or not _TENANT_RE.fullmatch(tenant):
        raise InvalidInput(f"invalid tenant name {tenant!r}: letters, digits, '.', '_', '-'")
    root = Path(path) if path is not None else default_root()
    return root, root / tenant


def connect(
    path: str | os.PathLike[str] | None = None,
    tenant: str = "default",
    *,
    sync: bool = False,
    embedder: Any = None,
    create: bool = True,
    runtime: Runtime | None = None,
) -> Database:
    """Open (creating if needed) the database of `tenant` under the root `path`.

    `path` defaults to `REMLITE_PATH`, then the per-user data directory. `embedder` is the default
    embedding provider for new vector fields (a name: "local", "openai", "hash", or a provider
    instance; default `REMLITE_EMBED_PROVIDER`, else "local"). `sync=True` fsyncs every
    write (survives power loss; ~100x slower). Without it every acknowledged write still survives a
    process crash (kill -9): RocksDB's log is written before the call returns. `create=False`
    raises NotFound instead of creating a missing tenant (a mistyped name must not make one).
    `runtime` is the `remlite.Runtime` whose caches, DuckDB connection and embedding providers the
    handle shares (default: the process's `remlite.default_runtime()`).

    A handle belongs to the process that opened it: in a child made by fork() (multiprocessing
    on Linux) every use raises StorageError; open the database in the child instead.
    """
    return Database(path, tenant, sync=sync, embedder=embedder, create=create, runtime=runtime)


def repair(path: str | os.PathLike[str] | None = None, tenant: str = "default") -> None:
    """`Database.repair`: rebuild a damaged tenant database from its readable files."""
    Database.repair(path, tenant)


def REMDatabase(tenant_id: str = "default", path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Database:  # noqa: N802
    """The constructor the reference design's examples use; the same as `connect(path, tenant_id)`."""
    return connect(path, tenant_id, **kwargs)
