"""remlite.integrations.llama_index: RemliteVectorStore under LlamaIndex's vector-store protocol.

Filters are checked against LlamaIndex's own filter semantics (`build_metadata_filter_fn`, what its
SimpleVectorStore runs) on the same nodes, through both of remlite's pre-filter paths: DuckDB over
the column cache (no index narrows a metadata filter) and the row predicate over index candidates
(a `doc_ids` restriction narrows through the ref_doc_id index). Nothing here may reach the network:
every test runs with sockets to the internet refused.
"""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import IndexNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

import remlite
from remlite.errors import InvalidInput
from remlite.integrations.llama_index import DEFAULT_TABLE, RemliteEmbedding, RemliteVectorStore, where_of_filters

DIM = 4


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """LlamaIndex can download tokenizers and NLTK data; nothing in these tests may."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access attempted: {args!r}")

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def store(db: remlite.Database) -> RemliteVectorStore:
    return RemliteVectorStore(db)


def node(node_id: str, embedding: list[float], doc: str | None = None, text: str = "", **metadata: Any) -> TextNode:
    relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
    return TextNode(
        id_=node_id,
        text=text or f"text of {node_id}",
        embedding=embedding,
        metadata=metadata,
        relationships=relationships,
    )


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def search(store: RemliteVectorStore, vector: list[float], k: int = 10, **options: Any) -> list[str]:
    return store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=k, **options)).ids or []


# ---------------------------------------------------------------------- the package boundary
def test_import_remlite_does_not_import_llama_index() -> None:
    code = "import sys, remlite; assert not [m for m in sys.modules if m.startswith('llama_index')], 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_llama_index_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['llama_index'] = None\n"
        "try:\n    import remlite.integrations.llama_index\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'remlite[llama-index]'" in out


def test_the_network_guard_works() -> None:
    with pytest.raises(AssertionError, match="network access"):
        socket.create_connection(("example.com", 80))


# ---------------------------------------------------------------------- add, query, delete
def test_add_query_delete(store: RemliteVectorStore, db: remlite.Database) -> None:
    vectors = {"a": [1.0, 0, 0, 0], "b": [0.9, 0.1, 0, 0], "c": [0, 1.0, 0, 0], "d": [0, 0, 1.0, 0]}
    nodes = [node("a", vectors["a"], "doc1"), node("b", vectors["b"], "doc1"), node("c", vectors["c"], "doc2")]
    nodes.append(node("d", vectors["d"]))
    assert store.add(nodes) == ["a", "b", "c", "d"]
    assert store.client is db and db.count(DEFAULT_TABLE) == 4

    query = [1.0, 0, 0.1, 0]
    result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=3))
    assert result.ids == ["a", "b", "d"]
    assert [n.node_id for n in result.nodes] == result.ids
    assert result.similarities == pytest.approx([cosine(query, vectors[i]) for i in result.ids], abs=1e-5)
    assert result.nodes[0].get_content() == "text of a" and result.nodes[0].ref_doc_id == "doc1"
    assert search(store, query, k=1) == ["a"]

    store.delete("doc1")  # every node of the document, and only those
    assert sorted(n.node_id for n in store.get_nodes()) == ["c", "d"]
    assert db.count(DEFAULT_TABLE) == 2
    store.delete("no such document")
    assert db.count(DEFAULT_TABLE) == 2


def test_nodes_come_back_whole(store: RemliteVectorStore) -> None:
    text = TextNode(
        id_="t1",
        text="Refunds take 14 days.",
        embedding=[1.0, 0, 0, 0],
        metadata={"title": "FAQ", "tags": ["billing"], "nested": {"a": 1}, "year": 2024},
        excluded_llm_metadata_keys=["year"],
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="faq.md"),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id="t2"),
        },
    )
    index_node = IndexNode(id_="i1", text="an index node", index_id="other", embedding=[0, 1.0, 0, 0])
    store.add([text, index_node])
    back = {n.node_id: n for n in store.get_nodes(["t1", "i1"])}
    assert back["t1"].get_content() == "Refunds take 14 days."
    assert back["t1"].metadata == text.metadata
    assert back["t1"].excluded_llm_metadata_keys == ["year"]
    assert back["t1"].ref_doc_id == "faq.md" and back["t1"].next_node.node_id == "t2"
    assert back["t1"].hash == text.hash
    assert isinstance(back["i1"], IndexNode) and back["i1"].index_id == "other"


def test_add_again_replaces(store: RemliteVectorStore, db: remlite.Database) -> None:
    store.add([node("n", [1.0, 0, 0, 0], "doc1", text="old", version=1), node("m", [1.0, 1.0, 0, 0], "doc1")])
    store.add([node("n", [0, 0, 1.0, 0], "doc2", text="new", version=2)])
    assert db.count(DEFAULT_TABLE) == 2
    (back,) = store.get_nodes(["n"])
    assert back.get_content() == "new" and back.metadata == {"version": 2} and back.ref_doc_id == "doc2"
    assert search(store, [0, 0, 1.0, 0], k=1) == ["n"]  # the new vector
    assert search(store, [1.0, 0, 0, 0], k=2) == ["m", "n"]  # the old one is gone
    store.delete("doc1")  # the document it left keeps only its other node
    assert [n.node_id for n in store.get_nodes()] == ["n"]
    # the same id twice in one call: the last one wins
    store.add([node("x", [1.0, 0, 0, 0], text="first"), node("x", [1.0, 0, 0, 0], text="second")])
    assert store.get_nodes(["x"])[0].get_content() == "second"


def test_a_node_without_embedding_is_refused(store: RemliteVectorStore, db: remlite.Database) -> None:
    with pytest.raises(InvalidInput, match="has no embedding"):
        store.add([node("a", [1.0, 0, 0, 0]), TextNode(id_="b", text="no vector")])
    assert db.count(DEFAULT_TABLE) == 0  # checked before anything is written
    assert store.add([]) == []


def test_delete_nodes_get_nodes_and_clear(store: RemliteVectorStore, db: remlite.Database) -> None:
    store.add([node(f"n{i}", [1.0, i, 0, 0], f"doc{i % 2}", i=i) for i in range(6)])
    assert [n.node_id for n in store.get_nodes(["n4", "n1", "unknown"])] == ["n4", "n1"]
    big = MetadataFilters(filters=[MetadataFilter(key="i", value=3, operator=FilterOperator.GTE)])
    assert sorted(n.node_id for n in store.get_nodes(filters=big)) == ["n3", "n4", "n5"]
    assert [n.node_id for n in store.get_nodes(["n1", "n4"], filters=big)] == ["n4"]

    store.delete_nodes(["n0", "unknown"])
    store.delete_nodes(["n1", "n5"], filters=big)  # both: only n5
    store.delete_nodes()  # neither: nothing
    assert sorted(n.node_id for n in store.get_nodes()) == ["n1", "n2", "n3", "n4"]
    store.delete_nodes(filters=big)
    assert sorted(n.node_id for n in store.get_nodes()) == ["n1", "n2"]

    store.clear()
    assert store.get_nodes() == [] and db.count(DEFAULT_TABLE) == 0
    assert search(store, [1.0, 0, 0, 0]) == []
    store.add([node("wide", [1.0, 0, 0, 0, 0, 0])])  # a cleared store takes another dimension
    assert search(store, [1.0, 0, 0, 0, 0, 0]) == ["wide"]


def test_doc_ids_and_node_ids_restrict_a_query(store: RemliteVectorStore) -> None:
    store.add([node(f"n{i}", [1.0, i / 10, 0, 0], f"doc{i % 3}") for i in range(9)])
    query = [1.0, 0, 0, 0]
    assert search(store, query, k=2, doc_ids=["doc1"]) == ["n1", "n4"]
    assert search(store, query, k=9, node_ids=["n8", "n5", "n2"]) == ["n2", "n5", "n8"]
    assert search(store, query, k=9, node_ids=["n8", "n5", "n2"], doc_ids=["doc2"]) == ["n2", "n5", "n8"]
    assert search(store, query, k=9, node_ids=["n8"], doc_ids=["doc0"]) == []
    assert len(search(store, query, k=9, node_ids=[], doc_ids=[])) == 9  # LlamaIndex's "no restriction"


# ---------------------------------------------------------------------- filters
CATEGORIES = ["billing", "shipping", "it's", "100%_sure", None]


def filter_nodes() -> list[TextNode]:
    """60 nodes; 6 of them (the `focus` document) few enough for the row-predicate path."""
    nodes = []
    for i in range(60):
        metadata: dict[str, Any] = {"rank": i % 7, "score": (i % 11) / 4}
        category = CATEGORIES[i % len(CATEGORIES)]
        if category is not None:
            metadata["category"] = category
        if i % 4 == 0:
            metadata["title"] = f"Chapter {i} of THE Book"
        if i % 9 == 0:
            metadata["tags"] = [] if i % 2 else ["x"]
        doc = "focus" if i < 6 else f"doc{i % 5}"
        nodes.append(node(f"n{i:02}", [1.0, (i % 13) / 13, (i % 5) / 5, 0.5], doc, **metadata))
    return nodes


def leaf(key: str, operator: FilterOperator, value: Any) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=operator)


FILTERS: dict[str, MetadataFilters] = {
    "eq": MetadataFilters(filters=[leaf("category", FilterOperator.EQ, "billing")]),
    "eq quote": MetadataFilters(filters=[leaf("category", FilterOperator.EQ, "it's")]),
    "eq number": MetadataFilters(filters=[leaf("rank", FilterOperator.EQ, 3)]),
    "ne": MetadataFilters(filters=[leaf("category", FilterOperator.NE, "billing")]),
    "gt": MetadataFilters(filters=[leaf("rank", FilterOperator.GT, 4)]),
    "gte float": MetadataFilters(filters=[leaf("score", FilterOperator.GTE, 1.0)]),
    "lt": MetadataFilters(filters=[leaf("rank", FilterOperator.LT, 2)]),
    "lte float": MetadataFilters(filters=[leaf("score", FilterOperator.LTE, 0.75)]),
    "in": MetadataFilters(filters=[leaf("category", FilterOperator.IN, ["billing", "it's"])]),
    "in numbers": MetadataFilters(filters=[leaf("rank", FilterOperator.IN, [0, 6])]),
    "nin": MetadataFilters(filters=[leaf("category", FilterOperator.NIN, ["billing", "shipping"])]),
    "text match": MetadataFilters(filters=[leaf("title", FilterOperator.TEXT_MATCH, "THE Book")]),
    "text match wildcards": MetadataFilters(filters=[leaf("category", FilterOperator.TEXT_MATCH, "0%_s")]),
    "text match case": MetadataFilters(filters=[leaf("title", FilterOperator.TEXT_MATCH_INSENSITIVE, "the book")]),
    "is empty": MetadataFilters(filters=[leaf("tags", FilterOperator.IS_EMPTY, None)]),
    "and": MetadataFilters(
        filters=[leaf("category", FilterOperator.EQ, "billing"), leaf("rank", FilterOperator.GTE, 3)],
        condition=FilterCondition.AND,
    ),
    "or": MetadataFilters(
        filters=[leaf("category", FilterOperator.EQ, "shipping"), leaf("rank", FilterOperator.EQ, 0)],
        condition=FilterCondition.OR,
    ),
    "not": MetadataFilters(
        filters=[leaf("category", FilterOperator.EQ, "billing"), leaf("rank", FilterOperator.GT, 3)],
        condition=FilterCondition.NOT,
    ),
    "not of missing keys": MetadataFilters(
        filters=[leaf("title", FilterOperator.TEXT_MATCH, "Chapter"), leaf("category", FilterOperator.IN, ["x"])],
        condition=FilterCondition.NOT,
    ),
    "doc_id key": MetadataFilters(filters=[leaf("doc_id", FilterOperator.IN, ["focus", "doc2"])]),
}
NESTED = MetadataFilters(
    filters=[
        leaf("rank", FilterOperator.LT, 5),
        MetadataFilters(
            filters=[leaf("category", FilterOperator.EQ, "billing"), leaf("score", FilterOperator.GT, 2.0)],
            condition=FilterCondition.OR,
        ),
    ],
    condition=FilterCondition.AND,
)


def verdict(filters: MetadataFilters, metadata: dict[str, Any]) -> bool:
    """LlamaIndex's own verdict (SimpleVectorStore's filter function) for each filter, nested levels
    combined by their condition as that function combines one level."""
    matches = [
        verdict(item, metadata)
        if isinstance(item, MetadataFilters)
        else build_metadata_filter_fn(lambda _: metadata, MetadataFilters(filters=[item]))("any id")
        for item in filters.filters
    ]
    if filters.condition == FilterCondition.OR:
        return any(matches)
    if filters.condition == FilterCondition.NOT:
        return not any(matches)
    return all(matches)


def expected_ids(nodes: list[TextNode], filters: MetadataFilters, doc: str | None = None) -> list[str]:
    return sorted(
        n.node_id
        for n in nodes
        if verdict(filters, {**n.metadata, "doc_id": n.ref_doc_id}) and (doc is None or n.ref_doc_id == doc)
    )


@pytest.fixture(scope="module")
def filtered_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RemliteVectorStore, list[TextNode]]]:
    """One store for every read-only filter test (opening a database per test doubled the file's time)."""
    nodes = filter_nodes()
    with RemliteVectorStore(tmp_path_factory.mktemp("filters") / "db") as store:
        store.add(nodes)
        yield store, nodes


@pytest.mark.parametrize("name", [*FILTERS, "nested"])
@pytest.mark.parametrize("doc", [None, "focus"], ids=["duckdb-path", "predicate-path"])
def test_filters_match_llama_index_semantics(
    filtered_store: tuple[RemliteVectorStore, list[TextNode]], name: str, doc: str | None
) -> None:
    store, nodes = filtered_store
    filters = NESTED if name == "nested" else FILTERS[name]
    wanted = expected_ids(nodes, filters, doc)
    assert wanted, "a filter that matches nothing proves little"
    doc_ids = None if doc is None else [doc]
    found = search(store, [1.0, 0.5, 0.5, 0.5], k=len(nodes), filters=filters, doc_ids=doc_ids)
    assert sorted(found) == wanted
    # pre-filtering: the k best matching rows come back, however few match
    assert search(store, [1.0, 0.5, 0.5, 0.5], k=2, filters=filters, doc_ids=doc_ids) == found[:2]
    assert sorted(n.node_id for n in store.get_nodes(filters=filters) if doc is None or n.ref_doc_id == doc) == wanted


def test_filters_are_parameters_not_sql() -> None:
    sql, params = where_of_filters(
        MetadataFilters(filters=[leaf("it's", FilterOperator.EQ, "x' OR '1'='1"), leaf("n", FilterOperator.IN, [1, 2])])
    )
    assert "x' OR" not in sql and "metadata->>'it''s'" in sql
    assert params == ["x' OR '1'='1", 1, 2]


def test_empty_and_none_filters(filtered_store: tuple[RemliteVectorStore, list[TextNode]]) -> None:
    store, nodes = filtered_store
    everything = sorted(n.node_id for n in nodes)
    assert sorted(search(store, [1.0, 0, 0, 0], k=100, filters=MetadataFilters(filters=[]))) == everything
    in_nothing = MetadataFilters(filters=[leaf("category", FilterOperator.IN, [])])
    assert search(store, [1.0, 0, 0, 0], k=100, filters=in_nothing) == []
    has_title = MetadataFilters(filters=[leaf("title", FilterOperator.NE, None)])
    assert sorted(search(store, [1.0, 0, 0, 0], k=100, filters=has_title)) == [
        n.node_id for n in nodes if "title" in n.metadata
    ]
    no_title = MetadataFilters(filters=[leaf("title", FilterOperator.EQ, None)])
    assert len(search(store, [1.0, 0, 0, 0], k=100, filters=no_title)) == len(nodes) - len(has_title_ids(nodes))


def has_title_ids(nodes: list[TextNode]) -> list[str]:
    return [n.node_id for n in nodes if "title" in n.metadata]


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        (FilterOperator.CONTAINS, "x", "'contains' has no exact SQL form"),
        (FilterOperator.ANY, ["x"], "'any' has no exact SQL form"),
        (FilterOperator.ALL, ["x"], "'all' has no exact SQL form"),
        (FilterOperator.IN, "x", "must be a list"),
        (FilterOperator.GT, [1, 2], "a list value needs in or nin"),
        (FilterOperator.TEXT_MATCH, 3, "must be a string"),
    ],
)
def test_a_filter_remlite_cannot_express_is_a_clear_error(
    filtered_store: tuple[RemliteVectorStore, list[TextNode]], operator: FilterOperator, value: Any, message: str
) -> None:
    store, _ = filtered_store
    filters = MetadataFilters(filters=[leaf("tags", operator, value)])
    with pytest.raises(InvalidInput, match=message):
        search(store, [1.0, 0, 0, 0], filters=filters)
    with pytest.raises(InvalidInput, match=message):
        store.delete_nodes(filters=filters)


