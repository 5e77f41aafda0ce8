"""The `remlite` application: the command tree and the commands that are not about records or schemas.

Every command is the kebab-case twin of one `remlite.Database` method:

    init            remlite.connect          schema add        Database.register_schema
    insert          insert / insert_batch  schema list       Database.schemas
    get             Database.get           schema show       Database.schema
    lookup          Database.lookup        schema drop       Database.drop_schema
    update          Database.update        schema templates  Database.templates
    delete          Database.delete        wal               Database.wal
    list            Database.list          check             Database.check
    count           Database.count         search            Database.search
    reembed         Database.reembed       index status      Database.index_status
    ingest          Database.ingest        index rebuild     Database.rebuild_index
    export          Database.export        import            Database.import_
    edge add        Database.add_edge      traverse          Database.traverse (--exact: neighbors)
    edge rm         Database.remove_edge   path              Database.shortest_path (--all: all_paths)
    edge list       Database.edges         moments           Database.moments
    query           Database.sql (--explain: Database.explain)
    ask             Database.ask (--plan: Database.plan)
    serve           the HTTP API (remlite.serve.app)    key create|list|revoke  its API keys
    mcp             the MCP server over stdio (remlite.serve.mcp)
    replicate       a replica following a primary's change log (remlite.replication.follower)
    replication status|forget|promote   where a database stands (primary, replica: applied seq, lag); failover
    backup          Database.backup        restore           remlite.restore
    stats           Database.stats         compact           Database.compact
    purge           Database.purge
"""

from typing import Annotated

import typer

import remlite
from remlite.database import connect
from remlite.errors import EncryptionError

from . import admin, ask, encryption, graph, ingest, ops, output, query, records, replication, search, serve
from .common import DEFAULT_TENANT, JsonOption, PathOption, RemGroup, TenantOption, open_reader
from .exchange import export as export_command
from .exchange import import_ as import_command
from .schema import schema_app
from .search import index_app

app = typer.Typer(
    name="remlite",
    cls=RemGroup,
    help="remlite shell: Resources, Entities, Moments and edges on RocksDB.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        output.say(f"remlite {remlite.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """remlite shell: every command is a thin layer over one remlite.Database method."""


def init(
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt", help="Encrypt it at rest: the passphrase from REMLITE_PASSPHRASE or a hidden prompt (twice)."
        ),
    ] = False,
) -> None:
    """Create the tenant's database (with the built-in templates) if needed, and describe it."""
    passphrase = encryption.new_passphrase("Passphrase") if encrypt else None
    with connect(path, tenant, passphrase=passphrase) as db:
        if encrypt and not db.encrypted:
            raise EncryptionError(f"{db.path} already exists and is not encrypted (export and import it to encrypt it)")
        info = {"path": str(db.path), "tenant": db.tenant, "tables": [s["name"] for s in db.schemas()]}
        if db.encrypted:
            info["encrypted"] = True
    if as_json:
        output.emit_json(info)
    else:
        output.say(f"database: {info['path']}")
        output.say(f"tenant:   {info['tenant']}")
        output.say(f"tables:   {', '.join(info['tables'])}")
        if info.get("encrypted"):
            output.say("encrypted at rest")


def wal(
    after: Annotated[
        int | None,
        typer.Option("--after", help="Only entries with a sequence number above this (default: from the oldest kept)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many entries.")] = 100,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Show the change log (remlite's replication feed), oldest first."""
    with open_reader(path, tenant) as db:
        entries = db.wal(after, limit)
    if as_json:
        output.emit_jsonl(entries)
    else:
        output.print_table(output.wal_table(entries))


def truncate_wal(
    keep: Annotated[int | None, typer.Option("--keep", help="Keep only the newest N entries.")] = None,
    before: Annotated[int | None, typer.Option("--before", help="Remove the entries with a seq below this.")] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Remove old change-log entries (the log keeps every change until truncated)."""
    with connect(path, tenant, create=False) as db:
        report = db.truncate_wal(before, keep=keep)
    if as_json:
        output.emit_json(report)
    else:
        output.say(
            f"removed {report['removed']} entries; the change log now holds seq "
            f"{report['first_seq']}..{report['last_seq']}"
        )


def check(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """Verify counters, id directory, indexes and lookup keys against the rows (exit 1 if not ok)."""
    with open_reader(path, tenant) as db:
        report = db.check()
    if as_json:
        output.emit_json(report)
    elif report["ok"]:
        output.say(
            f"ok: {report['rows']} rows, {report['index_entries']} index entries, {report['lookup_keys']} lookup keys"
        )
    else:
        output.say(f"{len(report['problems'])} problem(s):")
        for problem in report["problems"]:
            output.say(f"  {problem}")
    if not report["ok"]:
        raise SystemExit(1)


# Registered in one block, in the order `remlite --help` lists them.
app.command("init")(init)
app.add_typer(schema_app, name="schema")
app.command("insert")(records.insert)
app.command("get")(records.get)
app.command("lookup")(records.lookup)
app.command("update")(records.update)
app.command("delete")(records.delete)
app.command("list")(records.list_)
app.command("count")(records.count)
app.command("wal")(wal)
app.command("truncate-wal")(truncate_wal)
app.command("check")(check)
app.command("repair")(admin.repair)
app.command("backup")(ops.backup)
app.command("restore")(ops.restore)
app.command("stats")(ops.stats)
app.command("compact")(ops.compact)
app.command("purge")(ops.purge)
app.command("search")(search.search)
app.command("reembed")(search.reembed)
app.add_typer(index_app, name="index")
app.add_typer(graph.edge_app, name="edge")
app.command("traverse")(graph.traverse)
app.command("path")(graph.path_)
app.command("moments")(graph.moments)
app.command("ingest")(ingest.ingest)
app.command("export")(export_command)
app.command("import")(import_command)
app.command("query")(query.query)
app.command("ask")(ask.ask)
app.command("replicate")(replication.replicate)
app.add_typer(replication.replication_app, name="replication")
app.command("serve")(serve.serve)
app.command("mcp")(serve.mcp)
app.add_typer(serve.key_app, name="key")


def main() -> None:
    """Console entry point (`remlite = "remlite.cli.app:main"`)."""
    app()
