"""The served operations' own ASGI front: requests for the verbs of `OPERATIONS` are answered here,
everything else (OpenAPI, /docs, /metrics, /mcp, unknown paths) passes to the FastAPI app.

Why not FastAPI's routing: a request through FastAPI's stack (its middleware, Starlette's routing
that tries each route's regex in turn, its exception middleware and telemetry hooks) cost ~200 µs
of the ~450 µs of CPU a served request took at 2,000 requests/s (cProfile of `remlite serve` under
benchmarks/server.py's mix), and the server saturated one core there, so its p99 was set by
queueing. Here a route is found by method and segment count, the request is read from the ASGI
messages directly and the answer sent as two messages. FastAPI still documents the same routes in
/openapi.json and answers them should a request ever reach it (`Dispatcher.answer` serves both).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, RootModel
from pydantic import ValidationError as PydanticError

from remlite.errors import InvalidInput, NotFound, ReadOnly, RemliteError
from remlite.serve.operations import Operation

if TYPE_CHECKING:
    from remlite.runtime import Runtime
    from remlite.serve.keys import Grant

log = logging.getLogger("remlite.serve")


class Forward(RemliteError):
    """Raised in a reader process (`--workers`) for a request only the writer can answer."""


class Timeout(RemliteError):
    http_status = 504
    code = "timeout"


class PayloadTooLarge(RemliteError):
    http_status = 413
    code = "payload_too_large"


def error_body(exc: RemliteError) -> bytes:
    """The one error shape of the HTTP API."""
    error = {"type": type(exc).__name__, "code": exc.code, "message": exc.message, "details": exc.details}
    return orjson.dumps({"error": error}, default=str)


def internal_error() -> RemliteError:
    """What a client is told of an unexpected exception (the log has the rest)."""
    return RemliteError("internal error; see the server log for this request id")


_PROCESS = secrets.token_hex(4)
_SERIAL = itertools.count(1)


def request_id(sent: bytes | str | None) -> str:
    """The client's X-Request-Id (up to 64 characters), else a new one: this process's random
    prefix and a counter (a uuid4 cost ~10 µs a request)."""
    if sent:
        text = sent.decode("latin-1") if isinstance(sent, bytes) else sent
        return text[:64]
    return f"{_PROCESS}{next(_SERIAL):08x}"


def as_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_fallback)


def _fallback(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars (vectors)
        return value.tolist()
    return str(value)


class Dispatcher:
    """Answers one operation's request: authorise, validate, run where `placement` says (on the
    event loop or in a worker thread, with the read timeout), encode."""

    def __init__(
        self,
        root: Any,
        pool: Runtime,
        authorize: Callable[[Mapping[str, str], bool, str], Grant],
        placement: Any,
        read_timeout: float | None,
        max_body: int,
        reader: bool = False,
        replica_of: str | None = None,
        tenants: frozenset[str] | None = None,
    ) -> None:
        self.root, self.pool, self.authorize = root, pool, authorize
        self.placement, self.read_timeout, self.max_body = placement, read_timeout, max_body
        self.reader = reader  # a reader process of `--workers`: writes go to the writer
        self.replica_of = replica_of  # a replica's server: writes go to its primary, by the client
        self.tenants = tenants  # the tenants served (None: every tenant under the root)

    def grant(self, headers: Mapping[str, str], writes: bool, name: str) -> Grant:
        """The request's grant (its key's tenant and rights), for a tenant this server serves."""
        grant = self.authorize(headers, writes, name)
        if self.tenants is not None and grant.tenant not in self.tenants:
            raise NotFound(f"tenant {grant.tenant!r} is not replicated here", tenant=grant.tenant)
        return grant

    def _run(self, op: Operation, tenant: str, args: dict[str, Any], key: tuple[Any, ...]) -> Any:
        with self.pool.tenant(self.root, tenant) as db:
            started = time.thread_time()  # CPU, not wall time: a call that waited for the GIL in a thread is not slow
            try:
                return op.call(db, args)
            finally:
                self.placement.record(key, time.thread_time() - started)

    async def answer(
        self, op: Operation, headers: Mapping[str, str], path_params: dict[str, str], query: str, body: bytes | None
    ) -> bytes:
        """The operation's JSON answer."""
        found = await self.call(op, headers, path_params, query, body)
        return as_json(op.to_json(found) if op.to_json is not None else found)

    async def call(
        self, op: Operation, headers: Mapping[str, str], path_params: dict[str, str], query: str, body: bytes | None
    ) -> Any:
        """The value of the operation's library call."""
        from starlette.concurrency import run_in_threadpool

        grant = self.grant(headers, op.write, op.name)
        if self.reader and op.write:
            raise Forward(op.name)
        if self.replica_of is not None and op.write:
            raise ReadOnly(f"{op.name} writes, and this server is a read replica: write to its primary, "
                           f"{self.replica_of}", primary=self.replica_of)  # fmt: skip
        args: dict[str, Any] = dict(path_params)
        if op.query is not None:
            args["query"] = validated(op.query, dict(parse_qsl(query)))
        if op.body is not None:
            args["body"] = validated(op.body, json_body(body or b""))
        elif op.raw_body:
            args["body"] = body or b""
        key = self.placement.key(op, grant.tenant, args)
        if self.pool.holds(self.root, grant.tenant) and (op.inline or self.placement.quick(key)):
            return self._run(op, grant.tenant, args, key)
        work = run_in_threadpool(self._run, op, grant.tenant, args, key)
        if op.write or self.read_timeout is None:
            return await work
        try:
            return await asyncio.wait_for(work, self.read_timeout)
        except TimeoutError:
            raise Timeout(f"{op.name} took longer than {self.read_timeout:g} s", seconds=self.read_timeout) from None


