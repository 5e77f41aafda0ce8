"""Arrow columns of the fields a query reads, and a cache of them for whole tables.

A column is built from the JSON values found at one field path. Its *kind* is what the values are:
`int`, `float`, `str`, `bool`, `ts` (a timestamp field: ISO strings parsed to instants; a value
that does not parse reads as NULL), `json` (objects/arrays, as JSON text) or `mixed` (values of
several JSON types). Beside the typed values a column carries the extra *views* the DuckDB
translator needs to keep remlite's comparison rules (see `remlite.query.predicate`):

    v  the typed values (every kind but mixed; JSON text for json)
    n  numbers and numeric strings as DOUBLE (str and mixed), else NULL
    k  the JSON type of each value as a rank: 1 bool, 2 number, 4 string, 5 other (mixed)
    s  strings as they are, other values as JSON text (mixed)
    j  the value as JSON text (mixed, json): grouping keys and output

`ColumnCache` keeps these arrays for whole tables (and the `entities` view) between queries, so
scans, aggregations and joins do not re-read and re-parse every row. It follows commits instead of
rescanning: a commit listener (`on_commit`, under the write lock) queues each row change of a
cached relation, and the next query applies them (`RelationData.catch_up`) by appending the rows'
new versions and masking their old positions in `_present`. A value a column cannot hold (a float
in an int column), a schema change, more than 256 queued commits or tombstones past a quarter
of the rows mark the entry for a rebuild by one scan. Rows that are soft-deleted are kept, flagged
in the `_live` array. The caches of every tenant of a
`remlite.Runtime` share one `ColumnBudget`: together they hold at most its bytes, and the least
recently used relation of any tenant is dropped first.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from remlite import ids as idmod
from remlite.errors import InvalidInput
from remlite.query.catalog import Relation
from remlite.query.values import as_number, get_path, like_text
from remlite.storage.changelog import Entry, Reembedded, ReembedVectors, RowsDeleted, RowsPut, SchemaDropped, SchemaPut
from remlite.storage.codec import Timestamp
from remlite.storage.keyspace import table_prefix

if TYPE_CHECKING:
    from remlite.core import TenantCore

Path = tuple[str, ...]
_REREAD = object()  # a soft-deleted row: its new version is read from the store
RANK_BOOL, RANK_NUMBER, RANK_STRING, RANK_OTHER = 1, 2, 4, 5
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class Column:
    kind: str
    views: dict[str, pa.Array]
    ints: bool = False  # a float column that also holds integers (its values are not output as they are)

    def view(self, name: str) -> pa.Array | None:
        """A view, made on first use where that is possible (the numbers of a string column)."""
        found = self.views.get(name)
        if found is None and name == "n" and self.kind == "str":
            found = self.views["n"] = _numeric(self.views["v"].to_pylist())
        return found

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.views.values())


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _numeric(values: list[Any]) -> pa.Array:
    return pa.array([None if (n := as_number(v)) is None else float(n) for v in values], pa.float64())


def _timestamps(values: list[Any]) -> pa.Array:
    """ISO strings as UTC instants (naive ones read as UTC, like Timestamp.parse); NULL where a
    value does not parse. Arrow's parser does the common case (every value with, or every value
    without, a zone); anything else goes through Timestamp.parse one by one."""
    import pyarrow.compute as pc

    strings = pa.array(values, pa.string())
    for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
        try:
            return pc.cast(strings, target).cast(pa.int64()).cast(pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    parsed = []
    for v in values:
        try:
            parsed.append(None if v is None else Timestamp.parse(v))
        except InvalidInput:
            parsed.append(None)
    return pa.array(parsed, pa.int64()).cast(pa.timestamp("us"))


def _strings(values: list[Any]) -> pa.Array:
    """Strings; dictionary-encoded when few distinct values repeat (DuckDB then compares codes)."""
    import pyarrow.compute as pc

    strings = pa.array(values, pa.string())
    if len(strings) >= 256 and pc.count_distinct(strings).as_py() * 20 <= len(strings):
        return strings.dictionary_encode()
    return strings


def build_column(values: list[Any], timestamp: bool) -> Column:
    """Typed arrays (and views) of the values found at one path, one per row."""
    types = {type(v) for v in values if v is not None}
    if timestamp and types <= {str}:
        return Column("ts", {"v": _timestamps(values)})
    if not types or types == {str}:
        return Column("str", {"v": _strings(values)})  # "n" is made when first needed
    if types == {bool}:
        return Column("bool", {"v": pa.array(values, pa.bool_())})
    if types <= {int, float}:
        if types == {int} and all(v is None or _INT64[0] <= v <= _INT64[1] for v in values):
            return Column("int", {"v": pa.array(values, pa.int64())})
        values_ = pa.array([None if v is None else float(v) for v in values], pa.float64())
        return Column("float", {"v": values_}, ints=int in types)
    if types <= {dict, list}:
        return Column("json", {"v": pa.array([_json(v) for v in values], pa.string())})
    return mixed_column(values)


def mixed_column(values: list[Any]) -> Column:
    """The views of values of several JSON types (see the module docstring)."""
    kinds, texts = [], []
    for v in values:
        kind = type(v)
        if v is None:
            kinds.append(None)
            texts.append(None)
        elif kind is str:
            kinds.append(RANK_STRING)
            texts.append(v)
        else:
            kinds.append(RANK_BOOL if kind is bool else RANK_NUMBER if kind in (int, float) else RANK_OTHER)
            texts.append(like_text(v))
    return Column(
        "mixed",
        {
            "k": pa.array(kinds, pa.int8()),
            "n": _numeric(values),
            "s": pa.array(texts, pa.string()),
            "j": pa.array([_json(v) for v in values], pa.string()),
        },
    )


def extract(rows: Iterable[dict[str, Any]], paths: list[Path]) -> list[list[Any]]:
    """Per path, the value of every row (None where missing)."""
    out: list[list[Any]] = [[] for _ in paths]
    simple = [(p[0] if len(p) == 1 else None, p) for p in paths]
    for row in rows:
        for values, (key, path) in zip(out, simple, strict=True):
            values.append(row.get(key) if key is not None else get_path(row, path))
    return out


def delta_column(column: Column, values: list[Any], timestamp: bool) -> Column | None:
    """Views of new values shaped like `column`'s (same kind, same view types), to append to it;
    None when they do not fit (an int column given a string): the column is then rebuilt."""
    if all(v is None for v in values):
        return Column(column.kind, {name: pa.nulls(len(values), array.type) for name, array in column.views.items()})
    delta = mixed_column(values) if column.kind == "mixed" else build_column(values, timestamp)
    if delta.kind != column.kind:
        if not (column.kind == "float" and delta.kind == "int"):
            return None
        delta = Column("float", {"v": delta.views["v"].cast(pa.float64())}, ints=True)
    views = {}
    for name, array in column.views.items():
        part = delta.view(name)
        if part is None:
            return None
        if part.type != array.type:
            try:
                part = part.cast(array.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        views[name] = part
    return Column(column.kind, views, ints=delta.ints)


@dataclass
class RelationData:
    """Arrow columns of one relation's rows, with how to find each row again (`refs`).

    A cached relation is kept current by its commits (`note`, then `catch_up`): the new version
    of every changed row is appended and its old position marked absent in `present`, so
    positions a running query holds stay valid. Tombstones past a quarter of the rows make the
    next query rebuild the relation by one scan instead."""

    relation: Relation
    refs: list[Any]  # row keys (table id + id) for cached relations, the rows themselves otherwise
    live: pa.Array
    columns: dict[Path, Column] = field(default_factory=dict)
    seq: int = 0
    cached: bool = False
    positions: pa.Array | None = None
    names: dict[tuple[Path, str], str] = field(default_factory=dict)  # (path, view) -> Arrow column name
    version: int = 0  # bumped whenever columns are added (a registered table is then stale)
    registered: str = ""  # cached relations: the name it stays registered under in DuckDB
    present: pa.Array | None = None  # False where a row's newer version was appended (None: all present)
    pending: list[Entry] = field(default_factory=list)  # commits since `seq`, not applied yet
    dirty: bool = False  # a commit it cannot follow (a schema change): rebuild on next use
    _slots: dict[bytes, int] | None = None  # ref -> position of its current version
    _dead: int = 0
    _table: pa.Table | None = None
    # A cached entry is shared by concurrent queries: one may add columns or views while another
    # builds the Arrow table, which must not then be kept without them.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.refs)

    def column_name(self, path: Path, view: str) -> str:
        name = self.names.get((path, view))
        if name is None:
            with self._lock:
                name = self.names.get((path, view))
                if name is None:
                    if self.columns[path].view(view) is None:
                        raise KeyError(view)
                    number = next(n for (p, _v), n in self.names.items() if p == path).split("_")[0]
                    name = self.names[(path, view)] = f"{number}_{view}"
                    self.version += 1
                    self._table = None
        return name

    def table(self) -> pa.Table:
        """Every column (all views) as one Arrow table, with `_pos` and `_live`."""
        with self._lock:
            if self._table is None:
                present = self.present if self.present is not None else pa.repeat(True, len(self.refs))
                arrays: dict[str, pa.Array] = {"_pos": self.pos(), "_live": self.live, "_present": present}
                for (path, view), name in self.names.items():
                    arrays[name] = self.columns[path].views[view]
                self._table = pa.table(arrays)
            return self._table

    def count_equal(self, tests: list[tuple[Path, Any]]) -> int | None:
        """Live rows whose columns equal the constants (`COUNT(*)` by Arrow compute), read under the
        lock a commit's append takes (its arrays grow together); None when a column is missing or
        not of the constant's kind (`same_kind`)."""
        import pyarrow.compute as pc

        with self._lock:
            mask = self.live if self.present is None else pc.and_(self.live, self.present)
            for path, value in tests:
                column = self.columns.get(path)
                if column is None or not same_kind(column.kind, value):
                    return None
                mask = pc.and_(mask, pc.fill_null(pc.equal(column.views["v"], value), False))
        return int(pc.sum(mask).as_py() or 0)

    @property
    def nbytes(self) -> int:
        with self._lock:
            columns = sum(c.nbytes for c in self.columns.values())
        return columns + 60 * len(self.refs) + self.live.nbytes

    def pos(self) -> pa.Array:
        if self.positions is None or len(self.positions) != len(self.refs):
            self.positions = pa.array(np.arange(len(self.refs), dtype=np.int64))  # range(): 14 ms at 100k
        return self.positions

    def add(self, paths: list[Path], values: list[list[Any]]) -> None:
        built = [build_column(v, self.relation.is_timestamp(p)) for p, v in zip(paths, values, strict=True)]
        with self._lock:
            for path, column in zip(paths, built, strict=True):
                self.columns[path] = column
                number = len({p for p, _ in self.names})
                for view in column.views:
                    self.names[(path, view)] = f"c{number}_{view}"
            self.version += 1
            self._table = None

    # ---------------------------------------------------------------- following commits
    def note(self, entry: Entry) -> None:
        """Told every commit (under the write lock): keep the row changes of this relation's
        tables for `catch_up`; anything it cannot follow marks it for a rebuild."""
        if self.dirty or isinstance(entry, (Reembedded, ReembedVectors)):
            return
        names = {t.name for t in self.relation.tables}
        follows = type(self.relation).scan_columns is Relation.scan_columns  # rows of tables, not edges
        if isinstance(entry, (RowsPut, RowsDeleted)) and follows:
            if entry.table in names:
                self.pending.append(entry)
                if sum(len(e.ids) if isinstance(e, RowsDeleted) else 1 for e in self.pending) > 256:
                    self.mark_dirty()
            return
        if isinstance(entry, (SchemaPut, SchemaDropped)) and follows and not self.relation.is_view:
            if entry.table in names:
                self.mark_dirty()
            return
        self.mark_dirty()

    def mark_dirty(self) -> None:
        self.dirty = True
        self.pending = []

    def catch_up(self, core: TenantCore) -> bool:
        """Apply the pending commits (call under the write lock); False when a rebuild is needed."""
        if self.dirty:
            return False
        if not self.pending:
            return True
        changed: dict[bytes, tuple[str, Any]] = {}  # row key -> (table, new version, None, or _REREAD)
        for entry in self.pending:
            tid = table_prefix(core.registry.get(entry.table).table_id)
            if isinstance(entry, RowsPut):
                for row in entry.rows:
                    changed[tid + idmod.to_bytes(row["id"])] = (entry.table, row)
            else:
                for text in entry.ids:
                    changed[tid + idmod.to_bytes(text)] = (entry.table, None if entry.hard else _REREAD)
        reread = [key for key, (_table, row) in changed.items() if row is _REREAD]
        if reread:  # a soft delete logs ids only: its new version is the stored row
            for key, value in zip(reread, core.store.cf["rows"][reread], strict=True):
                changed[key] = (changed[key][0], None if value is None else orjson.loads(value))
        self.pending = []
        return self._append(changed)

    def _append(self, changed: dict[bytes, tuple[str, dict[str, Any] | None]]) -> bool:
        with self._lock:
            slots = self._slots
            if slots is None:
                slots = self._slots = {ref: position for position, ref in enumerate(self.refs)}
            dead = [slots[key] for key in changed if key in slots]
            added = [(key, table, row) for key, (table, row) in changed.items() if row is not None]
            if self._dead + len(dead) > max(64, len(self.refs) // 4):
                return False
            columns: dict[Path, Column] = {}
            for path, column in self.columns.items():
                values = [self.relation.getter(path, table)(row) for _, table, row in added]
                delta = delta_column(column, values, self.relation.is_timestamp(path))
                if delta is None:
                    return False
                columns[path] = delta
            present = np.ones(len(self.refs) + len(added), dtype=bool)
            if self.present is not None:
                present[: len(self.refs)] = self.present.to_numpy(zero_copy_only=False)
            present[dead] = False
            start = len(self.refs)
            for path, delta in columns.items():
                self.columns[path].ints |= delta.ints
                views = self.columns[path].views
                for name, part in delta.views.items():
                    views[name] = pa.concat_arrays([views[name], part])
            live = [row.get("deleted_at") is None for _, _, row in added]
            self.live = pa.concat_arrays([self.live, pa.array(live, pa.bool_())])
            self.present = pa.array(present)
            for offset, (key, _table, _row) in enumerate(added):
                self.refs.append(key)
                slots[key] = start + offset
            for key in changed:
                if changed[key][1] is None:
                    slots.pop(key, None)
            self._dead += len(dead)
            self.version += 1
            self._table = None
            return True


def rows_relation(relation: Relation, rows: list[dict[str, Any]], paths: Iterable[Path]) -> RelationData:
    """Columns built from rows already in hand (index candidates, search hits)."""
    data = RelationData(relation, rows, pa.array([True] * len(rows), pa.bool_()))
    wanted = sorted(set(paths))
    data.add(wanted, extract(rows, wanted))
    return data


class ColumnBudget:
    """One memory budget for the column caches of many databases, least recently used first.

    A cache charges an entry after filling it and is told to drop entries the budget evicts. The
    budget's lock is never held while a cache's lock is taken (caches charge after releasing
    theirs), so two tenants filling at once cannot deadlock. Caches are held weakly: a database
    dropped without close() is not kept alive (its sizes leave in LRU order)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sizes: OrderedDict[tuple[weakref.ref[ColumnCache], tuple[str, str]], int] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._total

    def charge(self, cache: ColumnCache, key: tuple[str, str], nbytes: int, hit: bool = False) -> None:
        """Record the entry's size as most recently used; evict the least recently used entries
        of any cache (never this entry) until the total fits. A hit only moves the entry up (an
        entry dropped meanwhile stays uncounted)."""
        victims = []
        slot = (weakref.ref(cache), key)
        with self._lock:
            if hit:
                if slot in self._sizes:
                    self._sizes.move_to_end(slot)
                return
            self._total += nbytes - self._sizes.pop(slot, 0)
            self._sizes[slot] = nbytes
            while self._total > self.limit and len(self._sizes) > 1:
                oldest, size = next(iter(self._sizes.items()))
                del self._sizes[oldest]
                self._total -= size
                victims.append(oldest)
        for owner, old in victims:
            found = owner()
            if found is not None:
                found.evict(old)

    def release(self, cache: ColumnCache, key: tuple[str, str]) -> None:
        with self._lock:
            self._total -= self._sizes.pop((weakref.ref(cache), key), 0)


class ColumnCache:
    """Arrow columns of whole relations, valid at a WAL sequence number.

    `shared` is the budget of every cache of the runtime; `budget` optionally caps this database's
    own entries too. `prefix` makes the names the relations are registered under in DuckDB unique
    to this database (tenants sharing one DuckDB connection may have tables of the same name)."""

    def __init__(
        self,
        core: TenantCore,
        shared: ColumnBudget,
        on_drop: Callable[[str], None] | None = None,
        prefix: str = "",
        budget: int | None = None,
    ) -> None:
        self.core = core
        self.shared = shared
        self.budget = budget
        self.on_drop = on_drop  # told the registered name of every entry dropped
        self.prefix = prefix
        self._entries: OrderedDict[tuple[str, str], RelationData] = OrderedDict()
        self._lock = threading.RLock()
        self.builds = 0  # how many scans filled the cache (tests and EXPLAIN read it)

    @staticmethod
    def key(relation: Relation) -> tuple[str, str]:
        return ("view" if relation.is_view else "table", relation.name)

    def _name(self, key: tuple[str, str]) -> str:
        return f"{self.prefix}cache_{key[0]}_{key[1]}"

    def _drop(self, key: tuple[str, str]) -> None:
        if self._entries.pop(key, None) is not None:
            self.shared.release(self, key)
        if self.on_drop is not None:
            self.on_drop(self._name(key))

    def evict(self, key: tuple[str, str]) -> None:
        """Drop an entry the shared budget chose (it no longer counts it)."""
        with self._lock:
            if self._entries.pop(key, None) is not None and self.on_drop is not None:
                self.on_drop(self._name(key))

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                self._drop(key)

    def fresh(self, relation: Relation, paths: Iterable[Path]) -> bool:
        """Whether the relation's columns for `paths` are cached and current (no scan needed)."""
        with self._lock:
            entry = self._current(relation)
            return entry is not None and all(p in entry.columns for p in paths)

    def get(self, relation: Relation, paths: Iterable[Path]) -> RelationData:
        wanted = sorted(set(paths))
        key = self.key(relation)
        with self._lock:
            entry = self._current(relation)
            missing = wanted if entry is None else [p for p in wanted if p not in entry.columns]
            if entry is not None and not missing:
                self._entries.move_to_end(key)
                hit = True
            else:
                hit = False
                entry = self._fill(relation, entry, wanted, missing)
            nbytes = 0 if hit else entry.nbytes
        self.shared.charge(self, key, nbytes, hit)  # outside our lock: it may evict from other caches
        return entry

    def _fill(
        self, relation: Relation, entry: RelationData | None, wanted: list[Path], missing: list[Path]
    ) -> RelationData:
        key = self.key(relation)
        seq = self.core.wal.seq
        keys, live, values = relation.scan_columns(self.core, missing)
        if entry is not None and (keys != entry.refs or entry.present is not None):
            # changed under us, or rows were appended since: start again, all columns
            keys, live, values = relation.scan_columns(self.core, wanted)
            entry, missing = None, wanted
        if entry is None:
            entry = RelationData(
                relation, keys, pa.array(live, pa.bool_()), seq=seq, cached=True, registered=self._name(key)
            )
        entry.add(missing, values)
        self.builds += 1
        with self.core.write_lock:  # no commit runs now: it is either seen below or `note`d later
            if self.core.wal.seq != entry.seq:
                tables = [] if relation.is_view else [t.name for t in relation.tables]
                if relation.is_view or self.core.wal.changed_since(tables, entry.seq):
                    entry.mark_dirty()  # a commit raced the scan: usable once, rebuilt on next use
                else:
                    entry.seq = self.core.wal.seq
            self._entries[key] = entry
        self._entries.move_to_end(key)
        if self.budget is not None:
            self._evict(self.budget)
        return entry

    def _evict(self, budget: int) -> None:
        total = sum(e.nbytes for e in self._entries.values())
        while total > budget and len(self._entries) > 1:
            key, dropped = next(iter(self._entries.items()))
            self._drop(key)
            total -= dropped.nbytes

    def _current(self, relation: Relation) -> RelationData | None:
        key = self.key(relation)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.seq == self.core.wal.seq and not entry.dirty:
            return entry
        # Commits since: each was `note`d (under the write lock, which is taken here so that every
        # commit up to the current seq has been): apply their rows, or rebuild.
        with self.core.write_lock:
            if not entry.catch_up(self.core):
                self._drop(key)
                return None
            entry.seq = self.core.wal.seq
        return entry

    def on_commit(self, entry: Entry, effects: Any) -> None:
        """The commit listener: every cached relation is told (no lock of the cache is taken: this
        runs under the write lock, which a query holding the cache's lock may be waiting for)."""
        for data in list(self._entries.values()):
            data.note(entry)


def same_kind(kind: str, value: Any) -> bool:
    """Whether a constant compares with a column of this kind as Arrow's `equal` does."""
    if isinstance(value, bool):
        return kind == "bool"
    if isinstance(value, int):
        return kind in ("int", "float")
    if isinstance(value, float):
        return kind == "float"
    return isinstance(value, str) and kind == "str"
