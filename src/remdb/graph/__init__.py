"""The graph layer: typed, directed edges with properties between any two records, stored both
ways (`edges_out`, `edges_in`), and traversals over them. See `keys.py` for the on-disk layout."""

from remdb.graph.edges import EdgeMixin
from remdb.graph.traverse import TraversalMixin


class GraphMixin(EdgeMixin, TraversalMixin):
    """Edge and traversal methods of `remdb.Database`."""


__all__ = ["GraphMixin"]
