"""Deterministic fixtures of the reference benchmark plan, built once into the git-ignored
benchmarks/.cache/fixtures/ (nothing here is committed):

    entities_1k.jsonl, entities_10k.jsonl, entities_100k.jsonl (entities_1m.jsonl for bench-full)
        seeded records, the generator of benchmarks/sql.py (so the analytics scenario and the
        micro-benchmarks read the same entities): unique `name` (natural key), `status` (4 values,
        one 'active'), `priority` 0-9, `category` (100 values), distinct `score`, `color`, `size`,
        `created_at` over 2024-2025 and `owner` (the index of a record of owners_N.jsonl, N/100).
    documents.jsonl
        real prose no one here wrote: paragraphs of the Python 3.11 documentation's reST sources
        (Debian's python3.11-doc, `make data-pydoc`), markup removed, 200-1,200 characters: the
        chunks of the RAG scenario.
    queries (not a file): WordNet definitions (Debian's wordnet-base, `make data-wordnet`), short
        real phrases, as semantic queries.
    embeddings_10k.npy
        10,000 WordNet gloss vectors of the local model (all-MiniLM-L6-v2, 384-d), computed once
        (benchmarks/realdata.py's cache, shared with benchmarks/vector.py).

Run `.venv/bin/python benchmarks/fixtures.py` to build them (the report does it on demand).
`--smoke` runs fall back to synthetic vectors and the standard library's docstrings when the
Debian corpora are absent, so the smoke test needs no download.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import CACHE

if TYPE_CHECKING:  # numpy is imported where vectors are made: memory.py's children measure their own RSS
    import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = CACHE / "fixtures"
PYDOC_SOURCES = ROOT / ".data" / "pydoc" / "usr" / "share" / "doc" / "python3.11" / "html" / "_sources"
LABELS = {1_000: "1k", 10_000: "10k", 100_000: "100k", 200_000: "200k", 500_000: "500k", 1_000_000: "1m"}
QUERY_SEED = 20261203


def label(n: int) -> str:
    return LABELS.get(n, str(n))


def entities_path(n: int) -> Path:
    """entities_<n>.jsonl (and owners_<n>.jsonl), written on first use."""
    path = FIXTURES / f"entities_{label(n)}.jsonl"
    if not path.exists():
        from sql import generate  # the seeded generator of the SQL benchmark: one entity model

        items, owners = generate(n)
        FIXTURES.mkdir(parents=True, exist_ok=True)
        _write_jsonl(FIXTURES / f"owners_{label(n)}.jsonl", owners)
        _write_jsonl(path, items)
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)


def iter_entities(n: int, chunk: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The entities of entities_<n>.jsonl in lists of `chunk` (memory stays flat at 1M)."""
    batch: list[dict[str, Any]] = []
    with open(entities_path(n)) as lines:
        for line in lines:
            batch.append(json.loads(line))
            if len(batch) == chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def entities(n: int) -> list[dict[str, Any]]:
    return [row for batch in iter_entities(n) for row in batch]


def owners(n: int) -> list[dict[str, Any]]:
    entities_path(n)
    with open(FIXTURES / f"owners_{label(n)}.jsonl") as lines:
        return [json.loads(line) for line in lines]


def entity_schema() -> dict[str, Any]:
    """The micro-benchmarks' and the large database's schema for the fixture entities: table `items`,
    natural key `name`, the 3 indexes of benchmarks/crud.py (status, priority, category), which its
    sqlite3 peer also has. (benchmarks/sql.py's ITEMS adds score and owner_id for the analytics.)"""
    from sql import ITEMS

    return {**ITEMS, "indexed_fields": ["status", "priority", "category"]}


def body(record: dict[str, Any]) -> dict[str, Any]:
    """An entity as stored in the micro-benchmarks: without the owner index."""
    return {k: v for k, v in record.items() if k != "owner"}


