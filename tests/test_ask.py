"""`Database.plan` / `Database.ask`: plans as data, time expressions, running plans, the rules
planner's shapes, and bad input. The accuracy of the rules planner over the labelled evaluation
set is tests/test_ask_eval.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite.ask.plan import Condition, FilterStage, LookupStage, Plan, SearchStage, TimeRange, TraverseStage
from remlite.ask.times import find_time, resolve
from remlite.errors import InvalidInput

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # a Tuesday


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = remlite.connect(tmp_path_factory.mktemp("ask"), embedder="hash")
    db.register_schema({"name": "people", "properties": {
        "handle": {"type": "string"}, "name": {"type": "string"}, "team": {"type": "string"},
        "role": {"type": "string"}}, "key_field": "handle", "indexed_fields": ["team", "role"]})  # fmt: skip
    db.register_schema({"name": "tickets", "properties": {
        "code": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "string"},
        "priority": {"type": "string"}, "project": {"type": "string"}, "points": {"type": "integer"},
        "updated_at": {"type": "string", "format": "date-time"}},
        "key_field": "code", "indexed_fields": ["status", "priority", "project", "updated_at"],
        "text_fields": ["title"]})  # fmt: skip
    db.register_schema({"name": "documents", "properties": {"title": {"type": "string"}, "content": {"type": "string"}},
                        "key_field": "title", "text_fields": ["content"]})  # fmt: skip
    now = datetime.now(UTC)
    ids = {
        "alice": db.insert("people", {"handle": "alice", "name": "Alice Johnson", "team": "platform",
                                      "role": "engineer"}),
        "bob": db.insert("people", {"handle": "bob", "name": "Bob Smith", "team": "payments", "role": "manager"}),
        "t1": db.insert("tickets", {"code": "TAP-1234", "title": "Login fails", "status": "open",
                                    "priority": "critical", "project": "PRJ-104", "points": 8,
                                    "updated_at": now.isoformat()}),
        "t2": db.insert("tickets", {"code": "TAP-1235", "title": "Slow search", "status": "closed", "priority": "low",
                                    "project": "PRJ-105", "points": 2,
                                    "updated_at": (now - timedelta(days=40)).isoformat()}),
        "t3": db.insert("tickets", {"code": "TAP-1236", "title": "Refund button", "status": "open", "priority": "low",
                                    "project": "PRJ-104", "points": 3,
                                    "updated_at": (now - timedelta(days=3)).isoformat()}),
        "rate": db.insert("documents", {"title": "Rate limiting",
                                        "content": "Rate limiting protects the API gateway."}),
        "pay": db.insert("documents", {"title": "Payment review", "content": "Code review of the payment service."}),
    }  # fmt: skip
    db.add_edge(ids["alice"], ids["rate"], "authored")
    db.add_edge(ids["bob"], ids["pay"], "reviewed")
    db.add_edge(ids["alice"], ids["t1"], "assigned")
    db.ids = ids
    yield db
    db.close()


# ------------------------------------------------------------------------------- plans as data
def test_a_plan_round_trips_through_json_and_prints_as_sql() -> None:
    plan = Plan(
        stages=[
            FilterStage(table="shipments", where=[Condition(field="status", value="delayed")],
                        time=TimeRange(phrase="last month")),
            TraverseStage(direction="out", types=["carried_by"], table="carriers"),
        ],
        confidence=0.7, explanation="carriers of delayed shipments",
        fallback=Plan(stages=[SearchStage(text="delayed shipments")], confidence=0.2),
    )  # fmt: skip
    assert Plan.from_dict(plan.to_dict()) == plan
    assert Plan.from_dict(plan.to_json()) == plan
    assert plan.kinds == ["filter", "traverse"]
    text = str(plan)
    assert "SELECT * FROM shipments WHERE status = 'delayed' AND created_at in last month" in text
    assert "traverse((stage 1), depth => 1, direction => 'out', type => 'carried_by') WHERE _table = 'carriers'" in text
    assert "if nothing is found" in text and "search('*', 'delayed shipments'" in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stages": []}, "stages"),
        ({"stages": [{"kind": "teleport"}]}, "stages.0"),
        ({"stages": [{"kind": "lookup"}]}, "key"),
        ({"stages": [{"kind": "search", "text": "x", "k": 0}]}, "k"),
        ({"stages": [{"kind": "lookup", "key": "x"}], "confidence": 2}, "confidence"),
        ({"stages": [{"kind": "lookup", "key": "x", "extra": 1}]}, "extra"),
        ("{not json", "JSON"),
        ([1, 2], "plan"),
    ],
)
def test_an_invalid_plan_is_refused_naming_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Plan.from_dict(data)


# ------------------------------------------------------------------------------- time expressions
@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("projects updated this week", "2026-11-30T00:00:00", "2026-12-01T15:30:00"),
        ("meetings last week", "2026-11-23T00:00:00", "2026-11-29T23:59:59.999999"),
        ("tickets from the last 7 days", "2026-11-24T15:30:00", "2026-12-01T15:30:00"),
        ("invoices last month", "2026-11-01T00:00:00", "2026-11-30T23:59:59.999999"),
        ("what happened yesterday", "2026-11-30T00:00:00", "2026-11-30T23:59:59.999999"),
        ("today's meetings", "2026-12-01T00:00:00", "2026-12-01T15:30:00"),
        ("documents in March", "2026-03-01T00:00:00", "2026-03-31T23:59:59.999999"),
        ("documents in december", "2026-12-01T00:00:00", "2026-12-31T23:59:59.999999"),
        ("meetings in March 2025", "2025-03-01T00:00:00", "2025-03-31T23:59:59.999999"),
        ("shipments since 2025-10-01", "2025-10-01T00:00:00", None),
        ("shipments before 2025-10-01", None, "2025-10-01T23:59:59.999999"),
        ("between 2025-01-01 and 2025-01-31", "2025-01-01T00:00:00", "2025-01-31T23:59:59.999999"),
        ("tickets in 2025", "2025-01-01T00:00:00", "2025-12-31T23:59:59.999999"),
        ("things from the past two weeks", "2026-11-17T15:30:00", "2026-12-01T15:30:00"),
    ],
)
def test_time_expressions_resolve_to_their_windows(question: str, since: str | None, until: str | None) -> None:
    found = find_time(question.lower())
    assert found is not None
    low, high = resolve(found[0], NOW)
    assert (low.replace(tzinfo=None).isoformat() if low else None) == since
    assert (high.replace(tzinfo=None).isoformat() if high else None) == until


def test_no_time_in_a_question_without_one_and_bad_phrases_are_refused() -> None:
    assert find_time("open critical tickets for prj-104") is None
    assert find_time("documents about march madness tactics") is None  # "march" alone is not "in march"
    with pytest.raises(InvalidInput, match="time phrase"):
        resolve(TimeRange(phrase="the day after never"), NOW)
    with pytest.raises(InvalidInput, match="date"):
        resolve(TimeRange(since="2025-13-45"), NOW)


# ------------------------------------------------------------------------------- running plans
def test_a_stage_that_finds_nothing_runs_the_fallback(db: Any) -> None:
    plan = Plan(stages=[LookupStage(key="no such thing")], fallback=Plan(stages=[LookupStage(key="TAP-1234")]))
    answer = db.ask(plan)
    assert [r["code"] for r in answer.rows] == ["TAP-1234"] and answer.used_fallback
    assert answer.plan == plan.fallback
    assert set(answer.timings) == {"plan", "1:lookup", "fallback 1:lookup", "total"}


def test_stages_chain_from_the_previous_rows(db: Any) -> None:
    plan = Plan(stages=[
        FilterStage(table="people", where=[Condition(field="team", value="platform")]),
        TraverseStage(direction="out", types=["assigned"], table="tickets"),
        FilterStage(table="tickets", where=[Condition(field="status", value="open")], from_previous=True),
    ])  # fmt: skip
    answer = db.ask(plan)
    assert [r["code"] for r in answer.rows] == ["TAP-1234"]
    assert list(answer.timings)[1:4] == ["1:filter", "2:traverse", "3:filter"]


def test_a_plan_longer_than_max_stages_or_starting_with_a_traversal_is_refused(db: Any) -> None:
    three = Plan(stages=[LookupStage(key="alice"), TraverseStage(), TraverseStage()])
    with pytest.raises(InvalidInput, match="at most 2"):
        db.ask(three, max_stages=2)
    with pytest.raises(InvalidInput, match="cannot come first"):
        db.ask(Plan(stages=[TraverseStage()]))
    with pytest.raises(InvalidInput, match="does not exist"):
        db.ask(Plan(stages=[FilterStage(table="nope")]))


@pytest.mark.parametrize(
    ("question", "kwargs", "message"),
    [
        ("", {}, "question"),
        ("   ", {}, "question"),
        (42, {}, "question"),
        ("x" * 2001, {}, "2000"),
        ("open tickets", {"planner": "magic"}, "planner"),
        ("open tickets", {"max_stages": 0}, "max_stages"),
        ("open tickets", {"max_stages": "3"}, "max_stages"),
    ],
)
def test_bad_questions_and_options_are_clear_errors(
    db: Any, question: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        db.ask(question, **kwargs)


# ------------------------------------------------------------------------------- the rules planner
@pytest.mark.parametrize(
    ("question", "kinds", "answer"),
    [
        ("what is TAP-1234?", ["lookup"], ["TAP-1234"]),
        ("Find tap 1234", ["lookup"], ["TAP-1234"]),
        ("Alice Johnson", ["lookup"], ["Alice Johnson"]),
        ("open critical tickets", ["filter"], ["TAP-1234"]),
        ("how many open tickets?", ["filter"], [2]),
        ("tickets updated this week", ["filter"], None),
        ("tickets for project PRJ-104", ["filter"], ["TAP-1234", "TAP-1236"]),
        ("tickets with more than 5 points", ["filter"], ["TAP-1234"]),
        ("people on the platform team", ["filter"], ["Alice Johnson"]),
        ("documents about rate limiting", ["search"], ["Rate limiting"]),
        ("who reviewed the payment service code?", ["search", "traverse"], ["Bob Smith"]),
        ("which tickets is Alice Johnson assigned?", ["lookup", "traverse"], ["TAP-1234"]),
    ],
)
def test_rules_plan_shapes_and_answers(db: Any, question: str, kinds: list[str], answer: list[Any] | None) -> None:
    plan = db.plan(question, planner="rules")
    assert plan.kinds == kinds, str(plan)
    assert plan.planner == "rules" and 0 < plan.confidence <= 1 and plan.explanation
    rows = db.ask(question, planner="rules").rows
    if answer is None:
        return
    got = [
        r.get("count") if "count" in r and len(r) == 1 else r.get("code") or r.get("name") or r.get("title")
        for r in rows
    ]
    assert sorted(map(str, got)) == sorted(map(str, answer)), str(plan)


def test_tickets_updated_this_week_are_only_the_recent_ones(db: Any) -> None:
    codes = {r["code"] for r in db.ask("tickets updated this week").rows}
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    expected = {r["code"] for r in db.list("tickets") if datetime.fromisoformat(r["updated_at"]).date() >= monday}
    assert codes == expected and "TAP-1235" not in codes


def test_a_question_the_rules_cannot_read_searches_everything_with_low_confidence(db: Any) -> None:
    plan = db.plan("why would a zebra drink quantum lemonade at noon", planner="rules")
    assert plan.kinds == ["search"] and plan.stages[0].table is None and plan.confidence < 0.5
    short = db.plan("zebra lemonade", planner="rules")  # a short phrase may be a name: looked up first
    assert short.kinds == ["lookup"] and short.fallback is not None and short.fallback.stages[0].fuzzy
    last = short
    while last.fallback is not None:
        last = last.fallback
    assert last.kinds == ["search"] and last.stages[0].table is None and last.confidence < 0.5


def test_rules_planning_is_deterministic_and_json_ready(db: Any) -> None:
    first = db.plan("which tickets is Alice Johnson assigned?")
    assert db.plan("which tickets is Alice Johnson assigned?") == first
    assert Plan.from_dict(first.to_dict()) == first


def test_the_cli_asks_and_prints_plans(db: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from remlite.cli.app import app

    root = tmp_path / "cli"
    local = remlite.connect(root, embedder="hash")
    local.register_schema({"name": "tickets", "properties": {"code": {"type": "string"}, "status": {"type": "string"}},
                           "key_field": "code", "indexed_fields": ["status"]})  # fmt: skip
    local.insert("tickets", {"code": "TAP-1", "status": "open"})
    local.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["ask", "open tickets", "--plan", "--path", str(root)])
    assert shown.exit_code == 0 and "SELECT * FROM tickets WHERE status = 'open'" in shown.output
    answered = runner.invoke(app, ["ask", "open tickets", "--json", "--path", str(root)])
    assert answered.exit_code == 0 and '"TAP-1"' in answered.output and '"kind":"filter"' in answered.output
    bad = runner.invoke(app, ["ask", "open tickets", "--planner", "magic", "--path", str(root)])
    assert bad.exit_code != 0 and "planner" in bad.output


def test_the_vocabulary_follows_schemas_at_once_and_data_soon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from remlite.ask import vocabulary

    monkeypatch.setattr(vocabulary, "REFRESH_SECONDS", 0.0)
    db = remlite.connect(tmp_path, embedder="hash")
    db.register_schema({"name": "widgets", "properties": {"code": {"type": "string"}, "state": {"type": "string"}},
                        "key_field": "code", "indexed_fields": ["state"]})  # fmt: skip
    db.insert("widgets", {"code": "W-1", "state": "open"})
    assert db.plan("open widgets").stages[0].where == [Condition(field="state", value="open")]
    db.register_schema({"name": "gadgets", "properties": {"code": {"type": "string"}}, "key_field": "code"})
    assert db.plan("how many gadgets").stages[0].table == "gadgets"  # a new table: known at once
    db.insert("widgets", {"code": "W-2", "state": "frozen"})
    deadline = time.monotonic() + 10
    frozen = [Condition(field="state", value="frozen")]
    while (plan := db.plan("frozen widgets")).kinds != ["filter"] or plan.stages[0].where != frozen:
        assert time.monotonic() < deadline, "a new value never reached the planner"
        time.sleep(0.05)
    db.close()
