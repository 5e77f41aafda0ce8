"""Embedding a table's rows: which fields, which provider, precomputed vectors, one model call per
field per batch. The result is aligned with the rows and written by the database in their batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.errors import InvalidInput
from remlite.schema.model import TableSchema
from remlite.semantic.text import text_of
from remlite.storage.engine import Store

if TYPE_CHECKING:
    import numpy as np

    from remlite.semantic.vectors import FieldVectors

# per field: one entry per row, a vector or None (no text: remove any stored vector)
FieldBatch = dict[str, list["np.ndarray | None"]]


class TableVectors:
    def __init__(
        self, store: Store, table: TableSchema, directory: Path, provider_for: Callable[[dict[str, Any] | None], Any]
    ) -> None:
        self.table = table.name
        self.fields: dict[str, FieldVectors] = {}
        if table.embedding_fields:  # numpy and usearch (~16 MB, 0.08 s) only for a table that embeds
            from remlite.semantic.vectors import FieldVectors

            self.fields = {name: FieldVectors(store, table, name, directory) for name in table.embedding_fields}
        self._parts = {name: tuple(name.split(".")) for name in table.embedding_fields}
        self._provider_for = provider_for

    def __bool__(self) -> bool:
        return bool(self.fields)

    def provider(self, field: str) -> Any:
        return self._provider_for(self.fields[field].config)

    def provider_for(self, config: dict[str, Any] | None) -> Any:
        """The provider of a config read earlier (the field's may have changed since)."""
        return self._provider_for(config)

    @property
    def generation(self) -> int:
        """Changes whenever a field's vector space does: read it before `compute`, compare under the
        write lock; a change means the vectors were made for a space that is no longer current."""
        return sum(field.generation for field in self.fields.values())

    def compute(
        self,
        bodies: Sequence[dict[str, Any]],
        given: dict[str, Any] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> tuple[FieldBatch, dict[str, dict[str, Any]]]:
        """(vectors per field, configs to record for fields getting their first vectors)."""
        given = dict(given or {})
        unknown = set(given) - set(self.fields)
        if unknown:
            known = ", ".join(self.fields) or "none"
            raise InvalidInput(
                f"vectors given for {sorted(unknown)}, which are not embedding fields of {self.table} ({known})"
            )
        out: FieldBatch = {}
        configs: dict[str, dict[str, Any]] = {}
        for name, field in self.fields.items():
            if name in skip:
                continue
            current = field.config  # one read: embedding and the check below agree on the space
            if name in given:
                vectors, describe = self._precomputed(name, given[name], len(bodies), current)
            else:
                vectors, describe = self._embed(name, bodies, current)
            if describe is not None:
                config = field.check_config(describe, current)
                if config is not None:
                    configs[name] = config
            out[name] = vectors
        return out, configs

    def _embed(
        self, name: str, bodies: Sequence[dict[str, Any]], config: dict[str, Any] | None
    ) -> tuple[list[np.ndarray | None], dict[str, Any] | None]:
        texts = [text_of(body, self._parts[name]) for body in bodies]
        wanted = [i for i, text in enumerate(texts) if text]
        vectors: list[np.ndarray | None] = [None] * len(bodies)
        if not wanted:
            return vectors, None
        provider = self._provider_for(config)
        matrix = provider.embed([texts[i] for i in wanted])  # type: ignore[misc]
        for row, i in enumerate(wanted):
            vectors[i] = matrix[row]
        return vectors, provider.describe()

    def _precomputed(
        self, name: str, value: Any, rows: int, existing: dict[str, Any] | None
    ) -> tuple[list[np.ndarray | None], dict[str, Any] | None]:
        import numpy as np

        items = list(value) if not isinstance(value, np.ndarray) else value
        if len(items) != rows:
            raise InvalidInput(f"{len(items)} vectors given for {name!r} but {rows} records")
        out: list[np.ndarray | None] = []
        dims = set()
        for i, item in enumerate(items):
            if item is None:
                out.append(None)
                continue
            try:
                with np.errstate(over="ignore"):  # past float32's range: inf, refused just below
                    vector = np.asarray(item, dtype=np.float32)
            except (TypeError, ValueError):
                vector = np.empty(0, np.float32)  # not numbers at all: refused just below
            if vector.ndim != 1 or not len(vector) or not np.all(np.isfinite(vector)):
                raise InvalidInput(f"vector {i} for {name!r} must be a non-empty 1-d array of finite numbers")
            dims.add(len(vector))
            out.append(np.ascontiguousarray(vector))
        if len(dims) > 1:
            raise InvalidInput(f"vectors for {name!r} have different lengths: {sorted(dims)}")
        if not dims:
            return out, None
        dimension = dims.pop()
        if self.fields[name].metric == "cos":
            out = [None if v is None else _unit(v) for v in out]
        describe = {
            "provider": existing["provider"] if existing else "precomputed",
            "model": existing["model"] if existing else "precomputed",
            "dimension": dimension,
        }
        return out, describe

    def save(self) -> None:
        for field in self.fields.values():
            field.save()


def _unit(vector: np.ndarray) -> np.ndarray:
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
