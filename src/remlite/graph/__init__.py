"""The graph layer: typed, directed edges with properties between any two records, stored both
ways (`edges_out`, `edges_in`), and traversals over them. See `keys.py` for the on-disk layout."""

from remlite.graph.edges import EdgeMixin
from remlite.graph.traverse import TraversalMixin


class GraphMixin(EdgeMixin, TraversalMixin):
    """Edge and traversal methods of `remlite.Database`."""


__all__ = ["GraphMixin"]
