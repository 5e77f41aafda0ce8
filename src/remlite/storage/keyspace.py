"""The key space: every column family and every key shape of a remlite database, in one place.

This docstring is the on-disk layout reference (format version 1; docs/architecture.md mirrors it).
Nothing here may change a byte: databases written before must open unchanged, so a new shape is
added, an existing one never altered. Each shape is classed by how another database of the same
lineage gets it (see `remlite.storage.wal` for writes outside the log, `remlite.storage.changelog` for
the entries):
    LOGGED   carried by change-log entries; `Database.apply()` writes it from them.
    DERIVED  recomputed from logged state by the write path (index entries, lookup keys, postings,
             counters, the twin of an edge; HNSW files outside RocksDB), never read from the log.
    LOCAL    this database's own and meaningless elsewhere (identity, log floor, row numbers).

`tid` is a table id as 4 big-endian bytes (`table_prefix`), `id`/`rid` a 16-byte row id, `rownum`
a never-reused u64 labelling a row in vector indexes, `encode` the order-preserving codec of
`remlite.storage.codec` (self-delimiting, so tuples are concatenations).

    family     key                                            value                              class
    meta       format_version                                 decimal text                       LOCAL
               initialised                                    b"1" (built-in templates done)     LOCAL
               wal_floor                                      u64, the first kept log seq        LOCAL
               database_id                                    hex text (binds HNSW files)        LOCAL
               next_rownum                                    u64                                LOCAL
               encrypted                                      b"1" (a passphrase is needed)      LOCAL
               data_key                                       wrapped data key (orjson)          LOCAL
               maintained_at                                  u64 seconds, last `maintain` run   LOCAL
               replica:<name UTF-8>                           orjson {applied, seen, address}    LOCAL
               replica_of                                     orjson {primary, tenant, name, ...} LOCAL
               schema:<table name UTF-8>                      TableSchema (orjson)               LOGGED
               next_table_id                                  u32                                LOGGED
               count:tid                                      u64 live rows                      DERIVED
               moments_max_span:tid                           u64 µs, longest moment             DERIVED
               upgrading:tid                                  index prefixes being backfilled    DERIVED
               fuzzy:tid                                      b"1" (the table's grams complete)  DERIVED
    rows       tid ‖ id                                       record (orjson)                    LOGGED
    ids        id                                             tid ‖ rownum(8)                    DERIVED
    keys       encode(key or name) ‖ tid ‖ id                 ∅ (global natural-key lookup)      DERIVED
    index      tid ‖ field_id(2) ‖ encode(value) ‖ id         ∅                                  DERIVED
    wal        seq(8)                                         change entry (changelog codec)     LOGGED
    vectors    b"v" ‖ tid ‖ encode(field) ‖ version(4) ‖ id   float32 vector bytes               LOGGED
               b"c" ‖ tid ‖ encode(field)                     orjson {provider, model, ...}      LOGGED
               b"r" ‖ rownum(8)                               tid ‖ id (HNSW label -> row)       DERIVED
    postings   tid ‖ field_id(2) ‖ term(UTF-8) ‖ 0x00 ‖ id    tf(u16) ‖ doc_len(u32)             DERIVED
    textstats  tid ‖ field_id(2)                              tokenizer(u8) ‖ docs(u64) ‖ tokens(u64) DERIVED
    edges_out  src(16) ‖ encode(type) ‖ dst(16)               orjson {properties, created_at}    LOGGED
    edges_in   dst(16) ‖ encode(type) ‖ src(16)               ∅ (the twin of edges_out)          DERIVED
    fuzzy      gram(UTF-8) ‖ 0x00 ‖ rownum(8) ‖ n(1)          ∅ (n: the record's grams, ≤ 255)   DERIVED
               0x01 ‖ rownum(8)                               tid ‖ id (the row a rownum names)  DERIVED

The `ids` value, the `r` labels and the `fuzzy` keys hold a local rownum: replay writes them
through the same write path, which assigns rownums of its own. Terms are runs of letters and digits
(`remlite.text.analyzer`), so they never contain 0x00 and a term's postings are one prefix scan; ids
are fixed-size, so an edge key splits as key[:16], key[16:-16], key[-16:]. A `fuzzy` gram is 3
characters of letters, digits and spaces (`remlite.fuzzy`), so it starts at 0x20 or above and never
contains 0x00: a gram's records are one prefix scan, in rownum order (a bulk load's entries share
all but a byte or two of their keys, which RocksDB's key prefix encoding stores once), each carrying
the record's count of grams, which ranks candidates without a value; the 0x01 keys name the rows. `fuzzy:tid` says
every live row of the table has its grams (set when a table is registered, or when
`remlite.fuzzy.backfill` finished one registered before the family existed).

**An encrypted database** (`encrypted` set; `remlite.storage.crypto`) has the same shapes, with
every value of `rows`, `wal`, `vectors` and `edges_out` sealed (0x01 ‖ nonce ‖ AES-GCM ciphertext ‖
tag, bound to family and key), and the user string of each equality-only key blinded to 16 ASCII
bytes (keyed HMAC, `blind`): `keys` as blind(encode(key or name)) ‖ tid ‖ id, `postings` as tid ‖
field_id ‖ blind(term) ‖ 0x00 ‖ id, `fuzzy` gram entries as blind(gram) ‖ 0x00 ‖ rownum ‖ n (the 0x01
row keys unchanged). `blinded_key` and `blinded_prefix` below map a plaintext shape to its blinded
form; the store applies them to every write of those families. `index` keys stay plaintext (ranges
and index order need the order-preserving form), as do table and field names, edge types, schemas,
counters and every fixed-size id, rownum and timestamp in a key. `encrypted` and `data_key`
(scrypt parameters, salt and the AES-GCM-wrapped data key) are LOCAL: a replica has its own key.

The hot write path (`remlite.writes`, `remlite.records`) concatenates these shapes inline, column-wise,
from precomputed prefixes; it imports the prefixes from here, and the tests check that the builders
below produce the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from remlite.storage import codec

Kind = Literal["LOGGED", "DERIVED", "LOCAL"]

COLUMN_FAMILIES: Final = (
    "meta",
    "rows",
    "ids",
    "keys",
    "index",
    "wal",
    "vectors",
    "postings",
    "textstats",
    "edges_out",
    "edges_in",
    "fuzzy",
)


@dataclass(frozen=True)
class Shape:
    """One key shape of the layout above: what `tests/test_keyspace.py` checks the docs against."""

    family: str
    key: str
    kind: Kind


SHAPES: Final = (
    Shape("meta", "format_version", "LOCAL"),
    Shape("meta", "initialised", "LOCAL"),
    Shape("meta", "wal_floor", "LOCAL"),
    Shape("meta", "database_id", "LOCAL"),
    Shape("meta", "next_rownum", "LOCAL"),
    Shape("meta", "encrypted", "LOCAL"),
    Shape("meta", "data_key", "LOCAL"),
    Shape("meta", "maintained_at", "LOCAL"),
    Shape("meta", "replica:<name UTF-8>", "LOCAL"),
    Shape("meta", "replica_of", "LOCAL"),
    Shape("meta", "schema:<table name UTF-8>", "LOGGED"),
    Shape("meta", "next_table_id", "LOGGED"),
    Shape("meta", "count:tid", "DERIVED"),
    Shape("meta", "moments_max_span:tid", "DERIVED"),
    Shape("meta", "upgrading:tid", "DERIVED"),
    Shape("meta", "fuzzy:tid", "DERIVED"),
    Shape("rows", "tid ‖ id", "LOGGED"),
    Shape("ids", "id", "DERIVED"),
    Shape("keys", "encode(key or name) ‖ tid ‖ id", "DERIVED"),
    Shape("index", "tid ‖ field_id(2) ‖ encode(value) ‖ id", "DERIVED"),
    Shape("wal", "seq(8)", "LOGGED"),
    Shape("vectors", 'b"v" ‖ tid ‖ encode(field) ‖ version(4) ‖ id', "LOGGED"),
    Shape("vectors", 'b"c" ‖ tid ‖ encode(field)', "LOGGED"),
    Shape("vectors", 'b"r" ‖ rownum(8)', "DERIVED"),
    Shape("postings", "tid ‖ field_id(2) ‖ term(UTF-8) ‖ 0x00 ‖ id", "DERIVED"),
    Shape("textstats", "tid ‖ field_id(2)", "DERIVED"),
    Shape("edges_out", "src(16) ‖ encode(type) ‖ dst(16)", "LOGGED"),
    Shape("edges_in", "dst(16) ‖ encode(type) ‖ src(16)", "DERIVED"),
    Shape("fuzzy", "gram(UTF-8) ‖ 0x00 ‖ rownum(8) ‖ n(1)", "DERIVED"),
    Shape("fuzzy", "0x01 ‖ rownum(8)", "DERIVED"),
)

# -- meta: single keys
FORMAT_KEY: Final = b"format_version"  # LOCAL
INITIALISED_KEY: Final = b"initialised"  # LOCAL
FLOOR_KEY: Final = b"wal_floor"  # LOCAL
DATABASE_ID_KEY: Final = b"database_id"  # LOCAL: random hex id, created by the first index save
NEXT_ROWNUM_KEY: Final = b"next_rownum"  # LOCAL
MAINTAINED_KEY: Final = b"maintained_at"  # LOCAL: when `remlite.ops.space.maintain` last ran (unix seconds)
NEXT_TABLE_KEY: Final = b"next_table_id"  # LOGGED (with the SchemaPut that takes an id)
ENCRYPTED_KEY: Final = b"encrypted"  # LOCAL: b"1" in an encrypted database
DATA_KEY_KEY: Final = b"data_key"  # LOCAL: the data key wrapped by the passphrase (remlite.storage.crypto.wrap)
REPLICA_OF_KEY: Final = b"replica_of"  # LOCAL: a replica's primary and what it last heard (remlite.replication)

# -- meta: prefixes (the builders below append the table name or tid)
SCHEMA_PREFIX: Final = b"schema:"  # LOGGED
COUNT_PREFIX: Final = b"count:"  # DERIVED
SPAN_PREFIX: Final = b"moments_max_span:"  # DERIVED
UPGRADE_PREFIX: Final = b"upgrading:"  # DERIVED
FUZZY_PREFIX: Final = b"fuzzy:"  # DERIVED
REPLICA_PREFIX: Final = b"replica:"  # LOCAL: on a primary, what each registered replica has applied

# -- vectors: one-byte tags that split the family in three
VECTOR_TAG: Final = b"v"  # LOGGED
CONFIG_TAG: Final = b"c"  # LOGGED
ROW_LABEL_TAG: Final = b"r"  # DERIVED

POSTING_SEP: Final = b"\x00"  # between a posting's term and its id
GRAM_SEP: Final = b"\x00"  # between a fuzzy gram and the rownum
FUZZY_ROW_TAG: Final = b"\x01"  # below every gram (they start with a space, a letter or a digit)
_FIELD = struct.Struct(">H")


def schema_key(name: str) -> bytes:
    return SCHEMA_PREFIX + name.encode()


def replica_key(name: str) -> bytes:
    return REPLICA_PREFIX + name.encode()


def count_key(tid: bytes) -> bytes:
    return COUNT_PREFIX + tid


def span_key(tid: bytes) -> bytes:
    return SPAN_PREFIX + tid


def upgrade_key(tid: bytes) -> bytes:
    return UPGRADE_PREFIX + tid


def fuzzy_marker_key(tid: bytes) -> bytes:
    return FUZZY_PREFIX + tid


def table_prefix(table_id: int) -> bytes:
    """`tid`: a table's id as the 4-byte prefix of its rows, index entries and postings."""
    return codec.u32(table_id)


