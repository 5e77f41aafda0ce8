"""Plan steps: a query plan is a tree of these typed values, built by `remlite.query.passes` and run
by `remlite.query.executor`.

A step is data: what it reads and what it decides, never a closure. EXPLAIN prints the tree
(`lines`), `db.explain(q, format="json")` returns it (`as_data`), and the planner's tests compare
trees, not wording. Building and printing a tree reads nothing from storage: estimates come from the
table's row counter and textbook selectivities (an equality keeps 1/10 of the rows, a range 1/3), and
are labelled as estimates.

Kinds of step, by what they produce:
- rows: `TableScan`, `IndexIds`, `IndexStream`, `IndexOrder`, `Search`, and `Filter`, `Sort`,
  `Limit` over another row step; `DuckQuery` with `output="positions"` (rows DuckDB picked);
- a result: `Project` (over rows), `DuckQuery` with `output="values"`, `CountIndexKeys`,
  `CountColumns`;
- columns for DuckDB: `ColumnScan` (the column cache), `IndexRows` (index candidates as Arrow
  columns), `RowsAsColumns` (any row step as Arrow columns);
(the steps over Arrow columns, DuckDB's and the counts, are in `remlite.query.column_steps`)
- `Fallback`: run `first`; if it gives up (too many index candidates, or DuckDB cannot express a
  condition over the columns as they are typed now), run `then`. The decision depends on what a
  run finds, so it is made then, and the tree shows both branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlglot import exp

from remlite.query.access import Access, AllOf, AnyOf, IndexScan, PointGet, has_point
from remlite.query.access import as_data as access_data
from remlite.query.access import lines as access_lines
from remlite.query.catalog import Relation
from remlite.query.dialect import RemDialect
from remlite.query.model import OrderKey, Query, conjoin, make_ref, ref_parts

EQUALITY_SELECTIVITY = 10  # an equality is guessed to keep 1 row in 10
RANGE_SELECTIVITY = 3  # a range 1 in 3


class OverCap(Exception):
    """An index step found more ids than its cap: its `Fallback` runs the other branch."""


def sql_text(node: exp.Expression) -> str:
    return node.sql(dialect=RemDialect)


def where_text(conjuncts: tuple[exp.Expression, ...]) -> str:
    return " AND ".join(sql_text(c) for c in conjuncts)


def order_text(keys: tuple[OrderKey, ...]) -> str:
    out = []
    for key in keys:
        parts = ref_parts(key.expr)
        name = ".".join(parts[1:]) if parts else sql_text(key.expr)
        out.append(f"{name} {'DESC' if key.desc else 'ASC'} NULLS {'FIRST' if key.nulls_first else 'LAST'}")
    return ", ".join(out)


def guess(access: Access, total: int) -> int:
    """Rows an access tree is guessed to find, from the table's row count alone (no I/O)."""
    if isinstance(access, PointGet):
        return len(access.ids)
    if isinstance(access, IndexScan):
        share = EQUALITY_SELECTIVITY if access.by_id else RANGE_SELECTIVITY
        return max(1, total // share) if total > 0 else 0
    found = [guess(part, total) for part in access.parts]
    if isinstance(access, AllOf):
        return min(found)
    assert isinstance(access, AnyOf)
    return min(total, sum(found)) if total >= 0 else sum(found)


@dataclass(eq=False)
class Step:
    """One node of a plan. `inputs()` are the steps it reads from, in order."""

    kind: ClassVar[str] = "step"

    def inputs(self) -> tuple[Step, ...]:
        return ()

    def describe(self) -> list[str]:
        """EXPLAIN's text for this step: a headline, then detail lines."""
        return [self.kind]

    def details(self) -> dict[str, Any]:
        """What the step reads and decided, as JSON-able values."""
        return {}

    def estimate(self) -> int | None:
        """Rows it is guessed to produce (None: no guess)."""
        return None


# --------------------------------------------------------------------------- row sources
@dataclass(eq=False)
class TableScan(Step):
    """Every live row of a relation (soft-deleted ones too with `include_deleted`), decoded in
    Python. A scan under a LIMIT without ORDER BY stops once enough rows passed."""

    kind: ClassVar[str] = "scan"
    relation: Relation
    total: int  # the row counter (-1: a view that does not count)
    include_deleted: bool = False
    alias: str = ""

    def describe(self) -> list[str]:
        size = f"{self.total} live rows" if self.total >= 0 else "every row"
        return [f"full scan of {self.relation.name} ({size}) in Python"]

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "rows": self.total}

    def estimate(self) -> int | None:
        return self.total if self.total >= 0 else None


