"""Helpers for pipeline tests and the bench: settings in a temp dir, a Runtime on test stores, polling."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis
from sqlalchemy import select

from server.config import Settings
from server.db import Database, create_engine, session_factory
from server.logs import ensure_database_logging
from server.models import Log
from server.runtime import Runtime

T = TypeVar("T")


def pipeline_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings rooted in `tmp_path`; no stability wait and every box kept, unless overridden."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "cameras_dir": tmp_path / "cameras",
        "detector": "hog",
        "detection_confidence": 0.0,
        "file_stable_seconds": 0.0,
        "detector_batch_size": 4,
        "detector_batch_wait_ms": 10,
        # The periodic cleanup would remove what fixtures seed in the past; tests that want it drive
        # it themselves (tests/server/test_retention.py).
        "retention_enabled": False,
        # `serve()` in the test's process, every role in it (ready means every role started); the detect
        # role's own process is tests/server/test_detect_process.py's subject.
        "detect_process": "inline",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def pipeline_runtime(
    settings: Settings, db_url: str, redis: aioredis.Redis, *, database_logs: bool = True
) -> AsyncIterator[Runtime]:
    """A Runtime on the test's database and Redis, with the `logs` handler attached (INFO)."""
    engine = create_engine(db_url, pool_size=5)
    runtime = Runtime(settings, Database(db_url, engine, session_factory(engine)), redis, "test-instance")
    hsi_logger = logging.getLogger("hsi")
    previous = hsi_logger.level
    hsi_logger.setLevel(logging.INFO)
    try:
        async with AsyncExitStack() as stack:
            if database_logs:
                await ensure_database_logging(runtime, stack)
            yield runtime
    finally:
        hsi_logger.setLevel(previous)
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    value = await check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)
        value = await check()
    return value


async def log_rows(runtime: Runtime) -> list[Log]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(Log).order_by(Log.id)))


async def rejection_for(runtime: Runtime, path: Path) -> Log | None:
    """The log row saying why `path` was rejected (file named in the message and in `extra`)."""
    for row in await log_rows(runtime):
        if (row.extra or {}).get("file_path") == str(path) and "rejected" in row.message:
            return row
    return None
