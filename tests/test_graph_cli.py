"""`remlite edge add|rm|list`, `remlite traverse`, `remlite path` and `remlite moments`: each runs the command and
checks the result through the library on the same path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import remlite
from remlite import errors
from tests.test_cli import assert_user_error, jsonl, ok, rem


@pytest.fixture
def people(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "db"
    with remlite.connect(root) as db:
        ids = [db.insert("entities", {"key": k, "name": k.title()}) for k in ("ann", "bob", "cy")]
    return root, ids


def test_edge_add_list_rm(people: tuple[Path, list[str]]) -> None:
    root, (ann, bob, cy) = people
    out = ok(rem(root, "edge", "add", ann, bob, "knows", "--props", '{"since": 2020}'))
    assert out.stdout.strip() == f"{ann} -[knows]-> {bob}"
    edge = json.loads(ok(rem(root, "edge", "add", bob, cy, "knows", "--json")).stdout)
    assert (edge["src"], edge["dst"], edge["type"], edge["properties"]) == (bob, cy, "knows", {})
    with remlite.connect(root) as db:
        assert db.edges(ann)[0]["properties"] == {"since": 2020}
    listed = jsonl(ok(rem(root, "edge", "list", bob, "--direction", "both", "--json")).stdout)
    assert [(e["src"], e["dst"]) for e in listed] == [(bob, cy), (ann, bob)]
    assert jsonl(ok(rem(root, "edge", "list", bob, "--type", "likes", "--json")).stdout) == []
    assert "knows" in ok(rem(root, "edge", "list", ann)).stdout
    ok(rem(root, "edge", "rm", ann, bob, "knows"))
    with remlite.connect(root) as db:
        assert db.edges(ann) == []
    assert_user_error(rem(root, "edge", "rm", ann, bob, "knows"), errors.NotFound)
    assert_user_error(rem(root, "edge", "add", ann, "00000000-0000-4000-8000-00000000ffff", "x"), errors.NotFound)
    assert_user_error(rem(root, "edge", "add", ann, bob, "x", "--props", "[1"), errors.InvalidInput)
    assert_user_error(rem(root, "edge", "list", ann, "--direction", "up"), errors.InvalidInput)


def test_traverse_and_path(people: tuple[Path, list[str]]) -> None:
    root, (ann, bob, cy) = people
    with remlite.connect(root) as db:
        db.add_edges([(ann, bob, "knows"), (bob, cy, "knows"), (cy, ann, "likes")])
    found = jsonl(ok(rem(root, "traverse", ann, "--depth", "2", "--json")).stdout)
    assert [(r["name"], r["_depth"], r["_edge"]) for r in found] == [("Bob", 1, "knows"), ("Cy", 2, "knows")]
    with remlite.connect(root) as db:
        assert found == db.traverse(ann, depth=2)
    dfs = jsonl(ok(rem(root, "traverse", cy, "--depth", "5", "--mode", "dfs", "--type", "likes", "--json")).stdout)
    assert [r["name"] for r in dfs] == ["Ann"]
    back = jsonl(ok(rem(root, "traverse", ann, "--direction", "in", "--depth", "2", "--exact", "--json")).stdout)
    assert [r["name"] for r in back] == ["Bob"]
    assert "Cy" in ok(rem(root, "traverse", ann)).stdout
    assert ok(rem(root, "path", ann, cy)).stdout.strip() == f"{ann} -> {bob} -> {cy}"
    assert json.loads(ok(rem(root, "path", cy, bob, "--json")).stdout) == {"path": [cy, ann, bob], "length": 2}
    every = jsonl(ok(rem(root, "path", ann, cy, "--all", "--direction", "both", "--max-depth", "2", "--json")).stdout)
    assert sorted(p["path"] for p in every) == sorted([[ann, bob, cy], [ann, cy]])
    assert len(jsonl(ok(rem(root, "path", ann, cy, "--all", "--direction", "both", "--limit", "1", "--json")).stdout))
    assert_user_error(rem(root, "path", ann, cy, "--type", "likes"), errors.NotFound)
    assert_user_error(rem(root, "traverse", ann, "--mode", "zigzag"), errors.InvalidInput)


def test_moments_command(tmp_path: Path) -> None:
    root = tmp_path / "db"
    now = datetime.now(UTC)
    with remlite.connect(root) as db:
        for name, days, tags, people in [
            ("recent", 1, ["work"], ["ann"]),
            ("older", 10, ["work"], ["bob"]),
            ("october", None, ["home"], ["ann"]),
        ]:
            start = datetime(2025, 10, 15, 9, tzinfo=UTC) if days is None else now - timedelta(days=days)
            db.insert("moments", {"name": name, "start_time": start.isoformat(), "tags": tags, "people": people,
                                  "end_time": (start + timedelta(hours=1)).isoformat()})  # fmt: skip

    def names(*args: str) -> list[str]:
        return [m["name"] for m in jsonl(ok(rem(root, "moments", *args, "--json")).stdout)]

    assert names("--since", "7d") == ["recent"]
    assert names("--since", "30d", "--tag", "work") == ["older", "recent"]
    assert names("--person", "ann") == ["october", "recent"]
    assert names("--between", "2025-10-01..2025-10-31") == ["october"]
    assert names("--until", "2025-10-15") == ["october"]
    assert names("--limit", "1") == ["october"]
    via_cli = names("--since", "30d", "--tag", "work")
    with remlite.connect(root) as db:
        assert [m["name"] for m in db.moments(since="30d", tags=["work"])] == via_cli
    assert "recent" in ok(rem(root, "moments", "--since", "2d")).stdout
    assert_user_error(rem(root, "moments", "--since", "soon"), errors.InvalidInput)
    assert_user_error(rem(root, "moments", "--between", "2025-10-01"), errors.InvalidInput)
    assert_user_error(rem(root, "moments", "--between", "1d..now", "--since", "2d"), errors.InvalidInput)
