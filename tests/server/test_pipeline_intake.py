"""`submit_file` on real files, PostgreSQL and Redis: every bad upload is a logged rejection."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from server.detect import Detector
from server.models import Camera, Log
from server.pipeline.detect_job import DetectJob, FileIdentity
from server.pipeline.intake import MediaRejected, pipeline_stream, submit_file
from server.pipeline.streams import QueueFull
from server.runtime import Runtime
from tests.support.media import (
    truncate,
    write_h264_clip,
    write_jpeg,
    write_png_claiming_size,
    write_undecodable_mp4,
)
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings, rejection_for
from tests.support.watching import detect_all, ledger, logged_about, rows


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path), db_url, redis) as rt:
        rt.settings.cameras_dir.mkdir(parents=True)
        yield rt


def _bad_inputs(cameras: Path, outside: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, fragment of the reason its log row must give)."""
    folder = cameras / "Front Door"
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    text = folder / "notes.jpg"
    text.write_text("this is not a picture\n" * 1000)
    secret = write_jpeg(outside / "secret.jpg")
    link = folder / "link.jpg"
    link.symlink_to(secret)
    readme = folder / "readme.txt"
    readme.write_text("hello")
    loop = folder / "loop.jpg"
    loop.symlink_to("loop.jpg")
    huge = folder / "huge.jpg"  # sparse: a gigabyte that takes no disk space, and must not be read
    with huge.open("wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(1 << 30)
    return {
        "0-byte file": (empty, "empty"),
        "truncated JPEG": (truncate(write_jpeg(folder / "cut.jpg", seed=1)), "truncated"),
        "text named .jpg": (text, "not an image"),
        "decompression bomb": (write_png_claiming_size(folder / "bomb.png", 50_000, 50_000), "too large"),
        "unsupported extension": (readme, "unsupported file type .txt"),
        "symlink outside root": (link, "outside the upload folder"),
        # Python raised RuntimeError, which the watcher took for a store being away: retried every 5 s
        "symlink loop": (loop, "cannot be resolved"),
        "image over the size cap": (huge, "image file too large"),  # read whole into memory before
        "video without frames": (write_undecodable_mp4(folder / "nothing.mp4"), "frame"),
    }


async def test_every_bad_input_is_rejected_with_a_log_row(runtime: Runtime, tmp_path: Path) -> None:
    bad = _bad_inputs(runtime.settings.cameras_dir, tmp_path / "elsewhere")
    for name, (path, fragment) in bad.items():
        with pytest.raises(MediaRejected) as caught:
            await submit_file(runtime, path, camera_folder="Front Door", source="watcher")
        assert fragment in caught.value.reason, (name, caught.value.reason)
    for name, (path, fragment) in bad.items():
        row = await eventually(lambda p=path: rejection_for(runtime, p), timeout=10)
        assert str(path) in row.message and fragment in row.message, name
        assert row.level == "WARNING" and row.component == "intake"
        assert row.camera_id == "front_door" and row.extra["reason"]
    assert await pipeline_stream(runtime).depth() == 0
    # ... and the pipeline goes on: a good file after all of them is queued.
    good = write_jpeg(runtime.settings.cameras_dir / "Front Door" / "ok.jpg")
    result = await submit_file(runtime, good, camera_folder="Front Door", source="watcher")
    assert result.status == "queued"


async def test_a_file_deleted_before_processing_is_a_logged_rejection(runtime: Runtime) -> None:
    path = write_jpeg(runtime.settings.cameras_dir / "garage" / "gone.jpg")
    path.unlink()
    with pytest.raises(MediaRejected, match="deleted before"):
        await submit_file(runtime, path, camera_folder="garage", source="watcher")
    assert await eventually(lambda: rejection_for(runtime, path))


async def test_a_folder_name_that_normalises_to_nothing_is_rejected(runtime: Runtime) -> None:
    path = write_jpeg(runtime.settings.cameras_dir / "!!!" / "a.jpg")
    with pytest.raises(MediaRejected, match="no usable characters"):
        await submit_file(runtime, path, camera_folder="!!!", source="watcher")
    row = await eventually(lambda: rejection_for(runtime, path))
    assert row.camera_id is None


async def test_queueing_carries_the_camera_and_dedups_by_content(runtime: Runtime) -> None:
    folder = runtime.settings.cameras_dir / "Back Yard (östlich) #2"
    first = write_jpeg(folder / "a.jpg", (800, 600), seed=3)
    copy = folder / "a-copy.jpg"
    copy.write_bytes(first.read_bytes())
    clip = write_h264_clip(folder / "clip.mp4", seconds=2.0)

    queued = await submit_file(runtime, first, camera_folder=folder.name, source="watcher")
    again = await submit_file(runtime, copy, camera_folder=folder.name, source="watcher")
    video = await submit_file(runtime, clip, camera_folder=folder.name, source="watcher")

    assert queued.status == "queued" and queued.camera_id == "back_yard_ostlich_2_98b83d12"
    assert again.status == "duplicate" and again.file_hash == queued.file_hash
    assert video.status == "queued" and video.media_type == "video"
    async with runtime.database.sessions() as session:
        # Queueing touches no camera row: the detect worker creates the camera with the file's rows.
        assert list(await session.scalars(select(Camera))) == []
    entries = await runtime.redis.xrange(pipeline_stream(runtime).name)
    assert len(entries) == 2
    image = DetectJob.from_fields({k.decode(): v.decode() for k, v in entries[0][1].items()})
    expected = ("back_yard_ostlich_2_98b83d12", folder.name, first)
    assert (image.camera_id, image.camera_name, image.file_path) == expected
    assert (image.file_type, image.width, image.height, image.file_hash) == ("image/jpeg", 800, 600, queued.file_hash)
    assert image.identity == FileIdentity.of(first.stat())  # the file as it was hashed
    assert image.uploaded_at.timestamp() == pytest.approx(first.stat().st_mtime)
    video_job = DetectJob.from_fields({k.decode(): v.decode() for k, v in entries[1][1].items()})
    assert video_job.video is not None and video_job.video.codec == "h264"
    assert video_job.video.duration == pytest.approx(2.0, abs=0.2)


async def test_queue_full_gives_the_dedup_claim_back(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> None:
    settings = pipeline_settings(tmp_path, queue_max_len=10)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        paths = [write_jpeg(settings.cameras_dir / "porch" / f"{n}.jpg", seed=n) for n in range(11)]
        for path in paths[:10]:
            await submit_file(runtime, path, camera_folder="porch", source="watcher")
        with pytest.raises(QueueFull):
            await submit_file(runtime, paths[10], camera_folder="porch", source="watcher")
        await runtime.redis.xtrim(pipeline_stream(runtime).name, maxlen=0)
        result = await submit_file(runtime, paths[10], camera_folder="porch", source="watcher")
        assert result.status == "queued"  # not "duplicate": the refused attempt left no claim


async def test_an_upload_gone_before_detection_gives_the_dedup_claim_back(runtime: Runtime, hog: Detector) -> None:
    """The finding (a review, then tried): an FTP client that got no answer deletes its file and sends
    it again. When the detector read the queue in between, it rejected the file ('file not found') but
    kept the claim on its bytes, so the resent picture was answered 'duplicate' and never processed."""
    path = write_jpeg(runtime.settings.cameras_dir / "porch" / "upload.jpg")
    photo = path.read_bytes()
    assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"
    path.unlink()
    await detect_all(runtime, hog)
    path.write_bytes(photo)
    assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"
    await detect_all(runtime, hog)
    assert await ledger(runtime) == {f"porch|{hashlib.sha256(photo).hexdigest()}"}


async def test_ingest_files_must_live_under_the_ingest_folder(runtime: Runtime, tmp_path: Path) -> None:
    outside = write_jpeg(runtime.settings.cameras_dir / "porch" / "x.jpg")
    with pytest.raises(MediaRejected, match="outside the upload folder"):
        await submit_file(runtime, outside, camera_folder="porch", source="ingest")
    inside = write_jpeg(runtime.settings.ingest_dir / "porch" / "y.jpg", seed=2)
    assert (await submit_file(runtime, inside, camera_folder="porch", source="ingest")).status == "queued"
    assert os.path.exists(inside)


async def test_the_ledger_is_bounded(runtime: Runtime) -> None:
    from server.pipeline import dedup

    redis = runtime.redis
    old = dedup.ledger_member("porch", "a" * 64)
    await redis.zadd(dedup.LEDGER_KEY, {old: 1.0})  # processed long ago
    await dedup.mark_processed(redis, "porch", "b" * 64)
    assert not await dedup.is_processed(redis, "porch", "a" * 64)  # trimmed by the write
    assert await dedup.is_processed(redis, "porch", "b" * 64)
    assert await dedup.processed_count(redis) == 1


async def test_a_queued_file_replaced_by_a_fifo_or_a_link_out_of_the_root_is_rejected_unread(
    runtime: Runtime, tmp_path: Path, hog: Detector
) -> None:
    """The finding (a review, then tried): intake checks that a file is a regular file inside the upload
    root, but the detect worker read whatever the queued path held by then: a link out of the root was
    read and hashed, and a FIFO blocked a worker thread for good. The worker now checks again whenever
    the file is not the one intake looked at."""
    folder = runtime.settings.cameras_dir / "porch"
    fifo, link = write_jpeg(folder / "a.jpg", seed=1), write_jpeg(folder / "b.jpg", seed=2)
    for path in (fifo, link):
        assert (await submit_file(runtime, path, camera_folder="porch", source="watcher")).status == "queued"
    fifo.unlink()
    os.mkfifo(fifo)
    link.unlink()
    link.symlink_to(write_jpeg(tmp_path / "elsewhere" / "secret.jpg", seed=3))
    await asyncio.wait_for(detect_all(runtime, hog), 60)
    assert await rows(runtime) == []
    for path, reason in ((fifo, "not a regular file"), (link, "outside the upload folder")):
        [row] = await eventually(lambda p=path: _logged(runtime, p), timeout=10)
        assert reason in row.message, row.message


async def _logged(runtime: Runtime, path: Path) -> list[Log] | None:
    return await logged_about(runtime, path) or None
