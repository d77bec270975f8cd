"""Camera folders as the file system presents them: renamed, linked, unreadable. Each test was a
review's finding, then tried: a camera folder renamed queued every file in it again under the new
camera (its events and alerts raised again for old footage); a linked folder and a folder the server
cannot read were skipped without a word, their uploads never seen."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.pipeline import dedup
from server.pipeline import watcher as watcher_module
from server.pipeline.watcher import FileWatcher
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings
from tests.support.watching import at_least, queued, watching


async def _settle(watcher: FileWatcher, seconds: float = 1.5) -> None:
    await asyncio.sleep(seconds)
    await watcher.idle()


async def test_renaming_a_camera_folder_does_not_queue_its_old_uploads_again(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """The user renames a camera folder (cameras/porch -> cameras/garden). Its files were detected
    long ago; they are not new uploads, and must not be detected (and alerted on) again."""
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    old = settings.cameras_dir / "porch"
    files = [write_jpeg(old / "2026-12-05" / f"snap{index}.jpg", seed=index) for index in range(3)]
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 3
            await eventually(lambda: at_least(runtime, 3), timeout=30)
            await watcher.idle()
            for path in files:  # detected: the worker's commit marks each in the ledger
                await dedup.mark_processed(redis, "porch", dedup.file_sha256(path))
            await redis.delete("hsi:detect")
            os.rename(old, settings.cameras_dir / "garden")
            await _settle(watcher)
            requeued = await queued(runtime)
    assert requeued == [], f"{len(requeued)} old uploads queued again: {[e['file_path'] for e in requeued]}"


async def test_a_processed_file_moved_into_another_camera_folder_is_not_detected_again(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    path = write_jpeg(settings.cameras_dir / "porch" / "snap.jpg", seed=3)
    (settings.cameras_dir / "garden").mkdir()
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 1
            await eventually(lambda: at_least(runtime, 1), timeout=30)
            await watcher.idle()
            await dedup.mark_processed(redis, "porch", dedup.file_sha256(path))
            await redis.delete("hsi:detect")
            os.rename(path, settings.cameras_dir / "garden" / "snap.jpg")
            await _settle(watcher)
            requeued = await queued(runtime)
            rows = [row.message for row in await log_rows(runtime)]
    assert requeued == []
    assert any("moved from camera folder porch to garden" in row for row in rows), rows


async def test_a_linked_camera_folder_is_named_in_the_log(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    outside = tmp_path / "elsewhere" / "porch"
    write_jpeg(outside / "snap.jpg", seed=5)
    settings.cameras_dir.mkdir(parents=True)
    (settings.cameras_dir / "porch").symlink_to(outside, target_is_directory=True)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            await watcher.catch_up()
            await _settle(watcher)
            entries = await queued(runtime)
            rows = [row.message for row in await log_rows(runtime)]
    assert entries == []  # nothing outside the cameras folder is taken
    assert any("porch is a link to a folder: uploads in it are not seen" in row for row in rows), rows


async def test_a_folder_the_catch_up_cannot_read_is_named_in_the_log(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    locked = settings.cameras_dir / "porch" / "2026-12-05"
    write_jpeg(locked / "snap.jpg", seed=1)
    real_scandir = os.scandir

    def scandir(path=".", *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.fsdecode(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            await watcher.catch_up()
            await asyncio.sleep(1.0)
            await watcher.idle()
            rows = await log_rows(runtime)
            entries = await queued(runtime)
    assert entries == []
    assert any("2026-12-05" in row.message for row in rows), [row.message for row in rows]


async def test_a_new_folder_the_server_cannot_read_is_named_in_the_log(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FTP servers with a umask of 077 make folders only their own user reads. (The tests run as root:
    the refusal is os.access's answer.)"""
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    settings.cameras_dir.mkdir(parents=True)
    locked = settings.cameras_dir / "porch"
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode, **kw: Path(path) != locked and real_access(path, mode, **kw)
    )
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            locked.mkdir()
            await _settle(watcher, 1.0)
            rows = [row.message for row in await log_rows(runtime)]
    assert any(f"cannot read {locked}" in row for row in rows), rows


async def test_folders_near_the_watch_limit_are_named_in_the_log(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cameras that make a folder per day and hour reach fs.inotify.max_user_watches: a folder past it
    gets no watch and its uploads are never seen (watchdog drops the error). Said at start, once the
    folders come near the limit (here a limit of 10, read from where Linux keeps it)."""
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    for day in range(12):
        (settings.cameras_dir / "porch" / f"2026-12-{day + 1:02d}").mkdir(parents=True)
    limit = tmp_path / "max_user_watches"
    limit.write_text("10\n")
    monkeypatch.setattr(watcher_module, "WATCH_LIMIT_FILE", limit)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            await _settle(watcher, 1.0)
            rows = [row.message for row in await log_rows(runtime)]
    assert any("14 folders under" in row and "limit of 10 watched folders" in row for row in rows), rows