@dataclass(eq=False)
class IndexIds(Step):
    """The ids an access tree selects, read through the indexes, then their rows fetched in id
    order (in small batches when `batch` is set, so a LIMIT above stops the fetching). An index
    scan finding more than `cap` ids gives up (`OverCap`); past a cap inside an intersection the
    other parts still narrow, and the WHERE is re-checked on the rows. `exact`: the tree answers
    the whole WHERE, so no row is re-checked unless a cap dropped a part."""

    kind: ClassVar[str] = "index_candidates"
    relation: Relation
    access: Access
    where: tuple[exp.Expression, ...]
    exact: bool
    total: int
    cap: int | None = None
    batch: int | None = None

    def describe(self) -> list[str]:
        out = [f"index candidates of {self.relation.name}" + (f" (at most {self.cap})" if self.cap else "")]
        out += ["  " + line for line in access_lines(self.access, self.relation.name)]
        out.append("filter: none needed (the index lookups answer the whole WHERE)" if self.exact
                   else f"filter: {where_text(self.where)} re-checked in Python on the candidate rows")  # fmt: skip
        if self.batch:
            out.append(f"rows fetched {self.batch} at a time (a LIMIT stops early)")
        return out

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "access": access_data(self.access), "exact": self.exact,
                "cap": self.cap}  # fmt: skip

    def estimate(self) -> int | None:
        return guess(self.access, self.total)


@dataclass(eq=False)
class IndexStream(Step):
    """LIMIT without ORDER BY over equalities and point gets: ids streamed in ascending id order
    (a merge intersection / union of index scans, keys being value ‖ id), rows fetched in growing
    batches until the LIMIT above has enough. `skip` ids are dropped unread (an exact tree without
    point gets: every id it streams is a matching live row)."""

    kind: ClassVar[str] = "stream_ids"
    relation: Relation
    access: Access
    where: tuple[exp.Expression, ...]
    exact: bool
    stop_after: int
    skip: int = 0

    def describe(self) -> list[str]:
        rows = "row" if self.stop_after == 1 else "rows"
        out = [f"ids of {self.relation.name} streamed in id order, stopping after {self.stop_after} matching {rows}"]
        out += ["  " + line for line in access_lines(self.access, self.relation.name)]
        if self.skip:
            out.append(f"the first {self.skip} ids skipped without reading their rows")
        out.append("filter: none needed (the index lookups answer the whole WHERE)" if self.exact
                   else f"filter: {where_text(self.where)} re-checked in Python on each fetched row")  # fmt: skip
        return out

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "access": access_data(self.access), "exact": self.exact,
                "stop_after": self.stop_after, "skip": self.skip}  # fmt: skip

    def estimate(self) -> int | None:
        return self.stop_after - self.skip

    @property
    def skippable(self) -> bool:
        return self.exact and not has_point(self.access)


@dataclass(eq=False)
class IndexOrder(Step):
    """Rows in the order of one index (the first ORDER BY key), forwards or backwards, within the
    key range of the WHERE's bounds on that field (`bounds`, [start, end) of index keys, their
    conditions in `bounded`). `skip` keys are passed over without reading rows; rows are fetched in
    batches, the first of `batch` rows."""

    kind: ClassVar[str] = "index_order"
    relation: Relation
    field: Any  # remlite.records.IndexedField
    desc: bool
    nulls_first: bool
    bounds: tuple[bytes, bytes | None] | None
    bounded: tuple[exp.Expression, ...]
    batch: int
    skip: int = 0

    def describe(self) -> list[str]:
        way = "backwards" if self.desc else "forwards"
        ranged = f" within {where_text(self.bounded)}" if self.bounded else ""
        out = [f"index {self.relation.name}.{self.field.name} read {way}{ranged} (ORDER BY order)"]
        if self.skip:
            out.append(f"the first {self.skip} keys skipped without reading their rows (OFFSET)")
        return out

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "field": self.field.name,
                "direction": "backwards" if self.desc else "forwards", "ranged": self.bounds is not None,
                "skip_keys": self.skip}  # fmt: skip


