"""remlite.text: the analyser and the RocksDB-backed BM25 index."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import remlite.storage.engine as engine
from remlite.errors import InvalidInput, StorageError
from remlite.storage.engine import Store
from remlite.text import FAMILIES, STOP_WORDS, TextIndex, tokenize


@pytest.fixture
def families(monkeypatch: pytest.MonkeyPatch) -> None:
    # the lead adds the families to engine.COLUMN_FAMILIES; until then the tests add them here
    monkeypatch.setattr(engine, "COLUMN_FAMILIES", engine.COLUMN_FAMILIES + FAMILIES)


@pytest.fixture
def store(tmp_path: Path, families: None) -> Iterator[Store]:
    s = Store(tmp_path / "db")
    yield s
    s.close()


def did(n: int) -> bytes:
    return n.to_bytes(16, "big")


def put(store: Store, index: TextIndex, doc_id: bytes, old: str | None, new: str | None) -> None:
    with store.write_lock:
        batch = store.batch()
        index.index_ops(batch, doc_id, old, new)
        store.write(batch)


# -- analyser ---------------------------------------------------------------------------------------


def test_tokenize_case_punctuation_and_stop_words() -> None:
    assert tokenize("The QUICK, brown fox -- jumped; over the lazy dog!") == [
        "quick",
        "brown",
        "fox",
        "jump",
        "lazi",
        "dog",
    ]
    assert tokenize("Hello") == tokenize("hello") == tokenize("HELLO") == tokenize("«hello»")
    assert tokenize("os.path_join(a, b)") == ["os", "path", "join", "b"]  # "a" is a stop word
    assert tokenize("it is what it was and will be") == []
    assert tokenize("don't") == []  # "don" and "t" are both stop fragments
    assert tokenize("") == [] and tokenize("  \n\t ") == []
    assert {"the", "and", "of", "is"} <= STOP_WORDS


def test_tokenize_unicode_letters_digits_and_stemming() -> None:
    assert tokenize("Straße STRASSE") == ["strass", "strass"]  # casefold, not lower
    assert tokenize("Café naïve Ωmega 東京") == ["café", "naïv", "ωmega", "東京"]
    assert tokenize("Python 3.11 released in 2022") == ["python", "3", "11", "releas", "2022"]
    assert tokenize("ｆｕｌｌ－ｗｉｄｔｈ ①") == ["full", "width", "1"]  # NFKC
    assert tokenize("running runs ran") == ["run", "run", "ran"]
    assert tokenize("x" * 65 + " kept") == ["kept"]  # over-long terms are dropped


# -- BM25 -----------------------------------------------------------------------------------------

CORPUS = {
    did(1): "apple banana apple",
    did(2): "banana cherry",
    did(3): "cherry date elderberry fig cherry",
}


def reference_bm25(docs: dict[bytes, list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> dict:
    """Textbook BM25 (Lucene's idf), written independently of the index."""
    n = len(docs)
    avgdl = sum(len(t) for t in docs.values()) / n
    scores: dict[bytes, float] = {}
    for term in set(query):
        df = sum(1 for t in docs.values() if term in t)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for doc_id, terms in docs.items():
            tf = terms.count(term)
            if tf:
                scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf * (k1 + 1) / (
                    tf + k1 * (1 - b + b * len(terms) / avgdl)
                )
    return scores


def test_bm25_matches_a_hand_computed_score(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    for doc_id, text in CORPUS.items():
        put(store, index, doc_id, None, text)
    # N=3, lengths 3, 2, 5 -> avgdl 10/3. "cherry": df=2, idf=ln(1 + 1.5/2.5)=ln 1.6.
    idf = math.log(1.6)
    doc3 = idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 5 / (10 / 3)))
    doc2 = idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / (10 / 3)))
    result = index.search("cherry", 10)
    assert [r[0] for r in result] == [did(3), did(2)]
    assert result[0][1] == pytest.approx(doc3) and result[1][1] == pytest.approx(doc2)
    # two terms add up: "apple" only in doc 1 (df=1, idf=ln(1+2.5/1.5)), "banana" in docs 1 and 2
    result = dict(index.search("Apple, BANANA!", 10))
    idf_apple, idf_banana = math.log(1 + 2.5 / 1.5), math.log(1.6)
    norm1 = 1.2 * (0.25 + 0.75 * 3 / (10 / 3))
    assert result[did(1)] == pytest.approx(idf_apple * 2 * 2.2 / (2 + norm1) + idf_banana * 2.2 / (1 + norm1))
    assert set(result) == {did(1), did(2)}
    assert index.stats()["documents"] == 3 and index.stats()["tokens"] == 10


