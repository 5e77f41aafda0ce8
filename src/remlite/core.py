"""`TenantCore`: the state of one open tenant database, shared by its components.

Every component of a `Database` (writes, reads, graph, moments, search, index admin, SQL, ingest,
the change log) is built with this object and nothing else of the others' insides. It holds:
    the store, the schema registry, the change log and the runtime it shares with other tenants;
    the live-row counters and the next row number;
    the per-table caches (layouts, text indexes, vector fields, write hooks);
    the one transaction API, `commit`, and the listeners it tells about each commit;
    the row primitives every reader needs (raw get, fetch, index range scans, row numbers).

Why one object and not the components reading each other: the review found components reaching
into `Database` privates from ten modules; with a core, each dependency is a typed attribute and
each cache has one owner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from remlite import ids as idmod
from remlite.errors import InvalidInput, NotFound, StorageError
from remlite.fuzzy import fuzzy_hook
from remlite.hooks import Effects, HookFactory, Listener, RowHook
from remlite.migrate import discard_interrupted
from remlite.records import MISSING, TableLayout
from remlite.schema.registry import Registry
from remlite.storage import codec
from remlite.storage.changelog import Entry
from remlite.storage.engine import Store
from remlite.storage.keyspace import COUNT_PREFIX, NEXT_ROWNUM_KEY, NEXT_TABLE_KEY, SCHEMA_PREFIX

if TYPE_CHECKING:  # imported lazily: numpy and the stemmer stay out of a bare connect()
    from rocksdict import WriteBatch

    from remlite.runtime import Runtime
    from remlite.semantic.table_vectors import TableVectors
    from remlite.semantic.text import TableText

_NO_EFFECTS = Effects()


class TenantCore:
    """One tenant's store, registry, change log, counters, caches and row primitives."""

    def __init__(self, store: Store, path: Path, tenant: str, runtime: Runtime, embedder: Any) -> None:
        from remlite.storage.wal import WAL

        self.store = store
        self.path = path
        self.tenant = tenant
        self.runtime = runtime
        self.embedder = embedder  # the default provider of new vector fields (name, instance or None)
        self.registry = Registry()
        self.wal = WAL(store)
        self.counts: dict[int, int] = {}  # live rows per table id
        self.next_rownum = 1  # row numbers label rows in vector indexes; local, never reused
        # Every table keeps the trigrams of its names and keys (`remlite.fuzzy`), as every table keeps
        # lookup keys: built in here; `Database` adds the hooks of the optional structures.
        self.hook_factories: list[HookFactory] = [functools.partial(fuzzy_hook, store)]
        self.listeners: list[Listener] = [self._publish_counts]
        self._layouts: dict[str, TableLayout] = {}
        self._texts: dict[str, TableText] = {}
        self._table_vectors: dict[str, TableVectors] = {}
        self._hooks: dict[str, list[RowHook]] = {}
        self._load()

    def _load(self) -> None:
        meta = self.store.cf["meta"]
        raw_next = meta.get(NEXT_TABLE_KEY)
        self.registry.load(
            list(self.store.iter_prefix("meta", SCHEMA_PREFIX)), codec.read_u32(raw_next) if raw_next else 1
        )
        if not self.store.read_only:  # a reader sees the writer's upgrade in progress, not a dead one
            discard_interrupted(self.store, self.registry)
        raw_rownum = meta.get(NEXT_ROWNUM_KEY)
        self.next_rownum = codec.read_u64(raw_rownum) if raw_rownum else 1
        for key, value in self.store.iter_prefix("meta", COUNT_PREFIX):
            self.counts[codec.read_u32(key, len(COUNT_PREFIX))] = codec.read_u64(value)

    # ------------------------------------------------------------------ the transaction API
    @property
    def write_lock(self) -> Any:
        """The writer lock (re-entrant): held across reading previous versions and the commit."""
        return self.store.write_lock

    @property
    def next_seq(self) -> int:
        """The seq the next commit takes; stable while the caller holds the write lock."""
        return self.wal.seq + 1

    def commit(self, batch: WriteBatch, entry: Entry, effects: Effects | None = None) -> Entry:
        """The one way a change is made: under the write lock, write `batch` with `entry` (which
        holds the next seq) as one atomic change, then tell every listener, which publishes
        `effects` to memory. Nothing else writes to the store except the derived and local writes
        `remlite.storage.wal` classifies."""
        with self.store.write_lock:
            self.wal.commit(batch, entry)
            published = effects if effects is not None else _NO_EFFECTS
            for listener in self.listeners:
                listener(entry, published)
        return entry

    def _publish_counts(self, entry: Entry, effects: Effects) -> None:
        if effects.counts:
            self.counts.update(effects.counts)
        if effects.next_rownum is not None:
            self.next_rownum = effects.next_rownum

    # ------------------------------------------------------------------ per-table caches
    # Filled under the write lock: schema changes publish and empty them under it, so a fill that
    # read the old schema can never land after the emptying.
    def layout(self, table: str) -> TableLayout:
        try:
            layout = self._layouts.get(table)
        except TypeError:  # unhashable: a set or a list given as the table name
            raise InvalidInput(f"a table name is a string, got {type(table).__name__}") from None
        if layout is None:
            with self.store.write_lock:
                layout = self._layouts.get(table)
                if layout is None:
                    layout = self._layouts[table] = TableLayout(self.registry.get(table))
        return layout

    def text(self, table: str) -> TableText:
        text = self._texts.get(table)
        if text is None:
            from remlite.semantic.text import TableText

            with self.store.write_lock:
                text = self._texts.get(table)
                if text is None:
                    text = self._texts[table] = TableText(self.store, self.registry.get(table))
        return text

    def vectors(self, table: str) -> TableVectors:
        try:
            vectors = self._table_vectors.get(table)
        except TypeError:  # unhashable: reembed/rebuild_index given a list or a set as the table name
            raise InvalidInput(f"a table name is a string, got {type(table).__name__}") from None
        if vectors is None:
            from remlite.semantic.table_vectors import TableVectors

            with self.store.write_lock:
                vectors = self._table_vectors.get(table)
                if vectors is None:
                    vectors = self._table_vectors[table] = TableVectors(
                        self.store, self.registry.get(table), self.path / "vectors", self.provider_for
                    )
        return vectors

    def loaded_vectors(self) -> dict[str, TableVectors]:
        """The vector fields built so far, by table (what close and checkpoints save)."""
        return dict(self._table_vectors)

    def hooks(self, table: str) -> list[RowHook]:
        """The write hooks of a table, built once from its schema by every registered factory."""
        hooks = self._hooks.get(table)
        if hooks is None:
            layout = self.layout(table)
            with self.store.write_lock:
                hooks = self._hooks.get(table)
                if hooks is None:
                    built = (factory(layout) for factory in self.hook_factories)
                    hooks = self._hooks[table] = [hook for hook in built if hook is not None]
        return hooks

    def forget_table(self, table: str, *, keep_vectors: bool = False) -> None:
        """Empty the caches of a table whose schema changed or went (under the write lock).
        `keep_vectors`: its embedding fields did not change, and a re-embed or a loaded index
        holds their objects."""
        self._layouts.pop(table, None)
        self._texts.pop(table, None)
        self._hooks.pop(table, None)
        if not keep_vectors:
            self._table_vectors.pop(table, None)

    def provider_for(self, config: dict[str, Any] | None) -> Any:
        """The embedding provider for a field: the one its stored vectors came from, else the
        database's default (`embedder=` at connect, else REMLITE_EMBED_PROVIDER, else local)."""
        from remlite.embed import EmbeddingProvider, get_provider

        default = self.embedder
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
        return self.runtime.provider(key, lambda: get_provider(name, model, **options))

    def checkpoint_vectors(self) -> None:
        """Catch every vector index up to the log's end and save it (before the log is truncated)."""
        for table in self.registry.names():
            if not self.registry.get(table).embedding_fields:
                continue
            for field in self.vectors(table).fields.values():
                if field.config is not None:
                    field.ensure_index(self.wal.seq, self.wal.iter_after, self.rownums)
                    field.save(force=True)

    def close(self) -> list[str]:
        """Save loaded vector indexes, then close RocksDB (always, even when a save fails: a handle
        left open could not be closed again). Returns what was not saved."""
        problems: list[str] = []
        try:
            for table, vectors in self._table_vectors.items() if not self.store.read_only else ():
                try:
                    vectors.save()
                except Exception as exc:
                    problems.append(f"the vector index of {table} was not saved ({exc})")
        finally:
            try:
                self.store.close()
            except StorageError as exc:
                problems.append(exc.message)
        return problems

    # ------------------------------------------------------------------ row primitives
    def table_name(self, tid: bytes) -> str:
        """The name of the table whose 4-byte id prefix starts `tid` (a row key or id-directory value)."""
        return self.registry.by_id(codec.read_u32(tid)).name

    def get_raw(self, rid: bytes, include_deleted: bool = False) -> tuple[str, dict[str, Any]]:
        """(table, record) of a row by raw id; NotFound when unknown (or soft-deleted)."""
        store = self.store
        try:  # free when nothing is raised (Python 3.11): a corrupt block raises a bare Exception
            entry = store.cf["ids"].get(rid)
            tid = entry[:4] if entry is not None else None
            value = store.cf["rows"].get(tid + rid) if tid is not None else None
        except Exception as exc:
            raise store.read_error(exc, f"record {idmod.to_str(rid)}") from None
        if value is None:
            raise NotFound(f"no record with id {idmod.to_str(rid)}")
        record = orjson.loads(value)
        if record.get("deleted_at") and not include_deleted:
            raise NotFound(f"record {idmod.to_str(rid)} was deleted at {record['deleted_at']}")
        return self.registry.by_id(codec.read_u32(tid)).name, record  # inline: the hot path of get

    def fetch(self, layout: TableLayout, rids: list[bytes]) -> list[dict[str, Any]]:
        """Live records of one table by raw id, in order, skipping any that vanished."""
        if not rids:
            return []
        loads, tid = orjson.loads, layout.tid
        try:
            values = self.store.cf["rows"][[tid + r for r in rids]]
        except Exception as exc:
            raise self.store.read_error(exc, "records") from None
        return [record for v in values if v is not None and (record := loads(v))["deleted_at"] is None]

    def live_records(self, rids: Iterable[bytes]) -> dict[bytes, tuple[str, dict[str, Any]]]:
        """Live records of any table by raw id, with their table name: two multi-gets."""
        rids = list(rids)
        if not rids:
            return {}
        store = self.store
        entries = store.cf["ids"][rids]
        wanted = [(r, e[:4]) for r, e in zip(rids, entries, strict=True) if e is not None]
        if not wanted:
            return {}
        values = store.cf["rows"][[t + r for r, t in wanted]]
        names: dict[bytes, str] = {}
        loads = orjson.loads
        out: dict[bytes, tuple[str, dict[str, Any]]] = {}
        for (rid, tid), value in zip(wanted, values, strict=True):
            if value is None:
                continue
            record = loads(value)
            if record.get("deleted_at"):
                continue
            name = names.get(tid)
            if name is None:
                name = names[tid] = self.table_name(tid)
            out[rid] = (name, record)
        return out

    def find_raw(
        self,
        layout: TableLayout,
        field: str,
        bounds: dict[str, Any],
        limit: int | None = None,
        labels: dict[bytes, int] | None = None,
    ) -> list[bytes]:
        """Ids from an index range scan, in index order. With `labels`, also collect each row's
        HNSW label, which tables with vectors store as the index entry's value."""
        start, end = _index_range(layout, field, bounds)
        seen: dict[bytes, None] = {}
        if labels is None:
            for key in self.store.iter_keys("index", start, end):
                seen[key[-16:]] = None
                if limit is not None and len(seen) >= limit:
                    break
            return list(seen)
        for key, value in self.store.iter_items("index", start, end):
            rid = key[-16:]
            seen[rid] = None
            if len(value) == 8:
                labels[rid] = codec.read_u64(value)
            if limit is not None and len(seen) >= limit:
                break
        return list(seen)

    def index_ids(self, layout: TableLayout, field: str, bounds: dict[str, Any]) -> Iterator[bytes]:
        """Ids from an index range scan, lazily, in index order (an equality: in id order)."""
        start, end = _index_range(layout, field, bounds)
        return (key[-16:] for key in self.store.iter_keys("index", start, end))

    def rownums(self, rids: list[bytes]) -> list[int | None]:
        """Each row's number (its label in vector indexes), None for an unknown id."""
        entries = self.store.cf["ids"][rids] if rids else []
        return [codec.read_u64(e, 4) if e is not None else None for e in entries]

    def count(self, table: str) -> int:
        return self.counts.get(self.registry.get(table).table_id, 0)

    def rotate_passphrase(self, old: str, new: str) -> None:
        """Change an encrypted database's passphrase: the data key is re-wrapped under `new`, nothing
        else is rewritten. WrongPassphrase when `old` is not the current one (nothing changes then)."""
        self.store.rotate_passphrase(old, new)


def _index_range(layout: TableLayout, field: str, bounds: dict[str, Any]) -> tuple[bytes, bytes | None]:
    """The [start, end) index keys of `field` within `bounds` (eq, gt, gte, lt, lte)."""
    bound = {k: bounds.get(k, MISSING) for k in ("eq", "gt", "gte", "lt", "lte")}
    return layout.range_keys(layout.field(field), **bound)


def on_commit(core: TenantCore, listener: Callable[[Entry, Effects], None]) -> None:
    """Register a listener of every commit of `core` (see `TenantCore.commit`)."""
    core.listeners.append(listener)
