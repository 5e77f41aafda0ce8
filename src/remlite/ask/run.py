"""Running a plan: each stage through the database's public verbs, timed, the fallback when the
stages end with nothing.

A stage gets the previous stage's rows. `lookup`, `search` and `moments` start afresh (a `moments`
stage with `from_previous` keeps the moments linked to them); `filter` with `from_previous` keeps
only their ids; `traverse` starts from them — from each start through `Database.traverse`, every
record reached kept once at its smallest depth and ranked by how many starts reached it ("carriers
of the delayed shipments": the carrier of most of them first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from remlite.ask.plan import (
    Condition,
    FilterStage,
    LookupStage,
    MomentsStage,
    Plan,
    SearchStage,
    Stage,
    TimeRange,
    TraverseStage,
)
from remlite.ask.times import resolve
from remlite.errors import InvalidInput

if TYPE_CHECKING:
    from remlite.ask.vocabulary import Vocabulary
    from remlite.database import Database

PERFECT = 0.999  # a fuzzy score this high is the same name but for case and punctuation
MAX_STARTS = 200  # a traversal from more rows than this starts from the first (best) ones
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass
class Answer:
    """What `Database.ask` returns: the rows, the plan that ran (the fallback when it was used),
    the planner's confidence and explanation, and milliseconds per stage (`"1:search"`, …, plus
    `"plan"` and `"total"`). `usage`: the LLM's token counts when an LLM planned."""

    rows: list[dict[str, Any]]
    plan: Plan
    confidence: float
    explanation: str
    timings: dict[str, float] = field(default_factory=dict)
    used_fallback: bool = False
    usage: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "plan": self.plan.to_dict(),
            "confidence": self.confidence,
            "explanation": self.explanation,
            "timings": self.timings,
            "used_fallback": self.used_fallback,
            **({"usage": self.usage} if self.usage else {}),
        }

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)


def run_plan(
    db: Database, plan: Plan, vocabulary: Vocabulary, *, max_stages: int, now: datetime | None = None
) -> tuple[list[dict[str, Any]], Plan, dict[str, float], bool]:
    """(rows, the plan that answered, timings, whether the fallback ran)."""
    timings: dict[str, float] = {}
    current: Plan | None = plan
    used_fallback = False
    rows: list[dict[str, Any]] = []
    while current is not None:
        if len(current.stages) > max_stages:
            raise InvalidInput(f"the plan has {len(current.stages)} stages; at most {max_stages} may run (max_stages)")
        rows = _stages(db, current, vocabulary, timings, now or datetime.now(UTC), "fallback " if used_fallback else "")
        if rows or current.fallback is None:
            return rows, current, timings, used_fallback
        current, used_fallback = current.fallback, True
    return rows, plan, timings, used_fallback


def _stages(
    db: Database, plan: Plan, vocabulary: Vocabulary, timings: dict[str, float], now: datetime, prefix: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] | None = None
    for number, stage in enumerate(plan.stages, 1):
        started = time.perf_counter()
        rows = run_stage(db, stage, rows, vocabulary, now)
        timings[f"{prefix}{number}:{stage.kind}"] = round((time.perf_counter() - started) * 1000, 3)
        if not rows:
            return []
    return rows or []


def run_stage(
    db: Database, stage: Stage, previous: list[dict[str, Any]] | None, vocabulary: Vocabulary, now: datetime
) -> list[dict[str, Any]]:
    if isinstance(stage, LookupStage):
        return _lookup(db, stage)
    if isinstance(stage, FilterStage):
        return _filter(db, stage, previous, vocabulary, now)
    if isinstance(stage, SearchStage):
        return _search(db, stage, vocabulary, now)
    if isinstance(stage, TraverseStage):
        return _traverse(db, stage, previous)
    return _moments(db, stage, previous, vocabulary, now)


def _lookup(db: Database, stage: LookupStage) -> list[dict[str, Any]]:
    """An exact lookup, or a fuzzy one; when a fuzzy lookup finds records that match but for case
    and punctuation ("john smith" for "John Smith", score 1), only those: a near miss ("Jon Smith")
    is not an answer when the name itself was found."""
    if stage.fuzzy:
        rows = db.lookup(stage.key, fuzzy=True, limit=max(stage.limit, 10) if stage.table else stage.limit)
    else:
        rows = db.lookup(stage.key)
    if stage.table is not None:
        rows = [r for r in rows if r.get("_table") == stage.table]
    if stage.fuzzy and rows and rows[0].get("_score", 0) >= PERFECT:
        rows = [r for r in rows if r.get("_score", 0) >= PERFECT]
    return rows[: stage.limit]


