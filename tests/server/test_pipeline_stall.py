"""A stalled pipeline — work queued, nothing finishing — is unhealthy, with live workers and healthy stores.

Before, `pipeline_healthy` was true as long as the stores answered and a detect and an analyze worker
published their health: a worker that consumed nothing (hung in a handler, say) left the queue growing
under a green report.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.api.system import api_health, collect_stats
from server.pipeline.streams import DETECT_GROUP, DETECT_STREAM, RedisStream
from server.health import WorkerHealth
from server.runtime import Runtime
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings

STALL_SECONDS = 1.0


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    settings = pipeline_settings(tmp_path, pipeline_stall_seconds=STALL_SECONDS)
    async with pipeline_runtime(settings, db_url, redis) as rt:
        yield rt


async def _healthy() -> dict[str, str]:
    return {"status": "healthy"}


async def test_work_queued_with_nothing_finishing_is_unhealthy_until_it_moves(runtime: Runtime) -> None:
    redis = runtime.redis
    # A detect and an analyze worker are alive and say they are fine (as a hung one would keep saying).
    for role, component in (("detect", "detector"), ("analyze", "analyzer")):
        await WorkerHealth(redis, role, f"{role}-1", {component: _healthy}).publish()
    stream = RedisStream(redis, DETECT_STREAM, DETECT_GROUP)
    await stream.add({"n": "1"})

    fresh = await collect_stats(runtime)
    assert fresh["pipeline_healthy"]  # just queued: nothing to say yet
    await asyncio.sleep(STALL_SECONDS + 0.2)
    for role, component in (("detect", "detector"), ("analyze", "analyzer")):
        await WorkerHealth(redis, role, f"{role}-1", {component: _healthy}).publish()

    health = await api_health(runtime)
    pipeline = health["components"]["pipeline"]
    assert pipeline["status"] == "unhealthy", pipeline
    assert "hsi:detect" not in pipeline["reason"] and pipeline["reason"].startswith("detect: 1 queued")
    assert pipeline["queues"]["detect"]["depth"] == 1 and pipeline["queues"]["detect"]["oldest_seconds"] >= 1
    assert health["status"] == "degraded"
    assert not (await collect_stats(runtime))["pipeline_healthy"]

    # A worker finishes the entry: the pipeline moves again.
    stop = asyncio.Event()

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        stop.set()

    await asyncio.wait_for(stream.consume("detect-1", handler, stop=stop, block_ms=50), 10)
    for role, component in (("detect", "detector"), ("analyze", "analyzer")):
        await WorkerHealth(redis, role, f"{role}-1", {component: _healthy}).publish()
    after = await api_health(runtime)
    assert after["components"]["pipeline"]["status"] == "healthy", after["components"]["pipeline"]
    assert after["components"]["pipeline"]["queues"]["detect"]["finished_seconds_ago"] < STALL_SECONDS
    assert (await collect_stats(runtime))["pipeline_healthy"]


async def test_a_long_queue_that_keeps_finishing_is_not_stalled(runtime: Runtime) -> None:
    """Old entries behind a worker that finishes others (a backlog being worked off) are no stall."""
    redis = runtime.redis
    stream = RedisStream(redis, DETECT_STREAM, DETECT_GROUP)
    for n in range(3):
        await stream.add({"n": str(n)})
    await asyncio.sleep(STALL_SECONDS + 0.2)
    finished = 0
    stop = asyncio.Event()

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        nonlocal finished
        finished += 1
        if finished == 1:
            stop.set()

    await asyncio.wait_for(stream.consume("detect-1", handler, stop=stop, count=1, block_ms=50), 10)

    async def acknowledged() -> bool:
        return await redis.get(f"{DETECT_STREAM}:finished-at") is not None

    await eventually(acknowledged, timeout=5)
    pipeline = (await api_health(runtime))["components"]["pipeline"]
    assert pipeline["queues"]["detect"]["depth"] >= 1 and pipeline["queues"]["detect"]["oldest_seconds"] > STALL_SECONDS
    assert pipeline["status"] == "healthy", pipeline
