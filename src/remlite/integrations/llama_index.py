"""A LlamaIndex vector store on a remlite table: `RemliteVectorStore`.

    store = RemliteVectorStore(remlite.connect("./data"), "llama_index_nodes")
    index = VectorStoreIndex.from_vector_store(store, embed_model=...)

Design (docs/llama_index.md has the user's view):

- **One row per node** in a table of its own, keyed by the node id (`key_field: node_id`), so adding
  a node again is remlite's natural-key upsert: the row, its vector and its text postings are replaced
  in one atomic WriteBatch, under the same record id. A row holds `node_id`, `text`, `ref_doc_id`
  (indexed), `metadata` (the node's metadata as JSON, what filters read), `node_type` and
  `node_content` (the rest of the node as LlamaIndex's own JSON, without text, metadata and
  embedding, so any node class and its relationships come back as they went in).
- **Vectors are the nodes' own.** LlamaIndex embeds before it adds, so every node carries its
  embedding and it is handed to `insert_batch(..., vectors={"text": [...]})`: remlite runs no model
  and records the field's space as `precomputed` with the nodes' dimension. `text` is also the
  field's BM25 text, so `TEXT_SEARCH` and `HYBRID` queries work without another index.
- **Similarities are remlite's scores**, higher is better: the cosine similarity for the default
  metric `cos` (remlite stores cos vectors unit-length), the dot product for `ip`, the negative
  squared Euclidean distance for `l2`. Hybrid queries give the reciprocal-rank-fusion score.
- **Filters are pre-filters.** `MetadataFilters` become one SQL condition over `metadata->>'key'`
  with `?` parameters (values are never SQL), handed to `Database.search(where=...)`, which resolves
  it to the admissible rows before ranking: `similarity_top_k` nodes come back whenever that many
  match. Missing keys behave as in LlamaIndex's own `SimpleVectorStore`: they fail every operator but
  `!=` and `nin`. An operator SQL cannot say exactly (`contains`, `any`, `all`) raises remlite's
  `InvalidInput` rather than being approximated.
- **Deleting a document** reads its node rows off the `ref_doc_id` index (no scan) and hard-deletes
  them: a vector store's delete is final (no soft-deleted rows waiting for `purge`). `clear()` drops
  the table in one batch and registers it again (a new embedding dimension is then accepted).
- **`RemliteEmbedding`** wraps remlite's own embedding providers as a LlamaIndex embed model, so the
  offline MiniLM remlite ships (or its `hash` provider, in tests) can embed nodes and queries.
- **Async** variants run the blocking call in a worker thread (`asyncio.to_thread`, as
  `remlite.aio` does): a remlite handle is thread-safe and its heavy parts release the GIL.

llama-index-core is imported only here, never by `import remlite` (the `llama-index` extra).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode, MetadataMode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "remlite.integrations.llama_index needs llama-index-core: pip install 'remlite[llama-index]'"
    ) from exc

from remlite.database import Database, connect
from remlite.errors import InvalidInput, NotFound, SchemaError
from remlite.query.translate import str_lit

__all__ = ["DEFAULT_TABLE", "RemliteEmbedding", "RemliteVectorStore", "node_table_schema", "where_of_filters"]

DEFAULT_TABLE = "llama_index_nodes"
TABLE_CATEGORY = "llama_index"  # marks a table made by this module
EMBEDDING_FIELD = "text"
# Filter keys LlamaIndex's node_to_metadata_dict puts beside the metadata for other stores; here they
# read the stored ref_doc_id column (indexed), as SimpleVectorStore's filters read them.
DOCUMENT_ID_KEYS = frozenset({"ref_doc_id", "doc_id", "document_id"})
# Results each side of a hybrid query fuses (as remlite's own hybrid search): max(k * 4, HYBRID_DEPTH).
HYBRID_DEPTH = 50
RRF_K = 60

_COMPARISONS = {
    FilterOperator.EQ: "=",
    FilterOperator.NE: "!=",
    FilterOperator.GT: ">",
    FilterOperator.GTE: ">=",
    FilterOperator.LT: "<",
    FilterOperator.LTE: "<=",
}


def node_table_schema(table_name: str, metric: str = "cos") -> dict[str, Any]:
    """The remlite schema of a node table (see the module docstring for each field)."""
    return {
        "name": table_name,
        "description": "LlamaIndex nodes (remlite.integrations.llama_index)",
        "category": TABLE_CATEGORY,
        "properties": {
            "node_id": {"type": "string"},
            "text": {"type": "string"},
            "ref_doc_id": {"type": ["string", "null"]},
            "metadata": {"type": "object"},
            "node_type": {"type": "string"},
            "node_content": {"type": "string"},
        },
        "required": ["node_id", "text", "metadata", "node_type", "node_content"],
        "key_field": "node_id",
        "indexed_fields": ["ref_doc_id"],
        "embedding_fields": [EMBEDDING_FIELD],
        "embedding_metric": metric,
    }


class RemliteEmbedding(BaseEmbedding):
    """A remlite embedding provider as a LlamaIndex embed model: `RemliteEmbedding("local")` is the
    offline all-MiniLM-L6-v2 remlite ships (384-d, never downloaded), `"hash"` deterministic feature
    hashing, `"openai"` an OpenAI-compatible endpoint (`remlite.embed.get_provider`'s arguments)."""

    _provider: Any = PrivateAttr()

    def __init__(self, provider: Any = "local", model: str | None = None, **options: Any) -> None:
        from remlite.embed import EmbeddingProvider, get_provider

        chosen = provider if isinstance(provider, EmbeddingProvider) else get_provider(provider, model, **options)
        described = chosen.describe()
        super().__init__(model_name=f"{described['provider']}/{described['model']}", embed_batch_size=256)
        self._provider = chosen

    @classmethod
    def class_name(cls) -> str:
        return "RemliteEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._provider.embed_one(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._provider.embed_one(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._provider.embed(texts).tolist()  # one model call per batch

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class RemliteVectorStore(BasePydanticVectorStore):
    """LlamaIndex nodes, their embeddings and metadata in one remlite table.

    `database` is a handle `remlite.connect()` returned (the caller closes it) or a path, which is
    opened with `remlite.connect(path, tenant)` and closed by `close()`. The table is registered
    when missing; an existing table must be a node table. `metric` (`cos`, `ip` or `l2`) applies to
    a new table; None takes the existing table's (else `cos`)."""

    stores_text: bool = True
    table_name: str = DEFAULT_TABLE
    metric: str = "cos"

    _database: Database = PrivateAttr()
    _owns_database: bool = PrivateAttr(default=False)

    def __init__(
        self,
        database: Database | str | os.PathLike[str],
        table_name: str = DEFAULT_TABLE,
        *,
        tenant: str = "default",
        metric: str | None = None,
        **kwargs: Any,
    ) -> None:
        owns = isinstance(database, (str, os.PathLike))
        opened: Database = connect(database, tenant) if owns else database
        try:
            existing = _existing_table(opened, table_name)
            chosen = _check_table(existing, table_name, metric) if existing else (metric or "cos")
            super().__init__(table_name=table_name, metric=chosen, **kwargs)
            if existing is None:
                opened.register_schema(node_table_schema(table_name, chosen))
        except BaseException:
            if owns:
                opened.close()
            raise
        self._database = opened
        self._owns_database = owns

    @classmethod
    def class_name(cls) -> str:
        return "RemliteVectorStore"

    @property
    def client(self) -> Database:
        """The remlite database the nodes live in."""
        return self._database

    def close(self) -> None:
        """Close the database if this store opened it (from a path); a handle passed in stays open."""
        if self._owns_database:
            self._database.close()

    def __enter__(self) -> RemliteVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store the nodes with their own embeddings; a node id already stored is replaced. All the
        nodes are checked first, then written in atomic chunks (`insert_batch`)."""
        if not nodes:
            return []
        records, vectors = [], []
        for node in nodes:
            if node.embedding is None:
                raise InvalidInput(
                    f"node {node.node_id!r} has no embedding: LlamaIndex embeds nodes before adding them "
                    "(VectorStoreIndex, IngestionPipeline with an embed model); set node.embedding otherwise"
                )
            records.append(_record_of(node))
            vectors.append(node.embedding)
        self._database.insert_batch(self.table_name, records, vectors={EMBEDDING_FIELD: vectors})
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document `ref_doc_id` (found through the ref_doc_id index)."""
        self._delete_records(self._database.find(self.table_name, "ref_doc_id", eq=ref_doc_id))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids and/or matching these filters (both: the nodes meeting both;
        neither: nothing — `clear()` deletes all)."""
        if node_ids is None and filters is None:
            return
        self._delete_records(self._record_ids(node_ids, filters))

    def clear(self) -> None:
        """Delete every node: the table is dropped in one batch and registered again."""
        self._database.drop_schema(self.table_name)
        self._database.register_schema(node_table_schema(self.table_name, self.metric))

    def _delete_records(self, record_ids: Iterable[str]) -> None:
        for record_id in record_ids:
            try:
                self._database.delete(record_id, hard=True)
            except NotFound:  # deleted by another thread meanwhile
                continue

    # ------------------------------------------------------------------ reads
    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The `similarity_top_k` nodes nearest `query_embedding` (default mode), best first, among
        those passing `filters`, `doc_ids` and `node_ids` (an empty list: no restriction).
        `TEXT_SEARCH` (also `SPARSE`) ranks by BM25 over the node text with `query_str`; `HYBRID`
        fuses both by reciprocal rank fusion, `alpha` weighting the vector side (1) against BM25 (0)."""
        # Empty node_ids / doc_ids restrict nothing here: LlamaIndex's retriever (as_retriever) passes the
        # ids its index struct lists, and that list is empty for a store that keeps the text.
        where, params = self._where(query.node_ids or None, query.filters, query.doc_ids or None)
        k = query.similarity_top_k
        mode = query.mode
        if mode == VectorStoreQueryMode.DEFAULT:
            hits = self._search(_query_vector(query), k, where, params, "vector")
        elif mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE):
            hits = self._search(_query_text(query), k, where, params, "text")
        elif mode == VectorStoreQueryMode.HYBRID:
            hits = self._hybrid(query, query.hybrid_top_k or k, where, params)
        else:
            raise InvalidInput(
                f"RemliteVectorStore does not run {mode.value!r} queries: use default (vector), "
                "text_search (BM25) or hybrid"
            )
        return VectorStoreQueryResult(
            nodes=[_node_of(row) for row in hits],
            similarities=[float(row["_score"]) for row in hits],
            ids=[row["node_id"] for row in hits],
        )

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Nodes by id (in the order given, unknown ids left out) and/or by filters; neither: all."""
        if node_ids is None and filters is None:
            return [_node_of(row) for row in self._database.scan(self.table_name)]
        rows = self._database.get_batch(self._record_ids(node_ids, filters))
        found = [row for row in rows if row is not None]
        if node_ids is not None:
            position = {node_id: i for i, node_id in enumerate(node_ids)}
            found.sort(key=lambda row: position.get(row["node_id"], len(position)))
        return [_node_of(row) for row in found]

    def _search(self, query: Any, k: int, where: str | None, params: list[Any], mode: str) -> list[dict[str, Any]]:
        return list(self._database.search(self.table_name, query, k, where=where, params=params, mode=mode))

    def _hybrid(self, query: VectorStoreQuery, k: int, where: str | None, params: list[Any]) -> list[dict[str, Any]]:
        depth = max(k * 4, HYBRID_DEPTH)
        vector_rows = self._search(_query_vector(query), depth, where, params, "vector")
        text_rows = self._search(_query_text(query), depth, where, params, "text")
        alpha = 0.5 if query.alpha is None else query.alpha
        fused: dict[str, float] = {}
        rows: dict[str, dict[str, Any]] = {}
        for weight, ranked in ((alpha, vector_rows), (1.0 - alpha, text_rows)):
            for rank, row in enumerate(ranked, start=1):
                fused[row["node_id"]] = fused.get(row["node_id"], 0.0) + weight / (RRF_K + rank)
                rows.setdefault(row["node_id"], row)
        best = sorted(fused, key=lambda node_id: -fused[node_id])[:k]
        return [{**rows[node_id], "_score": fused[node_id]} for node_id in best]

    def _record_ids(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> list[str]:
        """Record ids of the rows meeting the restrictions (node ids are a point get by key)."""
        where, params = self._where(node_ids, filters, None)
        statement = f'SELECT id FROM "{self.table_name}"' + (f" WHERE {where}" if where else "")
        return [row["id"] for row in self._database.sql(statement, params).rows]

    def _where(
        self, node_ids: list[str] | None, filters: MetadataFilters | None, doc_ids: list[str] | None
    ) -> tuple[str | None, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for column, values in (("node_id", node_ids), ("ref_doc_id", doc_ids)):
            if values is not None:
                parts.append(_in_list(column, values, params))
        if filters is not None and filters.filters:
            condition, filter_params = where_of_filters(filters)
            parts.append(condition)
            params += filter_params
        return (" AND ".join(f"({part})" for part in parts) if parts else None), params

    # ------------------------------------------------------------------ async: a worker thread each
    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **add_kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)


# ---------------------------------------------------------------------- filters -> SQL
def where_of_filters(filters: MetadataFilters) -> tuple[str, list[Any]]:
    """(SQL condition, its `?` parameters) for remlite's `where`: metadata key `k` is
    `metadata->>'k'` (`ref_doc_id`, `doc_id`, `document_id`: the stored ref_doc_id).

    Every part is definite — true or false, never SQL's unknown — so a missing key fails every
    operator but `!=` and `nin` (which it passes), also under NOT, as in LlamaIndex's SimpleVectorStore."""
    params: list[Any] = []
    return _condition(filters, params), params


