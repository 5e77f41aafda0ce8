"""Files uploaded to `POST /v1/ingest`: kept under the server's root and ingested from there.

Why keep them: ingest knows a document by its path, so an upload of the same name lands on the same
file and a re-upload writes only the chunks that changed (and `prune` semantics stay the library's).
A name is a relative path of plain parts; it can never leave the tenant's upload directory.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.errors import InvalidInput

if TYPE_CHECKING:
    from remlite.database import Database

UPLOADS = Path(".remlite") / "uploads"  # under the served root, one directory per tenant
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,+=@()-]{0,254}$")


def upload_path(root: Path, tenant: str, name: str) -> Path:
    """Where the upload `name` of `tenant` is kept; InvalidInput for a name that is not a plain
    relative path (no '..', no hidden parts, no absolute path)."""
    parts = name.replace("\\", "/").split("/")
    if not all(_PART.fullmatch(part) and part not in (".", "..") for part in parts):
        raise InvalidInput(
            f"invalid upload name {name!r}: a relative path of parts made of letters, digits and ' _.,+=@()-'"
        )
    return root / UPLOADS / tenant / Path(*parts)


def ingest_upload(db: Database, query: Any, content: bytes) -> dict[str, Any]:
    """Write `content` atomically to the upload's path, then ingest that file; the report as JSON."""
    if not content:
        raise InvalidInput("the upload is empty: send the file's bytes as the request body")
    target = upload_path(Path(db.path).parent, db.tenant, query.name)
    db.schema(query.table)  # UnknownTable before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    options = {k: v for k, v in (("chunk_size", query.chunk_size), ("overlap", query.overlap)) if v is not None}
    report = db.ingest(target, query.table, **options)
    return report_json(report, target, query.name)


def report_json(report: Any, stored: Path, name: str) -> dict[str, Any]:
    """The IngestReport's own JSON, with the server's path of the file shown as its upload name."""
    out: dict[str, Any] = report.to_dict()
    for skipped in out["skipped"]:
        if skipped["path"] == str(stored):
            skipped["path"] = name
    return out
