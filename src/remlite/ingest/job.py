"""`Database.ingest`: files and directories → chunk records, a document record each, edges.

The orchestrator: collect the files, then per file read + hash, sync (see `remlite.ingest.sync`),
count, and report progress. A file that cannot be read, decoded, parsed or validated is recorded
in `IngestReport.skipped` with its reason and the batch goes on; errors that would fail every file
(an embedding model that cannot load, a closed database, a storage failure) stop the ingest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite import ids as idmod
from remlite.errors import InvalidInput, SchemaError, ValidationError, shown
from remlite.ingest.files import collect, require_found
from remlite.ingest.formats import BadFile, content_type
from remlite.ingest.report import IngestReport, Progress
from remlite.ingest.sync import DOCUMENTS, DOCUMENTS_SCHEMA, Sizing, Source, StoredVectors, Syncer

log = logging.getLogger("remlite.ingest")  # standard logging (silent unless the application configures it)

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.database import Database

DEFAULT_CHUNK_SIZE = 256  # tokens, when the model says no window (the local model's window is 256 too)
MIN_CHUNK_ROOM = 16  # tokens a chunk must have room for beyond its overlap
CHARS_PER_TOKEN = 4  # the measure of a provider without a tokenizer: 4 characters a token


class Ingest:
    """`ingest` of `remlite.Database`: a client of the database's public verbs (insert, update,
    delete, edges, find), which it calls through `api`."""

    def __init__(self, core: TenantCore, api: Database) -> None:
        self.core = core
        self.api = api

    def ingest(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        table: str = "resources",
        *,
        chunk_size: int | None = None,
        overlap: int | None = None,
        glob: str | Iterable[str] | None = None,
        progress: Callable[[Progress], None] | None = None,
        prune: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest files and directories (recursively; hidden ones skipped; `glob` filters names) into
        `table`: text, Markdown, HTML and PDF are chunked, JSON Lines records are inserted as they
        are. Sizes are tokens of the model that embeds the table's `content`, counted by its own
        tokenizer as it reads the chunk: `chunk_size` is the largest chunk (default and maximum: the
        model's window, 256 for the local model; a larger one is InvalidInput, nothing is ever cut
        off unembedded), `overlap` the tokens of whole sentences repeated after a cut inside a
        paragraph (default a tenth of `chunk_size`). A provider without a tokenizer (hash, OpenAI)
        is measured in characters, 4 to a token (default 256 tokens = 1,024 characters). Chunk
        boundaries are content-defined: an edit rewrites the chunks holding it (and rarely one
        more), not every chunk after it (see `remlite.ingest.chunker`). Only what changed since the
        last ingest is written; unchanged files write nothing. `progress(Progress)` is called after
        every file. `prune=True` also removes the document record and the chunks of every file once
        ingested from under one of the given directories (into `table`) that no longer exists.
        `metadata` is set on every chunk (keys the table declares as fields, the others in its
        `metadata` object) and on the document record; a Markdown file's front matter adds its own
        (and wins). Metadata is kept across re-ingests; a change of it updates the chunks in place
        (never embedding them again), and fields set on chunks afterwards are kept. Returns an
        `IngestReport`."""
        paths = _path_list(paths)
        for name, value in (("chunk_size", chunk_size), ("overlap", overlap)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidInput(f"{name} must be a non-negative integer (tokens), got {shown(value)}")
        patterns = None if glob is None else _text_list(glob, "glob")
        metadata = _metadata(metadata)
        db = self.api
        if table == DOCUMENTS:
            raise InvalidInput(f"{DOCUMENTS} holds the document records of ingest; choose another table")
        db.schema(table)  # UnknownTable before anything is read
        sizing = self.sizing(table, chunk_size, overlap)
        started = time.perf_counter()
        files, missing = collect(paths, patterns)
        require_found(missing)  # before anything is written (the documents table included)
        self._documents_table()
        report = IngestReport(table=table)
        log.info("ingesting %d files into %s", len(files), table)
        syncer = Syncer(db, self.core.layout(table), sizing, metadata, self.stored_vectors(table))
        sizes = [_size(path) for path in files] if progress is not None else []
        total, done_bytes = sum(sizes), 0
        for done, path in enumerate(files, 1):
            reason = None
            try:
                report.add(syncer.sync(Source.read(path, content_type(path))))
            except BadFile as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"cannot read: {exc.strerror or exc}"
            except (ValidationError, InvalidInput) as exc:
                reason = exc.message
            if reason is not None:
                report.skipped.append((str(path), reason))
                log.warning("skipped %s: %s", path, reason)
            else:
                log.debug("ingested %s (%d/%d files, %d chunks so far)", path, done, len(files), report.chunks)
            if progress is not None:
                done_bytes += sizes[done - 1]
                progress(Progress(str(path), done, len(files), report.chunks, reason is not None, done_bytes, total))
        roots = [Path(p).expanduser().resolve() for p in paths if Path(p).expanduser().is_dir()] if prune else []
        if roots:
            for document in db.find(DOCUMENTS, "chunk_table", eq=table, fetch=True):
                where = Path(document["path"])
                if any(where.is_relative_to(root) for root in roots) and not where.exists():
                    report.pruned += 1
                    report.removed += syncer.prune(document)
        report.seconds = time.perf_counter() - started
        log.info("%s", report.summary())
        return report

    def sizing(self, table: str, chunk_size: int | None, overlap: int | None) -> Sizing:
        """The chunk sizes of an ingest into `table`, in the measure of the provider that embeds its
        `content`: its tokens (capped by its window), or characters when it has no tokenizer (or
        `content` is not embedded by a model: precomputed vectors, no such embedding field)."""
        provider = None
        if "content" in self.core.layout(table).table.embedding_fields:
            try:
                provider = self.core.vectors(table).provider("content")
            except InvalidInput:  # the field holds precomputed vectors: no model reads the chunks
                provider = None
        window = provider.max_tokens if provider is not None else None
        counts = provider.token_counts([]) is not None if provider is not None else False  # [] loads no model
        default = window if counts and window else min(window or DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE)
        size = chunk_size if chunk_size is not None else default
        what = f"{provider.name} model {provider.model}" if provider is not None else "the embedding model"
        if size < MIN_CHUNK_ROOM:
            raise InvalidInput(f"chunk_size must be at least {MIN_CHUNK_ROOM} tokens, got {shown(size)}")
        if window is not None and size > window:
            raise InvalidInput(
                f"chunk_size is in tokens and the {what} reads at most {window} (its window), got {size}; "
                "sizes were characters before: 1,000 characters are about 250 tokens"
            )
        repeat = overlap if overlap is not None else size // 10
        if size - repeat < MIN_CHUNK_ROOM:
            raise InvalidInput(
                f"overlap must leave at least {MIN_CHUNK_ROOM} tokens of a chunk's {size}, got {shown(repeat)}"
            )
        if counts and provider is not None:
            return Sizing(size, repeat, f"tokens of {provider.name}/{provider.model}", provider.token_counts)
        return Sizing(size * CHARS_PER_TOKEN, repeat * CHARS_PER_TOKEN, f"characters ({CHARS_PER_TOKEN} a token)")

    def stored_vectors(self, table: str) -> StoredVectors:
        """Reads the stored vectors of rows of `table`, per embedding field (raw float32, None where a
        row has none): what a chunk whose text moved to another ordinal keeps instead of being embedded
        again. One multi-get per field (`FieldVectors.stored`)."""
        core = self.core

        def read(ids: list[str]) -> dict[str, list[bytes | None]]:
            keys = [idmod.to_bytes(rid) for rid in ids]
            return {name: field.stored(keys) for name, field in core.vectors(table).fields.items()}

        return read

    def _documents_table(self) -> None:
        """Register the `documents` table on first use; refuse a user table of that name."""
        registry = self.core.registry
        if DOCUMENTS in registry:
            props = registry.get(DOCUMENTS).properties
            if not {"uri", "chunk_table", "sha256", "status"} <= set(props):
                raise SchemaError(f"a user table named {DOCUMENTS!r} exists; ingest needs that name for its records")
            return
        self.api.register_schema(DOCUMENTS_SCHEMA)


def _text_list(value: Any, what: str) -> list[Any]:
    """`value` as a list of strings (one string, or any iterable of them); InvalidInput otherwise."""
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, Iterable) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise InvalidInput(f"{what} must be a string or a list of strings, got {shown(value)}")
    return items


