"""Golden plan tests, one fixture file per optimiser pass: `tests/fixtures/plans/<pass>.txt`.

Each case is a statement over the fixed dataset below; the test builds its logical plan, applies
every pass before this one, and compares the tree (as EXPLAIN prints it, estimates included)
before and after this pass with the file. A case whose header says `warm` first fills the column
cache with every declared column of its tables (cases are cold otherwise). Every case is also run
twice, through its logical plan and through the optimised one, which must give the same rows:
passes choose how, never what.

File format (`=== [warm] SQL`, then `--- before` and `--- after` blocks of the tree). To rewrite
the expected trees after an intended change, run
`REMLITE_PLAN_GOLDEN=update pytest tests/test_plan_passes.py` and review the diff.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlglot

import remlite
from remlite.query import passes
from remlite.query.executor import Executor
from remlite.query.model import bind_query
from remlite.query.steps import Plan, lines

FIXTURES = Path(__file__).parent / "fixtures" / "plans"
UPDATE = os.environ.get("REMLITE_PLAN_GOLDEN") == "update"

TASKS = {
    "name": "tasks",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string"},
        "priority": {"type": "integer"},
        "estimate": {"type": ["number", "null"]},
        "owner": {"type": "string"},
    },
    "required": ["name", "status", "priority"],
    "key_field": "name",
    "indexed_fields": ["status", "priority"],
}
PEOPLE = {
    "name": "people",
    "type": "object",
    "properties": {"email": {"type": "string"}, "team": {"type": "string"}},
    "required": ["email"],
    "key_field": "email",
    "indexed_fields": ["team"],
}
STATUSES = ["open", "done", "blocked", "review"]


@dataclass
class Case:
    sql: str
    warm: bool
    before: list[str]
    after: list[str]


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    block: list[str] | None = None
    for raw in path.read_text().splitlines():
        if raw.startswith("=== "):
            header = raw[4:]
            warm = header.startswith("[warm] ")
            cases.append(Case(header.removeprefix("[warm] "), warm, [], []))
        elif raw == "--- before":
            block = cases[-1].before
        elif raw == "--- after":
            block = cases[-1].after
        elif block is not None and raw.strip():
            block.append(raw)
    return cases


def write_cases(path: Path, cases: list[Case]) -> None:
    out = []
    for case in cases:
        out.append(f"=== {'[warm] ' if case.warm else ''}{case.sql}")
        out += ["--- before", *case.before, "--- after", *case.after, ""]
    path.write_text("\n".join(out))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[remlite.Database]:
    rng = random.Random(7)
    with remlite.connect(tmp_path_factory.mktemp("plans") / "db") as database:
        database.register_schema(TASKS)
        database.register_schema(PEOPLE)
        database.insert_batch("people", [{"email": f"p{i}@x.org", "team": ["core", "web"][i % 2]} for i in range(40)])
        rows = [
            {
                "name": f"t{i}",
                "status": rng.choice(STATUSES),
                "priority": rng.randrange(10),
                "estimate": rng.choice([None, 0.5, 1, 2.5, 3]),
                "owner": f"p{rng.randrange(40)}@x.org",
            }
            for i in range(3000)
        ]
        database.insert_batch("tasks", rows)
        yield database


def planned(db: remlite.Database, case: Case, upto: int) -> tuple[Any, Any, Any, Any]:
    """(logical tree, tree before pass `upto`, tree after it, the bound query)."""
    engine = db._sql.engine()
    engine.cache.clear()
    if case.warm:
        catalog = engine.catalog()
        for name in ("tasks", "people"):
            relation = catalog.resolve(sqlglot.exp.to_table(name))
            engine.cache.get(relation, [(column,) for column in relation.columns()])
    statement = engine.statement(case.sql)
    query = bind_query(engine._analyzed(statement), None)
    context = passes.PlanContext(engine, query, False)
    logical = passes.logical(context)
    before = passes.optimise(logical, context, passes.PASSES[:upto])
    after = passes.PASSES[upto](before, context)
    return logical, before, after, query


def text(tree: Any) -> list[str]:
    return lines(tree, depth=0)


@pytest.mark.parametrize("name", [p.__name__ for p in passes.PASSES])
def test_pass(db: remlite.Database, name: str) -> None:
    path = FIXTURES / f"{name}.txt"
    upto = [p.__name__ for p in passes.PASSES].index(name)
    cases = read_cases(path)
    assert cases, f"{path} holds no case"
    changed = 0
    for case in cases:
        logical, before, after, query = planned(db, case, upto)
        if UPDATE:
            case.before, case.after = text(before), text(after)
        else:
            assert text(before) == case.before, f"{name}: before, {case.sql}"
            assert text(after) == case.after, f"{name}: after, {case.sql}"
        changed += text(before) != text(after)
        engine = db._sql.engine()
        slow = Executor(engine, query, Plan(logical, "")).run()
        fast = Executor(engine, query, Plan(after, "")).run()
        if _any_rows_right(query):
            assert len(fast.rows) == len(slow.rows), case.sql
        elif query.order:
            assert fast.rows == slow.rows, case.sql
        else:
            assert sorted(map(repr, fast.rows)) == sorted(map(repr, slow.rows)), case.sql
    if UPDATE:
        write_cases(path, cases)
    assert changed, f"no case of {name} is changed by the pass"


def _any_rows_right(query: Any) -> bool:
    """A LIMIT without an order that decides every row (no ORDER BY, or ties left by one that does
    not end on a unique key): any rows of the right count are right (the differential checks them)."""
    if query.limit is None and not query.offset:
        return False
    last = query.order[-1].expr.sql() if query.order else ""
    return not last.endswith((".name", ".email", ".id"))


def test_every_pass_has_a_fixture() -> None:
    names = {p.__name__ for p in passes.PASSES}
    assert {p.stem for p in FIXTURES.glob("*.txt")} == names


def test_prepared_point_gets_plan_as_the_passes_do(db: remlite.Database) -> None:
    """A prepared point get skips the passes; its tree must be the one they would build."""
    engine = db._sql.engine()
    rid = db.lookup("t5")[0]["id"]
    for sql, params in [
        ("SELECT * FROM tasks WHERE id = ?", [rid]),
        ("SELECT name, status FROM tasks WHERE name = ?", ["t5"]),
        ("SELECT name FROM tasks WHERE :key = name", {"key": "t9"}),
        ("SELECT * FROM tasks WHERE id = ?", ["not an id"]),
        ("SELECT t.name FROM tasks t WHERE t.id = ?", [rid]),
    ]:
        statement = engine.statement(sql)
        analysed = engine._analyzed(statement)
        prepared = engine._prepared(statement, analysed)
        assert prepared is not None, sql
        made = prepared.plan(engine, params)
        assert made is not None, sql
        general = engine.plan(bind_query(analysed, params), False)
        assert made[1].lines() == general.lines(), sql
        result = db.sql(sql, params)
        assert result.rows == Executor(engine, bind_query(analysed, params), general).run().rows, sql
        assert result.plan == general.lines()
    for sql in [
        "SELECT * FROM tasks WHERE id = ? LIMIT 1",
        "SELECT * FROM tasks WHERE status = ?",
        "SELECT COUNT(*) FROM tasks WHERE id = ?",
        "SELECT * FROM tasks WHERE estimate = ?",
        "SELECT DISTINCT status FROM tasks WHERE name = ?",
    ]:
        statement = engine.statement(sql)
        assert engine._prepared(statement, engine._analyzed(statement)) is None, sql
    with pytest.raises(remlite.errors.QueryError, match="2 values given"):
        db.sql("SELECT * FROM tasks WHERE id = ?", [rid, rid])
    with pytest.raises(remlite.errors.QueryError, match="parameter"):
        db.sql("SELECT * FROM tasks WHERE name = ?", [{"a": 1}])
