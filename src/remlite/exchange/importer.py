"""Import: every row of a file checked first, then written keeping its id and timestamps.

Why two passes over the file: "nothing partial" must hold for a file of any size, and holding every
row in memory until all are checked would not be bounded. So the first pass reads the file chunk by
chunk and checks each row as a write would (the table's JSON Schema through the same compiled
validator `insert_batch` uses, the natural key, the id, the timestamps, the vectors) and only counts
and remembers (up to 100) the rejected ones; if there is any, `ImportRejected` is raised and nothing
has been written. The second pass reads the file again and writes it chunk by chunk.

Why through `apply()`: the public insert path keeps a row's `id` and `created_at` but stamps
`modified_at` with the time of the write and cannot write a soft-deleted row. The change-log replay
is the one write path that keeps them all (it is how a replica gets the source's rows), and it runs
the ordinary write path: indexes, lookup keys, text postings, vectors, edges' hooks, counters, and
one change-log entry per chunk. So import builds the `RowsPut` entries a source would have logged:
rows that share a `modified_at` (a batch insert's rows do) go into one entry stamped with it, and a
soft-deleted row is then deleted by a `RowsDeleted` entry stamped with its `deleted_at` (a delete
sets `modified_at` to the same instant, so the row comes out as it was). Rows are validated here
first, as `insert_batch` would; the replay itself does not validate.

What is kept: `id` (for a table with a natural key the id derives from tenant, table and key, so it
is recomputed: the same in the same tenant), `created_at`, `modified_at`, `deleted_at`. A row whose
id already exists is replaced (an upsert) and keeps its stored `created_at`. Vectors in a Parquet file
are used when the file names their vector space and it is the field's (or the field has none yet);
otherwise the text is embedded again, as an insert would.

A crash midway leaves the chunks written before it (each chunk is atomic) and nothing of the rest.
Running the same import again completes it: ids and timestamps are kept, so a row already written
is replaced by the same version. (Rows with no id — a `system=False` export of a table without a
natural key — get new ids, and would be written twice.)
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from remlite import ids as idmod
from remlite.errors import ImportRejected, InvalidId, InvalidInput, ValidationError
from remlite.exchange.columns import TablePlan
from remlite.exchange.files import FileRows, format_of, problem_of
from remlite.exchange.limits import Progress
from remlite.storage.changelog import RowsDeleted, RowsPut
from remlite.storage.clock import now_iso

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.records import TableLayout
    from remlite.replay import ChangeLog

MAX_REPORTED = 100


class Importer:
    """One import of one file into one table."""

    def __init__(
        self,
        core: TenantCore,
        changelog: ChangeLog,
        table: str,
        path: Path,
        fmt: str | None,
        chunk: int,
        passphrase: str | None = None,
    ):
        self.core, self.changelog, self.table = core, changelog, table
        self.layout: TableLayout = core.layout(table)
        self.fmt = format_of(path, fmt)
        self.path = path
        self.validator = core.registry.validator(table)
        schema = self.layout.table
        self.keyed = bool(self.layout.key_parts)
        self.rows = FileRows(path, self.fmt, TablePlan.of(schema, flat=self.fmt == "csv"), chunk, passphrase)
        self.spaces = self._usable_spaces(self.rows.metadata.get("vectors") or {})

    def _usable_spaces(self, exported: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
        """Per embedding field whose file vectors may be used: the config to record with them
        (None: the field has one already). A space the field does not have is not mixed in."""
        out: dict[str, dict[str, Any] | None] = {}
        if not exported or not self.layout.table.embedding_fields:
            return out
        for name, field in self.core.vectors(self.table).fields.items():
            theirs = exported.get(name)
            if not isinstance(theirs, dict):
                continue
            ours = field.config
            if ours is None:
                out[name] = {**theirs, "metric": field.metric}
            elif (ours.get("provider"), ours.get("model"), ours.get("dimension")) == (
                theirs.get("provider"),
                theirs.get("model"),
                theirs.get("dimension"),
            ):
                out[name] = None
        return out

    # ------------------------------------------------------------------ pass 1: check everything
    def check(self, progress: Progress | None = None) -> int:
        """Check every row; raise ImportRejected (nothing written) if any is refused. Returns rows."""
        rejected: list[dict[str, Any]] = []
        count = total = 0
        for records, vectors, numbers in self.rows:
            total += len(records)
            if progress is not None:
                progress("check", total)
            for position, error in self._problems(records, vectors):
                count += 1
                if len(rejected) < MAX_REPORTED:
                    rejected.append({"row": numbers[position], "error": error})
        if count:
            first = rejected[0]
            exc = ImportRejected(
                f"{count} of {total} rows of {self.path.name} rejected, nothing was written "
                f"(row {first['row']}: {first['error']})",
                table=self.table,
            )
            exc.rejected, exc.count = rejected, count  # type: ignore[attr-defined]
            exc.details.update(rejected=rejected, count=count, rows=total)
            raise exc
        return total

    def _problems(self, records: list[Any], vectors: dict[str, list[Any]]) -> list[tuple[int, str]]:
        problems: dict[int, str] = {}
        clean: list[dict[str, Any]] = []
        positions: list[int] = []
        for position, record in enumerate(records):
            why = problem_of(record) if isinstance(record, dict) else "a record must be a JSON object"
            if why is None:
                try:
                    body, _stamps = self._split(record)
                except (InvalidInput, ValidationError) as exc:
                    why = exc.message
            if why is not None:
                problems[position] = why
            else:
                clean.append(body)
                positions.append(position)
        try:
            bodies = self.validator.validate_many(clean)
        except ValidationError:  # name every invalid row, not only the first
            bodies = []
            for position, body in zip(positions, clean, strict=True):
                try:
                    bodies.append(self.validator.validate(body))
                except ValidationError as exc:
                    problems[position] = exc.message
                    bodies.append({})
        owned: list[tuple[int, bytes]] = []
        for position, body in zip(positions, bodies, strict=True):
            if position in problems:
                continue
            try:
                rid, given = self._rid(body)
            except (InvalidInput, ValidationError) as exc:
                problems[position] = exc.message
                continue
            if given:
                owned.append((position, rid))
        if owned:  # an id another table holds would be refused by a write: refuse it now
            found = self.core.store.cf["ids"][[rid for _, rid in owned]]
            for (position, rid), owner in zip(owned, found, strict=True):
                if owner is not None and owner[:4] != self.layout.tid:
                    problems[position] = f"id {idmod.to_str(rid)} belongs to table {self.core.table_name(owner)}"
        for name, column in vectors.items():
            if name not in self.spaces:
                continue
            for position, vector in enumerate(column):
                if vector is not None and position not in problems:
                    why = _vector_problem(vector)
                    if why is not None:
                        problems[position] = f"_vector_{name}: {why}"
        return sorted(problems.items())

    def _split(self, record: dict[str, Any]) -> tuple[dict[str, Any], tuple[str | None, str | None]]:
        """The record without `modified_at`/`deleted_at` (and without `id` for a keyed table: it is
        derived), and those two timestamps, checked."""
        body = dict(record)
        modified = _timestamp(body.pop("modified_at", None), "modified_at")
        deleted = _timestamp(body.pop("deleted_at", None), "deleted_at")
        if self.keyed:
            body.pop("id", None)
        return body, (modified, deleted)

    def _rid(self, body: dict[str, Any]) -> tuple[bytes, bool]:
        """(id, whether it was given) of a validated body."""
        if self.keyed:
            key = idmod.key_text(self.layout.key_values(body))
            return idmod.key_id_bytes(self.core.tenant, self.table, key), False
        given = body.get("id")
        if given is None:
            return idmod.new_id_bytes(), False
        try:
            return idmod.to_bytes(given), True
        except InvalidId as exc:
            raise ValidationError(exc.message, field="id", table=self.table) from None

    # ------------------------------------------------------------------ pass 2: write
    def write(self, progress: Progress | None = None) -> dict[str, int]:
        written = deleted = 0
        for records, vectors, _numbers in self.rows:
            w, d = self._write_chunk(records, vectors)
            written, deleted = written + w, deleted + d
            if progress is not None:
                progress("write", written)
        return {"rows": written, "deleted": deleted}

    def _write_chunk(self, records: list[dict[str, Any]], vectors: dict[str, list[Any]]) -> tuple[int, int]:
        stamps, clean = [], []
        for record in records:
            body, stamp = self._split(record)
            clean.append(body)
            stamps.append(stamp)
        bodies = self.validator.validate_many(clean)
        rids = []
        for body in bodies:
            rids.append(self._rid(body)[0])
            body.pop("id", None)
        field_vectors: dict[str, list[Any]] = {}
        configs: dict[str, dict[str, Any]] = {}
        if self.layout.table.embedding_fields:
            given = {
                name: [None if v is None else np.asarray(v, dtype=np.float32) for v in column]
                for name, column in vectors.items()
                if name in self.spaces
            }
            field_vectors, configs = self.core.vectors(self.table).compute(bodies, given)
            for name, config in self.spaces.items():
                if config is not None and name in configs:
                    configs[name] = config  # the exported space, not "precomputed"
        now = now_iso()
        groups: dict[str, list[int]] = {}
        for position, (modified, _deleted) in enumerate(stamps):
            groups.setdefault(modified or now, []).append(position)
        for ts, positions in groups.items():
            rows = []
            for p in positions:
                row = {"id": idmod.to_str(rids[p]), **bodies[p]}
                row.setdefault("created_at", now)
                row["modified_at"], row["deleted_at"] = ts, None
                rows.append(row)
            logged = {
                name: [None if column[p] is None else column[p].astype(np.float32).tobytes() for p in positions]
                for name, column in field_vectors.items()
            }
            with self.core.write_lock:
                entry = RowsPut(self.core.wal.seq + 1, ts, self.table, orjson.dumps(rows), logged, configs)
                self.changelog.apply([entry])
            configs = {}
        deleted = 0
        for position, (_modified, when) in enumerate(stamps):
            if when is not None:
                with self.core.write_lock:
                    rid = idmod.to_str(rids[position])
                    self.changelog.apply([RowsDeleted(self.core.wal.seq + 1, when, self.table, [rid], False)])
                deleted += 1
        return len(records), deleted


def run_import(
    core: TenantCore,
    changelog: ChangeLog,
    table: str,
    path: Path,
    fmt: str | None,
    chunk: int,
    passphrase: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    importer = Importer(core, changelog, table, path, fmt, chunk, passphrase)
    rows = importer.check(progress)
    counts = importer.write(progress)
    return {
        "table": table,
        "path": str(path),
        "format": importer.fmt,
        "rows": rows,
        "deleted": counts["deleted"],
        "bytes": path.stat().st_size,
        "sealed": importer.rows.sealed is not None,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _timestamp(value: Any, name: str) -> str | None:
    """A system timestamp from a file: None, or ISO 8601 text (kept as written)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValidationError(f"'{name}': {value!r} is not an ISO 8601 timestamp", field=name)


def _vector_problem(vector: Any) -> str | None:
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        return "not a list of numbers"
    if array.ndim != 1 or not len(array) or not np.all(np.isfinite(array)):
        return "not a non-empty list of finite numbers"
    return None
