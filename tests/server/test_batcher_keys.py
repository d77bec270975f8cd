"""The batcher's Redis keys against the camera ids users have and the states Redis is left in.

Camera ids are `[a-z0-9_]{1,100}`: a folder named "Deadlines" or "Fast" is a camera. Its batch was
`hsi:batch:<camera>`, beside the batcher's own keys: camera `deadlines` wrote a hash over the deadlines
sorted set (WRONGTYPE for every camera after it, until someone deleted the key by hand), and camera
`fast`'s late batch was camera `late`'s fast-path gate. A file's "already batched" marker, named by its
smallest detection id alone, took the first files after a database reset (ids from 1 again, Redis
kept) for files it had seen: no event. And the marker was set before the script's other writes, so a
script failing on the way left its rows marked, and the detect worker's retry of them was dropped.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from PIL import Image
from redis.exceptions import ResponseError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.models import Camera, Detection, normalize_camera_id
from server.pipeline.batcher import ANALYZE_STREAM, DEADLINES_KEY, BatchAggregator, batch_key

_ids = iter(range(10_000, 10_000_000))


def _settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=tmp_path,
        batch_window_seconds=2.0,
        batch_idle_timeout_seconds=0.3,
        batch_max_detections=500,
        fast_path_confidence=0.9,
        fast_path_object_types=["person"],
    )


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snap.jpg"
    Image.new("RGB", (64, 48), (90, 120, 60)).save(path, "JPEG")
    return path


def _detection(
    snapshot: Path,
    camera: str,
    object_type: str = "car",
    confidence: float = 0.7,
    detected_at: datetime | None = None,
) -> Detection:
    return Detection(
        id=next(_ids),
        camera_id=camera,
        file_path=str(snapshot),
        detected_at=detected_at or datetime.now(UTC),
        object_type=object_type,
        confidence=confidence,
        bbox_x=1,
        bbox_y=1,
        bbox_width=10,
        bbox_height=10,
        media_type="image",
    )


async def _queued_cameras(redis: aioredis.Redis) -> list[str]:
    return sorted(fields[b"camera_id"].decode() for _id, fields in await redis.xrange(ANALYZE_STREAM))


async def _close_all(batcher: BatchAggregator) -> None:
    await asyncio.sleep(0.4)  # past the idle timeout
    await batcher.close_due()


@pytest.mark.parametrize("first", ["front", "deadlines"])
async def test_a_camera_named_deadlines_is_batched_like_any_other(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path, first: str
) -> None:
    assert normalize_camera_id("Deadlines") == "deadlines"
    batcher = BatchAggregator(redis, _settings(tmp_path))
    for camera in (first, "deadlines" if first == "front" else "front"):
        await batcher.add_detections(camera, [_detection(snapshot, camera)])
    assert await redis.type(DEADLINES_KEY) == b"zset"
    await _close_all(batcher)
    assert await _queued_cameras(redis) == ["deadlines", "front"]


async def test_camera_fast_s_backlog_and_camera_late_s_fast_path_keep_apart(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))
    fast = await batcher.add_detections("late", [_detection(snapshot, "late", "person", 0.95)])
    assert fast.close_reason == "fast_path"
    hour_ago = datetime.now(UTC) - timedelta(hours=1)  # camera "fast" catching up: its late batch
    await batcher.add_detections("fast", [_detection(snapshot, "fast", detected_at=hour_ago)])
    await _close_all(batcher)
    assert await _queued_cameras(redis) == ["fast", "late"]


async def test_rows_of_a_failed_append_are_taken_when_handed_on_again(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))
    rows = [_detection(snapshot, "front")]
    await redis.set(batch_key("front"), "not a batch")  # the script fails half-way
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await batcher.add_detections("front", rows)
    await redis.delete(batch_key("front"))
    retry = await batcher.add_detections("front", rows)
    assert retry.batch_id is not None, "the retried rows were taken for rows already batched"
    again = await batcher.add_detections("front", rows)
    assert again.batch_id is None  # once batched, a redelivery is still a duplicate


async def test_new_files_after_a_database_reset_make_events(
    session: AsyncSession, redis: aioredis.Redis, tmp_path: Path
) -> None:
    batcher = BatchAggregator(redis, _settings(tmp_path))

    async def stored_person(camera: str, file_name: str) -> Detection:
        session.add(Camera(id=camera, name=camera.title(), folder_path=f"/cameras/{camera}"))
        row = Detection(
            camera_id=camera,
            file_path=f"/cameras/{camera}/{file_name}",
            detected_at=datetime.now(UTC),
            object_type="person",
            confidence=0.95,
            bbox_x=1,
            bbox_y=1,
            bbox_width=10,
            bbox_height=10,
            media_type="image",
        )
        session.add(row)
        await session.commit()
        return row

    before = await stored_person("front", "monday.jpg")
    assert (await batcher.add_detections("front", [before])).close_reason == "fast_path"
    # The database is reset (ids from 1 again); Redis, an external one, keeps its keys.
    await session.execute(text("TRUNCATE detections, cameras RESTART IDENTITY CASCADE"))
    await session.commit()
    after = await stored_person("garage", "tuesday.jpg")
    assert after.id == before.id
    result = await batcher.add_detections("garage", [after])
    assert result.batch_id is not None, "the garage's person was taken for a file already batched"
    assert await _queued_cameras(redis) == ["front", "garage"]


@pytest.mark.parametrize("late", [False, True])
async def test_a_batch_open_at_the_upgrade_is_closed_with_its_detections(
    redis: aioredis.Redis, tmp_path: Path, snapshot: Path, late: bool
) -> None:
    """Batches open when the release before 2026-12 stopped are at `hsi:batch:<camera>[:late]`: the
    closer, or the camera's next detections, take them over; none is dropped."""
    slot = "front:late" if late else "front"
    now = datetime.now(UTC).timestamp()
    await redis.hset(
        f"hsi:batch:{slot}",
        mapping={
            "batch_id": "b0", "camera_id": "front", "started": now - 5, "last_seen": now - 5,
            "count": 2, "ids": "7,8", "first_at": now - 5, "last_at": now - 5,
        },
    )  # fmt: skip
    await redis.zadd(DEADLINES_KEY, {slot: now - 1})
    batcher = BatchAggregator(redis, _settings(tmp_path))
    await batcher.close_due()
    entries = await redis.xrange(ANALYZE_STREAM)
    assert [(f[b"batch_id"], f[b"detection_ids"]) for _id, f in entries] == [(b"b0", b"[7,8]")]

    # One still open when a detection of its camera comes first joins it.
    await redis.hset(f"hsi:batch:{slot}", mapping={"batch_id": "b1", "camera_id": "front", "started": now,
                                                   "last_seen": now, "count": 1, "ids": "9",
                                                   "first_at": now - (3600 if late else 0),
                                                   "last_at": now - (3600 if late else 0)})  # fmt: skip
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    joined = await batcher.add_detections(
        "front", [_detection(snapshot, "front", detected_at=hour_ago if late else None)]
    )
    assert joined.batch_id == "b1"
    assert not await redis.exists(f"hsi:batch:{slot}")