class Front:
    """The ASGI app `create_app` returns: operations here, the rest to `fallback` (see the module
    docstring). `record(name, status, seconds)` counts each answered request."""

    def __init__(
        self,
        fallback: Any,
        operations: list[Operation],
        dispatcher: Dispatcher,
        record: Callable[..., None],
        forwarder: Any = None,
    ) -> None:
        self.fallback, self.dispatcher, self.record = fallback, dispatcher, record
        self.forwarder = forwarder  # a reader's way to the writer (`remlite.serve.workers`)
        self.routes: dict[tuple[str, int], list[tuple[re.Pattern[str], Operation]]] = {}
        for op in operations:
            pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", op.path) + "$")
            self.routes.setdefault((op.method, op.path.count("/")), []).append((pattern, op))

    @property
    def state(self) -> Any:
        return self.fallback.state

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for pattern, op in self.routes.get((method, path.count("/")), ()):
            found = pattern.match(path)
            if found is not None:
                return op, found.groupdict()  # ASGI's path is percent-decoded already
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        found = self.match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            if self.forwarder is not None and scope["type"] == "http" and scope["path"].startswith("/mcp"):
                body = await read_body(receive, {}, self.dispatcher.max_body)
                await self.forwarder.relay(scope, body, send)  # MCP's tools write too: the writer serves it
                return
            await self.fallback(scope, receive, send)
            return
        op, params = found
        started = time.perf_counter()
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        rid = request_id(headers.get("x-request-id"))
        status = op.status
        media = streamed_as(op, headers.get("accept", ""))
        try:
            body = await read_body(receive, headers, self.dispatcher.max_body) if takes_body(op) else None
            query = scope["query_string"].decode("latin-1")
            if media is not None:
                found = await self.dispatcher.call(op, headers, params, query, body)
                await stream(send, status, media, rid, op.streams[media](found))
                self.record(op.name, status, time.perf_counter() - started)
                return
            payload = await self.dispatcher.answer(op, headers, params, query, body)
        except Forward as exc:
            if self.forwarder is None:  # a replica's server: no writer here to ask
                refused = NotFound(exc.message)
                status, payload = refused.http_status, error_body(refused)
            else:
                status = await self.forwarder.relay(scope, body, send, rid)
                self.record(op.name, status, time.perf_counter() - started)
                return
        except RemliteError as exc:
            status, payload = exc.http_status, error_body(exc)
        except Exception as exc:
            log.error("request %s failed", rid, exc_info=exc)
            error = internal_error()
            status, payload = error.http_status, error_body(error)
        await send_json(send, status, payload, rid)
        self.record(op.name, status, time.perf_counter() - started)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s -> %d", rid, scope["method"], scope["path"], status)


async def send_json(send: Any, status: int, payload: bytes, rid: str) -> None:
    """An encoded JSON answer as the two ASGI messages, with its length and request id."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", rid.encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def streamed_as(op: Operation, accept: str) -> str | None:
    """The media type of the operation's streams the client's Accept header names, if any (a
    client that accepts JSON too gets JSON: a stream is asked for by name)."""
    for media in op.streams:
        if media in accept:
            return media
    return None


STREAM_CHUNK = 64 * 1024  # bytes gathered before each send of a streamed answer


async def stream(send: Any, status: int, media: str, rid: str, chunks: Any) -> None:
    """Send an answer as it is encoded, in chunks of about STREAM_CHUNK bytes (chunked transfer:
    neither side holds the whole encoded answer). An error after the first bytes can no longer
    change the status: it ends the stream with an error line (NDJSON) and is logged."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()), (b"x-request-id", rid.encode("latin-1"))]})  # fmt: skip
    pending: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= STREAM_CHUNK:
                await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                pending, size = [], 0
    except Exception as exc:
        log.error("request %s failed while streaming", rid, exc_info=exc)
        if media.endswith("ndjson"):  # a binary stream ends without its closing frame: read as cut short
            pending.append(error_body(exc if isinstance(exc, RemliteError) else internal_error()) + b"\n")
    await send({"type": "http.response.body", "body": b"".join(pending)})


def takes_body(op: Operation) -> bool:
    return op.body is not None or op.raw_body


async def read_body(receive: Any, headers: Mapping[str, str], cap: int) -> bytes:
    """The request body, refused past `cap` bytes (declared or sent)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {cap}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"the body is over the limit of {cap} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def json_body(raw: bytes) -> Any:
    if not raw:
        raise InvalidInput("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None


def validated(model: type[BaseModel], data: Any) -> Any:
    try:
        found = model.model_validate(data)
    except PydanticError as exc:
        raise InvalidInput(f"invalid request: {_first(exc.errors())}", errors=field_errors(exc.errors())) from None
    return found.root if isinstance(found, RootModel) else found


def field_errors(errors: Any) -> list[dict[str, Any]]:
    return [{"at": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in errors]


def _first(errors: Any) -> str:
    first = field_errors(errors)[0] if errors else {"at": "", "message": "invalid"}
    return f"{first['at']}: {first['message']}" if first["at"] else first["message"]
