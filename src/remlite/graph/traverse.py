"""Traversal methods of `remlite.Database`: traverse (BFS/DFS), neighbors, shortest_path, all_paths.

The algorithms (`algorithms.py`) walk edge keys only. The records reached are then fetched with one
multi-get; soft-deleted (or vanished) records are dead: if any was reached, the walk runs again
with them blocked, so they are neither returned nor walked through (the common case is one walk
and one fetch).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from remlite import ids as idmod
from remlite.errors import InvalidInput, NotFound, shown
from remlite.graph import algorithms as alg
from remlite.graph.keys import check_direction, decode_type, encode_types

if TYPE_CHECKING:
    from remlite.core import TenantCore

MODES = ("bfs", "dfs")
MAX_DEPTH = 64
_REVERSE = {"out": "in", "in": "out", "both": "both"}


def _check_depth(depth: Any, name: str = "depth") -> int:
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"{name} must be an integer from 0 to {MAX_DEPTH}, got {shown(depth)}")
    return depth


class Traversal:
    """traverse, neighbors, shortest_path and all_paths of `remlite.Database`."""

    def __init__(self, core: TenantCore) -> None:
        self.core = core

    def traverse(
        self,
        start: str,
        depth: int = 2,
        direction: str = "out",
        type: str | Sequence[str] | None = None,
        mode: str = "bfs",
    ) -> list[dict[str, Any]]:
        """The live records reachable from `start` within `depth` edges (start excluded), each once,
        with `_table`, `_depth` (its hop distance), `_path` (ids from start to it), `_edges` (the
        edges along the path as {src, dst, type}) and `_edge` (the type of the last one).

        `direction` is "out" (follow edges forwards), "in" (backwards) or "both"; `type` keeps only
        edges of that type (or list of types). `mode="bfs"` lists records by distance; `mode="dfs"`
        lists the same records in depth-first preorder (neighbours in type, then id order).
        Cycle-safe: every record is reported once."""
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        walk = alg.bfs if mode == "bfs" else alg.dfs
        return self._walk(start, depth, direction, type, walk, exact=False)

    def neighbors(
        self,
        record_id: str,
        depth: int = 1,
        direction: str = "out",
        type: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The live records exactly `depth` edges away (at shortest distance `depth`), as traverse."""
        return self._walk(record_id, depth, direction, type, alg.bfs, exact=True)

    def _walk(
        self,
        start: str,
        depth: int,
        direction: str,
        edge_type: str | Sequence[str] | None,
        walk: Callable[[alg.Adjacency, bytes, int, set[bytes]], tuple[list[bytes], alg.Parents]],
        exact: bool,
    ) -> list[dict[str, Any]]:
        root = idmod.to_bytes(start)
        _check_depth(depth)
        check_direction(direction)
        types = encode_types(edge_type)
        self._require(root)
        blocked: set[bytes] = set()

        def run() -> tuple[list[bytes], alg.Parents]:
            with self._adjacency(direction, types) as adj:
                order, parents = walk(adj, root, depth, blocked)
            if exact:
                order = [n for n in order if parents[n][3] == depth]
            return order, parents

        order, parents = run()
        while True:
            found = self.core.live_records(order)
            dead = {node for node in order if node not in found}
            if not dead:
                break
            blocked |= dead
            order, parents = run()
        to_str = idmod.to_str
        out = []
        for node in order:
            path = alg.path_to(parents, node)
            edges = []
            for prev, cur in itertools.pairwise(path):
                _, tkey, forwards, _ = parents[cur]
                src, dst = (prev, cur) if forwards else (cur, prev)
                edges.append({"src": to_str(src), "dst": to_str(dst), "type": decode_type(tkey)})
            table, record = found[node]
            out.append(
                {
                    **record,
                    "_table": table,
                    "_depth": len(path) - 1,
                    "_path": [to_str(n) for n in path],
                    "_edges": edges,
                    "_edge": edges[-1]["type"],
                }
            )
        return out

    def shortest_path(
        self,
        src: str,
        dst: str,
        direction: str = "out",
        type: str | Sequence[str] | None = None,
    ) -> list[str]:
        """The ids of a shortest path from src to dst ([src] when they are the same; [] when dst is
        unreachable), through live records only. Bidirectional BFS."""
        s, d = idmod.to_bytes(src), idmod.to_bytes(dst)
        check_direction(direction)
        types = encode_types(type)
        self._require(s)
        self._require(d)
        blocked: set[bytes] = set()
        while True:
            with self._adjacency(direction, types) as fwd, self._adjacency(_REVERSE[direction], types) as bwd:
                path = alg.shortest_path(fwd, bwd, s, d, blocked)
            if path is None:
                return []
            found = self.core.live_records(path[1:-1])
            dead = {node for node in path[1:-1] if node not in found}
            if not dead:
                return [idmod.to_str(n) for n in path]
            blocked |= dead

    def all_paths(
        self,
        src: str,
        dst: str,
        max_depth: int = 4,
        direction: str = "out",
        type: str | Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[list[str]]:
        """Every simple path (no repeated record) from src to dst with at most `max_depth` edges,
        as lists of ids, in depth-first order; at most `limit` of them. Live records only."""
        s, d = idmod.to_bytes(src), idmod.to_bytes(dst)
        _check_depth(max_depth, "max_depth")
        check_direction(direction)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise InvalidInput(f"limit must be a positive integer, got {shown(limit)}")
        types = encode_types(type)
        self._require(s)
        self._require(d)
        blocked: set[bytes] = set()
        while True:
            with self._adjacency(direction, types) as fwd, self._adjacency(_REVERSE[direction], types) as bwd:
                paths = alg.all_paths(fwd, bwd, s, d, max_depth, blocked, limit)
            inner = list({n: None for p in paths for n in p[1:-1]})
            found = self.core.live_records(inner)
            dead = {n for n in inner if n not in found}
            if not dead:
                return [[idmod.to_str(n) for n in p] for p in paths]
            blocked |= dead

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _adjacency(self, direction: str, types: list[bytes] | None) -> Iterator[alg.Adjacency]:
        adj = alg.Adjacency(self.core.store, direction, types)
        try:
            yield adj
        finally:
            adj.close()

    def _require(self, rid: bytes) -> None:
        if not self.core.live_records([rid]):
            raise NotFound(f"no live record with id {idmod.to_str(rid)}")
