"""Whether a plan fits a tenant's schemas: its tables, fields, edge types and time phrases exist,
it has at most `max_stages` stages and no traversal comes first.

Kept apart from the LLM planner that calls it: a plan from any untrusted source (an LLM's answer,
an HTTP body) is checked the same way, and every problem is named at once, so a model asked to
correct its answer learns all of them in one round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remlite.ask.plan import FilterStage, LookupStage, MomentsStage, Plan, SearchStage, TraverseStage
from remlite.ask.times import resolve
from remlite.errors import InvalidInput

if TYPE_CHECKING:
    from remlite.ask.plan import Condition, TimeRange
    from remlite.ask.vocabulary import TableInfo, Vocabulary


def check_plan(plan: Plan, vocabulary: Vocabulary, max_stages: int) -> None:
    """InvalidInput naming every way `plan` does not fit the vocabulary (unknown tables, fields,
    edge types or time phrases, too many stages, a traverse first), so a model can correct it."""
    problems = _problems(plan, vocabulary, max_stages, "")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise InvalidInput(f"the plan does not fit the schema: {shown}")


def _problems(plan: Plan, vocabulary: Vocabulary, max_stages: int, prefix: str) -> list[str]:
    out: list[str] = []
    if len(plan.stages) > max_stages:
        out.append(f"{prefix}{len(plan.stages)} stages; at most {max_stages}")
    for number, stage in enumerate(plan.stages, 1):
        at = f"{prefix}stage {number} ({stage.kind})"
        if isinstance(stage, LookupStage):
            if stage.table is not None:
                _table(stage.table, vocabulary, at, out)
        elif isinstance(stage, FilterStage):
            info = _table(stage.table, vocabulary, at, out)
            if info is not None:
                _conditions(stage.where, [info], at, out)
                for name in (stage.order_by, stage.group_by, stage.link_field):
                    if name is not None:
                        _field([info], name, at, out)
                _time(stage.time, info, at, out)
        elif isinstance(stage, SearchStage):
            searchable = [t for t in vocabulary.tables.values() if t.searchable]
            if stage.table is not None:
                info = _table(stage.table, vocabulary, at, out)
                if info is not None and not info.searchable:
                    out.append(
                        f"{at}: table {info.name!r} has no text to search; tables with text: "
                        f"{_names(t.name for t in searchable)}"
                    )
                searchable = [info] if info is not None else []
            if searchable:
                _conditions(stage.where, searchable, at, out)
                if stage.time is not None and stage.time.field is not None:
                    _field(searchable, stage.time.field, at, out)
            if stage.time is not None:
                _time(stage.time.model_copy(update={"field": None}), None, at, out)
        elif isinstance(stage, TraverseStage):
            if number == 1:
                out.append(f"{at}: a traverse starts from the previous stage's rows; it cannot be the first stage")
            for edge_type in stage.types:
                if edge_type not in vocabulary.edges:
                    out.append(f"{at}: no edge type {edge_type!r}; edge types: {_names(vocabulary.edges) or 'none'}")
            if stage.table is not None:
                _table(stage.table, vocabulary, at, out)
        elif isinstance(stage, MomentsStage):
            info = _table(stage.table, vocabulary, at, out)
            if info is not None and not info.moments:
                moments = [t.name for t in vocabulary.tables.values() if t.moments]
                out.append(
                    f"{at}: table {info.name!r} is not a moments table; moments tables: {_names(moments) or 'none'}"
                )
            elif info is not None:
                _conditions(stage.where, [info], at, out)
                _time(stage.time, info, at, out)
    if plan.fallback is not None:
        out.extend(_problems(plan.fallback, vocabulary, max_stages, prefix + "fallback "))
    return out


def _table(name: str, vocabulary: Vocabulary, at: str, out: list[str]) -> TableInfo | None:
    info = vocabulary.tables.get(name)
    if info is None:
        out.append(f"{at}: no table {name!r}; tables: {_names(vocabulary.tables)}")
    return info


def _field(tables: list[TableInfo], name: str, at: str, out: list[str]) -> None:
    """A field of one of `tables`: a top-level field, `id`, or a path into an object field."""
    base = name.split(".", 1)[0]
    for info in tables:
        if name == "id" or name in info.fields:
            return
        if base != name and base in info.fields and info.fields[base].type in ("object", "any"):
            return
    if len(tables) == 1:
        out.append(f"{at}: table {tables[0].name!r} has no field {name!r}; fields: {_names(tables[0].fields)}")
    else:
        out.append(f"{at}: no table with search text has a field {name!r}")


def _conditions(conditions: list[Condition], tables: list[TableInfo], at: str, out: list[str]) -> None:
    for condition in conditions:
        _field(tables, condition.field, at, out)
        if condition.op == "in" and not isinstance(condition.value, list):
            out.append(f"{at}: the value of {condition.field!r} in ... must be a list")


def _time(window: TimeRange | None, info: TableInfo | None, at: str, out: list[str]) -> None:
    if window is None:
        return
    if window.field is not None and info is not None:
        _field([info], window.field, at, out)
    try:
        resolve(window)
    except InvalidInput as exc:
        out.append(f"{at}: {exc.message}")


def _names(names: Any, limit: int = 30) -> str:
    listed = list(names)
    return ", ".join(listed[:limit]) + (f", … ({len(listed)} in all)" if len(listed) > limit else "")
