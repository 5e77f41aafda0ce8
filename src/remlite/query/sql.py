"""`Database.sql` / `Database.explain` (`SQL`): the SQL engine, loaded on first use.

The engine pulls in sqlglot, DuckDB and pyarrow (~50 MB resident); importing them lazily keeps a
bare `remlite.connect()` small for applications that never run SQL.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from remlite.errors import DatabaseClosed, InvalidInput

if TYPE_CHECKING:
    from remlite.core import TenantCore
    from remlite.graph.traverse import Traversal
    from remlite.moments import Moments
    from remlite.query.engine import Engine
    from remlite.query.result import Result
    from remlite.reads import Reader
    from remlite.records import TableLayout
    from remlite.semantic.search import Search


class SQL:
    """sql and explain of `remlite.Database`."""

    def __init__(self, core: TenantCore, reader: Reader, traversal: Traversal, moments: Moments) -> None:
        self.core = core
        self.reader = reader
        self.moments = moments
        self.search: Search | None = None  # set once the search component exists (it uses our filter)
        self.traversal = traversal
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        # Checked on every call: the column cache would otherwise keep answering aggregates from
        # memory after close().
        if self.core.store.closed:
            raise DatabaseClosed("the database is closed")
        engine = self._engine
        if engine is None:
            from remlite.query.engine import Engine

            with self._lock:
                engine = self._engine
                if engine is None:
                    assert self.search is not None
                    engine = self._engine = Engine(self.core, self.reader, self.search, self.traversal, self.moments)
        return engine

    def close(self) -> None:
        """Release the column cache and the DuckDB connection (`Database.close()` calls this)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    def allowed_ids(
        self, layout: TableLayout, where: str, params: Any, labels: dict[bytes, int]
    ) -> tuple[set[bytes], list[str]]:
        """The ids of live rows of a table matching a WHERE expression (`search(where=...)`)."""
        from remlite.query.filters import allowed_ids

        return allowed_ids(self.core, self.engine, layout, where, params, labels)

    def sql(self, text: str, params: Any = None, *, include_deleted: bool = False) -> Result:
        """Run one SQL statement (or LOOKUP / SEARCH / TRAVERSE / EXPLAIN) and return its rows.

        `params` fills `?` placeholders (a list, in order) or `:name` ones (a dict). Soft-deleted
        rows are left out unless `include_deleted=True`. See docs/sql.md for the dialect."""
        return self.engine().run(text, params, include_deleted)

    def explain(
        self, text: str, params: Any = None, *, include_deleted: bool = False, format: str = "text"
    ) -> str | dict[str, Any]:
        """The plan `sql(text)` would run with: one step per line (the rows of `EXPLAIN text`), or
        with `format="json"` as data: `{"statement", "steps", "lines"}`, each step a dict with its
        `step` kind (stream_ids, count_index_keys, index_candidates, index_order, scan, search,
        column_cache, duckdb, duckdb_statement, stage, …) and what it reads. Nothing is run."""
        if format not in ("text", "json"):
            raise InvalidInput(f"format must be 'text' or 'json', got {format!r}")
        result = self.engine().run(text, params, include_deleted, explain=True)
        if format == "text":
            return "\n".join(result.plan)
        return {"statement": text, "plan": result.tree, "steps": result.steps, "lines": result.plan}
