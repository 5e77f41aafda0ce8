"""remlite: an embedded database for AI applications — Resources, Entities, Moments and edges."""

from remlite import errors
from remlite.database import Database, REMDatabase, connect, repair
from remlite.errors import (
    InvalidInput,
    NotFound,
    QueryError,
    RemliteError,
    SchemaError,
    StorageError,
    ValidationError,
)
from remlite.ops.backup import restore
from remlite.runtime import Runtime, default_runtime
from remlite.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Database",
    "InvalidInput",
    "NotFound",
    "QueryError",
    "REMDatabase",
    "RemliteError",
    "Runtime",
    "SchemaError",
    "Settings",
    "StorageError",
    "ValidationError",
    "__version__",
    "connect",
    "default_runtime",
    "errors",
    "repair",
    "restore",
]
