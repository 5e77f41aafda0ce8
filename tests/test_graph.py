"""Edges and traversals on a small hand-built graph with known answers (cycles, a self-loop,
incoming edges, two edge types), plus deletes, reopen, the change log and crash atomicity."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import remlite
from remlite import errors

NODES = {"name": "nodes", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def nid(letter: str) -> str:
    """Ids whose byte order is the letters' order, so neighbour order (type, then id) is known."""
    return f"00000000-0000-4000-8000-0000000000{ord(letter):02x}"


NAMES = {nid(c): c for c in "ABCDEFGHXYZW"}
EDGES = [
    ("A", "B", "knows"),
    ("A", "C", "knows"),
    ("B", "D", "knows"),
    ("C", "D", "knows"),
    ("D", "A", "knows"),  # cycle A -> B -> D -> A
    ("D", "E", "likes"),
    ("E", "F", "likes"),
    ("F", "D", "knows"),  # cycle D -> E -> F -> D, mixed types
    ("G", "A", "knows"),  # only reachable from A backwards
    ("C", "C", "likes"),  # self-loop
    # H is isolated
]


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[remlite.Database]:
    db = remlite.connect(tmp_path / "db")
    db.register_schema(NODES)
    db.insert_batch("nodes", [{"id": nid(c), "name": c} for c in "ABCDEFGH"])
    db.add_edges([(nid(s), nid(d), t) for s, d, t in EDGES])
    yield db
    db.close()


def walk(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["name"], r["_depth"]) for r in records]


def names(path: list[str]) -> str:
    return "".join(NAMES[i] for i in path)


A = nid("A")


# --------------------------------------------------------------------------- traversal
def test_bfs_out_by_depth_with_cycles(graph: remlite.Database) -> None:
    assert walk(graph.traverse(A, depth=1)) == [("B", 1), ("C", 1)]
    assert walk(graph.traverse(A, depth=2)) == [("B", 1), ("C", 1), ("D", 2)]
    assert walk(graph.traverse(A)) == [("B", 1), ("C", 1), ("D", 2)]  # default depth 2
    assert walk(graph.traverse(A, depth=10)) == [("B", 1), ("C", 1), ("D", 2), ("E", 3), ("F", 4)]
    assert graph.traverse(A, depth=0) == []


def test_traverse_paths_edges_and_tables(graph: remlite.Database) -> None:
    by_name = {r["name"]: r for r in graph.traverse(A, depth=4)}
    assert names(by_name["D"]["_path"]) == "ABD"  # the first edge that reached D (B before C)
    assert names(by_name["F"]["_path"]) == "ABDEF"
    assert by_name["F"]["_edge"] == "likes"
    assert [(NAMES[e["src"]], e["type"], NAMES[e["dst"]]) for e in by_name["E"]["_edges"]] == [
        ("A", "knows", "B"),
        ("B", "knows", "D"),
        ("D", "likes", "E"),
    ]
    assert {r["_table"] for r in by_name.values()} == {"nodes"}
    assert all(r["id"] == r["_path"][-1] and r["_path"][0] == A for r in by_name.values())


def test_type_filter(graph: remlite.Database) -> None:
    assert walk(graph.traverse(A, depth=10, type="knows")) == [("B", 1), ("C", 1), ("D", 2)]
    assert walk(graph.traverse(nid("D"), depth=10, type="likes")) == [("E", 1), ("F", 2)]
    assert walk(graph.traverse(nid("D"), depth=10, type=["likes", "knows"])) == walk(graph.traverse(nid("D"), depth=10))
    assert graph.traverse(A, depth=3, type="nope") == []


def test_incoming_and_both_directions(graph: remlite.Database) -> None:
    assert walk(graph.traverse(A, depth=10, direction="in")) == [
        ("D", 1),
        ("G", 1),
        ("B", 2),
        ("C", 2),
        ("F", 2),
        ("E", 3),
    ]
    by_name = {r["name"]: r for r in graph.traverse(A, depth=3, direction="in")}
    assert names(by_name["E"]["_path"]) == "ADFE"
    assert [(NAMES[e["src"]], NAMES[e["dst"]]) for e in by_name["E"]["_edges"]] == [("D", "A"), ("F", "D"), ("E", "F")]
    assert walk(graph.traverse(A, depth=1, direction="both")) == [("B", 1), ("C", 1), ("D", 1), ("G", 1)]
    assert walk(graph.traverse(nid("G"), depth=5)) == [("A", 1), ("B", 2), ("C", 2), ("D", 3), ("E", 4), ("F", 5)]
    assert graph.traverse(nid("H"), depth=5, direction="both") == []


