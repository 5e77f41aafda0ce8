"""`remlite backup`, `restore`, `stats`, `compact` and `purge`: the operations on a whole database
(`remlite.ops`). They open the database locally. A backup of a database that a running `remlite
serve` holds is taken through it (its snapshot route, with `REMLITE_API_KEY`: the same verified
backup directory); a compaction or a purge is the server's to do, so a held database is an error
for them (exit 9)."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from remlite.database import connect
from remlite.ops.backup import restore as restore_backup

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption


def backup(
    dest: Annotated[Path, typer.Argument(help="A new directory for the backup (must not exist, or be empty).")],
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Write a consistent backup of the tenant's database to DEST while it stays usable (through the
    server that holds it, if one does)."""
    from remlite.errors import DatabaseLocked

    try:
        with connect(path, tenant, create=False) as db:
            report = db.backup(dest)
    except DatabaseLocked as locked:
        server = locked.details.get("server")
        if not server:
            raise
        report = _backup_through(server, tenant, dest)
    if as_json:
        output.emit_json(report)
    else:
        output.say(
            f"backed up {report['tenant']} at seq {report['seq']} to {report['path']}: "
            f"{report['files']} files, {_size(report['bytes'])} in {report['seconds']} s"
        )


def _backup_through(server: str, tenant: str, dest: Path) -> dict[str, Any]:
    """A backup of a served database: the server's snapshot, saved and verified into DEST."""
    import httpx

    from remlite.errors import ReplicationError
    from remlite.ops.backup import save_stream
    from remlite.replication.follower import ReplyFile, error_of
    from remlite.serve.keys import request_headers
    from remlite.settings import Settings

    key = Settings.from_env().api_key
    headers = request_headers(tenant, key)
    typer.echo(f"note: {server} holds the database; backing up through it", err=True)
    try:
        with httpx.stream("GET", f"{server}/v1/replication/snapshot", headers=headers, timeout=None) as reply:
            if reply.status_code != 200:
                raise error_of(reply.status_code, reply.read())
            with ReplyFile(reply.iter_raw()) as stream:
                return save_stream(stream, dest)
    except httpx.HTTPError as exc:
        raise ReplicationError(f"cannot take a backup through {server}: {exc}") from None


def restore(
    src: Annotated[Path, typer.Argument(help="A backup directory written by `remlite backup`.")],
    path: PathOption = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="The tenant to restore as (default: the backup's; it must be the backup's)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a backup and restore it as a new database under --path (never over an existing one)."""
    if tenant is None:
        from remlite.ops.backup import MANIFEST, read_manifest

        tenant = str(read_manifest(src / MANIFEST)["tenant"])
    report = restore_backup(src, path, tenant)
    if as_json:
        output.emit_json(report)
    else:
        output.say(
            f"restored {report['tenant']} at seq {report['seq']} to {report['path']}: "
            f"{report['files']} files verified, {_size(report['bytes'])}"
        )


def stats(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """Show where the database's bytes go: column families, tables, the change log, vector files."""
    with connect(path, tenant, create=False) as db:
        report = db.stats()
    if as_json:
        output.emit_json(report)
        return
    families = Table(title=f"{report['path']}: {_size(report['disk_bytes'])} on disk")
    for column in ("family", "table files", "live (est.)", "memtables", "keys (est.)"):
        families.add_column(column, justify="left" if column == "family" else "right")
    for name, fam in report["families"].items():
        families.add_row(
            name, _size(fam["sst_bytes"]), _size(fam["live_bytes"]), _size(fam["memtable_bytes"]), str(fam["keys"])
        )
    output.print_table(families)
    tables = Table()
    for column in ("table", "rows", "live", "soft-deleted", "row bytes"):
        tables.add_column(column, justify="left" if column == "table" else "right")
    for name, row in report["tables"].items():
        tables.add_row(name, str(row["rows"]), str(row["live"]), str(row["deleted"]), _size(row["bytes"]))
    output.print_table(tables)
    log = report["log"]
    output.say(
        f"change log: {log['entries']} entries, seq {log['first_seq']}..{log['last_seq']}, {_size(log['bytes'])}"
    )
    vectors = report["vectors"]
    output.say(f"vector index files: {len(vectors['files'])}, {_size(vectors['bytes'])}")


def compact(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """Compact every column family so deleted and overwritten data gives its disk space back."""
    with connect(path, tenant, create=False) as db:
        report = db.compact()
    if as_json:
        output.emit_json(report)
    else:
        output.say(f"compacted: {_size(report['before'])} -> {_size(report['after'])} in {report['seconds']} s")


def purge(
    older_than_days: Annotated[
        float | None,
        typer.Option(
            "--older-than-days",
            help="Purge rows soft-deleted more than this many days ago (default $REMLITE_DELETED_RETENTION_DAYS, 30).",
        ),
    ] = None,
    deleted_before: Annotated[
        str | None, typer.Option("--deleted-before", help="Purge rows soft-deleted before this ISO timestamp.")
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Leave the change log as it is.")] = False,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Hard-delete old soft-deleted rows and cut the change log by the retention policy."""
    with connect(path, tenant, create=False) as db:
        report: dict[str, Any] = db.purge(
            deleted_before=deleted_before, older_than_days=older_than_days, log=not no_log
        )
    if as_json:
        output.emit_json(report)
    else:
        output.say(
            f"purged {report['purged']} rows deleted before {report['cutoff']}; removed {report['log_removed']} "
            f"change-log entries (now seq {report['first_seq']}..{report['last_seq']})"
        )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
