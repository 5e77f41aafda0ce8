"""A LangChain `VectorStore` on a remlite table: `RemliteVectorStore`, and `RemliteEmbeddings`.

    from langchain_core.embeddings import DeterministicFakeEmbedding
    from remlite.integrations.langchain import RemliteVectorStore

    embedding = DeterministicFakeEmbedding(size=64)  # any LangChain Embeddings
    store = RemliteVectorStore.from_texts(["refunds take 14 days"], embedding, [{"source": "faq"}], path="./data")
    store.similarity_search("how long do refunds take", k=1, filter={"source": "faq"})
    store.close()

What maps to what:

- One LangChain collection is one remlite table (default `langchain`), created on first use with the fields
  `doc_id` (the LangChain id: the table's natural key), `content` (`Document.page_content`: the embedding field,
  cosine metric) and `metadata` (`Document.metadata`, one JSON object). Any table with those three fields, keyed by
  `doc_id` and embedding `content`, is accepted; other tables are refused with `InvalidInput`.
- Vectors come from the LangChain `Embeddings` object, not from remlite's own model: texts are embedded by
  `embed_documents` / `embed_query` (their `a...` variants in the async methods) and handed to remlite as
  precomputed vectors (`insert_batch(..., vectors=...)`, a vector as the search query). So the user's embedding
  model is the one used, and remlite records the field's vectors as `precomputed` (a text query through
  `db.search` on this table is then refused: pass a vector). `RemliteEmbeddings` wraps a remlite provider (the
  offline `local` MiniLM, `openai`, `hash`) as a LangChain `Embeddings` for those who want remlite's.
- Ids: `add_texts` / `add_documents` write with one `insert_batch` (one atomic WriteBatch per 10,000 rows);
  the natural key makes a write of an existing id an upsert (same remlite row id, text, metadata and vector
  replaced). Missing ids are new uuid4 strings. `delete(ids)` hard-deletes (the row, its vector and index
  entries are gone, the id may be reused); `delete()` without ids empties the table.
- Search is `db.search(table, vector, k, where=...)`: remlite pre-filters (the filter is resolved to the exact
  set of matching rows first, then the vector search runs over that set), so `k` documents come back whenever
  `k` match. `filter={"key": value, ...}` becomes that `where` over `metadata->>'key'` with bound parameters
  (`where_of_filter`, grammar below); a filter it cannot express raises `InvalidInput`. A string filter is
  passed through as a remlite `where` expression as it is.
- Scores: `similarity_search_with_score` returns remlite's `_score`, the cosine similarity in [-1, 1] (higher is
  more similar, not a distance); the relevance score (`similarity_search_with_relevance_scores`) is
  `(1 + similarity) / 2`, in [0, 1].
- Maximal marginal relevance reads the candidates' stored vectors from the table's vector column family (as
  `db.export(vectors=True)` does), so no text is embedded twice; a database without that (a remote client)
  embeds the candidates' texts again.
- Async methods embed with the `Embeddings`' async methods and run the database call in a worker thread
  (`asyncio.to_thread`, as `remlite.aio` does): the event loop never waits on RocksDB.

Filter grammar (all keys are metadata keys, one level: `{"a.b": 1}` is the key `a.b`):
`{"k": v}` equality (`None`: the key is missing or null); `{"k": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": v}}`;
`{"k": {"$in"|"$nin": [v, ...]}}`; `{"k": {"$exists": bool}}`; `{"$and": [f, ...]}`, `{"$or": [f, ...]}`; several
keys in one dict are AND-ed. Values are str, int, float, bool or None. remlite's comparison rules apply: a number
and a numeric string compare as numbers, a bool never equals a number, a missing key never matches `$eq` / `$gt`...
but does match `$ne` / `$nin` (as in Python's `metadata.get(k) != v`).

langchain-core is imported by this module only (never by `import remlite`); without it the import fails naming
`pip install 'remlite[langchain]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("remlite.integrations.langchain needs langchain-core: pip install 'remlite[langchain]'") from exc

import remlite
from remlite.database import Database
from remlite.errors import InvalidInput, NotFound, UnknownTable, shown
from remlite.query.translate import str_lit

__all__ = ["DEFAULT_TABLE", "RemliteEmbeddings", "RemliteVectorStore", "where_of_filter"]

DEFAULT_TABLE = "langchain"
ID_FIELD = "doc_id"
CONTENT_FIELD = "content"
METADATA_FIELD = "metadata"

SEARCH_OPTIONS = frozenset({"filter"})
COMPARISONS = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
MEMBERSHIP = ("$in", "$nin")
LOGICAL = ("$and", "$or")

Filter = dict[str, Any] | str | None


def table_schema(table: str) -> dict[str, Any]:
    """The JSON schema of a LangChain collection table (what `RemliteVectorStore` registers when it is missing)."""
    return {
        "name": table,
        "description": "LangChain documents (remlite.integrations.langchain.RemliteVectorStore)",
        "properties": {
            ID_FIELD: {"type": "string"},
            CONTENT_FIELD: {"type": "string"},
            METADATA_FIELD: {"type": "object"},
        },
        "required": [ID_FIELD, CONTENT_FIELD],
        "key_field": ID_FIELD,
        "embedding_fields": [CONTENT_FIELD],
    }


# ---------------------------------------------------------------------- filters
def where_of_filter(filter: Filter) -> tuple[str | None, list[Any]]:
    """A LangChain metadata filter as remlite's `(where, params)`; `(None, [])` for no filter.

    Raises InvalidInput for a filter the grammar (module docstring) cannot express."""
    if filter is None:
        return None, []
    if isinstance(filter, str):
        return (filter if filter.strip() else None), []
    if not isinstance(filter, dict):
        raise InvalidInput(
            f"filter must be a dict of metadata keys to values (or a remlite where expression), got {shown(filter)}"
        )
    params: list[Any] = []
    where = _conjunction(filter, params)
    return where, params


def _conjunction(filter: dict[str, Any], params: list[Any]) -> str | None:
    parts = [_clause(key, value, params) for key, value in filter.items()]
    parts = [part for part in parts if part is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " AND ".join(f"({part})" for part in parts)


def _clause(key: Any, value: Any, params: list[Any]) -> str | None:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"a filter key must be a non-empty metadata key (a string), got {shown(key)}")
    if key in LOGICAL:
        return _logical(key, value, params)
    if key.startswith("$"):
        raise InvalidInput(f"unknown filter operator {key!r} at the top level: use $and, $or or a metadata key")
    path = f"{METADATA_FIELD}->>{str_lit(key)}"
    if isinstance(value, dict):
        if not value:
            raise InvalidInput(f"filter on {key!r} is an empty dict: give a value or operators such as {{'$eq': v}}")
        parts = [_operation(path, key, op, operand, params) for op, operand in value.items()]
        return parts[0] if len(parts) == 1 else " AND ".join(f"({part})" for part in parts)
    return _operation(path, key, "$eq", value, params)


def _logical(op: str, value: Any, params: list[Any]) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, dict) for item in value):
        raise InvalidInput(f"{op} takes a list of filters (dicts), got {shown(value)}")
    parts = [part for part in (_conjunction(item, params) for item in value) if part is not None]
    if not parts:
        return None
    joiner = " AND " if op == "$and" else " OR "
    return parts[0] if len(parts) == 1 else joiner.join(f"({part})" for part in parts)


def _operation(path: str, key: str, op: Any, operand: Any, params: list[Any]) -> str:
    if op in COMPARISONS:
        if operand is None and op in ("$eq", "$ne"):
            return f"{path} IS NULL" if op == "$eq" else f"{path} IS NOT NULL"
        params.append(_scalar(key, op, operand))
        if op == "$ne":  # a missing key is "not equal", as metadata.get(key) != value is
            return f"{path} IS NULL OR {path} != ?"
        return f"{path} {COMPARISONS[op]} ?"
    if op in MEMBERSHIP:
        if not isinstance(operand, (list, tuple, set, frozenset)):
            raise InvalidInput(f"{op} on {key!r} takes a list of values, got {shown(operand)}")
        values = [_scalar(key, op, item) for item in operand]
        if any(item is None for item in values):
            raise InvalidInput(f"{op} on {key!r} cannot hold None: use {{'$eq': None}} / {{'$ne': None}}")
        if not values:
            return "1 = 0" if op == "$in" else "1 = 1"
        params.extend(values)
        marks = ", ".join("?" * len(values))
        return f"{path} IN ({marks})" if op == "$in" else f"{path} IS NULL OR {path} NOT IN ({marks})"
    if op == "$exists":
        if not isinstance(operand, bool):
            raise InvalidInput(f"$exists on {key!r} takes True or False, got {shown(operand)}")
        return f"{path} IS NOT NULL" if operand else f"{path} IS NULL"
    known = ", ".join([*COMPARISONS, *MEMBERSHIP, "$exists"])
    raise InvalidInput(f"unknown filter operator {shown(op)} on {key!r}; known: {known}")


def _scalar(key: str, op: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidInput(
        f"filter {op} on {key!r} compares with {shown(value)}: values are str, int, finite float, bool or None"
        + (" (a list of values is {'$in': [...]})" if isinstance(value, (list, tuple)) else "")
    )


# ---------------------------------------------------------------------- embeddings
class RemliteEmbeddings(Embeddings):
    """A remlite embedding provider as a LangChain `Embeddings`: `RemliteEmbeddings("local")` is the offline
    all-MiniLM-L6-v2 that remlite ships (384-d), `"hash"` deterministic feature hashing, `"openai"` an
    OpenAI-compatible endpoint (`remlite.embed.get_provider`'s arguments)."""

    def __init__(self, provider: Any = "local", model: str | None = None, **options: Any) -> None:
        from remlite.embed import EmbeddingProvider, get_provider

        own = isinstance(provider, EmbeddingProvider)
        self.provider: EmbeddingProvider = provider if own else get_provider(provider, model, **options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.provider.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.provider.embed_one(text).tolist()


# ---------------------------------------------------------------------- the store
class RemliteVectorStore(VectorStore):
    """LangChain documents in one remlite table, embedded by a LangChain `Embeddings` (module docstring)."""

    def __init__(self, database: Database, embedding: Embeddings, table: str = DEFAULT_TABLE) -> None:
        if not isinstance(embedding, Embeddings):
            raise InvalidInput(f"embedding must be a LangChain Embeddings object, got {type(embedding).__name__}")
        self.database = database
        self.embedding = embedding
        self.table = table
        self._owns_database = False
        self._ensure_table()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        embedding: Embeddings,
        *,
        table: str = DEFAULT_TABLE,
        tenant: str = "default",
        **connect_options: Any,
    ) -> RemliteVectorStore:
        """A store on the database at `path` (None: remlite's default; `remlite.connect`'s options), which the
        store owns: `close()` closes it."""
        database = remlite.connect(path, tenant, **connect_options)
        try:
            store = cls(database, embedding, table)
        except BaseException:
            database.close()
            raise
        store._owns_database = True
        return store

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        database: Database | None = None,
        path: str | os.PathLike[str] | None = None,
        table: str = DEFAULT_TABLE,
        tenant: str = "default",
        **kwargs: Any,
    ) -> RemliteVectorStore:
        """A store holding `texts`: on `database` (left open: yours), else on the database at `path` (default
        remlite's data directory; the store owns it and `close()` closes it)."""
        if kwargs:
            raise InvalidInput(f"unexpected arguments for RemliteVectorStore.from_texts: {', '.join(sorted(kwargs))}")
        if database is not None:
            if path is not None:
                raise InvalidInput("give database= or path=, not both")
            store = cls(database, embedding, table)
        else:
            store = cls.open(path, embedding, table=table, tenant=tenant)
        try:
            store.add_texts(texts, metadatas, ids=ids)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the database if this store opened it (`open`, `from_texts` with a path); else nothing."""
        if self._owns_database and not self.database.closed:
            self.database.close()

    def __enter__(self) -> RemliteVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemliteVectorStore(table={self.table!r}, database={self.database!r})"

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def _ensure_table(self) -> None:
        """Register the table when missing; refuse an existing table of another shape."""
        try:
            found = self.database.schema(self.table)
        except UnknownTable:
            found = None
        if found is None:
            self.database.register_schema(table_schema(self.table))
            return
        fields = set(found.get("json_schema", {}).get("properties", {}))
        key = found.get("key_field")
        if (
            not {ID_FIELD, CONTENT_FIELD, METADATA_FIELD} <= fields
            or key not in (ID_FIELD, [ID_FIELD])
            or CONTENT_FIELD not in found.get("embedding_fields", [])
        ):
            raise InvalidInput(
                f"table {self.table!r} exists but is not a LangChain collection: it needs the fields "
                f"{ID_FIELD}, {CONTENT_FIELD}, {METADATA_FIELD}, key_field {ID_FIELD!r} and embedding field "
                f"{CONTENT_FIELD!r} (pick another table=)"
            )

    # ------------------------------------------------------------------ writes
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed `texts` with the store's `Embeddings` and upsert them by id; returns the ids."""
        _no_options("add_texts", kwargs)
        texts = list(texts)
        vectors = self.embedding.embed_documents(texts) if texts else []
        return self._write(texts, metadatas, ids, vectors)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        _no_options("aadd_texts", kwargs)
        texts = list(texts)
        vectors = await self.embedding.aembed_documents(texts) if texts else []
        return await asyncio.to_thread(self._write, texts, metadatas, ids, vectors)

    def _write(
        self,
        texts: list[str],
        metadatas: Sequence[dict[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
        vectors: Sequence[Sequence[float]],
    ) -> list[str]:
        count = len(texts)
        for name, given in (("metadatas", metadatas), ("ids", ids), ("embeddings", vectors)):
            if given is not None and len(given) != count:
                raise InvalidInput(f"{len(given)} {name} for {count} texts")
        if not count:
            return []
        doc_ids = [_doc_id(given) for given in (ids or [None] * count)]
        records = []
        for doc_id, text, metadata in zip(doc_ids, texts, metadatas or [None] * count, strict=True):
            if not isinstance(text, str):
                raise InvalidInput(f"a text must be a string, got {type(text).__name__}")
            if metadata is not None and not isinstance(metadata, dict):
                raise InvalidInput(f"metadata must be a dict, got {type(metadata).__name__}")
            records.append({ID_FIELD: doc_id, CONTENT_FIELD: text, METADATA_FIELD: dict(metadata or {})})
        self.database.insert_batch(self.table, records, vectors={CONTENT_FIELD: list(vectors)})
        return doc_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Hard-delete these documents (unknown ids are ignored); without ids, every document of the table."""
        _no_options("delete", kwargs)
        if ids is None:
            row_ids = [row["id"] for row in self.database.scan(self.table)]
        else:
            row_ids = []
            for doc_id in dict.fromkeys(ids):
                row = self._row(doc_id)
                if row is not None:
                    row_ids.append(row["id"])
        for row_id in row_ids:
            with contextlib.suppress(NotFound):  # deleted meanwhile by another thread
                self.database.delete(row_id, hard=True)
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        return await asyncio.to_thread(self.delete, ids, **kwargs)

    # ------------------------------------------------------------------ reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents of these ids that exist, in the order asked (each once)."""
        rows = (self._row(doc_id) for doc_id in dict.fromkeys(ids))
        return [_document(row) for row in rows if row is not None]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await asyncio.to_thread(self.get_by_ids, ids)

    def _row(self, doc_id: Any) -> dict[str, Any] | None:
        if not isinstance(doc_id, str):
            raise InvalidInput(f"a document id is a string, got {shown(doc_id)}")
        try:
            return self.database.get(self.table, doc_id)
        except NotFound:
            return None

    # ------------------------------------------------------------------ search
    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Documents best first with their cosine similarity (higher is closer; not a distance)."""
        return self.similarity_search_with_score_by_vector(self.embedding.embed_query(query), k, **kwargs)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = await self.embedding.aembed_query(query)
        return await asyncio.to_thread(self.similarity_search_with_score_by_vector, vector, k, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)]

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return await asyncio.to_thread(self.similarity_search_by_vector, embedding, k, **kwargs)

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return [(_document(row), row["_score"]) for row in self._search_rows(embedding, k, kwargs)]

    def _search_rows(self, vector: Sequence[float], k: int, options: dict[str, Any]) -> list[dict[str, Any]]:
        unknown = set(options) - SEARCH_OPTIONS
        if unknown:
            raise InvalidInput(f"unexpected search arguments: {', '.join(sorted(unknown))} (known: filter)")
        where, params = where_of_filter(options.get("filter"))
        return list(self.database.search(self.table, list(vector), k, where=where, params=params or None))

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return _relevance_of_cosine

    # ------------------------------------------------------------------ maximal marginal relevance
    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        vector = self.embedding.embed_query(query)
        return self.max_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, **kwargs)

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        vector = await self.embedding.aembed_query(query)
        return await asyncio.to_thread(
            self.max_marginal_relevance_search_by_vector, vector, k, fetch_k, lambda_mult, **kwargs
        )

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """The `fetch_k` nearest documents (filtered), then `k` of them chosen for relevance and diversity."""
        import numpy as np

        rows = self._search_rows(embedding, max(fetch_k, k), kwargs)
        if not rows:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32), self._stored_vectors(rows), lambda_mult=lambda_mult, k=k
        )
        return [_document(rows[i]) for i in chosen]

    async def amax_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(
            self.max_marginal_relevance_search_by_vector, embedding, k, fetch_k, lambda_mult, **kwargs
        )

    def _stored_vectors(self, rows: list[dict[str, Any]]) -> list[list[float]]:
        """The rows' vectors as stored (unit length), read in one multi-get (`db.vectors`); rows without
        one, or a database that cannot read them (a remote one), have their text embedded again."""
        reader = getattr(self.database, "vectors", None)
        ids = [row["id"] for row in rows]
        found: list[Any] = reader(self.table, ids, CONTENT_FIELD) if reader else [None] * len(ids)
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            again = self.embedding.embed_documents([rows[i][CONTENT_FIELD] for i in missing])
            for i, vector in zip(missing, again, strict=True):
                found[i] = vector
        return [vector if isinstance(vector, list) else vector.tolist() for vector in found]


def _relevance_of_cosine(similarity: float) -> float:
    """Cosine similarity in [-1, 1] as LangChain's relevance in [0, 1]."""
    return min(1.0, max(0.0, (1.0 + similarity) / 2.0))


def _document(row: dict[str, Any]) -> Document:
    return Document(id=row[ID_FIELD], page_content=row[CONTENT_FIELD], metadata=row.get(METADATA_FIELD) or {})


def _doc_id(given: Any) -> str:
    if given is None:
        return str(uuid.uuid4())
    if not isinstance(given, str) or not given:
        raise InvalidInput(f"a document id is a non-empty string, got {shown(given)}")
    return given


def _no_options(method: str, options: dict[str, Any]) -> None:
    if options:
        raise InvalidInput(f"unexpected arguments for {method}: {', '.join(sorted(options))}")
