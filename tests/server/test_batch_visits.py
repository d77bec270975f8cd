"""Batches as visits, whenever their detections are handed on: a backlog does not take the live fast path,
one visit handed on about a window late stays one; two cameras never share a batch, a camera uploading
all the time closes at the window.

Real Redis (the `redis` fixture); detections are in-memory `Detection` rows as the detect worker hands
them on, with the default settings that matter (90 s window, 30 s idle, fast path person ≥ 0.90).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from server.config import Settings
from server.models import Detection
from server.pipeline.analyze_job import AnalyzeJob
from server.pipeline.batcher import ANALYZE_STREAM, BatchAggregator

_next_id = iter(range(7_000_001, 8_000_000))


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "batch_window_seconds": 90.0,
        "batch_idle_timeout_seconds": 30.0,
        "batch_max_detections": 500,
        "fast_path_confidence": 0.9,
        "fast_path_object_types": ["person"],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _detection(
    at: datetime, object_type: str = "car", confidence: float = 0.7, camera: str = "front"
) -> Detection:
    return Detection(
        id=next(_next_id),
        camera_id=camera,
        file_path=f"/nonexistent/{camera}/snap-{at.timestamp():.3f}.jpg",
        detected_at=at,
        object_type=object_type,
        confidence=confidence,
        bbox_x=10,
        bbox_y=20,
        bbox_width=100,
        bbox_height=200,
        media_type="image",
        image_width=800,
        image_height=600,
    )


async def _entries(redis: aioredis.Redis) -> list[AnalyzeJob]:
    return [
        AnalyzeJob.from_fields({k.decode(): v.decode() for k, v in fields.items()})
        for _id, fields in await redis.xrange(ANALYZE_STREAM)
    ]


async def _close_everything(redis: aioredis.Redis, batcher: BatchAggregator) -> list[AnalyzeJob]:
    """Makes every open batch due (moves its Redis times back) and closes it."""
    for key in await redis.keys("hsi:batch:camera:*"):
        if (await redis.type(key)) == b"hash":
            await redis.hset(key, mapping={"started": "0", "last_seen": "0"})
            await redis.zadd("hsi:batch:deadlines", {key.decode().removeprefix("hsi:batch:camera:"): 0})
    await batcher.close_due()
    return await _entries(redis)


async def test_a_backlog_picture_of_a_person_does_not_take_the_live_fast_path(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """An FTP client back online (or a restart's catch-up) hands on a two-hour-old picture of a person;
    a moment later a person is at the door now. The old picture goes to the camera's late batch, but it
    takes the camera's one fast-path gate: the person at the door now gets no fast path, and the user
    hears of them only when the normal batch closes (30-90 s later)."""
    batcher = BatchAggregator(redis, _settings(tmp_path))
    now = datetime.now(UTC)
    old = await batcher.add_detections("front", [_detection(now - timedelta(hours=2), "person", 0.95)])
    assert old.batch_id is not None
    live = await batcher.add_detections("front", [_detection(now, "person", 0.96)])
    assert live.close_reason == "fast_path", (
        "a confident person at the door now raised no immediate event because a two-hour-old backlog "
        f"picture took the camera's fast-path gate (backlog batch closed as {old.close_reason!r}, "
        f"live batch close reason {live.close_reason!r})"
    )


async def test_a_visit_handed_on_about_a_window_late_is_one_event(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """A person walks past in 10 s (six pictures, 2 s apart) while the detect worker is about a minute
    and a half behind (a restart, a slow CPU detector, a GPU busy for a while); the six files are handed
    on within a second. Those older than the 90 s window go to the camera's late batch, the others to
    its live one: one visit of 10 s becomes two events (two alerts), and a later picture of the same
    visit handled live joins neither."""
    batcher = BatchAggregator(redis, _settings(tmp_path))
    now = datetime.now(UTC)
    visit = [now - timedelta(seconds=age) for age in (95, 93, 91, 89, 87, 85)]
    joined = set()
    for at in visit:
        result = await batcher.add_detections("front", [_detection(at, "person", 0.7)])
        joined.add(result.batch_id)
    jobs = await _close_everything(redis, batcher)
    assert len(jobs) == 1, (
        f"one person walking past in 10 s, handed on ~90 s late, made {len(jobs)} events "
        f"(detections per event: {[len(j.detection_ids) for j in jobs]})"
    )


async def test_two_cameras_never_share_a_batch(redis: aioredis.Redis, tmp_path: Path) -> None:
    """Regression check: detections of two cameras interleaved stay in their cameras' batches."""
    batcher = BatchAggregator(redis, _settings(tmp_path))
    now = datetime.now(UTC)
    front, back = [], []
    for n in range(5):
        front.append(_detection(now + timedelta(seconds=n), camera="front"))
        back.append(_detection(now + timedelta(seconds=n), camera="back"))
        await batcher.add_detections("front", [front[-1]])
        await batcher.add_detections("back", [back[-1]])
    jobs = await _close_everything(redis, batcher)
    by_camera = {job.camera_id: sorted(job.detection_ids) for job in jobs}
    assert by_camera == {"front": [d.id for d in front], "back": [d.id for d in back]}


async def test_a_person_low_in_the_first_frame_still_gets_the_fast_path(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """Regression check: a first picture below the fast-path confidence opens a normal batch; the next,
    confident one closes it at once with both detections."""
    batcher = BatchAggregator(redis, _settings(tmp_path))
    now = datetime.now(UTC)
    first = _detection(now, "person", 0.6)
    second = _detection(now + timedelta(seconds=2), "person", 0.95)
    await batcher.add_detections("front", [first])
    result = await batcher.add_detections("front", [second])
    assert result.close_reason == "fast_path"
    [job] = await _entries(redis)
    assert job.is_fast_path and list(job.detection_ids) == [first.id, second.id]


async def test_a_camera_uploading_every_few_seconds_closes_at_the_window(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """Regression check: a camera that keeps uploading does not keep one batch open past its window."""
    batcher = BatchAggregator(
        redis, _settings(tmp_path, batch_window_seconds=1.0, batch_idle_timeout_seconds=0.5)
    )
    start = datetime.now(UTC)
    for n in range(12):
        await batcher.add_detections("front", [_detection(start + timedelta(seconds=0.25 * n))])
        await asyncio.sleep(0.25)
    await batcher.close_due()
    jobs = await _entries(redis)
    assert len(jobs) >= 2, f"3 s of uploads every 0.25 s with a 1 s window made {len(jobs)} closed batches"
