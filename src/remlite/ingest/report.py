"""What an ingest did: `IngestReport` (returned by `Database.ingest`) and the progress events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestReport:
    """Counts of one `Database.ingest` call.

    `files` counts the files ingested (changed or not); `changed_files` those that were written.
    Chunk counts (records, for JSON Lines) are disjoint: `new` (id not stored before), `updated`
    (content changed: rewritten and re-embedded), `moved` (same content, new offsets, page, heading
    path or ordinal: rewritten with `update`, or with the stored vector of its text, never embedded
    again), `unchanged` (not
    written), `removed` (surplus chunks of a shortened document, or the chunks of a pruned one:
    hard-deleted). `pruned` counts documents removed because their file is gone (`prune=True`).
    `skipped` lists (path, reason) for every file or argument that could not be ingested.
    """

    table: str = "resources"
    files: int = 0
    changed_files: int = 0
    new: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    removed: int = 0
    pruned: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def chunks(self) -> int:
        """Chunks the ingested files have now."""
        return self.new + self.updated + self.moved + self.unchanged

    @property
    def written(self) -> int:
        return self.new + self.updated + self.moved + self.removed

    def add(self, other: DocumentResult) -> None:
        self.files += 1
        self.changed_files += other.changed
        self.new += other.new
        self.updated += other.updated
        self.moved += other.moved
        self.unchanged += other.unchanged
        self.removed += other.removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "files": self.files,
            "changed_files": self.changed_files,
            "chunks": self.chunks,
            "new": self.new,
            "updated": self.updated,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "pruned": self.pruned,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files / self.seconds, 1) if self.seconds > 0 else None,
            "chunks_per_second": round(self.chunks / self.seconds, 1) if self.seconds > 0 else None,
        }

    def summary(self) -> str:
        rate = f" in {self.seconds:.2f} s" if self.seconds else ""
        return (
            f"ingested {self.files} files into {self.table} ({self.changed_files} changed){rate}: "
            f"{self.new} new, {self.updated} updated, {self.moved} moved, {self.unchanged} unchanged, "
            f"{self.removed} removed chunks; {len(self.skipped)} skipped"
            + (f"; {self.pruned} pruned files" if self.pruned else "")
        )


@dataclass
class DocumentResult:
    """What happened to one file."""

    changed: bool = False
    new: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass(frozen=True)
class Progress:
    """Passed to the `progress` callback after every file (ingested or skipped)."""

    path: str
    files_done: int
    files_total: int
    chunks_done: int
    skipped: bool
    bytes_done: int = 0  # of all the files' bytes: what an ETA over the whole job is measured in
    bytes_total: int = 0