def row_key(tid: bytes, rid: bytes) -> bytes:
    return tid + rid


def id_value(tid: bytes, rownum: int) -> bytes:
    """The `ids` value of a row (its key is the id itself)."""
    return tid + codec.u64(rownum)


def lookup_key(value: str, tid: bytes, rid: bytes) -> bytes:
    return codec.encode(value) + tid + rid


def index_prefix(tid: bytes, field_id: int) -> bytes:
    """The prefix of one indexed field's entries (also what `upgrading:` markers list)."""
    return tid + field_id.to_bytes(2, "big")


def index_key(tid: bytes, field_id: int, value: object, rid: bytes) -> bytes:
    return index_prefix(tid, field_id) + codec.encode(value) + rid


wal_key: Final = codec.u64  # seq -> its key (bound method: no Python frame on the commit path)


def vector_field_prefix(tid: bytes, field: str) -> bytes:
    return VECTOR_TAG + tid + codec.encode(field)


def vector_prefix(tid: bytes, field: str, version: int) -> bytes:
    """The prefix of one vector space's vectors (a re-embed writes the next version beside it)."""
    return vector_field_prefix(tid, field) + codec.u32(version)


def vector_config_key(tid: bytes, field: str) -> bytes:
    return CONFIG_TAG + tid + codec.encode(field)


