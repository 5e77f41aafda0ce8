"""Embedding benchmark: the default `local` model (all-MiniLM-L6-v2, int8 arithmetic) against the
packaged file it is derived from (int8 storage, fp32 arithmetic) in the same run, and the `hash`
provider.

Run: `.venv/bin/python benchmarks/embed.py [--quick] [--texts 300] [--out FILE]`.

Text is real prose that every machine has: the Python standard library's docstrings. Three shapes,
as the ingestion issue sets its targets (2 cores): 250-character paragraphs (>= 150 texts/s),
1,000-character chunks (consecutive paragraphs of one module, 900-1,100 characters; >= 25 texts/s),
and a single short query (p50 <= 5 ms). Lines:
- first use on a machine: deriving the int8 model into an empty cache (once; a fresh process);
- cold start in a fresh process with the cache filled: import, create, first embed (median of 3);
- single query and single paragraph latency p50/p95, 100 calls;
- throughput (texts/s) of `embed(corpus)` for each shape, median of the runs; the int8 model runs
  texts one by one (its vectors would depend on batch neighbours otherwise), as many at once as
  cores, one onnxruntime thread each; the packaged model in its default batches of 4 after sorting
  by length on all cores; a line with the int8 model in batches of 4 shows what that choice costs;
- the same through the database (`db.insert_batch`: embed + write), and the `hash` provider.
The peer column is the packaged model: the ratio is the speed-up of the default.
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
import json, sys, time
t0 = time.perf_counter()
from remlite.embed import get_provider
t1 = time.perf_counter()
provider = get_provider("local", model=sys.argv[1])
provider.embed(["warm up the model"])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_embed_s": t2 - t1}))
"""
QUERIES = (
    "how do I open a file for reading with a specific encoding",
    "parse command line arguments",
    "run a subprocess and capture its output",
    "compare two dates in different time zones",
)
DEFAULT, PACKAGED = "all-MiniLM-L6-v2-int8-dynamic", "all-MiniLM-L6-v2-int8"


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


def chunks(lo: int = 900, hi: int = 1100) -> list[str]:
    """~1,000-character chunks: consecutive docstring paragraphs of one module joined until `lo`,
    cut back at a word to at most `hi` characters."""
    out: list[str] = []
    for name in MODULES:
        module = importlib.import_module(name)
        members = [v for _, v in inspect.getmembers(module) if inspect.isfunction(v) or inspect.isclass(v)]
        text = ""
        for obj in [module, *members]:
            for part in re.split(r"\n\s*\n", inspect.getdoc(obj) or ""):
                text = f"{text} {' '.join(part.split())}".strip()
                if len(text) >= lo:
                    out.append(text[:hi].rsplit(" ", 1)[0] if len(text) > hi else text)
                    text = ""
    return list(dict.fromkeys(out))


