"""Every error remlite raises, under one base class.

Each class carries the HTTP status and the CLI exit code it maps to, so the shells translate errors
in exactly one place each and never guess.
"""

from __future__ import annotations

import reprlib
from typing import Any


class RemliteError(Exception):
    """Base of every remlite error."""

    http_status: int = 500
    exit_code: int = 1
    code: str = "remlite_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """The one JSON error shape shared by the CLI (`--json`) and the HTTP API."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class InvalidInput(RemliteError):
    """Input that cannot be read at all: malformed JSON, a malformed id, a bad option value."""

    http_status = 400
    exit_code = 2
    code = "invalid_input"


class InvalidId(InvalidInput):
    """A string that is not a record id (ids are UUIDs)."""

    code = "invalid_id"


class ValidationError(RemliteError):
    """A record that does not satisfy its table's schema. `field` names the offending path."""

    http_status = 422
    exit_code = 3
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, table: str | None = None) -> None:
        super().__init__(message, field=field, table=table)
        self.field = field
        self.table = table

    def at_record(self, position: int) -> ValidationError:
        """The same error, naming the record's position in a batch."""
        self.message = f"record {position}: {self.message}"
        self.args = (self.message,)
        self.details["record"] = position
        return self


class SchemaError(RemliteError):
    """A schema that cannot be registered, changed or dropped, or an unknown table."""

    http_status = 400
    exit_code = 4
    code = "schema_error"


class UnknownTable(SchemaError):
    """No table of that name. In a query, `line` and `col` point at the name."""

    http_status = 404
    code = "unknown_table"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.line: int | None = details.get("line")
        self.col: int | None = details.get("col")


class IncompatibleSchema(SchemaError):
    http_status = 409
    code = "incompatible_schema"


class NotFound(RemliteError, LookupError):
    """No live record with that id (or key)."""

    http_status = 404
    exit_code = 5
    code = "not_found"


class QueryError(RemliteError):
    """A query that cannot be run. `line` and `col` point into the query text when known."""

    http_status = 400
    exit_code = 6
    code = "query_error"

    def __init__(self, message: str, *, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message, line=line, col=col)
        self.line = line
        self.col = col


class StorageError(RemliteError):
    """The storage engine failed or the files on disk are not what remlite expects."""

    http_status = 500
    exit_code = 7
    code = "storage_error"


class FormatVersionError(StorageError):
    """The database was written by a newer (or unknown) on-disk format."""

    exit_code = 8
    code = "format_version"


class DatabaseLocked(StorageError):
    """Another process holds the database open for writing."""

    http_status = 423
    exit_code = 9
    code = "database_locked"


class ReadOnly(StorageError):
    """A write through a handle opened with `read_only=True` (it reads a database another process
    writes; write through that process, or its `remlite serve`)."""

    http_status = 403
    code = "read_only"


class DatabaseClosed(StorageError):
    code = "database_closed"


class BackupCorrupt(StorageError):
    """A backup that fails verification: a file missing, of the wrong size or checksum, or an
    unreadable manifest. `file` names it; nothing was restored."""

    code = "backup_corrupt"


class EmbeddingError(RemliteError):
    """An embedding provider failed: a missing or tampered model file, or an endpoint that errs.
    The message names the file or URL at fault."""

    http_status = 500
    exit_code = 10
    code = "embedding_error"


class EmbeddingEndpointError(EmbeddingError):
    """A remote embedding endpoint refused, failed or timed out (after the bounded retries)."""

    http_status = 502
    code = "embedding_endpoint_error"


class PlannerError(RemliteError):
    """The LLM planner gave no plan: its endpoint refused, failed or timed out (after the bounded
    retries; `url`, `status`), or every answer it gave was not a valid plan for the tenant's schemas
    (`attempts`; `answer`: the last one, truncated). Never a silent switch to the rules planner."""

    http_status = 502
    exit_code = 13
    code = "planner_error"


__all__ = [
    "BackupCorrupt",
    "DatabaseClosed",
    "DatabaseLocked",
    "EmbeddingEndpointError",
    "EmbeddingError",
    "EncryptionError",
    "FormatVersionError",
    "ImportRejected",
    "IncompatibleSchema",
    "InvalidId",
    "InvalidInput",
    "NotFound",
    "PlannerError",
    "QueryError",
    "ReadOnly",
    "RemliteError",
    "ReplicationError",
    "SchemaError",
    "StorageError",
    "UnknownTable",
    "ValidationError",
    "WrongPassphrase",
]


class WalTruncated(RemliteError):
    """Change-log entries a reader asked for were removed by `truncate_wal`: a replica or feed that
    far behind must start again from a copy of the database."""

    http_status = 410
    exit_code = 11
    code = "wal_truncated"


_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlevel = 80, 80, 3


def shown(value: Any) -> str:
    """A caller's value as an error message shows it: bounded, since the builtin repr of a list nested
    thousands deep raises RecursionError instead of the error being built, and a huge value floods the message."""
    return _SHOWN.repr(value)


class ChangeLogConflict(RemliteError):
    """`Database.apply` was given entries that do not continue this database's change log: a seq
    it holds with different content (another lineage), a gap, or an entry replay cannot use."""

    http_status = 409
    exit_code = 12
    code = "change_log_conflict"


class EncryptionError(RemliteError):
    """An encrypted database (or backup, or export) could not be opened: no passphrase was given
    (`passphrase=` or `REMLITE_PASSPHRASE`), or a value failed its authentication tag (tampered
    with, or written under another key). Keys and passphrases never appear in the message."""

    http_status = 403
    exit_code = 14
    code = "encryption_error"


class WrongPassphrase(EncryptionError):
    """The passphrase does not unwrap the database's data key: nothing was read or changed."""

    code = "wrong_passphrase"


class ReplicationError(RemliteError):
    """A replica could not follow its primary: the primary is unreachable or answered with an
    error (after the bounded retries), or this database is not a replica of that primary."""

    http_status = 502
    exit_code = 15
    code = "replication_error"


class ImportRejected(ValidationError):
    """`import` found rows it cannot store: nothing was written. `rejected` lists each one as
    {"row": its 1-based position in the file, "error": why}, at most 100 of them; `count` is how many."""

    code = "import_rejected"
