"""`Database.ingest` and `remlite ingest`: formats, directories, idempotency, minimal rewrites, bad files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import remlite
from remlite.cli.app import app
from remlite.embed.hashing import HashProvider
from remlite.errors import InvalidInput, NotFound, RemliteError, UnknownTable
from remlite.ingest.formats import parse
from remlite.ingest.report import Progress

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
NOTES = {
    "name": "notes",
    "type": "object",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["title"],
}
PEOPLE = {
    "name": "people",
    "type": "object",
    "properties": {"email": {"type": "string"}, "name": {"type": "string"}},
    "required": ["email", "name"],
    "key_field": "email",
}
PARAGRAPHS = [
    f"Paragraph {n} opens with a sentence about topic {n}. It closes with another sentence, number {n}."
    for n in range(8)
]


class CountingHash(HashProvider):
    """The hash provider, counting the texts it embeds (one list per model call)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def _embed(self, texts: list[str]) -> Any:
        self.calls.append(list(texts))
        return super()._embed(texts)


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal hand-built PDF: one Helvetica text line per input line, one page per string."""

    def esc(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids = []
    for n, text in enumerate(pages):
        page, content = 5 + 2 * n, 6 + 2 * n
        kids.append(f"{page} 0 R")
        stream = (
            "BT /F1 12 Tf 14 TL 72 720 Td " + " ".join(f"({esc(x)}) Tj T*" for x in text.split("\n")) + " ET"
        ).encode()
        objects[page] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>"
        ).encode()
        objects[content] = f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects[4] = f"<< /Title ({esc(title)}) >>".encode() if title else b"<< >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref, size = len(out), max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[n]:010d} 00000 n \n".encode() for n in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def embedder() -> CountingHash:
    return CountingHash()


@pytest.fixture
def db(tmp_path: Path, embedder: CountingHash) -> Iterator[remlite.Database]:
    database = remlite.connect(tmp_path / "db", embedder=embedder)
    yield database
    database.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(FIXTURES / "docs", target)
    return target


def chunks_of(db: remlite.Database, path: Path) -> list[dict[str, Any]]:
    rows = db.find("resources", "uri", eq=path.resolve().as_uri(), fetch=True)
    return sorted(rows, key=lambda r: r["chunk_ordinal"])


def document(db: remlite.Database, path: Path) -> dict[str, Any]:
    (doc,) = [d for d in db.lookup(path.resolve().as_uri()) if d["_table"] == "documents"]
    return doc


def assert_linked(db: remlite.Database, path: Path) -> None:
    """The document record links exactly its live chunks, and its count agrees."""
    doc = document(db, path)
    chunks = chunks_of(db, path)
    assert {e["dst"] for e in db.edges(doc["id"], "out", "has_chunk")} == {c["id"] for c in chunks}
    assert doc["chunk_count"] == len(chunks) and doc["status"] == "complete"
    assert [c["chunk_ordinal"] for c in chunks] == list(range(len(chunks)))


# --------------------------------------------------------------------------- formats
def test_markdown_chunks_carry_offsets_headings_title_and_deterministic_ids(db: remlite.Database, docs: Path) -> None:
    guide = docs / "guide.md"
    report = db.ingest(guide, chunk_size=64, overlap=12)
    assert (report.files, report.changed_files, report.skipped) == (1, 1, [])
    chunks = chunks_of(db, guide)
    assert report.new == len(chunks) == 5
    source = guide.read_text()
    for c in chunks:
        assert source[c["offset_start"] : c["offset_end"]] == c["content"]
        assert c["title"] == "The remlite Guide" and c["content_type"] == "text/markdown" and c["page"] is None
        assert c["uri"] == guide.resolve().as_uri()
    assert chunks[3]["heading_path"] == ["Getting started", "Ingesting files", "Re-ingesting"]
    assert chunks[4]["heading_path"] == ["Questions"]
    key = db.lookup(guide.resolve().as_uri())
    assert {r["id"] for r in key if r["_table"] == "resources"} == {c["id"] for c in chunks}
    assert_linked(db, guide)


def test_text_and_html(db: remlite.Database, docs: Path) -> None:
    notes, page = docs / "nested" / "notes.txt", docs / "nested" / "page.html"
    report = db.ingest([notes, page], chunk_size=25, overlap=0)
    assert report.files == 2 and not report.skipped
    text_chunks = chunks_of(db, notes)
    assert [c["content"] for c in text_chunks] == [p.strip() for p in notes.read_text().split("\n\n")]
    assert text_chunks[0]["title"] == "notes" and text_chunks[0]["heading_path"] == []
    html_chunks = chunks_of(db, page)
    extracted = parse(page, page.read_bytes(), "text/html").text
    for c in html_chunks:  # HTML offsets index the extracted text
        assert extracted[c["offset_start"] : c["offset_end"]] == c["content"]
        assert c["title"] == "Release notes" and c["content_type"] == "text/html"
    assert [c["heading_path"] for c in html_chunks] == [["Release notes"], ["Release notes", "Fixes"]]
    assert "tracking" not in " ".join(c["content"] for c in html_chunks)


def test_pdf_pages(db: remlite.Database, tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(
        make_pdf(["Page one speaks of graphs.\nEdges link records.", "", "Page three (last) ends it."], "A Paper")
    )
    report = db.ingest(pdf)
    chunks = chunks_of(db, pdf)
    assert report.new == 2 and [c["page"] for c in chunks] == [1, 3]  # an empty page gives no chunk
    assert chunks[0]["content"] == "Page one speaks of graphs.\nEdges link records."
    assert chunks[1]["content"] == "Page three (last) ends it."
    assert {c["title"] for c in chunks} == {"A Paper"} and chunks[0]["content_type"] == "application/pdf"
    text = parse(pdf, pdf.read_bytes(), "application/pdf").text
    assert all(text[c["offset_start"] : c["offset_end"]] == c["content"] for c in chunks)
    assert db.ingest(pdf).written == 0


def test_jsonl_records_inserted_as_they_are_and_synced(db: remlite.Database, tmp_path: Path) -> None:
    db.register_schema(NOTES)
    source = tmp_path / "records.jsonl"
    shutil.copy(FIXTURES / "records.jsonl", source)
    report = db.ingest(source, table="notes")
    assert (report.new, report.skipped) == (3, [])
    rows = {r["title"]: r for r in db.list("notes")}
    assert {k: rows["Second note"][k] for k in ("title", "body", "score")} == {
        "title": "Second note",
        "body": "Beta",
        "score": 2,
    }
    seq = db.last_seq
    assert db.ingest(source, table="notes").unchanged == 3 and db.last_seq == seq
    # keyless rows get ids derived from uri + position: an edit upserts, a dropped line is removed
    source.write_text(
        '{"title": "First note", "body": "Alpha", "score": 1}\n{"title": "Second note", "body": "B2", "score": 2}\n'
    )
    report = db.ingest(source, table="notes")
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 1, 1, 1)
    after = {r["title"]: r for r in db.list("notes")}
    assert set(after) == {"First note", "Second note"} and after["Second note"]["id"] == rows["Second note"]["id"]
    doc = document(db, source)
    assert doc["content_type"] == "application/jsonl" and doc["chunk_table"] == "notes"
    assert {e["dst"] for e in db.edges(doc["id"], "out", "has_chunk")} == {r["id"] for r in after.values()}


def test_jsonl_keyed_records_shared_by_two_files_are_unlinked_not_deleted(db: remlite.Database, tmp_path: Path) -> None:
    db.register_schema(PEOPLE)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"email": "ann@x.org", "name": "Ann"}\n{"email": "bob@x.org", "name": "Bob"}\n')
    b.write_text('{"email": "bob@x.org", "name": "Bob"}\n')
    db.ingest([a, b], table="people")
    a.write_text('{"email": "ann@x.org", "name": "Ann"}\n')
    report = db.ingest(a, table="people")
    assert report.removed == 0 and report.unchanged == 1
    (bob,) = db.lookup("bob@x.org")
    assert [e["src"] for e in db.edges(bob["id"], "in", "has_chunk")] == [document(db, b)["id"]]
    b.write_text("")
    assert db.ingest(b, table="people").removed == 1 and db.lookup("bob@x.org") == []


# --------------------------------------------------------------------------- directories
def test_directory_walk_skips_hidden_and_unknown_files(db: remlite.Database, docs: Path) -> None:
    report = db.ingest(docs)
    names = sorted(Path(d["path"]).name for d in db.list("documents"))
    assert names == ["guide.md", "notes.txt", "page.html"]  # not .hidden/secret.md, not data.bin
    assert report.files == 3 and report.skipped == []


def test_glob_filters_and_explicit_unknown_files_are_read_as_text(db: remlite.Database, docs: Path) -> None:
    assert db.ingest(docs, glob="*.md").files == 1
    assert db.ingest(docs, glob=["nested/*.txt", "*.html"]).files == 2
    assert db.ingest(docs / "nested" / "data.bin").files == 1
    assert chunks_of(db, docs / "nested" / "data.bin")[0]["content"] == "a file with an unknown extension"


def test_prune_removes_what_came_from_deleted_files(db: remlite.Database, docs: Path, tmp_path: Path) -> None:
    db.register_schema(PEOPLE)
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("# Elsewhere\n\nA file outside the pruned directory.")
    shared_a, shared_b = docs / "a.jsonl", docs / "b.jsonl"
    shared_a.write_text('{"email": "ann@x.org", "name": "Ann"}\n{"email": "bob@x.org", "name": "Bob"}\n')
    shared_b.write_text('{"email": "bob@x.org", "name": "Bob"}\n')
    db.ingest([docs, elsewhere])
    db.ingest([shared_a, shared_b], table="people")
    page = docs / "nested" / "page.html"
    gone_chunks = [c["id"] for path in (docs / "guide.md", page) for c in chunks_of(db, path)]
    before = db.count("resources")
    (docs / "guide.md").unlink()
    page.unlink()
    elsewhere.unlink()  # gone too, but not under a directory being pruned: kept
    assert db.ingest(docs).pruned == 0  # prune is opt-in
    report = db.ingest([docs, docs, docs / "nested"], prune=True)  # overlapping roots: each pruned once
    assert report.pruned == 2 and report.removed == len(gone_chunks) > 0 and report.files == 1
    assert db.get_batch(gone_chunks) == [None] * len(gone_chunks)
    assert db.count("resources") == before - len(gone_chunks)
    assert sorted(Path(d["path"]).name for d in db.list("documents") if d["chunk_table"] == "resources") == [
        "elsewhere.md",
        "notes.txt",
    ]
    assert db.ingest(docs, prune=True).pruned == 0  # nothing left to prune
    shared_a.unlink()  # Bob is also linked from b.jsonl: unlinked, not deleted; Ann goes
    report = db.ingest(docs, table="people", glob="*.jsonl", prune=True)
    assert (report.pruned, report.removed) == (1, 1)
    assert db.lookup("ann@x.org") == [] and db.lookup("bob@x.org")[0]["name"] == "Bob"
    assert db.check()["ok"]


def test_a_missing_path_is_an_error_and_nothing_is_ingested(db: remlite.Database, docs: Path) -> None:
    """A mistyped path must not look like an ingest that found nothing to do."""
    before = db.last_seq
    with pytest.raises(NotFound, match=r"nope\.md: no such file or directory") as caught:
        db.ingest([docs / "guide.md", docs / "nope.md"])
    assert caught.value.details["paths"] == [str(docs / "nope.md")]
    assert db.last_seq == before and db.count("resources") == 0  # checked before anything is read


# --------------------------------------------------------------------------- idempotency and minimal rewrites
def test_second_ingest_writes_nothing(db: remlite.Database, docs: Path, embedder: CountingHash) -> None:
    first = db.ingest(docs, chunk_size=38, overlap=10)
    seq, calls = db.last_seq, len(embedder.calls)
    second = db.ingest(docs, chunk_size=38, overlap=10)
    assert db.last_seq == seq and len(embedder.calls) == calls
    assert (second.new, second.updated, second.moved, second.removed, second.changed_files) == (0, 0, 0, 0, 0)
    assert second.unchanged == first.new and second.files == 3
    assert db.check()["ok"]


def _paragraph_doc(path: Path, paragraphs: list[str]) -> None:
    path.write_text("\n\n".join(paragraphs) + "\n")


def test_editing_one_paragraph_rewrites_only_its_chunk(
    db: remlite.Database, tmp_path: Path, embedder: CountingHash
) -> None:
    doc = tmp_path / "story.txt"
    _paragraph_doc(doc, PARAGRAPHS)
    db.ingest(doc, chunk_size=36, overlap=7)
    before = {c["id"]: c for c in chunks_of(db, doc)}
    assert len(before) == 8  # one paragraph per chunk
    edited = list(PARAGRAPHS)
    edited[3] = edited[3].replace("topic 3", "TOPIC 3")  # same length: offsets do not move
    _paragraph_doc(doc, edited)
    embedder.calls.clear()
    report = db.ingest(doc, chunk_size=36, overlap=7)
    assert (report.new, report.updated, report.moved, report.unchanged, report.removed) == (0, 1, 0, 7, 0)
    after = {c["id"]: c for c in chunks_of(db, doc)}
    changed = {i for i in after if after[i]["modified_at"] != before[i]["modified_at"]}
    assert changed == {c["id"] for c in before.values() if c["chunk_ordinal"] == 3}
    assert embedder.calls == [[edited[3]]]  # one model call, for that chunk only
    assert_linked(db, doc)


def test_an_edit_that_shifts_offsets_moves_later_chunks_without_reembedding(
    db: remlite.Database, tmp_path: Path, embedder: CountingHash
) -> None:
    doc = tmp_path / "story.txt"
    _paragraph_doc(doc, PARAGRAPHS)
    db.ingest(doc, chunk_size=36, overlap=7)
    before = {c["chunk_ordinal"]: c for c in chunks_of(db, doc)}
    edited = list(PARAGRAPHS)
    edited[5] = edited[5].replace("topic 5", "the fifth topic")  # longer: paragraphs 6 and 7 move
    _paragraph_doc(doc, edited)
    embedder.calls.clear()
    report = db.ingest(doc, chunk_size=36, overlap=7)
    assert (report.updated, report.moved, report.unchanged) == (1, 2, 5)
    after = {c["chunk_ordinal"]: c for c in chunks_of(db, doc)}
    assert {n for n in after if after[n]["modified_at"] != before[n]["modified_at"]} == {5, 6, 7}
    assert embedder.calls == [[edited[5]]]  # moved chunks keep their stored embedding
    text = doc.read_text()
    assert all(text[c["offset_start"] : c["offset_end"]] == c["content"] for c in after.values())
    hits = db.search("resources", edited[7], k=1)
    assert hits[0]["id"] == after[7]["id"]  # the moved chunk is still found by its vector


def _long_paragraph(n: int, seed: str = "") -> str:
    """A paragraph of `n` sentences that differ from each other (so chunks are found by content)."""
    return " ".join(
        f"Sentence {k}{seed} explains how the {['cache', 'index', 'log', 'store'][k % 4]} handles case {k * 7 % 13} "
        f"when item {k} arrives late."
        for k in range(n)
    )


def test_a_one_word_edit_in_a_long_paragraph_rewrites_at_most_two_chunks(
    db: remlite.Database, tmp_path: Path, embedder: CountingHash
) -> None:
    """Issue 15: editing one word of a paragraph rewrote all 8 of its chunks (greedy packing moved
    every later boundary). With content-defined boundaries a one-word edit — replaced, inserted or
    deleted — rewrites and embeds again the chunk holding it and at most one more."""
    doc = tmp_path / "guide.md"
    paragraph = _long_paragraph(90)
    doc.write_text(f"# Guide\n\nAn introduction.\n\n## Details\n\n{paragraph}\n\nA closing paragraph.\n")
    first = db.ingest(doc)  # the default size: 256 tokens, 4 characters each with the hash provider
    assert first.new >= 8
    text = doc.read_text()
    for old, new in (("case 5", "case five"), ("item 31 ", "item 31 really "), ("how the store", "how store")):
        text = text.replace(old, new, 1)
        doc.write_text(text)
        embedder.calls.clear()
        report = db.ingest(doc)
        assert report.changed_files == 1 and report.new + report.updated <= 2, (old, report)
        assert sum(len(call) for call in embedder.calls) == report.new + report.updated <= 2
        assert report.chunks == len(chunks_of(db, doc))
        assert_linked(db, doc)
    assert [c["content"] for c in chunks_of(db, doc)] == [
        text[c["offset_start"] : c["offset_end"]] for c in chunks_of(db, doc)
    ]


def test_chunks_shifted_to_other_ordinals_keep_their_embeddings(
    db: remlite.Database, tmp_path: Path, embedder: CountingHash
) -> None:
    """A paragraph added at the top moves every later chunk to another ordinal (so another id): each
    is written with the vectors its text had, not embedded again, and counted as moved."""
    doc = tmp_path / "story.md"
    body = "\n\n".join(_long_paragraph(25, f"/{p}") for p in range(4))
    doc.write_text(body + "\n")
    db.ingest(doc, chunk_size=64)
    before = chunks_of(db, doc)
    added = "A new opening paragraph. " + _long_paragraph(12, "/new")
    doc.write_text(added + "\n\n" + body + "\n")
    embedder.calls.clear()
    report = db.ingest(doc, chunk_size=64)
    after = chunks_of(db, doc)
    fresh = [c for c in after if c["content"] not in {b["content"] for b in before}]
    assert fresh and report.new + report.updated == len(fresh) and report.moved >= len(before) - 1
    assert sorted(t for call in embedder.calls for t in call) == sorted(c["content"] for c in fresh)
    for chunk in (after[-1], after[len(after) // 2]):
        hits = db.search("resources", chunk["content"], k=1)
        assert hits[0]["id"] == chunk["id"]  # found by the vector its text had under its old ordinal
    assert_linked(db, doc) or db.check()["ok"]


def test_shortened_file_removes_surplus_chunks(db: remlite.Database, tmp_path: Path) -> None:
    doc = tmp_path / "story.txt"
    _paragraph_doc(doc, PARAGRAPHS)
    db.ingest(doc, chunk_size=30, overlap=0)
    old_ids = {c["chunk_ordinal"]: c["id"] for c in chunks_of(db, doc)}
    _paragraph_doc(doc, PARAGRAPHS[:5])
    report = db.ingest(doc, chunk_size=30, overlap=0)
    assert (report.removed, report.unchanged) == (3, 5)
    for ordinal in (5, 6, 7):
        with pytest.raises(remlite.NotFound):
            db.get(old_ids[ordinal], include_deleted=True)  # hard-deleted
    assert_linked(db, doc)
    assert db.count("resources") == 5 and db.check()["ok"]


def test_new_chunking_parameters_rechunk_an_unchanged_file(db: remlite.Database, docs: Path) -> None:
    guide = docs / "guide.md"
    db.ingest(guide, chunk_size=250, overlap=25)
    report = db.ingest(guide, chunk_size=30, overlap=0)
    assert report.changed_files == 1 and report.chunks == len(chunks_of(db, guide)) > 5
    assert_linked(db, guide)


# --------------------------------------------------------------------------- bad files and interruptions
def test_bad_files_are_skipped_with_reasons_and_the_rest_ingests(db: remlite.Database, docs: Path) -> None:
    db.register_schema(NOTES)
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a PDF")
    (docs / "binary.md").write_bytes(b"\x00\x01\x02")
    unreadable = docs / "locked.txt"
    unreadable.write_text("secret")
    unreadable.chmod(0)
    try:
        report = db.ingest(docs)
    finally:
        unreadable.chmod(0o644)
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert reasons["latin1.txt"].startswith("not UTF-8 text")
    assert reasons["broken.pdf"].startswith("broken PDF")
    assert reasons["binary.md"].startswith("binary file")
    if "locked.txt" in reasons:  # root can read a mode-000 file
        assert reasons["locked.txt"].startswith("cannot read")
    assert report.files >= 3 and {Path(d["path"]).name for d in db.list("documents")} >= {"guide.md", "page.html"}
    bad = docs / "bad.jsonl"
    bad.write_text('{"title": "ok"}\n{"body": "no title"}\n')
    report = db.ingest(bad, table="notes")
    assert report.files == 0 and "record 2" in report.skipped[0][1] and db.count("notes") == 0


def test_an_interrupted_ingest_leaves_a_pending_document_that_the_next_run_completes(
    db: remlite.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "story.txt"
    _paragraph_doc(doc, PARAGRAPHS)
    db.ingest(doc, chunk_size=30, overlap=0)
    _paragraph_doc(doc, [*PARAGRAPHS[:3], "A brand new paragraph replaces the rest."])

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(db, "delete", crash)  # dies after the changed chunks were written
    with pytest.raises(RuntimeError):
        db.ingest(doc, chunk_size=30, overlap=0)
    assert document(db, doc)["status"] == "pending"
    monkeypatch.undo()
    report = db.ingest(doc, chunk_size=30, overlap=0)
    assert report.removed == 4 and report.changed_files == 1
    assert [c["content"] for c in chunks_of(db, doc)] == [*PARAGRAPHS[:3], "A brand new paragraph replaces the rest."]
    assert_linked(db, doc)


def test_a_new_document_interrupted_before_its_commit_is_found_again(
    db: remlite.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "story.txt"
    _paragraph_doc(doc, PARAGRAPHS)
    insert = db.insert

    def crash(table: str, record: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        if table == "documents" and record["status"] == "complete":
            raise RuntimeError("power cut")
        return insert(table, record, *args, **kwargs)

    monkeypatch.setattr(db, "insert", crash)  # the chunks are written, the document is pending
    with pytest.raises(RuntimeError):
        db.ingest(doc, chunk_size=30, overlap=0)
    monkeypatch.undo()
    assert db.count("resources") == 8 and [d["status"] for d in db.scan("documents")] == ["pending"]
    _paragraph_doc(doc, PARAGRAPHS[:6])  # and the file shrank meanwhile
    report = db.ingest(doc, chunk_size=30, overlap=0)
    assert (report.new, report.unchanged, report.removed) == (0, 6, 2)
    assert_linked(db, doc)


def test_argument_errors(db: remlite.Database, docs: Path) -> None:
    with pytest.raises(UnknownTable):
        db.ingest(docs, table="nope")
    with pytest.raises(InvalidInput, match="overlap must leave at least 16 tokens"):
        db.ingest(docs, chunk_size=100, overlap=100)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidInput, match="chunk_size"):
            db.ingest(docs, chunk_size=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        db.ingest(docs, table="documents")
    assert db.count("resources") == 0


def test_sizes_are_the_local_models_tokens_capped_by_its_window(tmp_path: Path, docs: Path) -> None:
    """With the local model, chunks are sized in its WordPiece tokens: each one, counted as the model
    reads it ([CLS] and [SEP] included), fits its 256-token window, so all of the text is embedded; a
    size beyond the window is refused (sizes were characters before), nothing written."""
    from remlite.embed.local import LocalProvider

    model = LocalProvider()
    guide = docs / "long.md"
    code = "\n".join(f"result_{n} = compute(alpha={n}, beta='{n * 3}')  # step {n}" for n in range(120))
    guide.write_text(f"# Long\n\n{_long_paragraph(80)}\n\n```python\n{code}\n```\n")
    with remlite.connect(tmp_path / "local", embedder=model) as db:
        seq = db.last_seq
        with pytest.raises(InvalidInput, match=r"chunk_size is in tokens .* at most 256 .* got 1000"):
            db.ingest(guide, chunk_size=1000)
        assert db.last_seq == seq
        report = db.ingest(guide)
        chunks = chunks_of(db, guide)
        counts = model.token_counts([c["content"] for c in chunks])
        assert report.new == len(chunks) > 8 and max(counts) <= 256
        assert document(db, guide)["params"] == {
            "chunk_size": 256, "overlap": 25, "measure": f"tokens of local/{model.model}", "chunker": 3
        }  # fmt: skip
        again = db.ingest(guide, chunk_size=128, overlap=0)
        assert again.changed_files == 1 and max(model.token_counts([c["content"] for c in chunks_of(db, guide)])) <= 128


def test_a_provider_without_a_tokenizer_is_measured_in_characters(db: remlite.Database, docs: Path) -> None:
    guide = docs / "guide.md"
    db.ingest(guide, chunk_size=40, overlap=5)
    params = document(db, guide)["params"]
    assert params == {"chunk_size": 160, "overlap": 20, "measure": "characters (4 a token)", "chunker": 3}
    assert max(len(c["content"]) for c in chunks_of(db, guide)) <= 160


def test_a_user_table_named_documents_is_refused(tmp_path: Path, docs: Path) -> None:
    with remlite.connect(tmp_path / "other", embedder="hash") as db:
        db.register_schema({"name": "documents", "type": "object", "properties": {"x": {"type": "string"}}})
        with pytest.raises(RemliteError, match="documents"):
            db.ingest(docs)


def test_progress_is_reported_per_file(db: remlite.Database, docs: Path) -> None:
    events: list[Progress] = []
    db.ingest([docs], progress=events.append)
    assert [e.files_done for e in events] == [1, 2, 3] and {e.files_total for e in events} == {3}
    total = sum(Path(e.path).stat().st_size for e in events)  # the files taken (not data.bin, not hidden ones)
    assert {e.bytes_total for e in events} == {total} and events[-1].bytes_done == total  # an ETA's measure
    assert [e.bytes_done for e in events] == sorted(e.bytes_done for e in events)
    assert events[-1].chunks_done == db.count("resources")


# --------------------------------------------------------------------------- CLI
def test_cli_ingest_through_the_library(tmp_path: Path, docs: Path) -> None:
    runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None, "REMLITE_EMBED_PROVIDER": "hash"})
    root = tmp_path / "clidb"
    args = ["ingest", str(docs), "--chunk-size", "75", "--overlap", "12", "--path", str(root)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["files"] == 3 and report["new"] == report["chunks"] > 0 and report["skipped"] == []
    with remlite.connect(root) as db:
        assert db.count("resources") == report["chunks"] and db.count("documents") == 3
    human = runner.invoke(app, [*args, "--glob", "*.md"])
    assert human.exit_code == 0, human.output
    assert "ingested 1 files into resources (0 changed)" in human.stdout
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--path", str(root)])
    assert missing.exit_code == 5 and "no such file" in missing.output and len(missing.output.splitlines()) == 1
    (docs / "nested" / "notes.txt").unlink()
    pruned = runner.invoke(app, ["ingest", str(docs), "--prune", "--json", "--path", str(root)])
    assert pruned.exit_code == 0 and json.loads(pruned.stdout)["pruned"] == 1
    unknown = runner.invoke(app, ["ingest", str(docs), "--table", "nope", "--path", str(root)])
    assert unknown.exit_code == 4 and unknown.stderr.startswith("error: ")


def test_ingest_logs_to_the_remlite_logger(db: remlite.Database, docs: Path, caplog: pytest.LogCaptureFixture) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with caplog.at_level("DEBUG", logger="remlite.ingest"):
        report = db.ingest(docs)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "remlite.ingest"]
    assert messages[0] == ("INFO", f"ingesting {report.files + len(report.skipped)} files into resources")
    assert any(level == "WARNING" and "broken.pdf" in text for level, text in messages)
    assert sum(level == "DEBUG" for level, _ in messages) == report.files
    assert messages[-1] == ("INFO", report.summary())


# --------------------------------------------------------------------------- metadata at ingest
def test_metadata_reaches_every_chunk_and_the_document(db: remlite.Database, docs: Path) -> None:
    db.ingest(docs / "guide.md", metadata={"category": "manual", "tags": ["onboarding"], "team": "docs"})
    chunks = chunks_of(db, docs / "guide.md")
    assert chunks and all(c["category"] == "manual" for c in chunks)  # a declared field: set as it is
    rest = {"tags": ["onboarding"], "team": "docs", "author": "test"}  # author: the file's front matter
    assert all(c["metadata"] == rest for c in chunks)  # the keys the table does not declare
    assert document(db, docs / "guide.md")["metadata"] == {"category": "manual", **rest}
    assert db.search("resources", "guide", 50, where="category = 'manual'")


def test_changed_metadata_updates_chunks_without_embedding_again(
    db: remlite.Database, docs: Path, embedder: CountingHash
) -> None:
    db.ingest(docs, metadata={"category": "a"})
    seq, calls = db.last_seq, len(embedder.calls)
    again = db.ingest(docs, metadata={"category": "a"})
    assert db.last_seq == seq and again.changed_files == 0  # the same metadata: nothing to do
    changed = db.ingest(docs, metadata={"category": "b"})
    assert len(embedder.calls) == calls  # no chunk embedded again
    assert changed.updated == 0 and changed.new == 0 and changed.moved > 0
    assert {c["category"] for c in chunks_of(db, docs / "guide.md")} == {"b"}


def test_fields_set_on_chunks_afterwards_survive_a_re_ingest(db: remlite.Database, docs: Path) -> None:
    path = docs / "guide.md"
    db.ingest(path)
    first = {c["id"] for c in chunks_of(db, path)}
    for rid in first:
        db.update(rid, {"category": "curated", "metadata": {"reviewed": True}})
    path.write_text("# Guide\n\nAll new text in every paragraph now.\n\nAnother new paragraph.\n")
    report = db.ingest(path)
    assert report.changed_files == 1 and report.updated > 0
    kept = [c for c in chunks_of(db, path) if c["id"] in first]
    assert kept and all(c["category"] == "curated" and c["metadata"] == {"reviewed": True} for c in kept)


def test_front_matter_is_metadata_of_its_file(db: remlite.Database, tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text(
        "---\ntitle: Release notes\ncategory: changelog\ntags: [v2, api]\ndate: 2025-10-01\n---\n\n# Notes\n\nText.\n"
    )
    db.ingest(note, metadata={"category": "ignored for this file", "team": "core"})
    chunk = chunks_of(db, note)[0]
    assert chunk["title"] == "Release notes" and chunk["category"] == "changelog"  # the file's own wins
    assert chunk["metadata"] == {"tags": ["v2", "api"], "date": "2025-10-01", "team": "core"}


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [("x", "a dict"), ({1: "x"}, "keys"), ({"content": "x"}, "content"), ({"f": float("nan")}, "JSON")],
)
def test_bad_metadata_is_refused_before_anything_is_written(
    db: remlite.Database, docs: Path, metadata: Any, problem: str
) -> None:
    before = db.last_seq
    with pytest.raises(InvalidInput, match=problem):
        db.ingest(docs, metadata=metadata)
    assert db.last_seq == before


def test_cli_meta_options(tmp_path: Path, docs: Path) -> None:
    runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None, "REMLITE_EMBED_PROVIDER": "hash"})
    root = tmp_path / "clidb"
    args = ["ingest", str(docs / "guide.md"), "--meta", "category=manual", "-m", 'tags=["a", "b"]', "--path", str(root)]
    assert runner.invoke(app, args).exit_code == 0
    with remlite.connect(root) as db:
        chunk = chunks_of(db, docs / "guide.md")[0]
        assert chunk["category"] == "manual" and chunk["metadata"]["tags"] == ["a", "b"]
    bad = runner.invoke(app, ["ingest", str(docs), "--meta", "novalue", "--path", str(root)])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
