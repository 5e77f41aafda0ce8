"""The primary's side of replication, served beside the operations (see `remlite.replication`):

    GET  /v1/changes/stream?after=SEQ[&replica=NAME][&heartbeat=S]   the change stream (frames)
    POST /v1/replication/ack       {"replica": NAME, "applied": SEQ}  what a replica applied
    GET  /v1/replication/snapshot  a verified backup as a tar stream (a replica's re-seed)
    GET  /v1/replication           status: mode, log bounds, replicas and their lag
    POST /v1/replication/forget    {"replica": NAME}: unregister a replica retired for good

Why not operations of `OPERATIONS`: the stream is not one library call answered once but a
response that lasts as long as the replica follows, fed as the log grows, and the snapshot is a
file. They are answered here, in front of the operations' `Front`, with the same API keys (a
key reads its own tenant's log) and the same JSON error shape.

A stream waits for a commit of its tenant on an asyncio event that a commit listener sets
(`CommitSignal`, registered once per open handle; it costs a commit one attribute test while no
stream waits), then reads the new entries in a worker thread, up to `BATCH` at a time. A tenant
open read-only here (a reader of `--workers`) has no commits to listen to: its stream reads
(refreshing the handle) every 20 ms instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool

from remlite.core import on_commit
from remlite.errors import InvalidInput, RemliteError, WalTruncated
from remlite.replication import registry, wire
from remlite.serve.front import error_body, internal_error, read_body, request_id, send_json

log = logging.getLogger("remlite.serve")
POLL = 0.005
WAKE = 0.25  # seconds a stream waits on its signal before looking again (the replica may have gone)
BATCH = 256
SNAPSHOT_CHUNK = 1 << 20
STREAM = "/v1/changes/stream"
ACK = "/v1/replication/ack"
SNAPSHOT = "/v1/replication/snapshot"
STATUS = "/v1/replication"
FORGET = "/v1/replication/forget"


class CommitSignal:
    """A commit listener that wakes the streams waiting on its tenant (only while some do)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.event, self.waiting = loop, asyncio.Event(), 0

    def __call__(self, entry: Any, effects: Any) -> None:
        if self.waiting:
            self.loop.call_soon_threadsafe(self.event.set)


