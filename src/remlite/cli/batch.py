"""`remlite insert TABLE --batch`: bulk load JSON Lines with a progress bar.

The contract is "bad input changes nothing": every line is parsed, then every record validated
(`Database.validate`), before the first write. Only then are rows written, one `insert_batch`
call per chunk, so the progress bar can advance between chunks. Through a `remlite serve` (see
`common.open_writer`) all rows go in one `insert_batch` request, which the server validates whole
before writing any.
"""

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from remlite.database import Database
from remlite.errors import InvalidInput, RemliteError, ValidationError

from .common import loads_exact, through_server
from .output import progress_bar

if TYPE_CHECKING:
    from remlite.serve.client import RemoteDatabase

CHUNK_SIZE = 10_000


@dataclass
class BatchResult:
    table: str
    inserted: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.inserted / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "inserted": self.inserted,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }

    def summary(self) -> str:
        return (
            f"inserted {self.inserted} rows into {self.table} in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s)"
        )


def parse_jsonl(lines: Iterable[bytes], origin: str) -> tuple[list[Any], list[int]]:
    """All records and their 1-based line numbers; blank lines are skipped but still counted.

    Parsing everything first is what lets a malformed line 90,001 abort before row 1 is written.
    """
    records: list[Any] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(loads_exact(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{origin} line {number}: not valid JSON: {exc}", line=number) from None
        numbers.append(number)
    return records, numbers


def read_jsonl(file: Path | None) -> tuple[list[Any], list[int]]:
    """Records from `file`, or from stdin when no file (or `-`) is given."""
    if file is None or str(file) == "-":
        if sys.stdin.isatty():
            print("reading JSON Lines from stdin (end with Ctrl-D)", file=sys.stderr)
        stream = getattr(sys.stdin, "buffer", None)
        lines: Iterable[bytes] = stream if stream is not None else (s.encode() for s in sys.stdin)
        return parse_jsonl(lines, "<stdin>")
    try:
        with file.open("rb") as handle:
            return parse_jsonl(handle, str(file))
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


def rows_bar(enabled: bool = True) -> Progress:
    """Rows done / total, rows per second and elapsed time (`output.progress_bar`); each task has
    a `rate` field, which `advance` keeps."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return progress_bar(*columns, TextColumn("{task.fields[rate]} rows/s"), TimeElapsedColumn(), enabled=enabled)


def advance(progress: Progress, task: TaskID, done: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    progress.update(task, completed=done, rate=f"{done / elapsed:,.0f}" if elapsed > 0 else "-")


def validate_all(db: Database, table: str, records: list[Any], numbers: list[int]) -> None:
    """Raise the first schema violation, naming its input line, before anything is written."""
    for record, number in zip(records, numbers, strict=True):
        try:
            db.validate(table, record)
        except ValidationError as exc:
            raise ValidationError(f"line {number}: {exc.message}", field=exc.field, table=exc.table) from None


def insert_chunks(
    db: "Database | RemoteDatabase", table: str, records: list[Any], numbers: list[int], chunk_size: int = CHUNK_SIZE
) -> BatchResult:
    """Validate everything, then write `chunk_size` rows per atomic `insert_batch` call."""
    db.schema(table)  # an unknown table fails here, even for empty input
    if through_server(db):
        return _insert_through_server(db, table, records, numbers)
    started = time.perf_counter()
    with rows_bar() as progress:
        task = progress.add_task(f"validating {table}", total=len(records), rate="-")
        validate_all(db, table, records, numbers)
        advance(progress, task, len(records), started)
        written_from = time.perf_counter()
        progress.update(task, description=f"inserting {table}", completed=0, rate="-")
        done = 0
        for start in range(0, len(records), chunk_size):
            chunk = records[start : start + chunk_size]
            db.insert_batch(table, chunk, chunk_size=chunk_size)
            done += len(chunk)
            advance(progress, task, done, written_from)
    return BatchResult(table, len(records), time.perf_counter() - started)


def _insert_through_server(db: "RemoteDatabase", table: str, records: list[Any], numbers: list[int]) -> BatchResult:
    """All rows in one request: the server has no validate-only call, and its validating the whole
    list before the first write is what keeps "bad input changes nothing". Its error names the
    record's position in the list; the user knows the input line, so that is what is reported."""
    started = time.perf_counter()
    with rows_bar() as progress:
        task = progress.add_task(f"inserting {table} through the server", total=len(records), rate="-")
        if records:
            try:
                db.insert_batch(table, records)
            except RemliteError as exc:
                at = exc.details.get("record", 0 if isinstance(exc, ValidationError) and len(records) == 1 else None)
                if not isinstance(at, int) or not 0 <= at < len(numbers):
                    raise
                found = exc.message.removeprefix(f"record {at}: ")
                field, named = exc.details.get("field"), exc.details.get("table")
                raise ValidationError(f"line {numbers[at]}: {found}", field=field, table=named) from None
        advance(progress, task, len(records), started)
    return BatchResult(table, len(records), time.perf_counter() - started)
