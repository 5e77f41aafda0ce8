"""Stored rows as typed Arrow record batches, one bounded batch at a time.

Why this shape: an export of any size must run in bounded memory, so rows are read from RocksDB in
key (id) order and turned into one `pyarrow.RecordBatch` of at most `batch_size` rows before the
next is read. The stored row values are already JSON (orjson's compact output), so a batch is built
without a Python dict per row: the values are laid end to end in one Arrow string array (one copy,
offsets from their lengths) and DuckDB's `json_transform` parses them into the typed columns of the
table's `TablePlan` in C++. That measured ~3x faster than `orjson.loads` per row plus per-column
builders, ~2x faster than `pyarrow.json.read_json` with an explicit schema (which, besides, cannot
give the JSON text of untyped fields, and every built-in template has a free-form object). One
DuckDB query parses the whole scan as an Arrow stream: a query per batch cost ~5 ms of planning,
~0.5 µs a row at 10k-row batches. The scan, the parse, the typing and the consumer (the file
writer) each run in a thread of their own (`remlite.exchange.ahead`); per row on the benchmark's
entities (2 cores): scan ~0.6-0.7 µs, DuckDB ~1.0, typing and checks ~0.3, Parquet ~0.7.
Timestamps are read as text and parsed by Arrow afterwards, so a value written in another form than
remlite's can be noticed.

Exactness (`exact=True`, what export uses): a few things a typed row cannot say — a null the
schema's default would not put back, a key the schema does not declare, a timestamp written another
way (`...Z` vs `+00:00`, fewer fraction digits). Cheap vectorised signals over the whole batch
find the rows that might have one: timestamp text not in the canonical form (a byte grid, or the
regex when lengths differ); more colons in a row's stored text than its parsed values account for
(`BatchReader._counted`: each key is one colon, every other one is inside a string DuckDB gives
back as it is). Only those rows are rebuilt as import would rebuild them and compared with the
stored record. The stored record goes into the `_remlite_row` column for the rows that differ, and
is null for every other row.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from remlite import ids as idmod
from remlite.exchange import arrays
from remlite.exchange.ahead import ahead
from remlite.exchange.columns import TS_TYPE, Column, Rebuild, TablePlan
from remlite.exchange.limits import DEFAULT_BATCH, EXACT_COLUMN, VECTOR_PREFIX, ahead_depth
from remlite.schema.model import SYSTEM_FIELDS
from remlite.storage.codec import prefix_end
from remlite.storage.tuning import read_options

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.semantic.vectors import FieldVectors

_TEXT_SCHEMA = pa.schema([pa.field("j", pa.large_string())])  # DuckDB's input: the stored rows
_LIVE_TAIL = b',"deleted_at":null}'  # how the writer ends every live row (the system stamps come last)
_CANONICAL = {"ts": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", "date": r"^\d{4}-\d\d-\d\d$"}
# Rows read from RocksDB in one call (~0.7 ms holding the GIL). Before each call the scan hands the
# GIL over (`time.sleep(0)`), above all to the stage it has just queued a batch for, which otherwise
# waited while the scan went on, its batch held. Alternated on 1M rows, 12 runs each: peak RSS
# 251-280 MB against 270-298 (the 300 MB bound), the rate unchanged (medians 424k and 426k rows/s).
_GIL_SLICE = 1024
_SHAPES = {"ts": b"0000-00-00T00:00:00.000000Z", "date": b"0000-00-00"}  # the same forms, 0 for a digit


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
        self.depth = ahead_depth(batch_size)  # batches each stage may run ahead of the next
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
        self.spec = {c.name: c.duck_type() for c in self.plan.columns}
        for name in SYSTEM_FIELDS:  # parsed even when not exported: every stored key is accounted for
            self.spec.setdefault(name, "VARCHAR")
        self.scalars_only = not any(c.kind in ("list", "struct") for c in self.plan.columns)
        # DuckDB's columns by position: a field may be named anything
        self.position = {name: i for i, name in enumerate(self.spec)}

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """Four stages, each in a thread of its own (`ahead`), so they overlap on two cores: the
        scan, DuckDB's parse of the whole stream in one query (it releases the GIL), the typing and
        checks of each parsed batch (here), and the consumer writing the previous batch. Typing in
        DuckDB's thread made that thread the slowest stage (~1.7 µs a row of ~3.2 for all four)."""
        for parsed, stored in ahead(self._parsed(), self.depth):
            yield self._batch(parsed, stored)

    def _parsed(self) -> Iterator[tuple[pa.RecordBatch, pa.Array]]:
        """DuckDB's batches of the scanned rows, with the rows' stored text (soft-deleted rows
        dropped unless `include_deleted`). The text of the rows DuckDB has not given back yet waits
        in `pending`: DuckDB keeps their order and number, so each parsed batch takes its own off
        the front (handing the text through DuckDB instead cost ~0.16 µs a row)."""
        import duckdb

        failed: list[BaseException] = []
        pending: deque[pa.Array] = deque()
        texts = ahead(self._texts(), self.depth)

        def fed() -> Iterator[pa.RecordBatch]:
            try:
                for text in texts:
                    pending.append(text.column(0))
                    yield text
            except BaseException as exc:  # DuckDB would raise its own error for it: kept to raise as it is
                failed.append(exc)
                raise

        duck = duckdb.connect(config={"threads": 1})
        try:
            source = pa.RecordBatchReader.from_batches(_TEXT_SCHEMA, fed())
            parsed = duck.from_arrow(source).query("rows_in", self._query()).to_arrow_reader(self.batch_size)
            while True:
                try:
                    batch = parsed.read_next_batch()
                except StopIteration:
                    break
                except Exception:
                    if failed:
                        raise failed[0] from None
                    raise
                stored = _take(pending, len(batch))
                deleted = batch.column(self.position["deleted_at"])
                if not self.include_deleted and deleted.null_count != len(deleted):
                    live = deleted.is_null()
                    batch, stored = batch.filter(live), stored.filter(live)
                if len(batch):
                    yield batch, stored
        finally:
            duck.close()
            texts.close()  # type: ignore[attr-defined]

    def raw_chunks(self) -> Iterator[tuple[list[bytes], np.ndarray]]:
        """(stored values, whether each is live) of at most `batch_size` rows at a time, in id
        order (soft-deleted rows only with `include_deleted`)."""
        for values in self.raw_values():
            yield self._live(values)

    def raw_values(self) -> Iterator[list[bytes]]:
        """The stored values, live or not, `batch_size` at a time in id order.

        The rows are taken from rocksdict's `values()` by `islice`, so the loop runs in Rust and C
        (0.6-0.9 µs a row, against ~1.7 µs for a Python loop over an iterator). That generator ends
        silently at a corrupt block, so the scan then goes on from the last row with the store's
        checked iterator, which raises there (and normally finds nothing more)."""
        store, tid, size = self.core.store, self.layout.tid, self.batch_size
        end = prefix_end(tid)
        options = read_options()
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
            values = []
            while len(values) < size:  # in short calls: each holds the GIL the stages in other threads need
                got = len(values)
                time.sleep(0)  # the GIL to a waiting stage first: the one a batch just went to (see _GIL_SLICE)
                values.extend(itertools.islice(fast, min(_GIL_SLICE, size - got)))
                if len(values) == got:
                    break
            if values:
                last = values[-1]
                yield values
            if len(values) < size:
                break
        start = tid if last is None else tid + _row_id(last) + b"\x00"
        checked = (value for _key, value in store.iter_prefix("rows", tid, start))
        while values := list(itertools.islice(checked, size)):
            yield values
        del options, end  # kept alive until here: rocksdict holds the upper bound without owning it

    def _texts(self) -> Iterator[pa.RecordBatch]:
        """The stored values of each scanned chunk laid end to end as one Arrow string array (one
        copy, offsets from their lengths): DuckDB's input, without a Python object per row."""
        for values in self.raw_values():
            yield pa.RecordBatch.from_arrays([arrays.utf8(values)], ["j"])

    def _query(self) -> str:
        """Every column of the plan by `json_transform`, and every system field even when the plan
        leaves them out (the reader needs `id` and `deleted_at`, and `_counted` a column for every
        stored key). Soft-deleted rows are dropped afterwards, by Arrow (a `WHERE` here cost DuckDB
        ~0.6 µs a row more)."""
        quoted = orjson.dumps(self.spec).decode().replace("'", "''")
        return f"SELECT unnest(json_transform(j, '{quoted}')) FROM rows_in"

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
    def _batch(self, parsed: pa.RecordBatch, stored: pa.Array) -> pa.RecordBatch:
        """A batch of the export from one of DuckDB's and the rows' stored text: the columns typed as
        the plan says, the vectors, and (`exact`) the `_remlite_row` column."""
        position = self.position
        columns: list[pa.Array] = []
        odd = np.zeros(len(stored), dtype=bool)
        for column in self.plan.columns:
            array, column_odd = convert(parsed.column(position[column.name]), column)
            columns.append(array)
            if column_odd is not None:
                odd |= column_odd
        if self.vector_fields:
            keys = [idmod.to_bytes(i) for i in parsed.column(position["id"]).to_pylist()]
            for _name, (field, dim) in self.vector_fields.items():
                columns.append(self._vectors(keys, field, dim))
        if self.exact:
            live = ~arrays.bools(parsed.column(position["deleted_at"]).is_valid())
            odd |= self._counted(stored, parsed, live)
            columns.append(self._exact_column(columns, stored, odd))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def _counted(self, text: pa.Array, parsed: pa.RecordBatch, live: np.ndarray) -> np.ndarray:
        """Rows that may hold what typed columns lose: more colons in the stored text than the
        parsed columns account for. orjson writes every key as `"name":`, so each key of a row is
        one colon (and those inside its name); every other colon is inside a string, which DuckDB
        gives back as it is (a JSON column's text too). A parsed value accounts for its key and the
        colons in its text; a live row's `deleted_at` key has a null value. So a row has more colons
        than accounted exactly when it has a key no column holds: an undeclared key, an explicit
        null, a value DuckDB could not type. Never fewer: each accounted colon is in the text.

        Counting a byte with numpy (SIMD, the GIL released) costs ~0.05 µs a row, against 0.35-0.6
        µs for DuckDB's `json_keys` (a second parse of each row, in the export's longest stage) and
        0.3-0.6 for `bytes.count` of `":`. Batch totals first, for a plan without lists and structs;
        rows one by one only when they differ."""
        buffer, offsets = _text_buffers(text)
        raw = np.frombuffer(buffer, dtype=np.uint8)
        keys = list(self.spec)
        if self.scalars_only:
            totals = [_accounted_total(parsed.column(i), key) for i, key in enumerate(keys)]
            if None not in totals and _colons(raw) == int(live.sum()) + sum(totals):  # type: ignore[arg-type]
                return np.zeros(len(live), dtype=bool)
        accounted = live.astype(np.int64)
        for i, key in enumerate(keys):
            accounted += _accounted(parsed.column(i), key)
        return _colons_per_row(raw, offsets) > accounted

    def _vectors(self, keys: list[bytes], field: FieldVectors, dim: int) -> pa.Array:
        """The rows' stored vectors of one field (a multi-get in id order); null where none."""
        found = field.stored(keys)
        missing = np.fromiter((v is None for v in found), dtype=bool, count=len(found))
        zero = bytes(4 * dim)
        flat = np.frombuffer(b"".join(zero if v is None else v for v in found), dtype=np.float32)
        if self.flat:
            rows = flat.reshape(len(found), dim).tolist() if len(found) else []
            texts = [None if m else orjson.dumps(r).decode() for m, r in zip(missing.tolist(), rows, strict=True)]
            return arrays.strings(texts)
        return pa.FixedSizeListArray.from_arrays(arrays.numbers(flat, pa.float32()), dim, mask=arrays.flags(missing))

    def _exact_column(self, columns: list[pa.Array], text: pa.Array, odd: np.ndarray) -> pa.Array:
        """`_remlite_row` of a batch: the stored record where the typed columns would rebuild
        something else, null elsewhere."""
        candidates = np.flatnonzero(odd)
        if not len(candidates):
            return pa.nulls(len(text), pa.string())
        out: list[str | None] = [None] * len(text)
        names, taken = self.plan.names, arrays.numbers(candidates, pa.int64())
        typed = arrays.python_rows(pa.Table.from_arrays(columns[: len(names)], names=names).take(taken))
        for position, row, stored_text in zip(candidates.tolist(), typed, text.take(taken).to_pylist(), strict=True):
            stored = orjson.loads(stored_text)
            if not self.system:
                stored = {k: v for k, v in stored.items() if k not in SYSTEM_FIELDS}
            rebuilt = self.rebuild.record(row)
            for name in self.null_defaults:
                if name not in rebuilt:
                    rebuilt[name] = None  # import's validation fills the null default back
            if self.system and stored.get("deleted_at") is None:
                rebuilt["deleted_at"] = None
            if rebuilt != stored:
                out[position] = stored_text if self.system else orjson.dumps(stored).decode()
        return arrays.strings(out)


