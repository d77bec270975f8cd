"""The pipeline end to end, in process: files on disk → watcher → stream → tiny RT-DETRv2 → rows.

Real PostgreSQL, Redis, files and a random-weight RT-DETRv2 saved to disk and loaded through the
product's `load_detector` (confidence 0.0, so its noise boxes become rows).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from PIL import Image
from sqlalchemy import func, select

from server.config import Settings
from server.detect import COCO_CLASSES, Detector, load_detector
from server.models import Camera, Detection, Event, Log
from server.pipeline import dedup
from server.pipeline.broadcast import CHANNEL
from server.pipeline.detect_worker import DetectionSink, DetectWorker
from server.pipeline.intake import pipeline_stream
from server.pipeline import watcher as watcher_module
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime
from tests.support.media import (
    truncate,
    write_h264_clip,
    write_jpeg,
    write_png_claiming_size,
    write_undecodable_mp4,
)
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings, rejection_for
from tests.support.rtdetr import build_tiny_rtdetr


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_rtdetr(tmp_path_factory.mktemp("rtdetr"))


@pytest.fixture(scope="module")
def detector(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Detector:
    settings = _settings(tmp_path_factory.mktemp("s"), tiny_model)
    loaded = load_detector(settings)
    loaded.warmup()
    return loaded


def _settings(tmp_path: Path, tiny_model: Path) -> Settings:
    """All 80 classes: the random model's noise boxes fall in any class, and every frame needs rows."""
    return pipeline_settings(
        tmp_path, detector="rtdetr", detector_model=tiny_model, detection_classes=list(COCO_CLASSES)
    )


@asynccontextmanager
async def running(
    runtime: Runtime, detector: Detector, *, catch_up: bool = False, sink: DetectionSink | None = None
) -> AsyncIterator[FileWatcher]:
    """Watcher + one detect worker on the test's stores, stopped cleanly afterwards."""
    watcher = FileWatcher(runtime)
    await watcher.start()
    worker = DetectWorker(runtime, detector, consumer="test-worker", sink=sink)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        if catch_up:
            await watcher.catch_up()
        yield watcher
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await watcher.stop()


async def _rows(runtime: Runtime) -> list[Detection]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(Detection).order_by(Detection.id)))


async def _processed(runtime: Runtime) -> set[str]:
    return {member.decode() for member in await runtime.redis.zrange(dedup.LEDGER_KEY, 0, -1)}


async def test_images_and_a_clip_in_three_camera_folders(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, tiny_model: Path, detector: Detector
) -> None:
    settings = _settings(tmp_path, tiny_model)
    sink_calls: list[tuple[str, list[int]]] = []
    async with pipeline_runtime(settings, db_url, redis) as runtime:

        async def sink(camera_id: str, detections: list[Detection]) -> None:
            sink_calls.append((camera_id, [d.id for d in detections]))

        pubsub = runtime.redis.pubsub()
        await pubsub.subscribe(CHANNEL)
        folders = ["Front Door", "garage", "Back-Yard"]
        async with running(runtime, detector, sink=sink) as watcher:
            files = [
                write_jpeg(settings.cameras_dir / folders[n % 3] / f"snap_{n}.jpg", seed=n) for n in range(6)
            ]
            clip = write_h264_clip(settings.cameras_dir / "garage" / "clip.mp4", seconds=5.0, fps=10)
            expected = len(files) + 1

            async def all_processed() -> bool:
                return len(await _processed(runtime)) == expected

            await eventually(all_processed, timeout=60)
            # The same bytes again under another name, and a rewrite of a processed file: no new work.
            (settings.cameras_dir / "garage" / "dupe.jpg").write_bytes(files[1].read_bytes())
            files[0].write_bytes(files[0].read_bytes())
            await asyncio.sleep(1.0)
            await watcher.idle()
        rows = await _rows(runtime)

        async with runtime.database.sessions() as session:
            cameras = {c.id: c for c in await session.scalars(select(Camera))}
        assert set(cameras) == {"front_door", "garage", "back_yard"}
        assert cameras["front_door"].name == "Front Door" and cameras["garage"].status == "online"
        assert all(c.last_seen_at is not None for c in cameras.values())

        by_file = Counter(row.file_path for row in rows)
        assert set(by_file) == {str(f) for f in files} | {str(clip)}  # every file, once, nothing else
        for row in rows:
            assert row.file_hash and row.object_type in settings.detection_classes
            assert row.bbox_width > 0 and row.bbox_height > 0
            thumbnail = Path(row.thumbnail_path)
            assert thumbnail.is_relative_to(settings.thumbnails_dir)
            with Image.open(thumbnail) as image:
                assert image.size == (320, 240)
        video_rows = [row for row in rows if row.file_path == str(clip)]
        assert {row.media_type for row in video_rows} == {"video"}
        assert {(r.video_codec, r.video_width, r.video_height) for r in video_rows} == {("h264", 320, 240)}
        assert video_rows[0].duration == pytest.approx(5.0, abs=0.2) and video_rows[0].file_type == "video/mp4"
        # Frames sampled at 0.5, 2.5, 4.5 s: detections carry the frame's time.
        offsets = {round((r.detected_at - video_rows[0].detected_at).total_seconds()) for r in video_rows}
        assert offsets <= {0, 2, 4} and len(offsets) >= 2
        image_rows = [row for row in rows if row.media_type == "image"]
        assert {row.file_type for row in image_rows} == {"image/jpeg"} and image_rows[0].duration is None

        # Each file was detected once: one inference log row per file, duration recorded.
        async def inference_logs() -> list[Log]:
            async with runtime.database.sessions() as session:
                found = await session.scalars(select(Log).where(Log.component == "detector"))
                return [row for row in found if "objects in" in row.message] or []

        logged = await eventually(lambda: _at_least(inference_logs, expected))
        assert Counter(row.extra["file_path"] for row in logged) == Counter(
            [str(f) for f in files] + [str(clip)]
        )
        assert all(row.duration_ms is not None and row.camera_id for row in logged)

        # Everything committed went to the sink and the broadcast, once per row.
        assert sorted(i for _, ids in sink_calls for i in ids) == [row.id for row in rows]
        created = []
        quiet = 0
        while quiet < 3:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is None:
                quiet += 1
                continue
            body = json.loads(message["data"])
            # A file's messages travel as one publication (unpacked by the WebSocket relay).
            for inner in body["data"] if body["type"] == "batch" else [body]:
                if inner["type"] == "detection.created":
                    created.append(inner["data"]["id"])
        assert sorted(created) == [row.id for row in rows]
        await pubsub.aclose()


