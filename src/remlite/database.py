"""`remlite.Database`: the facade of one tenant database — its lifecycle, and one line per verb.

The work is done by components (`remlite.core` explains the design): a `TenantCore` holds the
store, registry, change log, counters, caches and row primitives, and each verb belongs to one
component built on it — `Reader`, `Writer`, `SchemaAdmin`, `Edges`, `Traversal`, `Moments`,
`Search`, `IndexAdmin`, `SQL`, `Ingest` and `ChangeLog`. The table of verbs below is the one list of
what a database can do; the CLI and the servers are shells over the same names.
"""

from __future__ import annotations

import functools
import operator
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remlite.ask.asker import Asker
from remlite.core import TenantCore, on_commit
from remlite.errors import InvalidInput, NotFound, StorageError
from remlite.exchange import Exchange
from remlite.graph import Edges, Traversal
from remlite.ingest.job import Ingest
from remlite.moments import Moments, Spans
from remlite.ops.backup import Backups
from remlite.ops.space import Space, maintain_on_close
from remlite.query.sql import SQL
from remlite.reads import Reader
from remlite.replay import ChangeLog
from remlite.results import Rows
from remlite.runtime import Runtime, default_runtime
from remlite.schemas import SchemaAdmin
from remlite.semantic.admin import IndexAdmin
from remlite.semantic.hooks import publish_vectors, text_hook, vector_hook
from remlite.semantic.search import Search
from remlite.settings import Settings
from remlite.storage.engine import Store, is_rocksdb_error, repair_store, storage_error
from remlite.writes import Writer

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_root() -> Path:
    """`REMLITE_PATH`, else the per-user data directory."""
    return Settings.from_env().path


# Untranslated verbs are also bound on each instance when it opens (`db.get` is then the component's
# bound method): the delegation's extra call cost `get` 5-7% (ab.py: 207-217k against 234k gets/s).
_BOUND_AT_OPEN: dict[str, str] = {}


def _verb(component: str, method: Callable[..., Any], translate: bool = True, rows: bool = False) -> Callable[..., Any]:
    """A facade method calling `method` on the database's `component`.

    Components read with rocksdict's point gets, which raise a bare Exception on a corrupt block:
    translated here into StorageError, once per public call (~0.1 µs). The per-row reads
    (`get`, `get_batch`, `scan`) translate inline instead (a wrapper costs `get` a few percent) and
    are delegated untranslated, as are verbs that touch no storage."""
    owner = operator.attrgetter(component)
    if not translate:
        _BOUND_AT_OPEN[method.__name__] = component

        @functools.wraps(method)
        def call(self: Database, *args: Any, **kwargs: Any) -> Any:
            return method(owner(self), *args, **kwargs)

        return call

    @functools.wraps(method)
    def translating(self: Database, *args: Any, **kwargs: Any) -> Any:
        try:
            found = method(owner(self), *args, **kwargs)
            return Rows(found) if rows else found  # records that also become DataFrames (remlite.results)
        except Exception as exc:
            if not is_rocksdb_error(exc):
                raise
            raise storage_error(exc, self.path, f"in {method.__name__}()") from None

    return translating


