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

__version__ = "0.1.0"

__all__ = [
    "Database",
    "InvalidInput",
    "NotFound",
    "QueryError",
    "REMDatabase",
    "RemDBError",
    "SchemaError",
    "StorageError",
    "ValidationError",
    "__version__",
    "connect",
    "errors",
    "repair",
]
