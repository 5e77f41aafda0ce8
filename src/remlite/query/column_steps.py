"""Plan steps over Arrow columns: the column cache and the other inputs DuckDB reads, DuckDB
itself, the two ways of counting without reading rows, and the DuckDB pass-through with its
retrieval stages. The tree, its base class and the row steps are in `remlite.query.steps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from remlite.query.access import Access
from remlite.query.access import as_data as access_data
from remlite.query.access import lines as access_lines
from remlite.query.catalog import Relation
from remlite.query.steps import Step, guess


@dataclass(eq=False)
class ColumnScan(Step):
    """Arrow columns of a relation from the column cache (filled by one scan when cold, then kept
    current by commits)."""

    kind: ClassVar[str] = "column_cache"
    relation: Relation
    paths: tuple[tuple[str, ...], ...]
    total: int
    warm: bool

    def describe(self) -> list[str]:
        columns = ", ".join(".".join(p) for p in self.paths) or "no columns"
        state = "warm" if self.warm else "cold: filled by one scan when run"
        return [f"column cache of {self.relation.name} ({columns}; {state})"]

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "columns": [".".join(p) for p in self.paths], "warm": self.warm,
                "rows": self.total}  # fmt: skip

    def estimate(self) -> int | None:
        return self.total if self.total >= 0 else None


@dataclass(eq=False)
class IndexRows(Step):
    """One relation of a join or aggregate narrowed by its indexes: at most `cap` candidates,
    fetched, the conditions on that relation alone (`local`, positions in the WHERE) checked in
    Python, handed to DuckDB as Arrow columns. Too many candidates: `OverCap`."""

    kind: ClassVar[str] = "index_rows"
    relation: Relation
    alias: str
    access: Access
    local: tuple[int, ...]
    exact: bool
    cap: int
    paths: tuple[tuple[str, ...], ...]
    total: int

    def describe(self) -> list[str]:
        out = [f"index candidates of {self.relation.name} (at most {self.cap}) as Arrow columns"]
        out += ["  " + line for line in access_lines(self.access, self.relation.name)]
        if not self.exact:
            out.append(f"filter: {self.relation.name} conditions checked in Python on the candidate rows")
        return out

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "access": access_data(self.access), "cap": self.cap,
                "exact": self.exact}  # fmt: skip

    def estimate(self) -> int | None:
        return guess(self.access, self.total)


@dataclass(eq=False)
class RowsAsColumns(Step):
    """The rows of a row step as Arrow columns (search hits, or rows filtered in Python), for
    DuckDB to aggregate. `applied`: positions of the WHERE conditions already checked."""

    kind: ClassVar[str] = "rows_as_columns"
    input: Step
    relation: Relation
    paths: tuple[tuple[str, ...], ...]
    applied: tuple[int, ...] = ()

    def inputs(self) -> tuple[Step, ...]:
        return (self.input,)

    def describe(self) -> list[str]:
        return [f"rows of {self.relation.name} as Arrow columns"]

    def estimate(self) -> int | None:
        return self.input.estimate()


@dataclass(eq=False)
class DuckQuery(Step):
    """The query over Arrow columns in DuckDB: the WHERE conditions not already applied by its
    inputs, joins, GROUP BY, aggregates, HAVING, ORDER BY, LIMIT. `output="positions"` returns
    each row's position (the rows are then read by key, values exactly as stored);
    `output="values"` returns computed values. The SQL is built when it runs, from the columns'
    types as they are then. `check_ints`: give up when a float column also holds integers (its 1
    would come back as 1.0; the rows path keeps it)."""

    kind: ClassVar[str] = "duckdb"
    sources: tuple[tuple[str, Step], ...]  # (alias, its columns)
    output: str  # positions | values
    work: tuple[str, ...]
    include_deleted: bool = False
    check_ints: bool = False

    def inputs(self) -> tuple[Step, ...]:
        return tuple(step for _, step in self.sources)

    def describe(self) -> list[str]:
        what = "rows by position, then read by key" if self.output == "positions" else "output values"
        return [f"DuckDB over Arrow ({', '.join(self.work) or 'projection'}) -> {what}"]

    def details(self) -> dict[str, Any]:
        return {"output": self.output, "work": list(self.work)}

    def estimate(self) -> int | None:
        found = [step.estimate() for _, step in self.sources]
        return max((f for f in found if f is not None), default=None)


@dataclass(eq=False)
class CountIndexKeys(Step):
    """`COUNT(*)` whose WHERE the indexes answer exactly: index keys counted, no row read. Past
    `probe` keys (about a millisecond of reading) it gives up (`OverCap`)."""

    kind: ClassVar[str] = "count_index_keys"
    relation: Relation
    access: Access
    name: str
    probe: int

    def describe(self) -> list[str]:
        out = [f"COUNT(*) of the index keys of {self.relation.name} (no row read; at most {self.probe} keys)"]
        return out + ["  " + line for line in access_lines(self.access, self.relation.name)]

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "access": access_data(self.access), "probe": self.probe}

    def estimate(self) -> int | None:
        return 1


@dataclass(eq=False)
class CountColumns(Step):
    """`COUNT(*)` of equalities over the warm column cache, with Arrow compute kernels (~0.3 ms at
    100k rows, against ~1.7 ms of DuckDB planning and scanning). Gives up (as `Untranslatable`)
    when a column's type no longer matches its constant."""

    kind: ClassVar[str] = "count_columns"
    relation: Relation
    paths: tuple[tuple[str, ...], ...]
    tests: tuple[tuple[tuple[str, ...], Any], ...]  # (path, constant)
    name: str

    def describe(self) -> list[str]:
        tests = " AND ".join(f"{'.'.join(p)} = {v!r}" for p, v in self.tests)
        return [f"COUNT(*) of {tests} by Arrow compute on the cached columns of {self.relation.name}"]

    def details(self) -> dict[str, Any]:
        return {"relation": self.relation.name, "equalities": len(self.tests)}

    def estimate(self) -> int | None:
        return 1


@dataclass(eq=False)
class Stage(Step):
    """A retrieval stage called as a table function (`search`, `traverse`, `lookup`, `moments`),
    run by the library before the statement; its rows become a relation DuckDB reads."""

    kind: ClassVar[str] = "stage"
    call: str
    sql: str

    def describe(self) -> list[str]:
        return [f"stage {self.call}(): {self.sql}, run by the library, its rows a relation"]

    def details(self) -> dict[str, Any]:
        return {"call": self.call, "sql": self.sql}


@dataclass(eq=False)
class DuckStatement(Step):
    """A statement the native planner does not run (CASE, subqueries, WITH, set operations,
    windows, DuckDB's functions ...), run whole by DuckDB over typed columns of its tables (every
    declared field) and the rows of its stages."""

    kind: ClassVar[str] = "duckdb_statement"
    reason: str
    sources: tuple[Step, ...]
    sql: str | None = None  # DuckDB's SQL, known once the tables' columns are typed

    def inputs(self) -> tuple[Step, ...]:
        return self.sources

    def describe(self) -> list[str]:
        return [f"the statement run by DuckDB (not native: {self.reason})"]

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason} if self.sql is None else {"reason": self.reason, "sql": self.sql}
