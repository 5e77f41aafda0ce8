"""The entries of remlite's change log: one class per kind of change, one codec, a format version.

The log (column family `wal`, see `remlite.storage.wal`) is what another database of the same lineage
needs to become this one: `Database.changes()` reads it as these entries and `Database.apply()`
replays them through the ordinary write path. Each class's docstring is its reference (the
architecture document's entry table is generated from them by `reference_markdown()`).

Encoding (format version 1): `version(1) kind(1) seq(8, big-endian)` then length-prefixed sections
(`u32 length + bytes`). Section 0 is a JSON header holding `ts` and the entry's scalar fields; row
entries add the rows as one JSON array (each stored row value is a slice of it, so a row is encoded
once) and their vectors in binary (float32, never JSON lists). The seq sits in a fixed place so a
writer can frame an entry before its rows are encoded.

Databases written before the format had a version carry JSON objects (`{"seq", "ts", "op", ...}`):
their first byte is `{`, which no version byte equals, and `Entry.from_bytes` maps them to these
classes. Such entries read, list and drive catch-up as before; they lack what replay needs (a
schema's ids, vectors), so `apply()` refuses them (an old schema entry has an empty `schema`).
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

import orjson

from remlite.errors import StorageError

FORMAT_VERSION = 1
_LEGACY = ord("{")
_SEQ = struct.Struct(">Q")
_LEN = struct.Struct(">I")
_HEAD = 2 + 8  # version, kind, seq


class Entry:
    """A committed change. `seq` is its position in the log; `ts` the time it was committed."""

    kind: ClassVar[int] = 0
    op: ClassVar[str] = ""
    seq: int
    ts: str
    _raw: bytes | None = None

    # -- subclasses
    def _header(self) -> dict[str, Any]:
        raise NotImplementedError

    def _sections(self) -> list[bytes]:
        return []

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """The entry as `Database.wal()` shows it (the JSON shape of logs before format 1)."""
        return {"seq": self.seq, "ts": self.ts, "op": self.op, **self._header()}

    @property
    def table(self) -> str | None:
        """The table whose rows or schema the entry changes (None: edges only)."""
        return None

    # -- codec
    def to_bytes(self) -> bytes:
        if self._raw is not None:
            return self._raw
        return frame(self.kind, self.seq, [orjson.dumps({"ts": self.ts, **self._header()}), *self._sections()])

    def content(self) -> tuple[Any, ...]:
        """What makes two entries the same change: everything but the commit time (two databases
        of one lineage log the built-in templates at the same seqs at different times)."""
        return (self.kind, self.seq, self._header(), self._sections())

    @staticmethod
    def from_bytes(raw: bytes) -> Entry:
        """Decode a stored entry of any format version (old JSON ones included)."""
        try:
            if raw[:1] == b"{":
                return _legacy(orjson.loads(raw))
            if raw[0] != FORMAT_VERSION:
                raise StorageError(f"change-log entry has format version {raw[0]}; this remlite reads {FORMAT_VERSION}")
            cls = KINDS[raw[1]]
            seq = _SEQ.unpack_from(raw, 2)[0]
            view, sections, at = memoryview(raw), [], _HEAD
            while at < len(raw):
                (size,) = _LEN.unpack_from(raw, at)
                sections.append(view[at + 4 : at + 4 + size])
                at += 4 + size
            if at != len(raw):
                raise ValueError("truncated section")
            header = orjson.loads(sections[0])
            entry = cls._decode(seq, header, sections[1:])
            entry._raw = bytes(raw)
            return entry
        except StorageError:
            raise
        except Exception as exc:  # any malformed byte string: one error class for every reader
            raise StorageError(f"unreadable change-log entry ({type(exc).__name__}: {exc})") from None

    @property
    def legacy(self) -> bool:
        """Read from a log written before format 1: lacks what `Database.apply` needs."""
        return self._raw is not None and self._raw[:1] == b"{"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} seq={self.seq} table={self.table!r}>"


def frame(kind: int, seq: int, sections: list[bytes]) -> bytes:
    out = bytearray((FORMAT_VERSION, kind))
    out += _SEQ.pack(seq)
    for section in sections:
        out += _LEN.pack(len(section))
        out += section
    return bytes(out)


def _pack_vectors(vectors: dict[str, list[bytes | None]]) -> bytes:
    """Per field: name, dimension, one presence byte per row, then the present rows' float32 bytes."""
    out = bytearray()
    for name, column in vectors.items():
        encoded = name.encode()
        present = [v for v in column if v is not None]
        dim = len(present[0]) // 4 if present else 0
        out += _LEN.pack(len(encoded)) + encoded + _LEN.pack(dim) + _LEN.pack(len(column))
        out += bytes(0 if v is None else 1 for v in column)
        out += b"".join(present)
    return bytes(out)


