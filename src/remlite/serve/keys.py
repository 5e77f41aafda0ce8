"""API keys: each scopes a request to one tenant, read-write or read-only.

A key is `rem_<id>_<secret>`: the id names it in `remlite key list` / `revoke`, the secret is 32
random bytes. Only the SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a
slow password hash would add nothing but latency to every request), in `<root>/.remlite/keys.json`,
written atomically (temporary file, fsync, rename). A running server re-reads the file when it
changes, so a key revoked from the CLI stops working at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from remlite.errors import InvalidInput, NotFound, RemliteError

TENANT_HEADER = "x-remlite-tenant"  # the tenant of a request when the server runs with --no-auth


def request_headers(tenant: str, api_key: str | None) -> dict[str, str]:
    """What a client sends to name its tenant: the key (which decides it on a server with keys) and
    the tenant header (which decides it on a --no-auth server)."""
    headers = {TENANT_HEADER: tenant}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers

KEYS_FILE = Path(".remlite") / "keys.json"


class Unauthorized(RemliteError):
    """No API key, or one that is unknown or revoked."""

    http_status = 401
    code = "unauthorized"


class Forbidden(RemliteError):
    """A key that may not do this (a read-only key asked to write)."""

    http_status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Grant:
    """What a verified key allows: one tenant, and whether it may write."""

    key_id: str
    tenant: str
    read_only: bool


class KeyStore:
    """The keys of one root directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / KEYS_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ reading
    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._keys = None, {}
            return self._keys
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                data = orjson.loads(self.path.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise RemliteError(f"the key file {self.path} is damaged: {exc}") from None
            self._keys = {entry["id"]: entry for entry in data.get("keys", [])}
            self._stamp = stamp
        return self._keys

    def verify(self, token: str | None) -> Grant:
        """The grant of a bearer token; Unauthorized when it is missing, unknown or revoked."""
        if not token:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
        parts = token.split("_")
        if len(parts) != 3 or parts[0] != "rem":
            raise Unauthorized("the API key is not one remlite issued")
        with self._lock:
            entry = self._load().get(parts[1])
        digest = hashlib.sha256(parts[2].encode()).hexdigest()
        if entry is None or not hmac.compare_digest(entry["hash"], digest):
            raise Unauthorized("the API key is unknown")
        if entry.get("revoked_at") is not None:
            raise Unauthorized(f"the API key {entry['id']} was revoked")
        return Grant(entry["id"], entry["tenant"], bool(entry["read_only"]))

    def list(self) -> list[dict[str, Any]]:
        """Every key without its hash: id, tenant, read_only, created_at, revoked_at."""
        with self._lock:
            keys = self._load()
            return [{k: v for k, v in entry.items() if k != "hash"} for entry in keys.values()]

    # ------------------------------------------------------------------ writing
    def create(self, tenant: str, read_only: bool = False) -> str:
        """A new key for `tenant`; the returned token is the only time the secret is seen."""
        from remlite.database import _TENANT_RE

        if not isinstance(tenant, str) or not _TENANT_RE.fullmatch(tenant):
            raise InvalidInput(f"invalid tenant name {tenant!r}: letters, digits, '.', '_', '-'")
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32).replace("_", "-")
        entry = {
            "id": key_id,
            "tenant": tenant,
            "read_only": read_only,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "revoked_at": None,
            "hash": hashlib.sha256(secret.encode()).hexdigest(),
        }
        with self._lock:
            keys = dict(self._load())
            keys[key_id] = entry
            self._save(keys)
        return f"rem_{key_id}_{secret}"

    def revoke(self, key_id: str) -> dict[str, Any]:
        with self._lock:
            keys = dict(self._load())
            entry = keys.get(key_id)
            if entry is None:
                raise NotFound(f"no API key {key_id!r}")
            if entry.get("revoked_at") is None:
                keys[key_id] = {**entry, "revoked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                self._save(keys)
            return {k: v for k, v in keys[key_id].items() if k != "hash"}

    def _save(self, keys: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(orjson.dumps({"keys": list(keys.values())}, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)
        self._stamp = None  # re-read (and re-stamp) on next use
