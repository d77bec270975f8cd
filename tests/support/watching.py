"""The watcher and one detect worker on a test's stores, and what they left behind (queue, rows, ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import select

from server.detect import Detector
from server.models import Detection, Log
from server.pipeline import dedup
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.intake import pipeline_stream
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime
from tests.support.pipeline import eventually, log_rows


@asynccontextmanager
async def watching(runtime: Runtime) -> AsyncIterator[FileWatcher]:
    watcher = FileWatcher(runtime)
    await watcher.start()
    try:
        yield watcher
    finally:
        await watcher.stop()


async def detect_all(runtime: Runtime, detector: Detector) -> None:
    """Run one detect worker until the stream is drained."""
    stream = pipeline_stream(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(DetectWorker(runtime, detector, consumer="test-worker").run(stop))
    try:

        async def drained() -> bool:
            return await stream.depth() == 0

        await eventually(drained, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def drained(runtime: Runtime) -> bool:
    """Nothing waits in `hsi:detect` and nothing taken from it is unacknowledged."""
    stream = pipeline_stream(runtime)
    if await stream.depth():  # first: before a worker starts, the group does not exist yet
        return False
    return int((await runtime.redis.xpending(stream.name, stream.group))["pending"]) == 0


async def queued(runtime: Runtime) -> list[dict[str, str]]:
    """The entries waiting in `hsi:detect`, oldest first (no worker runs while they are read)."""
    entries = await runtime.redis.xrange(pipeline_stream(runtime).name)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def at_least(runtime: Runtime, count: int) -> list[dict[str, str]] | None:
    entries = await queued(runtime)
    return entries if len(entries) >= count else None


async def rows(runtime: Runtime) -> list[Detection]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(Detection).order_by(Detection.id)))


async def ledger(runtime: Runtime) -> set[str]:
    return {member.decode() for member in await runtime.redis.zrange(dedup.LEDGER_KEY, 0, -1)}


async def logged_about(runtime: Runtime, path: Path) -> list[Log]:
    return [row for row in await log_rows(runtime) if (row.extra or {}).get("file_path") == str(path)]