class Replication:
    """ASGI: the replication routes, everything else to `inner` (the operations' Front)."""

    def __init__(self, inner: Any, root: Any, pool: Any, authorize: Callable[..., Any], forwarder: Any = None) -> None:
        self.inner, self.root, self.pool, self.authorize, self.forwarder = inner, root, pool, authorize, forwarder
        from remlite.runtime import Runtime

        self.read_only = not isinstance(pool, Runtime)  # a reader of --workers, or a replica's server
        self._signals: weakref.WeakKeyDictionary[Any, CommitSignal] = weakref.WeakKeyDictionary()
        self.routes = {("GET", STREAM): self.stream, ("POST", ACK): self.ack, ("GET", SNAPSHOT): self.snapshot,
                       ("GET", STATUS): self.status, ("POST", FORGET): self.forget}  # fmt: skip

    def __getattr__(self, name: str) -> Any:  # `state`, `routes` of the Front, ...
        return getattr(self.inner, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        handler = self.routes.get((scope.get("method"), scope.get("path"))) if scope["type"] == "http" else None
        if handler is None:
            await self.inner(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = request_id(headers.get("x-request-id"))
        started, status = time.perf_counter(), 200
        try:
            if self.forwarder is not None and handler != self.stream:  # a reader of --workers: the writer answers
                body = await read_body(receive, headers, 1 << 16)
                status = await self.forwarder.relay(scope, body, send, rid)
                return
            grant = self.authorize(headers, handler == self.forget, handler.__name__)
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            await handler(grant.tenant, query, headers, receive, send, rid)
        except RemliteError as exc:
            status = exc.http_status
            await send_json(send, status, error_body(exc), rid)
        except Exception as exc:
            log.error("request %s failed", rid, exc_info=exc)
            status = 500
            await send_json(send, status, error_body(internal_error()), rid)
        finally:
            self.inner.record(f"replication.{handler.__name__}", status, time.perf_counter() - started)

    # ------------------------------------------------------------------ the stream
    def _read(self, tenant: str, after: int) -> tuple[list[bytes], int, int]:
        with self.pool.tenant(self.root, tenant) as db:
            if hasattr(db, "refresh"):
                db.refresh()
            entries = db.changes(after, BATCH)
            return [e.to_bytes() for e in entries], db.last_seq, db.first_seq

    def _watch(self, tenant: str) -> tuple[int, CommitSignal] | None:
        """The tenant's last seq and its commit signal if a writable handle of it is open here (no
        I/O), else None (a read-only handle learns of commits only by refreshing, in `_read`)."""
        if self.read_only or not self.pool.holds(self.root, tenant):
            return None
        with self.pool.tenant(self.root, tenant) as db:
            core = db._core
            signal = self._signals.get(core)
            if signal is None:
                signal = self._signals[core] = CommitSignal(asyncio.get_running_loop())
                on_commit(core, signal)
            return int(db.last_seq), signal

    async def stream(self, tenant: str, query: dict[str, str], headers: Any, receive: Any, send: Any, rid: str) -> None:
        after = _int(query, "after", None)
        beat = _float(query, "heartbeat", 1.0, 0.05, 60.0)
        replica = query.get("replica")
        if replica is not None:
            registry.check_name(replica)
        frames, last, first = await run_in_threadpool(self._read, tenant, after)  # WalTruncated: 410 before the stream
        if replica is not None:
            await run_in_threadpool(self._register, tenant, replica, after, headers)
        started = [(b"content-type", wire.MEDIA_TYPE.encode()), (b"x-request-id", rid.encode("latin-1"))]
        await send({"type": "http.response.start", "status": 200, "headers": started})
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await self._feed(tenant, after, frames, last, first, beat, gone, send)
        except OSError:  # the replica went away mid-send
            pass
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def _feed(
        self, tenant: str, after: int, frames: list[bytes], last: int, first: int, beat: float, gone: asyncio.Event,
        send: Any,
    ) -> None:  # fmt: skip
        await send({"type": "http.response.body", "body": wire.heartbeat(last, first, time.time()), "more_body": True})
        quiet_since = time.monotonic()
        while not gone.is_set():
            if frames:
                after += len(frames)
                body = b"".join(wire.frame(wire.ENTRY, f) for f in frames) + wire.heartbeat(last, first, time.time())
                await send({"type": "http.response.body", "body": body, "more_body": True})
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= beat:
                await send({"type": "http.response.body", "body": wire.heartbeat(last, first, time.time()),
                            "more_body": True})  # fmt: skip
                quiet_since = time.monotonic()
            while not gone.is_set():  # wait for a commit (or the next heartbeat)
                watched = self._watch(tenant)
                left = beat - (time.monotonic() - quiet_since)
                if watched is None or left <= 0:
                    break
                signal = watched[1]
                signal.event.clear()
                signal.waiting += 1
                try:
                    again = self._watch(tenant)
                    if again is None or again[0] > after:  # committed before the clear
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(signal.event.wait(), min(left, WAKE))
                finally:
                    signal.waiting -= 1
            if gone.is_set():
                break
            try:
                frames, last, first = await run_in_threadpool(self._read, tenant, after)
            except WalTruncated as exc:  # purged under a slow replica: it re-seeds
                await send({"type": "http.response.body", "body": wire.frame(wire.ERROR, error_body(exc))})
                return
            if not frames and self._watch(tenant) is None:
                await asyncio.sleep(POLL * 4)  # nothing to watch without I/O here: read at most every 20 ms
        await send({"type": "http.response.body", "body": b""})

    def _register(self, tenant: str, replica: str, applied: int, headers: Any) -> None:
        with self.pool.tenant(self.root, tenant) as db:
            known = {r["name"]: r for r in registry.replicas(db)}.get(replica)
            if known is None or known["applied"] < applied:
                registry.record_ack(db, replica, applied, headers.get("x-forwarded-for") or headers.get("host"))

    # ------------------------------------------------------------------ acknowledgements, status, snapshot
    async def ack(self, tenant: str, query: dict[str, str], headers: Any, receive: Any, send: Any, rid: str) -> None:
        raw = await read_body(receive, headers, 1 << 16)
        try:
            body = orjson.loads(raw)
            replica, applied = body["replica"], body["applied"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InvalidInput('the body is {"replica": name, "applied": seq}') from None

        def record() -> dict[str, Any]:
            with self.pool.tenant(self.root, tenant) as db:
                return registry.record_ack(db, replica, applied, headers.get("host"))

        await send_json(send, 200, orjson.dumps(await run_in_threadpool(record)), rid)

    async def forget(self, tenant: str, query: dict[str, str], headers: Any, receive: Any, send: Any, rid: str) -> None:
        raw = await read_body(receive, headers, 1 << 16)
        try:
            replica = orjson.loads(raw)["replica"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise InvalidInput('the body is {"replica": name}') from None

        def forget() -> None:
            with self.pool.tenant(self.root, tenant) as db:
                registry.forget(db, replica)

        await run_in_threadpool(forget)
        await send_json(send, 200, orjson.dumps({"forgotten": replica}), rid)

    async def status(self, tenant: str, query: dict[str, str], headers: Any, receive: Any, send: Any, rid: str) -> None:
        def read() -> dict[str, Any]:
            with self.pool.tenant(self.root, tenant) as db:
                return registry.status(db)

        await send_json(send, 200, orjson.dumps(await run_in_threadpool(read)), rid)

    async def snapshot(
        self, tenant: str, query: dict[str, str], headers: Any, receive: Any, send: Any, rid: str
    ) -> None:
        from remlite.ops.backup import backup_to_stream

        handle, name = tempfile.mkstemp(prefix="remlite-snapshot-", suffix=".tar")
        os.close(handle)
        try:

            def write() -> None:
                with self.pool.tenant(self.root, tenant) as db, open(name, "wb") as out:
                    backup_to_stream(db, out)

            await run_in_threadpool(write)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-tar"),
                                    (b"content-length", str(os.path.getsize(name)).encode()),
                                    (b"x-request-id", rid.encode("latin-1"))]})  # fmt: skip
            with open(name, "rb") as source:
                while chunk := await run_in_threadpool(source.read, SNAPSHOT_CHUNK):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            os.unlink(name)


def _int(query: dict[str, str], name: str, default: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise InvalidInput(f"{name} is required (a sequence number)")
        return default
    if not raw.isdigit() or int(raw) >= 2**63:
        raise InvalidInput(f"{name} must be an integer from 0 to 2**63 - 1, got {raw!r}")
    return int(raw)


def _float(query: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be a number of seconds from {low:g} to {high:g}, got {raw!r}")
    return value