def _path_list(value: Any) -> list[str | os.PathLike[str]]:
    """The paths to ingest: one path or an iterable of them (str or os.PathLike, no NUL)."""
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value) if isinstance(value, Iterable) else None
    if items is None or isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"paths must be a path or a list of paths, got {shown(value)}")
    for item in items:
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        if not isinstance(text, str) or "\x00" in text:
            raise InvalidInput(f"not a file or directory path: {shown(item)}")
    return items


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


_OWNED = ("uri", "chunk_ordinal", "content", "id", "created_at", "modified_at", "deleted_at")


def _metadata(metadata: Any) -> dict[str, Any]:
    """The `metadata` of an ingest, checked: a dict with string keys and JSON values, not naming
    the fields ingest itself sets on a chunk."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput(f"metadata must be a dict of fields, got {shown(metadata)}")
    if not all(isinstance(k, str) and k for k in metadata):
        raise InvalidInput(f"metadata keys must be non-empty strings, got {shown(list(metadata))}")
    owned = sorted(set(metadata) & set(_OWNED))
    if owned:
        raise InvalidInput(f"metadata cannot set {owned[0]!r}: ingest sets it on every chunk")
    import json

    try:  # the standard library's encoder: orjson would write NaN as null
        return json.loads(json.dumps(metadata, allow_nan=False))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata must hold JSON values: {exc}") from None
