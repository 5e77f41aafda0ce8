"""A digest of everything a database holds that another database of its lineage must hold too.

Replication, backup and restore promise that two databases hold *the same state*: the same rows,
index entries, lookup keys, postings, edges, vectors and counters. Comparing rows through the
public verbs would miss derived state (an index entry a replica failed to write still reads
right through `get`), so the digest hashes the key-value pairs of every column family — except
what is a database's own (`keyspace` classes these shapes LOCAL):

- `meta`: only logged and derived keys (schemas, the table-id counter, live-row counters, spans,
  fuzzy markers); identity, the log's floor, row numbers and any later local key are left out.
- `ids` values and `fuzzy` keys hold local row numbers: the digest takes the table id of an
  `ids` value, and each fuzzy gram entry as (gram, the row it names, grams) instead.
- `vectors` row labels (`r` ‖ rownum) are local labels of the HNSW files: left out.
- `wal`: logs of one lineage hold the same entries from the later of their floors on, but each
  database commits the built-in templates at its own time: the digest takes each entry's
  content without its commit time (`Entry.content`), from `since_seq` on.

A digest is computed under no lock: compare databases that nobody writes to.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from remlite.storage import keyspace
from remlite.storage.changelog import Entry

if TYPE_CHECKING:
    from remlite.database import Database
    from remlite.storage.engine import Store

_META_SHARED = (
    keyspace.SCHEMA_PREFIX,
    keyspace.NEXT_TABLE_KEY,
    keyspace.COUNT_PREFIX,
    keyspace.SPAN_PREFIX,
    keyspace.UPGRADE_PREFIX,
    keyspace.FUZZY_PREFIX,
)
_PLAIN_FAMILIES = ("rows", "keys", "index", "postings", "textstats", "edges_out", "edges_in")


def state_digest(db: Database, *, since_seq: int | None = None) -> dict[str, Any]:
    """{"families": {family: hex digest}, "entries": n, "last_seq": s, "digest": hex of them all}.

    Two databases with equal digests hold the same logged and derived state. `since_seq`: hash
    the change log from this seq on (default: the database's own floor; pass the larger of two
    databases' `first_seq` to compare a truncated log with a full one)."""
    store: Store = db._core.store
    families: dict[str, str] = {}
    for family in _PLAIN_FAMILIES:
        h = hashlib.blake2b(digest_size=16)
        for key, value in store.iter_from(family):
            _feed(h, key, value)
        families[family] = h.hexdigest()
    families["meta"] = _meta(store)
    families["ids"] = _ids(store)
    families["vectors"] = _vectors(store)
    families["fuzzy"] = _fuzzy(store)
    entries, families["wal"] = _wal(store, db.first_seq if since_seq is None else since_seq)
    overall = hashlib.blake2b(
        orjson.dumps(families, option=orjson.OPT_SORT_KEYS) + str(db.last_seq).encode(), digest_size=16
    )
    return {"families": families, "entries": entries, "last_seq": db.last_seq, "digest": overall.hexdigest()}


def _feed(h: Any, key: bytes, value: bytes) -> None:
    h.update(len(key).to_bytes(4, "big"))
    h.update(key)
    h.update(len(value).to_bytes(4, "big"))
    h.update(value)


def _meta(store: Store) -> str:
    h = hashlib.blake2b(digest_size=16)
    for key, value in store.iter_from("meta"):
        if key.startswith(_META_SHARED):
            _feed(h, key, value)
    return h.hexdigest()


def _ids(store: Store) -> str:
    h = hashlib.blake2b(digest_size=16)
    for key, value in store.iter_from("ids"):
        _feed(h, key, value[:4])  # the table id; the row number after it is local
    return h.hexdigest()


def _vectors(store: Store) -> str:
    h = hashlib.blake2b(digest_size=16)
    for key, value in store.iter_from("vectors"):
        if not key.startswith(keyspace.ROW_LABEL_TAG):
            _feed(h, key, value)
    return h.hexdigest()


def _fuzzy(store: Store) -> str:
    rows = dict(store.iter_prefix("fuzzy", keyspace.FUZZY_ROW_TAG))  # rownum key -> tid ‖ id
    grams = []
    for key, _ in store.iter_from("fuzzy", keyspace.FUZZY_ROW_TAG + b"\xff" * 9):
        gram, rest = key.split(keyspace.GRAM_SEP, 1)
        named = rows.get(keyspace.FUZZY_ROW_TAG + rest[:8], b"?")
        grams.append(gram + b"\x00" + named + rest[8:])
    h = hashlib.blake2b(digest_size=16)
    for item in sorted(grams):
        _feed(h, item, b"")
    for named in sorted(rows.values()):
        _feed(h, named, b"")
    return h.hexdigest()


def _wal(store: Store, since_seq: int) -> tuple[int, str]:
    h = hashlib.blake2b(digest_size=16)
    count = 0
    for key, value in store.iter_from("wal", keyspace.wal_key(max(since_seq, 0))):
        entry = Entry.from_bytes(value)
        h.update(orjson.dumps(_plain(entry.content()), option=orjson.OPT_SORT_KEYS))
        count += 1
        del key
    return count, h.hexdigest()


def _plain(value: Any) -> Any:
    """`Entry.content()` as JSON: its sections are bytes (hashed by hex)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hashlib.blake2b(bytes(value), digest_size=16).hexdigest()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
