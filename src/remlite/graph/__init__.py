"""The graph layer: typed, directed edges with properties between any two records, stored both
ways (`edges_out`, `edges_in`), and traversals over them. See `keys.py` for the on-disk layout."""

from remlite.graph.edges import EdgeHook, Edges
from remlite.graph.traverse import Traversal

__all__ = ["EdgeHook", "Edges", "Traversal"]
