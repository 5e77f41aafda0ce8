"""Helpers for tests of planner decisions: read the plan as data, never EXPLAIN's wording."""

from __future__ import annotations

from typing import Any


def kinds(db: Any, sql: str, params: Any = None) -> list[str]:
    """The kinds of the steps of `sql`'s plan, parents first (both branches of a fallback)."""
    return [step["step"] for step in db.explain(sql, params, format="json")["steps"]]


def ran(result: Any) -> list[str]:
    """The kinds of the steps a query ran (the branch of each fallback that was taken)."""
    return [step["step"] for step in result.steps]


def step(db: Any, sql: str, kind: str, params: Any = None) -> dict[str, Any]:
    """The first step of `kind` in `sql`'s plan."""
    found = [s for s in db.explain(sql, params, format="json")["steps"] if s["step"] == kind]
    assert found, f"no {kind} step in the plan of {sql}"
    return found[0]