# ---------------------------------------------------------------------- query modes
def test_text_and_hybrid_queries(store: RemliteVectorStore) -> None:
    store.add(
        [
            node("refunds", [0, 1.0, 0, 0], text="Refunds are issued within 14 days."),
            node("shipping", [1.0, 0, 0, 0], text="Shipping takes a week."),
            node("returns", [0.9, 0.1, 0, 0], text="Returns and refunds go through the portal."),
        ]
    )
    text = store.query(VectorStoreQuery(query_str="refunds", mode=VectorStoreQueryMode.TEXT_SEARCH, similarity_top_k=5))
    assert sorted(text.ids or []) == ["refunds", "returns"]
    hybrid = VectorStoreQuery(
        query_str="refunds", query_embedding=[1.0, 0, 0, 0], mode=VectorStoreQueryMode.HYBRID, similarity_top_k=1
    )
    assert store.query(hybrid).ids == ["returns"]  # second by each ranking, first fused
    hybrid.alpha = 1.0  # the vector ranking alone
    assert store.query(hybrid).ids == ["shipping"]
    hybrid.alpha = 0.0
    assert store.query(hybrid).ids in (["refunds"], ["returns"])
    with pytest.raises(InvalidInput, match="'mmr' queries"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], mode=VectorStoreQueryMode.MMR))
    with pytest.raises(InvalidInput, match="needs query_embedding"):
        store.query(VectorStoreQuery(query_str="refunds"))
    with pytest.raises(InvalidInput, match="needs query_str"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], mode=VectorStoreQueryMode.TEXT_SEARCH))