@dataclass(eq=False)
class Search(Step):
    """Vector, text or hybrid search hits (best first, with `_score`), `k` of them, among the rows
    `prefilter` (a WHERE over the table, run through the indexes or the SQL engine) admits."""

    kind: ClassVar[str] = "search"
    relation: Relation
    mode: str
    field: str | None
    text: Any
    k: int
    prefilter: tuple[exp.Expression, ...] = ()
    alias: str = ""

    def describe(self) -> list[str]:
        field = self.field or "the default field"
        out = [f"{self.mode} search of {self.relation.name} ({field}) for {self.text!r}, k={self.k}, best first"]
        if self.prefilter:
            out.append(f"pre-filter: rows matching {self.prefilter_text()} (through indexes where possible)")
        return out

    def prefilter_text(self) -> str | None:
        if not self.prefilter:
            return None

        def unqualify(sub: exp.Expression) -> exp.Expression:
            if isinstance(sub, (exp.Column, exp.Dot)) and not isinstance(sub.parent, exp.Dot):
                parts = ref_parts(sub)
                if parts and parts[0] == self.alias:
                    return make_ref(parts[1:])
            return sub

        tree = conjoin(list(self.prefilter))
        assert tree is not None
        return sql_text(tree.transform(unqualify))

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "mode": self.mode, "field": self.field, "k": self.k,
                "prefilter": self.prefilter_text()}  # fmt: skip

    def estimate(self) -> int | None:
        return self.k


