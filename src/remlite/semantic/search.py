"""`Database.search`: vector, BM25 and hybrid search over a table, with real pre-filtering.

The filter (`where`, a SQL boolean expression) is resolved first, through secondary indexes where
it can be, into the exact set of admissible rows; vector and text search then run only over that
set (exact numpy search when it is small, filtered HNSW otherwise), so `k` results come back
whenever `k` matching rows exist. Hybrid fuses the two rankings by reciprocal rank fusion:
score(d) = sum over rankings r of weight_r / (rrf_k + rank_r(d)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from remlite import ids as idmod
from remlite.errors import InvalidInput, shown

if TYPE_CHECKING:
    from remlite.core import TenantCore

MODES = ("vector", "text", "hybrid")
# (layout, where, params, labels to fill) -> (ids of the live rows matching, plan steps)
Prefilter = Callable[[Any, str, Any, dict[bytes, int]], tuple[set[bytes], list[str]]]


class Search:
    """`Database.search`: vector, text and hybrid search with pre-filtering."""

    def __init__(self, core: TenantCore, prefilter: Prefilter) -> None:
        self.core = core
        self.prefilter = prefilter  # the SQL layer's WHERE -> ids (`SQL.allowed_ids`)

    def search(
        self,
        table: str,
        query: Any,
        k: int = 10,
        *,
        where: str | None = None,
        params: Any = None,
        mode: str = "vector",
        field: str | None = None,
        min_score: float | None = None,
        rrf_k: int = 60,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[dict[str, Any]]:
        """Rows of `table` best first, each with `_score` (cosine similarity for vector search, BM25
        for text, the fused score for hybrid, where `_vector_score` / `_text_score` are added).

        `query` is text (embedded with the field's provider) or, in vector mode, a vector.
        """
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {shown(mode)}")
        _check_options(k, min_score, rrf_k, weights)
        if not isinstance(query, str):
            _check_query_vector(query)
        elif not query.isascii():  # O(1); only non-ASCII text pays for the encode
            _check_query_text(query)
        layout = self.core.layout(table)
        allowed: set[bytes] | None = None
        labels: dict[bytes, int] = {}  # rid -> HNSW label, read off the filter's index scans
        if where is not None:
            allowed, _steps = self.prefilter(layout, where, params, labels)
            if not allowed:
                return []
        rows: dict[str, dict[str, Any]] = {}  # live rows by id, fetched while vector hits are checked
        if mode == "vector":
            hits = self._vector_hits(table, query, k, allowed, field, labels, rows)
        elif mode == "text":
            hits = self._text_hits(table, query, k, allowed, field)
        else:
            if not isinstance(query, str):
                raise InvalidInput("hybrid search needs a text query")
            depth = max(k * 4, 50)
            vector_hits = self._vector_hits(table, query, depth, allowed, field, labels)
            text_hits = self._text_hits(table, query, depth, allowed, field)
            hits = fuse(vector_hits, text_hits, k, rrf_k, weights)
        if min_score is not None:
            hits = [h for h in hits if h[1] >= min_score]
        names = idmod.to_strs([rid for rid, *_ in hits])
        missing = [rid for (rid, *_), name in zip(hits, names, strict=True) if name not in rows]
        if missing:
            rows.update((row["id"], row) for row in self.core.fetch(layout, missing))
        out = []
        for (_rid, score, *parts), name in zip(hits, names, strict=True):
            row = rows.get(name)
            if row is None:
                continue
            row["_score"] = score
            if parts:
                row["_vector_score"], row["_text_score"] = parts
            out.append(row)
        return out

    def _vector_hits(
        self,
        table: str,
        query: Any,
        k: int,
        allowed: set[bytes] | None,
        field: str | None,
        labels: dict[bytes, int] | None = None,
        rows: dict[str, dict[str, Any]] | None = None,
    ) -> list[tuple[bytes, float]]:
        """(row id, score) best first.

        A label that no longer maps to a live embedded row (a ghost: its row was hard or soft deleted,
        or lost its text, and the index missed it) is dropped from the index and the search runs
        again, so ghosts never shorten the result. With `rows` (vector mode) the hits' rows are read
        here, checked, and handed back in it (by id string), so checking costs no extra read. Without
        it (hybrid, whose deep candidate list is mostly not returned, so reading its rows would cost
        ~10%) only the row-label keys are checked: a soft-deleted ghost is dropped by the final read."""
        import numpy as np

        from remlite.semantic.text import text_of
        from remlite.vector.checks import as_query

        table_vectors = self.core.vectors(table)
        name = pick_field(table, field, list(table_vectors.fields), "embedding")
        vectors = table_vectors.fields[name]
        layout, parts = self.core.layout(table), tuple(name.split("."))
        allowed_labels = None
        if allowed is not None:
            known = labels or {}
            missing = [rid for rid in allowed if rid not in known]
            extra = [n for n in self.core.rownums(missing) if n is not None] if missing else []
            allowed_labels = np.fromiter((known[rid] for rid in allowed if rid in known), dtype=np.uint64)
            if extra:
                allowed_labels = np.concatenate([allowed_labels, np.asarray(extra, dtype=np.uint64)])
            if not len(allowed_labels):
                return []
        embedded_for = -1  # the generation `vector` was made for
        while True:
            generation, config = vectors.space
            if config is None:
                return []  # nothing embedded yet
            if embedded_for != generation and isinstance(query, str):
                vector = table_vectors.provider_for(config).embed_one(query)
            elif embedded_for != generation:
                vector = as_query(query, config["dimension"])
            embedded_for = generation
            with vectors.lock:
                if vectors.generation != generation:
                    continue  # a re-embed switched models after the query was embedded: embed it again
                index = vectors.ensure_index(self.core.wal.seq, self.core.wal.iter_after, self.core.rownums)
                found_labels, scores = index.search(vector, k, allowed=allowed_labels)
            found = found_labels.tolist()
            rids = vectors.rids_of(found)
            fetched: dict[str, dict[str, Any]] = {}
            if rows is not None:
                present = [rid for rid in rids if rid is not None]
                name_of = dict(zip(present, idmod.to_strs(present), strict=True))
                fetched = {row["id"]: row for row in self.core.fetch(layout, present)}
            hits, suspects = [], []
            for label, rid, score in zip(found, rids, scores.tolist(), strict=True):
                if rid is None:
                    suspects.append(label)  # hard deleted
                    continue
                if rows is not None:
                    row = fetched.get(name_of[rid])
                    if row is None:
                        suspects.append(label)  # soft deleted
                        continue
                    if not text_of(row, parts):
                        suspects.append(label)  # no text: a ghost unless its vector was given
                hits.append((rid, score))
            ghosts = vectors.ghosts(suspects) if suspects else []
            if not ghosts:
                if rows is not None:
                    rows.update(fetched)
                return hits
            vectors.forget(ghosts, generation)

    def _text_hits(
        self, table: str, query: Any, k: int, allowed: set[bytes] | None, field: str | None
    ) -> list[tuple[bytes, float]]:
        if not isinstance(query, str):
            raise InvalidInput("text search needs a text query")
        text = self.core.text(table)
        name = pick_field(table, field, list(text.fields), "text")
        return text.index(name).search(query, k, allowed=allowed)


def pick_field(table: str, field: str | None, fields: list[str], what: str) -> str:
    if not fields:
        raise InvalidInput(f"{table} has no {what} fields (declare embedding_fields or text_fields)")
    if field is None:
        return fields[0]
    if not isinstance(field, str):
        raise InvalidInput(f"field must be a field name (a string), got {shown(field)}")
    if field not in fields:
        raise InvalidInput(f"{table}.{field} is not one of its {what} fields: {', '.join(fields)}")
    return field


def fuse(
    vector_hits: list[tuple[bytes, float]],
    text_hits: list[tuple[bytes, float]],
    k: int,
    rrf_k: int,
    weights: tuple[float, float],
) -> list[tuple[bytes, float, float | None, float | None]]:
    """Reciprocal rank fusion of two rankings; keeps each side's own score for inspection."""
    scores: dict[bytes, float] = {}
    vector_score = {rid: s for rid, s in vector_hits}
    text_score = {rid: s for rid, s in text_hits}
    for weight, hits in zip(weights, (vector_hits, text_hits), strict=True):
        for rank, (rid, _score) in enumerate(hits, start=1):
            scores[rid] = scores.get(rid, 0.0) + weight / (rrf_k + rank)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [(rid, score, vector_score.get(rid), text_score.get(rid)) for rid, score in ranked]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value - value == 0


def _check_options(k: Any, min_score: Any, rrf_k: Any, weights: Any) -> None:
    """Refuse option values that would fail deep inside ranking (or, for min_score on an empty
    result, pass unnoticed) with an error naming the option."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInput(f"k must be a positive integer, got {shown(k)}")
    if min_score is not None and not _is_number(min_score):
        raise InvalidInput(f"min_score must be a finite number or None, got {shown(min_score)}")
    if not isinstance(rrf_k, int) or isinstance(rrf_k, bool) or rrf_k < 0:
        raise InvalidInput(f"rrf_k must be a non-negative integer, got {shown(rrf_k)}")
    if not isinstance(weights, (tuple, list)) or len(weights) != 2 or not all(map(_is_number, weights)):
        raise InvalidInput(f"weights must be two finite numbers (vector, text), got {shown(weights)}")


def _check_query_text(query: str) -> None:
    """A lone surrogate cannot be encoded for a tokenizer or an endpoint (the local model raised
    TypeError on it): refused in every mode, and on an empty table too."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"query is not valid Unicode (it holds a lone surrogate): {shown(query)}") from None


def _check_query_vector(query: Any) -> None:
    """A query that is not text must be one vector of numbers, refused before anything is read
    (its dimension is checked against the field once the field's model is known)."""
    import numpy as np

    try:
        with np.errstate(over="ignore"):  # a value past float32's range becomes inf: refused below
            vector = np.asarray(query, dtype=np.float32)
    except (TypeError, ValueError):
        vector = None
    if vector is None or vector.ndim not in (1, 2) or (vector.ndim == 2 and vector.shape[0] != 1):
        raise InvalidInput(f"query must be text or one vector of numbers, got {type(query).__name__}")
    if vector.dtype.kind == "f" and not np.isfinite(vector).all():
        raise InvalidInput("a query vector's values must be finite float32 numbers (no NaN, infinity or beyond 3.4e38)")
