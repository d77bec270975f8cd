"""Events from a backlog, and while the analyze queue is full (server/pipeline/batcher.py).

Uploads handled long after they were taken (a restart's catch-up, a detect backlog, an FTP client back
online) and closes the full analyze queue cannot take must make the events they would have made live.
Real Redis (the `redis` fixture); detections are in-memory `Detection` rows as the detect worker hands
them on.
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

_next_id = iter(range(5_000_001, 6_000_000))


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


def _detection(at: datetime, object_type: str = "car", confidence: float = 0.7) -> Detection:
    return Detection(
        id=next(_next_id),
        camera_id="front",
        file_path="/nonexistent/front/snap.jpg",
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


async def test_a_backlog_of_uploads_minutes_apart_is_not_one_event(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """After a restart (the catch-up scan queues what was uploaded meanwhile), a detect backlog, or an FTP
    client coming back online, a camera's uploads of the last minutes reach the batcher within a second.
    Cars passing every minute for ten minutes would have been ten events live (30 s idle between them);
    here they all join one open batch, because the `apart` rule only compares a file with the batch's
    span ±window, never the span the batch grows to: one event "lingering" 9 minutes, far beyond the
    90 s batch window (and up to 500 detections / hours for a long catch-up)."""
    settings = _settings(tmp_path)
    batcher = BatchAggregator(redis, settings)
    start = datetime.now(UTC) - timedelta(minutes=30)
    joined: dict[str, list[datetime]] = {}
    for minute in range(10):
        at = start + timedelta(seconds=60 * minute)
        result = await batcher.add_detections("front", [_detection(at)])
        assert result.batch_id is not None
        joined.setdefault(result.batch_id, []).append(at)
    spans = {batch: (max(times) - min(times)).total_seconds() for batch, times in joined.items()}
    window = settings.batch_window_seconds
    assert max(spans.values()) <= window, (
        f"one event covers {max(spans.values()):.0f} s of detections (window {window:.0f} s)"
    )


async def test_a_due_batch_held_by_a_full_queue_takes_no_new_detections(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """The module docstring: "A detection arriving for a batch that is already due closes that batch
    first and opens a new one, so a slow closer never stretches a window." While the analyze queue is at
    its cap (analyze role down or behind), the due batch cannot be queued, and every later detection of
    the camera is appended to it instead: its window and its size cap stop applying, so everything the
    camera sees for as long as the queue stays full (hours) becomes one event, and an upload hours old
    joins it too (the "lingering 7205 s" event the `apart` rule was written against)."""
    settings = _settings(
        tmp_path,
        queue_max_len=10,
        batch_window_seconds=2.0,
        batch_idle_timeout_seconds=0.3,
        batch_max_detections=3,
    )
    batcher = BatchAggregator(redis, settings)
    for n in range(10):
        await redis.xadd(ANALYZE_STREAM, {"filler": str(n)})
    now = datetime.now(UTC)
    first = await batcher.add_detections("front", [_detection(now)])
    await asyncio.sleep(0.4)  # idle: the batch is due, but the queue is full
    later = await batcher.add_detections("front", [_detection(now + timedelta(seconds=1))])
    old = await batcher.add_detections("front", [_detection(now - timedelta(hours=2))])
    more = [await batcher.add_detections("front", [_detection(now + timedelta(seconds=2))]) for _ in range(3)]
    batch_ids = [first.batch_id, later.batch_id, old.batch_id, *(r.batch_id for r in more)]

    await redis.xtrim(ANALYZE_STREAM, maxlen=0)  # the queue drains
    await asyncio.sleep(0.4)
    await batcher.close_due()
    sizes = [len(job.detection_ids) for job in await _entries(redis)]
    assert later.batch_id != first.batch_id, "a detection after the idle timeout joined the due batch"
    assert old.batch_id != later.batch_id, "an upload two hours old joined the current batch"
    assert max(sizes) <= settings.batch_max_detections + 1, f"batch sizes {sizes}, ids {batch_ids}"


async def test_a_fast_path_detection_held_by_a_full_queue_still_makes_a_fast_path_event(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """A confident person while the analyze queue is at its cap: the fast-path close is postponed (fine:
    nothing is dropped), but the gate is deleted and nothing remembers the batch was fast, so when the
    queue drains the closer queues it as an ordinary batch (`is_fast_path` 0, close reason idle/window):
    the event is not marked fast path, although it holds the person that qualified."""
    settings = _settings(tmp_path, queue_max_len=10, batch_window_seconds=2.0, batch_idle_timeout_seconds=0.3)
    batcher = BatchAggregator(redis, settings)
    for n in range(10):
        await redis.xadd(ANALYZE_STREAM, {"filler": str(n)})
    result = await batcher.add_detections("front", [_detection(datetime.now(UTC), "person", 0.97)])
    assert result.backpressure
    await redis.xtrim(ANALYZE_STREAM, maxlen=0)
    await asyncio.sleep(0.4)
    assert len(await batcher.close_due()) == 1
    [job] = await _entries(redis)
    assert job.is_fast_path, f"queued as an ordinary batch (close reason {job.close_reason})"


async def test_a_backlog_interleaved_with_live_uploads_does_not_make_an_event_per_file(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    """A camera back online uploads its backlog (pictures of two hours ago) while it keeps uploading live
    pictures, and a restart's catch-up queues old files among live ones. With one open batch per camera
    each file "apart" from it closed it: live, old, live, old... made one event per file (19 events for
    20 uploads, each scored, each able to raise an alert). The backlog has a batch of its own."""
    settings = _settings(tmp_path, batch_window_seconds=5.0, batch_idle_timeout_seconds=0.3)
    batcher = BatchAggregator(redis, settings)
    now = datetime.now(UTC)
    before = now - timedelta(hours=2)
    live, old = [], []
    for n in range(10):
        live.append(_detection(now + timedelta(seconds=0.2 * n)))
        old.append(_detection(before + timedelta(seconds=0.2 * n)))
        await batcher.add_detections("front", [live[-1]])
        await batcher.add_detections("front", [old[-1]])
    assert await _entries(redis) == []  # nothing split either batch
    await asyncio.sleep(0.4)
    await batcher.close_due()
    queued = sorted(job.detection_ids for job in await _entries(redis))
    assert queued == sorted([tuple(d.id for d in old), tuple(d.id for d in live)])