def test_metrics(db: remlite.Database) -> None:
    store = RemliteVectorStore(db, "dot_nodes", metric="ip")
    store.add([node("a", [2.0, 0, 0, 0]), node("b", [1.0, 1.0, 0, 0])])
    result = store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=2))
    assert result.ids == ["a", "b"] and result.similarities == pytest.approx([2.0, 1.0])
    assert RemliteVectorStore(db, "dot_nodes").metric == "ip"  # the table's own
    with pytest.raises(InvalidInput, match="holds ip vectors"):
        RemliteVectorStore(db, "dot_nodes", metric="cos")


def test_a_table_of_another_kind_is_refused(db: remlite.Database) -> None:
    with pytest.raises(InvalidInput, match="not a LlamaIndex node table"):
        RemliteVectorStore(db, "resources")


# ---------------------------------------------------------------------- persistence
def test_nodes_survive_reopening(tmp_path: Path) -> None:
    with RemliteVectorStore(tmp_path / "data", "kb", tenant="acme") as store:
        store.add([node("a", [1.0, 0, 0, 0], "doc", topic="x"), node("b", [0, 1.0, 0, 0], "doc", topic="y")])
        assert not store.client.closed
    assert store.client.closed  # opened from a path: closed by the store
    with RemliteVectorStore(tmp_path / "data", "kb", tenant="acme") as store:
        x_only = MetadataFilters(filters=[leaf("topic", FilterOperator.EQ, "x")])
        assert search(store, [0, 1.0, 0, 0], k=2) == ["b", "a"]
        assert search(store, [0, 1.0, 0, 0], k=2, filters=x_only) == ["a"]
        store.delete("doc")
    with remlite.connect(tmp_path / "data", "acme") as db:
        assert db.count("kb") == 0
        RemliteVectorStore(db, "kb").close()  # a handle passed in stays open
        assert not db.closed


