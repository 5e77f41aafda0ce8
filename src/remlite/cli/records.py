"""Record commands: `insert`, `get`, `lookup`, `update`, `delete`, `list`, `count`.

Each function opens the database, calls the one `Database` method it is named after, prints the
result and closes the database. Errors are not caught here: `common.RemGroup` translates them.
"""

from pathlib import Path
from typing import Annotated

import typer

from remlite.errors import InvalidInput
from remlite.fuzzy import DEFAULT_LIMIT, MIN_SCORE

from . import output
from .batch import CHUNK_SIZE, insert_chunks, read_jsonl
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader, open_writer, parse_json

TableArg = Annotated[str, typer.Argument(help="Table (schema) name.", show_default=False)]
IdArg = Annotated[str, typer.Argument(help="Record id (a UUID).", show_default=False)]


def insert(
    table: TableArg,
    record: Annotated[str | None, typer.Argument(help="The record as a JSON object.", show_default=False)] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Read JSON Lines (one record per line) from stdin.")] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Read the JSON Lines from this file instead of stdin (implies --batch).",
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows per atomic write in --batch mode.")
    ] = CHUNK_SIZE,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Insert a record and print its id, or bulk-load JSON Lines with --batch.

    With a natural key an insert is an upsert. With --batch nothing is written unless all lines parse and validate.
    """
    if batch or file is not None:
        if record is not None:
            raise InvalidInput("give either a JSON record or --batch/--file, not both")
        records, numbers = read_jsonl(file)
        with open_writer(path, tenant, local_only={"--chunk-size": chunk_size != CHUNK_SIZE}) as db:
            result = insert_chunks(db, table, records, numbers, chunk_size)
        if as_json:
            output.emit_json(result.to_dict())
        else:
            output.say(result.summary())
        return
    if record is None:
        raise InvalidInput("give the record as a JSON argument, or use --batch to read JSON Lines from stdin")
    value = parse_json(record, "the record")
    with open_writer(path, tenant) as db:
        record_id = db.insert(table, value)
    if as_json:
        output.emit_json({"id": record_id, "table": table})
    else:
        output.say(record_id)


def get(
    record_id: IdArg,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="Also return a soft-deleted record.")
    ] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Print the record with this id (exit 5 when there is none)."""
    with open_reader(path, tenant) as db:
        record = db.get(record_id, include_deleted=include_deleted)
    if as_json:
        output.emit_json(record)
    else:
        output.show_json(record)


def lookup(
    key: Annotated[str, typer.Argument(help="A natural key or a `name` value.", show_default=False)],
    fuzzy: Annotated[
        bool,
        typer.Option("--fuzzy", help="Also records whose key or name is like KEY (typos, case, punctuation, a word)."),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="With --fuzzy: at most this many records.")] = DEFAULT_LIMIT,
    min_score: Annotated[
        float, typer.Option("--min-score", help="With --fuzzy: leave out records scoring below this (0 to 1).")
    ] = MIN_SCORE,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Find records by natural key (or name) across all tables; --fuzzy ranks near matches by score."""
    with open_reader(path, tenant) as db:
        records = db.lookup(key, fuzzy=True, limit=limit, min_score=min_score) if fuzzy else db.lookup(key)
    if as_json:
        output.emit_jsonl(records)
    elif records:
        output.print_table(output.records_table(records, with_table=True, with_score=fuzzy))
    else:
        output.say(f"no records {'like' if fuzzy else 'with'} key {key!r}", err=True)


def update(
    record_id: IdArg,
    changes: Annotated[str, typer.Argument(help="A JSON object of top-level fields to change.", show_default=False)],
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Merge fields into a record, re-validate it and print the result."""
    value = parse_json(changes, "the changes")
    with open_writer(path, tenant, create=False) as db:
        record = db.update(record_id, value)
    if as_json:
        output.emit_json(record)
    else:
        output.show_json(record)


def delete(
    record_id: IdArg,
    hard: Annotated[
        bool, typer.Option("--hard", help="Remove the record entirely instead of marking it deleted.")
    ] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Delete a record: soft by default (sets deleted_at, hides it), or --hard."""
    with open_writer(path, tenant, create=False) as db:
        db.delete(record_id, hard=hard)
    if as_json:
        output.emit_json({"id": record_id, "deleted": True, "hard": hard})
    else:
        output.say(f"deleted {record_id}{' permanently' if hard else ''}")


def list_(
    table: TableArg,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows per page.")] = 20,
    after: Annotated[
        str | None,
        typer.Option("--after", help="Start after this id (the last id of the previous page).", show_default=False),
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """List a table's live records in id order, one page at a time."""
    with open_reader(path, tenant) as db:
        records = db.list(table, limit=limit, after=after)
    if as_json:
        output.emit_jsonl(records)
        return
    output.print_table(output.records_table(records))
    if records and len(records) == limit:
        output.say(f"next page: remlite list {table} --limit {limit} --after {records[-1]['id']}", err=True)


def count(
    table: TableArg,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Print the number of live records in a table."""
    with open_reader(path, tenant) as db:
        n = db.count(table)
    if as_json:
        output.emit_json({"table": table, "count": n})
    else:
        output.say(str(n))