class Database:
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
        read_only: bool = False,
        passphrase: str | None = None,
    ) -> None:
        self.root, self.path = _tenant_path(path, tenant)
        self.tenant = tenant
        if runtime is not None and not isinstance(runtime, Runtime):
            raise InvalidInput(f"runtime must be a remlite.Runtime, got {type(runtime).__name__}")
        runtime = runtime if runtime is not None else default_runtime()
        if passphrase is None:
            passphrase = Settings.from_env().passphrase
        try:
            store = Store(
                self.path, sync=sync, create=create, shared=runtime.memory, read_only=read_only, passphrase=passphrase
            )
        except NotFound:
            raise NotFound(
                f"tenant {tenant!r} has no database at {self.path}: nothing was created "
                f"(`remlite init --tenant {tenant}` or connect(create=True) creates one)",
                tenant=tenant,
                path=str(self.path),
            ) from None
        try:
            embedder = embedder if embedder is not None else Settings.from_env().embed_provider
            self._core = core = TenantCore(store, self.path, tenant, runtime, embedder)
            spans = Spans(core)
            self._reader = Reader(core)
            self._writer = Writer(core)
            self._schemas = SchemaAdmin(core, spans)
            self._edges = Edges(core)
            self._traversal = Traversal(core)
            self._moments = Moments(core, spans)
            self._sql = sql = SQL(core, self._reader, self._traversal, self._moments)
            self._search = Search(core, sql.allowed_ids)
            sql.search = self._search  # SEARCH and semantic predicates; the filter of search() is SQL's
            self._index_admin = IndexAdmin(core, self._reader)
            self._ingest = Ingest(core, self)
            self._asker = Asker(self)
            self._changelog = ChangeLog(core, self._writer, self._edges, self._schemas, self._index_admin)
            self._backups = Backups(core)
            self._space = Space(core, self._writer, self._changelog)
            self._exchange = Exchange(core, self._changelog)
            core.hook_factories += [
                self._edges.hook_for,
                spans.hook_for,
                functools.partial(text_hook, core),
                functools.partial(vector_hook, core),
            ]
            on_commit(core, publish_vectors)
            for verb, component in _BOUND_AT_OPEN.items():
                setattr(self, verb, getattr(getattr(self, component), verb))
            if not read_only:  # a reader leaves setting up a new database to its writer
                self._schemas.initialise()
        except Exception as exc:  # release the lock: a half-opened handle is never returned to close
            store.close()
            raise store.read_error(exc, "the database's settings") from None

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Save loaded vector indexes (so the next open need not catch up), then close RocksDB.

        RocksDB is released (and its lock) even when a save fails (a full disk): a handle left
        open could not be closed again nor the database reopened. StorageError then says what was
        not saved; the next open catches vector indexes up from the change log."""
        store = self._core.store
        store.check_process()  # an inherited handle: neither RocksDB nor the index files are touched
        if store.closed:
            return
        maintenance = maintain_on_close(self)  # remlite.ops.space: the daily purge, when due
        try:
            self._asker.close()  # a background refresh of the planners' vocabulary ends first
            self._sql.close()
        finally:
            problems = maintenance + self._core.close()
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
        return self._core.store.closed

    @property
    def encrypted(self) -> bool:
        """Whether the database is encrypted at rest (it was created with a passphrase)."""
        return self._core.store.encrypted

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest change-log entry."""
        return self._core.wal.seq

    @property
    def first_seq(self) -> int:
        """The oldest sequence number the change log may still hold (1 until it is truncated)."""
        return self._core.wal.floor

    def check(self) -> dict[str, Any]:
        """Recompute every derived structure from the rows and report where the stored one differs:
        counters, the id directory, index entries and their row labels, lookup keys, moment spans,
        edges, BM25 postings, the change log's continuity, vectors and HNSW labels."""
        from remlite.integrity import check_database
        from remlite.semantic.check import check_vectors

        core = self._core

        def vectors() -> list[str]:
            return check_vectors(core.store, core.registry, core.layout, core.vectors)

        try:
            return check_database(core.store, core.registry, core.layout, core.counts, extra=[vectors])
        except Exception as exc:
            if not is_rocksdb_error(exc):
                raise
            raise storage_error(exc, self.path, "in check()") from None

    # ------------------------------------------------------------------ the verbs
    # schemas
    register_schema = _verb("_schemas", SchemaAdmin.register_schema)
    schemas = _verb("_schemas", SchemaAdmin.schemas, translate=False)
    schema = _verb("_schemas", SchemaAdmin.schema, translate=False)
    templates = _verb("_schemas", SchemaAdmin.templates, translate=False)
    drop_schema = _verb("_schemas", SchemaAdmin.drop_schema)
    # records
    validate = _verb("_writer", Writer.validate, translate=False)
    insert = _verb("_writer", Writer.insert)
    insert_batch = _verb("_writer", Writer.insert_batch)
    update = _verb("_writer", Writer.update)
    delete = _verb("_writer", Writer.delete)
    get = _verb("_reader", Reader.get, translate=False)
    get_batch = _verb("_reader", Reader.get_batch, translate=False)
    table_of = _verb("_reader", Reader.table_of, translate=False)
    count = _verb("_reader", Reader.count, translate=False)
    scan = _verb("_reader", Reader.scan, translate=False)
    list = _verb("_reader", Reader.list, translate=False)
    find = _verb("_reader", Reader.find)
    lookup = _verb("_reader", Reader.lookup)
    # graph
    add_edge = _verb("_edges", Edges.add_edge)
    add_edges = _verb("_edges", Edges.add_edges)
    remove_edge = _verb("_edges", Edges.remove_edge)
    edges = _verb("_edges", Edges.edges)
    edge_types = _verb("_edges", Edges.edge_types)
    traverse = _verb("_traversal", Traversal.traverse, rows=True)
    neighbors = _verb("_traversal", Traversal.neighbors, rows=True)
    shortest_path = _verb("_traversal", Traversal.shortest_path)
    all_paths = _verb("_traversal", Traversal.all_paths)
    # moments
    moments = _verb("_moments", Moments.moments, rows=True)
    # search and indexes
    search = _verb("_search", Search.search, rows=True)
    index_status = _verb("_index_admin", IndexAdmin.index_status)
    rebuild_index = _verb("_index_admin", IndexAdmin.rebuild_index)
    vectors = _verb("_index_admin", IndexAdmin.vectors)
    reembed = _verb("_index_admin", IndexAdmin.reembed)
    # SQL
    sql = _verb("_sql", SQL.sql)
    explain = _verb("_sql", SQL.explain)
    # ingestion
    ingest = _verb("_ingest", Ingest.ingest)

    plan = _verb("_asker", Asker.plan)
    ask = _verb("_asker", Asker.ask)
    # the change log
    changes = _verb("_changelog", ChangeLog.changes)
    apply = _verb("_changelog", ChangeLog.apply)
    wal = _verb("_changelog", ChangeLog.wal)
    truncate_wal = _verb("_changelog", ChangeLog.truncate_wal)
    # export and import
    to_arrow = _verb("_exchange", Exchange.to_arrow)
    to_pandas = _verb("_exchange", Exchange.to_pandas)
    to_polars = _verb("_exchange", Exchange.to_polars)
    iter_batches = _verb("_exchange", Exchange.iter_batches)
    export = _verb("_exchange", Exchange.export)
    import_ = _verb("_exchange", Exchange.import_)
    # encryption at rest
    rotate_passphrase = _verb("_core", TenantCore.rotate_passphrase)
    # operations
    backup = _verb("_backups", Backups.backup)
    stats = _verb("_space", Space.stats)
    compact = _verb("_space", Space.compact)
    purge = _verb("_space", Space.purge)


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
    api_key: str | None = None,
    read_only: bool = False,
    passphrase: str | None = None,
) -> Database:
    """Open (creating if needed) the database of `tenant` under the root `path`.

    `read_only=True` reads a tenant another process holds open for writing (no lock; it sees
    that process's writes within a second, or at once after `refresh()`; writes raise ReadOnly):
    see `remlite.readonly`. A `path` that is an http(s) URL reaches a `remlite serve` instead: the result is a
    `remlite.serve.client.RemoteDatabase` with the same methods, scoped to the tenant of `api_key`
    (default `REMLITE_API_KEY`).

    `path` defaults to `REMLITE_PATH`, then the per-user data directory. `embedder` is the default
    embedding provider for new vector fields (a name: "local", "openai", "hash", or a provider
    instance; default `REMLITE_EMBED_PROVIDER`, else "local"). `sync=True` fsyncs every
    write (survives power loss; ~100x slower). Without it every acknowledged write still survives a
    process crash (kill -9): RocksDB's log is written before the call returns. `create=False`
    raises NotFound instead of creating a missing tenant (a mistyped name must not make one).
    `runtime` is the `remlite.Runtime` whose caches, DuckDB connection and embedding providers the
    handle shares (default: the process's `remlite.default_runtime()`).

    `passphrase` (default `REMLITE_PASSPHRASE`) opens an encrypted database; a new database opened
    with one is created encrypted (docs/python.md, "Encryption at rest"). An encrypted database
    opened without it raises EncryptionError, with a wrong one WrongPassphrase, before anything is
    read or written; a database that is not encrypted ignores it.

    A handle belongs to the process that opened it: in a child made by fork() (multiprocessing
    on Linux) every use raises StorageError; open the database in the child instead.
    """
    if isinstance(path, str) and path.startswith(("http://", "https://")):
        from remlite.serve.client import RemoteDatabase

        return RemoteDatabase(path, api_key=api_key, tenant=tenant)  # type: ignore[return-value]
    if api_key is not None:
        raise InvalidInput("api_key is for a server URL (http://...), not a local path")
    if read_only:
        from remlite.readonly import ReadOnlyDatabase

        return ReadOnlyDatabase(  # type: ignore[return-value]
            path, tenant, sync=sync, embedder=embedder, runtime=runtime, passphrase=passphrase
        )
    return Database(path, tenant, sync=sync, embedder=embedder, create=create, runtime=runtime, passphrase=passphrase)


def repair(path: str | os.PathLike[str] | None = None, tenant: str = "default") -> None:
    """`Database.repair`: rebuild a damaged tenant database from its readable files."""
    Database.repair(path, tenant)


def REMDatabase(tenant_id: str = "default", path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Database:  # noqa: N802
    """The constructor the reference design's examples use; the same as `connect(path, tenant_id)`."""
    return connect(path, tenant_id, **kwargs)
