"""remlite.integrations.langchain: LangChain's standard VectorStore suite, then what the suite does not cover
(metadata filters as remlite's pre-filter, upsert by id, persistence, MMR, async variants, refusals)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_tests.integration_tests import VectorStoreIntegrationTests

import remlite
from remlite.errors import InvalidInput
from remlite.integrations.langchain import (
    RemliteEmbeddings,
    RemliteVectorStore,
    where_of_filter,
)


# pytest-asyncio runs in strict mode here, so the suite's async tests need the asyncio mark; the suite forbids
# overriding its tests (test_no_overrides_DO_NOT_OVERRIDE), so the mark goes on the class, and the warning it
# makes on each sync test ("marked asyncio but not an async function") is silenced.
@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:The test <Function test_.*is not an async function:pytest.PytestWarning")
class TestRemliteVectorStoreStandard(VectorStoreIntegrationTests):
    """Every test of langchain-tests' VectorStoreIntegrationTests, sync and async, on a fresh database."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[RemliteVectorStore]:
        database = remlite.connect(tmp_path / "db")
        try:
            yield RemliteVectorStore(database, self.get_embeddings())
        finally:
            database.close()


# ---------------------------------------------------------------------- own tests
class KeywordEmbeddings(Embeddings):
    """Vectors whose similarity is predictable: one axis per known word, so "red apple" is nearest to "red"."""

    WORDS = ("red", "green", "blue", "apple", "car", "sky")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        words = text.lower().split()
        return [1.0 if word in words else 0.0 for word in self.WORDS] + [0.01]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[remlite.Database]:
    db = remlite.connect(tmp_path / "db")
    yield db
    db.close()


@pytest.fixture
def store(database: remlite.Database) -> RemliteVectorStore:
    store = RemliteVectorStore(database, KeywordEmbeddings())
    store.add_texts(
        ["red apple", "green apple", "red car", "blue sky", "blue car"],
        [
            {"kind": "fruit", "year": 2020, "tags": "a"},
            {"kind": "fruit", "year": 2021},
            {"kind": "vehicle", "year": 2019, "electric": False},
            {"kind": "nature", "year": 2024},
            {"kind": "vehicle", "year": 2023, "electric": True},
        ],
        ids=["ra", "ga", "rc", "bs", "bc"],
    )
    return store


def ids_of(documents: list[Document]) -> list[str | None]:
    return [doc.id for doc in documents]


def test_filter_is_remlite_prefilter(store: RemliteVectorStore) -> None:
    # pre-filtering: k results whenever k documents match, however far they are from the query
    assert ids_of(store.similarity_search("red", k=2, filter={"kind": "nature"})) == ["bs"]
    assert ids_of(store.similarity_search("red", k=2, filter={"kind": "vehicle"})) == ["rc", "bc"]
    assert set(ids_of(store.similarity_search("red", k=5, filter={"year": {"$gte": 2021}}))) == {"ga", "bs", "bc"}
    assert set(ids_of(store.similarity_search("sky", k=5, filter={"year": {"$in": [2019, 2020]}}))) == {"ra", "rc"}
    assert set(ids_of(store.similarity_search("sky", k=5, filter={"kind": {"$nin": ["fruit", "vehicle"]}}))) == {"bs"}
    assert ids_of(store.similarity_search("car", k=5, filter={"electric": True})) == ["bc"]
    assert set(ids_of(store.similarity_search("car", k=5, filter={"electric": {"$ne": True}}))) == {
        "ra",
        "ga",
        "rc",
        "bs",
    }  # a missing key is "not equal"
    assert set(ids_of(store.similarity_search("car", k=5, filter={"electric": {"$exists": True}}))) == {"rc", "bc"}
    assert set(ids_of(store.similarity_search("car", k=5, filter={"tags": None}))) == {"ga", "rc", "bs", "bc"}
    either = {"$or": [{"kind": "nature"}, {"kind": "fruit", "year": {"$lt": 2021}}]}
    assert set(ids_of(store.similarity_search("car", k=5, filter=either))) == {"bs", "ra"}
    both = {"$and": [{"kind": "vehicle"}, {"year": {"$gt": 2020}}]}
    assert ids_of(store.similarity_search("red", k=5, filter=both)) == ["bc"]
    assert store.similarity_search("red", k=5, filter={"kind": "none"}) == []
    assert store.similarity_search("red", k=5, filter={"kind": {"$in": []}}) == []
    # a string is a remlite where expression, as it is
    assert ids_of(store.similarity_search("red", k=5, filter="metadata->>'kind' = 'nature'")) == ["bs"]
    # the filter reaches MMR, the scored and the by-vector searches too
    assert ids_of(store.max_marginal_relevance_search("red", k=1, filter={"kind": "nature"})) == ["bs"]
    assert [d.id for d, _ in store.similarity_search_with_score("red", k=1, filter={"kind": "fruit"})] == ["ra"]
    assert ids_of(store.similarity_search_by_vector([0, 0, 0, 0, 0, 1, 0], k=5, filter={"year": 2024})) == ["bs"]