def convert(array: pa.Array | pa.ChunkedArray, column: Column) -> tuple[pa.Array, np.ndarray | None]:
    """DuckDB's column as the plan's Arrow type; with a flag per row whose timestamp text is not
    remlite's canonical form (or does not parse: it is then null in the column)."""
    array = arrays.whole(array)
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
    odd = _odd_forms(strings, kind)
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


def _odd_forms(strings: pa.Array, kind: str) -> np.ndarray:
    """Per row, a timestamp (or date) text that is not remlite's canonical form. When every value
    has the canonical length, the characters are checked as a grid, column by column (numpy: ~0.01
    µs a row, against ~0.14 for Arrow's regex, RE2); otherwise by the regex."""
    shape = np.frombuffer(_SHAPES[kind], dtype=np.uint8)
    data, offsets = _text_buffers(strings)
    valid = arrays.bools(strings.is_valid())
    lengths = np.diff(offsets)
    if not (lengths == np.where(valid, len(shape), 0)).all():
        canonical = pc.match_substring_regex(strings, _CANONICAL[kind])
        # (no fill_null: its scalar argument makes pyarrow import pandas, a second on a first export)
        return arrays.bools(pc.and_kleene(pc.is_valid(strings), pc.invert(canonical)))
    grid = np.frombuffer(data, dtype=np.uint8).reshape(-1, len(shape))
    digit = shape == ord("0")
    fits = ((grid[:, digit] - ord("0")) < 10).all(axis=1) & (grid[:, ~digit] == shape[~digit]).all(axis=1)
    odd = np.zeros(len(strings), dtype=bool)
    odd[valid] = ~fits
    return odd


