"""`Database.check()`: recompute every derived key from the rows and compare with what is stored.

Slow by design (it reads everything); used by the crash and fault-injection tests and `remlite check`.
A damaged database must be reported, never trusted, so every structure derived from the rows is
recomputed here: secondary-index entries (and the row labels they carry), lookup keys, the id
directory, counters, moment spans, edge twins, BM25 postings and their counters, the trigrams of
fuzzy lookup, and the change log's continuity. Vectors and HNSW labels are checked by
`remlite.semantic.check` (passed in as `extra`, so this module needs no numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from remlite import ids as idmod
from remlite.errors import StorageError
from remlite.fuzzy import FuzzyHook
from remlite.moments import span_of
from remlite.records import TableLayout
from remlite.schema.registry import TEXT_PREFIX, Registry
from remlite.storage import codec
from remlite.storage.changelog import Entry
from remlite.storage.engine import Store
from remlite.storage.keyspace import FLOOR_KEY, FUZZY_PREFIX, FUZZY_ROW_TAG, fuzzy_marker_key, span_key

_SHOWN = 20  # problems listed per kind: enough to locate damage without flooding the report


def check_database(
    store: Store,
    registry: Registry,
    layout_of: Callable[[str], TableLayout],
    counts: dict[int, int],
    extra: Iterable[Callable[[], list[str]]] = (),
) -> dict[str, Any]:
    problems: list[str] = []
    expected_index: dict[bytes, bytes] = {}
    expected_keys: set[bytes] = set()
    expected_postings: dict[bytes, bytes] = {}
    text_prefixes: set[bytes] = set()
    grams = _Grams()
    rows_seen = 0
    table_tids = set()
    directory = {rid: entry for rid, entry in store.iter_prefix("ids", b"")}
    for name in registry.names():
        layout = layout_of(name)
        table_tids.add(layout.tid)
        labelled = bool(layout.table.embedding_fields)
        texts = _text_indexes(store, layout)
        text_prefixes.update(index.key_prefix for _parts, index in texts)
        live = 0
        timed, longest = layout.is_moments, 0
        fuzzy = grams.table(store, layout)
        for key, value in store.iter_prefix("rows", layout.tid):
            rows_seen += 1
            rid = key[4:]
            record = orjson.loads(value)
            if timed:
                longest = max(longest, span_of(record))
            if record.get("id") != idmod.to_str(rid):
                problems.append(f"{name}: row key {idmod.to_str(rid)} holds id {record.get('id')}")
            entry = directory.get(rid, b"")
            if entry[:4] != layout.tid:
                problems.append(f"{name}: id {idmod.to_str(rid)} missing from the id directory")
            if record.get("deleted_at"):
                continue
            live += 1
            label = entry[4:12] if labelled else b""
            for index_key in layout.index_keys(record, rid):
                expected_index[index_key] = label
            expected_keys |= layout.lookup_keys(record, rid)
            if entry:
                fuzzy.add(entry, rid, record)
            for parts, index in texts:
                expected_postings.update(index.postings_of(rid, _text(record, parts)))
        if counts.get(layout.table.table_id, 0) != live:
            problems.append(f"{name}: counter says {counts.get(layout.table.table_id, 0)}, rows say {live}")
        span = store.cf["meta"].get(span_key(layout.tid)) if timed else None
        if span is not None and codec.read_u64(span) < longest:
            problems.append(f"{name}: max moment span {codec.read_u64(span)} µs is below a row's {longest} µs")
        for _parts, index in texts:
            problems += index.verify()
    stored_index = dict(store.iter_prefix("index", b""))
    stored_keys = set(store.iter_keys("keys", b"", None))
    if store.encrypted:  # lookup keys are stored blinded (postings and grams say so themselves)
        expected_keys = {store.key_form("keys", key) for key in expected_keys}
    problems += _compare(
        stored_index, expected_index, ("index entry without a live row", "missing index entry", "wrong row label")
    )
    for key in sorted(stored_keys ^ expected_keys)[:_SHOWN]:
        problems.append(f"lookup key mismatch: id {idmod.to_str(key[-16:])}")
    problems += _check_postings(store, expected_postings, text_prefixes)
    fuzzy_entries = grams.check(store, directory, problems)
    rownums = set()
    for entry in directory.values():
        tid = entry[:4]
        rownums.add(entry[4:])
        if tid not in table_tids:
            problems.append(f"id directory points at unknown table {codec.read_u32(tid)}")
    if len(rownums) != len(directory):
        problems.append("two rows share a row number")
    if len(directory) != rows_seen:
        problems.append(f"id directory has {len(directory)} entries for {rows_seen} rows")
    edges = _check_edges(store, directory, problems)
    log_entries = _check_log(store, problems)
    for more in extra:
        problems += more()
    return {
        "ok": not problems,
        "rows": rows_seen,
        "index_entries": len(stored_index),
        "lookup_keys": len(stored_keys),
        "edges": edges,
        "postings": len(expected_postings),
        "fuzzy_entries": fuzzy_entries,
        "log_entries": log_entries,
        "problems": problems,
    }


def _compare(stored: dict[bytes, bytes], expected: dict[bytes, bytes], what: tuple[str, str, str]) -> list[str]:
    """Problems between stored and recomputed `table_id(4) + … + id(16)` keys: (extra, missing,
    wrong value) named by `what`."""
    extra, missing, wrong = what
    wrong_keys = [k for k, v in expected.items() if k in stored and stored[k] != v]
    found = [
        (extra, sorted(stored.keys() - expected.keys())),
        (missing, sorted(expected.keys() - stored.keys())),
        (wrong, sorted(wrong_keys)),
    ]
    return [
        f"{label}: table {codec.read_u32(key)} id {idmod.to_str(key[-16:])}"
        for label, keys in found
        for key in keys[:_SHOWN]
    ]


def _text_indexes(store: Store, layout: TableLayout) -> list[tuple[tuple[str, ...], Any]]:
    if not layout.table.searchable_text_fields:
        return []
    from remlite.text import TextIndex

    table = layout.table
    return [
        (tuple(name.split(".")), TextIndex(store, table.table_id, table.field_ids[TEXT_PREFIX + name]))
        for name in table.searchable_text_fields
    ]


def _text(record: dict[str, Any], parts: tuple[str, ...]) -> str | None:
    from remlite.semantic.text import text_of

    return text_of(record, parts)


def _check_postings(store: Store, expected: dict[bytes, bytes], prefixes: set[bytes]) -> list[str]:
    """Stored postings equal the ones the live rows' text yields, and no postings or counters belong
    to a text index that no table has (a dropped table or field)."""
    stored = dict(store.iter_prefix("postings", b""))
    problems = _compare(
        stored, expected, ("posting without a live row's text", "missing posting", "posting with wrong counts")
    )
    for key in sorted(k for k in store.iter_keys("textstats", b"", None) if k[:6] not in prefixes)[:_SHOWN]:
        problems.append(f"text counters of no text index: table {codec.read_u32(key)} field {key[4:6].hex()}")
    return problems


def _check_log(store: Store, problems: list[str]) -> int:
    """The change log holds every sequence number from its floor to its last entry, each entry names
    its own seq, and none sits below the floor: a gap would make a replica or a catch-up skip a
    change without noticing."""
    raw_floor = store.cf["meta"].get(FLOOR_KEY)
    floor = codec.read_u64(raw_floor) if raw_floor is not None else 1
    expected, entries, reported = floor, 0, 0
    for key, value in store.iter_prefix("wal", b""):
        seq = codec.read_u64(key)
        entries += 1
        if reported >= _SHOWN:
            continue
        if seq != expected:
            problems.append(f"change log: expected seq {expected}, found {seq}")
            reported += 1
        try:
            named: int | None = Entry.from_bytes(value).seq
        except StorageError:
            named = None
        if named != seq:
            problems.append(f"change log: entry at seq {seq} is unreadable or names seq {named}")
            reported += 1
        expected = seq + 1
    return entries


def _check_edges(store: Store, directory: dict[bytes, bytes], problems: list[str]) -> int:
    """Every edges_out key has its edges_in twin and the other way round, and both endpoints of
    every edge are rows (soft-deleted ones count: they keep their edges)."""
    out_keys = set(store.iter_keys("edges_out", b"", None))
    twins = {k[-16:] + k[16:-16] + k[:16] for k in store.iter_keys("edges_in", b"", None)}
    for key in sorted(out_keys - twins)[:_SHOWN]:
        problems.append(f"edge {idmod.to_str(key[:16])} -> {idmod.to_str(key[-16:])} has no edges_in twin")
    for key in sorted(twins - out_keys)[:_SHOWN]:
        problems.append(f"edges_in entry {idmod.to_str(key[-16:])} <- {idmod.to_str(key[:16])} has no edge")
    missing = {n for k in out_keys for n in (k[:16], k[-16:]) if n not in directory}
    for rid in sorted(missing)[:_SHOWN]:
        problems.append(f"edge endpoint {idmod.to_str(rid)} is not a record")
    return len(out_keys)


class _TableGrams:
    """The fuzzy entries a table's live rows should have, as a count and a sum of hashes."""

    def __init__(self, hook: FuzzyHook, complete: bool) -> None:
        self.hook = hook
        self.complete = complete  # its `fuzzy:tid` marker is set
        self.count = 0
        self.digest = 0

    def add(self, entry: bytes, rid: bytes, record: dict[str, Any]) -> None:
        """A live row (`entry`: its id-directory value, tid ‖ rownum)."""
        for item in self.hook.entries(codec.read_u64(entry, 4), rid, record).items():
            self.count += 1
            self.digest += hash(item)


