"""remdb: an embedded database for AI applications — Resources, Entities, Moments and edges."""

from remdb import errors
from remdb.database import Database, REMDatabase, connect, repair
from remdb.errors import (
    InvalidInput,
    NotFound,
    QueryError,
    RemDBError,
    SchemaError,
    StorageError,
    ValidationError,
)
from remdb.runtime import Runtime, default_runtime
from remdb.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Database",
    "InvalidInput",
    "NotFound",
    "QueryError",
    "REMDatabase",
    "RemDBError",
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
]
