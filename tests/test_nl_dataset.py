"""The labelled question set of benchmarks/nl_dataset.py: it builds, is deterministic, every question has a
live, non-empty answer whatever the day, its time semantics agree with remlite's own readings, and the
scorer judges as documented. Built with the hash embedder: the dataset does not depend on the embedding
model, and four builds must stay well inside the test budget."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import remlite

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import nl_dataset as nd

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon
Built = tuple[remlite.Database, nd.Dataset]


def _build(path: Path, now: datetime = NOW) -> tuple[remlite.Database, nd.Dataset]:
    db = remlite.connect(path, "nl", embedder="hash")
    return db, nd.build(db, now=now, size="small")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    db, ds = _build(tmp_path_factory.mktemp("nl"))
    yield db, ds
    db.close()


def test_builds_small_with_every_table(built: Built) -> None:
    db, ds = built
    counts = ds.counts()
    assert 1000 <= sum(counts.values()) <= 2000, counts
    for table, n in counts.items():
        assert n > 0, table
        assert db.count(table) == n, table  # the live rows the Dataset knows are the database's
    assert len(ds.deleted) == 4 and all(db.get(rid, include_deleted=True)["deleted_at"] for rid in ds.deleted)
    assert {kind for _, _, kind in ds.edges} == {
        "authored",
        "reviewed",
        "works_on",
        "assigned",
        "attended",
        "carried_by",
    }
    assert len({"INV-2291", "TAP-1234", "OPS-77", "PRJ-104"} & {k for _, k in ds.ids}) == 4


def test_deterministic_for_a_fixed_now(built: Built, tmp_path: Path) -> None:
    _, ds = built
    again_db, again = _build(tmp_path / "again")
    again_db.close()
    assert again.ids == ds.ids
    assert again.records == ds.records
    assert again.questions == ds.questions


def test_question_counts_and_labels(built: Built) -> None:
    _, ds = built
    per_kind = Counter(q.kind for q in ds.questions)
    assert len(ds.questions) >= 72
    assert set(per_kind) == set(nd.KINDS) and min(per_kind.values()) >= 10, per_kind
    assert len({q.text for q in ds.questions}) == len(ds.questions)  # no question asked twice
    for q in ds.questions:
        assert q.top in nd.TOPS and q.expected_stages and set(q.expected_stages) <= set(nd.STAGE_KINDS), q
        assert all(set(alt) <= set(nd.STAGE_KINDS) for alt in q.also_stages), q
        if q.kind.startswith("lookup"):
            assert len(q.expected) == 1, q


def test_every_expected_id_exists_and_is_live(built: Built) -> None:
    db, ds = built
    known = {r["id"] for rows in ds.records.values() for r in rows.values()}
    for q in ds.questions:
        assert q.expected, q.text
        assert q.expected <= known, q.text
        for record in db.get_batch(sorted(q.expected)):
            assert record is not None and record["deleted_at"] is None, q.text


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 3, 16, 0, 0, 30, tzinfo=UTC),  # Monday just after midnight: "this week" is 30 s long
        datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC),  # new year: last month is December of the year before
    ],
)
def test_no_empty_answer_at_awkward_times(tmp_path: Path, now: datetime) -> None:
    db, ds = _build(tmp_path, now)
    try:
        assert [q.text for q in ds.questions if not q.expected] == []
        stamps = [r.get(f) for rows in ds.records.values() for r in rows.values() for f in ("created_at", "end_time")]
        assert all(nd._parse(s) <= now for s in stamps if s)  # nothing is dated after now
    finally:
        db.close()


def test_windows() -> None:
    assert nd.window("today", NOW) == (datetime(2026, 3, 18, tzinfo=UTC), NOW)
    assert nd.window("this_week", NOW)[0] == datetime(2026, 3, 16, tzinfo=UTC)
    start, end = nd.window("last_week", NOW)
    assert (start, end.date().isoformat()) == (datetime(2026, 3, 9, tzinfo=UTC), "2026-03-15")
    start, end = nd.window("last_month", NOW)
    assert (start, end.isoformat()) == (datetime(2026, 2, 1, tzinfo=UTC), "2026-02-28T23:59:59.999999+00:00")
    assert nd.window("month", NOW, 12)[0] == datetime(2025, 12, 1, tzinfo=UTC)  # not begun this year: last year's
    assert nd.window("month", NOW, 3) == (datetime(2026, 3, 1, tzinfo=UTC), NOW)
    assert nd.window("last_month", datetime(2027, 1, 5, tzinfo=UTC))[0] == datetime(2026, 12, 1, tzinfo=UTC)
    assert nd.window("since", NOW, "2026-02-01") == (datetime(2026, 2, 1, tzinfo=UTC), NOW)
    assert nd.in_window("2026-02-28", (start, end)) and not nd.in_window("2026-03-01", (start, end))
    assert nd.in_window("2026-02-28T23:59:59Z", (start, end)) and not nd.in_window("2026-03-01T00:00:00Z", (start, end))


def test_time_semantics_agree_with_remlite(built: Built) -> None:
    """The documented windows, read by remlite's own calls, give the expected sets."""
    db, ds = built
    texts = {q.text: q for q in ds.questions}
    got = {m["id"] for m in db.moments(*nd.window("last_week", NOW), table="meetings")}
    assert got == texts["meetings last week"].expected
    start, end = nd.window("yesterday", NOW)
    got = {m["id"] for m in db.moments(start, end, moment_type="standup", table="meetings")}
    assert got == texts["any standups yesterday?"].expected
    start, end = nd.window("last_month", NOW)
    got = set(db.find("invoices", "issued_on", gte=start.date().isoformat(), lte=end.date().isoformat()))
    assert got == texts["Invoices issued last month"].expected
    start, end = nd.window("this_week", NOW)
    got = set(db.find("projects", "updated_at", gte=start.isoformat(), lte=end.isoformat()))
    assert got == texts["projects updated this week"].expected
    rows = db.sql("SELECT id FROM tickets WHERE status = 'open' AND priority = 'critical'").rows
    assert {r["id"] for r in rows} == texts["open critical tickets"].expected


def test_scorer(built: Built) -> None:
    _, ds = built
    other = next(r["id"] for r in ds.records["carriers"].values())
    for q in ds.questions:
        perfect = [{"id": rid} for rid in sorted(q.expected)]
        assert nd.scorer(q, perfect), q.text
        assert nd.scorer(q, [rid["id"] for rid in perfect]), q.text  # bare ids work too
        assert not nd.scorer(q, []), q.text
    by_top = {q.top: q for q in ds.questions if other not in q.expected and len(q.expected) > (q.top == "all_in")}
    top1, exact, top10, all_in = by_top["top1"], by_top["exact"], by_top["top10"], by_top["all_in"]
    assert not nd.scorer(top1, [other, *top1.expected])  # right record, but not first
    assert not nd.scorer(exact, [*exact.expected, other])  # an extra row
    assert not nd.scorer(top10, [other] * 10 + sorted(top10.expected))  # found, but after the tenth row
    assert nd.scorer(all_in, [other, *sorted(all_in.expected)])  # extra rows are tolerated
    assert not nd.scorer(all_in, sorted(all_in.expected)[1:])  # one expected row missing
    assert top1.shape_ok(top1.expected_stages) and not top1.shape_ok(["search", "traverse"])
    shipped = next(q for q in ds.questions if q.text == "shipments carried by DHL")
    assert shipped.shape_ok(["filter"]) and shipped.shape_ok(["lookup", "traverse"])
