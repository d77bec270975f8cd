"""Health across hosts whose clocks differ: workers' health and the pipeline's progress are stamped and read
on Redis's clock, the one every process of a scaled-out server shares."""

from __future__ import annotations

import asyncio
import time
import types

import redis.asyncio as aioredis

from server import health
from server.health import WorkerHealth, worker_components
from server.pipeline.streams import DETECT_STREAM

SKEW_SECONDS = 120.0


def _clock(offset: float) -> types.SimpleNamespace:
    """A module's view of `time` on a host whose wall clock is `offset` seconds off."""
    return types.SimpleNamespace(
        time=lambda: time.time() + offset, monotonic=time.monotonic, perf_counter=time.perf_counter
    )


async def _healthy() -> dict[str, str]:
    return {"status": "healthy"}


async def test_a_live_worker_on_a_host_whose_clock_is_behind_is_not_reported_missing(
    redis: aioredis.Redis, monkeypatch
) -> None:
    """A review's finding: `server api` on host A, `worker detect` on host B whose clock is 2 minutes
    behind A's (NTP off): the API pruned the live worker's health as expired, by its own clock, and
    reported 'no live detect worker'. Both sides count on Redis's clock."""
    publisher = WorkerHealth(redis, "detect", "hostb:abc", {"detector": _healthy})
    monkeypatch.setattr(health, "time", _clock(-SKEW_SECONDS))  # the worker's host
    await publisher.publish()
    monkeypatch.setattr(health, "time", _clock(0.0))  # the API's host
    components = await worker_components(redis)
    assert "detector" in components, (
        "a detect worker that published its health a moment ago is missing from the API's health "
        f"(the API reports 'no live detect worker', status degraded) only because its host clock is "
        f"{SKEW_SECONDS:.0f} s behind the API's: {components!r}"
    )


async def test_a_dead_worker_on_a_host_whose_clock_is_ahead_disappears_after_its_ttl(
    redis: aioredis.Redis, monkeypatch
) -> None:
    """Worker host 2 minutes ahead of the API's, killed (no withdraw): gone from health after the TTL."""
    publisher = WorkerHealth(redis, "detect", "hostb:abc", {"detector": _healthy}, interval=0.1, ttl=0.3)
    monkeypatch.setattr(health, "time", _clock(SKEW_SECONDS))
    await publisher.publish()
    monkeypatch.setattr(health, "time", _clock(0.0))
    assert "detector" in await worker_components(redis)
    await asyncio.sleep(0.5)  # killed: never renewed
    components = await worker_components(redis)
    assert "detector" not in components, f"a killed worker still listed after its TTL: {components!r}"


async def test_a_busy_pipeline_on_a_worker_host_whose_clock_is_behind_is_not_reported_stalled(
    redis: aioredis.Redis, monkeypatch
) -> None:
    """A review's finding: a backlog older than the stall limit, being worked off by a detect worker on a
    host whose clock is 2 minutes behind the API's, read as 'stalled' (the finish stamp was the worker's
    clock, compared with the API's)."""
    from server.pipeline import progress

    now_ms = int(time.time() * 1000)
    await redis.xadd(DETECT_STREAM, {"n": "old"}, id=f"{now_ms - 400_000}-0")  # queued 400 s ago
    monkeypatch.setattr(progress, "time", _clock(-SKEW_SECONDS))  # the worker's host acks now
    async with redis.pipeline(transaction=True) as pipe:
        progress.queue_finished(pipe, DETECT_STREAM)
        await pipe.execute()
    monkeypatch.setattr(progress, "time", _clock(0.0))  # the API's host reads
    part = await progress.pipeline_health(redis, {"detect": DETECT_STREAM}, {}, stall_seconds=60)
    assert part["status"] != "unhealthy", (
        "the health report says the detect pipeline is stalled ('nothing finished in 60 s', pipeline "
        "unhealthy) although a worker finished an entry a moment ago, only because that worker's host "
        f"clock is {SKEW_SECONDS:.0f} s behind the API's: {part!r}"
    )
