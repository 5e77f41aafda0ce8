"""BM25 full-text search: the analyser (`tokenize`) and the RocksDB-backed `TextIndex`."""

from remdb.text.analyzer import STOP_WORDS, TOKENIZER_VERSION, tokenize
from remdb.text.index import FAMILIES, TextIndex

__all__ = ["FAMILIES", "STOP_WORDS", "TOKENIZER_VERSION", "TextIndex", "tokenize"]