def test_dfs_preorder_same_set_and_depths_as_bfs(graph: remlite.Database) -> None:
    assert walk(graph.traverse(A, depth=10, mode="dfs")) == [("B", 1), ("D", 2), ("E", 3), ("F", 4), ("C", 1)]
    for start in "ABCDEFGH":
        for depth in range(5):
            for direction in ("out", "in", "both"):
                bfs = graph.traverse(nid(start), depth=depth, direction=direction)
                dfs = graph.traverse(nid(start), depth=depth, direction=direction, mode="dfs")
                assert sorted(walk(bfs)) == sorted(walk(dfs)), (start, depth, direction)


def test_dfs_reexpands_a_node_reached_again_by_a_shorter_path(tmp_path: Path) -> None:
    with remlite.connect(tmp_path / "db") as db:
        db.register_schema(NODES)
        db.insert_batch("nodes", [{"id": nid(c), "name": c} for c in "XYZW"])
        db.add_edges([(nid("X"), nid("Y"), "e"), (nid("Y"), nid("Z"), "e"), (nid("X"), nid("Z"), "e"),
                      (nid("Z"), nid("W"), "e")])  # fmt: skip
        # Depth-first from X reaches Z first at depth 2 (via Y), where it may not expand; the
        # direct edge X -> Z puts it at depth 1, and from there W is within the bound.
        found = db.traverse(nid("X"), depth=2, mode="dfs")
        assert walk(found) == [("Y", 1), ("Z", 1), ("W", 2)]
        assert names(found[2]["_path"]) == "XZW" and names(found[1]["_path"]) == "XZ"


def test_neighbors_at_exactly_depth(graph: remlite.Database) -> None:
    assert [r["name"] for r in graph.neighbors(A, depth=2)] == ["D"]
    assert [r["name"] for r in graph.neighbors(A, depth=1, direction="both")] == ["B", "C", "D", "G"]
    assert [r["name"] for r in graph.neighbors(A, depth=2, direction="in")] == ["B", "C", "F"]
    assert graph.neighbors(A, depth=9) == []


def test_shortest_path(graph: remlite.Database) -> None:
    assert names(graph.shortest_path(A, nid("F"))) in ("ABDEF", "ACDEF")
    assert names(graph.shortest_path(nid("F"), A)) == "FDA"
    assert graph.shortest_path(A, nid("G")) == []
    assert names(graph.shortest_path(A, nid("G"), direction="in")) == "AG"
    assert names(graph.shortest_path(nid("G"), nid("E"), direction="both")) == "GADE"
    assert graph.shortest_path(A, nid("H"), direction="both") == []
    assert graph.shortest_path(A, A) == [A]
    assert names(graph.shortest_path(A, nid("E"), type="knows")) == ""
    assert names(graph.shortest_path(nid("D"), nid("F"), type="likes")) == "DEF"


def test_all_paths(graph: remlite.Database) -> None:
    assert [names(p) for p in graph.all_paths(A, nid("D"), 3)] == ["ABD", "ACD"]
    assert graph.all_paths(A, nid("D"), 1) == []
    assert [names(p) for p in graph.all_paths(A, nid("F"), 5)] == ["ABDEF", "ACDEF"]
    assert [names(p) for p in graph.all_paths(A, nid("F"), 5, limit=1)] == ["ABDEF"]
    assert [names(p) for p in graph.all_paths(nid("G"), nid("D"), 2, direction="both")] == ["GAD"]
    both = {names(p) for p in graph.all_paths(A, nid("D"), 3, direction="both")}
    assert both == {"AD", "ABD", "ACD"}  # AD follows D -> A backwards; G and the self-loop lead nowhere
    assert graph.all_paths(A, A, 3) == [[A]]


# --------------------------------------------------------------------------- edges
def test_edges_listing_and_upsert(graph: remlite.Database) -> None:
    out = graph.edges(A)
    assert [(NAMES[e["src"]], e["type"], NAMES[e["dst"]]) for e in out] == [("A", "knows", "B"), ("A", "knows", "C")]
    assert {"src", "dst", "type", "properties", "created_at"} <= set(out[0])
    assert [NAMES[e["src"]] for e in graph.edges(A, "in")] == ["D", "G"]
    assert len(graph.edges(A, "both")) == 4
    assert [e["type"] for e in graph.edges(nid("C"), "both")] == ["knows", "likes", "knows"]  # self-loop once
    assert graph.edges(nid("D"), type="likes")[0]["dst"] == nid("E")
    first = graph.add_edge(A, nid("B"), "knows", {"since": 2020})
    again = graph.add_edge(A, nid("B"), "knows", {"since": 2021})
    assert again["properties"] == {"since": 2021} and again["created_at"] == first["created_at"]
    assert graph.edges(A)[0]["properties"] == {"since": 2021}
    assert len(graph.edges(A)) == 2
    assert graph.remove_edge(A, nid("B"), "knows") is True
    assert graph.remove_edge(A, nid("B"), "knows") is False
    assert [NAMES[e["dst"]] for e in graph.edges(A)] == ["C"]
    assert graph.check()["ok"]


