"""Camera health, GPU sampling without a GPU, and the `logs` table handler, on real stores."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from server.models import Camera, GPUStats, Log
from server.pipeline.broadcast import CHANNEL
from server.pipeline.camera_health import mark_silent_cameras_offline
from server.pipeline.cameras import ensure_camera, record_upload
from server.pipeline.gpu import GPUSample, GPUSampler, gpu_probe, write_sample
from server.runtime import Runtime
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path, camera_offline_seconds=600), db_url, redis) as rt:
        yield rt


async def _camera(runtime: Runtime, camera_id: str) -> Camera:
    async with runtime.database.sessions() as session:
        return await session.get_one(Camera, camera_id)


async def test_silent_cameras_go_offline_and_come_back_with_an_upload(runtime: Runtime) -> None:
    await ensure_camera(runtime, "porch", "Porch", "/x/Porch")
    await ensure_camera(runtime, "garage", "Garage", "/x/Garage")
    now = datetime.now(UTC)
    async with runtime.database.sessions() as session, session.begin():
        (await session.get_one(Camera, "porch")).last_seen_at = now - timedelta(hours=2)
        (await session.get_one(Camera, "garage")).last_seen_at = now - timedelta(seconds=30)
    pubsub = runtime.redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    await pubsub.get_message(timeout=1)  # the subscription confirmation

    changed = await mark_silent_cameras_offline(runtime)

    assert [camera.id for camera in changed] == ["porch"]
    assert (await _camera(runtime, "porch")).status == "offline"
    assert (await _camera(runtime, "garage")).status == "online"
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert json.loads(message["data"]) == {
        "type": "camera.updated",
        "data": {**json.loads(message["data"])["data"], "id": "porch", "status": "offline"},
    }
    await pubsub.aclose()
    assert await mark_silent_cameras_offline(runtime) == []  # already offline: no repeat

    # An old file (catch-up) moves last_seen_at but does not make the camera online; a fresh one does.
    offline_after = timedelta(seconds=runtime.settings.camera_offline_seconds)
    async with runtime.database.sessions() as session, session.begin():
        stale = await record_upload(session, "porch", now - timedelta(hours=1), offline_after)
    assert stale is None and (await _camera(runtime, "porch")).status == "offline"
    async with runtime.database.sessions() as session, session.begin():
        fresh = await record_upload(session, "porch", now, offline_after)
        older = await record_upload(session, "porch", now - timedelta(minutes=5), offline_after)
    assert fresh is not None and fresh.status == "online" and older is None
    assert (await _camera(runtime, "porch")).last_seen_at == now


async def test_without_a_gpu_the_sampler_says_unavailable_and_nothing_breaks(runtime: Runtime) -> None:
    sampler = GPUSampler()
    opened = await asyncio.to_thread(sampler.open)
    try:
        report = await gpu_probe(sampler)()
        if opened:  # a machine with an NVIDIA GPU: real readings
            sample = await asyncio.to_thread(sampler.sample)
            assert sample.gpu_name and sample.memory_total and report["status"] == "healthy"
        else:
            assert report["status"] == "unavailable" and "no NVIDIA GPU" in report["reason"]
    finally:
        sampler.close()
    runtime.probes["gpu"] = gpu_probe(sampler)
    health = await runtime.health()
    assert health["status"] == "healthy"  # "unavailable" is information, not degradation
    await write_sample(runtime, GPUSample("Test GPU", 12.5, 1024, 8192, 55.0, 70.2), inference_fps=31.0)
    async with runtime.database.sessions() as session:
        [row] = list(await session.scalars(select(GPUStats)))
    assert (row.gpu_name, row.memory_used, row.inference_fps) == ("Test GPU", 1024, 31.0)


async def test_hsi_logs_reach_the_logs_table_without_blocking(runtime: Runtime) -> None:
    logger = logging.getLogger("hsi.test.component")
    logger.info(
        "inference took %d ms", 42,
        extra={"component": "detector", "camera_id": "porch", "detection_id": 7, "duration_ms": 41.6,
               "data": {"file_path": Path("/x/a.jpg"), "objects": {"person": 2}}},
    )
    logging.getLogger("elsewhere").warning("not an hsi record")
    thread = threading.Thread(target=lambda: logging.getLogger("hsi.thread").warning("from a thread"))
    thread.start()
    thread.join()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("hsi.test.component").exception("it failed")

    async def three() -> list[Log] | None:
        rows = await log_rows(runtime)
        return rows if len(rows) >= 3 else None

    rows = {row.message.splitlines()[0]: row for row in await eventually(three, timeout=10)}
    first = rows["inference took 42 ms"]
    assert (first.level, first.component, first.camera_id, first.detection_id, first.duration_ms) == (
        "INFO", "detector", "porch", 7, 42
    )
    assert first.extra == {"file_path": "/x/a.jpg", "objects": {"person": 2}}
    assert rows["from a thread"].component == "thread"
    assert "ValueError: boom" in rows["it failed"].message and rows["it failed"].level == "ERROR"
    assert "not an hsi record" not in rows
