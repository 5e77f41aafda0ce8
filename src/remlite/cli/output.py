"""Formatting results: JSON / JSON Lines for machines, Rich tables and pretty JSON for people.

Plain lines go through `typer.echo` rather than Rich so they are never wrapped or re-styled: a
summary or an id must stay one grep-able line. User data in tables is wrapped in `Text` so a value
such as "[bold]" is shown literally, not read as Rich markup.
"""

from collections.abc import Iterable
from typing import Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.table import Table
from rich.text import Text

SYSTEM_FIELDS = ("id", "created_at", "modified_at", "deleted_at")


def _dumps(doc: Any) -> str:
    return orjson.dumps(doc, default=str).decode()


def emit_json(doc: Any) -> None:
    """One compact JSON document on stdout (the `--json` form of a single result)."""
    typer.echo(_dumps(doc))


def emit_jsonl(docs: Iterable[Any]) -> None:
    """One JSON document per line (the `--json` form of a list), streamable with `jq -c`."""
    for doc in docs:
        typer.echo(_dumps(doc))


def say(text: str, *, err: bool = False) -> None:
    """A plain, unwrapped line for people (stderr for hints that must not pollute piped stdout)."""
    typer.echo(text, err=err)


def console(*, stderr: bool = False) -> Console:
    """A fresh console bound to the current sys.stdout/stderr (test runners swap them per call)."""
    return Console(stderr=stderr)


def progress_bar(*columns: str | ProgressColumn, enabled: bool = True) -> Progress:
    """A progress bar on stderr (stdout stays the command's output), drawn only on a terminal and
    erased when done: in a log or a pipe a frozen bar is noise, and each command's summary line
    carries the same numbers. On an error the bar is gone before the `error:` line."""
    err = console(stderr=True)
    return Progress(*columns, console=err, transient=True, disable=not (enabled and err.is_terminal))


def show_json(doc: Any) -> None:
    """A single record or schema, pretty-printed and highlighted on a terminal."""
    console().print_json(data=doc, default=str)


def cell(value: Any) -> Text:
    """A table cell: strings as they are, other values as compact JSON, null as empty."""
    if value is None:
        return Text("")
    return Text(value if isinstance(value, str) else _dumps(value))


def user_fields(records: list[dict[str, Any]]) -> list[str]:
    """The union of non-system fields, in the order they first appear."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            if key not in SYSTEM_FIELDS and not key.startswith("_"):
                seen.setdefault(key, None)
    return list(seen)


def records_table(records: list[dict[str, Any]], *, with_table: bool = False, with_score: bool = False) -> Table:
    """Rows as a table: id, the user fields, created_at (plus the owning table for `lookup`, and the
    score of a fuzzy one)."""
    table = Table(box=box.SIMPLE_HEAD)
    if with_score:
        table.add_column("score", no_wrap=True, justify="right", min_width=5)
    if with_table:
        table.add_column("table", no_wrap=True, min_width=8)
    table.add_column("id", no_wrap=True, min_width=36)
    fields = user_fields(records)
    for name in fields:
        # A minimum width keeps a narrow terminal from squeezing a field out of sight entirely.
        table.add_column(name, overflow="ellipsis", no_wrap=True, min_width=min(len(name), 8), max_width=40)
    table.add_column("created_at", overflow="ellipsis", no_wrap=True, min_width=10)
    for record in records:
        row = [cell(record.get("id")), *(cell(record.get(f)) for f in fields), cell(record.get("created_at"))]
        if with_table:
            row.insert(0, cell(record.get("_table")))
        if with_score:
            row.insert(0, f"{record.get('_score', 0):.2f}")
        table.add_row(*row)
    return table


def joined(value: Any) -> str:
    if value is None:
        return ""
    return ", ".join(value) if isinstance(value, list) else str(value)


def schemas_table(schemas: list[dict[str, Any]]) -> Table:
    """Registered tables: name, natural key, indexed fields, live row count, schema version."""
    table = Table()
    for name, justify in (
        ("name", "left"),
        ("key", "left"),
        ("indexed", "left"),
        ("count", "right"),
        ("version", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for schema in schemas:
        table.add_row(
            Text(schema["name"]),
            Text(joined(schema.get("key_field"))),
            Text(joined(schema.get("indexed_fields"))),
            str(schema.get("count", 0)),
            str(schema.get("version", "")),
        )
    return table


def wal_summary(entry: dict[str, Any]) -> str:
    """What a change-log entry did, in a few words (the full entry is in `--json`)."""
    op = entry.get("op")
    if op == "put":
        return f"{len(entry.get('rows', []))} row(s)"
    if op == "delete":
        ids = entry.get("ids", [])
        return f"{'hard' if entry.get('hard') else 'soft'} {', '.join(ids)}"
    if op == "schema":
        return f"version {entry.get('version')}"
    if op == "drop_schema":
        return f"{entry.get('rows', 0)} row(s) removed"
    if op in ("edge_put", "edge_delete"):
        edges = entry.get("edges") or [entry]
        verb = "added" if op == "edge_put" else "removed"
        if len(edges) == 1:
            edge = edges[0]
            return f"{verb} {edge.get('src')} -[{edge.get('type')}]-> {edge.get('dst')}"
        return f"{len(edges)} edge(s) {verb}"
    if op == "reembed":
        return f"{entry.get('field')} -> {entry.get('provider')}/{entry.get('model')} v{entry.get('version')}"
    return ""


def wal_table(entries: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("seq", justify="right")
    table.add_column("ts", no_wrap=True)
    table.add_column("op")
    table.add_column("table")
    table.add_column("detail", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.get("seq")),
            cell(entry.get("ts")),
            cell(entry.get("op")),
            cell(entry.get("table")),
            Text(wal_summary(entry)),
        )
    return table


def print_table(table: Table) -> None:
    console().print(table)
