"""Graph benchmark on WordNet 3.0: load rate, 2-hop traversal and shortest path, vs networkx.

Run: `make data-wordnet` once (Debian's wordnet-base, extracted into .data/wordnet), then
`.venv/bin/python benchmarks/graph.py [--quick] [--out FILE]` (`--quick`: the verbs only).

Every synset (117,659) becomes a record of a `synsets` table (natural key `n00001740`: part of
speech + offset, so ids are deterministic), and every pointer between synsets (hypernym, hyponym,
part/member/substance holonym and meronym, antonym, derivation, similar-to, domain, ...) becomes a
typed edge: 364,552 distinct (src, type, dst) triples. Lexical pointers (between two words of two
synsets) are kept at synset level, like semantic ones.

The peer is networkx (a MultiDiGraph in memory, the usual Python choice): its figures are for
dicts in RAM, remlite's for RocksDB on disk returning full records, so the ratio is context, not a
target. Answers are checked against networkx on a sample before anything is timed.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import Row, fmt, latency, parse_args, print_table, temp_dir, write_results

ROOT = Path(__file__).resolve().parents[1]
WORDNET = ROOT / ".data" / "wordnet" / "usr" / "share" / "wordnet"
SEED = 20251001
TABLE = "synsets"
SCHEMA: dict[str, Any] = {
    "name": TABLE,
    "type": "object",
    "properties": {
        "synset": {"type": "string"},
        "name": {"type": "string"},
        "pos": {"type": "string"},
        "lemmas": {"type": "array", "items": {"type": "string"}},
        "gloss": {"type": "string"},
    },
    "required": ["synset", "name", "pos"],
    "key_field": "synset",
    "indexed_fields": ["pos"],
}
FILES = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
POINTERS = {
    "!": "antonym",
    "@": "hypernym",
    "@i": "instance_hypernym",
    "~": "hyponym",
    "~i": "instance_hyponym",
    "#m": "member_holonym",
    "#s": "substance_holonym",
    "#p": "part_holonym",
    "%m": "member_meronym",
    "%s": "substance_meronym",
    "%p": "part_meronym",
    "=": "attribute",
    "+": "derivation",
    ";c": "domain_topic",
    "-c": "member_topic",
    ";r": "domain_region",
    "-r": "member_region",
    ";u": "domain_usage",
    "-u": "member_usage",
    "*": "entailment",
    ">": "cause",
    "^": "also_see",
    "$": "verb_group",
    "&": "similar_to",
    "<": "participle",
    "\\": "pertainym",
}
TARGETS = {"load": 50_000, "two_hop_p50": 2.0, "path_p50": 20.0}


def parse_wordnet(
    folder: Path = WORDNET, parts: tuple[str, ...] = tuple(FILES)
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """Synsets as records and pointers as (src key, type, dst key), distinct, from the `data.*`
    files: `offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [symbol offset pos
    source/target]... [frames] | gloss`. Satellite adjectives ('s') live in data.adj, so pointers
    to them are keyed 'a'. Pointers into a part of speech not loaded are dropped."""
    synsets: list[dict[str, Any]] = []
    edges: dict[tuple[str, str, str], None] = {}
    loaded = {FILES[p] for p in parts}
    for part in parts:
        pos = FILES[part]
        with open(folder / f"data.{part}", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                key = pos + fields[0]
                count = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
                i = 4 + 2 * count
                pointers = int(fields[i])
                i += 1
                for _ in range(pointers):
                    symbol, offset, target_pos = fields[i], fields[i + 1], fields[i + 2]
                    i += 4
                    target_pos = "a" if target_pos == "s" else target_pos
                    if target_pos in loaded:
                        edges[(key, POINTERS[symbol], target_pos + offset)] = None
                synsets.append({"synset": key, "name": lemmas[0], "pos": pos, "lemmas": lemmas, "gloss": gloss.strip()})
    return synsets, list(edges)


def load(db: Any, synsets: list[dict[str, Any]], edges: list[tuple[str, str, str]]) -> dict[str, float]:
    """Insert the synsets, then the edges; return the rates and the key -> id map in `db`."""
    start = time.perf_counter()
    ids = db.insert_batch(TABLE, synsets)
    rows_s = time.perf_counter() - start
    by_key = dict(zip((s["synset"] for s in synsets), ids, strict=True))
    triples = [(by_key[s], by_key[d], t) for s, t, d in edges]
    start = time.perf_counter()
    db.add_edges(triples)
    edges_s = time.perf_counter() - start
    db._bench_ids = by_key
    return {"rows_per_s": len(synsets) / rows_s, "edges_per_s": len(edges) / edges_s, "edges_seconds": edges_s}


def networkx_graph(keys: list[str], edges: list[tuple[str, str, str]]) -> tuple[Any, float]:
    import networkx as nx

    start = time.perf_counter()
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(keys)
    graph.add_edges_from((s, d, t) for s, t, d in edges)
    return graph, len(edges) / (time.perf_counter() - start)


def check_against_networkx(
    db: Any, graph: Any, keys: list[str], pairs: list[tuple[str, str]], by_key: dict[str, str]
) -> int:
    """2-hop sets and shortest-path lengths must equal networkx's; returns the answers checked."""
    import networkx as nx

    by_id = {v: k for k, v in by_key.items()}
    checked = 0
    for key in keys:
        want = {n: d for n, d in nx.single_source_shortest_path_length(graph, key, cutoff=2).items() if n != key}
        got = {by_id[r["id"]]: r["_depth"] for r in db.traverse(by_key[key], depth=2)}
        assert got == want, f"2-hop from {key} differs from networkx"
        checked += 1
    for a, b in pairs:
        path = db.shortest_path(by_key[a], by_key[b])
        try:
            want_len = nx.shortest_path_length(graph, a, b)
        except nx.NetworkXNoPath:
            want_len = -1
        assert len(path) - 1 == want_len, f"shortest path {a} -> {b}: {len(path) - 1} vs {want_len}"
        for x, y in itertools.pairwise(path):
            assert graph.has_edge(by_id[x], by_id[y])
        checked += 1
    return checked