def test_bm25_agrees_with_reference_on_real_paragraphs(store: Store) -> None:
    import pydoc_data.topics

    texts = [p for v in pydoc_data.topics.topics.values() for p in v.split("\n\n") if len(p) > 60][:400]
    index = TextIndex(store, 2, 3)
    docs = {}
    with store.write_lock:
        batch = store.batch()  # many rows in one batch: counters must accumulate across them
        for n, text in enumerate(texts):
            index.index_ops(batch, did(n), None, text)
            if tokenize(text):
                docs[did(n)] = tokenize(text)
        store.write(batch)
    assert index.verify() == []
    for query in ["function return value", "class attribute", "exception raised", "string format"]:
        expected = reference_bm25(docs, tokenize(query))
        got = index.search(query, 15)
        best = sorted(expected.items(), key=lambda p: (-p[1], p[0]))[:15]
        assert [g[0] for g in got] == [e[0] for e in best]
        assert [g[1] for g in got] == pytest.approx([e[1] for e in best])


# -- incremental updates ----------------------------------------------------------------------------


def test_update_replaces_terms_and_delete_vanishes(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    for doc_id, text in CORPUS.items():
        put(store, index, doc_id, None, text)
    put(store, index, did(1), CORPUS[did(1)], "grape kiwi")
    assert index.search("apple", 10) == []
    assert [r[0] for r in index.search("grape", 10)] == [did(1)]
    assert [r[0] for r in index.search("banana", 10)] == [did(2)]
    assert index.stats()["tokens"] == 9
    put(store, index, did(3), CORPUS[did(3)], None)
    assert index.search("cherry date", 10) == [(did(2), pytest.approx(index.search("cherry", 1)[0][1]))]
    assert index.stats()["documents"] == 2 and index.verify() == []
    put(store, index, did(2), CORPUS[did(2)], "the and of")  # only stop words: no longer a document
    assert index.stats()["documents"] == 1 and index.search("banana", 10) == []
    assert index.verify() == []


def test_same_length_update_and_noop(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    put(store, index, did(1), None, "alpha beta gamma")
    put(store, index, did(1), "alpha beta gamma", "alpha beta delta")  # length unchanged
    put(store, index, did(1), "alpha beta delta", "alpha beta delta")  # no change at all
    assert index.search("gamma", 5) == [] and [r[0] for r in index.search("delta", 5)] == [did(1)]
    assert index.stats()["documents"] == 1 and index.verify() == []


def test_unwritten_batch_leaves_counters_alone(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    put(store, index, did(1), None, "alpha beta")
    dropped = store.batch()
    index.index_ops(dropped, did(2), None, "gamma delta epsilon")  # never written
    put(store, index, did(3), None, "zeta")
    assert index.stats()["documents"] == 2 and index.stats()["tokens"] == 3
    assert index.verify() == []


def test_tables_and_fields_are_separate(store: Store) -> None:
    a, b = TextIndex(store, 1, 0), TextIndex(store, 1, 1)
    c = TextIndex(store, 2, 0)
    put(store, a, did(1), None, "shared word")
    put(store, b, did(2), None, "shared")
    put(store, c, did(3), None, "shared")
    assert [r[0] for r in a.search("shared", 10)] == [did(1)]
    assert [r[0] for r in b.search("shared", 10)] == [did(2)]
    with store.write_lock:
        batch = store.batch()
        a.drop_ops(batch)
        store.write(batch)
    assert a.search("shared", 10) == [] and a.stats()["documents"] == 0
    with store.write_lock:  # drop and re-index in one batch: the rebuild counts from zero
        batch = store.batch()
        a.index_ops(batch, did(4), None, "shared again")
        a.drop_ops(batch)
        a.index_ops(batch, did(5), None, "shared anew")
        store.write(batch)
    assert [r[0] for r in a.search("shared", 10)] == [did(5)]
    assert a.stats()["documents"] == 1 and a.verify() == []
    assert [r[0] for r in c.search("shared", 10)] == [did(3)]


# -- filter and limits ------------------------------------------------------------------------------


def test_allowed_prefilter_returns_exactly_min_k_matches(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    with store.write_lock:
        batch = store.batch()
        for n in range(200):
            index.index_ops(batch, did(n), None, "common " + ("rare " if n % 10 == 0 else "") + "filler " * (n % 7))
        store.write(batch)
    unfiltered = dict(index.search("common", 1000))
    assert len(unfiltered) == 200
    allowed = {did(n) for n in range(0, 200, 3)}  # 67 ids
    for k in (1, 5, 67, 100):
        got = index.search("common", k, allowed=allowed)
        assert len(got) == min(k, 67)
        assert {g[0] for g in got} <= allowed
        assert all(unfiltered[i] == pytest.approx(s) for i, s in got)  # same scores as unfiltered
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    rare_allowed = {did(n) for n in range(0, 200, 3) if n % 10 == 0}  # 0, 30, 60, ... -> 7 ids
    assert len(index.search("rare", 10, allowed=allowed)) == len(rare_allowed) == 7
    assert index.search("common", 10, allowed={did(999)}) == []
    assert index.search("common rare", 10, allowed={did(999)}) == []
    assert [g[0] for g in index.search("rare filler", 2, allowed={did(1), did(10), did(20)})] == [did(10), did(20)]
    assert index.search("common", 10, allowed=set()) == []
    assert index.search("common", 0) == []
    # ties break by id, so a cut through equal scores is deterministic
    tied = index.search("common", 3, allowed={did(7), did(14), did(21), did(28)})  # all n % 7 == 0
    assert [t[0] for t in tied] == [did(7), did(14), did(21)]


def test_stop_word_query_is_empty_and_blank_query_is_invalid(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    put(store, index, did(1), None, "the cat sat on the mat")
    assert index.search("the and of", 10) == []
    assert index.search("unknownword", 10) == []
    for bad in ["", "   ", "\n\t"]:
        with pytest.raises(InvalidInput):
            index.search(bad, 10)
    with pytest.raises(InvalidInput):
        index.search("cat", -1)
    with pytest.raises(InvalidInput):
        put(store, index, b"short", None, "cat")
    with pytest.raises(InvalidInput):
        put(store, index, did(2), None, 42)  # type: ignore[arg-type]


def test_empty_index_and_missing_families(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert TextIndex(store, 9, 9).search("anything", 10) == []
    monkeypatch.setattr(engine, "COLUMN_FAMILIES", tuple(f for f in engine.COLUMN_FAMILIES if f not in FAMILIES))
    plain = Store(tmp_path / "plain")
    try:
        with pytest.raises(StorageError, match="column families"):
            TextIndex(plain, 1, 0)
    finally:
        plain.close()


# -- durability -------------------------------------------------------------------------------------


def test_persists_across_reopen(tmp_path: Path, families: None) -> None:
    store = Store(tmp_path / "db")
    index = TextIndex(store, 1, 0)
    for doc_id, text in CORPUS.items():
        put(store, index, doc_id, None, text)
    before = index.search("cherry banana", 10)
    store.close()
    store = Store(tmp_path / "db")
    try:
        again = TextIndex(store, 1, 0)
        assert again.search("cherry banana", 10) == before
        assert again.stats()["documents"] == 3
    finally:
        store.close()


def test_foreign_tokenizer_version_is_refused(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    put(store, index, did(1), None, "alpha")
    store.cf["textstats"].put(index._prefix, bytes([99]) + bytes(16))
    with pytest.raises(StorageError, match="rebuild"):
        TextIndex(store, 1, 0)


CRASH_WRITER = """
import os, signal, sys, uuid
import remlite.storage.engine as engine
from remlite.text import FAMILIES, TextIndex
engine.COLUMN_FAMILIES = engine.COLUMN_FAMILIES + FAMILIES
store = engine.Store(sys.argv[1])
index = TextIndex(store, 5, 0)
for n in range(50):
    with store.write_lock:
        batch = store.batch()
        batch.put(b"row" + n.to_bytes(16, "big"), b"{}", store.handle["rows"])
        index.index_ops(batch, n.to_bytes(16, "big"), None, f"acknowledged paragraph number{n} zebra")
        store.write(batch)
    print("ack", n, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: as if the power stayed on but the process died
"""


def test_acknowledged_rows_are_searchable_after_kill_9(tmp_path: Path, families: None) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", CRASH_WRITER, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    acked = [int(line.split()[1]) for line in child.stdout.splitlines() if line.startswith("ack ")]
    assert acked == list(range(50))
    store = Store(tmp_path / "db")
    try:
        index = TextIndex(store, 5, 0)
        assert len(index.search("zebra", 100)) == 50
        for n in (0, 17, 49):
            assert [r[0] for r in index.search(f"number{n}", 5)] == [did(n)]
        assert index.stats()["documents"] == 50 and index.verify() == []
    finally:
        store.close()


def test_ids_are_opaque_bytes(store: Store) -> None:
    index = TextIndex(store, 1, 0)
    ids = [uuid.uuid4().bytes for _ in range(20)] + [b"\x00" * 16, b"\xff" * 16]
    for n, doc_id in enumerate(ids):
        put(store, index, doc_id, None, f"token{n % 3} shared")
    assert Counter(len(index.search(f"token{m}", 100)) for m in range(3)) == Counter({8: 1, 7: 2})
    assert {r[0] for r in index.search("shared", 100)} == set(ids)


@given(
    st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.sampled_from([0.5, 1.0, 1.25, 2.0])), max_size=60),
    st.integers(min_value=1, max_value=20),
)
def test_ranking_is_best_score_first_then_smaller_id(pairs: list[tuple[bytes, float]], k: int) -> None:
    """The numpy ranking (`_best`) against Python's sort of (-score, id): few distinct scores, so
    most cuts go through ties."""
    import numpy as np

    from remlite.text.ranking import best as _best

    unique = dict(pairs)  # one score per id, as after summing the terms
    ids = np.frombuffer(b"".join(unique), "V16") if unique else np.empty(0, "V16")
    scores = np.array(list(unique.values()), dtype=np.float64)
    expected = sorted(unique.items(), key=lambda p: (-p[1], p[0]))[:k]
    assert _best(ids, scores, k) == expected
