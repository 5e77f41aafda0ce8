"""Embedding providers: texts → L2-normalised float32 vectors, offline by default.

    >>> from remlite.embed import get_provider
    >>> provider = get_provider("hash", dimension=64)
    >>> provider.embed(["a cat sat on the mat", "stock market crash"]).shape
    (2, 64)

Providers (`get_provider(name, model, **options)`; `name` defaults to `REMLITE_EMBED_PROVIDER`, else
"local"):
- `local` — all-MiniLM-L6-v2 (384-d) on onnxruntime, from an ONNX file shipped in a PyPI package;
  by default with int8 arithmetic (derived once per machine and cached), loaded lazily on first use,
  never downloaded. See `remlite.embed.local`.
- `openai` — any OpenAI-compatible `/embeddings` endpoint (`REMLITE_EMBED_BASE_URL`,
  `REMLITE_EMBED_API_KEY`, `REMLITE_EMBED_MODEL`). See `remlite.embed.openai`.
- `hash` — deterministic feature hashing of words and word pairs, numpy only; for tests and
  benchmarks. See `remlite.embed.hashing`.

Importing this package is cheap: provider modules, numpy, onnxruntime and tokenizers are imported
only when a provider is created or first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from remlite.embed.base import EmbeddingEndpointError, EmbeddingError, EmbeddingProvider
from remlite.errors import InvalidInput, shown

ENV_PROVIDER = "REMLITE_EMBED_PROVIDER"
DEFAULT_PROVIDER = "local"
PROVIDERS: dict[str, str] = {
    "local": "remlite.embed.local:LocalProvider",
    "openai": "remlite.embed.openai:OpenAIProvider",
    "hash": "remlite.embed.hashing:HashProvider",
}


def provider_class(name: str) -> type[EmbeddingProvider]:
    """The provider class registered under `name` (imports its module)."""
    target = PROVIDERS.get(name)
    if target is None:
        known = ", ".join(sorted(PROVIDERS))
        raise InvalidInput(f"unknown embedding provider {name!r}; known providers: {known}")
    module, _, attr = target.partition(":")
    cls: type[EmbeddingProvider] = getattr(importlib.import_module(module), attr)
    return cls


def get_provider(name: str | None = None, model: str | None = None, **options: Any) -> EmbeddingProvider:
    """A new provider: `name` or `$REMLITE_EMBED_PROVIDER` or "local"; `model` and `options` go to it.

    Creating a provider never loads a model or opens a connection; the first `embed` does. Two
    `local` providers with the same files and settings share one loaded model.
    """
    for label, value in (("provider", name), ("model", model)):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"embedding {label} must be a name (a string), got {shown(value)}")
    from remlite.settings import Settings

    chosen = (name or Settings.from_env().embed_provider).strip().lower()
    cls = provider_class(chosen)
    try:
        return cls(model, **options)  # type: ignore[call-arg]
    except TypeError as exc:
        raise InvalidInput(f"bad option for the {chosen!r} embedding provider: {exc}") from exc


__all__ = [
    "DEFAULT_PROVIDER",
    "ENV_PROVIDER",
    "PROVIDERS",
    "EmbeddingEndpointError",
    "EmbeddingError",
    "EmbeddingProvider",
    "get_provider",
    "provider_class",
]