def _condition(filters: MetadataFilters, params: list[Any]) -> str:
    parts = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            parts.append(_condition(item, params) if item.filters else "TRUE")
        elif isinstance(item, MetadataFilter):
            parts.append(_leaf(item, params))
        else:
            raise InvalidInput(f"a filter must be a MetadataFilter or MetadataFilters, got {type(item).__name__}")
    if not parts:
        return "TRUE"
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return " AND ".join(f"({part})" for part in parts)
    if condition == FilterCondition.OR:
        return " OR ".join(f"({part})" for part in parts)
    if condition == FilterCondition.NOT:  # none of them (every part is definite, so NOT is exact)
        return "NOT (" + " OR ".join(f"({part})" for part in parts) + ")"
    raise InvalidInput(f"unsupported filter condition {condition!r}: use and, or, not")


def _leaf(item: MetadataFilter, params: list[Any]) -> str:
    column = _column(item.key)
    operator, value = item.operator, item.value
    if operator == FilterOperator.IS_EMPTY:  # missing, null, "" or [] (an array reads as its JSON text)
        return f"{column} IS NULL OR {column} = '' OR {column} LIKE '[]'"
    if operator in (FilterOperator.CONTAINS, FilterOperator.ANY, FilterOperator.ALL):
        raise InvalidInput(
            f"filter {item.key!r}: the operator {operator.value!r} has no exact SQL form in remlite (array "
            "membership is not searchable); use ==, !=, >, >=, <, <=, in, nin, text_match, text_match_insensitive "
            "or is_empty",
            operator=operator.value,
        )
    if operator in (FilterOperator.IN, FilterOperator.NIN):
        if not isinstance(value, list):
            raise InvalidInput(f"filter {item.key!r} {operator.value}: the value must be a list, got {value!r}")
        if operator == FilterOperator.IN:  # a value of another type is never equal: false, not unknown
            return f"{column} IS NOT NULL AND {_in_list(column, value, params)}"
        return f"{column} IS NULL OR NOT {_in_list(column, value, params)}"
    if isinstance(value, list):
        raise InvalidInput(f"filter {item.key!r} {operator.value}: a list value needs in or nin, got {value!r}")
    if operator in _COMPARISONS:
        if value is None:  # == None: the key is missing or null; != None: it has a value
            return f"{column} IS {'NOT ' if operator == FilterOperator.NE else ''}NULL"
        params.append(value)
        if operator == FilterOperator.EQ:
            return f"{column} IS NOT NULL AND {column} = ?"
        if operator == FilterOperator.NE:
            return f"{column} IS NULL OR {column} != ?"
        # a value of another type is unknown under < and >: false here, so NOT does not turn it true
        return f"COALESCE({column} {_COMPARISONS[operator]} ?, FALSE)"
    if operator in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(value, str):
            raise InvalidInput(f"filter {item.key!r} {operator.value}: the value must be a string, got {value!r}")
        params.append("%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        like = "LIKE" if operator == FilterOperator.TEXT_MATCH else "ILIKE"
        return f"{column} IS NOT NULL AND {column} {like} ?"
    raise InvalidInput(f"filter {item.key!r}: unknown operator {operator!r}", operator=str(operator))


def _column(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"a filter key must be a non-empty string, got {key!r}")
    if key in DOCUMENT_ID_KEYS:
        return "ref_doc_id"
    return "metadata->>" + str_lit(key)


def _in_list(column: str, values: Sequence[Any], params: list[Any]) -> str:
    if not values:
        return "FALSE"
    for value in values:
        if isinstance(value, (list, dict)) or value is None:
            raise InvalidInput(f"{column} in: the values must be strings or numbers, got {value!r}")
    params += list(values)
    return f"{column} IN ({', '.join('?' * len(values))})"


# ---------------------------------------------------------------------- nodes <-> rows
def _record_of(node: BaseNode) -> dict[str, Any]:
    content = node.model_dump(mode="json")  # JSON values only (bytes as base64, datetimes as text)
    metadata = content.pop("metadata", None) or {}
    content["embedding"] = None
    content.pop("text_resource", None)
    if "text" in content:
        content["text"] = ""
    return {
        "node_id": node.node_id,
        "text": node.get_content(metadata_mode=MetadataMode.NONE),
        "ref_doc_id": node.ref_doc_id,
        "metadata": metadata,
        "node_type": node.class_name(),
        "node_content": json.dumps(content, ensure_ascii=False),
    }


def _node_of(row: dict[str, Any]) -> BaseNode:
    node = metadata_dict_to_node({"_node_content": row["node_content"], "_node_type": row["node_type"]})
    node.set_content(row["text"])
    node.metadata = row.get("metadata") or {}
    return node


def _query_vector(query: VectorStoreQuery) -> list[float]:
    if query.query_embedding is None:
        raise InvalidInput("this query needs query_embedding (the vector of the query, from the embed model)")
    return query.query_embedding


def _query_text(query: VectorStoreQuery) -> str:
    if not query.query_str:
        raise InvalidInput(f"a {query.mode.value} query needs query_str (the words to rank by BM25)")
    return query.query_str


# ---------------------------------------------------------------------- the table
def _existing_table(database: Database, table_name: str) -> dict[str, Any] | None:
    try:
        return database.schema(table_name)
    except SchemaError:  # UnknownTable
        return None


def _check_table(schema: dict[str, Any], table_name: str, metric: str | None) -> str:
    """The existing table's metric, once it is known to be a node table of the metric asked for."""
    properties = schema.get("json_schema", {}).get("properties", {})
    expected = node_table_schema(table_name)
    if (
        schema.get("key_field") not in (expected["key_field"], [expected["key_field"]])
        or schema.get("embedding_fields") != expected["embedding_fields"]
        or not set(expected["properties"]) <= set(properties)
    ):
        raise InvalidInput(
            f"table {table_name!r} exists and is not a LlamaIndex node table "
            f"(key node_id, embedding field text, fields {', '.join(expected['properties'])}): "
            "choose another table_name"
        )
    stored = schema.get("embedding_metric", "cos")
    if metric is not None and metric != stored:
        raise InvalidInput(f"table {table_name!r} holds {stored} vectors, not {metric}: pass metric={stored!r} or None")
    return stored
