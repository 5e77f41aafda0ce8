"""`Database.sql` / `Database.explain`: a thin mixin that loads the SQL engine on first use.

The engine pulls in sqlglot, DuckDB and pyarrow (~50 MB resident); importing them lazily keeps a
bare `remlite.connect()` small for applications that never run SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remlite.errors import DatabaseClosed

if TYPE_CHECKING:
    from remlite.query.engine import Engine
    from remlite.query.result import Result


class SQLMixin:
    """The SQL methods of `remlite.Database`."""

    closed: bool

    def _sql_engine(self) -> Engine:
        # Checked on every call: the column cache would otherwise keep answering aggregates from
        # memory after close().
        if self.closed:
            raise DatabaseClosed("the database is closed")
        engine = self.__dict__.get("_sql_state")
        if engine is None:
            from remlite.query.engine import Engine

            engine = self.__dict__["_sql_state"] = Engine(self)
        return engine

    def _close_sql(self) -> None:
        """Release the column cache and the DuckDB connection (`close()` calls this)."""
        engine = self.__dict__.pop("_sql_state", None)
        if engine is not None:
            engine.close()

    def sql(self, text: str, params: Any = None, *, include_deleted: bool = False) -> Result:
        """Run one SQL statement (or LOOKUP / SEARCH / TRAVERSE / EXPLAIN) and return its rows.

        `params` fills `?` placeholders (a list, in order) or `:name` ones (a dict). Soft-deleted
        rows are left out unless `include_deleted=True`. See docs/sql.md for the dialect."""
        return self._sql_engine().run(text, params, include_deleted)

    def explain(self, text: str, params: Any = None, *, include_deleted: bool = False) -> str:
        """The plan `sql(text)` would run with, one step per line (the rows of `EXPLAIN text`)."""
        return "\n".join(self._sql_engine().run(text, params, include_deleted, explain=True).plan)