def test_edge_errors(graph: remlite.Database) -> None:
    missing = "00000000-0000-4000-8000-00000000ffff"
    with pytest.raises(errors.NotFound):
        graph.add_edge(A, missing, "knows")
    with pytest.raises(errors.InvalidId):
        graph.add_edge(A, "nope", "knows")
    with pytest.raises(errors.InvalidInput):
        graph.add_edge(A, nid("B"), "")
    with pytest.raises(errors.InvalidInput):
        graph.add_edge(A, nid("B"), "knows", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidInput):
        graph.edges(A, direction="sideways")
    with pytest.raises(errors.InvalidInput):
        graph.traverse(A, mode="astar")
    with pytest.raises(errors.InvalidInput):
        graph.traverse(A, depth=-1)
    with pytest.raises(errors.NotFound):
        graph.traverse(missing)
    with pytest.raises(errors.NotFound):
        graph.shortest_path(A, missing)
    before = graph.last_seq
    with pytest.raises(errors.NotFound):  # checked before anything is written
        graph.add_edges([(A, nid("H"), "x"), (A, missing, "x")])
    with pytest.raises(errors.InvalidInput):
        graph.add_edges([(A, nid("H"), "x"), (A, nid("H"))])
    assert graph.last_seq == before and graph.edges(A, type="x") == []


def test_edges_are_in_the_change_log(graph: remlite.Database) -> None:
    seq = graph.last_seq
    graph.add_edge(A, nid("H"), "owns", {"n": 1})
    graph.remove_edge(A, nid("H"), "owns")
    graph.add_edges([(nid("H"), A, "owns"), (nid("H"), nid("B"), "owns", {"n": 2})])
    put, delete, batch = graph.wal(after_seq=seq)
    assert put["op"] == "edge_put" and (put["src"], put["dst"], put["type"], put["properties"]) == (
        A,
        nid("H"),
        "owns",
        {"n": 1},
    )
    assert delete == {**delete, "op": "edge_delete", "src": A, "dst": nid("H"), "type": "owns"}
    assert batch["op"] == "edge_put" and [e["properties"] for e in batch["edges"]] == [{}, {"n": 2}]


def test_add_edges_chunks_and_dicts(graph: remlite.Database) -> None:
    seq = graph.last_seq
    count = graph.add_edges(
        [{"src": nid("H"), "dst": nid(c), "type": "sees", "properties": {"c": c}} for c in "ABCDEFG"], chunk_size=3
    )
    assert count == 7
    assert len(graph.wal(after_seq=seq)) == 3  # 3 + 3 + 1
    assert [e["properties"]["c"] for e in graph.edges(nid("H"), type="sees")] == list("ABCDEFG")


# --------------------------------------------------------------------------- deletes, reopen
def test_soft_delete_keeps_edges_but_traversal_skips_the_record(graph: remlite.Database) -> None:
    graph.delete(nid("B"))
    assert len(graph.edges(A)) == 2  # the edge is still there
    assert walk(graph.traverse(A, depth=2)) == [("C", 1), ("D", 2)]
    assert names(graph.traverse(A, depth=2)[1]["_path"]) == "ACD"
    assert names(graph.shortest_path(A, nid("D"))) == "ACD"
    graph.delete(nid("C"))
    assert graph.traverse(A, depth=5) == []  # D is only reachable through B or C
    assert graph.shortest_path(A, nid("D")) == []
    assert graph.all_paths(A, nid("D"), 4) == []
    assert walk(graph.traverse(A, depth=1, direction="in")) == [("D", 1), ("G", 1)]
    with pytest.raises(errors.NotFound):
        graph.traverse(nid("B"))
    with pytest.raises(errors.NotFound):
        graph.add_edge(A, nid("B"), "knows")
    assert graph.check()["ok"]


def test_hard_delete_removes_edges_both_ways_in_one_batch(graph: remlite.Database) -> None:
    graph.delete(nid("D"), hard=True)
    assert graph.edges(nid("B")) == [] and graph.edges(nid("C"), type="knows") == []
    assert [NAMES[e["src"]] for e in graph.edges(A, "in")] == ["G"]
    assert graph.edges(nid("E"), "in") == []
    entry = graph.wal(after_seq=graph.last_seq - 1)[0]
    assert entry["op"] == "delete" and len(entry["edges_removed"]) == 5
    assert graph.check() == {**graph.check(), "ok": True, "edges": len(EDGES) - 5}
    graph.delete(nid("C"))
    graph.delete(nid("C"), hard=True)  # a soft-deleted record still has its edges until then
    assert graph.edges(A) == [{**graph.edges(A)[0], "dst": nid("B")}]
    assert graph.check()["ok"]


