"""BM25 full-text search: the analyser (`tokenize`) and the RocksDB-backed `TextIndex` (whose
numpy scoring, `ranking.py`, is imported by the first search)."""

from remlite.text.analyzer import STOP_WORDS, TOKENIZER_VERSION, tokenize
from remlite.text.index import FAMILIES, TextIndex

__all__ = ["FAMILIES", "STOP_WORDS", "TOKENIZER_VERSION", "TextIndex", "tokenize"]
