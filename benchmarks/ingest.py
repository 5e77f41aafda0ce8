"""Ingest benchmark: `Database.ingest` on the Python 3.11 documentation (Debian's python3.11-doc).

Run: `make data-pydoc` once (extracts the package into the git-ignored .data/pydoc), then
`.venv/bin/python benchmarks/ingest.py [--quick] [--local-files 300] [--skip-local] [--out FILE]`.

Corpora, both real prose no one here wrote:
- html: the 530 HTML pages of the docs (~50 MB of markup, ~10.8 M characters of text);
- rst: their 497 reST sources (`_sources/**/*.rst.txt`, ~11 M characters), read as plain text.

Lines, per corpus and provider (ingest's default sizes: the model's window in its tokens, 256 for
local; 1,024 characters for hash, which has no tokenizer):
- first ingest into an empty database: files/s and chunks/s (parse, chunk, embed, write, edges,
  document records), median of `--runs` fresh databases for `hash`, one run for `local`;
- the peer column (hash only): the same files parsed, chunked and written by one plain
  `insert_batch` per file (no hashes, no comparison with stored chunks, no document records, no
  edges) — the ratio is what ingest's bookkeeping costs;
- re-ingest of the unchanged corpus: files/s, and the check that it wrote nothing (`last_seq`);
- re-ingest after editing one word in each of 20 files: seconds, and chunks rewritten per edit (the
  chunks holding the edit plus at most one is the issue's bound: 2 at most);
- local only: the share of the ingested text the model reads — every chunk's tokens counted by the
  model's own tokenizer, the share that fits its window (must be 100%; it was 95.4% when chunks were
  sized in characters);
- parse + chunk alone (no database): files/s.
The `local` model runs on a subset: `--local-files` HTML pages (default 60 of 530, spread evenly,
chosen deterministically): 2,460 chunks of at most 256 tokens (mean 154) at 66 chunks/s end to end
on a quiet 2-core machine (2026-12-02), ~40 s; 300 pages take a few minutes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import remlite
from harness import Row, print_table, temp_dir, write_results
from remlite.ingest.chunker import chunk
from remlite.ingest.files import collect
from remlite.ingest.formats import content_type, parse

ROOT = Path(__file__).resolve().parents[1]
PYDOC = ROOT / ".data" / "pydoc" / "usr" / "share" / "doc" / "python3.11" / "html"
CORPORA = {"html": (PYDOC, ["*.html"]), "rst": (PYDOC / "_sources", ["*.rst.txt"])}
CHUNK, OVERLAP = 1024, 100  # characters: what ingest's defaults are for the hash provider
EDITED = 20


def corpus_files(name: str, limit: int | None = None) -> list[Path]:
    root, glob = CORPORA[name]
    files, _ = collect([root], glob)
    if limit is not None and limit < len(files):
        step = len(files) / limit
        files = [files[int(i * step)] for i in range(limit)]
    return files


def parse_only(files: list[Path], provider: str) -> tuple[float, int]:
    """(seconds, chunks) to read, parse and chunk the files without a database (in the local model's
    tokens, counted by its tokenizer, for `local`)."""
    size, overlap, count = CHUNK, OVERLAP, None
    if provider == "local":
        from remlite.embed.local import LocalProvider

        model = LocalProvider()
        model.load()
        size, overlap, count = 256, 25, model.token_counts
    started, chunks = time.perf_counter(), 0
    for path in files:
        doc = parse(path, path.read_bytes(), content_type(path))
        chunks += len(chunk(doc.text, doc.sections, size, overlap, count))
    return time.perf_counter() - started, chunks


def plain_loop(db: Any, files: list[Path]) -> None:
    """The peer: what ingest does minus its bookkeeping — parse, chunk, one plain `insert_batch`
    per file (no hashes, no comparison with stored chunks, no document records, no edges)."""
    for path in files:
        doc = parse(path, path.read_bytes(), content_type(path))
        uri = path.as_uri()
        records = [
            {
                "uri": uri,
                "chunk_ordinal": n,
                "content": doc.text[s.start : s.end],
                "title": doc.title,
                "heading_path": s.heading_path,
                "content_type": doc.content_type,
                "offset_start": s.start,
                "offset_end": s.end,
                "page": s.page,
            }
            for n, s in enumerate(chunk(doc.text, doc.sections, CHUNK, OVERLAP))
        ]
        if records:
            db.insert_batch("resources", records)


def edit(files: list[Path], count: int) -> None:
    """Change one word in the middle paragraph of `count` files spread over the corpus."""
    for path in files[:: max(1, len(files) // count)][:count]:
        text = path.read_text()
        middle = text.find("the ", len(text) // 2)
        if middle >= 0:
            path.write_text(text[:middle] + "THE " + text[middle + 4 :])


def measure(name: str, provider: str, files: list[Path], runs: int, scratch: Path) -> dict[str, Any]:
    """First ingest (median of `runs`), the insert_batch peer, unchanged and edited re-ingests."""
    first: list[float] = []
    report: Any = None
    for run in range(runs):
        with remlite.connect(scratch / f"db-{run}", embedder=provider) as db:
            started = time.perf_counter()
            report = db.ingest(files)
            first.append(time.perf_counter() - started)
            assert not report.skipped, report.skipped[:3]
            if run == runs - 1:
                seq = db.last_seq
                started = time.perf_counter()
                again = db.ingest(files)
                unchanged_s = time.perf_counter() - started
                assert db.last_seq == seq and again.written == 0, "re-ingest of unchanged files wrote something"
                edit(files, EDITED)
                started = time.perf_counter()
                edited = db.ingest(files)
                edited_s = time.perf_counter() - started
                hits = {q: db.search("resources", q, k=3) for q in QUERIES} if provider == "local" else {}
                embedded = share_embedded(db) if provider == "local" else None
        shutil.rmtree(scratch / f"db-{run}", ignore_errors=True)
    peer_s = None
    if provider == "hash":  # with the local model both sides are the model's time: not repeated
        with remlite.connect(scratch / "peer", embedder=provider) as db:
            started = time.perf_counter()
            plain_loop(db, files)
            peer_s = time.perf_counter() - started
        shutil.rmtree(scratch / "peer", ignore_errors=True)
    parse_s, parsed_chunks = parse_only(files, provider)
    seconds = statistics.median(first)
    return {
        "corpus": name,
        "provider": provider,
        "files": report.files,
        "chunks": report.chunks,
        "first_s": seconds,
        "first_runs_s": first,
        "peer_s": peer_s,
        "unchanged_s": unchanged_s,
        "edited_s": edited_s,
        "edited": {k: getattr(edited, k) for k in ("changed_files", "new", "updated", "moved", "unchanged", "removed")},
        "parse_s": parse_s,
        "parsed_chunks": parsed_chunks,
        "embedded": embedded,
        "hits": {q: [(h["uri"].rsplit("/", 2)[-1], round(h["_score"], 3)) for h in v] for q, v in hits.items()},
    }


def share_embedded(db: Any) -> dict[str, float]:
    """Tokens of every stored chunk by the table's model, and the share its window lets it read."""
    provider = remlite.embed.get_provider("local")
    contents = [row["content"] for row in db.scan("resources")]
    counts = provider.token_counts(contents)
    window = provider.max_tokens
    total = sum(counts)
    return {
        "chunks": len(counts),
        "tokens": total,
        "over_window": sum(1 for c in counts if c > window),
        "max_tokens": max(counts, default=0),
        "mean_tokens": total / max(1, len(counts)),
        "share": sum(min(c, window) for c in counts) / max(1, total),
    }