# --------------------------------------------------------------------------- row operators
@dataclass(eq=False)
class Filter(Step):
    """Rows of `input` for which every condition holds, checked in Python."""

    kind: ClassVar[str] = "filter"
    input: Step
    conditions: tuple[exp.Expression, ...]

    def inputs(self) -> tuple[Step, ...]:
        return (self.input,)

    def describe(self) -> list[str]:
        return [f"filter: {where_text(self.conditions)} (in Python)"]

    def details(self) -> dict[str, Any]:
        return {"where": where_text(self.conditions)}

    def estimate(self) -> int | None:
        below = self.input.estimate()
        return None if below is None else max(1, below // RANGE_SELECTIVITY) if below else 0


@dataclass(eq=False)
class Sort(Step):
    """Rows sorted by the ORDER BY keys. `presorted`: the input already comes in the first key's
    order, so only `need` rows and those tied with the last of them are read before sorting."""

    kind: ClassVar[str] = "sort"
    input: Step
    keys: tuple[OrderKey, ...]
    presorted: bool = False
    need: int | None = None

    def inputs(self) -> tuple[Step, ...]:
        return (self.input,)

    def describe(self) -> list[str]:
        if self.presorted:
            return [f"sort by {order_text(self.keys)}: {self.need} rows and the rows tied on the first key"]
        return [f"sort by {order_text(self.keys)} in Python"]

    def details(self) -> dict[str, Any]:
        return {"keys": order_text(self.keys), "presorted": self.presorted}

    def estimate(self) -> int | None:
        return self.input.estimate()


@dataclass(eq=False)
class Limit(Step):
    """The rows from `offset` to `offset + limit` (None: to the end); stops its input early."""

    kind: ClassVar[str] = "limit"
    input: Step
    limit: int | None
    offset: int = 0

    def inputs(self) -> tuple[Step, ...]:
        return (self.input,)

    def describe(self) -> list[str]:
        return [f"limit {self.limit if self.limit is not None else 'all'} offset {self.offset}"]

    def details(self) -> dict[str, Any]:
        return {"limit": self.limit, "offset": self.offset}

    def estimate(self) -> int | None:
        below = self.input.estimate()
        if self.limit is None:
            return below
        return self.limit if below is None else max(0, min(self.limit, below - self.offset))


@dataclass(eq=False)
class Project(Step):
    """The SELECT list computed on each row (DISTINCT, and then its LIMIT/OFFSET, applied here)."""

    kind: ClassVar[str] = "project"
    input: Step
    columns: tuple[str, ...]
    distinct: bool = False
    limit: int | None = None  # DISTINCT's page
    offset: int = 0

    def inputs(self) -> tuple[Step, ...]:
        return (self.input,)

    def describe(self) -> list[str]:
        head = ("project DISTINCT " if self.distinct else "project ") + ", ".join(self.columns)
        if self.limit is not None or self.offset:
            head += f", then limit {self.limit if self.limit is not None else 'all'} offset {self.offset}"
        return [head]

    def details(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "distinct": self.distinct}

    def estimate(self) -> int | None:
        below = self.input.estimate()
        return below if self.limit is None or below is None else min(self.limit, below)


# --------------------------------------------------------------------------- choosing at run time
@dataclass(eq=False)
class Fallback(Step):
    """`first`, unless it gives up (`when`: "over_cap" — an index found too many ids; or
    "untranslatable" — DuckDB cannot express the query over the columns' current types); then
    `then`."""

    kind: ClassVar[str] = "fallback"
    first: Step
    then: Step
    when: str
    ran: str | None = field(default=None, compare=False)  # "first" or "then", once it has run

    def inputs(self) -> tuple[Step, ...]:
        return (self.first, self.then)

    def describe(self) -> list[str]:
        why = "finds too many index candidates" if self.when == "over_cap" else "is one DuckDB cannot express"
        ran = "" if self.ran is None else f" (ran: the {'first' if self.ran == 'first' else 'second'})"
        return [f"the first plan below; the second if the first {why}{ran}"]

    def details(self) -> dict[str, Any]:
        return {"when": self.when} if self.ran is None else {"when": self.when, "ran": self.ran}

    def estimate(self) -> int | None:
        return self.first.estimate()


# --------------------------------------------------------------------------- the tree as text and data
def lines(step: Step, depth: int = 1) -> list[str]:
    """The tree as EXPLAIN prints it: one step per headline, its inputs indented below it."""
    pad = "  " * depth
    text = step.describe()
    est = step.estimate()
    head = text[0] + (
        f"  [~{est} row{'' if est == 1 else 's'}]" if est is not None and not isinstance(step, Fallback) else ""
    )
    out = [pad + head] + [pad + "  " + line for line in text[1:]]
    for child in step.inputs():
        out += lines(child, depth + 1)
    return out


def as_data(step: Step) -> dict[str, Any]:
    """The tree as JSON-able data: {"step", ...details, "estimate", "inputs": [...]}."""
    data: dict[str, Any] = {"step": step.kind, **step.details(), "estimate": step.estimate()}
    children = step.inputs()
    if children:
        data["inputs"] = [as_data(child) for child in children]
    return data


def flat(step: Step) -> list[dict[str, Any]]:
    """The steps of the tree, parents before their inputs, without the nesting; after a run, only
    the branch of each `Fallback` that ran."""
    out = [{"step": step.kind, **step.details()}]
    children = step.inputs()
    if isinstance(step, Fallback) and step.ran is not None:
        children = (step.first,) if step.ran == "first" else (step.then,)
    for child in children:
        out += flat(child)
    return out


def labels(query: Query) -> tuple[str, ...]:
    """The SELECT list as a projection step names it (`*`, `alias.*`, or each output name)."""
    return tuple(i.name if i.star is None else (i.star + ".*" if i.star else "*") for i in query.items)


def heading(query: Query) -> str:
    """The first line of a plan: what the query selects from."""
    names = (f"{s.relation.name}{'' if s.alias == s.relation.name else ' AS ' + s.alias}" for s in query.sources)
    return f"SELECT from {', '.join(names)}"


@dataclass
class Plan:
    """A planned statement: its tree and the first line EXPLAIN prints (what it selects from)."""

    tree: Step
    heading: str
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [self.heading, *lines(self.tree), *self.notes]

    def steps(self) -> list[dict[str, Any]]:
        return flat(self.tree)

    def data(self) -> dict[str, Any]:
        return as_data(self.tree)
