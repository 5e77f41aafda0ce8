"""The `Exchange` component: `to_arrow`, `to_pandas`, `to_polars`, `iter_batches`, `export` and
`import_` of `remlite.Database`.

Why one component: reading a table out as typed columns (for dataframes or files) and reading a file
back in are two directions of one mapping (`remlite.exchange.columns`); keeping them together keeps
them inverse. It reads rows through the `TenantCore` and writes through the `ChangeLog` component
(the replay path, which keeps ids and timestamps: see `remlite.exchange.importer`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from remlite.errors import EncryptionError, InvalidInput, shown
from remlite.exchange.limits import (
    DEFAULT_BATCH,
    DEFAULT_CHUNK,
    EXTENSIONS,
    MAX_BATCH,
    VECTOR_PREFIX,
    Progress,
    ahead_depth,
    check_format,
)
from remlite.schema.model import SYSTEM_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

    from remlite.core import TenantCore
    from remlite.replay import ChangeLog

MANIFEST = "manifest.json"


def _check_batch_size(batch_size: Any) -> int:
    if type(batch_size) is not int or not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInput(f"batch_size must be an integer from 1 to {MAX_BATCH}, got {shown(batch_size)}")
    return batch_size


def _flag(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise InvalidInput(f"{name} must be True or False, got {shown(value)}")
    return value


def _dataframe_package(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise InvalidInput(
            f"to_{name} needs the {name} package: pip install {name} (or pip install 'remlite[dataframes]')",
            package=name,
        ) from None


class Exchange:
    """Typed columns out of a table, and files in and out of it."""

    def __init__(self, core: TenantCore, changelog: ChangeLog) -> None:
        self.core = core
        self.changelog = changelog

    # ------------------------------------------------------------------ columns
    def iter_batches(
        self,
        table: str,
        batch_size: int = DEFAULT_BATCH,
        *,
        include_deleted: bool = False,
        vectors: bool = False,
        system: bool = True,
        exact: bool = False,
        flat: bool = False,
    ) -> Iterator[pa.RecordBatch]:
        """The table's rows as typed Arrow record batches of at most `batch_size` rows, in id order,
        read and built one at a time (memory stays bounded whatever the table's size).

        Columns: `id`, each declared field typed from the JSON Schema (timestamps as
        timestamp[us, UTC], integers int64, numbers float64, booleans, strings, arrays of scalars as
        lists, objects that declare their properties as structs, anything else as JSON text), then
        `created_at`, `modified_at`, `deleted_at` (`system=False` leaves out these four). With
        `vectors=True`, `_vector_<field>` per embedding field: the stored vector as
        fixed_size_list<float32> (null where a row has none). `exact=True` adds `_remlite_row` (the
        stored record where the typed columns cannot give it back exactly: what files carry);
        `flat=True` makes every list and object JSON text and keeps timestamps as text (CSV)."""
        from remlite.exchange.batches import BatchReader

        reader = BatchReader(
            self.core,
            table,
            batch_size=_check_batch_size(batch_size),
            include_deleted=_flag("include_deleted", include_deleted),
            vectors=_flag("vectors", vectors),
            system=_flag("system", system),
            exact=_flag("exact", exact),
            flat=_flag("flat", flat),
        )
        return iter(reader)

    def to_arrow(
        self, table: str, *, include_deleted: bool = False, vectors: bool = False, system: bool = True
    ) -> pa.Table:
        """The whole table as one `pyarrow.Table` (columns as `iter_batches` describes; an empty
        table has the columns and no rows)."""
        import pyarrow as pa

        from remlite.exchange.batches import BatchReader

        reader = BatchReader(
            self.core,
            table,
            include_deleted=_flag("include_deleted", include_deleted),
            vectors=_flag("vectors", vectors),
            system=_flag("system", system),
        )
        return pa.Table.from_batches(list(reader), schema=reader.schema)

    def to_pandas(
        self, table: str, *, include_deleted: bool = False, vectors: bool = False, system: bool = True
    ) -> Any:
        """`to_arrow(...)` as a pandas DataFrame (needs pandas; timestamps are tz-aware UTC)."""
        _dataframe_package("pandas")
        return self.to_arrow(table, include_deleted=include_deleted, vectors=vectors, system=system).to_pandas()

    def to_polars(
        self, table: str, *, include_deleted: bool = False, vectors: bool = False, system: bool = True
    ) -> Any:
        """`to_arrow(...)` as a polars DataFrame (needs polars)."""
        polars = _dataframe_package("polars")
        return polars.from_arrow(self.to_arrow(table, include_deleted=include_deleted, vectors=vectors, system=system))

    # ------------------------------------------------------------------ files
    def export(
        self,
        table: str | None,
        path: str | os.PathLike[str],
        format: str = "parquet",
        *,
        include_deleted: bool = False,
        vectors: bool = False,
        system: bool = True,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        encrypt: bool | None = None,
        passphrase: str | None = None,
    ) -> dict[str, Any]:
        """Write a table to `path` as parquet, jsonl or csv (`remlite.exchange.files` describes
        each), streaming `batch_size` rows at a time; or, with `table=None`, every table into the
        directory `path`: `<table>.<format>` each, and `manifest.json` (the format, and per table its
        file, rows and schema). A file appears under its name only once complete.

        `encrypt` (default: whether this database is encrypted) seals each file as it is written
        (`remlite.storage.sealed`: AES-256-GCM under a key from `passphrase`, default
        `REMLITE_PASSPHRASE`), so an encrypted database's export is never on disk in the clear;
        `import_` opens it with the passphrase. `encrypt=False` writes plain files.

        Returns {"format", "path", "rows", "bytes", "seconds", "encrypted", "tables": {table:
        {"path", "rows", "bytes", "seconds"}}}. `progress(table, rows so far)` is called after each batch."""
        fmt = check_format(format)
        _check_batch_size(batch_size)
        sealing = self._export_passphrase(encrypt, passphrase)
        options = {
            "include_deleted": _flag("include_deleted", include_deleted),
            "vectors": _flag("vectors", vectors),
            "system": _flag("system", system),
        }
        target = Path(path)
        started = time.perf_counter()
        if table is None:
            target.mkdir(parents=True, exist_ok=True)
            names = self.core.registry.names()
            files = {name: target / f"{name}{EXTENSIONS[fmt]}" for name in names}
        else:
            self.core.layout(table)  # an unknown table fails before a file is made
            if target.is_dir():
                raise InvalidInput(f"{target} is a directory: give a file name (or export every table into it)")
            if not target.parent.is_dir():
                raise InvalidInput(f"cannot write {target}: the directory {target.parent} does not exist")
            files = {table: target}
        tables = {
            name: self._export_one(name, file, fmt, batch_size, options, progress, sealing)
            for name, file in files.items()
        }
        if table is None:
            manifest = {
                "format": fmt,
                "encrypted": sealing is not None,
                **options,
                "tables": {
                    name: {
                        "file": files[name].name,
                        "rows": tables[name]["rows"],
                        "schema": self.core.registry.get(name).describe(),
                    }
                    for name in files
                },
            }
            (target / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        return {
            "format": fmt,
            "path": str(target),
            "rows": sum(t["rows"] for t in tables.values()),
            "bytes": sum(t["bytes"] for t in tables.values()),
            "seconds": round(time.perf_counter() - started, 3),
            "encrypted": sealing is not None,
            "tables": tables,
        }

    def _export_passphrase(self, encrypt: bool | None, passphrase: str | None) -> str | None:
        """The passphrase to seal an export with (None: a plain export)."""
        if encrypt is None:
            encrypt = self.core.store.cipher is not None
        if encrypt not in (True, False):
            raise InvalidInput(f"encrypt must be True, False or None, got {shown(encrypt)}")
        if not encrypt:
            return None
        found = passphrase if passphrase is not None else self.core.runtime.settings.passphrase
        if not isinstance(found, str) or not found:
            raise EncryptionError(
                "an encrypted export needs a passphrase (passphrase= or REMLITE_PASSPHRASE); encrypt=False writes "
                "a plain file"
            )
        return found

    def _export_one(
        self,
        table: str,
        path: Path,
        fmt: str,
        batch_size: int,
        options: dict[str, bool],
        progress: Progress | None,
        passphrase: str | None,
    ) -> dict[str, Any]:
        from remlite.exchange.batches import BatchReader
        from remlite.exchange.files import write_batches, write_jsonl

        started = time.perf_counter()
        done = 0

        def counted(batches: Iterator[Any]) -> Iterator[Any]:
            nonlocal done
            for batch in batches:
                yield batch
                done += len(batch)
                if progress is not None:
                    progress(table, done)

        if fmt == "jsonl":
            rows = write_jsonl(path, counted(self._jsonl_chunks(table, batch_size, **options)), passphrase)
        else:
            flat = fmt == "csv"
            described = BatchReader(self.core, table, exact=True, flat=flat, **options)  # no I/O: the columns
            metadata = {"version": 1, "table": table, "schema": self.core.registry.get(table).describe(), **options}
            if options["vectors"]:
                metadata["vectors"] = described.vector_configs
            batches = self.iter_batches(table, batch_size, exact=True, flat=flat, **options)
            depth = ahead_depth(batch_size)
            rows = write_batches(path, fmt, described.schema, counted(batches), metadata, passphrase, depth)
        return {
            "path": str(path),
            "rows": rows,
            "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _jsonl_chunks(
        self, table: str, batch_size: int, *, include_deleted: bool, vectors: bool, system: bool
    ) -> Iterator[list[bytes]]:
        """Stored rows as JSON lines, `batch_size` at a time: the stored bytes as they are, unless
        system fields are left out or vectors added (then each row is decoded and encoded again)."""
        from remlite.exchange.batches import BatchReader

        reader = BatchReader(self.core, table, include_deleted=include_deleted, vectors=vectors, system=system)
        for values, _live in reader.raw_chunks():
            if system and not reader.vector_fields:
                yield values
                continue
            records = [orjson.loads(v) for v in values]
            if not system:
                records = [{k: v for k, v in r.items() if k not in SYSTEM_FIELDS} for r in records]
            for name, column in reader.vector_lists(reader.keys(values)).items():
                for record, vector in zip(records, column, strict=True):
                    record[VECTOR_PREFIX + name] = vector
            yield [orjson.dumps(r) for r in records]

    def import_(
        self,
        table: str,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        passphrase: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Import a parquet, jsonl or csv file (the format from its extension unless given) into
        `table`, keeping ids and timestamps. Every row is checked first; if any is refused,
        `ImportRejected` lists them (row number and error, at most 100; `count` has them all) and
        nothing is written. Then rows are written `chunk_size` at a time, each chunk atomic. See
        `remlite.exchange.importer` for what is kept and what a crash midway leaves.

        A sealed file (an encrypted export) is opened with `passphrase` (default
        `REMLITE_PASSPHRASE`; EncryptionError without the right one, before anything is read).

        `progress(step, rows so far)` is called after each chunk: step "check" while the file is
        checked, then "write" (rows written; the total is what "check" counted).

        Returns {"table", "path", "format", "rows", "deleted", "bytes", "sealed", "seconds"}."""
        if type(chunk_size) is not int or not 1 <= chunk_size <= MAX_BATCH:
            raise InvalidInput(f"chunk_size must be an integer from 1 to {MAX_BATCH}, got {shown(chunk_size)}")
        if not isinstance(table, str):
            raise InvalidInput(f"table must be a table name, got {shown(table)}")
        if passphrase is None:
            passphrase = self.core.runtime.settings.passphrase
        from remlite.exchange.importer import run_import

        return run_import(self.core, self.changelog, table, Path(path), format, chunk_size, passphrase, progress)