QUERIES = ("how do I read a JSON file", "run a function in a background thread", "format dates as text")


def rows_for(r: dict[str, Any]) -> list[Row]:
    files, chunks, peer = r["files"], r["chunks"], r["peer_s"]
    edited = r["edited"]
    return [
        Row("first ingest", chunks / r["first_s"], peer and chunks / peer, "chunks/s", True, None,
            f"{files} files, {chunks:,} chunks; peer: parse + chunk + plain insert_batch per file"),
        Row("first ingest", files / r["first_s"], peer and files / peer, "files/s"),
        Row("re-ingest, unchanged", files / r["unchanged_s"], None, "files/s", True, None, "0 writes (last_seq same)"),
        Row(f"re-ingest, {EDITED} files edited", r["edited_s"], None, "s", False, None,
            f"{edited['changed_files']} files: {edited['updated']} updated, {edited['moved']} moved, "
            f"{edited['new']} new, {edited['removed']} removed, {edited['unchanged']:,} unchanged"),
        Row("chunks rewritten per one-word edit", (edited["updated"] + edited["new"]) / max(1, edited["changed_files"]),
            None, "chunks", False, 2.0, "updated + new, per edited file"),
        Row("parse + chunk only", files / r["parse_s"], None, "files/s", True, None,
            f"{r['parsed_chunks'] / r['parse_s']:,.0f} chunks/s, no database"),
    ] + ([] if not (e := r.get("embedded")) else [
        Row("share of the text the model reads", 100 * e["share"], None, "%", True, 100.0,
            f"{e['chunks']:,} chunks, mean {e['mean_tokens']:.0f} tokens, max {e['max_tokens']}, "
            f"{e['over_window']} over the window"),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 files per corpus, 20 for local, 1 run")
    parser.add_argument("--runs", type=int, default=3, help="fresh-database runs of the hash first ingest")
    parser.add_argument("--local-files", type=int, default=60, help="HTML pages for the local-model run")
    parser.add_argument("--skip-local", action="store_true", help="only the hash provider")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (PYDOC / "index.html").exists():
        print(f"python3.11-doc not found in {PYDOC}: run `make data-pydoc` first", file=sys.stderr)
        return 2
    limit = 40 if args.quick else None
    runs = 1 if args.quick else args.runs
    plan = [("html", "hash", limit, runs), ("rst", "hash", limit, runs)]
    if not args.skip_local:
        plan.append(("html", "local", 20 if args.quick else args.local_files, 1))
    started = time.perf_counter()
    tables: dict[str, list[Row]] = {}
    raw = []
    for name, provider, count, n_runs in plan:
        with temp_dir() as scratch:
            source = scratch / "corpus"
            shutil.copytree(CORPORA[name][0], source, symlinks=True)  # edits go to a copy
            files = corpus_files(name, count)
            files = [source / f.relative_to(CORPORA[name][0]) for f in files]
            result = measure(name, provider, files, n_runs, scratch)
        title = f"ingest {name} ({result['files']} files), {provider} provider"
        tables[title] = rows = rows_for(result)
        raw.append(result)
        print_table(title, rows, "insert_batch", "ratio (ingest / plain insert_batch)")
        for query, hits in result["hits"].items():
            print(f"  {query!r}: {hits}")
    path = write_results("ingest", {"peer": "insert_batch", "tables": tables, "raw": raw}, args.out)
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
