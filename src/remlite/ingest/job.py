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

from remlite.errors import InvalidInput, SchemaError, ValidationError, shown
from remlite.ingest.files import collect, require_found
from remlite.ingest.formats import BadFile, content_type
from remlite.ingest.report import IngestReport, Progress
from remlite.ingest.sync import DOCUMENTS, DOCUMENTS_SCHEMA, Source, Syncer

log = logging.getLogger("remlite.ingest")  # standard logging (silent unless the application configures it)

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.database import Database

DEFAULT_CHUNK_SIZE = 1000  # characters; ~250 tokens, within MiniLM's 256-token window
DEFAULT_OVERLAP = 100


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
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        overlap: int = DEFAULT_OVERLAP,
        glob: str | Iterable[str] | None = None,
        progress: Callable[[Progress], None] | None = None,
        prune: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest files and directories (recursively; hidden ones skipped; `glob` filters names)
        into `table`: text, Markdown, HTML and PDF are chunked (`chunk_size` characters at most,
        `overlap` characters of whole sentences repeated), JSON Lines records are inserted as
        they are. Only what changed since the last ingest is written; unchanged files write
        nothing. `progress(Progress)` is called after every file. `prune=True` also removes the
        document record and the chunks of every file once ingested from under one of the given
        directories (into `table`) that no longer exists. `metadata` is set on every chunk (keys the
        table declares as fields, the others in its `metadata` object) and on the document record; a
        Markdown file's front matter adds its own (and wins). Metadata is kept across re-ingests; a
        change of it updates the chunks in place (never embedding them again), and fields set on
        chunks afterwards are kept. Returns an `IngestReport`."""
        paths = _path_list(paths)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise InvalidInput(f"chunk_size must be a positive integer, got {shown(chunk_size)}")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < chunk_size:
            raise InvalidInput(f"overlap must be an integer in [0, chunk_size), got {shown(overlap)}")
        patterns = None if glob is None else _text_list(glob, "glob")
        metadata = _metadata(metadata)
        db = self.api
        if table == DOCUMENTS:
            raise InvalidInput(f"{DOCUMENTS} holds the document records of ingest; choose another table")
        db.schema(table)  # UnknownTable before anything is read
        started = time.perf_counter()
        files, missing = collect(paths, patterns)
        require_found(missing)  # before anything is written (the documents table included)
        self._documents_table()
        report = IngestReport(table=table)
        log.info("ingesting %d files into %s", len(files), table)
        syncer = Syncer(db, self.core.layout(table), chunk_size, overlap, metadata)
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