def _unpack_vectors(data: memoryview) -> dict[str, list[bytes | None]]:
    out: dict[str, list[bytes | None]] = {}
    at = 0
    while at < len(data):
        (size,) = _LEN.unpack_from(data, at)
        name = bytes(data[at + 4 : at + 4 + size]).decode()
        dim, count = _LEN.unpack_from(data, at + 4 + size)[0], _LEN.unpack_from(data, at + 8 + size)[0]
        at += 12 + size
        flags, at = bytes(data[at : at + count]), at + count
        column: list[bytes | None] = []
        for flag in flags:
            if flag:
                column.append(bytes(data[at : at + 4 * dim]))
                at += 4 * dim
            else:
                column.append(None)
        out[name] = column
    return out


class RowsPut(Entry):
    """`put`: rows inserted, upserted or updated in one atomic chunk.

    `rows` are the stored records (with `id`, `created_at`, `modified_at`, `deleted_at`), encoded
    once as a JSON array whose slices are the stored row values. `vectors` holds, per embedding
    field written, one float32 vector (or None: the row has no vector now) per row, in binary;
    a field absent from it was not touched. `configs` is the vector space a field got with its
    first vectors. `edges`/`edges_removed` are the edges written with the rows (inline `_edges`, a
    moment's `references`). Replay writes the rows with these ids, timestamps and vectors."""

    kind = 1
    op = "put"

    def __init__(
        self,
        seq: int,
        ts: str,
        table: str,
        rows_json: bytes | memoryview,
        vectors: dict[str, list[bytes | None]] | None = None,
        configs: dict[str, dict[str, Any]] | None = None,
        edges: list[dict[str, Any]] | None = None,
        edges_removed: list[dict[str, Any]] | None = None,
    ) -> None:
        self.seq, self.ts, self._table, self.rows_json = seq, ts, table, rows_json
        self._rows: list[dict[str, Any]] | None = None
        self.vectors, self.configs = vectors or {}, configs or {}
        self.edges, self.edges_removed = edges or [], edges_removed or []

    @property
    def table(self) -> str:
        return self._table

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows, parsed once (every commit listener that follows a table reads them)."""
        if self._rows is None:
            self._rows = orjson.loads(self.rows_json)
        return self._rows

    @staticmethod
    def head(seq: int, ts: str, table: str, configs: dict[str, Any], edge_log: dict[str, Any] | None) -> bytearray:
        """The entry's bytes up to its rows section, whose length the writer fills in (`finish`)
        after appending the rows' JSON array: the fast path of a batch write."""
        header: dict[str, Any] = {"ts": ts, "table": table}
        if configs:
            header["configs"] = configs
        if edge_log:
            header.update(edge_log)
        encoded = orjson.dumps(header)
        out = bytearray((FORMAT_VERSION, RowsPut.kind))
        out += _SEQ.pack(seq) + _LEN.pack(len(encoded)) + encoded + b"\0\0\0\0"
        return out

    @staticmethod
    def finish(out: bytearray, rows_at: int, vectors: dict[str, list[bytes | None]] | None) -> None:
        """Close the rows section opened by `head` (the array starts at `rows_at`); add vectors."""
        out[rows_at - 4 : rows_at] = _LEN.pack(len(out) - rows_at)
        if vectors:
            packed = _pack_vectors(vectors)
            out += _LEN.pack(len(packed)) + packed

    def _header(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self._table}
        if self.configs:
            out["configs"] = self.configs
        if self.edges:
            out["edges"] = self.edges
        if self.edges_removed:
            out["edges_removed"] = self.edges_removed
        return out

    def _sections(self) -> list[bytes]:
        rows = bytes(self.rows_json)
        return [rows, _pack_vectors(self.vectors)] if self.vectors else [rows]

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        vectors = _unpack_vectors(sections[1]) if len(sections) > 1 else None
        return cls(
            seq,
            header["ts"],
            header["table"],
            sections[0],
            vectors,
            header.get("configs"),
            header.get("edges"),
            header.get("edges_removed"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "ts": self.ts, "op": "put", "table": self._table, "rows": self.rows}
        if self.edges:
            out["edges"] = self.edges
        if self.edges_removed:
            out["edges_removed"] = self.edges_removed
        return out


class RowsDeleted(Entry):
    """`delete`: records soft-deleted (`hard` false: `deleted_at` set to `at`, the row kept) or
    removed with their edges (`hard` true; `edges_removed` lists those edges). Rows are named by
    id, never by a database's local row numbers."""

    kind = 2
    op = "delete"

    def __init__(
        self, seq: int, ts: str, table: str, ids: list[str], hard: bool, edges_removed: list[Any] | None = None
    ) -> None:
        self.seq, self.ts, self._table, self.ids, self.hard = seq, ts, table, ids, hard
        self.edges_removed = edges_removed or []

    @property
    def table(self) -> str:
        return self._table

    def _header(self) -> dict[str, Any]:
        out = {"table": self._table, "ids": self.ids, "hard": self.hard, "at": self.ts}
        if self.edges_removed:
            out["edges_removed"] = self.edges_removed
        return out

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        return cls(seq, header["ts"], header["table"], header["ids"], header["hard"], header.get("edges_removed"))


class EdgesPut(Entry):
    """`edge_put`: edges added, or their properties replaced, as `{src, dst, type, properties,
    created_at}` (created_at is kept from an edge that existed). `add_edge` logs one edge
    (shown flat in `wal()`), `add_edges` one entry per chunk."""

    kind = 3
    op = "edge_put"

    def __init__(self, seq: int, ts: str, edges: list[dict[str, Any]], single: bool = False) -> None:
        self.seq, self.ts, self.edges, self.single = seq, ts, edges, single

    def _header(self) -> dict[str, Any]:
        return {**self.edges[0]} if self.single else {"edges": self.edges}

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        if "edges" in header:
            return cls(seq, header["ts"], header["edges"])
        return cls(seq, header["ts"], [{k: v for k, v in header.items() if k != "ts"}], single=True)


class EdgeDeleted(Entry):
    """`edge_delete`: the edge `src -[type]-> dst` removed."""

    kind = 4
    op = "edge_delete"

    def __init__(self, seq: int, ts: str, src: str, dst: str, type: str) -> None:
        self.seq, self.ts, self.src, self.dst, self.type = seq, ts, src, dst, type

    def _header(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "type": self.type}

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        return cls(seq, header["ts"], header["src"], header["dst"], header["type"])


class SchemaPut(Entry):
    """`schema`: a table registered or upgraded. `schema` is the full stored definition (JSON of
    `TableSchema`, with its table id and field ids, so a replica's keys match); replay builds the
    indexes the upgrade adds (backfill) from the replica's rows, as the source did."""

    kind = 5
    op = "schema"

    def __init__(self, seq: int, ts: str, table: str, version: int, schema: bytes, described: Any = None) -> None:
        self.seq, self.ts, self._table, self.version, self.schema = seq, ts, table, version, schema
        self._described = described  # an old-format entry's public view (it has no `schema`)

    @property
    def table(self) -> str:
        return self._table

    def _header(self) -> dict[str, Any]:
        return {"table": self._table, "version": self.version}

    def _sections(self) -> list[bytes]:
        return [self.schema]

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        return cls(seq, header["ts"], header["table"], header["version"], bytes(sections[0]))

    def to_json(self) -> dict[str, Any]:
        from remlite.schema.model import TableSchema

        described = self._described if not self.schema else TableSchema.from_bytes(self.schema).describe()
        return {**super().to_json(), "schema": described}


class SchemaDropped(Entry):
    """`drop_schema`: a table dropped with its rows (`rows` of them) and their edges (`edges`)."""

    kind = 6
    op = "drop_schema"

    def __init__(self, seq: int, ts: str, table: str, rows: int, edges: int) -> None:
        self.seq, self.ts, self._table, self.rows, self.edges = seq, ts, table, rows, edges

    @property
    def table(self) -> str:
        return self._table

    def _header(self) -> dict[str, Any]:
        return {"table": self._table, "rows": self.rows, "edges": self.edges}

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        return cls(seq, header["ts"], header["table"], header["rows"], header["edges"])


class ReembedVectors(Entry):
    """`reembed_vectors`: one chunk of a re-embed in progress: the vectors of rows `ids` in the
    field's new `version`, float32 binary. They are invisible until `Reembedded` switches to it.
    The `first` chunk of an attempt (possibly empty) clears what an interrupted attempt left."""

    kind = 7
    op = "reembed_vectors"

    def __init__(
        self,
        seq: int,
        ts: str,
        table: str,
        field: str,
        version: int,
        ids: list[str],
        vectors: bytes,
        first: bool = False,
    ) -> None:
        self.seq, self.ts, self._table, self.field, self.version = seq, ts, table, field, version
        self.ids, self.vectors, self.first = ids, vectors, first

    @property
    def table(self) -> str:
        return self._table

    def _header(self) -> dict[str, Any]:
        h = {"table": self._table, "field": self.field, "version": self.version, "ids": self.ids}
        return {**h, "first": self.first}

    def _sections(self) -> list[bytes]:
        return [self.vectors]

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        h = header
        return cls(seq, h["ts"], h["table"], h["field"], h["version"], h["ids"], bytes(sections[0]), h["first"])

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        del out["ids"]
        return {**out, "count": len(self.ids)}


class Reembedded(Entry):
    """`reembed`: the switch of `table.field` to vector space `version` (`config`: provider, model,
    dimension, metric). It also carries the rows changed while the re-embed ran: their new vectors
    (`ids`, `vectors`) and the ids that have none (`removed`); the old version's vectors go."""

    kind = 8
    op = "reembed"

    def __init__(
        self,
        seq: int,
        ts: str,
        table: str,
        field: str,
        config: dict[str, Any],
        ids: list[str],
        vectors: bytes,
        removed: list[str],
    ) -> None:
        self.seq, self.ts, self._table, self.field, self.config = seq, ts, table, field, config
        self.ids, self.vectors, self.removed = ids, vectors, removed

    @property
    def table(self) -> str:
        return self._table

    @property
    def version(self) -> int:
        return int(self.config["version"])

    def _header(self) -> dict[str, Any]:
        h = {"table": self._table, "field": self.field, "config": self.config}
        return {**h, "ids": self.ids, "removed": self.removed}

    def _sections(self) -> list[bytes]:
        return [self.vectors]

    @classmethod
    def _decode(cls, seq: int, header: dict[str, Any], sections: list[memoryview]) -> Entry:
        h = header
        return cls(seq, h["ts"], h["table"], h["field"], h["config"], h["ids"], bytes(sections[0]), h["removed"])

    def to_json(self) -> dict[str, Any]:
        head = {"seq": self.seq, "ts": self.ts, "op": "reembed", "table": self._table, "field": self.field}
        return {**head, **self.config}


KINDS: dict[int, type[Entry]] = {
    cls.kind: cls
    for cls in (RowsPut, RowsDeleted, EdgesPut, EdgeDeleted, SchemaPut, SchemaDropped, ReembedVectors, Reembedded)
}


def _legacy(doc: dict[str, Any]) -> Entry:
    """An entry of a log written before format 1 (a JSON object), as its typed class."""
    seq, ts, op = doc["seq"], doc["ts"], doc["op"]
    entry: Entry
    if op == "put":
        edges = {k: doc[k] for k in ("edges", "edges_removed") if k in doc}
        entry = RowsPut(seq, ts, doc["table"], orjson.dumps(doc["rows"]), None, None, **edges)
    elif op == "delete":
        entry = RowsDeleted(seq, doc["at"], doc["table"], doc["ids"], doc["hard"], doc.get("edges_removed"))
    elif op == "edge_put":
        if "edges" in doc:
            entry = EdgesPut(seq, ts, doc["edges"])
        else:
            keys = ("src", "dst", "type", "properties", "created_at")
            entry = EdgesPut(seq, ts, [{k: doc[k] for k in keys}], single=True)
    elif op == "edge_delete":
        entry = EdgeDeleted(seq, ts, doc["src"], doc["dst"], doc["type"])
    elif op == "schema":
        entry = SchemaPut(seq, ts, doc["table"], doc.get("version", 1), b"", doc.get("schema"))
    elif op == "drop_schema":
        entry = SchemaDropped(seq, ts, doc["table"], doc.get("rows", 0), doc.get("edges", 0))
    elif op == "reembed":
        config = {k: v for k, v in doc.items() if k not in ("seq", "ts", "op", "table", "field")}
        entry = Reembedded(seq, ts, doc["table"], doc["field"], config, [], b"", [])
    else:
        raise ValueError(f"unknown op {op!r}")
    entry._raw = orjson.dumps(doc)
    return entry


def reference_markdown() -> str:
    """The entry reference of docs/architecture.md, generated from the classes' docstrings."""
    lines = [f"Format version {FORMAT_VERSION}. One entry kind per class of `remlite.storage.changelog`:", ""]
    for kind, cls in sorted(KINDS.items()):
        doc = " ".join(line.strip() for line in (cls.__doc__ or "").split("\n")).strip()
        lines.append(f"- **{cls.__name__}** (kind {kind}, `{cls.op}`): {doc}")
    return "\n".join(lines) + "\n"
