"""BM25 full-text search: the analyser (`tokenize`) and the RocksDB-backed `TextIndex`.

`TextIndex` and `FAMILIES` are imported on first use: the index's scoring runs in numpy, which a
process that opens a database without searching text should not load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from remlite.lazy import lazy_exports
from remlite.text.analyzer import STOP_WORDS, TOKENIZER_VERSION, tokenize

if TYPE_CHECKING:
    from remlite.text.index import FAMILIES, TextIndex

__all__ = ["FAMILIES", "STOP_WORDS", "TOKENIZER_VERSION", "TextIndex", "tokenize"]

__getattr__ = lazy_exports(__name__, {"FAMILIES": "remlite.text.index", "TextIndex": "remlite.text.index"})