def _row_id(value: bytes) -> bytes:
    if value[:7] == b'{"id":"' and value[43:44] == b'"':
        return idmod.to_bytes(value[7:43].decode())
    return idmod.to_bytes(orjson.loads(value)["id"])


_COLON = ord(":")


def _colons(raw: np.ndarray) -> int:
    return int(np.count_nonzero(raw == _COLON))


def _colons_per_row(raw: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The colons in each row of text laid end to end (`offsets` from 0)."""
    marks = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(raw == _COLON, out=marks[1:])
    return marks[offsets[1:]] - marks[offsets[:-1]]  # type: ignore[no-any-return]


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def _accounted_total(array: pa.Array | pa.ChunkedArray, key: str) -> int | None:
    """`_accounted` summed over a column without lists or structs, from its null count and one
    count over its text; None when a null holds text (then rows are counted one by one)."""
    array = arrays.whole(array)
    valid = len(array) - array.null_count
    total = valid * (1 + key.count(":"))
    if valid and _is_text(array.type):
        data, offsets = _text_buffers(array)
        if array.null_count and np.diff(offsets)[~arrays.bools(array.is_valid())].any():
            return None
        total += _colons(np.frombuffer(data, dtype=np.uint8))
    return total


def _accounted(array: pa.Array | pa.ChunkedArray, key: str | None) -> np.ndarray:
    """Per row, the colons of the stored text a parsed value accounts for: its key's (`key`; None
    for a list's items, which have none) and those in its text, a list's items' or a struct's
    members'."""
    array = arrays.whole(array)
    valid = arrays.bools(array.is_valid()) if array.null_count else np.ones(len(array), dtype=bool)
    count = valid * (0 if key is None else 1 + key.count(":"))
    kind = array.type
    if _is_text(kind):
        data, offsets = _text_buffers(array)
        inner = _colons_per_row(np.frombuffer(data, dtype=np.uint8), offsets)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        width = np.int64 if pa.types.is_large_list(kind) else np.int32
        bounds = np.frombuffer(array.buffers()[1], dtype=width)[array.offset : array.offset + len(array) + 1]
        items = np.zeros(len(array.values) + 1, dtype=np.int64)
        np.cumsum(_accounted(array.values, None), out=items[1:])
        inner = items[bounds[1:]] - items[bounds[:-1]]
    elif pa.types.is_struct(kind):
        inner = np.zeros(len(array), dtype=np.int64)
        for i in range(kind.num_fields):
            inner += _accounted(array.field(i), kind.field(i).name)
    else:
        return count.astype(np.int64)
    return np.where(valid, count + inner, 0)


def _take(pending: deque[pa.Array], rows: int) -> pa.Array:
    """The first `rows` values of the arrays in `pending`, taken off it."""
    parts = []
    while rows:
        head = pending[0]
        if len(head) <= rows:
            parts.append(pending.popleft())
            rows -= len(head)
        else:
            parts.append(head.slice(0, rows))
            pending[0] = head.slice(rows)
            rows = 0
    return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def _text_buffers(text: pa.Array) -> tuple[pa.Buffer, np.ndarray]:
    """A string array's characters (a slice of its buffer: no copy) and its offsets into them, from 0."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.string())  # (another layout, a string view say: its buffers are not offsets)
    width = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(text.buffers()[1], dtype=width)[text.offset : text.offset + len(text) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    buffer = text.buffers()[2]
    data = pa.py_buffer(b"") if buffer is None else buffer.slice(start, end - start)
    return data, (offsets - start).astype(np.int64)
