"""The three file formats: writing a stream of record batches, and reading a file back as records.

Why three: Parquet is the typed, compressed form for analysis tools (DuckDB, pandas, polars, Spark);
JSON Lines is the stored records themselves, one per line, readable by anything; CSV is for
spreadsheets. Each is written batch by batch (bounded memory) and read back the same way.

- **parquet**: the typed columns of `remlite.exchange.columns` (timestamps as timestamp[us, UTC],
  nested objects as structs, lists as lists), zstd-compressed, one row group per batch, without
  dictionary encoding: ids, names, texts and timestamps rarely repeat, so Arrow built a dictionary of
  every value of every row group for nothing (~0.25 µs a row of the ~1 µs the writer takes, and
  12% more bytes on the benchmark's entities: zstd finds the repeats of a low-cardinality column). The file's
  key-value metadata `remlite` holds the table's schema and the vector spaces of exported vectors.
- **jsonl**: one stored record per line, byte for byte as remlite keeps it (with `id` and the
  system timestamps) — unless `system=False` (they are left out) or `vectors=True` (each row gets
  `_vector_<field>`: a list of floats, or null).
- **csv**: a header row, then one row per record: strings quoted, a null is an empty unquoted cell
  and an empty string is `""`; numbers and `true`/`false` as they are; lists, objects, untyped
  values and vectors as JSON text in one cell; timestamps as the text they were stored as.

Parquet and CSV carry a last column `_remlite_row`, empty except for the rare rows the typed
columns cannot give back exactly (see `remlite.exchange.batches`).

A file of any format may be **sealed** (an encrypted export, `remlite.storage.sealed`): written
through the sealing writer as it streams, so no byte of it is in the clear on disk; reading one
opens it into memory (it is checked whole before a row is read).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from remlite.errors import InvalidInput
from remlite.exchange.ahead import ahead
from remlite.exchange.columns import Rebuild, TablePlan
from remlite.exchange.limits import EXACT_COLUMN, VECTOR_PREFIX, check_format

_BY_EXTENSION = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
META_KEY = "remlite"  # the key of the Parquet file metadata remlite writes (not a RocksDB key)
Chunk = tuple[list[Any], dict[str, list[Any]], list[int]]


def format_of(path: Path, fmt: str | None) -> str:
    """The given format, else the one the file name says."""
    if fmt is not None:
        return check_format(fmt)
    found = _BY_EXTENSION.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(f"cannot tell the format of {path.name}: give format= (parquet, jsonl or csv)")
    return found


# ---------------------------------------------------------------------- writing
@contextlib.contextmanager
def _sink(temporary: Path, passphrase: str | None, arrow: bool = False) -> Iterator[Any]:
    """Where a file's bytes go: a plain file (for an Arrow writer, its path: Arrow's own file is
    faster than a Python one), or (sealed) a writer that encrypts them as they come, finished (its
    last segment written) only when the block ends without an error."""
    if passphrase is None and arrow:
        yield str(temporary)
        return
    raw = open(temporary, "wb")  # noqa: SIM115 - closed below
    if passphrase is None:
        with raw:
            yield raw
        return
    from remlite.storage.sealed import SealedWriter

    sealed = SealedWriter(raw, passphrase)
    try:
        yield pa.PythonFile(sealed, mode="w") if arrow else sealed
    except BaseException:
        raw.close()  # no last segment: the partial file is removed anyway
        raise
    sealed.close()


def write_batches(
    path: Path,
    fmt: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    metadata: dict[str, Any],
    passphrase: str | None = None,
    depth: int = 1,
) -> int:
    """Write every batch to `path` (through a temporary name, renamed when complete, so a crash or
    an error never leaves a half file under the real name); return the rows written. Batches are
    built up to `depth` ahead of the writer, in a thread (`ahead`). With `passphrase`, the file is
    sealed."""
    temporary = path.with_name(f".{path.name}.partial")
    rows = 0
    batches = ahead(batches, depth)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            schema = schema.with_metadata({META_KEY: orjson.dumps(metadata)})
            with (
                _sink(temporary, passphrase, arrow=True) as out,
                pq.ParquetWriter(out, schema, compression="zstd", use_dictionary=False) as writer,
            ):
                for batch in batches:
                    writer.write_batch(batch.replace_schema_metadata(schema.metadata))
                    rows += batch.num_rows
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            with _sink(temporary, passphrase, arrow=True) as out, pacsv.CSVWriter(out, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            raise InvalidInput("jsonl is written by write_jsonl")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return rows


def write_jsonl(path: Path, chunks: Iterable[list[bytes]], passphrase: str | None = None) -> int:
    """Write lines of JSON (each chunk a list of encoded records) the same all-or-nothing way."""
    temporary = path.with_name(f".{path.name}.partial")
    rows = 0
    try:
        with _sink(temporary, passphrase) as out:
            for lines in chunks:
                if lines:
                    out.write(b"\n".join(lines))
                    out.write(b"\n")
                    rows += len(lines)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return rows


# ---------------------------------------------------------------------- reading
class FileRows:
    """A file's records in chunks, with their vectors: each iteration reads the file again from the
    start (import makes two passes: validate everything, then write), holding one chunk at a time."""

    def __init__(self, path: Path, fmt: str, plan: TablePlan, chunk: int, passphrase: str | None = None) -> None:
        if not path.is_file():
            raise InvalidInput(f"no such file: {path}")
        self.path, self.fmt, self.plan, self.chunk = path, fmt, plan, chunk
        self.rebuild = Rebuild(plan)
        self.metadata: dict[str, Any] = {}
        self.sealed: Any = None  # a sealed file's plaintext, opened (and checked) once
        from remlite.storage.sealed import is_sealed, read_sealed

        if is_sealed(path):
            with open(path, "rb") as source:
                self.sealed = read_sealed(source, passphrase)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                meta = pq.read_schema(self._source()).metadata or {}
            except pa.ArrowException as exc:
                raise InvalidInput(f"{path.name} is not a Parquet file: {exc}") from None
            if META_KEY.encode() in meta:
                self.metadata = orjson.loads(meta[META_KEY.encode()])

    def __iter__(self) -> Iterator[Chunk]:
        """(records, vectors by field: one vector or None per record, each record's row number in
        the file: 1-based, a JSON Lines file's line number) per chunk."""
        if self.fmt == "jsonl":
            yield from self._jsonl()
            return
        number = 0
        for batch in self._arrow_batches():
            records, vectors = self._from_batch(batch)
            yield records, vectors, list(range(number + 1, number + 1 + len(records)))
            number += len(records)

    def _source(self) -> Any:
        """What to read: the path, or a new reader over a sealed file's plaintext (shared memory)."""
        import io

        return self.path if self.sealed is None else io.BytesIO(self.sealed.getbuffer())

    def _jsonl(self) -> Iterator[Chunk]:
        records: list[Any] = []
        numbers: list[int] = []
        source = self._source()
        with open(source, "rb") if isinstance(source, Path) else source as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue  # blank lines (a trailing one) are no records
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    value = Unreadable(f"not JSON: {exc}")
                records.append(value)
                numbers.append(number)
                if len(records) >= self.chunk:
                    yield (*_split_vectors(records), numbers)
                    records, numbers = [], []
        if records:
            yield (*_split_vectors(records), numbers)

    def _arrow_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self._source()).iter_batches(batch_size=self.chunk)
                return
            import pyarrow.csv as pacsv

            types = {c.name: c.arrow_type() for c in self.plan.columns if c.kind in ("int", "float", "bool")}
            for column in self.plan.columns:
                types.setdefault(column.name, pa.string())
            types[EXACT_COLUMN] = pa.string()  # (all empty, Arrow would infer the null type)
            convert = pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
            )
            reader = pacsv.open_csv(
                self._source(), read_options=pacsv.ReadOptions(block_size=1 << 22), convert_options=convert
            )
            for batch in reader:
                for start in range(0, batch.num_rows, self.chunk):
                    yield batch.slice(start, self.chunk)
        except pa.ArrowException as exc:
            raise InvalidInput(f"cannot read {self.path.name} as {self.fmt}: {exc}") from None

    def _from_batch(self, batch: pa.RecordBatch) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        vector_names = [n for n in batch.schema.names if n.startswith(VECTOR_PREFIX)]
        vectors: dict[str, list[Any]] = {}
        for name in vector_names:
            values = batch.column(name).to_pylist()
            if self.fmt == "csv":
                values = [None if v is None else orjson.loads(v) for v in values]
            vectors[name[len(VECTOR_PREFIX) :]] = values
        for i, field in enumerate(batch.schema):  # timestamps as remlite's text, by Arrow (strftime per row: 9 µs)
            if pa.types.is_timestamp(field.type):
                column = batch.column(i)
                if field.type.tz is None:
                    column = column.cast(pa.timestamp("us"), safe=False)  # naive: read as UTC, as validation does
                else:
                    column = column.cast(pa.timestamp("us", tz="UTC"), safe=False)
                texts = pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ")
                batch = batch.set_column(i, field.name, texts)
        return self.rebuild.records(batch), vectors


class Unreadable(dict):  # type: ignore[type-arg]
    """A line that is not JSON: rejected with why, as an invalid record is."""

    def __init__(self, problem: str) -> None:
        super().__init__()
        self.problem = problem


def problem_of(record: Any) -> str | None:
    """Why a record read from a file cannot even be validated (None: it can)."""
    return getattr(record, "problem", None)


def _split_vectors(records: list[Any]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    names = {k for r in records if isinstance(r, dict) for k in r if k.startswith(VECTOR_PREFIX)}
    vectors: dict[str, list[Any]] = {}
    for name in sorted(names):
        vectors[name[len(VECTOR_PREFIX) :]] = [r.pop(name, None) if isinstance(r, dict) else None for r in records]
    return records, vectors
