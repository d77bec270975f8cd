"""Scale-out: one `server api`, two `worker detect` and one `worker analyze` process, one PostgreSQL and
one Redis, a stream of uploads over HTTP ingest — every upload processed exactly once, by both workers.

Also the consumer-name leases that make several workers on one host safe (server.pipeline.consumers).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import func, select

from server.detect import COCO_CLASSES
from server.models import Detection, Event
from server.pipeline import dedup
from server.pipeline.consumers import ConsumerLease
from server.pipeline.streams import DETECT_GROUP, DETECT_STREAM, RedisStream
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.processes import free_port, start_server, stop_server
from tests.support.rtdetr import build_tiny_rtdetr

UPLOADS = 24


async def test_api_two_detectors_and_an_analyzer_process_every_upload_once(
    tmp_path: Path, db_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    model = build_tiny_rtdetr(tmp_path / "model")
    settings = pipeline_settings(tmp_path, detection_classes=list(COCO_CLASSES))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HSI_")},
        "HSI_DATABASE_URL": db_url,
        "HSI_REDIS_URL": redis_url,
        "HSI_DATA_DIR": str(settings.data_dir),
        "HSI_CAMERAS_DIR": str(settings.cameras_dir),
        "HSI_HOST": "127.0.0.1",
        "HSI_PORT": str(port),
        "HSI_DETECTOR": "rtdetr",
        "HSI_DETECTOR_MODEL": str(model),
        "HSI_DETECTION_CONFIDENCE": "0.0",
        "HSI_DETECTION_CLASSES": ",".join(COCO_CLASSES),
        "HSI_DETECTOR_BATCH_SIZE": "2",
        "HSI_LLM": "rules",
        "HSI_BATCH_WINDOW_SECONDS": "3",
        "HSI_BATCH_IDLE_TIMEOUT_SECONDS": "1",
        "HSI_LOG_LEVEL": "INFO",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("api", "detect1", "detect2", "analyze")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    async with pipeline_runtime(settings, db_url, redis, database_logs=False) as runtime:
        try:
            processes["api"] = start_server(["api"], env, logs["api"])
            processes["detect1"] = start_server(["worker", "detect"], env, logs["detect1"])
            processes["detect2"] = start_server(["worker", "detect"], env, logs["detect2"])
            processes["analyze"] = start_server(["worker", "analyze"], env, logs["analyze"])

            async def both_detectors_consuming() -> bool:
                try:
                    consumers = await redis.xinfo_consumers(DETECT_STREAM, DETECT_GROUP)
                except ResponseError:  # no stream or group yet
                    return False
                return len(consumers) == 2

            await eventually(both_detectors_consuming, timeout=120, interval=0.2)
            key_file = settings.data_dir / "api_key.txt"
            await eventually(lambda: _exists(key_file), timeout=60)
            key = key_file.read_text().strip()

            async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
                for n in range(UPLOADS):
                    camera = ("porch", "drive", "garden")[n % 3]
                    async with http.post(
                        f"http://127.0.0.1:{port}/api/ingest?camera_id={camera}",
                        data=write_jpeg(tmp_path / "upload.jpg", seed=n).read_bytes(),
                        headers={"Content-Type": "image/jpeg"},
                    ) as response:
                        assert response.status == 202, await response.text()

            async def all_processed() -> bool:
                ledger = await dedup.processed_count(redis)
                detect_depth = await RedisStream(redis, DETECT_STREAM, DETECT_GROUP).depth()
                return ledger == UPLOADS and detect_depth == 0

            await eventually(all_processed, timeout=240, interval=0.2)

            async def all_batched() -> bool:
                async with runtime.database.sessions() as session:
                    stored = set(await session.scalars(select(Detection.id)))
                    events = list(await session.scalars(select(Event.detection_ids)))
                batched = [i for ids in events for i in json.loads(ids)]
                return bool(stored) and sorted(batched) == sorted(stored)

            await eventually(all_batched, timeout=120, interval=0.3)
        finally:
            for name, process in processes.items():
                if process.poll() is None:
                    stop_server(process, logs[name])

        async with runtime.database.sessions() as session:
            files = await session.scalar(select(func.count(func.distinct(Detection.file_hash))))
            duplicated = (
                await session.execute(
                    select(Detection.file_hash, Detection.object_type, Detection.bbox_x, Detection.bbox_y,
                           Detection.bbox_width, Detection.bbox_height, Detection.confidence)
                    .group_by(Detection.file_hash, Detection.object_type, Detection.bbox_x, Detection.bbox_y,
                              Detection.bbox_width, Detection.bbox_height, Detection.confidence)
                    .having(func.count() > 1)
                )
            ).all()
            cameras = set(await session.scalars(select(Detection.camera_id).distinct()))
    assert files == UPLOADS  # every upload became detections
    assert duplicated == []  # none twice (the random model is deterministic per image)
    assert cameras == {"porch", "drive", "garden"}
    # Each detection lies in exactly one event (checked in all_batched: the sorted lists are equal).
    # Both detect workers took part, under names of their own.
    worked = [name for name in ("detect1", "detect2") if " objects in " in logs[name].read_text()]
    assert worked == ["detect1", "detect2"], {n: logs[n].read_text()[-1500:] for n in worked}
    assert await redis.xlen(f"{DETECT_STREAM}:dead") == 0


async def _exists(path: Path) -> bool:
    return path.exists()


async def test_leases_give_live_processes_distinct_names_and_a_restart_its_own(redis: aioredis.Redis) -> None:
    first = ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:abc", lease_seconds=1.0)
    second = ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:abc", lease_seconds=1.0)
    assert await first.acquire() == "host:abc"
    # Slot 0 is held and has nothing pending: the second process takes the next slot at once.
    started = asyncio.get_running_loop().time()
    assert await second.acquire() == "host:abc#1"
    assert asyncio.get_running_loop().time() - started < 0.5

    # A clean stop frees the name at once.
    await first.release()
    assert await ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:abc").acquire() == "host:abc"


async def test_a_restarted_worker_waits_for_its_own_name_while_it_holds_entries(redis: aioredis.Redis) -> None:
    stream = RedisStream(redis, DETECT_STREAM, DETECT_GROUP)
    await stream.ensure_group()
    await stream.add({"n": "1"})
    crashed = ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:abc", lease_seconds=1.0)
    name = await crashed.acquire()
    # The crashed process had taken an entry and never acknowledged it; its lease still runs.
    await redis.xreadgroup(DETECT_GROUP, name, {DETECT_STREAM: ">"}, count=1)
    restarted = ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:abc", lease_seconds=1.0)
    assert await restarted.acquire() == "host:abc"  # after the old lease ran out, not "#1"


async def test_a_lost_lease_is_taken_again(redis: aioredis.Redis) -> None:
    lease = ConsumerLease(redis, DETECT_STREAM, DETECT_GROUP, "host:xyz", lease_seconds=0.3)
    name = await lease.acquire()
    await redis.delete(f"hsi:consumer:{DETECT_GROUP}:{name}")  # as if the process stalled past its lease
    stop = asyncio.Event()
    keeper = asyncio.create_task(lease.keep(stop))
    await eventually(lambda: redis.get(f"hsi:consumer:{DETECT_GROUP}:{name}"), timeout=5)
    stop.set()
    await keeper
    assert await redis.get(f"hsi:consumer:{DETECT_GROUP}:{name}") == lease.token.encode()
