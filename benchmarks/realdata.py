"""Real text and real embeddings for the vector benchmarks: WordNet glosses from Debian's
`wordnet-base` (fetched by `make data-wordnet` into the git-ignored .data/), embedded once with the
packaged local model and cached under benchmarks/.cache/, keyed by model and corpus size.

Run directly to build the cache: `.venv/bin/python benchmarks/realdata.py [--limit N]` (all
117,659 glosses take ~15-25 min on 2 cores; the benchmark reuses the file afterwards).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORDNET = ROOT / ".data" / "wordnet" / "usr" / "share" / "wordnet"
CACHE = HERE / ".cache"
MODEL_TAG = "minilm-l6-int8"


def wordnet_senses() -> list[tuple[str, str, str]]:
    """(sense id `pos:offset`, lemmas, gloss) for every synset of the four data files."""
    if not (WORDNET / "data.noun").exists():
        sys.exit(f"WordNet not found under {WORDNET}: run `make data-wordnet` first")
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(WORDNET / f"data.{pos}", encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                count = int(fields[3], 16)
                lemmas = ", ".join(fields[4 + 2 * i].replace("_", " ") for i in range(count))
                out.append((f"{fields[2]}:{fields[0]}", lemmas, gloss.strip()))
    return out


def definition(gloss: str) -> str:
    """The gloss without its quoted examples: a reverse-dictionary query."""
    return gloss.split('; "')[0].strip()


def embedded_glosses(limit: int | None = None) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """Senses and their gloss vectors (cached), in a fixed shuffled order so prefixes are samples."""
    senses = wordnet_senses()
    order = np.random.default_rng(20261124).permutation(len(senses))
    senses = [senses[i] for i in order]
    if limit:
        senses = senses[:limit]
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"wordnet-{MODEL_TAG}-{len(senses)}.npy"
    if path.exists():
        return senses, np.load(path)
    full = CACHE / f"wordnet-{MODEL_TAG}-{len(order)}.npy"
    if full.exists():
        return senses, np.load(full)[: len(senses)]
    from remlite.embed import get_provider

    provider = get_provider("local")
    texts = [gloss for _, _, gloss in senses]
    chunks, start = [], time.perf_counter()
    for i in range(0, len(texts), 512):
        chunks.append(provider.embed(texts[i : i + 512]))
        done = i + len(chunks[-1])
        rate = done / (time.perf_counter() - start)
        print(f"\rembedded {done}/{len(texts)} glosses ({rate:.0f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    vectors = np.concatenate(chunks).astype(np.float32)
    np.save(path, vectors)
    return senses, vectors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    senses, vectors = embedded_glosses(args.limit)
    print(f"{len(senses)} senses, vectors {vectors.shape}")
