"""Tables and row generators shared by the kill tests and their child process (which imports this
module by its file name, so it must import nothing from the test package)."""

from __future__ import annotations

import random
from typing import Any

ITEMS: dict[str, Any] = {
    "name": "items",
    "properties": {"key": {"type": "string"}, "v": {"type": "integer"}, "slot": {"type": "integer"}},
    "required": ["key"],
    "key_field": "key",
    "indexed_fields": ["v", "slot"],
}
LOOSE: dict[str, Any] = {
    "name": "loose",
    "properties": {"batch": {"type": "integer"}, "slot": {"type": "integer"}},
    "indexed_fields": ["batch"],
}
SINGLES: dict[str, Any] = {"name": "singles", "properties": {"n": {"type": "integer"}}, "indexed_fields": ["n"]}
COUNTERS: dict[str, Any] = {
    "name": "counters",
    "properties": {"key": {"type": "string"}, "v": {"type": "integer"}},
    "key_field": "key",
    "indexed_fields": ["v"],
}
VICTIMS: dict[str, Any] = {
    "name": "victims",
    "properties": {"n": {"type": "integer"}, "word": {"type": "string"}},
    "indexed_fields": ["n"],
    "text_fields": ["word"],
}
NAMED: dict[str, Any] = {"name": "named", "properties": {"key": {"type": "string"}}, "key_field": "key"}
_WIDE_PROPS = {
    "key": {"type": "string"},
    "a": {"type": "integer"},
    "b": {"type": "integer"},
    "t1": {"type": "string"},
    "t2": {"type": "string"},
}
WIDE_A: dict[str, Any] = {
    "name": "wide",
    "properties": _WIDE_PROPS,
    "key_field": "key",
    "indexed_fields": ["a"],
    "text_fields": ["t1"],
}
WIDE_B: dict[str, Any] = {**WIDE_A, "indexed_fields": ["b"], "text_fields": ["t2"]}
WIDE_ROWS = 3000
DOCS: dict[str, Any] = {
    "name": "docs",
    "properties": {"title": {"type": "string"}, "grp": {"type": "integer"}, "body": {"type": "string"}},
    "key_field": "title",
    "indexed_fields": ["grp"],
    "embedding_fields": ["body"],
}
DOCS_ROWS = 800
DROPME: dict[str, Any] = {**DOCS, "name": "dropme"}
EDGE_NODES = 30

VOCAB = [
    "river",
    "stone",
    "cloud",
    "engine",
    "garden",
    "ledger",
    "harbor",
    "violet",
    "copper",
    "lantern",
    "meadow",
    "signal",
    "timber",
    "orbit",
    "canvas",
    "falcon",
    "glacier",
    "pepper",
    "quartz",
    "saddle",
    "tunnel",
    "walnut",
    "yellow",
    "zephyr",
    "anchor",
    "basket",
    "cinder",
    "dragon",
]


def wide_row(i: int) -> dict[str, Any]:
    return {"key": f"w{i}", "a": i % 11, "b": i % 13, "t1": f"alpha{i % 7} common", "t2": f"beta{i % 5} common"}


def body(i: int) -> str:
    return " ".join(random.Random(i).sample(VOCAB, 6))


def doc_row(i: int, tag: str = "d") -> dict[str, Any]:
    return {"title": f"{tag}{i}", "grp": i % 5, "body": body(i)}


def edge_op(n: int) -> tuple[str, int, int, str]:
    """Operation n of the edge workload: ("add"|"rm", src node, dst node, type). Idempotent, so
    a retried in-flight operation leaves the same state."""
    if n % 3 == 2:
        _, src, dst, kind = edge_op(n - 1)
        return "rm", src, dst, kind
    return "add", n % EDGE_NODES, (n * 7 + 1) % EDGE_NODES, f"t{n % 4}"


def edges_after(last: int) -> dict[tuple[int, int, str], int]:
    """The edge set (with each edge's `n` property) after operations 0..last."""
    state: dict[tuple[int, int, str], int] = {}
    for n in range(last + 1):
        op, src, dst, kind = edge_op(n)
        if op == "add":
            state[(src, dst, kind)] = n
        else:
            state.pop((src, dst, kind), None)
    return state


def ingest_files(n: int) -> dict[str, str | None]:
    """Step n of the ingest workload: file name -> new content (None: delete the file)."""
    out: dict[str, str | None] = {}
    name = f"f{n % 8}.md"
    paragraphs = [f"# Part {n}\n", f"Unique marker zq{n}x appears here. " + body(n) + "."]
    paragraphs += [body(n * 10 + j) + "." for j in range(1 + n % 4)]
    out[name] = "\n\n".join(paragraphs) + "\n"
    if n % 3 == 0:
        out[f"f{(n * 3 + 1) % 8}.md"] = None
    return out
