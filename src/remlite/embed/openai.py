"""`openai`: any OpenAI-compatible embeddings endpoint (OpenAI, Azure-style gateways, vLLM, Ollama, …).

Configuration, options first, then the environment:
- `base_url` / `REMLITE_EMBED_BASE_URL` (required; e.g. `https://api.openai.com/v1`): there is no
  default, so remlite never reaches a remote host unless told to.
- `api_key` / `REMLITE_EMBED_API_KEY` (optional; sent as `Authorization: Bearer …`, never logged).
- `model` / `REMLITE_EMBED_MODEL` (default `text-embedding-3-small`).
- `dimension`: checked against every response when given, else learnt from the first one (asking
  `dimension` before any `embed` sends one probe request).

Each request is `POST {base_url}/embeddings` with `{"model": …, "input": [...]}`, at most
`batch_size` (128) texts. Timeouts, connection errors, 429 and 5xx are retried up to `max_retries`
(3) times with exponential backoff (`backoff` × 2^attempt, or the server's Retry-After when it is
shorter than `max_backoff`); anything else, or the last failure, is an EmbeddingEndpointError naming
the URL and the HTTP status. Vectors are re-normalised to unit length (not every server does).
The transport is httpx when installed (one kept-alive client per provider), else urllib.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from remlite.embed.base import EmbeddingEndpointError, EmbeddingError, EmbeddingProvider
from remlite.errors import InvalidInput
from remlite.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_MODEL = "text-embedding-3-small"


class _Reply(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class _Transient(Exception):
    """A timeout or connection failure: worth a retry."""


class OpenAIProvider(EmbeddingProvider):
    """Embeddings from an OpenAI-compatible `/embeddings` endpoint."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 128,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        env = Settings.from_env()
        base = base_url or env.embed_base_url
        if not base:
            raise EmbeddingError(
                "the openai embedding provider needs a base URL: set REMLITE_EMBED_BASE_URL or pass base_url"
            )
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(f"embedding base URL must start with http:// or https://, got {base!r}")
        if dimension is not None and (not isinstance(dimension, int) or dimension < 1):
            raise InvalidInput(f"dimension must be a positive integer, got {dimension!r}")
        if not isinstance(batch_size, int) or not 1 <= batch_size <= 2048:
            raise InvalidInput(f"batch_size must be an integer in [1, 2048], got {batch_size!r}")
        if not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise InvalidInput(f"max_retries must be an integer in [0, 10], got {max_retries!r}")
        if timeout <= 0:
            raise InvalidInput(f"timeout must be positive, got {timeout!r}")
        self.model = model or env.embed_model or DEFAULT_MODEL
        self.url = base.rstrip("/") + "/embeddings"
        self._dimension = dimension
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        key = api_key if api_key is not None else env.embed_api_key
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed(["dimension probe"])
        assert self._dimension is not None
        return self._dimension

    def close(self) -> None:
        """Close the kept-alive HTTP connections (the provider stays usable; it reconnects)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        import numpy as np

        parts = [self._request(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(parts, axis=0)

    def _request(self, batch: list[str]) -> NDArray[np.float32]:
        body = json.dumps({"model": self.model, "input": batch}).encode("utf-8")
        failure = ""
        for attempt in range(self.max_retries + 1):
            retry_after: str | None = None
            try:
                reply = self._post(body)
            except _Transient as exc:
                failure = str(exc)
            else:
                if 200 <= reply.status < 300:
                    return self._parse(reply.body, len(batch))
                failure = f"HTTP {reply.status}: {_snippet(reply.body)}"
                if not _retryable(reply.status):
                    raise EmbeddingEndpointError(
                        f"POST {self.url} failed with {failure}", url=self.url, status=reply.status
                    )
                retry_after = reply.retry_after
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        raise EmbeddingEndpointError(
            f"POST {self.url} failed after {self.max_retries + 1} attempts; last error: {failure}", url=self.url
        )

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = self.backoff * (2**attempt) * (1 + 0.25 * random.random())
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own backoff
                delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff)

    def _parse(self, body: bytes, expected: int) -> NDArray[np.float32]:
        import numpy as np

        try:
            data = json.loads(body)["data"]
            items = sorted(data, key=lambda d: d.get("index", 0))
            vectors = np.asarray([d["embedding"] for d in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingEndpointError(
                f"POST {self.url} returned an unreadable embeddings response: {exc!r}: {_snippet(body)}", url=self.url
            ) from exc
        if vectors.ndim != 2 or vectors.shape[0] != expected:
            raise EmbeddingEndpointError(
                f"POST {self.url} returned {vectors.shape[0] if vectors.ndim else 0} vectors for {expected} texts",
                url=self.url,
            )
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        elif vectors.shape[1] != self._dimension:
            raise EmbeddingEndpointError(
                f"POST {self.url} returned {vectors.shape[1]}-d vectors, expected "
                f"{self._dimension} (model {self.model!r})",
                url=self.url,
            )
        return vectors

    # -- transport: httpx when installed, urllib otherwise -------------------------------------

    def _post(self, body: bytes) -> _Reply:
        client = self._httpx_client()
        if client is None:
            return self._post_urllib(body)
        import httpx

        try:
            response = client.post(self.url, content=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed: {exc!r}") from exc
        return _Reply(response.status_code, response.content, response.headers.get("retry-after"))

    def _httpx_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError:
                    self._client = False
                else:
                    self._client = httpx.Client(timeout=self.timeout)
            return self._client or None

    def _post_urllib(self, body: bytes) -> _Reply:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _Reply(response.status, response.read(), response.headers.get("Retry-After"))
        except urllib.error.HTTPError as exc:
            return _Reply(exc.code, exc.read(), exc.headers.get("Retry-After") if exc.headers else None)
        except TimeoutError as exc:
            raise _Transient(f"timed out after {self.timeout:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Transient(f"timed out after {self.timeout:g} s") from exc
            raise _Transient(f"connection failed: {exc.reason!r}") from exc
        except OSError as exc:
            raise _Transient(f"connection failed: {exc!r}") from exc


def _retryable(status: int) -> bool:
    """Request timeout, rate limit and server errors are worth another try; other 4xx are not."""
    return status in (408, 429) or status >= 500


def _snippet(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"
