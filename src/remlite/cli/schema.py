"""`remlite schema ...`: register, inspect and drop tables (twins of the `Database` schema methods)."""

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from remlite.database import connect
from remlite.errors import SchemaError
from remlite.schema.loader import load_source, normalize, parse_document

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader, open_writer, through_server

NameArg = Annotated[str, typer.Argument(help="Table (schema) name.", show_default=False)]
_MODEL_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # fullmatch: `$` also matches before a final newline

schema_app = typer.Typer(help="Register, inspect and drop table schemas.", no_args_is_help=True)


def _source(source: str) -> Any:
    """What `register_schema` should receive for the SOURCE argument.

    `-` is a JSON or YAML document on stdin. For `module:Model` the current directory is put on
    sys.path, as `python -m` would: a console script's sys.path starts at its bin/ directory, so
    without this a model defined next to the user's files could not be imported.
    """
    if source == "-":
        try:
            text = sys.stdin.buffer.read().decode()
        except UnicodeDecodeError as exc:
            raise SchemaError(f"<stdin> is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        return parse_document(text, "<stdin>")
    if _MODEL_SPEC.fullmatch(source) and os.getcwd() not in sys.path and not _exists(source):
        sys.path.insert(0, os.getcwd())
    return source


def _named_document(source: Any, name: str | None) -> dict[str, Any]:
    """`source` as the document a server registers: a file or `module:Model` is read here, since
    the server sees neither this machine's files nor its modules, and the table name is settled
    here as the library settles it locally (--name, the schema's name, its title, the model's
    class name), since the server reads the name from the document alone."""
    document, _ = load_source(source)
    table, _, _ = normalize(source, name)
    extra = document.get("json_schema_extra")
    if isinstance(extra, dict) and "name" in extra:  # a nested name would win over the top-level one
        document["json_schema_extra"] = {**extra, "name": table}
    return {**document, "name": table}


def _exists(source: str) -> bool:
    try:
        return Path(source).exists()
    except OSError:  # a name too long: register_schema says so
        return False


@schema_app.command("add")
def add(
    source: Annotated[
        str,
        typer.Argument(
            help="A .json/.yaml/.yml schema file, '-' for JSON or YAML on stdin, or 'module:Model' (a Pydantic model).",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Table name (default: the schema's name or title).", show_default=False)
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Register a table, or upgrade it compatibly (re-adding an unchanged schema is a no-op)."""
    document = _source(source)
    with open_writer(path, tenant) as db:
        if through_server(db):
            described = db.register_schema(_named_document(document, name))
        else:
            described = db.register_schema(document, name)
    if as_json:
        output.emit_json(described)
        return
    key = output.joined(described.get("key_field")) or "-"
    indexed = output.joined(described.get("indexed_fields")) or "-"
    output.say(f"registered {described['name']} (version {described['version']}, key {key}, indexed {indexed})")


@schema_app.command("list")
def list_(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """List every registered table with its key, indexed fields, row count and version."""
    with open_reader(path, tenant) as db:
        schemas = db.schemas()
    if as_json:
        output.emit_jsonl(schemas)
    else:
        output.print_table(output.schemas_table(schemas))


@schema_app.command("show")
def show(
    name: NameArg, path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False
) -> None:
    """Print one table's full definition: JSON Schema, options and row count."""
    with open_reader(path, tenant) as db:
        described = db.schema(name)
    if as_json:
        output.emit_json(described)
    else:
        output.show_json(described)


@schema_app.command("drop")
def drop(
    name: NameArg,
    force: Annotated[bool, typer.Option("--force", help="Allow dropping a built-in template table.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Drop a table with all its rows, index entries and lookup keys (asks first unless --yes)."""
    if not yes:
        # Ask with the database closed: a pending prompt must not hold the writer lock.
        with open_writer(path, tenant, create=False) as db:
            info = db.schema(name)
        if force or not info.get("template"):
            typer.confirm(f"drop table {name} and its {info['count']} live row(s)?", abort=True, err=True)
    with open_writer(path, tenant, create=False) as db:
        removed = db.drop_schema(name, force=force)
    if as_json:
        output.emit_json({"table": name, "dropped": True, "rows_removed": removed})
    else:
        output.say(f"dropped {name} ({removed} row(s) removed)")


@schema_app.command("templates")
def templates(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """List the built-in template tables every new database starts with."""
    with connect(path, tenant) as db:
        names = db.templates()
    if as_json:
        output.emit_jsonl(names)
    else:
        for template in names:
            output.say(template)
