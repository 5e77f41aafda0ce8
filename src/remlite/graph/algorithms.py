"""Graph algorithms over the edge column families: BFS, DFS, bidirectional shortest path and
bounded simple-path enumeration.

They read keys only. `Adjacency` keeps one RocksDB iterator per column family for the whole call
and re-seeks it per node (3-4 µs a node instead of building an iterator per scan); neighbours are
the last 16 bytes of each key under the node's prefix. Records are not read here: the caller
fetches the nodes reached in one multi-get, and re-runs with the dead ones (soft-deleted or
missing records) in `blocked` if there were any, so dead nodes are neither returned nor walked
through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from remlite.graph.keys import IN, OUT

# parent links: node -> (previous node, encoded type, edge followed forwards?, depth)
Parents = dict[bytes, tuple[bytes, bytes, bool, int]]


class Adjacency:
    """Neighbours of a node along `direction` ("out", "in", "both"), optionally of some types."""

    def __init__(self, store: Any, direction: str, types: Sequence[bytes] | None) -> None:
        self.types = list(types) if types else None
        self._store = store
        self._sides: list[tuple[Any, bool]] = []
        if direction in ("out", "both"):
            self._sides.append((store.iterator(OUT), True))
        if direction in ("in", "both"):
            self._sides.append((store.iterator(IN), False))
        self._cache: dict[bytes, list[tuple[bytes, bytes, bool]]] = {}
        self._unique: dict[bytes, list[bytes]] = {}

    def close(self) -> None:
        """Drop the iterators (RocksDB keeps its lock while any is referenced)."""
        self._sides = []
        self._cache = {}
        self._unique = {}

    def edges(self, node: bytes) -> list[tuple[bytes, bytes, bool]]:
        """(neighbour, encoded type, forwards) in key order: by type, then neighbour id."""
        out: list[tuple[bytes, bytes, bool]] = []
        append = out.append
        for it, forwards in self._sides:
            for prefix in [node] if self.types is None else [node + t for t in self.types]:
                it.seek(prefix)
                while it.valid():
                    key = it.key()
                    if not key.startswith(prefix):
                        break
                    append((key[-16:], key[16:-16], forwards))
                    it.next()
                else:  # the end of the family, or a read error
                    self._store.check_iterator(it, OUT if forwards else IN)
        return out

    def cached_edges(self, node: bytes) -> list[tuple[bytes, bytes, bool]]:
        found = self._cache.get(node)
        if found is None:
            found = self._cache[node] = self.edges(node)
        return found

    def unique_nodes(self, node: bytes) -> list[bytes]:
        """Distinct neighbours in key order, cached (paths are node sequences: two edge types
        between the same nodes make one path, not two)."""
        found = self._unique.get(node)
        if found is None:
            found = self._unique[node] = list(dict.fromkeys(self.nodes(node)))
        return found

    def nodes(self, node: bytes) -> list[bytes]:
        """Neighbour ids only (the shortest-path hot loop)."""
        out: list[bytes] = []
        append = out.append
        for it, forwards in self._sides:
            for prefix in [node] if self.types is None else [node + t for t in self.types]:
                it.seek(prefix)
                while it.valid():
                    key = it.key()
                    if not key.startswith(prefix):
                        break
                    append(key[-16:])
                    it.next()
                else:  # the end of the family, or a read error
                    self._store.check_iterator(it, OUT if forwards else IN)
        return out


def bfs(adj: Adjacency, start: bytes, depth: int, blocked: set[bytes]) -> tuple[list[bytes], Parents]:
    """Nodes within `depth` hops in breadth-first order (each at its shortest distance, reached by
    the first edge that found it)."""
    parents: Parents = {start: (start, b"", True, 0)}
    order: list[bytes] = []
    frontier = [start]
    for level in range(1, depth + 1):
        found: list[bytes] = []
        for node in frontier:
            for nbr, tkey, forwards in adj.edges(node):
                if nbr in parents or nbr in blocked:
                    continue
                parents[nbr] = (node, tkey, forwards, level)
                found.append(nbr)
        if not found:
            break
        order += found
        frontier = found
    return order, parents


def dfs(adj: Adjacency, start: bytes, depth: int, blocked: set[bytes]) -> tuple[list[bytes], Parents]:
    """Nodes within `depth` hops in depth-first preorder (neighbours in key order). A node reached
    again by a shorter path is expanded again, so the set (and each `_depth`) is the same as BFS
    with the same bound, and each node's path is the shortest one the search found."""
    parents: Parents = {start: (start, b"", True, 0)}
    order: list[bytes] = []
    stack: list[tuple[bytes, bytes, bytes, bool, int]] = (
        [(nbr, start, tkey, fwd, 1) for nbr, tkey, fwd in reversed(adj.cached_edges(start))] if depth >= 1 else []
    )
    while stack:
        node, prev, tkey, forwards, level = stack.pop()
        if node in blocked:
            continue
        known = parents.get(node)
        if known is not None:
            if known[3] <= level:
                continue
        else:
            order.append(node)
        parents[node] = (prev, tkey, forwards, level)
        if level < depth:
            for nbr, t, fwd in reversed(adj.cached_edges(node)):
                seen = parents.get(nbr)
                if seen is None or seen[3] > level + 1:
                    stack.append((nbr, node, t, fwd, level + 1))
    return order, parents


