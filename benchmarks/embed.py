"""Embedding benchmark: the `local` model (int8 MiniLM on onnxruntime) and the `hash` provider.

Run: `.venv/bin/python benchmarks/embed.py [--quick] [--texts 500] [--out FILE]`.

Text is real prose that every machine has: paragraphs of the Python standard library's docstrings
(80–800 characters, median ~160), a seeded sample of `--texts` of them. Lines:
- cold start: a fresh interpreter imports remlite.embed, creates the provider and embeds one text
  (model SHA-256 check, tokenizer and onnxruntime session load included); median of 3 processes;
- single-text latency p50/p95 for a ~250-character paragraph, 100 calls;
- throughput (texts/s) of `embed(corpus)` for several batch sizes (texts are sorted by length and
  each batch padded to its longest text), median of the runs;
- the same for the `hash` provider.
There is no peer column: the targets come from the embedding issue (p50 <= 10 ms, >= 100 texts/s).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

from harness import Row, latency, print_table, temp_dir, throughput, write_results
from remlite.embed import get_provider

SEED = 20240601
BATCH_SIZES = (1, 4, 8, 16, 32)
# fmt: off
MODULES = (
    "argparse", "asyncio", "calendar", "collections", "configparser", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email", "enum", "fractions", "functools", "gettext", "glob", "gzip",
    "hashlib", "heapq", "http.client", "inspect", "ipaddress", "itertools", "json", "logging", "mailbox",
    "mimetypes", "optparse", "os", "pathlib", "pickle", "platform", "pprint", "queue", "random", "re", "sched",
    "shelve", "shlex", "shutil", "smtplib", "socket", "sqlite3", "ssl", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "traceback", "typing", "unittest",
    "urllib.request", "uuid", "weakref", "xml.etree.ElementTree", "zipfile",
)
# fmt: on
COLD = """
import json, time
t0 = time.perf_counter()
from remlite.embed import get_provider
t1 = time.perf_counter()
provider = get_provider("local")
provider.embed(["warm up the model"])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_embed_s": t2 - t1}))
"""


def paragraphs(lo: int = 80, hi: int = 800) -> list[str]:
    """Distinct docstring paragraphs of stdlib modules, whitespace-collapsed, `lo`..`hi` characters."""
    seen: dict[str, None] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        members = [v for _, v in inspect.getmembers(module) if inspect.isfunction(v) or inspect.isclass(v)]
        for obj in [module, *members]:
            for part in re.split(r"\n\s*\n", inspect.getdoc(obj) or ""):
                text = " ".join(part.split())
                if lo <= len(text) <= hi and not text.startswith(">>>"):
                    seen.setdefault(text, None)
    return list(seen)


def cold_start(runs: int = 3) -> dict[str, float]:
    """Median over `runs` fresh interpreters of import time and of create + first embed."""
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def database_rows(paragraph: str, corpus: list[str], runs: int) -> list[Row]:
    """The same model through the database: `db.insert` of one resource (embed + store + index
    write), and `insert_batch` of the corpus (one model call per batch)."""
    import remlite

    with temp_dir() as root, remlite.connect(root, embedder="local") as db:
        counter = iter(range(10**9))
        lat = latency(lambda: db.insert("resources", {"uri": f"p{next(counter)}", "content": paragraph}), repeat=100)
        rate = throughput(
            lambda: db.insert_batch("resources", [{"uri": f"b{i}", "content": t} for i, t in enumerate(corpus)]),
            len(corpus),
            runs=runs,
        )
    return [
        Row(f"db.insert of a {len(paragraph)}-char resource p50", lat.p50_ms, None, "ms", False, 10.0, "embed + write"),
        Row(f"db.insert of a {len(paragraph)}-char resource p95", lat.p95_ms, None, "ms", False),
        Row(f"db.insert_batch of {len(corpus)} resources", rate, None, "rows/s", True, 100.0, "embed + write"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 texts, one run each: a smoke test")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None, help="JSON result file (default benchmarks/.cache/)")
    args = parser.parse_args()
    n_texts, runs = (100, 1) if args.quick else (args.texts, 3)

    pool = paragraphs()
    corpus = random.Random(SEED).sample(pool, min(n_texts, len(pool)))
    paragraph = min((p for p in pool if 230 <= len(p) <= 270), key=lambda p: (abs(len(p) - 250), p))
    chars = statistics.mean(len(t) for t in corpus)
    print(f"corpus: {len(corpus)} paragraphs, mean {chars:.0f} chars; single text: {len(paragraph)} chars")

    cold = cold_start(1 if args.quick else 3)
    local_rows = [
        Row("import remlite.embed (fresh process)", cold["import_s"] * 1e3, None, "ms", higher_is_better=False),
        Row("cold start: create + first embed", cold["first_embed_s"] * 1e3, None, "ms", higher_is_better=False),
    ]
    for threads in (2, 1):
        provider = get_provider("local", threads=threads)
        lat = latency(lambda p=provider: p.embed_one(paragraph), repeat=100)
        note = f"{threads} intra-op thread{'s' if threads > 1 else ''}"
        local_rows += [
            Row(f"single {len(paragraph)}-char text p50", lat.p50_ms, None, "ms", False, 10.0, note),
            Row(f"single {len(paragraph)}-char text p95", lat.p95_ms, None, "ms", False, None, note),
        ]
    for batch_size in BATCH_SIZES:
        provider = get_provider("local", batch_size=batch_size)
        rate = throughput(lambda p=provider: p.embed(corpus), len(corpus), runs=runs)
        local_rows.append(Row(f"embed {len(corpus)} texts, batch {batch_size}", rate, None, "texts/s", True, 100.0))
    local_rows += database_rows(paragraph, corpus, runs)
    print_table("local: all-MiniLM-L6-v2 int8 ONNX (onnxruntime, CPU)", local_rows, peer="-")

    hasher = get_provider("hash")
    hash_rows = [
        Row(
            f"embed {len(corpus)} texts",
            throughput(lambda: hasher.embed(corpus), len(corpus), runs=runs),
            None,
            "texts/s",
        ),
        Row("single text p50", latency(lambda: hasher.embed_one(paragraph), repeat=100).p50_ms, None, "ms", False),
    ]
    print_table("hash: blake2b feature hashing, 384-d", hash_rows, peer="-")
    path = write_results("embed", {"tables": {"local": local_rows, "hash": hash_rows}}, args.out)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
