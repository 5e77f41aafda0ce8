"""Which rows can satisfy a WHERE clause, from secondary indexes alone.

Returns a set of ids (a superset of the matching rows, or exactly them) or None when the indexes
cannot narrow the search (then the caller scans). The full predicate is always re-checked on the
fetched rows, so this only has to be safe, never exact. An index is used only when the literal's
type matches the field's declared JSON type, so index order and SQL comparison agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from remlite.query.predicate import field_path, literal_value
from remlite.query.values import _MISSING, COMPARISONS, FLIPPED
from remlite.records import TableLayout

# (field name, bounds) -> ids; bounds use the keywords of Database.find (eq, gt, gte, lt, lte)
Finder = Callable[[str, dict[str, Any]], set[bytes]]


@functools.lru_cache(maxsize=4096)
def _declared_types(layout: TableLayout, name: str) -> frozenset[str]:
    return frozenset(_declared(layout, name))


def _declared(layout: TableLayout, name: str) -> set[str]:
    if name in ("created_at", "modified_at", "deleted_at"):
        return {"timestamp"}
    schema = layout.table.field_schema(name)
    if schema is None:
        return set()
    if layout.table.is_timestamp(name):
        return {"timestamp"}
    kind = schema.get("type")
    types = {kind} if isinstance(kind, str) else set(kind or [])
    return types - {"null"}


def _usable(layout: TableLayout, name: str, value: Any) -> bool:
    if name not in layout.by_name:
        return False
    types = _declared_types(layout, name)
    if value is None:
        return True
    if isinstance(value, bool):
        return types == {"boolean"}
    if isinstance(value, (int, float)):
        return types <= {"integer", "number"} and bool(types)
    if isinstance(value, str):
        return types in ({"string"}, {"timestamp"})
    return False


class CandidatePlanner:
    def __init__(
        self,
        layout: TableLayout,
        finder: Finder,
        params: Any = None,
        aliases: tuple[str, ...] = (),
        cap: int | None = None,
    ) -> None:
        self.layout = layout
        self.finder = finder
        self.params = params
        self.aliases = aliases
        self.cap = cap  # an index lookup finding more ids than this narrows nothing (None: no cap)
        self.exact = True  # after ids(): the set is exactly the matching rows (no re-check needed)
        self.steps: list[str] = []  # what EXPLAIN shows

    def ids(self, node: exp.Expression) -> set[bytes] | None:
        self.exact = True
        return self._ids(node)

    def _ids(self, node: exp.Expression) -> set[bytes] | None:
        """Ids from the indexes; sets `self.exact` False when some part of `node` was not
        answered by them (then the caller must re-check the rows)."""
        found = self._node_ids(node)
        if found is None:
            self.exact = False
        return found

    def _node_ids(self, node: exp.Expression) -> set[bytes] | None:
        if isinstance(node, exp.Paren):
            return self._ids(node.this)
        if isinstance(node, exp.And):
            left, right = self._ids(node.left), self._ids(node.right)
            if left is None:
                return right
            if right is None:
                return left
            return left & right
        if isinstance(node, exp.Or):
            left = self._ids(node.left)
            if left is None:
                return None
            right = self._ids(node.right)
            return None if right is None else left | right
        op = COMPARISONS.get(type(node))
        if op is not None and op != "neq":
            return self._comparison(op, node.left, node.right)
        if isinstance(node, exp.Between):
            name = self._indexed_name(node.this)
            low = literal_value(node.args["low"], self.params)
            high = literal_value(node.args["high"], self.params)
            if name and low is not _MISSING and high is not _MISSING and _usable(self.layout, name, low):
                if low is None or high is None or not _usable(self.layout, name, high):
                    return None
                return self._find(name, {"gte": low, "lte": high})
            return None
        if isinstance(node, exp.In) and node.args.get("query") is None:
            name = self._indexed_name(node.this)
            values = [literal_value(e, self.params) for e in node.expressions]
            if not name or any(v is _MISSING or v is None or not _usable(self.layout, name, v) for v in values):
                return None
            found: set[bytes] = set()
            for value in values:
                part = self._find(name, {"eq": value})
                if part is None:
                    return None
                found |= part
            return found
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            name = self._indexed_name(node.this)
            return self._find(name, {"eq": None}) if name else None
        return None

    def _indexed_name(self, node: exp.Expression) -> str | None:
        path = field_path(node, self.aliases)
        if path is None:
            return None
        name = ".".join(path)
        if name not in self.layout.by_name or "array" in _declared_types(self.layout, name):
            return None
        return name

    def _comparison(self, op: str, left: exp.Expression, right: exp.Expression) -> set[bytes] | None:
        name, other = self._indexed_name(left), right
        if name is None:
            name, other, op = self._indexed_name(right), left, FLIPPED[op]
        if name is None:
            return None
        value = literal_value(other, self.params)
        if value is None:
            return set()  # a comparison with NULL is never true
        if value is _MISSING or not _usable(self.layout, name, value):
            return None
        return self._find(name, {op: value})

    def _find(self, name: str, bounds: dict[str, Any]) -> set[bytes] | None:
        found = self.finder(name, bounds) if self.cap is None else self.finder(name, {**bounds, "limit": self.cap + 1})
        desc = ", ".join(f"{k}={v!r}" for k, v in bounds.items())
        if self.cap is not None and len(found) > self.cap:
            self.steps.append(f"index {self.layout.table.name}.{name} ({desc}) -> over {self.cap} ids, not used")
            return None
        self.steps.append(f"index {self.layout.table.name}.{name} ({desc}) -> {len(found)} ids")
        return found