def _where(conditions: list[Condition], params: list[Any]) -> tuple[list[str], list[Condition]]:
    """SQL for the conditions remlite's SQL answers, and those checked in Python (array members)."""
    parts: list[str] = []
    later: list[Condition] = []
    for condition in conditions:
        column = _quote(condition.field)
        if condition.op == "contains":
            later.append(condition)
        elif condition.op == "in":
            values = condition.value if isinstance(condition.value, list) else [condition.value]
            parts.append(f"{column} IN ({', '.join('?' for _ in values)})" if values else "false")
            params.extend(values)
        elif condition.op == "like":
            parts.append(f"lower({column}) LIKE ?")
            params.append("%" + str(condition.value).lower() + "%")
        else:
            parts.append(f"{column} {_OPS[condition.op]} ?")
            params.append(condition.value)
    return parts, later


def _window(window: TimeRange, default_field: str, params: list[Any], now: datetime) -> list[str]:
    since, until = resolve(window, now)
    column = _quote(window.field or default_field)
    parts = []
    if since is not None:
        parts.append(f"{column} >= ?")
        params.append(since.isoformat())
    if until is not None:
        parts.append(f"{column} <= ?")
        params.append(until.isoformat())
    return parts


def _keys_of(rows: list[dict[str, Any]], vocabulary: Vocabulary) -> list[Any]:
    """Each row's natural key (when its table has a one-field key) and id: what a field of another
    table may hold to point at it."""
    keys: list[Any] = []
    for row in rows:
        info = vocabulary.tables.get(row.get("_table", ""))
        if info is not None and info.key_field and row.get(info.key_field) is not None:
            keys.append(row[info.key_field])
        if "id" in row:
            keys.append(row["id"])
    return keys


def _contains(row: dict[str, Any], conditions: list[Condition]) -> bool:
    for condition in conditions:
        held = row.get(condition.field)
        if condition.op == "in":  # an array field holding one of the values
            wanted_any = set(map(str, condition.value))
            if not (isinstance(held, list) and wanted_any & set(map(str, held))) and str(held) not in wanted_any:
                return False
            continue
        if condition.op in ("=", "!=") and not isinstance(held, list):
            if (str(held) == str(condition.value)) != (condition.op == "="):
                return False
            continue
        wanted = str(condition.value).lower()
        if isinstance(held, list):
            if not any(str(v).lower() == wanted for v in held):
                return False
        elif held is None or wanted not in str(held).lower():
            return False
    return True


def _filter(
    db: Database, stage: FilterStage, previous: list[dict[str, Any]] | None, vocabulary: Vocabulary, now: datetime
) -> list[dict[str, Any]]:
    if stage.table not in vocabulary.tables:
        raise InvalidInput(f"the plan filters table {stage.table!r}, which does not exist")
    params: list[Any] = []
    parts, later = _where(stage.where, params)
    if stage.time is not None:
        parts += _window(stage.time, vocabulary.tables[stage.table].time_field, params, now)
    if stage.from_previous:
        keys = (
            _keys_of(previous or [], vocabulary) if stage.link_field else [r["id"] for r in previous or [] if "id" in r]
        )
        if not keys:
            return []
        if (
            stage.link_field
            and vocabulary.tables[stage.table].fields.get(stage.link_field) is not None
            and (vocabulary.tables[stage.table].fields[stage.link_field].is_array)
        ):
            later.append(Condition(field=stage.link_field, op="in", value=keys))
        else:
            parts.append(f"{_quote(stage.link_field or 'id')} IN ({', '.join('?' for _ in keys)})")
            params.extend(keys)
    where = f" WHERE {' AND '.join(parts)}" if parts else ""
    table = _quote(stage.table)
    if stage.count and not later:
        if stage.group_by:
            group = _quote(stage.group_by)
            text = f"SELECT {group}, count(*) AS count FROM {table}{where} GROUP BY {group} ORDER BY count DESC"
        else:
            text = f"SELECT count(*) AS count FROM {table}{where}"
        return db.sql(text, params).rows
    order = f" ORDER BY {_quote(stage.order_by)}{' DESC' if stage.descending else ''}" if stage.order_by else ""
    limit = f" LIMIT {int(stage.limit)}" if stage.limit and not later else ""
    rows = db.sql(f"SELECT * FROM {table}{where}{order}{limit}", params).rows
    if later:
        rows = [r for r in rows if _contains(r, later)]
        if stage.count:
            return _counted(rows, stage.group_by)
        rows = rows[: stage.limit] if stage.limit else rows
    return [{**r, "_table": stage.table} for r in rows]


