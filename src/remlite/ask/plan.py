"""A question's plan as data: typed stages, a confidence, an explanation and an optional fallback.

A plan is what `Database.plan(question)` returns and `Database.ask` runs; the planners (`rules`,
`llm`) only build one, so both are tested as data (`Plan.model_validate(plan.to_dict()) == plan`),
and an LLM's JSON is validated against the same model (`Plan.model_json_schema()` is what it is
asked to produce). Pydantic rather than dataclasses: the LLM planner needs the JSON schema and
the validation of untrusted output, and a plan of three stages validates in ~20 µs.

Stages are the retrieval steps of staged SQL (`remlite.query.stages`): `lookup`, `filter` (SQL on
one table), `search`, `traverse` (from the previous stage's ids) and `moments`. Each stage prints as
the SQL that would run it, so `remlite ask --plan` shows a statement a user can paste into
`remlite query`. Times in a plan are kept as written (`"this week"`, `"2025-10-01"`), not as
instants: a cached plan stays right tomorrow; `remlite.ask.times.resolve` turns them into instants
when the stage runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from remlite.errors import InvalidInput

STAGE_KINDS = ("lookup", "filter", "search", "traverse", "moments")
Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "contains", "like"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Model):
    """`field op value`. `in` takes a list; `contains` means an array field holds the value;
    `like` is a case-insensitive substring match."""

    field: str = Field(min_length=1)
    op: Op = "="
    value: Any = None

    def sql(self) -> str:
        if self.op == "in":
            return f"{_ident(self.field)} IN ({', '.join(_literal(v) for v in self.value or [])})"
        if self.op == "contains":
            return f"{_literal(self.value)} IN {_ident(self.field)}"
        if self.op == "like":
            return f"lower({_ident(self.field)}) LIKE {_literal('%' + str(self.value).lower() + '%')}"
        return f"{_ident(self.field)} {self.op} {_literal(self.value)}"


class TimeRange(_Model):
    """A time window on `field` (a timestamp field; None: the table's own, e.g. a moment's span).
    `phrase` is a relative expression resolved when the plan runs ("this week", "last 7 days",
    "last month", "in March", "yesterday"); `since`/`until` are absolute (ISO dates or times), either
    may be missing."""

    field: str | None = None
    phrase: str | None = None
    since: str | None = None
    until: str | None = None

    def describe(self) -> str:
        if self.phrase:
            return self.phrase
        return f"{self.since or '…'} .. {self.until or '…'}"


class LookupStage(_Model):
    """Records whose natural key or name is `key`, across tables (or only `table`); `fuzzy` finds
    typos, other case and partial names through the trigram index."""

    kind: Literal["lookup"] = "lookup"
    key: str = Field(min_length=1)
    fuzzy: bool = False
    table: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)

    def sql(self, previous: str | None) -> str:
        options = ", fuzzy => true" if self.fuzzy else ""
        where = f" WHERE _table = {_literal(self.table)}" if self.table else ""
        return f"SELECT * FROM lookup({_literal(self.key)}{options}){where}"


class FilterStage(_Model):
    """Rows of `table` matching every condition (and the time window), optionally only among the
    previous stage's rows: their ids, or with `link_field`, the rows whose `link_field` holds one of
    their natural keys or ids ("tickets of the project named Atlas"); `count` answers with the number
    of rows (per `group_by` value when set)."""

    kind: Literal["filter"] = "filter"
    table: str = Field(min_length=1)
    where: list[Condition] = Field(default_factory=list)
    time: TimeRange | None = None
    from_previous: bool = False
    link_field: str | None = None
    order_by: str | None = None
    descending: bool = False
    count: bool = False
    group_by: str | None = None
    limit: int | None = Field(default=100, ge=1, le=100_000)

    def sql(self, previous: str | None) -> str:
        parts = [c.sql() for c in self.where]
        if self.time is not None:
            parts.append(f"{_ident(self.time.field or 'created_at')} in {self.time.describe()}")
        if self.from_previous and previous:
            parts.append(f"{_ident(self.link_field or 'id')} IN ({previous})")
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        if self.count:
            if self.group_by:
                group = _ident(self.group_by)
                return f"SELECT {group}, count(*) AS count FROM {_ident(self.table)}{where} GROUP BY {group}"
            return f"SELECT count(*) AS count FROM {_ident(self.table)}{where}"
        order = f" ORDER BY {_ident(self.order_by)}{' DESC' if self.descending else ''}" if self.order_by else ""
        limit = f" LIMIT {self.limit}" if self.limit else ""
        return f"SELECT * FROM {_ident(self.table)}{where}{order}{limit}"


class SearchStage(_Model):
    """Rows about `text`, best first: hybrid (BM25 + vector), vector or text search of `table` (None:
    every table with searchable text, merged by rank), pre-filtered by `where` and the time window."""

    kind: Literal["search"] = "search"
    text: str = Field(min_length=1)
    table: str | None = None
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    where: list[Condition] = Field(default_factory=list)
    time: TimeRange | None = None
    k: int = Field(default=10, ge=1, le=1000)

    def sql(self, previous: str | None) -> str:
        parts = [c.sql() for c in self.where]
        if self.time is not None:
            parts.append(f"{_ident(self.time.field or 'created_at')} in {self.time.describe()}")
        where = f", where => {_literal(' AND '.join(parts))}" if parts else ""
        table = _literal(self.table or "*")
        return f"SELECT * FROM search({table}, {_literal(self.text)}, k => {self.k}, mode => '{self.mode}'{where})"


class TraverseStage(_Model):
    """The records `depth` edges away from the previous stage's rows, following `types` (all when
    empty) in `direction`; only those of `table` when set."""

    kind: Literal["traverse"] = "traverse"
    direction: Literal["out", "in", "both"] = "out"
    types: list[str] = Field(default_factory=list)
    depth: int = Field(default=1, ge=1, le=5)
    table: str | None = None

    def sql(self, previous: str | None) -> str:
        types = f", type => {_literal(self.types[0])}" if len(self.types) == 1 else ""
        where = f" WHERE _table = {_literal(self.table)}" if self.table else ""
        start = f"({previous})" if previous else "(…)"
        return f"SELECT * FROM traverse({start}, depth => {self.depth}, direction => '{self.direction}'{types}){where}"


class MomentsStage(_Model):
    """Moments of `table` overlapping the time window, with every tag in `tags` and person in
    `people`, matching `where`; with `from_previous`, only moments linked to the previous stage's rows
    (by an edge, or a field holding one of their keys)."""

    kind: Literal["moments"] = "moments"
    table: str = "moments"
    time: TimeRange | None = None
    where: list[Condition] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    from_previous: bool = False
    limit: int | None = Field(default=100, ge=1, le=100_000)

    def sql(self, previous: str | None) -> str:
        options = [f"table => {_literal(self.table)}"]
        if self.time is not None:
            options.append(f"since => {_literal(self.time.since or self.time.phrase or '')}")
            if self.time.until:
                options.append(f"until => {_literal(self.time.until)}")
        if self.tags:
            options.append(f"tags => {_literal(self.tags[0])}")
        parts = [c.sql() for c in self.where]
        if self.from_previous and previous:
            parts.append(f"id IN (linked to {previous})")
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        return f"SELECT * FROM moments({', '.join(options)}){where}"


Stage = Annotated[LookupStage | FilterStage | SearchStage | TraverseStage | MomentsStage, Field(discriminator="kind")]


class Plan(_Model):
    """Stages run in order, each from the previous one's rows; `fallback` runs when they end with
    no rows. `confidence` in [0, 1] says how sure the planner is that it understood the question."""

    stages: list[Stage] = Field(min_length=1)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    explanation: str = ""
    fallback: Plan | None = None
    planner: str = "rules"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        """A plan from JSON data, or InvalidInput naming what was wrong (untrusted: an LLM's answer,
        an HTTP body)."""
        if isinstance(data, (str, bytes)):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"a plan must be JSON: {exc}") from None
        try:
            return cls.model_validate(data)
        except PydanticError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'plan'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise InvalidInput(f"not a valid plan: {problems}") from None

    @property
    def kinds(self) -> list[str]:
        return [stage.kind for stage in self.stages]

    def lines(self) -> list[str]:
        """The plan as numbered stages, each with the SQL that runs it (the previous stage's ids
        are `(stage N)`)."""
        out = [f"plan ({self.planner}, confidence {self.confidence:.2f}): {self.explanation}"]
        for number, stage in enumerate(self.stages, 1):
            previous = f"stage {number - 1}" if number > 1 else None
            out.append(f"  {number}. {stage.kind:<8} {stage.sql(previous)}")
        if self.fallback is not None:
            out.append("  if nothing is found:")
            out.extend("  " + line for line in self.fallback.lines()[1:])
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _ident(name: str) -> str:
    return name if name.replace("_", "").replace(".", "").isalnum() else '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    return "'" + str(value).replace("'", "''") + "'"