def test_a_read_only_handle_queries(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "data") as writer:
        RemliteVectorStore(writer).add([node("a", [1.0, 0, 0, 0]), node("b", [0, 1.0, 0, 0])])
        with remlite.connect(tmp_path / "data", read_only=True) as reader:
            store = RemliteVectorStore(reader)
            assert search(store, [0, 1.0, 0, 0]) == ["b", "a"]
            with pytest.raises(remlite.errors.ReadOnly):
                store.add([node("c", [1.0, 0, 0, 0])])


# ---------------------------------------------------------------------- through LlamaIndex
def test_vector_store_index_end_to_end(store: RemliteVectorStore) -> None:
    embed_model = MockEmbedding(embed_dim=DIM)  # every text becomes [0.5] * DIM
    index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    index.insert_nodes(
        [
            node("aligned", [1.0, 1.0, 1.0, 1.0], "doc1", kind="guide"),  # the query's direction
            node("near", [1.0, 1.0, 1.0, 0], "doc1", kind="faq"),
            node("far", [1.0, 0, 0, 0], "doc2", kind="faq"),
            TextNode(id_="embedded by the model", text="mock", metadata={"kind": "note"}),
        ]
    )
    assert store.get_nodes(["embedded by the model"])[0].get_content() == "mock"

    hits = index.as_retriever(similarity_top_k=2).retrieve("anything")
    assert {hit.node.node_id for hit in hits} == {"aligned", "embedded by the model"}  # both exactly aligned
    assert [hit.score for hit in hits] == pytest.approx([1.0, 1.0])
    faq = MetadataFilters(filters=[leaf("kind", FilterOperator.EQ, "faq")])
    hits = index.as_retriever(similarity_top_k=5, filters=faq).retrieve("anything")
    assert [hit.node.node_id for hit in hits] == ["near", "far"]
    assert hits[0].score == pytest.approx(cosine([0.5] * DIM, [1.0, 1.0, 1.0, 0]), abs=1e-5)

    index.delete_ref_doc("doc1")
    hits = index.as_retriever(similarity_top_k=5).retrieve("anything")
    assert {hit.node.node_id for hit in hits} == {"far", "embedded by the model"}


