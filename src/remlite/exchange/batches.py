"""Stored rows as typed Arrow record batches, one bounded batch at a time.

Why this shape: an export of any size must run in bounded memory, so rows are read from RocksDB in
key (id) order and turned into one `pyarrow.RecordBatch` of at most `batch_size` rows before the
next is read. The stored row values are already JSON (orjson's compact output), so a batch is built
without a Python dict per row: the values are laid end to end in one Arrow string array (one copy,
offsets from their lengths) and DuckDB's `json_transform` parses them into the typed columns of the
table's `TablePlan` in C++, in parallel. That measured ~3x faster than `orjson.loads` per row plus
per-column builders, and, unlike `pyarrow.json.read_json`, it also gives the JSON text of untyped
fields (every built-in template has a free-form `metadata` object). Timestamps are read as text and
parsed by Arrow afterwards, so a value written in another form than remlite's can be noticed.

Exactness (`exact=True`, what export uses): a few things a typed row cannot say — a null the
schema's default would not put back, a key the schema does not declare, a timestamp written another
way (`...Z` vs `+00:00`, fewer fraction digits). Cheap vectorised signals over the whole batch
find the rows that might have one (more `null`s in a row's text than its `deleted_at`; more keys,
counted as `":`, than its typed values account for; the canonical-form regex over timestamp text);
only those rows are rebuilt as import would rebuild them and compared with the stored record. The stored record
goes into the `_remlite_row` column for the rows that differ, and is null for every other row.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from rocksdict import ReadOptions

from remlite import ids as idmod
from remlite.exchange.columns import TS_TYPE, Column, Rebuild, TablePlan
from remlite.exchange.limits import DEFAULT_BATCH, EXACT_COLUMN, VECTOR_PREFIX
from remlite.schema.model import SYSTEM_FIELDS
from remlite.storage.codec import prefix_end

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.semantic.vectors import FieldVectors

_LIVE_TAIL = b',"deleted_at":null}'  # how the writer ends every live row (the system stamps come last)
_CANONICAL = {"ts": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", "date": r"^\d{4}-\d\d-\d\d$"}


class BatchReader:
    """One pass over a table: `iter(reader)` yields its record batches, all with `schema`."""

    def __init__(
        self,
        core: TenantCore,
        table: str,
        *,
        batch_size: int = DEFAULT_BATCH,
        include_deleted: bool = False,
        vectors: bool = False,
        system: bool = True,
        exact: bool = False,
        flat: bool = False,
    ) -> None:
        self.core = core
        self.layout = core.layout(table)
        schema = self.layout.table
        self.plan = TablePlan.of(schema, system=system, flat=flat)
        self.rebuild = Rebuild(self.plan)
        self.batch_size, self.include_deleted, self.system, self.exact = batch_size, include_deleted, system, exact
        self.vector_fields: dict[str, tuple[FieldVectors, int]] = {}  # field -> (its vectors, dimension)
        self.vector_configs: dict[str, dict[str, Any]] = {}
        if vectors and schema.embedding_fields:
            for name, field in core.vectors(table).fields.items():
                config = field.config
                if config is not None:  # no config: no row of it has a vector yet
                    self.vector_fields[name] = (field, int(config["dimension"]))
                    self.vector_configs[name] = {k: v for k, v in config.items() if k != "version"}
        fields = [pa.field(c.name, c.arrow_type()) for c in self.plan.columns]
        for name, (_field, dim) in self.vector_fields.items():
            vector_type = pa.string() if flat else pa.list_(pa.float32(), dim)
            fields.append(pa.field(VECTOR_PREFIX + name, vector_type))
        if exact:
            fields.append(pa.field(EXACT_COLUMN, pa.string()))
        self.flat = flat
        self.schema = pa.schema(fields)
        self.null_defaults = {c.name for c in self.plan.columns if c.null_default}
        self._duck: Any = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for values, live in self.raw_chunks():
                yield self._batch(values, live)
        finally:
            if self._duck is not None:
                self._duck.close()
                self._duck = None

    def raw_chunks(self) -> Iterator[tuple[list[bytes], np.ndarray]]:
        """(stored values, whether each is live) of at most `batch_size` rows at a time, in id
        order (soft-deleted rows only with `include_deleted`).

        The rows are taken from rocksdict's `values()` by `islice`, so the loop runs in Rust and C
        (0.6-0.9 µs a row, against ~1.7 µs for a Python loop over an iterator), and a row's
        liveness is read off its last bytes for the whole chunk at once. That generator ends silently
        at a corrupt block, so the scan then goes on from the last row with the store's checked
        iterator, which raises there (and normally finds nothing more)."""
        store, tid, size = self.core.store, self.layout.tid, self.batch_size
        end = prefix_end(tid)
        options = ReadOptions()
        options.set_verify_checksums(True)
        options.fill_cache(False)  # one pass over every block: keep the cache for the blocks readers reuse
        if end is not None:
            options.set_iterate_upper_bound(end)
        try:  # an encrypted store's rows must be opened one by one: only its checked iterator does
            plain = getattr(store, "cipher", None) is None
            fast = store.cf["rows"].values(from_key=tid, read_opt=options) if plain else iter(())
        except Exception as exc:
            raise store.read_error(exc, "rows") from None
        last = None
        while plain:
            values = list(itertools.islice(fast, size))
            if values:
                last = values[-1]
                yield self._live(values)
            if len(values) < size:
                break
        start = tid if last is None else tid + _row_id(last) + b"\x00"
        checked = (value for _key, value in store.iter_prefix("rows", tid, start))
        while values := list(itertools.islice(checked, size)):
            yield self._live(values)
        del options, end  # kept alive until here: rocksdict holds the upper bound without owning it

    def _live(self, values: list[bytes]) -> tuple[list[bytes], np.ndarray]:
        """The values with a flag per row: live (its `deleted_at` is null). The writer puts the
        system stamps last, so a live row ends with `,"deleted_at":null}`; any other ending is
        decoded to be sure. Soft-deleted rows are dropped unless `include_deleted`."""
        tail = len(_LIVE_TAIL)
        ends = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        data = np.frombuffer(b"".join(v[-tail:] for v in values), dtype=np.uint8).reshape(len(values), -1)
        live = (data == np.frombuffer(_LIVE_TAIL, dtype=np.uint8)).all(axis=1) & (ends >= tail)
        for i in np.flatnonzero(~live).tolist():
            live[i] = orjson.loads(values[i]).get("deleted_at") is None
        if not self.include_deleted and not live.all():
            values = [v for v, alive in zip(values, live.tolist(), strict=True) if alive]
            live = np.ones(len(values), dtype=bool)
        return values, live

    def keys(self, values: list[bytes]) -> list[bytes]:
        """The row ids (16 bytes) of stored values: every stored row starts with its id."""
        return [_row_id(value) for value in values]

    def vector_lists(self, keys: list[bytes]) -> dict[str, list[list[float] | None]]:
        """The rows' stored vectors per exported field, as lists of floats (None: no vector)."""
        out = {}
        for name, (field, _dim) in self.vector_fields.items():
            found = field.stored(keys)
            out[name] = [None if v is None else np.frombuffer(v, dtype=np.float32).tolist() for v in found]
        return out

    # ------------------------------------------------------------------ one batch
    def _batch(self, values: list[bytes], live: np.ndarray) -> pa.RecordBatch:
        data = b"".join(values)
        offsets = np.zeros(len(values) + 1, dtype=np.int32 if len(data) < 2**31 else np.int64)
        np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)), out=offsets[1:])
        string_type = pa.string() if offsets.dtype == np.int32 else pa.large_string()
        text = pa.Array.from_buffers(string_type, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        parsed = self._parse(text)
        arrays: list[pa.Array] = []
        odd = np.zeros(len(values), dtype=bool)
        for column in self.plan.columns:
            array, column_odd = convert(parsed.column(column.name), column)
            arrays.append(array)
            if column_odd is not None:
                odd |= column_odd
        keys = self.keys(values) if self.vector_fields else []
        for _name, (field, dim) in self.vector_fields.items():
            arrays.append(self._vectors(keys, field, dim))
        if self.exact:
            odd |= self._suspects(data, offsets, parsed, live)
            arrays.append(self._exact_column(arrays, values, odd))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _suspects(self, data: bytes, offsets: np.ndarray, parsed: pa.Table, live: np.ndarray) -> np.ndarray:
        """Rows that may hold what typed columns lose, by counting in the JSON text: a `null`
        beyond a live row's `deleted_at`, or more keys (`":`) than its non-null typed values,
        struct members and the keys inside its JSON columns account for (never fewer: each counted
        key is in the text). The batch's totals are compared first (bytes.count, C speed); only when
        they differ are rows counted one by one. A string holding `null` or `":` makes a false
        suspect, which the comparison then clears."""
        expected = live.astype(np.int64) if self.system else np.full(len(live), len(SYSTEM_FIELDS), np.int64)
        for column in self.plan.columns:
            expected += _keys_in(parsed.column(column.name), column)
        suspects = np.zeros(len(live), dtype=bool)
        if data.count(b"null") != int(live.sum()):
            suspects |= _per_row(data, offsets, b"null") > live
        if data.count(b'":') != int(expected.sum()):
            suspects |= _per_row(data, offsets, b'":') > expected
        return suspects

    def _parse(self, text: pa.Array) -> pa.Table:
        """The typed columns of the JSON rows, by DuckDB's `json_transform` (row order kept)."""
        if self._duck is None:
            import duckdb

            self._duck = duckdb.connect()
        rows_in = self._duck.from_arrow(pa.Table.from_arrays([text], names=["j"]))
        spec = self.plan.duck_spec().replace("'", "''")
        query = f"SELECT unnest(json_transform(j, '{spec}')) FROM rows_in"
        return rows_in.query("rows_in", query).to_arrow_table()

    def _vectors(self, keys: list[bytes], field: FieldVectors, dim: int) -> pa.Array:
        """The rows' stored vectors of one field (a multi-get in id order); null where none."""
        found = field.stored(keys)
        missing = np.fromiter((v is None for v in found), dtype=bool, count=len(found))
        zero = bytes(4 * dim)
        flat = np.frombuffer(b"".join(zero if v is None else v for v in found), dtype=np.float32)
        if self.flat:
            rows = flat.reshape(len(found), dim).tolist() if len(found) else []
            texts = [None if m else orjson.dumps(r).decode() for m, r in zip(missing.tolist(), rows, strict=True)]
            return pa.array(texts, pa.string())
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), dim, mask=pa.array(missing))

    def _exact_column(self, arrays: list[pa.Array], values: list[bytes], odd: np.ndarray) -> pa.Array:
        """`_remlite_row` of a batch: the stored record where the typed columns would rebuild
        something else, null elsewhere."""
        out: list[str | None] = [None] * len(values)
        candidates = np.flatnonzero(odd)
        if not len(candidates):
            return pa.nulls(len(values), pa.string())
        names = self.plan.names
        typed = pa.Table.from_arrays(arrays[: len(names)], names=names).take(pa.array(candidates)).to_pylist()
        for position, row in zip(candidates.tolist(), typed, strict=True):
            stored = orjson.loads(values[position])
            if not self.system:
                stored = {k: v for k, v in stored.items() if k not in SYSTEM_FIELDS}
            rebuilt = self.rebuild.record(row)
            for name in self.null_defaults:
                if name not in rebuilt:
                    rebuilt[name] = None  # import's validation fills the null default back
            if self.system and stored.get("deleted_at") is None:
                rebuilt["deleted_at"] = None
            if rebuilt != stored:
                out[position] = values[position].decode() if self.system else orjson.dumps(stored).decode()
        return pa.array(out, pa.string())


