"""Which rows can satisfy a WHERE clause, from secondary indexes alone.

`CandidatePlanner.plan` returns an access tree (read nothing yet) whose ids are a superset of the
matching rows, or exactly them (`exact`), or None when the indexes cannot narrow the search (then
the caller scans); `ids` runs it. Callers re-check the rows unless `exact`. An index is used only when the literal's
type matches the field's declared JSON type, so index order and SQL comparison agree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from remlite import ids as idmod
from remlite.errors import InvalidInput
from remlite.query.access import Access, AllOf, AnyOf, IndexScan, PointGet, materialize
from remlite.query.model import ref_parts
from remlite.query.predicate import field_path, literal_value
from remlite.query.values import _MISSING, COMPARISONS, FLIPPED
from remlite.records import MISSING, TableLayout

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
    """Turns the sargable part of a WHERE clause into an access tree (`remlite.query.access`)."""

    def __init__(
        self,
        layout: TableLayout,
        finder: Finder,
        params: Any = None,
        aliases: tuple[str, ...] = (),
        cap: int | None = None,
        tenant: str | None = None,
    ) -> None:
        self.layout = layout
        self.finder = finder
        self.params = params
        self.aliases = aliases
        self.cap = cap  # an index lookup finding more ids than this narrows nothing (None: no cap)
        self.tenant = tenant  # known: an equality on a one-field natural key is a point get
        self.exact = True  # after plan()/ids(): the ids are exactly the matching rows (no re-check needed)
        self.steps: list[str] = []  # what EXPLAIN shows

    def plan(self, node: exp.Expression) -> Access | None:
        """The access tree for `node`, reading nothing; None when the indexes cannot narrow it.
        Sets `exact` False when some part of `node` is left for a check on the rows."""
        self.exact = True
        return self._sub(node)

    def ids(self, node: exp.Expression) -> set[bytes] | None:
        """The ids `node` can match, read through the indexes (see `plan`)."""
        access = self.plan(node)
        if access is None:
            return None
        found, done = materialize(access, self.finder, self.layout.table.name, self.cap)
        self.steps += done.steps
        if not done.exact or found is None:
            self.exact = False
        return found

    def _sub(self, node: exp.Expression) -> Access | None:
        found = self._node(node)
        if found is None:
            self.exact = False
        return found

    def _node(self, node: exp.Expression) -> Access | None:
        if isinstance(node, exp.Paren):
            return self._sub(node.this)
        if isinstance(node, exp.And):
            left, right = self._sub(node.left), self._sub(node.right)
            if left is None or right is None:
                return left if right is None else right
            return AllOf(_flat(AllOf, left) + _flat(AllOf, right))
        if isinstance(node, exp.Or):
            left = self._sub(node.left)
            if left is None:
                return None
            right = self._sub(node.right)
            return None if right is None else AnyOf(_flat(AnyOf, left) + _flat(AnyOf, right))
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
                return IndexScan(name, (("gte", low), ("lte", high)))
            return None
        if isinstance(node, exp.In) and node.args.get("query") is None:
            values = [literal_value(e, self.params) for e in node.expressions]
            point = self._point(node.this, values)
            if point is not None:
                return point
            name = self._indexed_name(node.this)
            if not name or any(v is _MISSING or v is None or not _usable(self.layout, name, v) for v in values):
                return None
            parts = tuple(IndexScan(name, (("eq", value),)) for value in dict.fromkeys(values))
            return parts[0] if len(parts) == 1 else AnyOf(parts)
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            name = self._indexed_name(node.this)
            return IndexScan(name, (("eq", None),)) if name else None
        return None

    def _indexed_name(self, node: exp.Expression) -> str | None:
        path = field_path(node, self.aliases)
        if path is None:
            return None
        name = ".".join(path)
        if name not in self.layout.by_name or "array" in _declared_types(self.layout, name):
            return None
        return name

    def _point(self, node: exp.Expression, values: list[Any]) -> PointGet | None:
        """`id = v` / `id IN (...)`, and (the table's tenant known) an equality on a one-field
        natural key declared a string: the rows' ids are computed, not scanned, and need no
        re-check (the id is the hash of the key's text, and a key never changes once stored). A
        key of other types is not a point get: SQL compares its values as numbers too."""
        path = field_path(node, self.aliases)
        if path is None or any(v is _MISSING for v in values):
            return None
        if path == ("id",):
            if not all(v is None or isinstance(v, str) for v in values):
                return None
            ids = []
            for value in values:
                if value is None:
                    continue
                try:
                    ids.append(idmod.to_bytes(value))
                except InvalidInput:
                    continue  # not an id: no row has it
            return PointGet(tuple(sorted(set(ids))), "id")
        key = self.layout.key_parts
        if self.tenant is None or len(key) != 1 or path != key[0] or not all(isinstance(v, str) for v in values):
            return None
        if _declared_types(self.layout, ".".join(key[0])) != {"string"}:
            return None  # SQL may equal '7.0' to a stored 7, whose id is the hash of "7": not a point get
        table = self.layout.table.name
        ids = {idmod.key_id_bytes(self.tenant, table, idmod.key_text([value])) for value in values}
        return PointGet(tuple(sorted(ids)), "key " + ".".join(key[0]))

    def _comparison(self, op: str, left: exp.Expression, right: exp.Expression) -> Access | None:
        if op == "eq":
            for side, other in ((left, right), (right, left)):
                point = self._point(side, [literal_value(other, self.params)])
                if point is not None:
                    return point
        name, other = self._indexed_name(left), right
        if name is None:
            name, other, op = self._indexed_name(right), left, FLIPPED[op]
        if name is None:
            return None
        value = literal_value(other, self.params)
        if value is None:
            return PointGet((), "nothing (a comparison with NULL is never true)")
        if value is _MISSING or not _usable(self.layout, name, value):
            return None
        return IndexScan(name, ((op, value),))


def _flat(kind: type[AllOf] | type[AnyOf], access: Access) -> tuple[Access, ...]:
    return access.parts if isinstance(access, kind) else (access,)


# --------------------------------------------------------------------------- an index read in ORDER BY order
def order_field(layout: TableLayout, source: Any, query: Any) -> Any:
    """The indexed scalar field the first ORDER BY key names, whose index can be read in order."""
    parts = ref_parts(query.order[0].expr)
    if parts is None or parts[0] != source.alias:
        return None
    name = ".".join(parts[1:])
    found = layout.by_name.get(name)
    declared = _declared_types(layout, name)
    if found is None or not declared or declared & {"array", "object"}:
        return None
    return found


_SIDES = {"low": ("gt", "gte", "eq"), "high": ("lt", "lte", "eq"), "eq": ()}


def order_bounds(
    layout: TableLayout, source: Any, field_: Any, conjuncts: list[exp.Expression]
) -> tuple[tuple[bytes, bytes | None] | None, set[int]]:
    """[start, end) of the index keys from top-level ranges on the ordered field, and the positions
    of the conjuncts that range answers exactly (they need no check on the rows)."""
    bounds: dict[str, Any] = {}
    consumed: set[int] = set()
    for index, conjunct in enumerate(conjuncts):
        found: list[tuple[str, Any]] = []
        if isinstance(conjunct, exp.Between) and _is_field(conjunct.this, source.alias, field_.name):
            found = [("gte", literal_value(conjunct.args["low"])), ("lte", literal_value(conjunct.args["high"]))]
        op = COMPARISONS.get(type(conjunct))
        if op is not None and op != "neq":
            if _is_field(conjunct.left, source.alias, field_.name):
                found = [(op, literal_value(conjunct.right))]
            elif _is_field(conjunct.right, source.alias, field_.name):
                found = [(FLIPPED[op], literal_value(conjunct.left))]
        if not found or any(v is _MISSING or v is None or not _usable(layout, field_.name, v) for _, v in found):
            continue
        sides = [("low" if k in ("gt", "gte") else "high" if k in ("lt", "lte") else "eq") for k, _ in found]
        if "eq" in bounds or any(any(k in bounds for k in _SIDES[side]) for side in sides):
            continue  # one bound per side; a second one stays a filter
        bounds.update(found)
        consumed.add(index)
    if not bounds:
        return None, set()
    full = {k: bounds.get(k, MISSING) for k in ("eq", "gt", "gte", "lt", "lte")}
    try:
        return layout.range_keys(field_, **full), consumed
    except Exception:
        return None, set()


def _is_field(node: exp.Expression, alias: str, name: str) -> bool:
    parts = ref_parts(node)
    return parts is not None and parts[0] == alias and ".".join(parts[1:]) == name
