"""Moments: time-window queries against brute force on seeded random moments, the span statistic
that bounds the index scan, relative times, and moments linked to records by edges."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite import errors
from remlite.moments import parse_between, parse_when
from remlite.storage import codec
from remlite.storage.keyspace import SPAN_PREFIX

BASE = datetime(2025, 10, 1, tzinfo=UTC)
TAGS = ["work", "family", "health", "travel"]
PEOPLE = ["ann", "bob", "cy", "dee"]
TYPES = ["meeting", "call", "note"]
ZONES = [timedelta(0), timedelta(hours=2), timedelta(hours=-5)]


def iso(moment: datetime, rng: random.Random) -> str:
    zone = rng.choice(ZONES)
    return moment.astimezone(UTC).replace(tzinfo=None).__add__(zone).isoformat() + _offset(zone)


def _offset(zone: timedelta) -> str:
    minutes = int(zone.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def generate(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        start = BASE + timedelta(minutes=rng.randrange(60 * 24 * 60))
        kind = rng.random()
        if kind < 0.15:
            end = None
        elif kind < 0.2:
            end = start + timedelta(days=rng.uniform(1, 9))  # a few long ones (trips)
        elif kind < 0.22:
            end = start - timedelta(hours=1)  # malformed: ends before it starts
        else:
            end = start + timedelta(minutes=rng.randrange(5, 180))
        out.append(
            {
                "name": f"m{i}",
                "start_time": iso(start, rng),
                "end_time": iso(end, rng) if end else None,
                "moment_type": rng.choice(TYPES),
                "tags": rng.sample(TAGS, rng.randrange(3)),
                "people": rng.sample(PEOPLE, rng.randrange(3)),
            }
        )
    return out


def ts(text: str | None) -> int | None:
    return None if text is None else int(codec.Timestamp.parse(text))


def brute(
    records: list[dict[str, Any]],
    since: datetime | None,
    until: datetime | None,
    tags: list[str],
    people: list[str],
    moment_type: str | None,
) -> list[str]:
    low = codec.Timestamp.from_datetime(since) if since else None
    high = codec.Timestamp.from_datetime(until) if until else None
    hits = []
    for r in records:
        start, end = ts(r["start_time"]), ts(r["end_time"])
        assert start is not None
        if high is not None and start > high:
            continue
        if low is not None and not ((end is not None and end >= low) or (end is None and start >= low)):
            continue
        if moment_type and r["moment_type"] != moment_type:
            continue
        if not (set(tags) <= set(r["tags"]) and set(people) <= set(r["people"])):
            continue
        hits.append((start, r["id"]))
    return [i for _, i in sorted(hits)]


def random_query(rng: random.Random) -> dict[str, Any]:
    since = BASE + timedelta(hours=rng.uniform(-48, 24 * 62)) if rng.random() < 0.85 else None
    until = None
    if rng.random() < 0.85:
        until = (since or BASE) + timedelta(hours=rng.choice([1, 6, 24, 24 * 7, 24 * 30]) * rng.random())
    return {
        "since": since,
        "until": until,
        "tags": rng.sample(TAGS, rng.choice([0, 0, 1, 2])),
        "people": rng.sample(PEOPLE, rng.choice([0, 0, 1])),
        "moment_type": rng.choice([None, None, *TYPES]),
    }


def check_queries(db: remlite.Database, rng: random.Random, rounds: int) -> None:
    records = db.list("moments", limit=None)
    for _ in range(rounds):
        q = random_query(rng)
        expected = brute(records, **q)
        got = [m["id"] for m in db.moments(**q)]
        assert got == expected, q
        if expected:
            assert [m["id"] for m in db.moments(**q, limit=3)] == expected[:3]


def test_time_windows_match_brute_force(tmp_path: Path) -> None:
    rng = random.Random(20251001)
    with remlite.connect(tmp_path / "db") as db:
        ids = db.insert_batch("moments", generate(rng, 600))
        check_queries(db, rng, 150)
        # Updates change spans (through the update path), deletes hide moments.
        for rid in rng.sample(ids, 40):
            moment = db.get(rid)
            start = datetime.fromisoformat(moment["start_time"])
            db.update(rid, {"end_time": (start + timedelta(days=rng.uniform(0, 20))).isoformat()})
        for rid in rng.sample(ids, 30):
            db.delete(rid, hard=rng.random() < 0.5)
        check_queries(db, rng, 150)
        assert db.check()["ok"]
    with remlite.connect(tmp_path / "db") as db:  # the statistic is persisted
        check_queries(db, rng, 30)


def test_span_statistic_bounds_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with remlite.connect(tmp_path / "db") as db:
        rows = [
            {"name": f"h{h}", "start_time": (BASE + timedelta(hours=h)).isoformat(),
             "end_time": (BASE + timedelta(hours=h, minutes=50)).isoformat()}
            for h in range(2000)
        ]  # fmt: skip
        db.insert_batch("moments", rows)
        fetched: list[int] = []
        original = db._core.fetch

        def counting(layout: Any, rids: list[bytes]) -> list[dict[str, Any]]:
            fetched.append(len(rids))
            return original(layout, rids)

        monkeypatch.setattr(db._core, "fetch", counting)
        found = db.moments(BASE + timedelta(hours=1000, minutes=30), BASE + timedelta(hours=1009))
        assert [m["name"] for m in found] == [f"h{h}" for h in range(1000, 1010)]
        assert sum(fetched) <= 11  # the window, plus one hour of lookback (the longest span)
        # One long moment widens the lookback to its length, never beyond.
        db.insert("moments", {"name": "trip", "start_time": (BASE + timedelta(hours=10)).isoformat(),
                              "end_time": (BASE + timedelta(hours=34)).isoformat()})  # fmt: skip
        fetched.clear()
        found = db.moments(BASE + timedelta(hours=1000, minutes=30), BASE + timedelta(hours=1009))
        assert len(found) == 10 and sum(fetched) <= 10 + 25


def test_statistic_is_computed_once_for_older_databases(tmp_path: Path) -> None:
    rng = random.Random(7)
    with remlite.connect(tmp_path / "db") as db:
        db.insert_batch("moments", generate(rng, 200))
        tid = db._core.layout("moments").tid
        db._core.store.cf["meta"].delete(SPAN_PREFIX + tid)  # as if written before the statistic existed
    with remlite.connect(tmp_path / "db") as db:
        check_queries(db, rng, 40)
        assert db._core.store.cf["meta"].get(SPAN_PREFIX + tid) is not None
        assert db.check()["ok"]


def test_parse_when_and_between() -> None:
    now = datetime(2025, 11, 15, 12, 30, tzinfo=UTC)

    def at(value: str, **kw: Any) -> datetime:
        return parse_when(value, now=now, **kw).to_datetime()

    assert at("7d") == now - timedelta(days=7)
    assert at("12h") == now - timedelta(hours=12)
    assert at("30m") == at("30min") == now - timedelta(minutes=30)
    assert at("2w") == now - timedelta(weeks=2)
    assert at("+3d") == now + timedelta(days=3)
    assert at("now") == now
    assert at("today") == datetime(2025, 11, 15, tzinfo=UTC)
    assert at("yesterday", end=True) == datetime(2025, 11, 14, 23, 59, 59, 999999, tzinfo=UTC)
    assert at("2025-10-01") == datetime(2025, 10, 1, tzinfo=UTC)
    assert at("2025-10-01T08:00:00+02:00") == datetime(2025, 10, 1, 6, tzinfo=UTC)
    assert at("2025-10-01T08:00:00") == datetime(2025, 10, 1, 8, tzinfo=UTC)
    low, high = parse_between("2025-10-01..2025-10-31", now=now)
    assert (low.to_datetime(), high.to_datetime()) == (
        datetime(2025, 10, 1, tzinfo=UTC),
        datetime(2025, 10, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    for bad in ("", "soon", "7 parsecs", "2025-13-01"):
        with pytest.raises(errors.InvalidInput):
            parse_when(bad, now=now)
    with pytest.raises(errors.InvalidInput):
        parse_between("2025-10-01", now=now)


def test_moments_arguments(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.insert("moments", {"name": "x", "start_time": "2025-10-02T10:00:00Z", "tags": ["a"]})
        assert [m["name"] for m in db.moments("2025-10-02", "2025-10-02")] == ["x"]  # a date as until: its end
        assert db.moments("2025-10-03", "2025-10-01") == []
        assert [m["name"] for m in db.moments(tags="a")] == ["x"]
        assert db.moments(limit=0) == []
        with pytest.raises(errors.InvalidInput):
            db.moments(tags=[1])  # type: ignore[list-item]
        with pytest.raises(errors.InvalidInput):
            db.moments(table="entities")
        with pytest.raises(errors.InvalidInput):
            db.moments(since="whenever")


# --------------------------------------------------------------------------- moments and edges
def test_who_was_in_meetings_last_week(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with remlite.connect(tmp_path / "db", embedder="hash") as db:
        ann, bob, cy, dee = (
            db.insert("entities", {"key": k, "name": k.title(), "entity_type": "person"})
            for k in ("ann", "bob", "cy", "dee")
        )
        doc = db.insert("resources", {"uri": "file:///minutes.md", "content": "minutes"})

        def moment(name: str, days_ago: float, kind: str, links: list[str]) -> str:
            start = now - timedelta(days=days_ago)
            return db.insert("moments", {"name": name, "moment_type": kind, "start_time": start.isoformat(),
                                         "end_time": (start + timedelta(hours=1)).isoformat(),
                                         "resource_ids": links})  # fmt: skip

        moment("standup", 2, "meeting", [ann, bob, doc])
        moment("review", 5, "meeting", [bob, cy])
        moment("lunch", 3, "note", [dee])
        moment("old sync", 20, "meeting", [dee])
        moment("dangling", 1, "meeting", ["00000000-0000-4000-8000-00000000ffff", "not-an-id"])

        meetings = db.moments(since="7d", moment_type="meeting")
        assert [m["name"] for m in meetings] == ["review", "standup", "dangling"]
        people = {
            r["name"]
            for m in meetings
            for r in db.traverse(m["id"], depth=1, type="references")
            if r["_table"] == "entities" and r.get("entity_type") == "person"
        }
        assert people == {"Ann", "Bob", "Cy"}
        assert [e["src"] for e in db.edges(doc, "in", type="references")] == [meetings[1]["id"]]
        assert db.check()["ok"]


def test_resource_ids_and_references_edges_stay_in_step(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        a, b, c = (db.insert("entities", {"key": k, "name": k}) for k in "abc")
        mid = db.insert("moments", {"name": "m", "start_time": "2025-10-01T10:00:00Z", "resource_ids": [a, b]})
        assert sorted(e["dst"] for e in db.edges(mid)) == sorted([a, b])
        db.add_edge(mid, c, "references", {"manual": True})
        db.update(mid, {"resource_ids": [b, c]})  # a dropped, c kept with its properties
        edges = {e["dst"]: e for e in db.edges(mid)}
        assert set(edges) == {b, c} and edges[c]["properties"] == {"manual": True}
        entry = db.wal(after_seq=db.last_seq - 1)[0]
        assert entry["op"] == "put" and entry["edges_removed"] == [{"src": mid, "dst": a, "type": "references"}]
        db.delete(mid, hard=True)
        assert db.edges(b, "in") == [] and db.check()["ok"]
