"""`remlite ingest PATH...`: the twin of `Database.ingest`, with a progress bar and a summary table."""

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from remlite.errors import InvalidInput
from remlite.ingest.report import IngestReport
from remlite.ingest.report import Progress as FileDone

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_writer


def _bar() -> Progress:
    """The whole job's bytes done / total (its ETA), files done, files/s and chunks/s, on stderr,
    only on a terminal, erased when done."""
    return output.progress_bar(
        TextColumn("ingest"),
        BarColumn(),
        TextColumn("{task.fields[files]} files"),
        TextColumn("{task.fields[files_rate]} files/s  {task.fields[chunks]} chunks, {task.fields[chunks_rate]}/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


def _summary(report: IngestReport) -> Table:
    """One row per count, so the table fits any terminal width."""
    data = report.to_dict()
    view = Table(title=f"ingest into {report.table}", title_justify="left", show_header=False)
    view.add_column("what")
    view.add_column("count", justify="right")
    rows = [
        ("files", data["files"]),
        ("files changed", data["changed_files"]),
        ("chunks new", data["new"]),
        ("chunks updated", data["updated"]),
        ("chunks moved", data["moved"]),
        ("chunks unchanged", data["unchanged"]),
        ("chunks removed", data["removed"]),
        ("files pruned", data["pruned"]),
        ("skipped", len(report.skipped)),
        ("seconds", data["seconds"]),
        ("files/s", data["files_per_second"] or "-"),
        ("chunks/s", data["chunks_per_second"] or "-"),
    ]
    for name, value in rows:
        view.add_row(name, str(value))
    return view


def _meta(items: list[str]) -> dict[str, Any]:
    """`--meta KEY=VALUE` options as a dict (VALUE read as JSON when it is JSON, else as text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--meta takes KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key.strip()] = value
    return out


def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and directories (walked recursively).", show_default=False)
    ],
    table: Annotated[str, typer.Option("--table", "-t", help="Table to write chunks (or JSONL records) to.")] = (
        "resources"
    ),
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            min=1,
            help="Largest chunk, in the embedding model's tokens (default and maximum: its window, 256 for the "
            "local model; 4 characters a token for a provider without a tokenizer).",
            show_default=False,
        ),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(
            "--overlap",
            min=0,
            help="Tokens of whole sentences repeated across a cut inside a paragraph (default: a tenth of the size).",
            show_default=False,
        ),
    ] = None,
    glob: Annotated[
        list[str] | None,
        typer.Option(
            "--glob", "-g", help="In directories, only files matching this pattern (repeatable).", show_default=False
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Also remove what was ingested from files under these directories that no longer exist."
        ),
    ] = False,
    meta: Annotated[
        list[str] | None,
        typer.Option(
            "--meta", "-m", help="KEY=VALUE set on every chunk (repeatable; VALUE as JSON if it parses).",
            show_default=False,
        ),
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Chunk, embed and store text, Markdown, HTML and PDF files (JSON Lines: one record per line).

    Re-ingesting writes only what changed: unchanged files write nothing. Files that cannot be
    read are listed and skipped.
    """
    metadata = _meta(meta or [])
    with open_writer(path, tenant, local_only={"--prune": prune, "--meta": bool(metadata)}) as db, _bar() as bar:
        task = bar.add_task("ingest", total=None, files="-", files_rate="-", chunks=0, chunks_rate="-")
        started = time.perf_counter()

        def advance(event: FileDone) -> None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.update(
                task,
                total=event.bytes_total or event.files_total,  # bytes: an ETA over the whole job, not per file
                completed=event.bytes_done if event.bytes_total else event.files_done,
                files=f"{event.files_done}/{event.files_total}",
                files_rate=f"{event.files_done / elapsed:,.1f}",
                chunks=event.chunks_done,
                chunks_rate=f"{event.chunks_done / elapsed:,.0f}",
            )

        local = {"prune": True} if prune else {}  # the server's client has no prune nor metadata (refused above)
        if metadata:
            local["metadata"] = metadata
        report = db.ingest(
            paths, table, chunk_size=chunk_size, overlap=overlap, glob=glob or None, progress=advance, **local
        )
    if as_json:
        output.emit_json(report.to_dict())
        return
    output.print_table(_summary(report))
    for skipped, reason in report.skipped:
        output.say(f"skipped {skipped}: {reason}")
    output.say(report.summary())