class _Grams:
    """Checks the `fuzzy` family against the live rows without holding its entries: each table's
    expected entries are summed as (count, sum of hashes) while its rows are read, the stored ones
    likewise in one pass over the family (a rownum names its table through the id directory), and
    only a table whose sums differ is compared entry by entry (one more pass, naming the rows). A
    table without its marker (registered before the family existed, not backfilled yet) may lack
    entries, but holds no wrong ones."""

    def __init__(self) -> None:
        self.tables: dict[bytes, tuple[str, _TableGrams]] = {}

    def table(self, store: Store, layout: TableLayout) -> _TableGrams:
        complete = store.cf["meta"].get(fuzzy_marker_key(layout.tid)) is not None
        sums = _TableGrams(FuzzyHook(layout, store), complete)
        self.tables[layout.tid] = (layout.table.name, sums)
        return sums

    def check(self, store: Store, directory: dict[bytes, bytes], problems: list[str]) -> int:
        if "fuzzy" not in store.cf:  # a read-only handle on a database no newer version opened yet
            return 0
        table_of = {entry[4:12]: entry[:4] for entry in directory.values()}  # rownum -> tid
        stored: dict[bytes, list[int]] = {}
        entries = orphans = 0
        for key, value in store.iter_prefix("fuzzy", b""):
            entries += 1
            tid = table_of.get(_rownum(key))
            if tid is None:
                orphans += 1
                continue
            sums = stored.setdefault(tid, [0, 0])
            sums[0] += 1
            sums[1] += hash((key, value))
        if orphans:
            problems.append(f"{orphans} fuzzy entries name no row")
        for key, _ in store.iter_prefix("meta", FUZZY_PREFIX):
            if key[len(FUZZY_PREFIX) :] not in self.tables:
                problems.append(f"fuzzy marker of no table: table {codec.read_u32(key[len(FUZZY_PREFIX) :])}")
        for tid, (name, sums) in self.tables.items():
            count, digest = stored.get(tid, (0, 0))
            if (count, digest) != (sums.count, sums.digest):
                problems += self._differences(store, directory, table_of, tid, name, sums)
        return entries

    def _differences(
        self,
        store: Store,
        directory: dict[bytes, bytes],
        table_of: dict[bytes, bytes],
        tid: bytes,
        name: str,
        sums: _TableGrams,
    ) -> list[str]:
        """The rows whose entries differ, for a table whose sums did not match."""
        expected: dict[bytes, bytes] = {}
        for key, raw in store.iter_prefix("rows", tid):
            record = orjson.loads(raw)
            entry = directory.get(key[4:])
            if record.get("deleted_at") is None and entry is not None:
                expected.update(sums.hook.entries(codec.read_u64(entry, 4), key[4:], record))
        found = {key: value for key, value in store.iter_prefix("fuzzy", b"") if table_of.get(_rownum(key)) == tid}
        wrong = {key for key, value in found.items() if key in expected and expected[key] != value}
        extra = found.keys() - expected.keys()
        missing = expected.keys() - found.keys() if sums.complete else set()
        rid_of = {entry[4:12]: rid for rid, entry in directory.items() if entry[:4] == tid}
        out = []
        labels = ("fuzzy entry without a live row's name or key", "missing fuzzy entry", "wrong fuzzy entry")
        for label, keys in zip(labels, (extra, missing, wrong), strict=True):
            for rownum in sorted({_rownum(key) for key in keys})[:_SHOWN]:
                out.append(f"{label}: {name} id {idmod.to_str(rid_of[rownum])}")
        return out


def _rownum(key: bytes) -> bytes:
    """The rownum (8 bytes) a `fuzzy` key holds: after the tag of a row-naming key, else before
    the gram key's last byte."""
    return key[1:9] if key[:1] == FUZZY_ROW_TAG else key[-9:-1]
