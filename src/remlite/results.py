"""`Rows`: what `search`, `traverse`, `neighbors` and `moments` return — a plain list of records
that also becomes an Arrow table or a DataFrame in one call (`to_arrow`, `to_pandas`, `to_polars`).

Why a list subclass and not a new result object: every existing caller indexes, iterates, compares
and JSON-encodes these results as lists, and keeps working unchanged.

Columns are the union of the records' keys, in first-seen order. Records hold JSON values, so a
column whose values Arrow cannot put in one type (a number in one row and a string in another, or
nested values of differing shapes) becomes JSON text rather than failing the conversion.
"""

from __future__ import annotations

from typing import Any

import orjson

from remlite.errors import InvalidInput


class Rows(list):  # type: ignore[type-arg]
    """A list of result records with `to_arrow()`, `to_pandas()` and `to_polars()`."""

    __slots__ = ()

    def to_arrow(self) -> Any:
        """The records as a `pyarrow.Table` (one column per key; mixed-type columns as JSON text)."""
        import pyarrow as pa

        names: dict[str, None] = {}
        for record in self:
            if isinstance(record, dict):
                names.update(dict.fromkeys(record))
        if not all(isinstance(r, dict) for r in self):  # ids (a path) rather than records
            return pa.table({"value": pa.array([r if isinstance(r, str) else orjson.dumps(r).decode() for r in self])})
        columns = {}
        for name in names:
            values = [record.get(name) for record in self]
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                columns[name] = pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())
        return pa.table(columns)

    def to_pandas(self) -> Any:
        """The records as a pandas DataFrame (needs pandas: `pip install 'remlite[dataframes]'`)."""
        _need("pandas")
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """The records as a polars DataFrame (needs polars: `pip install 'remlite[dataframes]'`)."""
        polars = _need("polars")
        return polars.from_arrow(self.to_arrow())


def _need(package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise InvalidInput(f"{package} is not installed: pip install 'remlite[dataframes]' (or {package})") from None