def test_remlite_embedding_as_the_embed_model(store: RemliteVectorStore) -> None:
    embed_model = RemliteEmbedding("hash", dimension=64)
    texts = {
        "refunds": "Refunds are issued within 14 days of a return.",
        "invoices": "Invoices are emailed on the first day of each month.",
        "office": "The office is closed on public holidays.",
    }
    nodes = [TextNode(id_=key, text=text) for key, text in texts.items()]
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    assert index.as_retriever(similarity_top_k=1).retrieve("when are refunds issued")[0].node.node_id == "refunds"
    assert embed_model.get_text_embedding_batch(list(texts.values())) == [
        embed_model.get_text_embedding(text) for text in texts.values()
    ]
    assert asyncio.run(embed_model.aget_query_embedding("office")) == embed_model.get_query_embedding("office")


# ---------------------------------------------------------------------- async
def test_async_variants(store: RemliteVectorStore) -> None:
    async def scenario() -> None:
        assert await store.async_add([node(f"n{i}", [1.0, i, 0, 0], f"doc{i % 2}", i=i) for i in range(4)]) == [
            "n0",
            "n1",
            "n2",
            "n3",
        ]
        query = VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=2)
        results = await asyncio.gather(store.aquery(query), store.aquery(query))
        assert [r.ids for r in results] == [["n0", "n1"], ["n0", "n1"]]
        await store.adelete("doc0")
        assert sorted(n.node_id for n in await store.aget_nodes()) == ["n1", "n3"]
        await store.adelete_nodes(["n1"])
        assert [n.node_id for n in await store.aget_nodes(["n1", "n3"])] == ["n3"]
        await store.aclear()
        assert await store.aget_nodes() == []

    asyncio.run(scenario())
