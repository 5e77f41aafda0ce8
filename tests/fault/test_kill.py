"""kill -9 at random moments of every write operation: after each kill the database reopens, every
acknowledged write is there, an interrupted one is either whole or absent, `check()` is ok, no key
outlives its table or index, and find/search answer from the data (search against exact scores).

Each test runs `KILLS` trials (env REMLITE_FAULT_KILLS, default 4) against one database that
accumulates state from trial to trial, as a real crash-looping writer would.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import remlite
from remlite import errors
from tests.fault import schemas as s
from tests.fault.harness import SEED, Run, assert_intact, assert_search_exact, rng_for, run_and_kill

KILLS = int(os.environ.get("REMLITE_FAULT_KILLS", "4"))
QUERIES = ["river stone cloud", "copper lantern meadow signal", "zephyr"]


def reopen(root: Path) -> remlite.Database:
    return remlite.connect(root, embedder="hash")


def killed(run: Run, context: str) -> None:
    assert run.killed, f"{context}: the child ended by itself (exit {run.returncode}):\n{run.stderr[-3000:]}"


def context(op: str, trial: int, run: Run) -> str:
    return f"REMLITE_FAULT_SEED={SEED} {op} trial {trial} (killed {run.delay:.3f}s after ready, acks {run.acks[-3:]})"


def last_chance(trial: int, missing: bool, prefix: str = "") -> str | None:
    """`run_and_kill`'s `after_ack` for a test that must see an acknowledgement (starting with
    `prefix`): on its last trial, if none came yet, the kill waits for one."""
    return prefix if missing and trial == KILLS - 1 else None


def setup(root: Path, *schemas: dict, rows: dict[str, list[dict]] | None = None) -> None:
    with reopen(root) as db:
        for schema in schemas:
            db.register_schema(schema)
        for table, records in (rows or {}).items():
            db.insert_batch(table, records)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "db"


def test_kill_keyed_upsert_batches(root: Path) -> None:
    rng, start, floor = rng_for("upsert"), 0, -1
    for trial in range(KILLS):
        run = run_and_kill("upsert", root, rng, 0.4, str(start), after_ack=last_chance(trial, floor < 0))
        ctx = context("upsert", trial, run)
        killed(run, ctx)
        acked = [int(a) for a in run.acks]
        floor = max([floor, *acked])
        inflight = max(acked) + 1 if acked else start
        with reopen(root) as db:
            rows = list(db.scan("items"))
            if floor < 0 and not rows:
                continue
            versions = {r["v"] for r in rows}
            assert len(rows) == 400 and len(versions) == 1, f"{ctx}: torn upsert batch: {len(rows)} rows, v {versions}"
            v = versions.pop()
            assert floor <= v <= inflight, f"{ctx}: rows at v={v}, acknowledged up to {floor}"
            assert sorted(db.find("items", "v", eq=v)) == sorted(r["id"] for r in rows), ctx
            assert db.find("items", "v", lt=v) == [] and db.count("items") == 400, ctx
            assert_intact(db, ctx)
            floor, start = v, v + 1
    assert floor >= 0, f"REMLITE_FAULT_SEED={SEED}: no upsert batch was ever acknowledged"


def test_kill_keyless_batches(root: Path) -> None:
    rng, start, acked_all = rng_for("keyless"), 0, set()
    for trial in range(KILLS):
        run = run_and_kill("keyless", root, rng, 0.4, str(start), after_ack=last_chance(trial, not acked_all))
        ctx = context("keyless", trial, run)
        killed(run, ctx)
        acked = {int(a) for a in run.acks}
        acked_all |= acked
        inflight = max(acked) + 1 if acked else start
        with reopen(root) as db:
            batches: dict[int, int] = {}
            for record in db.scan("loose"):
                batches[record["batch"]] = batches.get(record["batch"], 0) + 1
            torn = {b: n for b, n in batches.items() if n != 300}
            assert not torn, f"{ctx}: torn batches {torn}"
            assert acked_all <= set(batches), f"{ctx}: acknowledged batches lost: {sorted(acked_all - set(batches))}"
            assert set(batches) <= acked_all | {inflight}, f"{ctx}: batches never written: {set(batches) - acked_all}"
            for b in sorted(batches)[-2:]:
                assert len(db.find("loose", "batch", eq=b)) == 300, ctx
            assert db.count("loose") == 300 * len(batches), ctx
            assert_intact(db, ctx)
            acked_all |= set(batches)
            start = max(batches, default=-1) + 1
    assert acked_all, f"REMLITE_FAULT_SEED={SEED}: nothing acknowledged"


def test_kill_single_inserts(root: Path) -> None:
    rng, start, acked_all = rng_for("single"), 0, set()
    for trial in range(KILLS):
        run = run_and_kill("single", root, rng, 0.3, str(start), after_ack=last_chance(trial, not acked_all))
        ctx = context("single", trial, run)
        killed(run, ctx)
        acked = {int(a) for a in run.acks}
        acked_all |= acked
        inflight = max(acked) + 1 if acked else start
        with reopen(root) as db:
            present = [r["n"] for r in db.scan("singles")]
            assert len(present) == len(set(present)), f"{ctx}: a row written twice"
            assert acked_all <= set(present), f"{ctx}: acknowledged inserts lost: {sorted(acked_all - set(present))}"
            assert set(present) <= acked_all | {inflight}, f"{ctx}: rows never written: {set(present) - acked_all}"
            assert db.count("singles") == len(present), ctx
            for n in sorted(present)[-3:]:
                assert len(db.find("singles", "n", eq=n)) == 1, ctx
            assert_intact(db, ctx)
            acked_all |= set(present)
            start = max(present, default=-1) + 1
    assert acked_all, f"REMLITE_FAULT_SEED={SEED}: nothing acknowledged"


def test_kill_updates(root: Path) -> None:
    setup(root, s.COUNTERS, rows={"counters": [{"key": f"c{i}", "v": -1} for i in range(20)]})
    rng, start = rng_for("update"), 0
    expected = [-1] * 20  # v of the record at sorted-key position i
    for trial in range(KILLS):
        run = run_and_kill("update", root, rng, 0.3, str(start), after_ack=last_chance(trial, max(expected) < 0))
        ctx = context("update", trial, run)
        killed(run, ctx)
        acked = [int(a) for a in run.acks]
        for n in acked:
            expected[n % 20] = max(expected[n % 20], n)
        inflight = max(acked) + 1 if acked else start
        with reopen(root) as db:
            rows = sorted(db.scan("counters"), key=lambda r: r["key"])
            assert len(rows) == 20, ctx
            for i, row in enumerate(rows):
                allowed = {expected[i]} | ({inflight} if inflight % 20 == i else set())
                assert row["v"] in allowed, f"{ctx}: {row['key']} has v={row['v']}, expected one of {allowed}"
                expected[i] = row["v"]
                found = db.find("counters", "v", eq=row["v"])
                assert found == [row["id"]] if row["v"] >= 0 else row["id"] in found, ctx
            assert_intact(db, ctx)
        start = inflight
    assert max(expected) >= 0, f"REMLITE_FAULT_SEED={SEED}: no update acknowledged"


def test_kill_soft_and_hard_deletes(root: Path) -> None:
    setup(root, s.VICTIMS, s.NAMED)
    rng, start, deleted = rng_for("delete"), 0, {}
    for trial in range(KILLS):
        run = run_and_kill("delete", root, rng, 0.3, str(start), after_ack=last_chance(trial, not deleted, "del "))
        ctx = context("delete", trial, run)
        killed(run, ctx)
        for a in run.acks:
            if a.startswith("del "):
                n, rid = json.loads(a[4:])
                deleted[rid] = n
        with reopen(root) as db:
            anchor = db.lookup("anchor")[0]["id"]
            pinned = {e["src"] for e in db.edges(anchor, "in")}
            for rid, n in deleted.items():
                with pytest.raises(errors.NotFound):
                    db.get(rid)
                if n % 2:
                    with pytest.raises(errors.NotFound):
                        db.get(rid, include_deleted=True)
                    assert rid not in pinned, f"{ctx}: hard-deleted {rid} kept its edge"
                else:
                    assert db.get(rid, include_deleted=True)["deleted_at"], ctx
                    assert rid in pinned, f"{ctx}: soft-deleted {rid} lost its edge"
                assert db.search("victims", f"w{n}", mode="text") == [], f"{ctx}: deleted row {n} still found"
            live = list(db.scan("victims"))
            assert db.count("victims") == len(live) and len(live) <= trial + 1, f"{ctx}: live rows {live}"
            for row in live:
                assert [r["id"] for r in db.search("victims", row["word"], mode="text")] == [row["id"]], ctx
            assert_intact(db, ctx)
            every = list(db.scan("victims", include_deleted=True))
            start = max((r["n"] for r in every), default=-1) + 1
    assert deleted, f"REMLITE_FAULT_SEED={SEED}: no delete acknowledged"


def test_kill_edge_writes(root: Path) -> None:
    setup(root, s.NAMED)
    rng, start = rng_for("edges"), 0
    for trial in range(KILLS):
        run = run_and_kill("edges", root, rng, 0.3, str(start), after_ack=last_chance(trial, start == 0))
        ctx = context("edges", trial, run)
        killed(run, ctx)
        last = max([int(a) for a in run.acks], default=start - 1)
        with reopen(root) as db:
            index = {r["id"]: int(r["key"][1:]) for r in db.scan("named")}
            actual = {}
            for rid in index:
                for edge in db.edges(rid, "out"):
                    actual[(index[edge["src"]], index[edge["dst"]], edge["type"])] = edge["properties"]["n"]
            allowed = [s.edges_after(last), s.edges_after(last + 1)]
            assert actual in allowed, f"{ctx}: edges after op {last}: {sorted(actual.items())}"
            assert_intact(db, ctx)
        start = last + 1
    assert start > 0, f"REMLITE_FAULT_SEED={SEED}: no edge operation acknowledged"


def test_kill_schema_upgrades(root: Path) -> None:
    setup(root, s.WIDE_A, rows={"wide": [s.wide_row(i) for i in range(s.WIDE_ROWS)]})
    rows = [s.wide_row(i) for i in range(s.WIDE_ROWS)]
    rng, start, acked_any = rng_for("schema"), 1, False
    for trial in range(KILLS):
        run = run_and_kill("schema", root, rng, 1.2, str(start), after_ack=last_chance(trial, not acked_any))
        ctx = context("schema", trial, run)
        killed(run, ctx)
        acked_any |= bool(run.acks)
        last = max([int(a) for a in run.acks], default=start - 1)
        with reopen(root) as db:
            described = db.schema("wide")
            in_a = described["indexed_fields"] == ["a"]
            assert described["indexed_fields"] in (["a"], ["b"]), f"{ctx}: {described}"
            field, other, text, other_text = ("a", "b", "t1", "t2") if in_a else ("b", "a", "t2", "t1")
            assert described["text_fields"] == [text], f"{ctx}: index {field} in force with text fields {described}"
            by_key = {r["key"]: r["id"] for r in db.scan("wide")}
            assert len(by_key) == s.WIDE_ROWS == db.count("wide"), ctx
            value = 3
            expected = sorted(by_key[r["key"]] for r in rows if r[field] == value)
            assert sorted(db.find("wide", field, eq=value)) == expected, f"{ctx}: find on {field}"
            with pytest.raises(errors.RemliteError):
                db.find("wide", other, eq=value)
            word, modulus = ("alpha3", 7) if in_a else ("beta3", 5)
            hits = db.search("wide", word, k=s.WIDE_ROWS, mode="text")
            truth = sorted(by_key[r["key"]] for r in rows if int(r["key"][1:]) % modulus == 3)
            assert sorted(h["id"] for h in hits) == truth, f"{ctx}: text search on {text}"
            with pytest.raises(errors.RemliteError):
                db.search("wide", word, mode="text", field=other_text)
            assert_intact(db, ctx)
        start = last + 1 if (last + 1) % 2 == (1 if in_a else 0) else last + 2
    assert acked_any, f"REMLITE_FAULT_SEED={SEED}: no schema upgrade acknowledged"


def test_kill_drop_schema(root: Path) -> None:
    setup(root, s.NAMED)
    rng, start, dropped = rng_for("drop"), 0, 0
    for trial in range(KILLS):
        run = run_and_kill("drop", root, rng, 0.8, str(start), after_ack=last_chance(trial, not dropped, "dropped"))
        ctx = context("drop", trial, run)
        killed(run, ctx)
        dropped += sum(a.startswith("dropped") for a in run.acks)
        with reopen(root) as db:
            tids = {str(db._core.registry.get(name).table_id) for name in db._core.registry.names()}
            if "dropme" in db._core.registry.names():
                present = list(db.scan("dropme"))
                assert len(present) in (0, 300) and db.count("dropme") == len(present), f"{ctx}: {len(present)} rows"
                if present:
                    assert_search_exact(db, "dropme", "body", QUERIES, 10, ctx)
            anchor = db.lookup("anchor")[0]["id"]
            assert len(db.edges(anchor, "in")) in (0, 300), ctx
            assert_intact(db, ctx)
            files = sorted(p.name for p in (db.path / "vectors").glob("*.hnsw*"))
            strays = [f for f in files if f.split("-")[0] not in tids]
            assert not strays, f"{ctx}: index files of dropped tables left behind: {strays}"
        start += 1000  # only names the acknowledgements
    assert dropped, f"REMLITE_FAULT_SEED={SEED}: no drop acknowledged"


def test_kill_reembed(root: Path) -> None:
    setup(root, s.DOCS, rows={"docs": [s.doc_row(i) for i in range(s.DOCS_ROWS)]})
    rng, start, version, inserted = rng_for("reembed"), 0, 1, set()
    for trial in range(KILLS):
        run = run_and_kill("reembed", root, rng, 0.6, str(start), after_ack=last_chance(trial, version == 1, "re "))
        ctx = context("reembed", trial, run)
        killed(run, ctx)
        versions = [int(a.split()[1]) for a in run.acks if a.startswith("re ")]
        inserted |= {int(a.split()[1]) for a in run.acks if a.startswith("ins ")}
        with reopen(root) as db:
            fv = db._core.vectors("docs").fields["body"]
            floor = max([version, *versions])
            assert floor <= fv.version <= floor + 1, f"{ctx}: version {fv.version}, acknowledged {floor}"
            version = fv.version
            titles = {r["title"] for r in db.scan("docs")}
            assert {f"r{n}" for n in inserted} <= titles, f"{ctx}: acknowledged inserts lost"
            stored = sum(1 for _ in db._core.store.iter_prefix("vectors", fv.prefix))
            assert stored == db.count("docs") == len(titles), f"{ctx}: {stored} vectors for {len(titles)} rows"
            assert_search_exact(db, "docs", "body", QUERIES, 10, ctx)
            top = db.search("docs", s.body(7), k=1)
            assert top and top[0]["title"] in ("d7", "r7"), f"{ctx}: own text does not find d7: {top}"
            assert_intact(db, ctx)
            start = max((int(t[1:]) for t in titles if t.startswith("r")), default=start - 1) + 1
    assert version > 1, f"REMLITE_FAULT_SEED={SEED}: no re-embed acknowledged"


def test_kill_ingest_with_prune(root: Path, tmp_path: Path) -> None:
    directory = tmp_path / "files"
    directory.mkdir()
    for n in range(8):
        for name, content in s.ingest_files(n).items():
            if content is None:
                (directory / name).unlink(missing_ok=True)
            else:
                (directory / name).write_text(content)
    rng, start, acked_any = rng_for("ingest"), 8, False
    for trial in range(KILLS):
        run = run_and_kill(
            "ingest", root, rng, 0.8, str(start), str(directory), after_ack=last_chance(trial, not acked_any)
        )
        ctx = context("ingest", trial, run)
        killed(run, ctx)
        acked_any |= bool(run.acks)
        with reopen(root) as db:
            assert_intact(db, ctx + " (before re-ingest)")
            # a kill before the child's first ingest registered `documents` leaves no such table yet
            registered = {t["name"] for t in db.schemas()}
            for doc in db.scan("documents") if "documents" in registered else []:
                if doc["status"] == "complete":
                    linked = db.edges(doc["id"], "out", type="has_chunk")
                    assert len(linked) == doc["chunk_count"], f"{ctx}: complete document {doc['uri']} lacks chunks"
            db.ingest([directory], glob="*.md", chunk_size=200, overlap=20, prune=True)
            files = {p.as_uri(): p.read_bytes() for p in directory.glob("*.md")}
            docs = {d["uri"]: d for d in db.scan("documents")}
            assert set(docs) == set(files), f"{ctx}: documents {sorted(docs)} vs files {sorted(files)}"
            chunks: dict[str, list[dict]] = {}
            for chunk in db.scan("resources"):
                chunks.setdefault(chunk["uri"], []).append(chunk)
            assert set(chunks) == set(files), f"{ctx}: chunks of deleted files remain: {set(chunks) - set(files)}"
            for uri, data in files.items():
                doc = docs[uri]
                assert doc["status"] == "complete" and doc["sha256"] == hashlib.sha256(data).hexdigest(), ctx
                assert len(chunks[uri]) == doc["chunk_count"], f"{ctx}: {uri}"
                text = data.decode()
                for chunk in chunks[uri]:
                    assert chunk["content"] == text[chunk["offset_start"] : chunk["offset_end"]], f"{ctx}: {uri}"
                marker = text.split("Unique marker ")[1].split()[0]
                hits = db.search("resources", marker, k=5, mode="text")
                assert hits and {h["uri"] for h in hits} == {uri}, f"{ctx}: {marker} -> {[h['uri'] for h in hits]}"
            assert_search_exact(db, "resources", "content", QUERIES, 10, ctx)
            assert_intact(db, ctx)
        start = max([int(a) for a in run.acks], default=start - 1) + 1
    assert acked_any, f"REMLITE_FAULT_SEED={SEED}: no ingest acknowledged"


def test_kill_truncate_wal(root: Path) -> None:
    setup(root, s.DOCS, rows={"docs": [s.doc_row(i) for i in range(s.DOCS_ROWS)]})
    rng, start, last_seq, first_seq, inserted = rng_for("truncate"), 0, 0, 1, set()
    for trial in range(KILLS):
        run = run_and_kill("truncate", root, rng, 0.5, str(start), after_ack=last_chance(trial, not inserted, "ins "))
        ctx = context("truncate", trial, run)
        killed(run, ctx)
        for a in run.acks:
            tag, _, rest = a.partition(" ")
            if tag == "ins":
                n, seq = map(int, rest.split())
                inserted.add(n)
                last_seq = max(last_seq, seq)
            else:
                report = json.loads(rest)
                first_seq, last_seq = max(first_seq, report["first_seq"]), max(last_seq, report["last_seq"])
        with reopen(root) as db:
            assert db.last_seq >= last_seq, f"{ctx}: last_seq went back from {last_seq} to {db.last_seq}"
            assert db.first_seq >= first_seq, f"{ctx}: truncated entries came back ({db.first_seq} < {first_seq})"
            seqs = [e["seq"] for e in db.wal(None, 100_000)]
            assert seqs == sorted(set(seqs)) and (not seqs or seqs[0] >= db.first_seq), ctx
            assert not seqs or seqs[-1] == db.last_seq, ctx
            titles = {r["title"] for r in db.scan("docs")}
            missing = {f"t{n * 10 + i}" for n in inserted for i in range(10)} - titles
            assert not missing, f"{ctx}: acknowledged rows lost: {sorted(missing)[:5]}"
            assert_search_exact(db, "docs", "body", QUERIES, 10, ctx)
            before = db.last_seq
            db.insert("docs", s.doc_row(10**6 + trial, "probe"))
            assert db.wal(before, 10)[0]["seq"] == before + 1, f"{ctx}: sequence numbers restarted"
            last_seq = db.last_seq
            assert_intact(db, ctx)
            start = max((int(t[1:]) // 10 for t in titles if t.startswith("t")), default=start - 1) + 1
    assert inserted, f"REMLITE_FAULT_SEED={SEED}: nothing acknowledged"


def test_kill_index_rebuild(root: Path) -> None:
    setup(root, s.DOCS, rows={"docs": [s.doc_row(i) for i in range(s.DOCS_ROWS)]})
    rng, start, rebuilt = rng_for("rebuild"), 0, 0
    for trial in range(KILLS):
        run = run_and_kill("rebuild", root, rng, 0.6, str(start), after_ack=last_chance(trial, not rebuilt, "rebuilt"))
        ctx = context("rebuild", trial, run)
        killed(run, ctx)
        rebuilt += sum(a.startswith("rebuilt") for a in run.acks)
        inserted = {int(a.split()[1]) for a in run.acks if a.startswith("ins ")}
        with reopen(root) as db:
            titles = {r["title"] for r in db.scan("docs")}
            missing = {f"b{n * 3 + i}" for n in inserted for i in range(3)} - titles
            assert not missing, f"{ctx}: acknowledged rows lost: {sorted(missing)}"
            assert_search_exact(db, "docs", "body", QUERIES, 10, ctx)
            assert_intact(db, ctx)
            start = max((int(t[1:]) // 3 for t in titles if t.startswith("b")), default=start - 1) + 1
    assert rebuilt, f"REMLITE_FAULT_SEED={SEED}: no rebuild acknowledged"