def cold_start(model: str, runs: int = 3, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median over `runs` fresh interpreters of import time and of create + first embed."""
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", COLD, model], capture_output=True, text=True, check=True, env=env)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def database_rate(model: str, corpus: list[str], runs: int) -> float:
    """rows/s of `db.insert_batch` of the corpus as resources: embed + store + index writes."""
    import remlite
    from remlite.embed import get_provider as provider_of

    counter = iter(range(10**9))
    with temp_dir() as root, remlite.connect(root, embedder=provider_of("local", model=model)) as db:
        return throughput(
            lambda: db.insert_batch("resources", [{"uri": f"b{next(counter)}", "content": t} for t in corpus]),
            len(corpus),
            runs=runs,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 texts, one run each: a smoke test")
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="JSON result file (default benchmarks/.cache/)")
    args = parser.parse_args()
    n_texts, runs = (60, 1) if args.quick else (args.texts, 3)

    rng = random.Random(SEED)
    pool = paragraphs()
    short_pool = [p for p in pool if 200 <= len(p) <= 300]
    short = rng.sample(short_pool, min(n_texts, len(short_pool)))
    long_pool = chunks()
    long = rng.sample(long_pool, min(n_texts // 3, len(long_pool)))
    paragraph = min((p for p in pool if 230 <= len(p) <= 270), key=lambda p: (abs(len(p) - 250), p))
    print(
        f"paragraphs: {len(short)}, mean {statistics.mean(map(len, short)):.0f} chars; chunks: {len(long)}, "
        f"mean {statistics.mean(map(len, long)):.0f} chars; single paragraph {len(paragraph)} chars"
    )

    import os

    with temp_dir() as cache:
        env = {**os.environ, "REMLITE_MODEL_CACHE": str(cache)}
        first = cold_start(DEFAULT, 1, env)["first_embed_s"]  # derives into the empty cache
    warm = {model: cold_start(model, 1 if args.quick else 3) for model in (DEFAULT, PACKAGED)}
    ours, theirs = get_provider("local"), get_provider("local", model=PACKAGED)
    queries = iter(QUERIES * 1000)

    def both(metric: str, measure, unit: str, higher: bool, target: float | None = None, note: str = "") -> Row:
        return Row(metric, measure(ours), measure(theirs), unit, higher, target, note)

    rows = [
        Row("first use on a machine: derive + first embed", first * 1e3, None, "ms", False, None, "once"),
        Row("import remlite.embed (fresh process)", warm[DEFAULT]["import_s"] * 1e3, None, "ms", False),
        Row(
            "cold start: create + first embed",
            warm[DEFAULT]["first_embed_s"] * 1e3,
            warm[PACKAGED]["first_embed_s"] * 1e3,
            "ms",
            False,
        ),
        both("single query p50", lambda p: latency(lambda: p.embed_one(next(queries)), 100).p50_ms, "ms", False, 5.0),
        both("single query p95", lambda p: latency(lambda: p.embed_one(next(queries)), 100).p95_ms, "ms", False),
        both(
            f"single {len(paragraph)}-char paragraph p50",
            lambda p: latency(lambda: p.embed_one(paragraph), 100).p50_ms,
            "ms",
            False,
        ),
        both(
            f"{len(short)} paragraphs (~250 chars)",
            lambda p: throughput(lambda: p.embed(short), len(short), runs),
            "texts/s",
            True,
            150.0,
        ),
        both(
            f"{len(long)} chunks (~1,000 chars)",
            lambda p: throughput(lambda: p.embed(long), len(long), runs),
            "texts/s",
            True,
            25.0,
        ),
    ]
    batched = get_provider("local", batch_size=4)
    rows += [
        Row(
            f"{len(texts)} {shape}, int8 in batches of 4",
            throughput(lambda texts=texts: batched.embed(texts), len(texts), runs),
            None,
            "texts/s",
            True,
            None,
            "vectors then depend on batch neighbours",
        )
        for shape, texts in (("paragraphs", short), ("chunks", long))
    ]
    rows += [
        Row(
            f"db.insert_batch of {len(short)} paragraphs",
            database_rate(DEFAULT, short, runs),
            database_rate(PACKAGED, short, runs),
            "rows/s",
            True,
            None,
            "embed + write",
        ),
    ]
    print_table("local: all-MiniLM-L6-v2, int8 (default) vs the packaged file", rows, peer="packaged", ratio="speed-up")

    hasher = get_provider("hash")
    hash_rows = [
        Row(
            f"embed {len(short)} paragraphs", throughput(lambda: hasher.embed(short), len(short), runs), None, "texts/s"
        ),
        Row("single paragraph p50", latency(lambda: hasher.embed_one(paragraph), repeat=100).p50_ms, None, "ms", False),
    ]
    print_table("hash: blake2b feature hashing, 384-d", hash_rows, peer="-")
    path = write_results("embed", {"tables": {"local": rows, "hash": hash_rows}}, args.out)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
