"""`remlite.aio`: the library's verbs awaited, without blocking the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import remlite
from remlite import aio
from remlite.errors import NotFound


def test_the_verbs_are_awaitable_and_return_what_the_library_returns(tmp_path: Path) -> None:
    async def main() -> None:
        async with await aio.connect(tmp_path, embedder="hash") as db:
            await db.register_schema({"name": "notes", "properties": {"title": {"type": "string"}},
                                      "key_field": "title", "embedding_fields": ["title"]})  # fmt: skip
            rid = await db.insert("notes", {"title": "river stones"})
            assert (await db.get(rid))["title"] == "river stones"
            hits = await db.search("notes", "stones", 3)
            assert hits[0]["id"] == rid and hits.to_arrow().num_rows == 1
            assert (await db.sql("SELECT count(*) AS n FROM notes")).rows == [{"n": 1}]
            assert db.last_seq == db.sync.last_seq and not db.closed
            with pytest.raises(NotFound):
                await db.get("00000000-0000-4000-8000-000000000000")
        assert db.closed

    asyncio.run(main())


def test_calls_run_off_the_event_loop(tmp_path: Path) -> None:
    """While a slow call runs, the loop keeps ticking."""

    async def main() -> int:
        db = await aio.connect(tmp_path, embedder="hash")
        db.sync.register_schema({"name": "notes", "properties": {"title": {"type": "string"}}})
        db.sync.insert_batch("notes", [{"title": f"t{i}"} for i in range(20_000)])
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        rows = await db.sql("SELECT title FROM notes ORDER BY title DESC")
        assert len(rows.rows) == 20_000 and time.perf_counter() - started > 0.005
        task.cancel()
        await db.close()
        return ticks

    assert asyncio.run(main()) > 1


def test_connect_takes_the_same_arguments(tmp_path: Path) -> None:
    remlite.connect(tmp_path, "t").close()

    async def main() -> None:
        reader = await aio.connect(tmp_path, "t", read_only=True)
        assert reader.tenant == "t"
        await reader.close()
        with pytest.raises(NotFound):
            await aio.connect(tmp_path, "missing", create=False)

    asyncio.run(main())
