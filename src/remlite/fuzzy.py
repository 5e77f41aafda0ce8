"""Fuzzy lookup of records by name or natural key, through character trigrams in the `fuzzy` family.

`Database.lookup(key, fuzzy=True)` finds the person "Alice Johnson" from "Alise", "alice jonson"
or "johnson", the ticket "TAP-1234" from "tap 1234", the carrier "DHL" from "dhl" — through an
index of trigrams, never a scan of the rows.

**What is indexed.** A record's lookup strings are the ones exact `lookup()` knows it by
(`remlite.records.TableLayout.lookup_keys` / `key_values`): its single-field natural key when that
is a string, and its `name` when that is a string. The first part of a composite key (a resource
chunk's uri) is left out: every chunk of a file shares it, and exact lookup finds them by it.

**Normalisation** (`words`). NFKC and casefold (plain `lower()` for ASCII, where they agree), then
the words: the runs of letters and digits; everything else only separates words. A record's
normalised string is its words joined by single spaces ("TAP-1234" -> "tap 1234"); its compact form
drops the spaces too ("tap1234"), so "TAP-1234", "tap 1234" and "Tap.1234" score as the same string,
while the words keep a name's boundaries, so "johnson" can match one word of "Alice Johnson".

**Grams** (`grams`). The 3-character windows of the normalised string padded with one space at both
ends: " al", "ali", "lic", "ice", "ce ", "e j", " jo", ... for "alice johnson". A window across a
space keeps the words' order, and a query without the space ("tap1234") still shares most windows
with "tap 1234". PostgreSQL's pg_trgm also pads with two leading spaces ("  a"): that gram says only
which letter a word starts with, is held by a large share of all records and would be the longest
list most queries read, so it is left out. Two variants were measured and dropped: the grams of the
compact form as well (15% more entries; of 100 names with one letter replaced, or two swapped, among
100k people, 98 and 98 found instead of 96 and 93), and only every second window (half the entries,
but 56 and 40 found).

**Layout** (`remlite.storage.keyspace`): one key per (gram, record), `gram(UTF-8) ‖ 0x00 ‖ rownum ‖ n`
with no value, and one `0x01 ‖ rownum` key per record whose value names its row (`tid ‖ id`).
`rownum` is the row's number from the id directory (local, never reused, and ascending in a bulk
load: a gram's entries then differ in their last byte or two, which RocksDB's key prefix encoding
stores once); `n` is the record's count of distinct grams (capped at 255), which ranks candidates
without a value. A gram holds only letters, digits and spaces, so a gram's records are one prefix
scan. The layout first tried, `gram ‖ 0x00 ‖ tid ‖ id` with the record's normalised strings as each
entry's value (so scoring a candidate needs no row), took a 1M-entity bulk load (benchmarks/crud.py
entities) from 20 s to 43 s and its directory from 276 to 574 MB; this one from 20 s to 40-43 s
and 368 MB (2 shared cores). What is left is a cost a key: building and putting it (a bulk write
builds its keys with numpy, `_ascii_keys`) and RocksDB flushing and compacting it; see RESULTS.md.

**Writes.** `FuzzyHook` is a write hook (`remlite.hooks`) of every table, built by the hook factory
`TenantCore` registers first: a chunk's entries go into the chunk's own WriteBatch, new rows' in key
order (`FuzzyHook._bulk`). A version that replaces a live one is diffed against it (entries it no
longer has are deleted; when its strings did not change nothing is written); a soft or hard delete
of a live row deletes its entries, so a deleted record is never found. `apply()` replays through the
same write path and hooks, so a replica has the same entries under its own rownums; a table's drop
deletes its rows' entries (`SchemaAdmin.drop_table`).

**Completeness.** Meta `fuzzy:tid` says every live row of a table has its entries: it is written in
the batch that registers a new table, so tables registered since this index exists are complete
from their first row. A table registered before has rows without entries: the first fuzzy lookup
backfills it (`backfill`) and sets the marker. The backfill reads and writes one chunk of rows at a
time under the tenant's write lock, so no write interleaves between reading a row and writing its
entries; between chunks, writes go on and keep their rows' entries through the hook (a row already
backfilled is diffed against its previous version; a row not reached yet is read again, as it is
then, when its chunk comes). Its batches are derived writes outside the change log (classified in
`remlite.storage.wal`). A read-only handle cannot backfill: it scores the rows of such a table
directly (`FuzzyIndex._scan`), slower but the same answer.

**A lookup** (`FuzzyIndex.lookup`). The query's grams are read round-robin, `_STEP` keys of each
list at a time, so short (selective) lists end first. Reading stops once so many lists are complete
that every record sharing at least `_SHARE` of the query's grams is in one of them, or once every
list left has passed `_LONG` keys (common grams, which say least), or after `_BUDGET` keys. The
records of the complete lists are ranked by a weighted Dice coefficient: each shared gram weighs its
rarity (inverse document frequency), against the query's grams and the record's `n`. The best
`_FIRST` are fetched (two multi-gets: the rownum's row, then the row) and scored with rapidfuzz
(`Query.score`), then more a page at a time until `limit` records reach `min_score`."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict, deque
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any

import orjson
from rocksdict import ReadOptions

from remlite.errors import InvalidInput, StorageError, shown
from remlite.records import get_path
from remlite.storage import codec
from remlite.storage.codec import prefix_end
from remlite.storage.keyspace import FUZZY_ROW_TAG, GRAM_SEP, fuzzy_marker_key, table_prefix

if TYPE_CHECKING:
    from rocksdict import WriteBatch

    from remlite.core import TenantCore
    from remlite.hooks import RowChunk, RowDeletion
    from remlite.records import TableLayout
    from remlite.storage.engine import Store

MIN_SCORE = 0.6  # a typo in a 5-letter name (0.8), a word of a longer name (0.9), "jonh" for "john" (0.75)
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
PARTIAL = 0.9  # the query matches some of the record's words ("johnson" in "Alice Johnson")
REORDERED = 0.95  # the query's words match all of the record's words, in another order or form
_STEP = 256  # keys read from one gram's list per round
_LONG = 2_048  # a list read this far without its end is left (a common gram) once another has ended
_SHARE = 0.4  # a record sharing this part of the query's grams is always met (within the budget)
_BUDGET = 60_000  # keys read at most per lookup: a bound for a query made of very common grams
_KEEP = 0.3  # candidates sharing less than this part of the best candidate's gram weight are not ranked
_FIRST = 200  # the best ranked candidates fetched and scored first (at least; 5 x limit when more)
_PAGE = 100  # then a page at a time, until `limit` records reach `min_score`
_SCORED = 1_000  # candidates scored at most per lookup
# Rows in a chunk from which its keys are built with numpy: per row, numpy 10.2 µs against 21.0 for
# the Python loop at 32 rows (8.7 against 21.4 at 64; even at ~6-8). An import writes ~100-row chunks
# (one per `modified_at` of the file's rows), which 256 left to the loop.
_VECTORISED = 32
_INDEXED = 64  # characters of a string indexed (its grams: at most 66 entries)
_BACKFILL_CHUNK = 2_000  # rows per backfill batch (the write lock is held for one chunk)

_WORD = re.compile(r"[^\W_]+")
_COUNT = [bytes((i,)) for i in range(256)]  # `n`, the last byte of a gram key


def words(text: str) -> list[str]:
    """The normalised words of a string: NFKC, casefold, runs of letters and digits."""
    if text.isascii():
        return _WORD.findall(text.lower())
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _WORD.findall(folded)


def grams(form: str) -> set[bytes]:
    """The grams (UTF-8) of a normalised string (words joined by single spaces): the 3-character
    windows of the string padded with a space at both ends. A window across a space ("p 1" of
    "tap 1234") keeps the words' order and adjacency, so "tap1234" still shares most of its grams
    with "TAP-1234" (" ta", "tap", "123", "234", "34 ")."""
    if form.isascii():  # a byte a character: slice the bytes
        padded = f" {form} ".encode()
        return {padded[i : i + 3] for i in range(len(padded) - 2)}
    text = f" {form} "
    return {text[i : i + 3].encode() for i in range(len(text) - 2)}


def record_grams(forms: tuple[str, ...]) -> set[bytes]:
    """The grams a record is indexed under: those of its strings' first `_INDEXED` characters (a
    long name costs no more entries than that; it is still scored whole)."""
    if len(forms) == 1:
        return grams(forms[0][:_INDEXED])
    return set().union(*(grams(form[:_INDEXED]) for form in forms))


def _ascii_keys(rows: list[tuple[int, tuple[str, ...]]]) -> list[bytes]:
    """The gram keys of many records whose strings are ASCII (a gram is then 3 bytes), sorted,
    built with numpy over all of them at once: the same keys as `FuzzyHook.keys`, at about half
    the cost a row (every window as a 24-bit code, duplicates within a record dropped and the
    rest ordered by (gram, rownum) by one `np.unique`, the keys cut from one buffer)."""
    import numpy as np

    padded = [f" {form[:_INDEXED]} ".encode() for _, forms in rows for form in forms]
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), [len(forms) for _, forms in rows])
    sizes = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    windows = sizes - 2
    data = np.frombuffer(b"".join(padded), dtype=np.uint8)
    firsts = np.repeat(np.cumsum(sizes) - sizes - (np.cumsum(windows) - windows), windows)
    at = np.arange(int(windows.sum()), dtype=np.int64) + firsts  # each window's first byte in `data`
    codes = (data[at].astype(np.uint64) << 16) | (data[at + 1].astype(np.uint64) << 8) | data[at + 2]
    # rows are in rownum order, so (gram, row index) orders as (gram, rownum); a repeat is dropped
    pairs = np.sort((codes << np.uint64(32)) | np.repeat(owner, windows).astype(np.uint64))
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    code, row = pairs >> np.uint64(32), (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
    counts = np.minimum(np.bincount(row, minlength=len(rows)), 255).astype(np.uint8)
    rownums = np.fromiter((rownum for rownum, _ in rows), dtype=np.uint64, count=len(rows))
    keys = np.zeros((len(code), 13), dtype=np.uint8)
    keys[:, 0], keys[:, 1], keys[:, 2] = (
        code >> np.uint64(16),
        (code >> np.uint64(8)) & np.uint64(255),
        code & np.uint64(255),
    )
    keys[:, 4:12] = rownums[row].astype(">u8").view(np.uint8).reshape(-1, 8)
    keys[:, 12] = counts[row]
    raw = keys.tobytes()
    return [raw[i : i + 13] for i in range(0, len(raw), 13)]


class LookupStrings:
    """Which strings of a table's records are looked up: the single-field natural key (a string)
    and `name` (a string), as `TableLayout.lookup_keys` and `key_values` read them."""

    __slots__ = ("key_parts",)

    def __init__(self, layout: TableLayout) -> None:
        self.key_parts = layout.key_parts[0] if len(layout.key_parts) == 1 else None

    def forms(self, record: dict[str, Any] | None) -> tuple[str, ...]:
        """The record's normalised strings (words joined by spaces), distinct, key first; empty
        when it has none (or is None)."""
        if record is None:
            return ()
        parts = self.key_parts
        key = None
        if parts is not None:
            key = record.get(parts[0]) if len(parts) == 1 else get_path(record, parts)
        name = record.get("name")
        out: tuple[str, ...] = ()
        if type(key) is str and key:
            form = " ".join(words(key))
            out = (form,) if form else ()
        if type(name) is str and name and name != key:
            form = " ".join(words(name))
            if form and form not in out:
                out += (form,)
        return out


class FuzzyHook:
    """Keeps a table's grams in the row's own batch (see the module docstring)."""

    def __init__(self, layout: TableLayout, store: Store) -> None:
        self.strings = LookupStrings(layout)
        self.tid = layout.tid
        self.store = store  # not its families: a held handle keeps RocksDB's lock after close

    @staticmethod
    def keys(rownum: int, forms: tuple[str, ...]) -> list[bytes]:
        """The gram keys of a record with these normalised strings."""
        if not forms:
            return []
        found = record_grams(forms)
        end = GRAM_SEP + codec.u64(rownum) + _COUNT[min(len(found), 255)]
        return [gram + end for gram in found]

    def write(self, chunk: RowChunk) -> None:
        handle = self.store.handle["fuzzy"]
        batch, previous, labels, forms_of, keys, tid = (
            chunk.batch, chunk.previous, chunk.labels, self.strings.forms, self.keys, self.tid,
        )  # fmt: skip
        put, pack = batch.put, codec.u64
        if previous is None:  # new rows only (a bulk load): nothing to diff
            self._bulk(chunk, handle)
            return
        for position, (rid, record) in enumerate(zip(chunk.rid_list, chunk.records, strict=True)):
            old = previous[position]
            before = forms_of(old) if old is not None and not old.get("deleted_at") else ()
            after = forms_of(record)
            if before == after:
                continue  # its grams are as they were (a soft-deleted row's went with its delete)
            rownum = labels[rid]
            new = keys(rownum, after)
            for key in set(keys(rownum, before)).difference(new):
                batch.delete(key, handle)
            for key in new:
                put(key, b"", handle)
            if after:
                put(FUZZY_ROW_TAG + pack(rownum), tid + rid, handle)
            else:
                batch.delete(FUZZY_ROW_TAG + pack(rownum), handle)

    def _bulk(self, chunk: RowChunk, handle: Any) -> None:
        """New rows: their entries put in key order, gram by gram, each gram's in rownum order.

        RocksDB inserts ascending keys into its memtable much faster than scattered ones (1.4 s
        less for 100k rows of 13 grams). A chunk of `_VECTORISED` rows or more builds its keys
        with numpy (`_ascii_keys`), which also sorts them; a smaller one groups them by gram."""
        put, pack, labels, forms_of, tid = chunk.batch.put, codec.u64, chunk.labels, self.strings.forms, self.tid
        rows = sorted(zip(chunk.rid_list, chunk.records, strict=True), key=lambda row: labels[row[0]])
        named: list[tuple[bytes, bytes]] = []
        ascii_rows: list[tuple[int, tuple[str, ...]]] = []
        by_gram: defaultdict[bytes, list[bytes]] = defaultdict(list)
        vectorised = len(rows) >= _VECTORISED
        for rid, record in rows:
            forms = forms_of(record)
            if not forms:
                continue
            rownum = labels[rid]
            named.append((FUZZY_ROW_TAG + pack(rownum), tid + rid))
            if vectorised and all(map(str.isascii, forms)):
                ascii_rows.append((rownum, forms))
                continue
            found = record_grams(forms)
            end = GRAM_SEP + pack(rownum) + _COUNT[min(len(found), 255)]
            for gram in found:
                by_gram[gram].append(gram + end)
        if ascii_rows:  # put in one C loop (a Python loop costs as much again as the puts)
            deque(map(put, _ascii_keys(ascii_rows), repeat(b""), repeat(handle)), maxlen=0)
        for gram in sorted(by_gram):
            for key in by_gram[gram]:
                put(key, b"", handle)
        for key, value in named:
            put(key, value, handle)

    def delete(self, deletion: RowDeletion) -> None:
        if deletion.live:  # a soft-deleted row's grams went with its soft delete
            self.delete_ops(deletion.batch, deletion.rownum, deletion.record)

    def delete_ops(self, batch: WriteBatch, rownum: int, record: dict[str, Any]) -> None:
        """Delete the entries of a live record (a delete, or a dropped table's rows)."""
        forms = self.strings.forms(record)
        if forms:
            handle = self.store.handle["fuzzy"]
            for key in self.keys(rownum, forms):
                batch.delete(key, handle)
            batch.delete(FUZZY_ROW_TAG + codec.u64(rownum), handle)

    def entries(self, rownum: int, rid: bytes, record: dict[str, Any]) -> dict[bytes, bytes]:
        """Every entry a live record has: its gram keys and the key naming its row (with values)."""
        forms = self.strings.forms(record)
        if not forms:
            return {}
        out = dict.fromkeys(self.keys(rownum, forms), b"")
        out[FUZZY_ROW_TAG + codec.u64(rownum)] = self.tid + rid
        if self.store.encrypted:  # as stored: grams blinded
            return {self.store.key_form("fuzzy", key): value for key, value in out.items()}
        return out


def fuzzy_hook(store: Store, layout: TableLayout) -> FuzzyHook:
    """The hook factory: every table gets one (a record may carry a `name` its schema leaves open)."""
    return FuzzyHook(layout, store)


def backfill(core: TenantCore, table: str) -> bool:
    """Write the grams of a table registered before the `fuzzy` family existed, then its marker.

    One chunk of rows at a time, each read and written under the write lock (see the module
    docstring for why concurrent writes stay correct). Returns False when the table was dropped or
    replaced meanwhile (then no marker is written)."""
    store = core.store
    tid = table_prefix(core.registry.get(table).table_id)
    start: bytes | None = None
    while True:
        with core.write_lock:
            if table not in core.registry or table_prefix(core.registry.get(table).table_id) != tid:
                return False
            if start is None and store.cf["meta"].get(fuzzy_marker_key(tid)) is not None:
                return True  # another thread's lookup built it meanwhile
            hook = FuzzyHook(core.layout(table), store)
            handle = store.handle["fuzzy"]
            batch = store.batch()
            rows = list(islice(store.iter_prefix("rows", tid, start), _BACKFILL_CHUNK))
            live = [(key[4:], record) for key, raw in rows if (record := orjson.loads(raw)).get("deleted_at") is None]
            directory = store.cf["ids"][[rid for rid, _ in live]] if live else []
            for (rid, record), entry in zip(live, directory, strict=True):
                if entry is not None:
                    for key, value in hook.entries(codec.read_u64(entry, 4), rid, record).items():
                        batch.put(key, value, handle)
            finished = len(rows) < _BACKFILL_CHUNK
            if finished:
                batch.put(fuzzy_marker_key(tid), b"1", store.handle["meta"])
            store.write(batch)
            if finished:
                return True
        start = rows[-1][0] + b"\x00"


class Query:
    """A lookup string normalised, its grams, and the scorer of records against it.

    A record's score is the best over its strings of: the similarity (rapidfuzz `fuzz.ratio`, an
    Indel distance normalised to [0, 1]) of the two compact forms — 1.0 exactly when they normalise
    alike — and a word-aware score: each query word's best similarity to one of the string's words,
    weighted by the word's length, times `PARTIAL` when the record has words the query left out, or
    `REORDERED` when it has none left. Only an exact match (modulo case, punctuation and spacing)
    scores 1.0."""

    def __init__(self, text: str) -> None:
        from rapidfuzz import fuzz

        self._ratio = fuzz.ratio
        self.words = words(text)
        self.compact = "".join(self.words)
        self.grams = sorted(grams(" ".join(self.words))) if self.words else []
        self._weights = [len(w) for w in self.words]
        self._total = sum(self._weights)
        self._scores: dict[tuple[str, ...], float] = {}

    def score(self, forms: tuple[str, ...]) -> float:
        """The score of a record's normalised strings (cached: records sharing a name are scored once)."""
        found = self._scores.get(forms)
        if found is None:
            found = self._scores[forms] = max((self._score_form(form) for form in forms), default=0.0)
        return found

    def _score_form(self, form: str) -> float:
        ratio = self._ratio
        parts = form.split(" ")
        best = ratio(self.compact, "".join(parts)) / 100
        if len(parts) > 1 or len(self.words) > 1:
            matched = sum(
                weight * max(ratio(word, part) for part in parts)
                for word, weight in zip(self.words, self._weights, strict=True)
            )
            factor = REORDERED if len(self.words) >= len(parts) else PARTIAL
            best = max(best, matched / self._total / 100 * factor)
        return best


def check_options(limit: Any, min_score: Any) -> None:
    """InvalidInput naming the argument when `limit` or `min_score` is out of range."""
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, got {shown(limit)}")
    if type(min_score) not in (int, float) or not 0 <= min_score <= 1:
        raise InvalidInput(f"min_score must be a number from 0 to 1, got {shown(min_score)}")


_Scored = tuple[float, int, bytes, dict[str, Any]]  # (score, length of its strings, row key, record)


class _GramList:
    """The records holding one gram, read a step at a time through rocksdict's own key iterator
    (no Python frame per key: half the cost of a raw iterator's key()/next() here). That iterator
    ends silently on a read error, so where it ends is checked with a raw one (`_check_end`)."""

    __slots__ = ("_cut", "_end", "_keys", "_options", "_store", "done", "prefix", "suffixes")

    def __init__(self, store: Store, gram: bytes) -> None:
        self.prefix = store.prefix_form("fuzzy", gram + GRAM_SEP)  # blinded in an encrypted database
        self._cut, self._store = len(self.prefix), store
        self._end = prefix_end(self.prefix)
        self._options = ReadOptions()  # kept: rocksdict does not keep the upper bound's bytes alive
        self._options.set_verify_checksums(True)
        self._options.set_iterate_upper_bound(self._end)
        self._keys = iter(store.cf["fuzzy"].keys(from_key=self.prefix, read_opt=self._options))
        self.suffixes: list[bytes] = []  # rownum ‖ n of each record read so far
        self.done = False

    def read(self, count: int) -> int:
        """Read up to `count` more records; returns how many."""
        cut = self._cut
        found = [key[cut:] for key in islice(self._keys, count)]
        self.suffixes += found
        if len(found) < count:
            self.done = True
            self._check_end()
        return len(found)

    def _check_end(self) -> None:
        """Raise StorageError unless the list really ends here (not at a corrupt block)."""
        it = self._store.iterator("fuzzy")
        it.seek(self.prefix + self.suffixes[-1] + b"\x00" if self.suffixes else self.prefix)
        following = it.key()
        if following is None:
            self._store.check_iterator(it, "fuzzy")
        elif following < self._end:
            raise StorageError(f"reading the fuzzy index of {self._store.path} stopped early (a read error)")


class FuzzyIndex:
    """The read side: candidates from the grams, ranked, fetched and scored (module docstring)."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core
        self._complete: set[bytes] = set()  # tids whose marker was seen (only a drop removes one)
        self._strings: dict[bytes, LookupStrings] = {}  # by tid

    def lookup(self, text: str, limit: int, min_score: float, exact: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Live records whose key or name is like `text`, best first, each with `_table` and
        `_score`; `exact` (the exact lookup's records) come first, scored 1.0."""
        out = [{**record, "_score": 1.0} for record in exact[:limit]]
        query = Query(text)
        if len(out) >= limit or not query.grams:
            return out
        taken = {record["id"] for record in exact}
        indexed, unindexed = self._tables()
        skip = {layout.tid for layout in unindexed}  # scored by a scan of their rows instead
        scored: list[_Scored] = []
        if indexed:
            scored = self._score(query, self._candidates(query), limit, min_score, taken, skip)
        for layout in unindexed:
            scored += self._scan(layout, query, min_score, taken)
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        table_name = self.core.table_name
        for score, _, key, record in scored[: limit - len(out)]:
            out.append({**record, "_table": table_name(key), "_score": round(score, 4)})
        return out

    def _tables(self) -> tuple[bool, list[TableLayout]]:
        """(whether any table's grams are complete, the layouts of tables whose grams are not and
        cannot be made so here: a read-only handle). Backfills a table the first time it is met."""
        core = self.core
        store = core.store
        meta = store.cf["meta"]
        has_family = "fuzzy" in store.cf
        complete, pending = self._complete, []
        for name in core.registry.names():
            tid = table_prefix(core.registry.get(name).table_id)
            if tid in complete:
                continue
            marked = has_family and meta.get(fuzzy_marker_key(tid)) is not None
            if marked or (not store.read_only and backfill(core, name)):
                complete.add(tid)
            elif name in core.registry:
                pending.append(core.layout(name))
        return bool(complete) and has_family, pending

    def _candidates(self, query: Query) -> list[bytes]:
        """Record suffixes (rownum ‖ n) met in the query's gram lists, best ranked first."""
        store = self.core.store
        lists = [_GramList(store, gram) for gram in query.grams]
        enough = len(lists) - max(1, math.ceil(len(lists) * _SHARE)) + 1  # complete lists no such record avoids
        partial = list(lists)  # lists not read to their end
        complete: list[_GramList] = []
        read = 0
        while partial:
            for entries in tuple(partial):
                read += entries.read(_STEP)
                if entries.done:
                    partial.remove(entries)
                    complete.append(entries)
            if len(complete) >= enough or read >= _BUDGET:
                break
            if complete and all(len(entries.suffixes) >= _LONG for entries in partial):
                break  # the lists left are common grams, which say little
        if not complete:  # the budget ran out first: rank by what was read
            complete, partial = partial, []
        # A shared gram weighs its rarity (inverse document frequency): a common one (" jo") says
        # less than a rare one ("ylb"); a list left unread holds at least what was read of it.
        records = max(sum(self.core.counts.values()), 1)
        weight = {id(entries): math.log(1 + records / max(len(entries.suffixes), 1)) for entries in lists}
        shared: dict[bytes, float] = {}
        for entries in complete:
            w, get = weight[id(entries)], shared.get
            for suffix in entries.suffixes:
                shared[suffix] = get(suffix, 0.0) + w
        if not shared:
            return []
        cutoff = max(shared.values()) * _KEEP
        pool = [suffix for suffix, w in shared.items() if w >= cutoff]
        # weighted Dice: what the query and the record share, against both their grams (a record's
        # own grams weighed as the query's are on average)
        total = sum(weight.values())
        mean = total / len(lists)
        pool.sort(key=lambda suffix: -shared[suffix] / (total + suffix[-1] * mean))
        return pool

    def _score(
        self, query: Query, candidates: list[bytes], limit: int, min_score: float, taken: set[str], skip: set[bytes]
    ) -> list[_Scored]:
        """Fetch and score the best candidates, then more a page at a time until `limit` records
        reach `min_score`."""
        store = self.core.store
        names, rows, loads, score = store.cf["fuzzy"], store.cf["rows"], orjson.loads, query.score
        found: list[_Scored] = []
        start, page = 0, max(_FIRST, 5 * limit)
        while start < min(len(candidates), _SCORED):
            batch = candidates[start : start + page]
            start, page = start + page, max(_PAGE, 5 * limit)
            named = names[[FUZZY_ROW_TAG + suffix[:8] for suffix in batch]]
            keys = [key for key in named if key is not None and key[:4] not in skip]
            for key, raw in zip(keys, rows[keys], strict=True):
                if raw is None:
                    continue
                record = loads(raw)
                if record.get("deleted_at") is not None or record["id"] in taken:
                    continue
                forms = self._forms(key, record)
                s = score(forms)
                if s >= min_score:
                    found.append((s, sum(map(len, forms)), key, record))
            if len(found) >= limit:
                break
        return found

    def _forms(self, key: bytes, record: dict[str, Any]) -> tuple[str, ...]:
        tid = key[:4]
        strings = self._strings.get(tid)
        if strings is None:
            strings = self._strings[tid] = LookupStrings(self.core.layout(self.core.table_name(tid)))
        return strings.forms(record)

    def _scan(self, layout: TableLayout, query: Query, min_score: float, taken: set[str]) -> list[_Scored]:
        """Score every live row of a table whose grams are incomplete (a read-only handle on a
        database written before the index existed, whose writer has not backfilled it yet)."""
        strings = LookupStrings(layout)
        found: list[_Scored] = []
        for key, raw in self.core.store.iter_prefix("rows", layout.tid):
            record = orjson.loads(raw)
            if record.get("deleted_at") is not None or record["id"] in taken:
                continue
            forms = strings.forms(record)
            if forms:
                s = query.score(forms)
                if s >= min_score:
                    found.append((s, sum(map(len, forms)), key, record))
        return found