def test_edges_survive_reopen(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with remlite.connect(root) as db:
        db.register_schema(NODES)
        db.insert_batch("nodes", [{"id": nid(c), "name": c} for c in "ABCDEFGH"])
        db.add_edges([(nid(s), nid(d), t) for s, d, t in EDGES])
        db.add_edge(A, nid("H"), "owns", {"share": 0.5})
        before = (db.traverse(A, depth=4, direction="both"), db.edges(A, "both"))
    with remlite.connect(root) as db:
        assert (db.traverse(A, depth=4, direction="both"), db.edges(A, "both")) == before
        assert db.edges(A, type="owns")[0]["properties"] == {"share": 0.5}
        assert db.check()["ok"]


# --------------------------------------------------------------------------- inline edges
def test_inline_edges_are_written_with_the_row(graph: remlite.Database) -> None:
    seq = graph.last_seq
    new = graph.insert("nodes", {"name": "N"}, edges=[{"dst": A, "type": "knows", "properties": {"w": 1}},
                                                      {"src": nid("H"), "type": "made"}])  # fmt: skip
    assert graph.last_seq == seq + 1  # one batch, one change-log entry
    entry = graph.wal(after_seq=seq)[0]
    assert entry["op"] == "put" and len(entry["rows"]) == 1 and len(entry["edges"]) == 2
    assert "_edges" not in graph.get(new)
    assert [(e["dst"], e["properties"]) for e in graph.edges(new)] == [(A, {"w": 1})]
    assert [e["src"] for e in graph.edges(new, "in")] == [nid("H")]
    via_key = graph.insert("nodes", {"name": "M", "_edges": [{"dst": new, "type": "knows"}]})
    assert graph.shortest_path(via_key, nid("B")) == [via_key, new, A, nid("B")]
    ids = graph.insert_batch("nodes", [{"name": "P"}, {"name": "Q", "_edges": [{"dst": A, "type": "t"}]}])
    assert graph.edges(ids[0]) == [] and graph.edges(ids[1])[0]["dst"] == A
    with pytest.raises(errors.NotFound):
        graph.insert("nodes", {"name": "R"}, edges=[{"dst": "00000000-0000-4000-8000-00000000ffff", "type": "t"}])
    with pytest.raises(errors.InvalidInput):
        graph.insert("nodes", {"name": "R"}, edges=[{"dst": A}])
    with pytest.raises(errors.InvalidInput):
        graph.insert("nodes", {"name": "R"}, edges=[{"dst": A, "src": A, "type": "t"}])
    assert graph.count("nodes") == 12 and graph.check()["ok"]


STRICT = {
    "name": "strict",
    "type": "object",
    "properties": {"name": {"type": "string"}, "edges": {"type": "array"}},
    "additionalProperties": False,
}


def test_inline_edges_do_not_clash_with_a_user_field_named_edges(graph: remlite.Database) -> None:
    graph.register_schema(STRICT)
    rid = graph.insert("strict", {"name": "s", "edges": [1, 2]}, edges=[{"dst": A, "type": "t"}])
    assert graph.get(rid)["edges"] == [1, 2]
    assert graph.edges(rid)[0]["dst"] == A


# --------------------------------------------------------------------------- crash atomicity
CHILD = """
import sys, remlite
db = remlite.connect(sys.argv[1])
db.register_schema({"name": "nodes", "properties": {"name": {"type": "string"}}})
ids = db.insert_batch("nodes", [{"name": str(i)} for i in range(200)])
print("ready", flush=True)
batch = 0
while True:
    edges = [(ids[i // 5], ids[(i // 5 + 1 + i % 5) % 200], f"t{batch}") for i in range(1000)]
    db.add_edges(edges, chunk_size=1000)
    print(f"ack {batch}", flush=True)
    batch += 1
"""


def test_add_edges_chunk_is_atomic_under_kill_9(tmp_path: Path) -> None:
    root = tmp_path / "db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.4)
    child.kill()
    child.wait()
    acked = [int(line.split()[1]) for line in child.stdout.read().splitlines() if line.startswith("ack")]
    with remlite.connect(root) as db:
        report = db.check()
        assert report["ok"], report["problems"]
        nodes = db.list("nodes", limit=None)
        per_type: dict[str, int] = {}
        for node in nodes:
            for edge in db.edges(node["id"]):
                per_type[edge["type"]] = per_type.get(edge["type"], 0) + 1
    assert all(count == 1000 for count in per_type.values()), per_type  # whole chunks only
    assert {f"t{b}" for b in acked} <= set(per_type)  # nothing acknowledged was lost