# --------------------------------------------------------------------------- real text
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)*:`(?:[^`<]*<)?([^`>]*)>?`")


def _prose(paragraph: str) -> str | None:
    lines = paragraph.splitlines()
    if not lines or any(line[:1].isspace() for line in lines[1:] if not lines[0].startswith(("* ", "- "))):
        return None  # indented: code, directive bodies, block quotes (list items' continuations pass)
    first = lines[0]
    if first[:1].isspace() or first.startswith(("..", ":", "=", "#", "+", ">>>", "|", "~", "^", "`")):
        return None  # directives, field lists, headings' rules, tables, doctests
    text = " ".join(" ".join(lines).split()).removeprefix("* ").removeprefix("- ")
    text = _ROLE.sub(r"\1", text).replace("``", "").replace("**", "").replace("`_", "").replace("`", "")
    return text if 120 <= len(text) <= 1200 and text.count(" ") >= 15 else None


def documents(smoke: bool = False) -> list[str]:
    """Distinct prose paragraphs of the Python documentation, then WordNet glosses (lemmas: gloss,
    senses not among the queries), in a fixed order (documents.jsonl): ~5,900 paragraphs and
    ~20,000 glosses, enough for the plan's 10k chunks."""
    path = FIXTURES / "documents.jsonl"
    if path.exists():
        return [json.loads(line)["text"] for line in path.open()]
    from realdata import WORDNET, wordnet_senses

    if not PYDOC_SOURCES.exists() or not (WORDNET / "data.noun").exists():
        if smoke:
            from embed import paragraphs  # the standard library's docstrings: real prose on every machine

            return paragraphs(120, 1200)
        sys.exit("python3.11-doc or WordNet missing: run `make data-pydoc data-wordnet` first")
    seen: dict[str, None] = {}
    for source in sorted(PYDOC_SOURCES.rglob("*.rst.txt")):
        for paragraph in re.split(r"\n\s*\n", source.read_text(errors="replace")):
            text = _prose(paragraph)
            if text is not None:
                seen.setdefault(text, None)
    held_out = set(_query_senses())
    for sense, lemmas, gloss in wordnet_senses():
        if sense not in held_out and len(gloss) >= 120:
            seen.setdefault(f"{lemmas}: {gloss}", None)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    _write_jsonl(path, [{"text": t} for t in seen])
    return list(seen)


QUERY_POOL = 2_000


def _query_senses() -> dict[str, str]:
    """QUERY_POOL seeded noun and verb senses -> their definition (gloss without examples)."""
    import numpy as np

    from realdata import definition, wordnet_senses

    pool = [(s, definition(g)) for s, _, g in wordnet_senses() if s[0] in "nv" and 20 <= len(definition(g)) <= 120]
    rng = np.random.default_rng(QUERY_SEED)
    return dict(pool[i] for i in rng.choice(len(pool), size=QUERY_POOL, replace=False))


def queries(count: int, smoke: bool = False) -> list[str]:
    """`count` (<= 2,000) WordNet definitions of nouns and verbs, glosses without their examples:
    short real phrases such as a user would type; their senses are not among the documents."""
    from realdata import WORDNET

    if not (WORDNET / "data.noun").exists():
        if smoke:
            verbs = ("open", "read", "copy", "lock", "compress")
            return [f"how do I {verb} a file" for verb in verbs] * (count // 5 + 1)
        sys.exit(f"WordNet not found under {WORDNET}: run `make data-wordnet` first")
    return list(_query_senses().values())[:count]


def gloss_vectors(n: int, n_queries: int = 300, smoke: bool = False) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """WordNet senses and their local-model vectors, n to index plus n_queries held out as queries
    (benchmarks/realdata.py's cache). embeddings_10k.npy is written beside the fixtures when n >= 10k.
    In --smoke without WordNet: seeded random unit vectors (structure only)."""
    import numpy as np

    from realdata import WORDNET, embedded_glosses

    if not (WORDNET / "data.noun").exists():
        if not smoke:
            sys.exit(f"WordNet not found under {WORDNET}: run `make data-wordnet` first")
        rng = np.random.default_rng(QUERY_SEED)
        vectors = rng.standard_normal((n + n_queries, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [(f"s:{i}", "", f"gloss {i}") for i in range(n + n_queries)], vectors
    senses, vectors = embedded_glosses(n + n_queries)
    target = FIXTURES / "embeddings_10k.npy"
    if n + n_queries >= 10_000 and not target.exists():
        FIXTURES.mkdir(parents=True, exist_ok=True)
        np.save(target, vectors[:10_000])
    return senses, vectors


def main() -> None:
    for n in (1_000, 10_000, 100_000):
        print(entities_path(n))
    docs = documents()
    print(f"{FIXTURES / 'documents.jsonl'}: {len(docs):,} paragraphs, {sum(map(len, docs)) / len(docs):.0f} chars mean")
    print(f"queries: {queries(3)}")
    _senses, vectors = gloss_vectors(10_000)
    print(f"{FIXTURES / 'embeddings_10k.npy'}: {vectors[:10_000].shape}")


if __name__ == "__main__":
    main()
