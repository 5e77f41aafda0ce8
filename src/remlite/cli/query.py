"""`remlite query`: the twin of `Database.sql` (and, with --explain, `Database.explain`)."""

import csv
import sys
from typing import Annotated, Any

import orjson
import typer
from rich import box
from rich.table import Table

from remlite.errors import InvalidInput

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader, parse_json


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def query(
    sql: Annotated[str, typer.Argument(help="The SQL statement; '-' reads it from stdin.", show_default=False)],
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header row (objects as JSON text).")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Print the plan instead of running the query.")] = False,
    params: Annotated[
        str | None,
        typer.Option("--params", help="Values for ? (a JSON list) or :name (a JSON object).", show_default=False),
    ] = None,
    include_deleted: Annotated[bool, typer.Option("--include-deleted", help="Also read soft-deleted rows.")] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Run a SQL query (or LOOKUP / SEARCH / TRAVERSE) and print its rows."""
    if as_csv and as_json:
        raise InvalidInput("give --json or --csv, not both")
    text = sys.stdin.read() if sql == "-" else sql
    values = parse_json(params, "--params") if params is not None else None
    with open_reader(path, tenant) as db:
        if explain:
            lines = db.explain(text, values, include_deleted=include_deleted).splitlines()
        else:
            result = db.sql(text, values, include_deleted=include_deleted)
    if explain:
        if as_json:
            output.emit_jsonl({"plan": line} for line in lines)
        else:
            for line in lines:
                output.say(line)
        return
    if as_json:
        output.emit_jsonl(result.rows)
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([_csv_cell(row[c]) for c in result.columns])
        sys.stdout.flush()
    else:
        table = Table(box=box.SIMPLE_HEAD)
        for name in result.columns:
            table.add_column(name, overflow="ellipsis", no_wrap=True, min_width=min(len(name), 8), max_width=40)
        for row in result.rows:
            table.add_row(*(output.cell(row[c]) for c in result.columns))
        output.print_table(table)
        output.say(f"{len(result)} row(s)", err=True)
