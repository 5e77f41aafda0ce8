"""remlite's settings from the environment, read in this one place into a typed object.

    REMLITE_PATH                root of the tenant directories (default: the per-user data directory)
    REMLITE_TENANT              default tenant of the CLI (default "default")
    REMLITE_EMBED_PROVIDER      default embedding provider: local, openai or hash (default local)
    REMLITE_EMBED_BASE_URL      the OpenAI-compatible provider's endpoint
    REMLITE_EMBED_API_KEY       its API key (optional)
    REMLITE_EMBED_MODEL         its model (default text-embedding-3-small)
    REMLITE_MEMORY_MB           a Runtime's memory budget (block cache, write buffers, column cache; default 512)
    REMLITE_MAX_OPEN_TENANTS    how many idle tenants a Runtime's pool keeps open (default 8)
    REMLITE_API_KEY             the API key `connect("http://...")` sends to a `remlite serve`
    REMLITE_LLM_BASE_URL        an OpenAI-compatible chat endpoint for `ask(planner="llm")` (else OPENAI_BASE_URL)
    REMLITE_LLM_API_KEY         its API key (else OPENAI_API_KEY)
    REMLITE_LLM_MODEL           its model (default gpt-4o-mini)
    REMLITE_LLM_TIMEOUT         seconds to wait for one answer (default 30)
    REMLITE_PASSPHRASE          the passphrase of encrypted databases (`connect(passphrase=)` default; never printed)
    REMLITE_DELETED_RETENTION_DAYS  how long `purge` keeps soft-deleted rows (default 30; 0: purge them all)
    REMLITE_LOG_KEEP            change-log entries `purge` always keeps (default 100000)
    REMLITE_LOG_MAX             change-log entries kept at most, even for a replica behind (default 10000000)
    REMLITE_MODEL_CACHE         where the local int8 embedding model is derived once (default
                                $XDG_CACHE_HOME/remlite/models, else ~/.cache/remlite/models)

Values are checked when read: a mistyped number fails with InvalidInput naming the variable, at
the first call that needs settings, instead of somewhere deep in a query. A `Runtime` reads them
once, when it is made, and keeps them (`runtime.settings`); `connect()` without a path and
`get_provider()` without a name take a snapshot at the call, so a process that sets REMLITE_PATH or
REMLITE_EMBED_PROVIDER before opening a database (the CLI, tests) is obeyed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from remlite.errors import InvalidInput

DEFAULT_MEMORY_MB = 512
DEFAULT_MAX_OPEN_TENANTS = 8
DEFAULT_DELETED_RETENTION_DAYS = 30.0
DEFAULT_LOG_KEEP = 100_000
DEFAULT_LOG_MAX = 10_000_000


@dataclass(frozen=True)
class Settings:
    """Everything remlite takes from the environment (see the module docstring for the variables)."""

    path: Path
    tenant: str = "default"
    embed_provider: str = "local"
    embed_base_url: str | None = None
    embed_api_key: str | None = field(default=None, repr=False)  # a key is never printed
    embed_model: str | None = None
    memory_mb: int = DEFAULT_MEMORY_MB
    max_open_tenants: int = DEFAULT_MAX_OPEN_TENANTS
    api_key: str | None = field(default=None, repr=False)
    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 30.0
    passphrase: str | None = field(default=None, repr=False)  # never printed or logged
    deleted_retention_days: float = DEFAULT_DELETED_RETENTION_DAYS
    log_keep: int = DEFAULT_LOG_KEEP
    log_max: int = DEFAULT_LOG_MAX
    model_cache: Path = field(default_factory=lambda: _model_cache({}))

    @property
    def llm_configured(self) -> bool:
        """An LLM endpoint is set: `ask` plans with it unless told otherwise."""
        return self.llm_base_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: this process's environment), checked."""
        env = os.environ if environ is None else environ
        return cls(
            path=_root(env),
            tenant=env.get("REMLITE_TENANT") or "default",
            embed_provider=(env.get("REMLITE_EMBED_PROVIDER") or "local").strip().lower(),
            embed_base_url=env.get("REMLITE_EMBED_BASE_URL") or None,
            embed_api_key=env.get("REMLITE_EMBED_API_KEY"),
            embed_model=env.get("REMLITE_EMBED_MODEL") or None,
            memory_mb=_positive(env, "REMLITE_MEMORY_MB", DEFAULT_MEMORY_MB),
            max_open_tenants=_positive(env, "REMLITE_MAX_OPEN_TENANTS", DEFAULT_MAX_OPEN_TENANTS),
            api_key=env.get("REMLITE_API_KEY") or None,
            llm_base_url=env.get("REMLITE_LLM_BASE_URL") or env.get("OPENAI_BASE_URL") or None,
            llm_api_key=env.get("REMLITE_LLM_API_KEY") or env.get("OPENAI_API_KEY") or None,
            llm_model=env.get("REMLITE_LLM_MODEL") or "gpt-4o-mini",
            llm_timeout=float(_positive(env, "REMLITE_LLM_TIMEOUT", 30)),
            passphrase=env.get("REMLITE_PASSPHRASE") or None,
            deleted_retention_days=_days(env, "REMLITE_DELETED_RETENTION_DAYS", DEFAULT_DELETED_RETENTION_DAYS),
            log_keep=_log_bounds(env)[0],
            log_max=_log_bounds(env)[1],
            model_cache=_model_cache(env),
        )


def _model_cache(env: Mapping[str, str]) -> Path:
    """REMLITE_MODEL_CACHE, else $XDG_CACHE_HOME/remlite/models, else ~/.cache/remlite/models."""
    if env.get("REMLITE_MODEL_CACHE"):
        return Path(env["REMLITE_MODEL_CACHE"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "remlite" / "models"


def _root(env: Mapping[str, str]) -> Path:
    """REMLITE_PATH, else $XDG_DATA_HOME/remlite, else ~/.local/share/remlite."""
    if env.get("REMLITE_PATH"):
        return Path(env["REMLITE_PATH"])
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "remlite"


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {raw!r}")
    return value


def _days(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:  # also refuses nan and inf
        raise InvalidInput(f"{name} must be a number of days >= 0, got {raw!r}")
    return value


def _log_bounds(env: Mapping[str, str]) -> tuple[int, int]:
    """(REMLITE_LOG_KEEP, REMLITE_LOG_MAX): entries always kept, and kept at most (>= the first)."""
    bounds = []
    for name, default in (("REMLITE_LOG_KEEP", DEFAULT_LOG_KEEP), ("REMLITE_LOG_MAX", DEFAULT_LOG_MAX)):
        raw = env.get(name)
        try:
            value = default if raw is None or not raw.strip() else int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise InvalidInput(f"{name} must be an integer >= 0, got {raw!r}")
        bounds.append(value)
    keep, most = bounds
    if most < keep:
        raise InvalidInput(f"REMLITE_LOG_MAX ({most}) must be at least REMLITE_LOG_KEEP ({keep})")
    return keep, most
