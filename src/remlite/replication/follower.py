"""The replica's side: follow a primary's change stream and apply it, for as long as asked.

`Follower.run()` is `remlite replicate` and the replication thread of `remlite serve
--replica-of`. It owns the replica's only writable handle (readers of a replica use read-only
handles, `remlite.readonly`), and loops:

1. Ask for the stream from one entry *before* its last: the primary sends that entry again and
   `Database.apply` checks it is the one held here (the same lineage), then goes on.
2. Apply entries in order as they arrive, a chunk at a time (`apply` commits each entry with the
   primary's seq in the same batch as its data: the applied seq is exactly what survived a crash).
3. Acknowledge what it applied (`POST /v1/replication/ack`, at most every `ack_every` seconds and
   when the stream ends), so the primary keeps its log until then.
4. When the connection fails (the primary restarts, a timeout, a broken frame), reconnect after a
   backoff that doubles up to `max_backoff` seconds, from what it has applied.
5. When the primary no longer holds the entries it needs (410: its log was purged past them), or
   this replica is empty of everything but its templates and the primary's log starts later,
   re-seed: fetch a snapshot (`GET /v1/replication/snapshot`, a verified backup), restore it in
   place of the replica's directory, reopen and go on from its seq.

Entries that do not continue this replica's log (another lineage: it was written to directly, or
follows another primary) stop the follower with ChangeLogConflict: nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.errors import RemliteError, ReplicationError, WalTruncated
from remlite.replication import registry, wire
from remlite.serve.keys import request_headers
from remlite.storage.changelog import Entry

if TYPE_CHECKING:
    import httpx

    from remlite.database import Database
    from remlite.runtime import Runtime

log = logging.getLogger("remlite.replication")


@dataclass
class Progress:
    """What a follower has done since it started (also what `on_applied` callbacks see)."""

    applied: int = 0  # entries applied
    connects: int = 0
    reseeds: int = 0
    primary_last_seq: int = 0
    primary_time: float = 0.0
    last_error: str | None = None
    caught_up: threading.Event = field(default_factory=threading.Event)


class Follower:
    """Follows `primary` (a `remlite serve` URL) into the tenant database at `path`/`tenant`.

    `primary_tenant` is the tenant on the primary (default: the same name; with API keys the
    key decides it). `name` identifies this replica to the primary (default: its path).
    `on_applied(entries)` is called after each applied chunk; `on_reseed()` before the
    directory is replaced (a server closes its read-only handles there)."""

    def __init__(
        self,
        primary: str,
        path: str | Path | None = None,
        tenant: str = "default",
        *,
        api_key: str | None = None,
        primary_tenant: str | None = None,
        name: str | None = None,
        heartbeat: float = 1.0,
        ack_every: float = 0.5,
        max_backoff: float = 5.0,
        on_applied: Callable[[list[Entry]], None] | None = None,
        on_reseed: Callable[[], None] | None = None,
        runtime: Runtime | None = None,
        **connect_options: Any,
    ) -> None:
        from remlite.database import _tenant_path

        if not primary.startswith(("http://", "https://")):
            raise ReplicationError(f"the primary is a remlite server URL (http://host:port), got {primary!r}")
        self.primary = primary.rstrip("/")
        self.root, self.path = _tenant_path(path, tenant)
        self.tenant = tenant
        self.primary_tenant = primary_tenant or tenant
        self.name = registry.check_name(name or str(self.path.resolve()))
        self.heartbeat, self.ack_every, self.max_backoff = heartbeat, ack_every, max_backoff
        self.on_applied, self.on_reseed = on_applied, on_reseed
        self.connect_options = connect_options
        self.headers = request_headers(self.primary_tenant, api_key)
        self.progress = Progress()
        self.stopping = threading.Event()
        self.db: Database | None = None
        self.runtime = runtime  # given: the replica is a lease on its pool, shared with a server's readers
        self._lease: Any = None
        self._acked = -1
        self._last_ack = 0.0
        self._noted = 0.0

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Database:
        import remlite

        if self.db is None or self.db.closed:
            if self.runtime is not None:
                self._lease = self.runtime.tenant(self.root, self.tenant, **self.connect_options)
                self.db = self._lease.__enter__()
            else:
                self.db = remlite.connect(self.root, self.tenant, **self.connect_options)
        return self.db

    def close(self, *, evict: bool = False) -> None:
        """Close the replica's handle (with a runtime: end the lease; `evict` also closes the
        pool's handle once its readers are done, before a re-seed replaces the directory)."""
        if self._lease is not None:
            lease, self._lease, self.db = self._lease, None, None
            lease.__exit__(None, None, None)
            if evict and self.runtime is not None:
                self.runtime.evict(self.root, self.tenant)
        elif self.db is not None and not self.db.closed:
            self.db.close()

    def stop(self) -> None:
        self.stopping.set()

    def run(self, follow: bool = True) -> Progress:
        """Catch up with the primary (and with `follow`, keep following until `stop()`).
        Without `follow`, returns once every entry the primary held when it answered is applied."""

        db = self.open()
        known = {k: v for k, v in (registry.replica_of(db) or {}).items() if k != "stopped"}
        registry.note_primary(db, {**known, "primary": self.primary, "tenant": self.primary_tenant, "name": self.name})
        try:
            return self._run(follow)
        except Exception as exc:  # the replica stops: `replication status` says why
            if self.db is not None and not self.db.closed:
                registry.note_primary(self.db, {**(registry.replica_of(self.db) or {}),
                                                "stopped": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            log.error("replica %s stopped: %s", self.name, exc)
            raise

    def _run(self, follow: bool) -> Progress:
        import httpx

        backoff = 0.1
        with httpx.Client(timeout=httpx.Timeout(10.0, read=max(self.heartbeat * 5, 5.0))) as client:
            while not self.stopping.is_set():
                try:
                    done = self._follow_once(client, follow)
                    backoff = 0.1
                    if done:
                        break
                except WalTruncated:
                    self._reseed(client)
                except (httpx.HTTPError, ValueError, OSError, ReplicationError) as exc:
                    if isinstance(exc, ReplicationError) and 400 <= exc.details.get("status", 500) < 500:
                        raise  # refused (a key, a tenant, a request): trying again changes nothing
                    self.progress.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("replica %s: %s; reconnecting in %.1f s", self.name, self.progress.last_error, backoff)
                    self.stopping.wait(backoff * (0.5 + random.random()))
                    backoff = min(backoff * 2, self.max_backoff)
            self._ack(client, force=True)
        return self.progress

    # ------------------------------------------------------------------ one connection
    def _follow_once(self, client: httpx.Client, follow: bool) -> bool:
        """One stream: True when done (caught up without `follow`, or stopping)."""
        db = self.open()
        after = max(db.last_seq - 1, 0)  # one entry of overlap: apply() checks the lineage on it
        try:
            return self._stream(client, after, follow)
        except WalTruncated:
            if after == db.last_seq:
                raise
            return self._stream(client, db.last_seq, follow)  # the overlap itself was purged

    def _stream(self, client: httpx.Client, after: int, follow: bool) -> bool:
        db = self.open()
        params = {"after": after, "replica": self.name, "heartbeat": self.heartbeat}
        self.progress.connects += 1
        with client.stream("GET", f"{self.primary}/v1/changes/stream", params=params, headers=self.headers) as reply:
            if reply.status_code != 200:
                raise error_of(reply.status_code, reply.read())
            reader, target, received = wire.FrameReader(), None, after  # received: the last seq the stream sent
            for chunk in reply.iter_raw():
                pending: list[Entry] = []
                for kind, payload in reader.feed(chunk):
                    if kind == wire.ENTRY:
                        pending.append(Entry.from_bytes(payload))
                    elif kind == wire.HEARTBEAT:
                        beat = wire.parse_json(payload)
                        self.progress.primary_last_seq, self.progress.primary_time = beat["last_seq"], beat["time"]
                        target = beat["last_seq"] if target is None else target
                    elif kind == wire.ERROR:
                        raise error_of(410 if b"wal_truncated" in payload else 502, payload)
                if pending:
                    self._apply(db, pending)  # the overlap entry is checked against ours here
                    received = pending[-1].seq
                if db.last_seq >= self.progress.primary_last_seq:
                    self.progress.caught_up.set()
                self._note(db)
                self._ack(client)
                if self.stopping.is_set() or (not follow and target is not None and received >= target):
                    return True
        return False

    def _apply(self, db: Database, entries: list[Entry]) -> None:
        applied = db.apply(entries)
        self.progress.applied += applied
        if applied and self.on_applied is not None:
            self.on_applied(entries)

    def _note(self, db: Database, force: bool = False) -> None:
        """Persist what this replica last heard, at most once a second (status reads it)."""
        now = time.time()
        if not force and now - self._noted < 1.0:
            return
        self._noted = now
        last = db.changes(db.last_seq - 1, 1) if db.last_seq > db.first_seq else []
        info = registry.replica_of(db) or {}
        info.update(primary=self.primary, tenant=self.primary_tenant, name=self.name, heard=now,
                    primary_last_seq=self.progress.primary_last_seq, primary_time=self.progress.primary_time,
                    applied_time=_epoch(last[-1].ts) if last else None)  # fmt: skip
        registry.note_primary(db, info)

    def _ack(self, client: httpx.Client, force: bool = False) -> None:
        import httpx

        db = self.db
        if db is None or db.closed:
            return
        now = time.monotonic()
        if db.last_seq == self._acked or (not force and now - self._last_ack < self.ack_every):
            return
        try:
            reply = client.post(f"{self.primary}/v1/replication/ack", headers=self.headers,
                                json={"replica": self.name, "applied": db.last_seq})  # fmt: skip
        except httpx.HTTPError as exc:  # the next one will tell; the stream decides about reconnecting
            log.info("replica %s: acknowledgement not delivered (%s)", self.name, exc)
            return
        if reply.status_code == 200:
            self._acked, self._last_ack = db.last_seq, now

    # ------------------------------------------------------------------ re-seed
    def _reseed(self, client: httpx.Client) -> None:
        """Replace this replica with a snapshot of the primary (its log no longer reaches back
        to what this replica holds). The old directory is kept until the new one is in place."""
        from remlite.ops.backup import restore_from_stream

        log.warning("replica %s is behind the primary's log: re-seeding from a snapshot", self.name)
        staging = Path(tempfile.mkdtemp(prefix=".reseed-", dir=self.root))
        try:
            with client.stream("GET", f"{self.primary}/v1/replication/snapshot", headers=self.headers,
                               timeout=None) as reply:  # fmt: skip
                if reply.status_code != 200:
                    raise error_of(reply.status_code, reply.read())
                with ReplyFile(reply.iter_raw()) as stream:
                    restore_from_stream(stream, staging, self.tenant)
            previous = registry.replica_of(self.open()) or {}
            if self.on_reseed is not None:
                self.on_reseed()
            self.close(evict=True)
            old = self.path.with_name(f".{self.path.name}.replaced")
            shutil.rmtree(old, ignore_errors=True)
            self.path.rename(old)
            (staging / self.tenant).rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
            db = self.open()
            self.progress.reseeds += 1
            registry.note_primary(db, {**previous, "reseeds": previous.get("reseeds", 0) + 1})
            log.warning("replica %s re-seeded at seq %d", self.name, db.last_seq)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class ReplyFile:
    """A file-like reader over a response's byte chunks (what `restore_from_stream` reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def __enter__(self) -> ReplyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._buffer.clear()


def error_of(status: int, body: bytes) -> Exception:
    """The primary's error answer as the remlite error it names (decoded as the remote client
    decodes any server error): a refusal (4xx) of the library's own classes as that class, anything
    else a ReplicationError with the status."""
    from remlite.serve.client import error_from

    found = error_from(status, body)
    if status < 500 and type(found) is not RemliteError and type(found).__module__ == "remlite.errors":
        return found
    return ReplicationError(f"the primary answered {status}: {found.message}", status=status)


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@contextlib.contextmanager
def following(primary: str, path: str | Path | None, tenant: str = "default", **options: Any) -> Iterator[Follower]:
    """A follower running in a background thread for the block (tests, benchmarks, servers)."""
    follower = Follower(primary, path, tenant, **options)
    follower.open()
    thread = threading.Thread(target=follower.run, name=f"remlite-replica-{tenant}", daemon=True)
    thread.start()
    try:
        yield follower
    finally:
        follower.stop()
        thread.join(timeout=30)
        follower.close()


def catch_up(primary: str, path: str | Path | None, tenant: str = "default", **options: Any) -> Progress:
    """Apply every entry the primary holds now, then close the replica (`remlite replicate`)."""
    follower = Follower(primary, path, tenant, **options)
    try:
        return follower.run(follow=False)
    finally:
        follower.close()
