"""The pipeline as real processes and roles: SIGKILL of `python -m server worker detect` mid-stream,
and `serve()` with the watcher and detect roles (HOG fallback on a real photo of people)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from server.detect import COCO_CLASSES
from server.health import health_report
from server.models import Detection
from server.pipeline import dedup
from server.pipeline.intake import pipeline_stream, submit_file
from server.runner import serve
from server.runtime import Runtime
from tests.support.media import write_jpeg
from tests.support.photos import people_walking
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.rtdetr import build_tiny_rtdetr

REPO = Path(__file__).resolve().parents[2]
FILES = 60


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "server", "worker", "detect"], cwd=REPO, env=env, stdout=out, stderr=out
        )


async def _distinct_files(runtime: Runtime) -> int:
    async with runtime.database.sessions() as session:
        return int(await session.scalar(select(func.count(func.distinct(Detection.file_hash)))) or 0)


async def test_sigkill_of_the_detect_worker_loses_and_duplicates_nothing(
    tmp_path: Path, db_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    model = build_tiny_rtdetr(tmp_path / "model")
    settings = pipeline_settings(
        tmp_path, detector="rtdetr", detector_model=model, detection_classes=list(COCO_CLASSES),
        detector_batch_size=2,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HSI_")},
        "HSI_DATABASE_URL": db_url,
        "HSI_REDIS_URL": redis_url,
        "HSI_DATA_DIR": str(settings.data_dir),
        "HSI_CAMERAS_DIR": str(settings.cameras_dir),
        "HSI_DETECTOR": "rtdetr",
        "HSI_DETECTOR_MODEL": str(model),
        "HSI_DETECTION_CONFIDENCE": "0.0",
        "HSI_DETECTION_CLASSES": ",".join(COCO_CLASSES),
        "HSI_DETECTOR_BATCH_SIZE": "2",
        "HSI_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "worker.log"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        for n in range(FILES):
            path = write_jpeg(settings.cameras_dir / ("porch" if n % 2 else "drive") / f"{n}.jpg", seed=n)
            await submit_file(runtime, path, camera_folder=path.parent.name, source="watcher")
        assert await pipeline_stream(runtime).depth() == FILES

        first = _worker(env, log)
        try:
            await eventually(lambda: _at_least(_distinct_files(runtime), 3), timeout=120, interval=0.02)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        done_at_kill = await _distinct_files(runtime)
        assert done_at_kill < FILES, "the worker finished before it could be killed; raise FILES"

        second = _worker(env, log)
        try:

            async def all_done() -> bool:
                ledger = await dedup.processed_count(runtime.redis)
                return ledger == FILES and await pipeline_stream(runtime).depth() == 0

            await eventually(all_done, timeout=120, interval=0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()[-3000:]

        assert await _distinct_files(runtime) == FILES  # nothing lost
        async with runtime.database.sessions() as session:
            duplicates = (
                await session.execute(
                    select(Detection.file_hash, Detection.detected_at, Detection.object_type,
                           Detection.bbox_x, Detection.bbox_y, Detection.bbox_width, Detection.bbox_height,
                           Detection.confidence)
                    .group_by(Detection.file_hash, Detection.detected_at, Detection.object_type,
                              Detection.bbox_x, Detection.bbox_y, Detection.bbox_width, Detection.bbox_height,
                              Detection.confidence)
                    .having(func.count() > 1)
                )
            ).all()
        assert duplicates == []  # nothing duplicated (the random model is deterministic)
        assert await runtime.redis.xlen(pipeline_stream(runtime).dead_letter_name) == 0


async def _at_least(count: Any, minimum: int) -> bool:
    return (await count) >= minimum


async def test_serve_runs_watcher_and_detect_with_the_default_detector(
    tmp_path: Path, db_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    # Uploaded while the server was down: found by the start-up catch-up.
    settings = pipeline_settings(
        tmp_path, detector="auto", database_url=db_url, redis_url=redis_url, detection_confidence=0.5
    )
    photo = settings.cameras_dir / "Front Path" / "people.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(people_walking().read_bytes())
    stop = asyncio.Event()
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()

    async def on_ready(runtime: Runtime) -> None:
        ready.set_result(runtime)

    server = asyncio.create_task(serve(settings, ["watcher", "detect"], stop=stop, on_ready=on_ready))
    try:
        runtime = await asyncio.wait_for(ready, 120)
        health = await health_report(runtime)
        detector = health["components"]["detector"]
        assert detector["status"] == "healthy" and detector["backend"] == "ssd_mobilenet"
        assert detector["fallback"] is False and "HSI_DETECTOR_MODEL is not set" in detector["reason"]
        assert health["status"] == "healthy"
        assert health["components"]["gpu"]["status"] in ("unavailable", "healthy")

        async def people() -> list[Detection]:
            async with runtime.database.sessions() as session:
                return list(await session.scalars(select(Detection).where(Detection.object_type == "person")))

        found = await eventually(people, timeout=60)
        assert {row.file_path for row in found} == {str(photo)}
        assert all(row.camera_id == "front_path" for row in found)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


@pytest.mark.parametrize("role", ["watcher", "detect"])
def test_pipeline_roles_are_registered(role: str) -> None:
    from server.runner import ROLES

    assert role in ROLES