def row_label_key(rownum: int) -> bytes:
    return ROW_LABEL_TAG + codec.u64(rownum)


def text_prefix(tid: bytes, field_id: int) -> bytes:
    """The `textstats` key of one text index, and the prefix of its postings."""
    return tid + _FIELD.pack(field_id)


def posting_key(tid: bytes, field_id: int, term: str, rid: bytes) -> bytes:
    return text_prefix(tid, field_id) + term.encode() + POSTING_SEP + rid


def gram_prefix(gram: str) -> bytes:
    """The prefix of one gram's entries: every record holding it, in (table, id) order."""
    return gram.encode() + GRAM_SEP


def fuzzy_key(gram: str, rownum: int, grams: int) -> bytes:
    """`grams`: how many distinct grams the record has (capped at 255)."""
    return gram_prefix(gram) + codec.u64(rownum) + bytes((min(grams, 255),))


def fuzzy_row_key(rownum: int) -> bytes:
    """The `fuzzy` key whose value names the row (tid ‖ id) that a gram entry's rownum labels."""
    return FUZZY_ROW_TAG + codec.u64(rownum)


def edge_key(node: bytes, type_key: bytes, other: bytes) -> bytes:
    """`edges_out` as (src, type, dst), `edges_in` as (dst, type, src); `type_key` is
    `remlite.graph.keys.encode_type(type)`."""
    return node + type_key + other