def _counted(rows: list[dict[str, Any]], group_by: str | None) -> list[dict[str, Any]]:
    if group_by is None:
        return [{"count": len(rows)}]
    groups: dict[Any, int] = {}
    for row in rows:
        value = row.get(group_by)
        groups[value] = groups.get(value, 0) + 1
    return [{group_by: v, "count": n} for v, n in sorted(groups.items(), key=lambda kv: -kv[1])]


def _search(db: Database, stage: SearchStage, vocabulary: Vocabulary, now: datetime) -> list[dict[str, Any]]:
    if stage.table is not None:
        if stage.table not in vocabulary.tables:
            raise InvalidInput(f"the plan searches table {stage.table!r}, which does not exist")
        tables = [stage.table]
    else:
        tables = [t.name for t in vocabulary.tables.values() if t.searchable and t.count]
    ranked: list[tuple[float, int, dict[str, Any]]] = []
    for name in tables:
        info = vocabulary.tables[name]
        if not info.searchable:
            raise InvalidInput(f"table {name!r} has no text to search (no text or embedding fields)")
        mode = stage.mode if info.embedded or stage.mode == "text" else "text"
        params: list[Any] = []
        parts, later = _where(stage.where, params)
        if stage.time is not None:
            parts += _window(stage.time, info.time_field, params, now)
        where = " AND ".join(parts) if parts else None
        found = db.search(
            name, stage.text, stage.k * (3 if later else 1), where=where, params=params or None, mode=mode
        )
        if later:
            found = [r for r in found if _contains(r, later)]
        for rank, row in enumerate(found[: stage.k]):
            ranked.append((1.0 / (60 + rank), rank, {**row, "_table": name}))
    if len(tables) == 1:
        return [row for _, _, row in ranked]
    ranked.sort(key=lambda item: (-item[0], item[1]))  # reciprocal rank across tables: scores differ by table
    return [row for _, _, row in ranked[: stage.k]]


def _traverse(db: Database, stage: TraverseStage, previous: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if not previous:
        raise InvalidInput("a traverse stage starts from the previous stage's rows; it cannot come first")
    types = stage.types or None
    reached: dict[str, dict[str, Any]] = {}
    hits: dict[str, int] = {}
    first_seen: dict[str, int] = {}
    starts = [r["id"] for r in previous if isinstance(r.get("id"), str)][:MAX_STARTS]
    for start in starts:
        for row in db.traverse(start, depth=stage.depth, direction=stage.direction, type=types):
            if stage.table is not None and row.get("_table") != stage.table:
                continue
            rid = row["id"]
            hits[rid] = hits.get(rid, 0) + 1
            kept = reached.get(rid)
            if kept is None or row["_depth"] < kept["_depth"]:
                reached[rid] = row
                first_seen.setdefault(rid, len(first_seen))
    order = sorted(reached, key=lambda rid: (reached[rid]["_depth"], -hits[rid], first_seen[rid]))
    return [{**reached[rid], "_hits": hits[rid]} for rid in order]


def _moments(
    db: Database, stage: MomentsStage, previous: list[dict[str, Any]] | None, vocabulary: Vocabulary, now: datetime
) -> list[dict[str, Any]]:
    since = until = None
    if stage.time is not None:
        since, until = resolve(stage.time, now)
    rows = db.moments(
        since=since,
        until=until,
        tags=stage.tags or None,
        people=stage.people or None,
        limit=None if stage.from_previous or stage.where else stage.limit,
        table=stage.table,
    )
    if stage.where:
        rows = [r for r in rows if _contains(r, stage.where)]
    if stage.from_previous:
        linked: set[str] = set()
        keys: set[str] = set()
        for row in previous or []:
            if isinstance(row.get("id"), str):
                linked.update(e["dst"] for e in db.edges(row["id"], direction="out"))
                linked.update(e["src"] for e in db.edges(row["id"], direction="in"))
        keys = {str(k) for k in _keys_of(previous or [], vocabulary)}

        def tied(moment: dict[str, Any]) -> bool:  # by an edge, or a field holding the record's key
            if moment["id"] in linked:
                return True
            return any((isinstance(v, list) and keys & set(map(str, v))) or str(v) in keys
                       for k, v in moment.items() if k not in ("id", "name"))  # fmt: skip

        rows = [r for r in rows if tied(r)]
    rows = rows[: stage.limit] if stage.limit else rows
    return [{**r, "_table": stage.table} for r in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
