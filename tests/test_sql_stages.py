"""Staged retrieval in SQL: search / traverse / lookup as table functions that chain in one
statement, answering as the same steps run by hand through the library."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

import remlite
from remlite.errors import QueryError

FILES = {
    "name": "files",
    "properties": {"path": {"type": "string"}, "body": {"type": "string"}},
    "key_field": "path",
    "embedding_fields": ["body"],
}
PEOPLE = {
    "name": "people",
    "properties": {"name": {"type": "string"}, "team": {"type": "string"}},
    "key_field": "name",
}
TOPICS = ["authentication login tokens", "payment invoices refunds", "search ranking index", "deploy pipeline"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    rng = random.Random(11)
    with remlite.connect(tmp_path_factory.mktemp("stages"), embedder="hash") as handle:
        handle.register_schema(FILES)
        handle.register_schema(PEOPLE)
        files = handle.insert_batch(
            "files", [{"path": f"f{i}.py", "body": f"{rng.choice(TOPICS)} {i}"} for i in range(60)]
        )
        people = handle.insert_batch("people", [{"name": f"p{i}", "team": rng.choice("xyz")} for i in range(15)])
        handle.add_edges((rng.choice(people), f, "authored") for f in files)
        handle.add_edges((rng.choice(people), rng.choice(files), "reviewed") for _ in range(40))
        yield handle


def test_search_traverse_filter_chain_in_one_statement(db: Any) -> None:
    sql = (
        "SELECT p.name, p.team FROM traverse((SELECT id FROM search('files', 'authentication login', k => 12)),"
        " depth => 1, direction => 'in', type => 'authored') p WHERE p._table = 'people' AND p.team <> 'z'"
        " ORDER BY p.name"
    )
    by_hand = set()
    for hit in db.search("files", "authentication login", k=12):
        for person in db.traverse(hit["id"], depth=1, direction="in", type="authored"):
            if person["_table"] == "people" and person["team"] != "z":
                by_hand.add((person["name"], person["team"]))
    got = [(r["name"], r["team"]) for r in db.sql(sql).rows]
    assert got == sorted(by_hand) and got


def test_a_stage_joins_a_table_and_aggregates(db: Any) -> None:
    sql = (
        "SELECT p.team, count(*) AS files FROM search('files', 'payment invoices', k => 20, mode => 'text') s"
        " JOIN edges e ON e.dst = s.id JOIN people p ON p.id = e.src WHERE e.type = 'authored' GROUP BY p.team"
    )
    by_hand: dict[str, int] = {}
    for hit in db.search("files", "payment invoices", k=20, mode="text"):
        for edge in db.edges(hit["id"], "in", "authored"):
            team = db.get(edge["src"])["team"]
            by_hand[team] = by_hand.get(team, 0) + 1
    assert {r["team"]: r["files"] for r in db.sql(sql).rows} == by_hand and by_hand
    sql = (
        "SELECT s.path, t.name FROM search('files', 'payment invoices', k => 5, mode => 'text') s"
        " CROSS JOIN lookup('p3') t ORDER BY s._score DESC, s.path"
    )
    hits = db.search("files", "payment invoices", k=5, mode="text")
    assert [r["path"] for r in db.sql(sql).rows] == [
        h["path"] for h in sorted(hits, key=lambda h: (-h["_score"], h["path"]))
    ]


def test_explain_describes_stages_without_running_them(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db._search, "search", lambda *a, **k: pytest.fail("EXPLAIN ran the search"))
    plan = db.explain("SELECT * FROM search('files', 'x', k => 3) s WHERE s.path LIKE 'f1%'", format="json")
    assert [s["step"] for s in plan["steps"]] == ["duckdb_statement", "stage"]
    assert plan["steps"][1]["call"] == "search" and "stage search()" in "\n".join(plan["lines"])


def test_stage_arguments_are_checked(db: Any) -> None:
    with pytest.raises(QueryError, match="no option depthh"):
        db.sql("SELECT * FROM traverse('x', depthh => 2) t LIMIT 1 OFFSET 0 UNION ALL SELECT * FROM lookup('p1')")
    with pytest.raises(QueryError, match=r"lookup\(key\)"):
        db.sql("SELECT * FROM lookup('p1', 'p2') s")


def test_moments_is_a_stage_too(db: Any) -> None:
    for day in (3, 9, 20):
        db.insert("moments", {"name": f"standup {day}", "start_time": f"2026-01-{day:02d}T09:00:00Z", "tags": ["team"]})
    sql = (
        "SELECT m.name FROM moments(since => '2026-01-05', until => '2026-01-31', tags => 'team') m"
        " UNION ALL SELECT 'total' ORDER BY 1"
    )
    by_hand = sorted([m["name"] for m in db.moments("2026-01-05", "2026-01-31", tags="team")] + ["total"])
    assert [r["name"] for r in db.sql(sql).rows] == by_hand == ["standup 20", "standup 9", "total"]