def cycle(items: list[Any]) -> Iterator[Any]:
    while True:
        yield from items


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], [0], argv)
    if not (WORDNET / "data.noun").exists():
        print(f"WordNet not found in {WORDNET}: run `make data-wordnet` first", file=sys.stderr)
        return 2
    import remlite

    started = time.perf_counter()
    parts = ("verb",) if args.quick else tuple(FILES)
    synsets, edges = parse_wordnet(WORDNET, parts)
    print(f"WordNet {'/'.join(parts)}: {len(synsets):,} synsets, {len(edges):,} typed edges")
    rng = random.Random(SEED)
    keys = [s["synset"] for s in synsets]
    runs = 1 if args.quick else 3
    loads: list[dict[str, float]] = []
    with temp_dir() as root:
        db = None
        for run in range(runs):  # a fresh database per run; the last one stays open for the reads
            if db is not None:
                db.close()
            db = remlite.connect(root / f"run{run}", "bench")
            db.register_schema(SCHEMA)
            loads.append(load(db, synsets, edges))
        assert db is not None
        by_key: dict[str, str] = db._bench_ids
        graph, nx_rate = networkx_graph(keys, edges)
        starts = rng.sample(keys, min(2000, len(keys)))
        pairs = [(rng.choice(keys), rng.choice(keys)) for _ in range(300 if args.quick else 1000)]
        checked = check_against_networkx(db, graph, starts[:100], pairs[:100], by_key)
        report = db.check()
        assert report["ok"] and report["edges"] == len(edges), report["problems"][:5]
        sizes = [len(db.traverse(by_key[k], depth=2)) for k in starts[:500]]
        reached = sum(1 for a, b in pairs if db.shortest_path(by_key[a], by_key[b]))
        lengths = [len(db.shortest_path(by_key[a], by_key[b])) - 1 for a, b in pairs[:200]]
        import networkx as nx

        def nx_path(a: str, b: str) -> list[str]:
            try:
                return nx.bidirectional_shortest_path(graph, a, b)
            except nx.NetworkXNoPath:
                return []

        id_starts, id_pairs = cycle([by_key[k] for k in starts]), cycle([(by_key[a], by_key[b]) for a, b in pairs])
        key_starts, key_pairs = cycle(starts), cycle(pairs)
        two_hop = latency(lambda: db.traverse(next(id_starts), depth=2), 2000)
        nx_two_hop = latency(lambda: nx.single_source_shortest_path_length(graph, next(key_starts), cutoff=2), 2000)
        paths = latency(lambda: db.shortest_path(*next(id_pairs)), len(pairs), warmup=20)
        nx_paths = latency(lambda: nx_path(*next(key_pairs)), len(pairs), warmup=20)
        db.close()
    load_rate = max(r["edges_per_s"] for r in loads)  # best of the runs, as RESULTS.md keeps
    rows_rate = max(r["rows_per_s"] for r in loads)
    reach = f"{reached}/{len(pairs)} pairs connected; mean length {sum(x for x in lengths if x >= 0) / max(1, sum(1 for x in lengths if x >= 0)):.1f}"  # noqa: E501
    rows = [
        Row("load edges, add_edges (50k chunks)", load_rate, nx_rate, "edges/s", True, TARGETS["load"],
            f"{len(edges):,} edges; runs {', '.join(fmt(r['edges_per_s']) for r in loads)}"),
        Row("load synsets, insert_batch", rows_rate, None, "rows/s", True, None, f"{len(synsets):,} records"),
        Row("2-hop traverse p50", two_hop.p50_ms, nx_two_hop.p50_ms, "ms", False, TARGETS["two_hop_p50"],
            f"records; median {sorted(sizes)[len(sizes) // 2]} reached, max {max(sizes)}"),
        Row("2-hop traverse p95", two_hop.p95_ms, nx_two_hop.p95_ms, "ms", False, None),
        Row("shortest path p50", paths.p50_ms, nx_paths.p50_ms, "ms", False, TARGETS["path_p50"], reach),
        Row("shortest path p95", paths.p95_ms, nx_paths.p95_ms, "ms", False, None),
    ]  # fmt: skip
    title = f"Graph, WordNet {'/'.join(parts)} ({len(synsets):,} synsets, {len(edges):,} edges)"
    print_table(title, rows, "networkx")
    print(f"checked {checked} answers against networkx: all equal")
    missed = [f"{r.metric}: {fmt(r.remlite)} {r.unit} (target {fmt(r.target)})" for r in rows if r.target_met is False]
    print("targets missed:", "; ".join(missed) or "none")
    path = write_results(
        "graph",
        {"peer": "networkx", "tables": {title: rows}, "loads": loads, "checked": checked, "sizes": sizes[:50]},
        args.out,
    )
    print(f"results: {path}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