def test_filter_translation() -> None:
    where, params = where_of_filter({"kind": "fruit", "year": {"$gte": 2020, "$lt": 2024}})
    assert where == "(metadata->>'kind' = ?) AND ((metadata->>'year' >= ?) AND (metadata->>'year' < ?))"
    assert params == ["fruit", 2020, 2024]
    assert where_of_filter(None) == (None, [])
    assert where_of_filter({}) == (None, [])
    # a key is quoted as SQL text, never spliced in as SQL
    where, params = where_of_filter({"it's": 1})
    assert where == "metadata->>'it''s' = ?"


def test_filter_key_with_a_quote_matches(database: remlite.Database) -> None:
    store = RemliteVectorStore(database, KeywordEmbeddings())
    store.add_texts(["red", "blue"], [{"it's": "x"}, {"it's": "y"}], ids=["1", "2"])
    assert ids_of(store.similarity_search("red", k=2, filter={"it's": "y"})) == ["2"]


@pytest.mark.parametrize(
    ("bad_filter", "message"),
    [
        ({"kind": ["fruit", "vehicle"]}, r"\$in"),
        ({"kind": {"$regex": "^f"}}, r"unknown filter operator '\$regex'"),
        ({"$not": {"kind": "fruit"}}, r"unknown filter operator '\$not'"),
        ({"kind": {"a": 1}}, "unknown filter operator"),
        ({"kind": {}}, "empty dict"),
        ({"year": {"$gt": float("nan")}}, "finite float"),
        ({"kind": {"$in": "fruit"}}, "list of values"),
        ({"kind": {"$in": [None]}}, "cannot hold None"),
        ({"kind": {"$exists": 1}}, "True or False"),
        ({"$or": {"kind": "fruit"}}, "list of filters"),
        ({3: "x"}, "non-empty metadata key"),
        (["kind", "fruit"], "filter must be a dict"),
    ],
)
def test_bad_filter_is_a_clear_error(store: RemliteVectorStore, bad_filter: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.similarity_search("red", k=2, filter=bad_filter)


def test_unknown_search_argument_is_refused(store: RemliteVectorStore) -> None:
    with pytest.raises(InvalidInput, match="filtr"):
        store.similarity_search("red", k=2, filtr={"kind": "fruit"})


def test_upsert_by_id(database: remlite.Database, store: RemliteVectorStore) -> None:
    assert database.count("langchain") == 5
    row_id = database.get("langchain", "ra")["id"]
    assert store.add_texts(["blue apple"], [{"kind": "odd"}], ids=["ra"]) == ["ra"]
    assert database.count("langchain") == 5  # replaced, not added
    assert database.get("langchain", "ra")["id"] == row_id  # the same remlite row
    assert store.get_by_ids(["ra"]) == [Document(id="ra", page_content="blue apple", metadata={"kind": "odd"})]
    # the vector was replaced too: "blue apple" is now an exact match
    (best, score), *_ = store.similarity_search_with_score("blue apple", k=1)
    assert best.id == "ra" and score == pytest.approx(1.0, abs=1e-5)
    # ids repeated within one call: the last one wins
    store.add_documents([Document(page_content="red", id="dup"), Document(page_content="green", id="dup")])
    assert store.get_by_ids(["dup"])[0].page_content == "green"
    # delete frees the id; adding it again creates it anew
    store.delete(["ra", "missing"])
    assert ids_of(store.get_by_ids(["ra", "ga"])) == ["ga"]
    store.add_texts(["sky"], ids=["ra"])
    assert store.get_by_ids(["ra"])[0].page_content == "sky"


def test_delete_without_ids_empties_the_table(database: remlite.Database, store: RemliteVectorStore) -> None:
    assert store.delete() is True
    assert database.count("langchain") == 0
    assert store.similarity_search("red", k=3) == []


def test_scores_are_cosine_similarity(store: RemliteVectorStore) -> None:
    scored = store.similarity_search_with_score("blue sky", k=5)
    assert scored[0][0].id == "bs"
    assert scored[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    relevance = store.similarity_search_with_relevance_scores("blue sky", k=5)
    assert relevance[0][1] == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= r <= 1.0 for _, r in relevance)
    assert relevance[1][1] == pytest.approx((1 + scored[1][1]) / 2)


def test_max_marginal_relevance_prefers_diversity(store: RemliteVectorStore) -> None:
    store.add_texts(["red apple"], [{"kind": "fruit"}], ids=["ra2"])  # a duplicate of "ra"
    plain = ids_of(store.similarity_search("red apple", k=2))
    assert set(plain) == {"ra", "ra2"}
    embedded: list[str] = []
    embed_documents = store.embedding.embed_documents
    store.embedding.embed_documents = lambda texts: embedded.extend(texts) or embed_documents(texts)  # type: ignore[method-assign]
    diverse = ids_of(store.max_marginal_relevance_search("red apple", k=2, fetch_k=6, lambda_mult=0.3))
    assert diverse[0] in {"ra", "ra2"} and diverse[1] not in {"ra", "ra2"}
    assert embedded == []  # the candidates' stored vectors were read, no text embedded again


class WithoutLocalStorage:
    """A database's verbs without a read of stored vectors (as the remote client has them)."""

    def __init__(self, database: remlite.Database) -> None:
        self.wrapped = database

    def __getattr__(self, name: str) -> object:
        if name == "vectors":
            raise AttributeError(name)
        return getattr(self.wrapped, name)


def test_max_marginal_relevance_without_stored_vectors_embeds_again(store: RemliteVectorStore) -> None:
    store.database = WithoutLocalStorage(store.database)  # type: ignore[assignment]
    embedded: list[str] = []
    embed_documents = store.embedding.embed_documents
    store.embedding.embed_documents = lambda texts: embedded.extend(texts) or embed_documents(texts)  # type: ignore[method-assign]
    assert ids_of(store.max_marginal_relevance_search("blue", k=2, fetch_k=2)) in (["bs", "bc"], ["bc", "bs"])
    assert sorted(embedded) == ["blue car", "blue sky"]


def test_persistence_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db"
    embedding = DeterministicFakeEmbedding(size=8)
    with RemliteVectorStore.from_texts(
        ["alpha", "beta"], embedding, [{"n": 1}, {"n": 2}], ids=["a", "b"], path=path, table="notes"
    ) as store:
        assert store.similarity_search("beta", k=1)[0].id == "b"
    assert store.database.closed  # the store opened the database, so it closed it
    with RemliteVectorStore.open(path, embedding, table="notes") as store:
        assert store.get_by_ids(["a", "b"]) == [
            Document(id="a", page_content="alpha", metadata={"n": 1}),
            Document(id="b", page_content="beta", metadata={"n": 2}),
        ]
        assert store.similarity_search("alpha", k=2, filter={"n": 1}) == [
            Document(id="a", page_content="alpha", metadata={"n": 1})
        ]
        assert store.database.check()["ok"]


def test_from_documents_on_a_given_database_leaves_it_open(database: remlite.Database) -> None:
    docs = [Document(page_content="red apple", metadata={"kind": "fruit"}, id="x")]
    store = RemliteVectorStore.from_documents(docs, KeywordEmbeddings(), database=database)
    store.close()
    assert not database.closed
    assert store.get_by_ids(["x"]) == docs


def test_a_table_of_another_shape_is_refused(database: remlite.Database) -> None:
    database.register_schema({"name": "langchain", "properties": {"title": {"type": "string"}}})
    with pytest.raises(InvalidInput, match="not a LangChain collection"):
        RemliteVectorStore(database, KeywordEmbeddings())


def test_bad_inputs_are_refused(store: RemliteVectorStore) -> None:
    with pytest.raises(InvalidInput, match="2 metadatas for 1 texts"):
        store.add_texts(["x"], [{}, {}])
    with pytest.raises(InvalidInput, match="document id"):
        store.add_texts(["x"], ids=[7])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="Embeddings"):
        RemliteVectorStore(store.database, object())  # type: ignore[arg-type]
    assert store.add_texts([]) == []


