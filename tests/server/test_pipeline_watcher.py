"""The watcher's timing rules and the worker's content check, on real files, PostgreSQL and Redis.

Uploads written in pieces (native events and the polling observer), under a temporary name renamed
into place, and re-uploaded with other bytes under the same name — before processing, and while the
first bytes are being queued. The detector is HOG on a real photo of people, so a file's rows are real
detections stored under the hash of the bytes they came from.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from server.detect import Detector
from server.models import Log
from server.pipeline import dedup
from server.pipeline import watcher as watcher_module
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.photos import people_walking
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings, rejection_for
from tests.support.watching import at_least, detect_all, ledger, logged_about, queued, rows, watching

PHOTO = people_walking().read_bytes()
PHOTO_HASH = hashlib.sha256(PHOTO).hexdigest()
#: A writer's pause between pieces: longer than the file system takes to report a write.
PAUSE = 0.7


def write_in_pieces(path: Path, data: bytes, pieces: int, pause: float) -> float:
    """Append `data` in `pieces` writes `pause` seconds apart, as a slow FTP upload does; returns when
    the last byte was written (blocking: run it in a thread, so the loop's load cannot stretch a pause)."""
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        if start:
            time.sleep(pause)
        with path.open("ab") as handle:
            handle.write(data[start : start + size])
    return time.time()


@pytest.mark.parametrize("polling", [False, True], ids=["native-events", "polling-observer"])
async def test_an_upload_written_in_pieces_is_processed_once_when_complete(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, hog: Detector, polling: bool
) -> None:
    # Each piece is written and the file closed (as FTP servers that append do). Natively, every close
    # offers the file at once and intake sees a JPEG without its end, just written: not rejected, not
    # queued, looked at again. Polling reports no close: the file waits until it has been quiet for
    # the stable time, longer than the writer's pauses.
    stable, pause = 1.2, PAUSE
    settings = pipeline_settings(tmp_path, file_stable_seconds=stable, watcher_polling=polling)
    path = settings.cameras_dir / "porch" / "upload.jpg"
    path.parent.mkdir(parents=True)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            complete_at = await asyncio.to_thread(write_in_pieces, path, PHOTO, 4, pause)
            [entry] = await eventually(lambda: at_least(runtime, 1), timeout=30)
            await asyncio.sleep(stable)  # time for a second, wrong entry to show up
            await watcher.idle()
            assert len(await queued(runtime)) == 1
        assert entry["file_hash"] == PHOTO_HASH and entry["file_path"] == str(path)
        if polling:
            assert float(entry["queued_at"]) >= complete_at + stable - 0.1  # waited for a quiet file
        else:
            assert float(entry["queued_at"]) < complete_at + 0.5  # queued as its writer closed it
        assert [row.message for row in await logged_about(runtime, path)] == []  # no "truncated"

        await detect_all(runtime, hog)
        found = await rows(runtime)
        assert found and {(row.file_path, row.file_hash) for row in found} == {(str(path), PHOTO_HASH)}
        assert await ledger(runtime) == {f"porch|{PHOTO_HASH}"}


@pytest.mark.parametrize(
    ("name", "options"),
    [("index-first.mp4", {"movflags": "+faststart"}), ("camera.mkv", {})],
)
async def test_a_recording_written_in_pieces_is_queued_once_when_complete(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, name: str, options: dict[str, str]
) -> None:
    """Its first pieces play (an MP4 with its index first, a Matroska file): each close used to queue
    what had arrived, so the first half was detected, then the whole file again."""
    recording = write_h264_clip(tmp_path / name, seconds=6.0, options=options).read_bytes()
    settings = pipeline_settings(tmp_path, file_stable_seconds=1.2)
    path = settings.cameras_dir / "porch" / name
    path.parent.mkdir(parents=True)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            await asyncio.to_thread(write_in_pieces, path, recording, 4, PAUSE)
            await eventually(lambda: at_least(runtime, 1), timeout=30)
            await asyncio.sleep(1.2)  # time for a second entry to show up
            await watcher.idle()
            entries = await queued(runtime)
        assert [entry["file_hash"] for entry in entries] == [hashlib.sha256(recording).hexdigest()]
        assert [row.message for row in await logged_about(runtime, path)] == []  # no "truncated video"


@pytest.mark.parametrize("suffix", [".part", ".tmp"])
async def test_an_upload_under_a_temporary_name_is_queued_under_its_final_name(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, suffix: str
) -> None:
    settings = pipeline_settings(tmp_path, file_stable_seconds=1.0)
    final = settings.cameras_dir / "porch" / "snap.jpg"
    temporary = final.with_name(final.name + suffix)
    final.parent.mkdir(parents=True)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            await asyncio.to_thread(write_in_pieces, temporary, PHOTO, 3, PAUSE)
            await asyncio.sleep(1.5)  # the temporary name alone, complete and quiet: not an upload
            assert await queued(runtime) == []
            os.rename(temporary, final)
            [entry] = await eventually(lambda: at_least(runtime, 1), timeout=30)
            await watcher.idle()
        assert (entry["file_path"], entry["file_hash"]) == (str(final), PHOTO_HASH)
        assert len(await queued(runtime)) == 1
        assert await logged_about(runtime, temporary) == []  # not rejected as "unsupported type"


async def test_content_replaced_before_processing_is_detected_once_under_its_own_hash(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, hog: Detector
) -> None:
    settings = pipeline_settings(tmp_path)
    path = settings.cameras_dir / "porch" / "snap.jpg"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            write_jpeg(path, seed=1)
            [first] = await eventually(lambda: at_least(runtime, 1))
            path.write_bytes(PHOTO)  # the camera uploads again under the same name, in place
            entries = await eventually(lambda: at_least(runtime, 2))
            await watcher.idle()
        old = first["file_hash"]
        # The watcher's modify event queued the new content as its own entry.
        assert [entry["file_hash"] for entry in entries] == [old, PHOTO_HASH]

        await detect_all(runtime, hog)
        found = await rows(runtime)
        assert found and {row.file_hash for row in found} == {PHOTO_HASH}  # nothing under the old hash
        assert await ledger(runtime) == {f"porch|{PHOTO_HASH}"}
        async with runtime.database.sessions() as session:
            inferences = await session.scalar(
                select(func.count()).select_from(Log).where(Log.message.like("% objects in %"))
            )
        assert inferences == 1  # the new bytes were detected once, not once per entry

        async def skipped() -> list[Log]:
            return [row for row in await logged_about(runtime, path) if "content changed" in row.message]

        [row] = await eventually(skipped, timeout=10)
        assert row.level == "WARNING" and row.component == "detector"
        assert (row.extra["file_hash"], row.extra["found_hash"]) == (old, PHOTO_HASH)
        # The old bytes were never processed: their claim is given back, so they could come again.
        assert not await redis.exists(dedup.claim_key("porch", old))


async def test_a_write_while_the_file_is_being_queued_gets_an_entry_of_its_own(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path)
    path = settings.cameras_dir / "porch" / "snap.jpg"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            # Hold the first submission after it hashed the file: Redis holds writing clients (the
            # submission's one script) while paused.
            await runtime.redis.client_pause(20_000, all=False)
            try:
                write_jpeg(path, seed=1)
                first_hash = await asyncio.to_thread(dedup.file_sha256, path)

                async def submission_waits() -> bool:
                    clients = await runtime.redis.client_list()
                    return any(c.get("cmd") in {"evalsha", "eval"} and "b" in c.get("flags", "") for c in clients)

                await eventually(submission_waits, timeout=20)
                path.write_bytes(PHOTO)
                await asyncio.sleep(1.0)  # the new write's event reaches the watcher
            finally:
                await runtime.redis.client_unpause()
            entries = await eventually(lambda: at_least(runtime, 2), timeout=20)
            await watcher.idle()
        assert [entry["file_hash"] for entry in entries] == [first_hash, PHOTO_HASH]


async def test_a_file_renamed_after_it_was_queued_is_processed_under_its_final_name(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, hog: Detector
) -> None:
    """The finding (a review, then tried): a writer that finishes a file under one name (not a temporary
    one), then renames it. The first name was queued at its close and claimed its bytes; the rename
    offered the final name, refused as a duplicate of that claim; the entry then found its name gone.
    Nothing was ever detected in the upload (until a restart's catch-up). The final name now takes the
    claim of a name that is gone, and is queued itself."""
    settings = pipeline_settings(tmp_path)
    folder = settings.cameras_dir / "porch"
    folder.mkdir(parents=True)
    first, final = folder / "snapshot_upload.jpg", folder / "20250101-120000.jpg"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            first.write_bytes(PHOTO)
            await eventually(lambda: at_least(runtime, 1), timeout=30)
            os.rename(first, final)
            await eventually(lambda: at_least(runtime, 2), timeout=30)
            await watcher.idle()
        assert [entry["file_path"] for entry in await queued(runtime)] == [str(first), str(final)]
        await detect_all(runtime, hog)
        found = await rows(runtime)
        assert found and {row.file_path for row in found} == {str(final)}
        assert await ledger(runtime) == {dedup.ledger_member("porch", PHOTO_HASH)}


def _deny_reads_of_mode_000(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may run as root, for whom a mode-000 file reads as any other: make reading one fail as the
    kernel makes it fail for the unprivileged user a server runs as. Nothing else is replaced."""
    if os.geteuid() != 0:
        return
    real_read_bytes, real_open = Path.read_bytes, Path.open

    def unreadable(path: Path) -> bool:
        try:
            return not path.stat().st_mode & (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        except OSError:
            return False

    def read_bytes(path: Path) -> bytes:
        if unreadable(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    def open_(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "r" in mode and unreadable(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "open", open_)


async def test_an_upload_the_server_may_not_read_is_one_rejection_not_a_retry_loop(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review's finding: a file the server's user may not read (an FTP server writing 0600 as another
    user) was retried every 5 s for good, an ERROR log row each time, and never rejected."""
    monkeypatch.setattr(watcher_module, "RETRY_SECONDS", 0.2)
    _deny_reads_of_mode_000(monkeypatch)
    settings = pipeline_settings(tmp_path)
    path = settings.cameras_dir / "porch" / "locked.jpg"
    write_jpeg(path)
    path.chmod(0)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 1
            await asyncio.sleep(2.0)  # ten retry periods
            await asyncio.wait_for(watcher.idle(), 5)  # no retry timer left
        rejected = await eventually(lambda: rejection_for(runtime, path), timeout=10)
        assert "not readable by the server (permission denied" in rejected.message
        assert [row.message for row in await logged_about(runtime, path)] == [rejected.message]
        assert await queued(runtime) == []



async def test_pictures_in_hidden_and_nas_folders_are_not_uploads(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """A review's suspicion, tried: a NAS keeps thumbnails of every picture beside it (Synology's
    @eaDir), a desktop its trash, Syncthing old versions (.stversions), and each was taken for a new
    upload of the camera, or a hidden top-level folder for a camera. Only the real upload is queued,
    live and at the start-up catch-up; the cameras root itself may lie in a hidden folder."""
    settings = pipeline_settings(tmp_path / ".hidden-home", file_stable_seconds=0.5)
    cameras = settings.cameras_dir
    copies = [
        cameras / "porch" / "@eaDir" / "snap.jpg" / "SYNOFILE_THUMB_XL.jpg",
        cameras / "porch" / "#recycle" / "old.jpg",
        cameras / ".stversions" / "porch" / "snap~20260101.jpg",
        cameras / "porch" / "2026-01-01" / ".Trash-1000" / "files" / "gone.jpg",
    ]
    upload = cameras / "porch" / "2026-01-01" / "snap.jpg"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        for seed, path in enumerate(copies, start=1):  # there before the start: the catch-up's turn
            write_jpeg(path, seed=seed)
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 0
            for seed, path in enumerate(copies, start=10):  # written while watched
                path.unlink()
                write_jpeg(path, seed=seed)
            await asyncio.to_thread(upload.write_bytes, PHOTO)
            [entry] = await eventually(lambda: at_least(runtime, 1), timeout=30)
            await asyncio.sleep(1.0)
            await watcher.idle()
        assert entry["file_path"] == str(upload)
        assert len(await queued(runtime)) == 1
        for path in copies:
            assert await logged_about(runtime, path) == []
