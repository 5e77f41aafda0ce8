"""Document ingestion: files → chunks (`chunker`), formats (`formats`, `html`), the per-document
write protocol (`sync`) and the `Database.ingest` orchestrator (`job`)."""

from remlite.ingest.report import IngestReport, Progress

__all__ = ["IngestReport", "Progress"]
