"""`Result`: what `Database.sql()` returns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson


class Result:
    """Rows of a query: `.columns` (names, in order), `.rows` (one dict per row, keyed by those
    names), `len()`, iteration over the rows, `.to_arrow()`, `.to_pandas()`. `.plan` holds the
    plan the query ran with (the lines `EXPLAIN` prints); `.steps` the same plan as data."""

    def __init__(
        self,
        columns: list[str],
        rows: list[dict[str, Any]],
        plan: Any = None,
        steps: list[dict[str, Any]] | None = None,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self._plan = plan  # its lines, or a `remlite.query.steps.Plan` printed only when asked
        self._steps = steps

    @property
    def plan(self) -> list[str]:
        if self._plan is None or isinstance(self._plan, list):
            return self._plan or []
        return self._plan.lines()

    @property
    def steps(self) -> list[dict[str, Any]]:
        if self._steps is not None:
            return self._steps
        return [] if self._plan is None or isinstance(self._plan, list) else self._plan.steps()

    @property
    def tree(self) -> dict[str, Any] | None:
        """The plan tree as data (None for plans that are not trees: LOOKUP, SEARCH, TRAVERSE)."""
        return None if self._plan is None or isinstance(self._plan, list) else self._plan.data()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def __repr__(self) -> str:
        return f"<remlite.Result {len(self.rows)} row(s): {', '.join(self.columns)}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Result):
            return self.columns == other.columns and self.rows == other.rows
        return NotImplemented

    def scalar(self) -> Any:
        """The first column of the first row (None when there are no rows)."""
        return self.rows[0][self.columns[0]] if self.rows and self.columns else None

    def to_arrow(self) -> Any:
        """A pyarrow.Table; a column whose values Arrow cannot type together is JSON text."""
        import pyarrow as pa

        arrays = []
        for name in self.columns:
            values = [row.get(name) for row in self.rows]
            try:
                arrays.append(pa.array(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                arrays.append(pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string()))
        return pa.Table.from_arrays(arrays, names=list(self.columns))

    def to_pandas(self) -> Any:
        """A pandas.DataFrame (needs pandas installed)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("Result.to_pandas() needs pandas: pip install pandas") from None
        return self.to_arrow().to_pandas()
