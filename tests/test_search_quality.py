"""Retrieval quality on real text with the packaged local model.

The labelled set: Python's own reference topics (`pydoc_data.topics`, shipped with CPython, so it
is on every machine). Each topic's human-written heading ("The assert statement", "Augmented
assignment statements", ...) is a query whose one right answer is that topic's body, minus its lead
paragraph (which mostly restates the heading and would make the task a string match). Headings are
short keyword-style queries, the kind users type into a search box, where BM25 and vectors each
find what the other misses; hybrid (reciprocal rank fusion) must beat or tie the better of the two.
On long descriptive queries vector search alone does better than hybrid here (see
benchmarks/RESULTS.md): hybrid is not a universal win, and its weights are configurable.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import remlite


def labelled_topics() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    import pydoc_data.topics

    docs, queries = [], []
    for key in sorted(pydoc_data.topics.topics):
        lines = pydoc_data.topics.topics[key].strip().splitlines()
        if len(lines) < 3 or not re.fullmatch(r"[*=\-^~]+", lines[1].strip()):
            continue
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(lines[2:])) if p.strip()]
        lead = next((i for i, p in enumerate(paragraphs) if len(p) > 60 and not p.startswith(("*", "   "))), None)
        if lead is None:
            continue
        body = "\n\n".join(p for i, p in enumerate(paragraphs) if i != lead)
        if len(body) < 200:
            continue
        docs.append((key, body))
        queries.append((key, lines[0].strip().replace('"', "")))
    return docs, queries


def score(db: remlite.Database, queries: list[tuple[str, str]], mode: str) -> tuple[float, float]:
    """(MRR@10, recall@10)."""
    reciprocal, found = 0.0, 0
    for key, query in queries:
        ranked = [row["key"] for row in db.search("topics", query, k=10, mode=mode)]
        if key in ranked:
            reciprocal += 1 / (ranked.index(key) + 1)
            found += 1
    return reciprocal / len(queries), found / len(queries)


@pytest.fixture(scope="module")
def topics_db(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    docs, queries = labelled_topics()
    assert len(docs) > 60
    db = remlite.connect(Path(tmp_path_factory.mktemp("quality")), embedder="local")
    db.register_schema(
        {
            "name": "topics",
            "properties": {"key": {"type": "string"}, "body": {"type": "string"}},
            "key_field": "key",
            "embedding_fields": ["body"],
        }
    )
    db.insert_batch("topics", [{"key": k, "body": b} for k, b in docs])
    yield db, queries
    db.close()


def test_hybrid_beats_or_ties_the_better_of_vector_and_text(topics_db) -> None:  # type: ignore[no-untyped-def]
    db, queries = topics_db
    vector, text, hybrid = (score(db, queries, mode) for mode in ("vector", "text", "hybrid"))
    assert vector[1] > 0.85 and text[1] > 0.8  # both retrievers are real, not strawmen
    assert hybrid[0] >= max(vector[0], text[0]) - 1e-9, (vector, text, hybrid)
    assert hybrid[1] >= max(vector[1], text[1]), (vector, text, hybrid)
