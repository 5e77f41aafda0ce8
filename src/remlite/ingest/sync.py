"""Bring one file's records in the database in line with the file, writing only what changed.

Every ingested file has a document record in the `documents` table (key: uri + chunk table) with
the file's SHA-256, size, mtime, chunking parameters, chunk count and a `status`. Its chunks (or,
for JSON Lines, its records) are linked from it by `has_chunk` edges.

The write protocol for a file whose content (or chunking parameters) changed:

1. document record -> status "pending", chunk_count = max(old, new): an upper bound on the
   ordinals that may exist. Written for a new document too: a prune finds a file's records
   only through its document, so a crashed run must leave one even if the file is then deleted;
2. new and content-changed chunks: one `insert_batch` (one WriteBatch up to 10,000 chunks, one
   model call per batch for the table's embedding fields), each chunk not yet linked carrying
   its `has_chunk` edge in the same WriteBatch: whatever a crashed run wrote is linked, so the
   next sync or prune of the document finds it whether the file changed, went back or is gone;
3. chunks whose content is the same but whose offsets / page / heading path moved: `update` of
   those fields only, which keeps the stored embedding (no model call). A chunk whose content is
   that of another of the file's stored chunks (an edit added or removed a chunk before it, so its
   ordinal, hence its id, changed) is written with that chunk's stored vectors (`insert_batch`
   with `vectors=`): no model call either. Both count as `moved`;
4. surplus chunks (the file got shorter): hard-deleted, which removes their edges — unless
   another document also links them (a JSON Lines key in two files), then only this
   document's edge is removed;
5. document record -> status "complete" with the new hash, and the missing `has_chunk` edges,
   in one WriteBatch (`insert(..., edges=)`): the commit point.

A crash anywhere before step 5 leaves the document "pending" (or, for a new document, absent
with nothing written), so the next ingest redoes it and converges: unchanged chunks are then not
rewritten, surplus ones are found and removed. Readers can tell a partial document by its status.
A file whose hash and parameters match a complete document record is skipped without parsing: no
write at all.

A prune (the file is gone) marks the document "pending" first, then removes its records, then
the document record: a crash part-way leaves a pending document for the next prune (or, if the
file came back, the next sync) to finish, never a complete one lacking chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite import ids as idmod
from remlite.errors import InvalidInput, ValidationError
from remlite.graph.edges import INLINE_KEY
from remlite.ingest.chunker import Count, chunk
from remlite.ingest.formats import JSONL, Document, parse
from remlite.ingest.report import DocumentResult
from remlite.semantic.text import text_of

if TYPE_CHECKING:
    from remlite.database import Database
    from remlite.records import TableLayout

DOCUMENTS = "documents"
EDGE = "has_chunk"
# bump when the chunker's output for the same input changes (2: Markdown by a parser; 3: sizes in the
# model's tokens, content-defined boundaries)
CHUNKER_VERSION = 3
SYSTEM = ("id", "created_at", "modified_at", "deleted_at")
POSITION = ("offset_start", "offset_end", "page", "heading_path", "title", "content_type")

DOCUMENTS_SCHEMA: dict[str, Any] = {
    "name": DOCUMENTS,
    "title": DOCUMENTS,
    # Stored with the schema: a new wording would upgrade every existing documents table, so it keeps
    # the command's name from before the rename.
    "description": "Files ingested by `rem ingest`: hash, size, chunk count; linked to chunks by has_chunk edges.",
    "category": "rem",
    "type": "object",
    "properties": {
        "uri": {"type": "string"},
        "chunk_table": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "path": {"type": "string"},
        "content_type": {"type": ["string", "null"]},
        "title": {"type": ["string", "null"]},
        "sha256": {"type": "string"},
        "size": {"type": "integer"},
        "mtime": {"type": ["string", "null"]},
        "chunk_count": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["pending", "complete"]},
        "params": {"type": "object", "default": {}},
        "metadata": {"type": "object", "default": {}},
    },
    "required": ["uri", "chunk_table", "path", "sha256", "size", "chunk_count", "status"],
    "key_field": ["uri", "chunk_table"],
    "indexed_fields": ["status", "content_type", "chunk_table"],
}


StoredVectors = Callable[[list[str]], dict[str, list[bytes | None]]]


@dataclass(frozen=True)
class Sizing:
    """Chunk sizes in one measure: tokens counted by `count` (a provider's `token_counts`), or
    characters when `count` is None. `measure` names it in the document records' params, so a
    change of model re-chunks the files."""

    size: int
    overlap: int
    measure: str
    count: Count | None = None


@dataclass(frozen=True)
class Source:
    """One file read into memory."""

    path: Path
    uri: str
    data: bytes
    sha256: str
    mtime: str
    kind: str | None

    @classmethod
    def read(cls, path: Path, kind: str | None) -> Source:
        data = path.read_bytes()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return cls(path, path.as_uri(), data, hashlib.sha256(data).hexdigest(), mtime, kind)


class Syncer:
    """Ingests files into one table of one database (state: the table's id scheme, parameters)."""

    def __init__(
        self,
        db: Database,
        layout: TableLayout,
        sizing: Sizing,
        metadata: dict[str, Any] | None = None,
        vectors: StoredVectors | None = None,
    ) -> None:
        self.db = db
        table = layout.table.name
        self.table = table
        self.sizing = sizing
        self.vectors = vectors
        self.metadata = metadata or {}
        self.params: dict[str, Any] = {
            "chunk_size": sizing.size,
            "overlap": sizing.overlap,
            "measure": sizing.measure,
            "chunker": CHUNKER_VERSION,
        }
        if self.metadata:  # a change of it re-syncs the files (their chunks are updated, not re-embedded)
            self.params["metadata"] = self.metadata
        self.declared = set(layout.table.properties)
        self.layout = layout
        schema = db.schema(table)
        indexed = schema.get("indexed_fields") or []
        self.uri_indexed = "uri" in indexed

    # ------------------------------------------------------------------ ids
    def record_id(self, body: dict[str, Any], fallback: str) -> str:
        """The id a record will get: its natural key's, its own `id`, else one derived from
        `fallback` (uri + ordinal) so that re-ingesting the same line or chunk upserts it."""
        if self.layout.key_parts:
            try:
                key = idmod.key_text(self.layout.key_values(body))
            except InvalidInput as exc:
                raise ValidationError(exc.message, table=self.table) from None
            return idmod.to_str(idmod.key_id_bytes(self.db.tenant, self.table, key))
        if body.get("id") is not None:
            return idmod.to_str(idmod.to_bytes(body["id"]))
        return idmod.to_str(idmod.key_id_bytes(self.db.tenant, self.table, fallback))

    def document_id(self, uri: str) -> str:
        key = idmod.key_text([uri, self.table])
        return idmod.to_str(idmod.key_id_bytes(self.db.tenant, DOCUMENTS, key))

    # ------------------------------------------------------------------ per file
    def sync(self, source: Source) -> DocumentResult:
        db = self.db
        doc_id = self.document_id(source.uri)
        old = db.get_batch([doc_id], include_deleted=True)[0]
        if (
            old is not None
            and old.get("deleted_at") is None
            and old.get("status") == "complete"
            and old.get("sha256") == source.sha256
            and old.get("params") == self.params
        ):
            return DocumentResult(unchanged=old.get("chunk_count", 0))
        doc = parse(source.path, source.data, source.kind)
        bodies = self.records(source, doc)
        ids = [self.record_id(body, f"{source.uri}\x1f{n}") for n, body in enumerate(bodies)]
        if not self.layout.key_parts:  # give keyless rows their derived id, so a re-ingest upserts
            bodies = [{**body, "id": rid} for rid, body in zip(ids, bodies, strict=True)]
        unique = dict(zip(ids, bodies, strict=True))  # a key repeated in a JSON Lines file: last wins
        ids, bodies = list(unique), list(unique.values())
        linked = self.linked(doc_id) if old is not None else set()
        previous = self.previous_ids(source.uri, old, doc, linked)
        stored = dict(zip(previous + ids, db.get_batch(previous + ids, include_deleted=True), strict=True))
        result = DocumentResult(changed=True)
        write: list[tuple[str, dict[str, Any]]] = []
        moves: list[tuple[str, dict[str, Any]]] = []
        movable = self.movable(doc)
        for rid, body in zip(ids, bodies, strict=True):
            kind, changes = self.compare(stored.get(rid), body, doc.records is None, movable)
            if kind == "updated" and doc.records is None:
                body = self.kept(stored.get(rid), body)
            if kind in ("new", "updated"):
                write.append((rid, body))
            elif kind == "moved":
                result.moved += 1
                moves.append((rid, changes))
            else:
                result.unchanged += 1
        carried: list[tuple[str, dict[str, Any]]] = []
        carried_vectors: dict[str, list[Any]] = {}
        if doc.records is None and write:
            write, carried, carried_vectors = self.carry(write, previous, stored)
        result.moved += len(carried)
        for rid, _ in write:
            if stored.get(rid) is None:
                result.new += 1
            else:
                result.updated += 1
        keep = set(ids)
        surplus = [rid for rid in dict.fromkeys(previous) if rid not in keep and stored.get(rid) is not None]
        gone = set(surplus)
        stale_edges = [rid for rid in linked if rid not in keep and rid not in gone]
        count = len(ids)
        record = self.document_record(source, doc, count)
        if write or carried or moves or surplus or stale_edges:
            bound = max(count, old.get("chunk_count", 0) if old else 0)
            db.insert(DOCUMENTS, {**record, "status": "pending", "chunk_count": bound})
            link = [{"src": doc_id, "type": EDGE}]
            for rows, vectors in ((write, None), (carried, carried_vectors)):
                if rows:
                    bodies = [body if rid in linked else {**body, INLINE_KEY: link} for rid, body in rows]
                    db.insert_batch(self.table, bodies, vectors=vectors)
                    linked |= {rid for rid, _ in rows}
            for rid, changes in moves:
                db.update(rid, changes)
            result.removed = self.remove(doc_id, surplus)
            for rid in stale_edges:
                db.remove_edge(doc_id, rid, EDGE)
        edges = [{"dst": rid, "type": EDGE} for rid in ids if rid not in linked]
        db.insert(DOCUMENTS, record, edges=edges or None)  # the commit point, with its edges
        return result

    def records(self, source: Source, doc: Document) -> list[dict[str, Any]]:
        """The chunk records of a text document, or the records of a JSON Lines file (validated,
        defaults applied; a bad record raises ValidationError naming its position)."""
        if doc.records is not None:
            out = []
            for n, record in enumerate(doc.records, 1):
                try:
                    out.append(self.db.validate(self.table, record))
                except ValidationError as exc:
                    raise ValidationError(f"record {n}: {exc.message}", field=exc.field, table=exc.table) from None
            return out
        sizing = self.sizing
        try:
            spans = chunk(doc.text, doc.sections, sizing.size, sizing.overlap, sizing.count)
        except ValueError as exc:  # sizes a provider's own tokens leave no room for (a custom provider)
            raise InvalidInput(str(exc)) from None
        fields = self.fields(doc)
        out = []
        for ordinal, span in enumerate(spans):
            body = {
                "uri": source.uri,
                "chunk_ordinal": ordinal,
                "content": doc.text[span.start : span.end],
                "title": doc.title,
                "heading_path": span.heading_path,
                "content_type": doc.content_type,
                "offset_start": span.start,
                "offset_end": span.end,
                "page": span.page,
                **fields,
            }
            try:
                checked = self.db.validate(self.table, body)
            except ValidationError as exc:
                raise ValidationError(f"chunk {ordinal}: {exc.message}", field=exc.field, table=exc.table) from None
            # only what ingest sets: a field set on a chunk afterwards (a category, tags) is kept
            out.append({k: v for k, v in checked.items() if k in body})
        return out

    def fields(self, doc: Document) -> dict[str, Any]:
        """A chunk's fields from metadata (the call's, then the file's front matter, which wins):
        keys the table declares are set as they are, the others go into its `metadata` object."""
        given = {**self.metadata, **doc.metadata}
        top = {k: v for k, v in given.items() if k in self.declared}
        rest = {k: v for k, v in given.items() if k not in self.declared}
        if rest and "metadata" not in self.declared:
            raise ValidationError(
                f"{self.table} declares no field {sorted(rest)[0]!r} and has no `metadata` object to hold it",
                table=self.table,
            )
        return {**top, "metadata": rest} if rest else top

    def movable(self, doc: Document) -> tuple[str, ...]:
        """Fields a chunk may change without its text changing: updated in place, never re-embedded."""
        return (*POSITION, *self.fields(doc)) if doc.records is None else POSITION

    def carry(
        self, write: list[tuple[str, dict[str, Any]]], previous: list[str], stored: dict[str, dict[str, Any] | None]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], dict[str, list[Any]]]:
        """Split the chunks to write into those to embed and those whose embedded text is that of
        another stored chunk of this file (its ordinal moved): the latter with that chunk's stored
        vectors, one list per embedding field. Everything is read before anything is written."""
        fields = list(self.layout.table.embedding_fields)
        if self.vectors is None or not fields:
            return write, [], {}
        sources: dict[str, str] = {}
        for rid in previous:
            found = stored.get(rid)
            if found is not None and found.get("deleted_at") is None and isinstance(found.get("content"), str):
                sources.setdefault(found["content"], rid)
        matched = [(rid, body, sources.get(body.get("content"))) for rid, body in write]
        matched = [
            (rid, body, src)
            for rid, body, src in matched
            if src is not None
            and src != rid
            and all(text_of(body, (*f.split("."),)) == text_of(stored[src], (*f.split("."),)) for f in fields)
        ]
        if not matched:
            return write, [], {}
        found_vectors = self.vectors([src for _, _, src in matched])
        usable = [all(found_vectors[f][n] is not None for f in fields) for n in range(len(matched))]
        import numpy as np

        carried = [(rid, body) for (rid, body, _), ok in zip(matched, usable, strict=True) if ok]
        vectors = {
            f: [np.frombuffer(v, dtype=np.float32) for v, ok in zip(found_vectors[f], usable, strict=True) if ok]
            for f in fields
        }
        taken = {rid for rid, _ in carried}
        return [(rid, body) for rid, body in write if rid not in taken], carried, vectors

    def kept(self, stored: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
        """A changed chunk as written: what ingest sets, over the fields set on it afterwards."""
        if stored is None or stored.get("deleted_at") is not None:
            return body
        return {**{k: v for k, v in stored.items() if k not in SYSTEM and k != "_table"}, **body}

    def previous_ids(self, uri: str, old: dict[str, Any] | None, doc: Document, linked: set[str]) -> list[str]:
        """Ids this file may have written before: chunk ordinals up to the recorded bound, records
        found by an index on `uri`, and every record the document links to."""
        out: list[str] = []
        if doc.records is None and old is not None:
            for ordinal in range(old.get("chunk_count", 0)):
                body = {"uri": uri, "chunk_ordinal": ordinal}
                out.append(self.record_id(body, f"{uri}\x1f{ordinal}"))
        if self.uri_indexed and doc.records is None:
            out += self.db.find(self.table, "uri", eq=uri)
        out += sorted(linked)
        return list(dict.fromkeys(out))

    def linked(self, doc_id: str) -> set[str]:
        return {edge["dst"] for edge in self.db.edges(doc_id, "out", EDGE)}

    @staticmethod
    def compare(
        stored: dict[str, Any] | None, body: dict[str, Any], chunks: bool, movable: tuple[str, ...] = POSITION
    ) -> tuple[str, dict[str, Any]]:
        """new | updated | moved | unchanged, and for moved the fields to update (`movable`: the
        fields a chunk may change without its text: positions, metadata)."""
        if stored is None:
            return "new", {}
        if stored.get("deleted_at") is not None:
            return "updated", {}
        if not chunks:
            mine = {k: v for k, v in stored.items() if k not in SYSTEM}
            theirs = {k: v for k, v in body.items() if k != "id"}
            return ("unchanged", {}) if mine == theirs else ("updated", {})
        if any(stored.get(k) != v for k, v in body.items() if k not in movable):
            return "updated", {}
        changes = {k: body.get(k) for k in movable if k in body and stored.get(k) != body.get(k)}
        return ("moved", changes) if changes else ("unchanged", {})

    def remove(self, doc_id: str, surplus: list[str]) -> int:
        """Hard-delete surplus records this document alone links; unlink the shared ones."""
        db = self.db
        removed = 0
        for rid in surplus:
            owners = {e["src"] for e in db.edges(rid, "in", EDGE)} - {doc_id}
            if owners:
                db.remove_edge(doc_id, rid, EDGE)
                continue
            db.delete(rid, hard=True)
            removed += 1
        return removed

    def prune(self, document: dict[str, Any]) -> int:
        """Remove a document whose file is gone: mark it pending, remove its chunks (unlinked
        only, where another document links them too), then the document record itself, last, so
        a crash part-way leaves a pending document for the next prune (or sync, if the file comes
        back) to finish. Returns the chunks removed."""
        doc_id = document["id"]
        if document.get("status") != "pending":
            self.db.update(doc_id, {"status": "pending"})
        removed = self.remove(doc_id, sorted(self.linked(doc_id)))
        self.db.delete(doc_id, hard=True)
        return removed

    def document_record(self, source: Source, doc: Document, count: int) -> dict[str, Any]:
        return {
            "uri": source.uri,
            "chunk_table": self.table,
            "name": source.path.name,
            "path": str(source.path),
            "content_type": doc.content_type if doc.records is None else JSONL,
            "title": doc.title,
            "sha256": source.sha256,
            "size": len(source.data),
            "mtime": source.mtime,
            "chunk_count": count,
            "status": "complete",
            "params": self.params,
            "metadata": {**self.metadata, **doc.metadata},
        }
