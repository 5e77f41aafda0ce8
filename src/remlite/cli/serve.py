"""`remlite serve` (the HTTP API) and `remlite key create|list|revoke` (its API keys)."""

import ipaddress
import logging
from typing import Annotated, Any

import typer

from remlite.database import default_root
from remlite.errors import InvalidInput

from . import output
from .common import DEFAULT_TENANT, JsonOption, PathOption, TenantOption
from .encryption import rotate_passphrase

key_app = typer.Typer(
    help="API keys of `remlite serve` (one tenant each, read-write or read-only); rotate-passphrase of an "
    "encrypted database.",
    no_args_is_help=True,
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    path: PathOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No API keys (loopback only): the tenant is the X-Remlite-Tenant header.")
    ] = False,
    max_body_mb: Annotated[int, typer.Option("--max-body-mb", help="Largest request body accepted.")] = 32,
    max_open_tenants: Annotated[
        int, typer.Option("--max-open-tenants", help="Tenants kept open (~17 files each); idle ones close first.")
    ] = 256,
    read_timeout: Annotated[float, typer.Option("--read-timeout", help="Seconds a read may run before 504.")] = 60.0,
    workers: Annotated[
        int, typer.Option("--workers", help="Processes serving reads (one of them also serves every write).")
    ] = 1,
    reader_of: Annotated[str | None, typer.Option("--reader-of", hidden=True)] = None,
    replica_of: Annotated[
        str | None,
        typer.Option("--replica-of", help="Serve reads of a replica following this primary (its URL); writes refused."),
    ] = None,
    replica_tenant: Annotated[
        list[str] | None,
        typer.Option("--replica-tenant", help="With --replica-of: a tenant to replicate (repeat for more)."),
    ] = None,
    primary_key: Annotated[
        str | None,
        typer.Option(
            "--primary-api-key",
            envvar="REMLITE_PRIMARY_API_KEY",
            show_default=False,
            help="With --replica-of: the API key of the tenant on the primary.",
        ),
    ] = None,
) -> None:
    """Serve every tenant under the root over HTTP (routes under /v1, OpenAPI at /openapi.json)."""
    try:
        import uvicorn

        from remlite.serve.app import create_app
    except ImportError:
        raise InvalidInput("remlite serve needs FastAPI and uvicorn: pip install 'remlite[serve]'") from None
    if no_auth and not _loopback(host):
        raise InvalidInput(f"--no-auth serves without API keys: only on a loopback address, not {host}")
    if max_body_mb < 1:
        raise InvalidInput(f"--max-body-mb must be at least 1, got {max_body_mb}")
    if not read_timeout > 0:
        raise InvalidInput(f"--read-timeout must be a positive number of seconds, got {read_timeout}")
    if max_open_tenants < 1:
        raise InvalidInput(f"--max-open-tenants must be at least 1, got {max_open_tenants}")
    if workers < 1:
        raise InvalidInput(f"--workers must be at least 1, got {workers}")
    if replica_of is not None and workers > 1:
        raise InvalidInput("--replica-of serves from one process: leave out --workers")
    _raise_file_limit(max_open_tenants * 24 + 256)
    root = path if path is not None else default_root()
    if no_auth and reader_of is None:
        output.say("warning: serving without API keys (--no-auth): every local process can read and write", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options = {"auth": not no_auth, "max_body": max_body_mb * 1024 * 1024, "read_timeout": read_timeout}
    if reader_of is not None:  # a reader process of --workers (remlite.serve.workers)
        from remlite.serve.workers import exit_with_writer, shared_socket

        exit_with_writer()
        app = create_app(root, reader_of=reader_of, max_open_tenants=max_open_tenants, **options)
        _run(uvicorn, app, [shared_socket(host, port)])
        return
    if replica_of is not None:
        tenants = replica_tenant or [DEFAULT_TENANT]
        _serve_replica(uvicorn, root, host, port, replica_of, tenants, primary_key, max_open_tenants, options)
        return
    from remlite.runtime import Runtime

    runtime = Runtime(max_open_tenants=max_open_tenants)
    app = create_app(root, runtime=runtime, **options)
    if workers == 1:
        _note_server(host, port)
        output.say(f"remlite serving {root} on http://{host}:{port} (OpenAPI: /openapi.json)", err=True)
        _run(uvicorn, app, None, host, port)
        return
    from remlite.serve import workers as many

    public, internal = many.shared_socket(host, port), many.loopback_socket()
    port = public.getsockname()[1]
    _note_server(host, port)
    argv = many.reader_argv(root, host, port, {"no-auth": no_auth, "max-body-mb": max_body_mb,
                            "max-open-tenants": max_open_tenants, "read-timeout": read_timeout})  # fmt: skip
    readers = many.start_readers(workers - 1, argv, f"http://127.0.0.1:{internal.getsockname()[1]}")
    output.say(f"remlite serving {root} on http://{host}:{port} with {workers} processes", err=True)
    try:
        _run(uvicorn, app, [public, internal])
    finally:
        many.stop_readers(readers)


def _serve_replica(
    uvicorn: Any, root: Any, host: str, port: int, primary: str, tenants: list[str], key: str | None, max_open: int,
    options: dict[str, Any],
) -> None:  # fmt: skip
    """A replica's server: a follower per tenant applies the primary's log in a thread of this
    process, through a lease on the same runtime the server reads from, so a read sees every
    entry applied. A re-seed closes the tenant's handle (after the reads on it) and reopens it."""
    import threading

    from remlite.replication.follower import Follower
    from remlite.runtime import Runtime
    from remlite.serve.app import create_app

    runtime = Runtime(max_open_tenants=max(max_open, len(tenants) + 1))
    followers = [Follower(primary, root, tenant, api_key=key, runtime=runtime) for tenant in tenants]
    for follower in followers:
        follower.open()
    app = create_app(root, runtime=runtime, replica_of=followers[0].primary, replica_tenants=frozenset(tenants),
                     **options)  # fmt: skip
    threads = [threading.Thread(target=f.run, name=f"remlite-replica-{f.tenant}", daemon=True) for f in followers]
    for thread in threads:
        thread.start()
    _note_server(host, port)
    output.say(f"remlite serving a replica of {followers[0].primary} (tenants {', '.join(tenants)}) from {root} on "
               f"http://{host}:{port}", err=True)  # fmt: skip
    try:
        _run(uvicorn, app, None, host, port)
    finally:
        for follower in followers:
            follower.stop()
        for thread in threads:
            thread.join(30)
        for follower in followers:
            follower.close()
        runtime.close()


def _note_server(host: str, port: int) -> None:
    from remlite.storage.engine import note_owner

    note_owner(server=f"http://{host}:{port}")  # a blocked writer is told where to send writes


def _run(uvicorn: Any, app: Any, sockets: list[Any] | None, host: str = "", port: int = 0) -> None:
    """Run the app on `sockets` (or host:port) after tuning the interpreter for serving."""
    import sys

    # Requests that run in worker threads (SQL, writes) hold the GIL for up to the switch interval
    # (5 ms by default) while the event loop waits to answer point reads: a shorter one cut the tail.
    sys.setswitchinterval(0.0005)
    import gc

    # Collections of the cyclic GC were the served tail (p99 40-90 ms at 1,000 requests/s; 2-5 ms
    # without them, benchmarks/server.py): what is loaded now is never scanned again, and the young
    # generation is collected after 50,000 allocations instead of 700.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    if sockets is None:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=sockets)


def mcp(
    path: PathOption = None,
    tenant: TenantOption = DEFAULT_TENANT,
    read_only: Annotated[bool, typer.Option("--read-only", help="Only read (never write the tenant).")] = False,
) -> None:
    """Serve the tenant to an MCP host over stdio (tools: search, query, lookup, get, upsert, ...)."""
    try:
        from remlite.serve.mcp import run_stdio
    except ImportError:
        raise InvalidInput("remlite mcp needs the mcp SDK: pip install 'remlite[serve]'") from None
    run_stdio(path, tenant, read_only)


def _raise_file_limit(wanted: int) -> None:
    """Open tenants hold ~17 files each: lift the soft limit on open files toward `wanted` (the
    hard limit bounds it; an ordinary user may raise the soft one that far)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def key_create(
    tenant: TenantOption = DEFAULT_TENANT,
    read_only: Annotated[bool, typer.Option("--read-only", help="A key that can only read.")] = False,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key for the tenant; prints only the key (it is never shown again)."""
    from remlite.serve.keys import KeyStore

    token = KeyStore(path if path is not None else default_root()).create(tenant, read_only)
    if as_json:
        output.emit_json({"key": token, "tenant": tenant, "read_only": read_only})
    else:
        output.say(token)


def key_list(path: PathOption = None, as_json: JsonOption = False) -> None:
    """The keys: id, tenant, read-only, created, revoked (never the secret)."""
    from remlite.serve.keys import KeyStore

    keys = KeyStore(path if path is not None else default_root()).list()
    if as_json:
        output.emit_json(keys)
        return
    for key in keys:
        state = f"revoked {key['revoked_at']}" if key.get("revoked_at") else "active"
        mode = "read-only" if key["read_only"] else "read-write"
        output.say(f"{key['id']}  {key['tenant']}  {mode}  created {key['created_at']}  {state}")


def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after rem_).")],
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key: a running server refuses it from its next request."""
    from remlite.serve.keys import KeyStore

    found = KeyStore(path if path is not None else default_root()).revoke(key_id)
    if as_json:
        output.emit_json(found)
    else:
        output.say(f"revoked {found['id']} ({found['tenant']})")


key_app.command("create")(key_create)
key_app.command("list")(key_list)
key_app.command("revoke")(key_revoke)
key_app.command("rotate-passphrase")(rotate_passphrase)  # an encrypted database's passphrase
