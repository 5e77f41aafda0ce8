"""Replay: a database's whole change log applied to an empty one reproduces it exactly.

A seeded random workload (batch upserts, updates, soft and hard deletes, edges, a schema upgrade
that backfills an index, moments with references, a re-embed) runs on one database; its entries are
applied to a fresh one; then rows (deleted ones too), counts, index lookups, lookup keys, edges,
moment queries, vector and text search and `check()` must agree, and so must the two logs. The
same comparison runs after every step of a hypothesis state machine.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import remlite
from remlite.errors import ChangeLogConflict, InvalidInput
from remlite.storage.changelog import Entry

DOCS = {
    "name": "docs",
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "kind": {"type": "string"},
        "rank": {"type": "integer"},
    },
    "required": ["title"],
    "key_field": "title",
    "indexed_fields": ["kind"],
    "embedding_fields": ["body"],
    "text_fields": ["body"],
}
WORDS = ["alpha", "beta", "gamma", "delta", "river", "stone", "cloud", "paper", "lamp", "orbit"]


def _docs_v2() -> dict[str, Any]:
    return {**DOCS, "indexed_fields": ["kind", "rank"]}  # an upgrade that backfills the rank index


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _open(root: Path, name: str) -> remlite.Database:
    return remlite.connect(root / name, embedder="hash")


def _replicate(source: remlite.Database, target: remlite.Database, page: int = 7) -> int:
    """Copy the source's log in pages, through bytes (as a replica receives it)."""
    applied, after = 0, 0  # from the start: entries the target holds are skipped as identical
    while True:
        entries = source.changes(after, page)
        if not entries:
            return applied
        applied += target.apply([Entry.from_bytes(e.to_bytes()) for e in entries])
        after = entries[-1].seq


def _state(db: remlite.Database) -> dict[str, Any]:
    out: dict[str, Any] = {"last_seq": db.last_seq}
    tables = [s["name"] for s in db.schemas()]
    out["schemas"] = db.schemas()
    for table in tables:
        rows = list(db.scan(table, include_deleted=True))
        out[f"rows:{table}"] = rows
        out[f"count:{table}"] = db.count(table)
        for row in rows:
            out[f"edges:{row['id']}"] = db.edges(row["id"], "both")
    if "docs" in tables:
        for kind in ("a", "b", "c"):
            out[f"find:{kind}"] = db.find("docs", "kind", eq=kind)
        if "rank" in db.schema("docs")["indexed_fields"]:
            out["find:rank"] = db.find("docs", "rank", gte=3)
        for word in WORDS[:4]:
            out[f"vector:{word}"] = [(r["id"], round(r["_score"], 5)) for r in db.search("docs", word, k=5)]
            hits = db.search("docs", word, k=5, mode="text")
            out[f"text:{word}"] = [(r["id"], round(r["_score"], 5)) for r in hits]
        for row in out["rows:docs"][:5]:
            out[f"lookup:{row['title']}"] = db.lookup(row["title"])
            out[f"fuzzy:{row['title']}"] = db.lookup(row["title"] + "x", fuzzy=True, limit=5, min_score=0.3)
    out["moments"] = db.moments()
    out["moments:tag"] = db.moments(tags="x", since="2025-01-01", until="2025-12-31")
    return out


def _workload(db: remlite.Database, seed: int) -> None:
    rng = random.Random(seed)
    db.register_schema(DOCS)
    titles: list[str] = []
    for round_ in range(4):
        batch = [
            {
                "title": f"t{rng.randint(0, 40)}",
                "body": _text(rng),
                "kind": rng.choice("abc"),
                "rank": rng.randint(0, 9),
            }
            for _ in range(rng.randint(5, 25))
        ]
        ids = db.insert_batch("docs", batch, chunk_size=rng.choice([3, 10, 100]))
        titles += [r["title"] for r in batch]
        live = [r["id"] for r in db.scan("docs")]
        for rid in rng.sample(live, min(3, len(live))):
            db.update(rid, {"body": _text(rng), "rank": rng.randint(0, 9)})
        live = [r["id"] for r in db.scan("docs")]
        if len(live) > 4:
            a, b, c = rng.sample(live, 3)
            db.add_edge(a, b, "cites", {"w": round_})
            db.add_edges([(b, c, "near"), (c, a, "near", {"n": 1})])
            if rng.random() < 0.5:
                db.remove_edge(a, b, "cites")
            db.insert(
                "moments",
                {
                    "name": f"m{round_}",
                    "start_time": f"2025-0{round_ + 1}-02T10:00:00Z",
                    "tags": ["x"],
                    "resource_ids": [a, c],
                },
            )
            db.insert(
                "docs",
                {"title": f"e{round_}", "body": "edge carrier", "kind": "c"},
                edges=[{"dst": b, "type": "mentions"}],
            )
            victim, soft = rng.sample(live, 2)
            db.delete(soft)
            db.delete(victim, hard=True)
        if round_ == 1:
            db.register_schema(_docs_v2())
        if round_ == 2:
            db.reembed("docs", "body", provider="hash", chunk_size=4)
        del ids
    db.insert("resources", {"name": "last", "uri": "file://x"})


