"""BatchAggregator against a real Redis: windows, idle close, size cap, fast path, racing closers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from PIL import Image

from server.config import Settings
from server.models import Detection
from server.pipeline.batcher import (
    ANALYZE_STREAM,
    DEADLINES_KEY,
    HELD_PREFIX,
    BatchAggregator,
    batch_key,
    image_size_of,
)
from server.pipeline.analyze_job import AnalyzeJob


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "batch_window_seconds": 2.0,
        "batch_idle_timeout_seconds": 0.6,
        "batch_max_detections": 500,
        "fast_path_confidence": 0.9,
        "fast_path_object_types": ["person"],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "front" / "snap.jpg"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (800, 600), (90, 120, 60)).save(path, "JPEG")
    return path


_next_id = iter(range(1, 1_000_000))


def _detection(
    file_path: Path, object_type: str = "car", confidence: float = 0.7, **extra: object
) -> Detection:
    return Detection(
        id=next(_next_id),
        camera_id="front",
        file_path=str(file_path),
        detected_at=extra.pop("detected_at", datetime.now(UTC)),
        object_type=object_type,
        confidence=confidence,
        bbox_x=10,
        bbox_y=20,
        bbox_width=100,
        bbox_height=200,
        media_type=extra.pop("media_type", "image"),
        **extra,
    )


async def _entries(redis: aioredis.Redis) -> list[AnalyzeJob]:
    return [
        AnalyzeJob.from_fields({k.decode(): v.decode() for k, v in fields.items()})
        for _id, fields in await redis.xrange(ANALYZE_STREAM)
    ]


async def test_idle_batch_closes_with_its_detection_ids(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))
    first = [_detection(snapshot), _detection(snapshot, "dog", 0.6)]
    result = await batcher.add_detections("front", first)
    assert result.enqueued == [] and result.batch_id
    second = [_detection(snapshot, "person", 0.8)]
    assert (await batcher.add_detections("front", second)).batch_id == result.batch_id

    assert await batcher.close_due() == []  # not idle long enough yet
    await asyncio.sleep(0.7)
    closed = await batcher.close_due()
    assert len(closed) == 1
    [entry] = await _entries(redis)
    assert entry.batch_id == result.batch_id
    assert list(entry.detection_ids) == [d.id for d in first + second]
    assert entry.is_fast_path is False and entry.close_reason == "idle"
    assert not await redis.exists(batch_key("front"))
    assert await redis.zcard(DEADLINES_KEY) == 0


async def test_busy_camera_closes_at_the_window_not_later(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path, batch_window_seconds=1.2))
    stop = asyncio.Event()
    closer = asyncio.create_task(batcher.run_closer(stop))
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        while loop.time() - began < 1.9:  # a detection every 0.3 s: never idle for 0.6 s
            await batcher.add_detections("front", [_detection(snapshot)])
            await asyncio.sleep(0.3)
        entries = await _entries(redis)
        assert entries, "the window should have closed the first batch"
        assert entries[0].close_reason == "window"
        opened, closed = entries[0].opened_at, entries[0].closed_at
        assert isinstance(opened, float) and isinstance(closed, float)
        assert 1.2 <= closed - opened < 1.2 + 0.6
    finally:
        stop.set()
        await closer


async def test_size_cap_closes_at_once(redis: aioredis.Redis, tmp_path: Path, snapshot: Path) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path, batch_max_detections=3))
    await batcher.add_detections("front", [_detection(snapshot), _detection(snapshot)])
    result = await batcher.add_detections("front", [_detection(snapshot), _detection(snapshot)])
    assert result.close_reason == "max_detections" and len(result.enqueued) == 1
    [entry] = await _entries(redis)
    assert len(entry.detection_ids) == 4  # one file's detections are never split


async def test_detection_for_an_overdue_batch_closes_it_and_opens_a_new_one(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path, batch_idle_timeout_seconds=0.3))
    first = await batcher.add_detections("front", [_detection(snapshot)])
    await asyncio.sleep(0.4)  # due, but no closer running
    second = await batcher.add_detections("front", [_detection(snapshot)])
    assert second.batch_id != first.batch_id and len(second.enqueued) == 1
    [entry] = await _entries(redis)
    assert entry.batch_id == first.batch_id


async def test_fast_path_closes_at_once_and_at_most_once_per_window(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))
    car = _detection(snapshot, "car", 0.8)
    await batcher.add_detections("front", [car])
    person = _detection(snapshot, "person", 0.95)
    result = await batcher.add_detections("front", [person])
    assert result.close_reason == "fast_path" and len(result.enqueued) == 1
    [entry] = await _entries(redis)
    assert entry.is_fast_path is True
    assert list(entry.detection_ids) == [car.id, person.id]  # the open batch's context comes along

    # The same person a moment later: joins a normal batch instead of raising another event.
    again = await batcher.add_detections("front", [_detection(snapshot, "person", 0.97)])
    assert again.close_reason is None and again.enqueued == []
    # A low-confidence person or a confident dog never takes the fast path.
    assert not batcher.is_fast_path(_detection(snapshot, "person", 0.89))
    assert not batcher.is_fast_path(_detection(snapshot, "dog", 0.99))


async def test_racing_closers_queue_a_batch_exactly_once(
    redis: aioredis.Redis, redis_url: str, tmp_path: Path, snapshot: Path
) -> None:
    settings = _settings(tmp_path, batch_idle_timeout_seconds=0.2)
    clients = [aioredis.from_url(redis_url) for _ in range(4)]
    try:
        batchers = [BatchAggregator(client, settings) for client in clients]
        for round_number in range(5):
            camera = f"cam{round_number}"
            await batchers[0].add_detections(camera, [_detection(snapshot)])
        await asyncio.sleep(0.3)
        results = await asyncio.gather(
            *(b.close_camera_if_due(f"cam{n}") for b in batchers for n in range(5) for _ in range(3))
        )
        assert len([r for r in results if r]) == 5
        entries = await _entries(redis)
        assert sorted(e.camera_id for e in entries) == [f"cam{n}" for n in range(5)]
    finally:
        for client in clients:
            await client.aclose()


async def test_full_queue_holds_the_closed_batch_until_it_drains(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path, queue_max_len=10, batch_idle_timeout_seconds=0.2))
    for n in range(10):
        await redis.xadd(ANALYZE_STREAM, {"filler": str(n)})
    result = await batcher.add_detections("front", [_detection(snapshot, "person", 0.99)])
    assert result.backpressure and result.enqueued == [] and result.close_reason == "fast_path"
    await asyncio.sleep(0.3)
    assert await batcher.close_due() == []
    assert not await redis.exists(batch_key("front"))  # closed: takes no more detections
    assert await redis.llen(HELD_PREFIX + ANALYZE_STREAM) == 1  # held, not dropped
    await redis.xtrim(ANALYZE_STREAM, maxlen=0)
    assert len(await batcher.close_due()) == 1
    assert await redis.llen(HELD_PREFIX + ANALYZE_STREAM) == 0


def test_a_detection_is_measured_on_its_stored_size_else_its_frame_or_its_file(
    tmp_path: Path, snapshot: Path
) -> None:
    stored = _detection(tmp_path / "missing.jpg", image_width=1280, image_height=720)
    assert image_size_of(stored) == (1280, 720)  # no file needed
    clip = _detection(tmp_path / "missing.mp4", media_type="video", video_width=1920, video_height=1080)
    assert image_size_of(clip) == (1920, 1080)
    assert image_size_of(_detection(snapshot)) == (800, 600)  # a row from before sizes were stored
    assert image_size_of(_detection(tmp_path / "gone.jpg")) is None


async def test_rows_without_objects_are_not_batched(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))
    empty = _detection(snapshot)
    empty.object_type = None
    assert (await batcher.add_detections("front", [empty])).batch_id is None
    assert not await redis.exists(batch_key("front"))


async def test_rows_handed_on_again_after_a_crash_are_not_batched_twice(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path, batch_max_detections=2))
    rows = [_detection(snapshot), _detection(snapshot)]
    assert len((await batcher.add_detections("front", rows)).enqueued) == 1
    again = await batcher.add_detections("front", rows)  # the detect worker's redelivery
    assert again.batch_id is None and again.enqueued == []
    assert len(await _entries(redis)) == 1 and not await redis.exists(batch_key("front"))


async def test_an_old_upload_after_newer_ones_is_an_event_of_its_own(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    """A camera's FTP client catches up: pictures taken two hours ago arrive while a batch of now is
    open. They group among themselves in the camera's late batch, and the batch of now goes on with the
    next picture of now. (The old ones joined the open batch before: one person 'lingering 7205 s';
    then each closed it: an event per file when old and new interleave.)"""
    settings = _settings(tmp_path, batch_window_seconds=30.0, batch_idle_timeout_seconds=20.0)
    batcher = BatchAggregator(redis, settings)
    now = datetime.now(UTC)
    current = await batcher.add_detections("front", [_detection(snapshot, "person", 0.8, detected_at=now)])
    old = [now - timedelta(hours=2, seconds=seconds) for seconds in (10, 0)]
    late = [await batcher.add_detections("front", [_detection(snapshot, detected_at=at)]) for at in old]
    soon = now + timedelta(seconds=5)
    again = await batcher.add_detections("front", [_detection(snapshot, detected_at=soon)])
    assert late[0].batch_id == late[1].batch_id != current.batch_id
    assert again.batch_id == current.batch_id
    assert await _entries(redis) == []
    assert sorted(await redis.zrange(DEADLINES_KEY, 0, -1)) == [b"front", b"front:late"]
