"""Child process of the kill tests: runs one write workload forever, printing `ready` once set up and
`ack <payload>` after every call that returned, until the parent kills it with SIGKILL.

    python child.py OP ROOT [START]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import schemas as s  # this file's directory is sys.path[0]

import remlite


def ack(*parts: object) -> None:
    print("ack", *parts, flush=True)


def ready() -> None:
    print("ready", flush=True)


def upsert(db: remlite.Database, start: int) -> None:
    db.register_schema(s.ITEMS)
    ready()
    for n in range(start, 1 << 30):
        db.insert_batch("items", [{"key": f"k{i}", "v": n, "slot": i} for i in range(400)])
        ack(n)


def keyless(db: remlite.Database, start: int) -> None:
    db.register_schema(s.LOOSE)
    ready()
    for n in range(start, 1 << 30):
        db.insert_batch("loose", [{"batch": n, "slot": i} for i in range(300)])
        ack(n)


def single(db: remlite.Database, start: int) -> None:
    db.register_schema(s.SINGLES)
    ready()
    for n in range(start, 1 << 30):
        db.insert("singles", {"n": n})
        ack(n)


def update(db: remlite.Database, start: int) -> None:
    ids = sorted(db.find("counters", "v", gte=-1), key=lambda rid: db.get(rid)["key"])
    ready()
    for n in range(start, 1 << 30):
        db.update(ids[n % len(ids)], {"v": n})
        ack(n)


def delete(db: remlite.Database, start: int) -> None:
    anchor = db.insert("named", {"key": "anchor"})
    ready()
    for n in range(start, 1 << 30):
        rid = db.insert("victims", {"n": n, "word": f"w{n}"}, edges=[{"dst": anchor, "type": "pins"}])
        ack("ins", json.dumps([n, rid]))
        db.delete(rid, hard=n % 2 == 1)
        ack("del", json.dumps([n, rid]))


def edges(db: remlite.Database, start: int) -> None:
    nodes = db.insert_batch("named", [{"key": f"n{i}"} for i in range(s.EDGE_NODES)])
    ready()
    for n in range(start, 1 << 30):
        op, src, dst, kind = s.edge_op(n)
        if op == "add":
            db.add_edge(nodes[src], nodes[dst], kind, {"n": n})
        else:
            db.remove_edge(nodes[src], nodes[dst], kind)
        ack(n)


def schema(db: remlite.Database, start: int) -> None:
    ready()
    for n in range(start, 1 << 30):
        db.register_schema(s.WIDE_A if n % 2 == 0 else s.WIDE_B)
        ack(n)


def drop(db: remlite.Database, start: int) -> None:
    anchor = db.insert("named", {"key": "anchor"})
    ready()
    for n in range(start, 1 << 30):
        db.register_schema(s.DROPME)
        rows = [{**s.doc_row(i, "x"), "_edges": [{"dst": anchor, "type": "near"}]} for i in range(300)]
        db.insert_batch("dropme", rows)
        ack("filled", n)
        db.drop_schema("dropme")
        ack("dropped", n)


def reembed(db: remlite.Database, start: int) -> None:
    for n in range(start, 1 << 30):
        db.insert("docs", s.doc_row(n, "r"))
        ack("ins", n)
        result = db.reembed("docs", "body", provider="hash")
        ack("re", result["version"])
        if n == start:
            ready()  # one whole cycle first: a loaded machine must not leave a run with no switch at all


def ingest(db: remlite.Database, start: int, directory: str) -> None:
    ready()
    for n in range(start, 1 << 30):
        for name, content in s.ingest_files(n).items():
            path = Path(directory) / name
            if content is None:
                path.unlink(missing_ok=True)
            else:  # write-then-rename: a kill inside write_text left the file empty for the parent's ingest
                staged = path.with_name(f".{name}.tmp")  # hidden, so no ingest reads it
                staged.write_text(content)
                staged.replace(path)
        db.ingest([directory], glob="*.md", chunk_size=200, overlap=20, prune=True)
        ack(n)


def truncate(db: remlite.Database, start: int) -> None:
    db.search("docs", "river stone", k=3)  # a loaded vector index, so truncation must checkpoint it
    ready()
    for n in range(start, 1 << 30):
        db.insert_batch("docs", [s.doc_row(n * 10 + i, "t") for i in range(10)])
        ack("ins", n, db.last_seq)
        report = db.truncate_wal(keep=30)
        ack("trunc", json.dumps(report))


def rebuild(db: remlite.Database, start: int) -> None:
    for n in range(start, 1 << 30):
        db.insert_batch("docs", [s.doc_row(n * 3 + i, "b") for i in range(3)])
        ack("ins", n)
        db.rebuild_index("docs")
        ack("rebuilt", n)
        if n == start:
            ready()  # one whole cycle first: a loaded machine must not leave a run with no rebuild at all


def apply(db: remlite.Database, start: int, log: str) -> None:
    """A replica applying a primary's log (length-prefixed entries in a file) in chunks of 1-40
    entries, acknowledging its last seq after each `apply` returned; from the top again when done."""
    import random
    import struct

    from remlite.storage.changelog import Entry

    data, entries, at = Path(log).read_bytes(), [], 0
    while at < len(data):
        (size,) = struct.unpack_from(">I", data, at)
        entries.append(Entry.from_bytes(data[at + 4 : at + 4 + size]))
        at += 4 + size
    chunks = random.Random(start)
    ready()
    while True:
        position = next((i for i, e in enumerate(entries) if e.seq > db.last_seq), len(entries))
        if position == len(entries):
            ack("done", db.last_seq)
            return
        step = chunks.randint(1, 40)
        db.apply(entries[max(position - 1, 0) : position + step])  # one entry of overlap, as a follower asks
        ack(db.last_seq)


OPS: dict[str, Callable[..., None]] = {
    "upsert": upsert,
    "keyless": keyless,
    "single": single,
    "update": update,
    "delete": delete,
    "edges": edges,
    "schema": schema,
    "drop": drop,
    "reembed": reembed,
    "ingest": ingest,
    "truncate": truncate,
    "rebuild": rebuild,
    "apply": apply,
}

if __name__ == "__main__":
    op, root, start, *rest = sys.argv[1:]
    database = remlite.connect(root, embedder="hash")
    OPS[op](database, int(start), *rest)
