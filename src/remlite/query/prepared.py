"""Prepared point gets: `SELECT ... FROM t WHERE id = ?` (or a one-field natural key `= ?`) planned
once per statement, its plan re-made per call from the parameter alone.

Such a statement's plan never depends on the value, the counters or the column cache: it is always
`project <- index candidates (point get)`, the tree the passes build for it (a test compares the
two). Binding the whole query and running ten passes cost ~50 µs of the ~0.15 ms a point get
took through SQL (`db.get` takes 0.007 ms); the issue asks for under 0.1 ms. The step types and the
executor are the ones every plan uses, so EXPLAIN and `result.plan` read the same.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from remlite.query.access import PointGet as PointAccess
from remlite.query.candidates import CandidatePlanner
from remlite.query.catalog import TableRelation
from remlite.query.model import Query, bind_node, check_params, ref_parts
from remlite.query.steps import IndexIds, Plan, Project, heading, labels

if TYPE_CHECKING:
    from remlite.query.engine import Engine


@dataclass(frozen=True)
class PointGet:
    """A statement that reads one row by id or natural key (see the module docstring)."""

    query: Query  # analysed, its placeholder unbound
    columns: tuple[str, ...]

    @staticmethod
    def of(query: Query, tenant: str | None, layout: Any) -> PointGet | None:
        source = query.single
        if (
            source is None
            or not isinstance(source.relation, TableRelation)
            or query.semantic is not None
            or query.aggregate
            or query.distinct
            or query.order
            or query.limit is not None
            or query.offset
            or query.limit_param is not None
            or query.offset_param is not None
            or len(query.conjuncts) != 1
            or len(query.placeholders) != 1
        ):
            return None
        where = query.conjuncts[0]
        if not isinstance(where, exp.EQ):
            return None
        sides = [(where.left, where.right), (where.right, where.left)]
        for ref, value in sides:
            parts = ref_parts(ref)
            if parts is None or parts[0] != source.alias or not isinstance(value, exp.Placeholder):
                continue
            path = tuple(parts[1:])
            key = layout.key_parts
            if path == ("id",) or (tenant is not None and len(key) == 1 and tuple(key[0]) == path):
                return PointGet(query, labels(query))
        return None

    def plan(self, engine: Engine, params: Any) -> tuple[Query, Plan] | None:
        """The bound query and its plan; None when the value is not one a point get takes (the
        general planner then decides)."""
        query = self.query
        check_params(query, params)
        bound = copy.copy(query)
        bound.conjuncts = [bind_node(query.conjuncts[0], params)]
        bound.placeholders = frozenset()
        source = query.single
        assert source is not None
        layout = engine.core.layout(source.relation.name)
        planner = CandidatePlanner(layout, _unused, aliases=(source.alias,), tenant=engine.core.tenant)
        access = planner.plan(bound.conjuncts[0])
        if not isinstance(access, PointAccess):
            return None
        count = source.relation.count(engine.core)
        step = IndexIds(source.relation, access, tuple(bound.conjuncts), planner.exact, count)
        return bound, Plan(Project(step, self.columns, False), heading(query))


def _unused(name: str, bounds: dict[str, Any]) -> set[bytes]:
    raise AssertionError("a point get reads no index")
