"""Which files an ingest covers: explicit files, directories walked recursively, glob filters."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from remlite.ingest.formats import content_type


def _matches(relative: str, name: str, patterns: Sequence[str]) -> bool:
    """A pattern with a `/` matches the path relative to the walked directory, else the name."""
    return any(fnmatch.fnmatch(relative if "/" in p else name, p) for p in patterns)


def collect(
    paths: Iterable[str | os.PathLike[str]], glob: Sequence[str] | None
) -> tuple[list[Path], list[tuple[str, str]]]:
    """(files to ingest, (path, reason) for paths that cannot be), in a stable order.

    A file named explicitly is always ingested (unknown extensions are read as plain text). A
    directory is walked recursively without following symlinked directories, skipping hidden
    directories and files (names starting with "."); without `glob` only known formats are taken,
    with it every file matching one of the patterns. A file reached twice is ingested once.
    """
    files: dict[Path, None] = {}
    missing: list[tuple[str, str]] = []
    for given in paths:
        path = Path(given).expanduser()
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a name too long, say: is_dir() passes on only "does not exist"
            missing.append((str(given), exc.strerror or "cannot be read"))
            continue
        if is_dir:
            root = path.resolve()
            for directory, dirs, names in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    full = Path(directory) / name
                    if glob:
                        if not _matches(full.relative_to(root).as_posix(), name, glob):
                            continue
                    elif content_type(full) is None:
                        continue
                    if full.is_file():
                        files[full] = None
        elif path.is_file():
            files[path.resolve()] = None
        elif path.exists():
            missing.append((str(given), "not a regular file"))
        else:
            missing.append((str(given), "no such file or directory"))
    return list(files), missing


def require_found(missing: list[tuple[str, str]]) -> None:
    """NotFound for paths given that are not there (or cannot be read as files or directories):
    a mistyped path must not look like an ingest that found nothing to do. Raised before any file
    is read, so nothing is written."""
    if missing:
        from remlite.errors import NotFound

        shown_paths = "; ".join(f"{_short(path)}: {reason}" for path, reason in missing[:3])
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise NotFound(f"cannot ingest {shown_paths}{more}: nothing was ingested", paths=[p for p, _ in missing])


def _short(path: str) -> str:
    """A path as an error message shows it: at most 100 characters (its end kept: the file name)."""
    return path if len(path) <= 100 else f"...{path[-97:]}"
