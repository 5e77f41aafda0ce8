"""`remlite export` and `remlite import`: tables to Parquet, JSON Lines or CSV files, and back.

Each is `Database.export` / `Database.import_` (see `remlite.exchange`). A rejected import exits with
the ImportRejected code (3) after listing the rejected rows; nothing was written then.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID

from remlite.errors import ImportRejected, InvalidInput

from . import output
from .batch import advance, rows_bar
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, fail, open_reader


def _passphrase() -> str:
    """An encrypted export's passphrase: REMLITE_PASSPHRASE, else asked for (hidden)."""
    from .encryption import current_passphrase

    return current_passphrase("Passphrase of the export")


FormatOption = Annotated[
    str | None,
    typer.Option("--format", "-F", help="parquet, jsonl or csv (default: parquet; import: from the file's extension)."),
]


def export(
    table: Annotated[str | None, typer.Argument(help="Table to export (or --all).", show_default=False)] = None,
    output_path: Annotated[
        Path,
        typer.Option("--output", "-o", help="The file (or, with --all, the directory) to write.", show_default=False),
    ] = Path("-"),
    all_tables: Annotated[
        bool, typer.Option("--all", help="Every table: one file per table and manifest.json in the directory.")
    ] = False,
    fmt: FormatOption = None,
    vectors: Annotated[bool, typer.Option("--vectors", help="Add each embedding field's stored vectors.")] = False,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="Also export soft-deleted records.")
    ] = False,
    encrypt: Annotated[
        bool | None,
        typer.Option(
            "--encrypt/--no-encrypt",
            help="Seal the files with a passphrase ($REMLITE_PASSPHRASE or a prompt); default: when the "
            "database is encrypted.",
            show_default=False,
        ),
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Export a table (or --all) to Parquet, JSON Lines or CSV, streaming (bounded memory)."""
    if all_tables == (table is not None):
        raise InvalidInput("give a TABLE or --all (one of them)")
    if str(output_path) == "-":
        raise InvalidInput("give --output FILE (or a directory with --all)")
    with open_reader(path, tenant) as db:
        sealing = db.encrypted if encrypt is None else encrypt
        passphrase = _passphrase() if sealing else None

        def describe(name: str, _before: int) -> tuple[str, int | None]:
            return f"export {name}", None if include_deleted else db.count(name)

        with _rows_progress(not as_json, describe) as progress:
            report = db.export(
                None if all_tables else table,
                output_path,
                fmt or "parquet",
                vectors=vectors,
                include_deleted=include_deleted,
                progress=progress,
                encrypt=sealing,
                passphrase=passphrase,
            )
    if as_json:
        output.emit_json(report)
        return
    for name, one in report["tables"].items():
        output.say(f"{name}: {one['rows']} rows -> {one['path']} ({one['bytes']:,} bytes, {one['seconds']}s)")
    if all_tables:
        output.say(f"{report['rows']} rows in {len(report['tables'])} tables, {report['seconds']}s")


def import_(
    table: Annotated[str, typer.Argument(help="Table to import into.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="A .parquet, .jsonl or .csv file.", show_default=False)],
    fmt: FormatOption = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Import a file into a table, keeping ids and timestamps. Every row is checked first: if any is
    rejected, they are listed and nothing is written (exit 3)."""
    from remlite.storage.sealed import is_sealed

    passphrase = _passphrase() if is_sealed(file) else None
    from remlite.database import connect

    def describe(step: str, checked: int) -> tuple[str, int | None]:
        return (f"checking {table}", None) if step == "check" else (f"importing {table}", checked)

    with connect(path, tenant, create=False) as db:  # no served verb: a server holding it is DatabaseLocked
        try:
            with _rows_progress(not as_json, describe) as progress:
                report = db.import_(table, file, fmt, passphrase=passphrase, progress=progress)
        except ImportRejected as exc:
            if not as_json:
                for item in exc.details.get("rejected", []):
                    output.say(f"row {item['row']}: {item['error']}", err=True)
                more = exc.details.get("count", 0) - len(exc.details.get("rejected", []))
                if more > 0:
                    output.say(f"... and {more} more", err=True)
            fail(exc, as_json=as_json)
    if as_json:
        output.emit_json(report)
    else:
        deleted = f" ({report['deleted']} soft-deleted)" if report["deleted"] else ""
        output.say(f"{table}: imported {report['rows']} rows{deleted} from {file} in {report['seconds']}s")


class _StepBar:
    """`progress(what, rows so far)` for `Database.export` / `import_`, as a bar of rows.
    `describe(what, rows the step before ended at)` gives each step its description and total
    (None: not known); a new step replaces the bar of the one before. A step's rate counts from
    when the one before ended: its first report comes only after its first batch."""

    def __init__(self, bar: Progress, describe: Callable[[str, int], tuple[str, int | None]]) -> None:
        self.bar, self.describe = bar, describe
        self.what: str | None = None
        self.task: TaskID | None = None
        self.rows = 0
        self.started = self.at = time.perf_counter()

    def __call__(self, what: str, rows: int) -> None:
        task = self.task
        if what != self.what or task is None:
            if task is not None:
                self.bar.remove_task(task)
            description, total = self.describe(what, self.rows)
            self.what, self.started = what, self.at
            task = self.task = self.bar.add_task(description, total=total, rate="-")
        self.rows, self.at = rows, time.perf_counter()
        advance(self.bar, task, rows, self.started)


@contextlib.contextmanager
def _rows_progress(enabled: bool, describe: Callable[[str, int], tuple[str, int | None]]) -> Iterator[_StepBar]:
    """A `_StepBar` on stderr (`batch.rows_bar`: drawn only on a terminal; `enabled`: not with --json)."""
    with rows_bar(enabled) as bar:
        yield _StepBar(bar, describe)