async def _at_least(fetch, count: int):  # type: ignore[no-untyped-def]
    rows = await fetch()
    return rows if len(rows) >= count else None


async def test_a_redelivered_entry_creates_nothing_twice(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, tiny_model: Path, detector: Detector
) -> None:
    settings = _settings(tmp_path, tiny_model)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with running(runtime, detector):
            path = write_jpeg(settings.cameras_dir / "porch" / "a.jpg", seed=11)
            await eventually(lambda: _processed(runtime))
            before = [row.id for row in await _rows(runtime)]
            assert before
            entry = {
                "camera_id": "porch", "file_path": str(path), "timestamp": "2026-01-01T00:00:00+00:00",
                "media_type": "image", "file_hash": await asyncio.to_thread(dedup.file_sha256, path),
            }
            # Redelivery after a crash between commit and ledger: the ledger entry is gone.
            await runtime.redis.delete(dedup.LEDGER_KEY)
            await pipeline_stream(runtime).add(entry)
            await eventually(lambda: _processed(runtime))
            await pipeline_stream(runtime).add(entry)  # and once more with the ledger present
            await eventually(lambda: _depth_zero(runtime))
        assert [row.id for row in await _rows(runtime)] == before


async def test_old_bytes_uploaded_again_after_the_ledger_forgot_them_make_no_second_event(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, tiny_model: Path, detector: Detector
) -> None:
    """Intake asks only the ledger (7 days); the commit finds the rows and sees them in an event."""
    settings = _settings(tmp_path, tiny_model)
    handed_on: list[list[int]] = []
    async with pipeline_runtime(settings, db_url, redis) as runtime:

        async def sink(camera_id: str, detections: list[Detection]) -> None:
            handed_on.append([d.id for d in detections])

        async with running(runtime, detector, sink=sink):
            first = write_jpeg(settings.cameras_dir / "porch" / "a.jpg", seed=12)
            await eventually(lambda: _processed(runtime))
            rows = await _rows(runtime)
            assert handed_on == [[row.id for row in rows]]
            async with runtime.database.sessions() as session:
                session.add(Event(
                    batch_id="old", camera_id="porch", started_at=rows[0].detected_at,
                    ended_at=rows[-1].detected_at, detection_ids=json.dumps([row.id for row in rows]),
                ))
                await session.commit()
            await runtime.redis.delete(dedup.LEDGER_KEY, *await runtime.redis.keys("hsi:dedup:*"))
            again = settings.cameras_dir / "porch" / "a-again.jpg"
            again.write_bytes(first.read_bytes())
            await eventually(lambda: _processed(runtime))  # queued, committed and remembered again
            await eventually(lambda: _depth_zero(runtime))
        assert [row.id for row in await _rows(runtime)] == [row.id for row in rows]
        assert len(handed_on) == 1