def _assert_same(source: remlite.Database, target: remlite.Database) -> None:
    assert _state(target) == _state(source)
    assert [e.content() for e in target.changes(0, 10**6)] == [e.content() for e in source.changes(0, 10**6)]
    assert target.check()["ok"] and source.check()["ok"]


@pytest.mark.parametrize("seed", [1, 2])
def test_whole_log_replays_to_the_same_database(tmp_path: Path, seed: int) -> None:
    with _open(tmp_path, "src") as source, _open(tmp_path, "dst") as target:
        _workload(source, seed)
        applied = _replicate(source, target)
        assert applied == source.last_seq - target.changes(0, 10**6)[0].seq + 1 - _templates(source)
        _assert_same(source, target)
        assert _replicate(source, target) == 0  # idempotent: everything again changes nothing
        _assert_same(source, target)


def _templates(db: remlite.Database) -> int:
    """Entries a fresh database writes itself (the built-in templates), which apply skips."""
    return sum(1 for e in db.changes(0, 10**6) if e.op == "schema" and e.table != "docs")


def test_replayed_database_reopens_equal(tmp_path: Path) -> None:
    with _open(tmp_path, "src") as source, _open(tmp_path, "dst") as target:
        _workload(source, 5)
        _replicate(source, target)
        expected = _state(source)
    with _open(tmp_path, "dst") as target:
        assert _state(target) == expected and target.check()["ok"]


def test_apply_refuses_gaps_and_other_lineages(tmp_path: Path) -> None:
    with _open(tmp_path, "src") as source, _open(tmp_path, "dst") as target, _open(tmp_path, "other") as other:
        source.register_schema(DOCS)
        source.insert("docs", {"title": "a", "body": "alpha"})
        other.register_schema(DOCS)
        other.insert("docs", {"title": "b", "body": "beta"})
        entries = source.changes()
        before = [e.to_bytes() for e in target.changes(0, 10**6)]
        with pytest.raises(ChangeLogConflict, match="gap"):
            target.apply(entries[target.last_seq + 1 :])
        assert [e.to_bytes() for e in target.changes(0, 10**6)] == before  # nothing written
        assert target.apply(entries) == 2 and [r["title"] for r in target.lookup("a")] == ["a"]
        with pytest.raises(ChangeLogConflict, match="differs"):
            target.apply(other.changes())
        assert target.lookup("b") == []
        with pytest.raises(InvalidInput):
            target.apply(entries[0])  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            target.apply([{"seq": 1}])  # type: ignore[list-item]


class ReplayMachine(RuleBasedStateMachine):
    """Random writes on a source, replicated after every step; the two must stay equal."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="remlite-replay-"))
        self.source = _open(self.root, "src")
        self.target = _open(self.root, "dst")
        self.source.register_schema(DOCS)
        self.upgraded = False

    def _live(self) -> list[str]:
        return [r["id"] for r in self.source.scan("docs")]

    @rule(titles=st.lists(st.integers(0, 15), min_size=1, max_size=6), words=st.integers(0, 9))
    def upsert(self, titles: list[int], words: int) -> None:
        batch = [
            {"title": f"t{t}", "body": f"{WORDS[words]} {WORDS[t % 10]}", "kind": "ab"[t % 2], "rank": t}
            for t in titles
        ]
        self.source.insert_batch("docs", batch, chunk_size=4)

    @rule(pick=st.integers(0, 100), hard=st.booleans())
    def delete(self, pick: int, hard: bool) -> None:
        live = self._live()
        if live:
            self.source.delete(live[pick % len(live)], hard=hard)

    @rule(pick=st.integers(0, 100))
    def edge(self, pick: int) -> None:
        live = self._live()
        if len(live) >= 2:
            self.source.add_edge(live[pick % len(live)], live[(pick + 1) % len(live)], "rel", {"p": pick})

    @rule()
    def upgrade(self) -> None:
        if not self.upgraded:
            self.source.register_schema(_docs_v2())
            self.upgraded = True

    @rule()
    def reembed(self) -> None:
        self.source.reembed("docs", "body", provider="hash", chunk_size=3)

    @invariant()
    def replica_equal(self) -> None:
        _replicate(self.source, self.target)
        assert _state(self.target) == _state(self.source)

    def teardown(self) -> None:
        assert self.target.check()["ok"]
        self.source.close()
        self.target.close()
        shutil.rmtree(self.root, ignore_errors=True)


ReplayMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
)
test_replay_state_machine = ReplayMachine.TestCase
