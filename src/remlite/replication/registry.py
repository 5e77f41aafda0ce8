"""What a primary knows of its replicas, and what a replica knows of its primary.

On a primary, each replica that acknowledges what it applied is registered under its name
(`meta` key `replica:<name>`, LOCAL): the lowest applied seq among them is the replica floor
(`remlite.ops.space.registered_floor`), below which a purge keeps the change log (up to its maximum).
A replica that stops acknowledging keeps its registration — the log is kept for it, up to that
maximum — until `forget()`; past the maximum it re-seeds from a snapshot when it returns.

On a replica, `replica_of` (LOCAL) records the primary it follows and what it last heard (the
primary's last seq and clock), so `remlite replication status` can tell the lag without asking.

These are single puts outside the change log (classified LOCAL in `remlite.storage.wal`): they
describe this database's place in a deployment, never its content, and are never replicated.
A read-only handle (a replica's reader process) keeps acknowledgements in memory only.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import orjson

from remlite.errors import InvalidInput, NotFound
from remlite.storage import keyspace

if TYPE_CHECKING:
    from remlite.database import Database

_MAX_NAME = 128
_in_memory: dict[tuple[str, str], dict[str, Any]] = {}  # (database path, replica) on read-only handles
_lock = threading.Lock()


def _store(db: Any) -> Any:
    """The store under a handle (a read-only handle's current database holds it)."""
    return getattr(db, "_db", db)._core.store


def check_name(name: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise InvalidInput(f"a replica name is 1-{_MAX_NAME} printable characters, got {name!r}")
    return name


def record_ack(db: Database, name: str, applied: int, address: str | None = None) -> dict[str, Any]:
    """Register (or refresh) replica `name` as having applied every entry up to `applied`."""
    check_name(name)
    if type(applied) is not int or applied < 0:
        raise InvalidInput(f"applied must be a sequence number >= 0, got {applied!r}")
    if applied > db.last_seq:
        raise InvalidInput(f"replica {name!r} says it applied seq {applied}, but this log ends at {db.last_seq}")
    info = {"name": name, "applied": applied, "seen": time.time(), "address": address}
    store = _store(db)
    if store.read_only:
        with _lock:
            _in_memory[(str(db.path), name)] = info
    else:
        store.cf["meta"].put(keyspace.replica_key(name), orjson.dumps(info))
    return info


def replicas(db: Database) -> list[dict[str, Any]]:
    """Every registered replica: name, applied, seen (unix time), address, lag_entries."""
    found = {}
    for key, value in _store(db).iter_prefix("meta", keyspace.REPLICA_PREFIX):
        found[key[len(keyspace.REPLICA_PREFIX) :].decode()] = orjson.loads(value)
    with _lock:
        for (path, name), info in _in_memory.items():
            if path == str(db.path):
                found[name] = info
    last = db.last_seq
    return [{**info, "lag_entries": max(last - info["applied"], 0)} for _, info in sorted(found.items())]


def forget(db: Database, name: str) -> None:
    """Unregister a replica (one retired for good): the log is no longer kept for it."""
    check_name(name)
    key = keyspace.replica_key(name)
    store = _store(db)
    if store.cf["meta"].get(key) is None:
        raise NotFound(f"no replica {name!r} is registered here", replica=name)
    store.cf["meta"].delete(key)


def replica_of(db: Database) -> dict[str, Any] | None:
    """The primary this database follows and what it last heard, or None (not a replica)."""
    raw = _store(db).cf["meta"].get(keyspace.REPLICA_OF_KEY)
    return orjson.loads(raw) if raw is not None else None


def promote(db: Database) -> dict[str, Any]:
    """Stop being a replica (a failover): forget the primary, so this database purges its own rows
    again and serves writes; its log goes on from its last seq, and other replicas can follow it.
    Stop its follower first. Returns what it followed. NotFound if it was not a replica."""
    following = replica_of(db)
    if following is None:
        raise NotFound("this database is not a replica: nothing to promote")
    _store(db).cf["meta"].delete(keyspace.REPLICA_OF_KEY)
    return {"promoted": True, "was_replica_of": following.get("primary"), "last_seq": db.last_seq}


def note_primary(db: Database, info: dict[str, Any]) -> None:
    _store(db).cf["meta"].put(keyspace.REPLICA_OF_KEY, orjson.dumps(info))


def status(db: Database, now: float | None = None) -> dict[str, Any]:
    """`remlite replication status`: mode (primary, replica or standalone), the log's bounds,
    and for a replica its primary, applied seq and lag (entries, seconds) as last heard; for a
    primary its replicas."""
    now = time.time() if now is None else now
    following = replica_of(db)
    found = replicas(db)
    report: dict[str, Any] = {
        "mode": "replica" if following else "primary" if found else "standalone",
        "tenant": db.tenant,
        "first_seq": db.first_seq,
        "last_seq": db.last_seq,
    }
    if following:
        primary_last = max(following.get("primary_last_seq", 0), db.last_seq)
        behind = primary_last - db.last_seq
        applied_ts = following.get("applied_time")
        lag_seconds = 0.0
        if behind and applied_ts is not None:
            lag_seconds = max(following.get("primary_time", now) - applied_ts, 0.0)
        report.update(
            primary=following.get("primary"),
            primary_tenant=following.get("tenant"),
            name=following.get("name"),
            applied_seq=db.last_seq,
            primary_last_seq=primary_last,
            lag_entries=behind,
            lag_seconds=round(lag_seconds, 3),
            heard_seconds_ago=round(now - following["heard"], 3) if following.get("heard") else None,
            reseeds=following.get("reseeds", 0),
            stopped=following.get("stopped"),  # why the follower stopped for good (None: it did not)
        )
    if found:
        report["replicas"] = [{**r, "seen_seconds_ago": round(now - r["seen"], 3)} for r in found]
    return report
