"""What every `remlite` command shares: the common options, JSON argument parsing, and the one place
where a library error becomes an error line and an exit code.

The options are Annotated types declared on every command (not only on the root callback) so that
`remlite list notes --json --path db` works with the options in any position, as users type them.
"""

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeGuard

import orjson
import typer
from typer.core import TyperGroup

from remlite.errors import InvalidInput, RemliteError
from remlite.storage.engine import is_rocksdb_error, storage_error

if TYPE_CHECKING:
    from remlite.serve.client import RemoteDatabase

_JSON_META_KEY = "remlite.cli.json"


def _remember_json(ctx: typer.Context, value: bool) -> bool:
    """Store `--json` in `ctx.meta`, which click shares between a group and its subcommands, so the
    error handler in `RemGroup.invoke` knows the output mode after the command's context is gone."""
    if value:
        ctx.meta[_JSON_META_KEY] = True
    return value


PathOption = Annotated[
    Path | None,
    typer.Option(
        "--path",
        envvar="REMLITE_PATH",
        show_default=False,
        help="Root directory of the databases (one subdirectory per tenant). "
        "Default: $REMLITE_PATH, else ~/.local/share/remlite.",
    ),
]
TenantOption = Annotated[
    str,
    typer.Option("--tenant", envvar="REMLITE_TENANT", help="Tenant (one database per tenant)."),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=_remember_json,
        help="Machine output: one JSON document, or JSON Lines for lists; errors as JSON on stdout too.",
    ),
]
DEFAULT_TENANT = "default"


def parse_json(text: str, what: str) -> Any:
    """Parse a JSON command-line argument; malformed JSON is the user's input error (exit 2)."""
    try:
        return loads_exact(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGIT_BYTES = re.compile(rb"[0-9]{19}")


def loads_exact(data: str | bytes) -> Any:
    """orjson.loads, but integers beyond 64 bits stay exact (orjson reads them as floats, which
    would store 2**70 as 1.1805916207174113e+21; the library refuses the exact integer instead)."""
    value = orjson.loads(data)
    if (_LONG_DIGIT_BYTES if isinstance(data, bytes) else _LONG_DIGITS).search(data):  # type: ignore[arg-type]
        return json.loads(data)  # valid JSON (orjson said so), read with Python's exact integers
    return value


def one_line(text: str) -> str:
    """Collapse a message to one line so `error: ...` is always exactly one line of stderr."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def fail(exc: RemliteError, *, as_json: bool) -> NoReturn:
    """Report a library error the way every command does, then exit with the error's own code."""
    if as_json:
        sys.stdout.write(orjson.dumps(exc.to_dict(), default=str).decode() + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"error: {one_line(exc.message)}\n")
    sys.stderr.flush()
    raise SystemExit(exc.exit_code)


class RemGroup(TyperGroup):
    """The root command group. Its `invoke` runs every (sub)command, so it is the single place
    where `RemliteError` is translated: no command catches library errors itself, and a new command
    gets the same translation without remembering to opt in."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except RemliteError as exc:
            fail(exc, as_json=bool(ctx.meta.get(_JSON_META_KEY)))
        except Exception as exc:  # a read the library does not wrap hit a corrupt block: one line, no traceback
            if not is_rocksdb_error(exc):
                raise
            fail(storage_error(exc, None, "reading"), as_json=bool(ctx.meta.get(_JSON_META_KEY)))  # type: ignore[arg-type]


def open_reader(path: Path | None, tenant: str) -> Any:
    """The tenant for a read command: opened normally, or read-only when another process holds it
    for writing (a note on stderr says so), so reads never fail on the lock."""
    from remlite.database import connect
    from remlite.errors import DatabaseLocked

    try:
        return connect(path, tenant, create=False)
    except DatabaseLocked:
        typer.echo("note: another process holds the database; reading it read-only", err=True)
        return connect(path, tenant, read_only=True)


def open_writer(path: Path | None, tenant: str, create: bool = True, local_only: dict[str, bool] | None = None) -> Any:
    """The tenant for a command that writes: opened normally, or, when `remlite serve` holds it,
    the server's client with `REMLITE_API_KEY` (checked to be a key of this tenant).

    `local_only` maps each option the server cannot honour to whether the user gave it: a given
    one is refused when the write would go through the server, since dropping it would do
    something other than what was asked. Locally it is never looked at.
    """
    from remlite.database import connect
    from remlite.errors import DatabaseLocked
    from remlite.settings import Settings

    try:
        return connect(path, tenant, create=create)
    except DatabaseLocked as locked:
        server, key = locked.details.get("server"), Settings.from_env().api_key
        if not server:
            raise
        given = [option for option, used in (local_only or {}).items() if used]
        if given:
            verb = "is" if len(given) == 1 else "are"
            raise InvalidInput(
                f"{' and '.join(given)} {verb} not available through a server, and {server} holds the database; "
                "run without it, or stop the server",
                server=server,
            ) from None
        if not key:
            hint = f"set REMLITE_API_KEY to a key of tenant {tenant!r} to write through it"
            raise DatabaseLocked(f"{locked.message}; {hint}", **locked.details) from None
        from remlite.serve.client import RemoteDatabase

        remote = RemoteDatabase(server, api_key=key)
        granted = remote.key()
        if granted["tenant"] != tenant:
            remote.close()
            raise InvalidInput(f"REMLITE_API_KEY is a key of tenant {granted['tenant']!r}, not {tenant!r}") from None
        typer.echo(f"note: {server} holds the database; writing through it", err=True)
        return remote


def through_server(db: Any) -> TypeGuard["RemoteDatabase"]:
    """Whether `open_writer` returned the server's client, for the few writes whose local form
    (a file path, a pre-write validation pass) the server cannot take as it is."""
    from remlite.database import Database

    return not isinstance(db, Database)
