"""The embedding provider interface shared by every provider, and its error.

A provider turns texts into float32 unit vectors (one row per text) of a fixed `dimension`, so a
dot product is a cosine similarity. `name` says which provider made them and `model` which vector
space they live in: vectors of different `(name, model, dimension)` must never be compared.

This module imports nothing heavy (numpy only under TYPE_CHECKING), so `import remlite.embed` stays
cheap; numpy is imported when vectors are first made.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from remlite.errors import EmbeddingEndpointError, EmbeddingError, InvalidInput, shown

__all__ = ["EmbeddingEndpointError", "EmbeddingError", "EmbeddingProvider", "check_texts", "l2_normalize"]

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class EmbeddingProvider(ABC):
    """Texts in, L2-normalised float32 vectors out.

    Subclasses set `name` (the provider kind, e.g. "local") and `model`, and implement `dimension`
    and `_embed` (which may assume a non-empty list of strings and need not normalise).
    """

    name: ClassVar[str]
    model: str
    max_tokens: int | None = None
    """The model's input window in its own tokens (text past it is not embedded); None: no known limit."""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector this provider returns."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Raw vectors for a non-empty list of strings, shape (len(texts), dimension)."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed `texts` into a C-contiguous float32 array of shape (len(texts), dimension), rows of
        unit length (an all-zero raw vector stays zero). An empty list gives shape (0, dimension)."""
        import numpy as np

        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._embed(items)
        return l2_normalize(vectors)

    def embed_one(self, text: str) -> NDArray[np.float32]:
        """Embed a single text: a vector of shape (dimension,)."""
        if not isinstance(text, str):
            raise InvalidInput(f"text to embed must be a string, not {type(text).__name__}")
        return self.embed([text])[0]

    def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        """Each text's length in the model's own tokens, uncapped (so a count above `max_tokens` says the
        text would be cut); None when the provider has no tokenizer to ask. Chunkers size chunks by it."""
        return None

    def describe(self) -> dict[str, Any]:
        """What a store records next to its vectors, to refuse mixing vector spaces later."""
        return {"provider": self.name, "model": self.model, "dimension": self.dimension}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"


def check_texts(texts: Sequence[str]) -> list[str]:
    """A list of the texts, or InvalidInput naming the first item that is not a string, or not valid
    Unicode: a lone surrogate cannot be encoded for a tokenizer (it raised TypeError) or an endpoint."""
    if isinstance(texts, str | bytes):
        raise InvalidInput("embed() takes a list of texts; use embed_one() for a single string")
    items = list(texts)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInput(f"text #{i} to embed must be a string, not {type(item).__name__}")
        if not item.isascii():  # isascii() is O(1); only other texts pay for an encode
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(
                    f"text #{i} to embed is not valid Unicode (it holds a lone surrogate): {shown(item)}"
                ) from None
    return items


def l2_normalize(vectors: Any) -> NDArray[np.float32]:
    """Rows scaled to unit length as C-contiguous float32; all-zero rows are left at zero."""
    import numpy as np

    out = np.array(vectors, dtype=np.float32, order="C")  # a copy: never scale the caller's array
    if out.ndim != 2:
        raise EmbeddingError(f"expected a 2-d array of vectors, got shape {out.shape}")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
