"""Traversals checked against networkx on the same edges: a real graph (WordNet's verbs, when
`make data-wordnet` has fetched it) and always a generated one (a few thousand nodes, random typed
edges with cycles, self-loops and reciprocal pairs)."""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import remlite

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import graph as wordnet  # noqa: E402  (benchmarks/graph.py: the WordNet parser)

NODES = {"name": "nodes", "properties": {"name": {"type": "string"}}, "required": ["name"], "key_field": "name"}
TYPES = ["a", "b", "c"]
SOURCES = ["generated"] + (["wordnet"] if (wordnet.WORDNET / "data.verb").exists() else [])


def generated(seed: int = 5, n: int = 3000) -> tuple[list[str], list[tuple[str, str, str]]]:
    rng = random.Random(seed)
    keys = [f"n{i}" for i in range(n)]
    edges: dict[tuple[str, str, str], None] = {}
    for key in keys:
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
            other = rng.choice(keys) if rng.random() > 0.02 else key
            edges[(key, rng.choice(TYPES), other)] = None
            if rng.random() < 0.2:
                edges[(other, rng.choice(TYPES), key)] = None
    return keys, list(edges)


class Loaded:
    def __init__(self, db: remlite.Database, keys: list[str], edges: list[tuple[str, str, str]]) -> None:
        self.db = db
        ids = db.insert_batch("nodes", [{"name": k} for k in keys])
        self.id = dict(zip(keys, ids, strict=True))
        self.key = {v: k for k, v in self.id.items()}
        db.add_edges([(self.id[s], self.id[d], t) for s, t, d in edges])
        self.types = sorted({t for _, t, _ in edges})
        self.full = nx.MultiDiGraph()
        self.full.add_nodes_from(keys)
        self.full.add_edges_from((s, d, t) for s, t, d in edges)
        self.keys = keys
        self._views: dict[tuple[str, str | None], Any] = {}

    def view(self, direction: str, edge_type: str | None) -> Any:
        cached = self._views.get((direction, edge_type))
        if cached is None:
            cached = self._views[(direction, edge_type)] = self._view(direction, edge_type)
        return cached

    def _view(self, direction: str, edge_type: str | None) -> Any:
        graph = self.full
        if edge_type is not None:
            graph = nx.MultiDiGraph()
            graph.add_nodes_from(self.keys)
            graph.add_edges_from((s, d, t) for s, d, t in self.full.edges(keys=True) if t == edge_type)
        if direction == "in":
            return graph.reverse(copy=False)
        if direction == "both":
            return graph.to_undirected(as_view=True)
        return graph


@pytest.fixture(scope="module", params=SOURCES)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    if request.param == "wordnet":
        synsets, edges = wordnet.parse_wordnet(wordnet.WORDNET, ("verb",))
        keys = [s["synset"] for s in synsets]
    else:
        keys, edges = generated()
    db = remlite.connect(tmp_path_factory.mktemp(request.param))
    db.register_schema(NODES)
    yield Loaded(db, keys, edges)
    db.close()


def check_path(g: Loaded, record: dict[str, Any], start: str, direction: str, edge_type: str | None) -> None:
    path = [g.key[i] for i in record["_path"]]
    assert path[0] == start and path[-1] == g.key[record["id"]] and len(path) - 1 == record["_depth"]
    assert len(set(path)) == len(path)
    for (a, b), edge in zip(itertools.pairwise(path), record["_edges"], strict=True):
        src, dst = g.key[edge["src"]], g.key[edge["dst"]]
        assert {src, dst} == {a, b} and (
            direction == "both" or (src, dst) == ((a, b) if direction == "out" else (b, a))
        )
        assert g.full.has_edge(src, dst, key=edge["type"]) and edge_type in (None, edge["type"])
    assert record["_edge"] == record["_edges"][-1]["type"]


def test_traverse_matches_networkx(loaded: Loaded) -> None:
    rng = random.Random(11)
    starts = rng.sample(loaded.keys, 40)
    for start, direction, depth in itertools.product(starts, ("out", "in", "both"), (1, 2, 3)):
        edge_type = rng.choice([None, None, *loaded.types])
        want = nx.single_source_shortest_path_length(loaded.view(direction, edge_type), start, cutoff=depth)
        want.pop(start)
        for mode in ("bfs", "dfs"):
            found = loaded.db.traverse(loaded.id[start], depth, direction, edge_type, mode)
            assert {loaded.key[r["id"]]: r["_depth"] for r in found} == want, (start, direction, depth, mode)
            assert len(found) == len(want)
            for record in found:
                check_path(loaded, record, start, direction, edge_type)
            if mode == "bfs":
                assert [r["_depth"] for r in found] == sorted(r["_depth"] for r in found)
        exact = loaded.db.neighbors(loaded.id[start], depth, direction, edge_type)
        assert {loaded.key[r["id"]] for r in exact} == {k for k, d in want.items() if d == depth}


def test_shortest_path_matches_networkx(loaded: Loaded) -> None:
    rng = random.Random(12)
    for direction in ("out", "in", "both"):
        view = loaded.view(direction, None)
        for _ in range(60):
            a, b = rng.choice(loaded.keys), rng.choice(loaded.keys)
            path = [loaded.key[i] for i in loaded.db.shortest_path(loaded.id[a], loaded.id[b], direction)]
            try:
                want = nx.shortest_path_length(view, a, b)
            except nx.NetworkXNoPath:
                assert path == []
                continue
            assert len(path) - 1 == want and path[0] == a and path[-1] == b
            assert all(view.has_edge(x, y) for x, y in itertools.pairwise(path))


def test_all_paths_match_networkx(loaded: Loaded) -> None:
    rng = random.Random(13)
    checked = 0
    for start in rng.sample(loaded.keys, 60):
        for direction in ("out", "both"):
            reach = loaded.db.traverse(loaded.id[start], 3, direction)
            if not reach:
                continue
            target = loaded.key[rng.choice(reach)["id"]]
            view = loaded.view(direction, None)
            want = {tuple(p) for p in nx.all_simple_paths(view, start, target, cutoff=3)}
            got = loaded.db.all_paths(loaded.id[start], loaded.id[target], 3, direction)
            assert len(got) == len({tuple(p) for p in got})  # each node sequence once
            assert {tuple(loaded.key[i] for i in p) for p in got} == want, (start, target, direction)
            checked += 1
    assert checked > 20