def convert(array: pa.Array | pa.ChunkedArray, column: Column) -> tuple[pa.Array, np.ndarray | None]:
    """DuckDB's column as the plan's Arrow type; with a flag per row whose timestamp text is not
    remlite's canonical form (or does not parse: it is then null in the column)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if column.kind in ("ts", "date"):
        return _instants(array, column.kind)
    if column.kind == "struct":
        children, odd = [], None
        for i, child in enumerate(column.children):
            converted, child_odd = convert(array.field(i), child)
            children.append(converted)
            if child_odd is not None:
                odd = child_odd if odd is None else odd | child_odd
        mask = array.is_null()
        fields = [pa.field(c.name, c.arrow_type()) for c in column.children]
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask), odd
    target = column.arrow_type()
    return (array if array.type == target else array.cast(target)), None


def _instants(strings: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    target = TS_TYPE if kind == "ts" else pa.date32()
    canonical = pc.match_substring_regex(strings, _CANONICAL[kind])
    # (no fill_null: its scalar argument makes pyarrow import pandas, a second on a first export)
    odd = _bools(pc.and_kleene(pc.is_valid(strings), pc.invert(canonical)))
    try:
        return pc.cast(strings, target), odd
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed: list[Any] = []
    for value in strings.to_pylist():  # a form Arrow's parser does not take: Python's, one by one
        try:
            moment = dt.datetime.fromisoformat(value) if value is not None else None
        except ValueError:
            moment = None
        if moment is not None and kind == "ts" and moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        parsed.append(moment.date() if moment is not None and kind == "date" else moment)
    return pa.array(parsed, target), odd


def _row_id(value: bytes) -> bytes:
    if value[:7] == b'{"id":"' and value[43:44] == b'"':
        return idmod.to_bytes(value[7:43].decode())
    return idmod.to_bytes(orjson.loads(value)["id"])


def _keys_in(array: pa.Array | pa.ChunkedArray, column: Column) -> np.ndarray:
    """Per row, the keys a column's value accounts for: 1 when it is not null, plus the members of
    a struct and the keys inside JSON text."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    valid = _bools(array.is_valid())
    count = valid.astype(np.int64)
    if column.kind == "json":
        inside = pc.count_substring(array, '":')
        width = np.int32 if inside.type == pa.int32() else np.int64
        counts = np.frombuffer(inside.buffers()[1], dtype=width)[inside.offset : inside.offset + len(inside)]
        count += np.where(valid, counts, 0)
    elif column.kind == "struct":
        for i, child in enumerate(column.children):
            count += _keys_in(array.field(i), child)
    return count


def _per_row(data: bytes, offsets: np.ndarray, pattern: bytes) -> np.ndarray:
    """How often `pattern` occurs in each row of the joined text (numpy over the bytes)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    hits = np.ones(len(raw) - len(pattern) + 1, dtype=bool) if len(raw) >= len(pattern) else np.zeros(0, bool)
    for i, byte in enumerate(pattern):
        hits &= raw[i : len(raw) - len(pattern) + 1 + i] == byte
    rows = np.searchsorted(offsets, np.flatnonzero(hits), side="right") - 1
    return np.bincount(rows, minlength=len(offsets) - 1)[: len(offsets) - 1]


def _bools(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array without nulls as numpy, from its bits (`to_numpy` on a boolean array
    goes through pyarrow's pandas shim, which imports pandas when it is installed: a second)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)
