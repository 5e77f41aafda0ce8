"""`remlite.aio.connect`: the same database, awaited — for asyncio applications (FastAPI handlers,
agent loops) that must not block their event loop on a search or a write.

Why a thin facade over threads and not a second implementation: every call releases the GIL for
its heavy part (RocksDB, usearch, DuckDB, onnxruntime), so running the synchronous call in a worker
thread (`asyncio.to_thread`) lets the loop go on, and the async API cannot drift from the library's:
`await db.search(...)` takes exactly `Database.search`'s arguments and returns its result. Reads
run concurrently (a `Database` is thread-safe); writes are serialised by its own lock as always.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from remlite.database import Database
from remlite.database import connect as _connect


class AsyncDatabase:
    """An open database whose verbs are coroutines (`await db.insert(...)`); properties (`last_seq`,
    `path`, `tenant`, `closed`) are read as they are. Use it as `async with`."""

    def __init__(self, db: Database) -> None:
        self.sync = db  # the underlying handle, for code that wants the blocking calls

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.sync, name)
        if not callable(value) or inspect.isclass(value):
            return value
        return _awaitable(value)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<remlite.aio.AsyncDatabase {self.sync!r}>"


def _awaitable(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(method, *args, **kwargs)

    return call


async def connect(path: str | os.PathLike[str] | None = None, tenant: str = "default", **options: Any) -> AsyncDatabase:
    """`remlite.connect(...)` (the same arguments: a local path, `read_only=True`, or a server URL),
    opened in a worker thread, as an `AsyncDatabase`."""
    return AsyncDatabase(await asyncio.to_thread(_connect, path, tenant, **options))