# -- an encrypted database: the blinded form of the equality-only key shapes
_ROW_SUFFIX: Final = 4 + 16  # tid ‖ id, after a `keys` key's encoded string
_POSTING_HEAD: Final = 4 + 2  # tid ‖ field_id, before a posting's term
_POSTING_TAIL: Final = 1 + 16  # 0x00 ‖ id, after it
_GRAM_TAIL: Final = 1 + 8 + 1  # 0x00 ‖ rownum ‖ n, after a gram


def blinded_key(family: str, key: bytes, blind: Callable[[str, bytes], bytes]) -> bytes:
    """The stored form of a `keys`, `postings` or `fuzzy` key in an encrypted database: its user
    string replaced by `blind(family, string)` (see the docstring); other keys unchanged."""
    if family == "keys":
        return blind(family, key[:-_ROW_SUFFIX]) + key[-_ROW_SUFFIX:]
    if family == "postings":
        return key[:_POSTING_HEAD] + blind(family, key[_POSTING_HEAD:-_POSTING_TAIL]) + key[-_POSTING_TAIL:]
    if family == "fuzzy" and key[:1] != FUZZY_ROW_TAG:
        return blind(family, key[:-_GRAM_TAIL]) + key[-_GRAM_TAIL:]
    return key


def blinded_prefix(family: str, prefix: bytes, blind: Callable[[str, bytes], bytes]) -> bytes:
    """The blinded form of a scan prefix: `encode(key)` (keys), `tid ‖ field_id ‖ term ‖ 0x00`
    (postings), `gram ‖ 0x00` (fuzzy). Shorter prefixes (a table's, a field's) are unchanged."""
    if family == "keys" and prefix:
        return blind(family, prefix)
    if family == "postings" and len(prefix) > _POSTING_HEAD:
        return prefix[:_POSTING_HEAD] + blind(family, prefix[_POSTING_HEAD:-1]) + POSTING_SEP
    if family == "fuzzy" and prefix and prefix[:1] != FUZZY_ROW_TAG:
        return blind(family, prefix[:-1]) + GRAM_SEP
    return prefix