@pytest.mark.asyncio
async def test_async_variants(store: RemliteVectorStore) -> None:
    assert await store.aadd_texts(["green car"], [{"kind": "vehicle"}], ids=["gc"]) == ["gc"]
    assert ids_of(await store.asimilarity_search("green car", k=1)) == ["gc"]
    assert ids_of(await store.asimilarity_search("red", k=1, filter={"kind": "nature"})) == ["bs"]
    scored = await store.asimilarity_search_with_score("green car", k=1)
    assert scored[0][0].id == "gc" and scored[0][1] == pytest.approx(1.0, abs=1e-5)
    relevance = await store.asimilarity_search_with_relevance_scores("green car", k=1)
    assert relevance[0][1] == pytest.approx(1.0, abs=1e-5)
    by_vector = await store.asimilarity_search_by_vector([0, 0, 0, 0, 0, 1, 0], k=1)
    assert ids_of(by_vector) == ["bs"]
    mmr = await store.amax_marginal_relevance_search("red", k=2, fetch_k=5, filter={"kind": "vehicle"})
    assert set(ids_of(mmr)) == {"rc", "bc"}
    mmr_vector = await store.amax_marginal_relevance_search_by_vector([1, 0, 0, 0, 0, 0, 0], k=1)
    assert ids_of(mmr_vector) in (["ra"], ["rc"])
    assert [d.id for d in await store.aget_by_ids(["gc", "nope"])] == ["gc"]
    assert await store.adelete(["gc"]) is True
    assert await store.aget_by_ids(["gc"]) == []
    docs = [Document(page_content="blue apple", id="ba")]
    assert await store.aadd_documents(docs) == ["ba"]
    other = await RemliteVectorStore.afrom_texts(["x"], KeywordEmbeddings(), database=store.database, table="other")
    assert [d.page_content for d in await other.aget_by_ids(await other.aadd_texts(["y"]))] == ["y"]


def test_retriever(store: RemliteVectorStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 1, "filter": {"kind": "vehicle"}})
    assert ids_of(retriever.invoke("red")) == ["rc"]


def test_remlite_embeddings_adapter(database: remlite.Database) -> None:
    embedding = RemliteEmbeddings("hash", dimension=32)
    store = RemliteVectorStore(database, embedding)
    store.add_texts(["refunds take fourteen days", "the office is closed on sundays"], ids=["r", "o"])
    assert store.similarity_search("how long do refunds take", k=1)[0].id == "r"
    assert len(embedding.embed_query("x")) == 32


def test_import_remlite_does_not_import_langchain() -> None:
    code = "import sys, remlite; print(any(m.startswith('langchain') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_langchain_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['langchain_core'] = None\n"
        "try:\n    import remlite.integrations.langchain\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'remlite[langchain]'" in out
