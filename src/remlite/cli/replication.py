"""`remlite replicate` (a replica following a primary) and `remlite replication status|forget`."""

import signal
import time
from typing import Annotated, Any

import typer

from remlite.errors import InvalidInput

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption, open_reader

replication_app = typer.Typer(help="Replication: where a database stands (primary, replica) and its replicas.",
                              no_args_is_help=True)  # fmt: skip

PrimaryKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="REMLITE_PRIMARY_API_KEY", show_default=False,
                 help="API key of the tenant on the primary (default: $REMLITE_PRIMARY_API_KEY)."),
]  # fmt: skip


def _bar() -> Any:
    """Applied seq / the primary's last seq, entries/s, on stderr, only on a terminal, erased when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("replicate"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} entries/s"))
    return output.progress_bar(*columns, TimeElapsedColumn())


def replicate(
    primary: Annotated[str, typer.Option("--primary", help="The primary's URL (a `remlite serve`).")],
    follow: Annotated[bool, typer.Option("--follow", help="Keep following after catching up (until stopped).")] = False,
    api_key: PrimaryKeyOption = None,
    primary_tenant: Annotated[
        str | None, typer.Option("--primary-tenant", help="The tenant on a --no-auth primary (default: --tenant).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="This replica's name on the primary (default: its path).")
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Make the tenant at --path a replica of the primary: apply its change log in order, catch up
    (re-seeding from a snapshot when too far behind) and, with --follow, keep following."""
    from remlite.replication.follower import Follower

    bar = _bar()
    task = bar.add_task("replicate", total=None, rate="")
    started = time.monotonic()

    def advance(entries: list[Any]) -> None:
        done = entries[-1].seq
        rate = follower.progress.applied / max(time.monotonic() - started, 1e-9)
        bar.update(task, completed=done, total=max(follower.progress.primary_last_seq, done), rate=f"{rate:,.0f}")

    follower = Follower(primary, path, tenant, api_key=api_key, primary_tenant=primary_tenant, name=name,
                        on_applied=advance)  # fmt: skip
    previous = signal.signal(signal.SIGTERM, lambda *_: follower.stop())
    try:
        follower.open()
        if follow:
            output.say(f"replica {follower.path} following {follower.primary} (Ctrl-C stops)", err=True)
        try:
            with bar:
                progress = follower.run(follow=follow)
        except KeyboardInterrupt:
            follower.stop()
            progress = follower.progress
        last_seq = follower.open().last_seq
    finally:
        follower.close()
        signal.signal(signal.SIGTERM, previous)
    report = {"primary": follower.primary, "path": str(follower.path), "applied": progress.applied,
              "last_seq": last_seq, "primary_last_seq": progress.primary_last_seq, "reseeds": progress.reseeds,
              "connects": progress.connects, "seconds": round(time.monotonic() - started, 3)}  # fmt: skip
    if as_json:
        output.emit_json(report)
    else:
        output.say(f"applied {report['applied']} entries from {report['primary']}; this replica is at seq "
                   f"{last_seq} (the primary at {report['primary_last_seq']})"
                   + (f"; re-seeded {progress.reseeds} time(s)" if progress.reseeds else ""))  # fmt: skip


def status(
    primary: Annotated[
        str | None, typer.Option("--primary", help="Ask this primary's server instead of a local database.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="REMLITE_API_KEY", show_default=False, help="Key for --primary.")
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Mode (primary, replica, standalone), applied sequence and lag; a primary's replicas."""
    if primary is not None:
        report = _remote(primary, api_key, tenant, "GET", "/v1/replication")
    else:
        from remlite.replication import registry

        with open_reader(path, tenant) as db:
            report = registry.status(db)
    if as_json:
        output.emit_json(report)
        return
    output.say(f"mode:      {report['mode']}")
    output.say(f"log:       seq {report['first_seq']}..{report['last_seq']}")
    if report["mode"] == "replica":
        heard = report.get("heard_seconds_ago")
        output.say(f"primary:   {report['primary']} (tenant {report['primary_tenant']})")
        output.say(f"applied:   {report['applied_seq']} of {report['primary_last_seq']}")
        output.say(f"lag:       {report['lag_entries']} entries, {report['lag_seconds']} s"
                   + (f" (last heard {heard} s ago)" if heard is not None else ""))  # fmt: skip
        if report.get("stopped"):
            output.say(f"stopped:   {report['stopped']}")
    for replica in report.get("replicas", []):
        output.say(f"replica:   {replica['name']}  applied {replica['applied']}  behind {replica['lag_entries']}  "
                   f"seen {replica['seen_seconds_ago']} s ago")  # fmt: skip


def forget(
    name: Annotated[str, typer.Argument(help="The replica's name (see `remlite replication status`).")],
    primary: Annotated[
        str | None, typer.Option("--primary", help="Tell this running primary's server instead of a local database.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="REMLITE_API_KEY", show_default=False, help="Key for --primary.")
    ] = None,
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Unregister a replica retired for good: the primary stops keeping its log for it."""
    if primary is not None:
        _remote(primary, api_key, tenant, "POST", "/v1/replication/forget", {"replica": name})
    else:
        from remlite.database import connect
        from remlite.replication import registry

        with connect(path, tenant, create=False) as db:
            registry.forget(db, name)
    if as_json:
        output.emit_json({"forgotten": name})
    else:
        output.say(f"forgot replica {name}")


def promote(path: PathOption = None, tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """Make a replica a primary (failover): stop its follower first; it then takes writes from its last seq."""
    from remlite.database import connect
    from remlite.replication import registry

    with connect(path, tenant, create=False) as db:
        report = registry.promote(db)
    if as_json:
        output.emit_json(report)
    else:
        output.say(f"promoted: no longer a replica of {report['was_replica_of']}; the log goes on from seq "
                   f"{report['last_seq']}")  # fmt: skip


def _remote(url: str, api_key: str | None, tenant: str, method: str, route: str, body: Any = None) -> dict[str, Any]:
    import httpx

    from remlite.replication.follower import error_of
    from remlite.serve.keys import request_headers

    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--primary is a server URL (http://host:port), got {url!r}")
    headers = request_headers(tenant, api_key)
    try:
        reply = httpx.request(method, f"{url.rstrip('/')}{route}", headers=headers, json=body, timeout=10)
    except httpx.HTTPError as exc:
        from remlite.errors import ReplicationError

        raise ReplicationError(f"cannot reach {url}: {exc}") from None
    if reply.status_code != 200:
        raise error_of(reply.status_code, reply.content)
    return reply.json()  # type: ignore[no-any-return]


replication_app.command("status")(status)
replication_app.command("forget")(forget)
replication_app.command("promote")(promote)
