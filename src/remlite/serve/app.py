"""The HTTP API: generated from `remlite.serve.operations.OPERATIONS`, answered by the `Front`
(`remlite.serve.front`) with a FastAPI app behind it for OpenAPI, /docs, /metrics and /mcp.

Every route is scoped to the tenant of its API key (`Authorization: Bearer rem_...`); a request
leases that tenant from the runtime's pool of open tenants, so tenants share one DuckDB connection,
one column budget and one set of embedding models, and a key can never name another tenant.
Errors have one shape on every route, made from `remlite.errors` in `front.error_body` (their `http_status`):
`{"error": {"type", "code", "message", "details"}}`; an unexpected exception is logged with its
request id and answered 500 without a stack trace. Every response carries `X-Request-Id`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import remlite
from remlite.errors import InvalidInput, RemliteError
from remlite.runtime import Runtime
from remlite.serve.front import (
    Dispatcher,
    Front,
    error_body,
    field_errors,
    internal_error,
    read_body,
    request_id,
    takes_body,
)
from remlite.serve.keys import TENANT_HEADER, Forbidden, Grant, KeyStore
from remlite.serve.operations import OPERATIONS, Operation

log = logging.getLogger("remlite.serve")
MAX_BODY = 32 * 1024 * 1024


READ_TIMEOUT = 60.0  # seconds a read may take before the client gets 504
MAINTAIN_CHECK = 600.0  # seconds between looks at whether an open tenant's daily purge is due


class RouteNotFound(RemliteError):
    http_status = 404
    code = "not_found"


class MethodNotAllowed(RemliteError):
    http_status = 405
    code = "method_not_allowed"


class Metrics:
    """Request counts and latencies per operation and status, as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.seconds: Counter[str] = Counter()

    def record(self, name: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(name, status)] += 1
            self.seconds[name] += seconds

    def text(self) -> str:
        with self._lock:
            lines = ["# TYPE remlite_requests_total counter"]
            for (name, status), count in sorted(self.requests.items()):
                lines.append(f'remlite_requests_total{{operation="{name}",status="{status}"}} {count}')
            lines.append("# TYPE remlite_request_seconds_total counter")
            for name, seconds in sorted(self.seconds.items()):
                lines.append(f'remlite_request_seconds_total{{operation="{name}"}} {seconds:.6f}')
        return "\n".join(lines) + "\n"


