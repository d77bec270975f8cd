"""Long recordings are looked at to their end, share the detect worker's memory budget, and do not hold
up the snapshots queued behind them.

Finding: a 120 s recording, grey for 90 s and then people, gave 0 detections and no log line: only the
first ~58 s were sampled (30 frames, one every 2 s). The recordings here are real H.264 files built from
flat grey frames and then vtest.avi's street; the detector is the default one (SSD-MobileNet-V2 COCO).
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from server import cpus
from server.detect import load_detector
from server.models import Detection
from server.pipeline import dedup
from server.pipeline.byte_budget import ByteBudget
from server.pipeline.detect_worker import DetectWorker, decoded_bytes
from server.pipeline.detect_job import DetectJob
from server.pipeline.intake import submit_file
from server.runtime import Runtime
from tests.support.media import grey_then_people, write_recording
from tests.support.photos import video_frame
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings
from tests.support.real_media import media_path
from tests.support.watching import drained

GREY_SECONDS = 90
PEOPLE_SECONDS = 30


async def _detect(runtime: Runtime, worker: DetectWorker, files: list[Path]) -> list[Detection]:
    for path in files:
        assert (await submit_file(runtime, path, camera_folder=path.parent.name, source="watcher")).status == "queued"
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: drained(runtime), timeout=240, interval=0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(Detection).order_by(Detection.detected_at)))


@pytest.mark.parametrize("live", [True, False], ids=["mkv-without-duration", "mp4"])
async def test_people_at_the_end_of_a_long_recording_are_found(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, live: bool
) -> None:
    settings = pipeline_settings(tmp_path, detector="ssd_mobilenet", detection_confidence=0.5)
    name = "yard.mkv" if live else "yard.mp4"
    recording = write_recording(
        settings.cameras_dir / "yard" / name,
        grey_then_people(GREY_SECONDS, PEOPLE_SECONDS, fps=2),
        fps=2,
        size=(768, 576),
        live=live,
    )
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        worker = DetectWorker(runtime, load_detector(settings), consumer="long")
        rows = await _detect(runtime, worker, [recording])
        logs = await log_rows(runtime)
    # Intake records the file's time, the recording's end: its frames are dated before it, from its
    # start (they were dated after it, by up to the recording's length, before).
    written = datetime.fromtimestamp(recording.stat().st_mtime, tz=UTC)
    assert rows and max(row.detected_at for row in rows) <= written
    started = written - timedelta(seconds=GREY_SECONDS + PEOPLE_SECONDS)
    people = [row for row in rows if row.object_type == "person"]
    offsets = sorted({round((row.detected_at - started).total_seconds(), 1) for row in people})
    print(f"{len(people)} people in frames at {offsets} s")
    assert len(people) >= 5 and len(offsets) >= 3, offsets
    # Nothing in the grey part; the people are seen within one stride of coming into view.
    sampling = [row for row in logs if "sampled" in row.message and str(recording) in row.message]
    assert len(sampling) == 1, [row.message for row in logs]
    note = sampling[0].extra or {}
    assert note["requested_every"] == 2.0 and note["every"] >= 3.5 and note["max_frames"] == 30
    assert note["last_at"] >= GREY_SECONDS + PEOPLE_SECONDS - note["every"]  # looked at to its end
    assert GREY_SECONDS <= offsets[0] <= GREY_SECONDS + note["every"], offsets
    assert all(row.media_type == "video" and row.video_codec == "h264" for row in people)


async def test_recordings_in_flight_share_the_workers_memory_budget(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """A window of several 1080p recordings is held to the budget (one at a time here), and all are done."""
    settings = pipeline_settings(tmp_path, detector="ssd_mobilenet", detection_confidence=0.5, detector_batch_size=4)
    files = []
    for index in range(4):
        pictures = grey_then_people(0, 4 + index, fps=1)
        files.append(write_recording(settings.cameras_dir / "street" / f"{index}.mp4", pictures, fps=1, size=(1920, 1080)))
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        worker = DetectWorker(runtime, load_detector(settings), consumer="budget")
        one = decoded_bytes(_job_like(files[0]))
        worker.budget = ByteBudget(one + one // 2)  # room for one recording at a time
        rows = await _detect(runtime, worker, files)
    assert {row.file_path for row in rows if row.object_type == "person"} == {str(path) for path in files}
    assert worker.budget.peak == one and worker.budget.held == 0


async def test_a_snapshot_queued_behind_recordings_is_not_held_up_by_their_sampling(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """Recordings are sampled outside the worker's picture threads (one per CPU): with one recording
    more than there are such threads queued first, a snapshot queued after them is done before any of
    them (in those threads it would wait for two recordings' sampling, seconds, before its decode)."""
    settings = pipeline_settings(tmp_path, detector="ssd_mobilenet", detection_confidence=0.5, detector_batch_size=8)
    recordings = []
    for index in range(cpus.usable() + 1):  # vtest.avi: 795 real frames, all decoded when sampled
        recordings.append(settings.cameras_dir / f"lane_{index}" / "motion.avi")
        recordings[-1].parent.mkdir(parents=True)
        shutil.copyfile(media_path("vtest.avi"), recordings[-1])
    snapshot = settings.cameras_dir / "door" / "snapshot.jpg"
    snapshot.parent.mkdir(parents=True)
    video_frame(media_path("vtest.avi"), 300).save(snapshot, "JPEG", quality=85)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        worker = DetectWorker(runtime, load_detector(settings), consumer="behind")
        rows = await _detect(runtime, worker, [*recordings, snapshot])
        hashes = {row.file_path: row.file_hash for row in rows}
        done = {
            path: await redis.zscore(dedup.LEDGER_KEY, dedup.ledger_member(path.parent.name, hashes[str(path)]))
            for path in [*recordings, snapshot]
        }
    assert all(at is not None for at in done.values()), done
    recordings_done = sorted(done[path] for path in recordings)
    print(f"snapshot done {recordings_done[0] - done[snapshot]:.2f} s before the first recording")
    assert done[snapshot] < recordings_done[0], done


def _job_like(path: Path) -> DetectJob:
    """The detect job intake makes of a 1080p recording, for the size `decoded_bytes` estimates."""
    return DetectJob(
        camera_id="street", camera_name="street", file_path=path, file_hash="", media_type="video",
        file_type="video/mp4", uploaded_at=datetime.now(UTC), source="watcher", seen_at=0.0, queued_at=0.0,
        width=1920, height=1080,
    )  # fmt: skip