async def _depth_zero(runtime: Runtime) -> bool:
    return await pipeline_stream(runtime).depth() == 0


async def test_bad_uploads_are_logged_and_the_pipeline_continues(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, tiny_model: Path, detector: Detector
) -> None:
    settings = _settings(tmp_path, tiny_model)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        cameras = settings.cameras_dir
        cameras.mkdir(parents=True)
        outside = write_jpeg(tmp_path / "outside" / "secret.jpg")
        async with running(runtime, detector) as watcher:
            folder = cameras / "Drive way"
            folder.mkdir()
            bad: list[Path] = []
            empty = folder / "empty.jpg"
            empty.write_bytes(b"")
            bad.append(empty)
            bad.append(truncate(write_jpeg(folder / "cut.jpg", seed=2)))
            text = folder / "text.jpg"
            text.write_text("not a picture " * 2000)
            bad.append(text)
            bad.append(write_png_claiming_size(folder / "bomb.png", 40_000, 40_000))
            notes = folder / "notes.doc"
            notes.write_bytes(b"x" * 20_000)
            bad.append(notes)
            link = folder / "link.jpg"
            link.symlink_to(outside)
            bad.append(link)
            bad.append(write_undecodable_mp4(folder / "broken.mp4"))
            odd = cameras / "@@@"
            bad.append(write_jpeg(odd / "odd.jpg", seed=4))
            vanished = write_jpeg(folder / "vanishing.jpg", seed=5)
            vanished.unlink()
            bad.append(vanished)
            good = write_jpeg(cameras / "Ünïcode Cam!" / "good.jpg", seed=6)

            for path in bad:
                row = await eventually(lambda p=path: rejection_for(runtime, p), timeout=20)
                assert str(path) in row.message and row.extra["reason"]
            await eventually(lambda: _processed(runtime), timeout=30)
            await watcher.idle()
        rows = await _rows(runtime)
        assert {row.file_path for row in rows} == {str(good)}
        assert {row.camera_id for row in rows} == {"unicode_cam_6e37b897"}  # folded, with the name hash


async def test_files_dropped_while_down_are_processed_on_start(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, tiny_model: Path, detector: Detector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The catch-up looks back a week; here 8 s, so that a file can be older than that by every clock.
    monkeypatch.setattr(watcher_module, "CATCH_UP_WINDOW_SECONDS", 8.0)
    settings = _settings(tmp_path, tiny_model)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        # Beyond the catch-up window: left alone, not re-hashed at every start.
        write_jpeg(settings.cameras_dir / "garage" / "long_ago.jpg", seed=40)
        await asyncio.sleep(8.5)
        async with running(runtime, detector):
            done = write_jpeg(settings.cameras_dir / "porch" / "before.jpg", seed=20)
            await eventually(lambda: _processed(runtime))
        # Down: new files arrive, and Redis loses its ledger (the database still knows `done`).
        later = [write_jpeg(settings.cameras_dir / "porch" / f"later_{n}.jpg", seed=30 + n) for n in range(3)]
        # Copied in keeping a month-old modification time (`rsync -a`): it arrived now all the same. A
        # review's finding: it was taken for last month's and never processed.
        copied = write_jpeg(settings.cameras_dir / "porch" / "copied.jpg", seed=50)
        month_ago = time.time() - 30 * 24 * 3600
        os.utime(copied, (month_ago, month_ago))
        later.append(copied)
        await runtime.redis.delete(dedup.LEDGER_KEY)
        before = len(await _rows(runtime))
        async with running(runtime, detector, catch_up=True) as watcher:

            async def caught_up() -> bool:
                return len(await _processed(runtime)) == 5

            await eventually(caught_up, timeout=30)
            await watcher.idle()
        rows = await _rows(runtime)
        assert {row.file_path for row in rows} == {str(done), *map(str, later)}  # not the stale one
        assert len([r for r in rows if r.file_path == str(done)]) == before
        async with runtime.database.sessions() as session:
            per_file = await session.execute(
                select(Detection.file_hash, func.count(func.distinct(Detection.detected_at))).group_by(
                    Detection.file_hash
                )
            )
            assert all(count == 1 for _, count in per_file)