def create_app(
    root: str | os.PathLike[str],
    *,
    auth: bool = True,
    runtime: Runtime | None = None,
    max_body: int = MAX_BODY,
    read_timeout: float | None = READ_TIMEOUT,
    reader_of: str | None = None,
    max_open_tenants: int = 256,
    replica_of: str | None = None,
    replica_tenants: frozenset[str] | None = None,
) -> Any:
    """The ASGI app serving every tenant under `root`. `auth=False` takes the tenant from the
    `X-Remlite-Tenant` header (default "default") and allows everything: for loopback only.
    A read running longer than `read_timeout` seconds is answered 504 (its thread finishes it and
    is then free again; a write is never cut short: the client must learn whether it happened).
    `reader_of` (the writer's URL) makes a reader process of `--workers` (`remlite.serve.workers`):
    tenants open read-only, at most `max_open_tenants`; writes and MCP go to the writer.
    `replica_of` (the primary's URL) serves a replica (`remlite serve --replica-of`): the tenants
    `replica_tenants` are leases on `runtime` shared with the process's followers
    (`remlite.replication.follower`), so a read sees every entry applied; writes are refused and
    other tenants are not found.
    The replication routes (`remlite.serve.replication`) are answered in front of everything."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    root = Path(root).resolve()
    keys = KeyStore(root)
    pool: Any
    if reader_of is not None:
        from remlite.serve.workers import ReadOnlyPool

        pool = ReadOnlyPool(max_open_tenants)
    else:
        pool = runtime if runtime is not None else Runtime()
    metrics = Metrics()
    lifespans: list[Any] = []  # context managers to run while the app serves (MCP's sessions)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        async with contextlib.AsyncExitStack() as stack:
            for each in lifespans:
                await stack.enter_async_context(each())
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="remlite",
        version=remlite.__version__,
        description="remlite's HTTP API: every library verb, scoped to the tenant of the API key.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime, app.state.keys, app.state.metrics = pool, keys, metrics

    def respond(exc: RemliteError, request_id: str) -> Response:
        return Response(
            error_body(exc), exc.http_status, media_type="application/json", headers={"x-request-id": request_id}
        )

    class RequestIds:
        """Request id, metrics and a log line per request: a plain ASGI middleware (Starlette's
        BaseHTTPMiddleware cost ~0.3 ms a request)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            headers = dict(scope.get("headers") or ())
            rid = request_id(headers.get(b"x-request-id"))
            scope.setdefault("state", {})["request_id"] = rid
            started, status = time.perf_counter(), [500]

            async def sending(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                    message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
                await send(message)

            try:
                await self.inner(scope, receive, sending)
            finally:
                name = getattr(scope.get("route"), "name", "unrouted")
                metrics.record(name, status[0], time.perf_counter() - started)
                if log.isEnabledFor(logging.DEBUG):  # a line per request costs ~40 µs: on request
                    log.debug("%s %s %s -> %d", rid, scope["method"], scope["path"], status[0])

    app.add_middleware(RequestIds)

    @app.exception_handler(RemliteError)
    async def remlite_error(request: Request, exc: RemliteError) -> Response:
        return respond(exc, _rid(request))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        rid = _rid(request)
        if exc.status_code == 404:
            return respond(RouteNotFound(f"no route {request.method} {request.url.path}"), rid)
        if exc.status_code == 405:
            return respond(MethodNotAllowed(f"{request.url.path} does not take {request.method}"), rid)
        error = RemliteError(str(exc.detail))
        error.http_status = exc.status_code
        return respond(error, rid)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return respond(InvalidInput("invalid request", errors=field_errors(exc.errors())), _rid(request))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        rid = _rid(request)
        log.error("request %s failed", rid, exc_info=exc)
        return respond(internal_error(), rid)

    @app.get("/v1/health", summary="Liveness: the server answers", tags=["server"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": remlite.__version__}

    @app.get("/metrics", summary="Request counts and latencies (Prometheus text)", tags=["server"], response_model=None)
    def prometheus():  # type: ignore[no-untyped-def]  # no annotation: FastAPI would read it as a response model
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    def authorize(headers: Any, writes: bool, name: str) -> Grant:
        if auth:
            header = headers.get("authorization", "")
            token = header[7:].strip() if header[:7].lower() == "bearer " else None
            grant = keys.verify(token)
        else:
            grant = Grant("", headers.get(TENANT_HEADER, "default"), False)
        if writes and grant.read_only:
            raise Forbidden(f"{name} writes, and this API key is read-only")
        return grant

    async def key(request: Request) -> dict[str, Any]:
        """The tenant and rights of the API key sent (clients check they write where they mean to)."""
        grant = authorize(request.headers, False, "key")
        return {"id": grant.key_id, "tenant": grant.tenant, "read_only": grant.read_only}

    key.__annotations__ = {"request": Request, "return": dict[str, Any]}
    app.add_api_route("/v1/key", key, methods=["GET"], name="key", summary=key.__doc__, tags=["server"])

    mcp_server = (
        None
        if reader_of is not None or replica_of is not None
        else _mount_mcp(app, lambda ctx, writes: pool.tenant(root, authorize(_headers(ctx), writes, "upsert").tenant))
    )
    if mcp_server is not None:
        lifespans.append(mcp_server.session_manager.run)
    if reader_of is None:
        lifespans.append(lambda: _maintenance(pool, MAINTAIN_CHECK))

    dispatcher = Dispatcher(root, pool, authorize, Placement(), read_timeout, max_body, reader=reader_of is not None,
                            replica_of=replica_of, tenants=replica_tenants)  # fmt: skip

    def endpoint_of(op: Operation) -> Any:
        async def endpoint(request: Request) -> Response:
            body = await read_body(request.receive, request.headers, max_body) if takes_body(op) else None
            payload = await dispatcher.answer(op, request.headers, request.path_params, request.url.query, body)
            return Response(payload, op.status, media_type="application/json")

        endpoint.__name__ = op.name
        endpoint.__doc__ = op.summary
        endpoint.__annotations__ = {"request": Request, "return": Response}  # resolved: FastAPI reads them
        return endpoint

    for op in OPERATIONS:  # documented in /openapi.json; the Front answers these paths first
        app.add_api_route(
            op.path,
            endpoint_of(op),
            methods=[op.method],
            name=op.name,
            summary=op.summary,
            status_code=op.status,
            tags=["writes" if op.write else "reads"],
            openapi_extra=_openapi(op),
        )
    forwarder = None
    if reader_of is not None:
        from remlite.serve.workers import Forwarder

        forwarder = Forwarder(reader_of)
    from remlite.serve.replication import Replication

    front = Front(app, OPERATIONS, dispatcher, metrics.record, forwarder)
    return Replication(front, root, pool, dispatcher.grant, forwarder)


@contextlib.asynccontextmanager
async def _maintenance(pool: Runtime, every: float) -> Any:
    """While the app serves: every `every` seconds, run the daily purge of each open tenant that is
    due (`remlite.ops.space.maintain`; a tenant held open for weeks is never closed, and closing is
    when the library runs it). It runs in a worker thread under a lease, like any write."""
    import asyncio

    from starlette.concurrency import run_in_threadpool

    from remlite.ops.space import maintain

    def run_due() -> None:
        for path, tenant in pool.held():
            try:
                with pool.tenant(path.parent, tenant) as db:
                    maintain(db)
            except Exception as exc:  # one tenant's failure must not stop the others' (nor the server)
                log.error("daily purge of tenant %s failed: %s", tenant, exc)

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await run_in_threadpool(run_due)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Placement:
    """Where a request runs: on the event loop when the same kind of request (operation, tenant,
    and its SQL text or table) took under `QUICK` seconds last time, else in a worker thread, so
    one slow query never stalls the others. Measured (benchmarks/server.py, the 70/20/10 mix at
    2,000 requests/s on 2 cores): with every SQL query and write in a thread the server saturated
    there (p99 ~85-200 ms); on the loop, p99 4-5 ms. A kind never seen runs in a thread first."""

    QUICK = 0.002
    SIZE = 4096

    def __init__(self) -> None:
        self._last: dict[tuple[Any, ...], float] = {}

    def key(self, op: Operation, tenant: str, args: dict[str, Any]) -> tuple[Any, ...]:
        body = args.get("body")
        what = getattr(body, "sql", None) or getattr(body, "table", None) or args.get("table") or args.get("id")
        if getattr(args.get("query"), "fuzzy", False):
            what = "fuzzy"  # a fuzzy lookup (4-25 ms) is placed apart from exact ones (µs)
        return (op.name, tenant, None if op.name in ("update", "delete") else what)

    def quick(self, key: tuple[Any, ...]) -> bool:
        last = self._last.get(key)
        return last is not None and last < self.QUICK

    def record(self, key: tuple[Any, ...], seconds: float) -> None:
        if len(self._last) >= self.SIZE and key not in self._last:
            self._last.pop(next(iter(self._last)))  # the oldest kind seen
        self._last[key] = seconds


def _headers(ctx: Any) -> Any:
    """The HTTP headers of the request an MCP tool call came in."""
    request = getattr(ctx.request_context, "request", None)
    return request.headers if request is not None else {}


def _mount_mcp(app: Any, provide: Any) -> Any:
    """MCP over streamable HTTP at /mcp, on the same tools as `remlite mcp` (None without the
    `mcp` SDK). Stateless, JSON responses: each call carries its API key."""
    try:
        from remlite.serve.mcp import build
    except ImportError:
        return None
    server = build(provide, stateless_http=True, json_response=True, streamable_http_path="/mcp")
    app.router.routes.extend(server.streamable_http_app().routes)
    return server


def _rid(request: Any) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def _openapi(op: Operation) -> dict[str, Any]:
    """The operation's parameters and body for /openapi.json (the endpoint reads them itself)."""
    extra: dict[str, Any] = {}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in op.path_params
    ]
    if op.query is not None:
        schema = op.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in schema.get("required", []),
                               "schema": prop})  # fmt: skip
    if parameters:
        extra["parameters"] = parameters
    if op.body is not None:
        content: dict[str, Any] = {"schema": op.body.model_json_schema()}
        if op.example is not None:
            content["example"] = op.example
        extra["requestBody"] = {"required": True, "content": {"application/json": content}}
    elif op.raw_body:
        raw = {"schema": {"type": "string", "format": "binary"}}
        extra["requestBody"] = {"required": True, "content": {"application/octet-stream": raw}}
    extra["security"] = [{"bearer": []}]
    return extra