def path_to(parents: Parents, node: bytes) -> list[bytes]:
    out = [node]
    while parents[node][3] > 0:
        node = parents[node][0]
        out.append(node)
    out.reverse()
    return out


def shortest_path(
    forward: Adjacency, backward: Adjacency, src: bytes, dst: bytes, blocked: set[bytes]
) -> list[bytes] | None:
    """Bidirectional BFS: expand the smaller frontier one whole level at a time. Until the two
    searches meet, every path is longer than the levels done on both sides, so the first node
    found by both closes a shortest path."""
    if src == dst:
        return [src]
    from_src: dict[bytes, bytes | None] = {src: None}
    from_dst: dict[bytes, bytes | None] = {dst: None}
    front, back = [src], [dst]
    meet: bytes | None = None
    while front and back and meet is None:
        if len(front) <= len(back):
            front, meet = _level(forward, front, from_src, from_dst, blocked)
        else:
            back, meet = _level(backward, back, from_dst, from_src, blocked)
    if meet is None:
        return None
    path: list[bytes] = []
    node: bytes | None = meet
    while node is not None:
        path.append(node)
        node = from_src[node]
    path.reverse()
    node = from_dst[meet]
    while node is not None:
        path.append(node)
        node = from_dst[node]
    return path


def _level(
    adj: Adjacency,
    frontier: list[bytes],
    mine: dict[bytes, bytes | None],
    theirs: dict[bytes, bytes | None],
    blocked: set[bytes],
) -> tuple[list[bytes], bytes | None]:
    found: list[bytes] = []
    for node in frontier:
        for nbr in adj.nodes(node):
            if nbr in mine or nbr in blocked:
                continue
            mine[nbr] = node
            if nbr in theirs:
                return found, nbr
            found.append(nbr)
    return found, None


def distances(adj: Adjacency, start: bytes, depth: int, blocked: set[bytes]) -> dict[bytes, int]:
    """Hop distance from `start` of every node within `depth` (along `adj`)."""
    dist = {start: 0}
    frontier = [start]
    for level in range(1, depth + 1):
        found = []
        for node in frontier:
            for nbr in adj.nodes(node):
                if nbr not in dist and nbr not in blocked:
                    dist[nbr] = level
                    found.append(nbr)
        frontier = found
        if not frontier:
            break
    return dist


def all_paths(
    forward: Adjacency,
    backward: Adjacency,
    src: bytes,
    dst: bytes,
    max_depth: int,
    blocked: set[bytes],
    limit: int | None,
) -> list[list[bytes]]:
    """Every simple path src -> dst of at most `max_depth` edges, in depth-first (key) order. A
    backward BFS from dst first bounds the search: a node is entered only if dst is still
    reachable from it within the hops left."""
    if src == dst:
        return [[src]]
    to_dst = distances(backward, dst, max_depth, blocked)
    if src not in to_dst:
        return []
    out: list[list[bytes]] = []
    path, on_path = [src], {src}

    def walk(node: bytes, left: int) -> bool:  # False: the limit is reached, stop everywhere
        for nxt in forward.unique_nodes(node):
            if nxt in on_path or to_dst.get(nxt, left) > left - 1:
                continue
            if nxt == dst:
                out.append([*path, dst])
                if limit is not None and len(out) >= limit:
                    return False
                continue
            path.append(nxt)
            on_path.add(nxt)
            more = walk(nxt, left - 1)
            path.pop()
            on_path.discard(nxt)
            if not more:
                return False
        return True

    walk(src, max_depth)
    return out
