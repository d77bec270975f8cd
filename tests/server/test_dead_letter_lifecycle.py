"""Dead letters as an operator meets them: an upload waiting for a replay or a drop is left alone by
the next start's catch-up, and the log rows about it carry its camera."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis

from server.pipeline import dedup
from server.pipeline.streams import DETECT_GROUP, DETECT_STREAM, RedisStream
from server.runtime import Runtime
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings
from tests.support.watching import at_least, queued, watching

DEAD = f"{DETECT_STREAM}:dead"


async def _dead_letter_everything_queued(runtime: Runtime) -> None:
    """A detect worker fails on every queued upload for a reason of the upload's own (a file that
    makes the decoder raise), until the stream dead-letters it: the pipeline's own path."""
    stream = RedisStream(
        runtime.redis,
        DETECT_STREAM,
        DETECT_GROUP,
        max_retries=2,
        backoff_base_seconds=0.01,
        backoff_cap_seconds=0.02,
    )
    await stream.ensure_group()

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        raise RuntimeError(f"decoder crashed on {fields.get('file_path')}")

    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume("review-worker", handler, stop=stop, count=4, block_ms=20))
    try:

        async def dead() -> bool:
            return bool(await runtime.redis.xlen(DEAD)) and not await runtime.redis.xlen(DETECT_STREAM)

        await eventually(dead, timeout=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_dead_lettered_upload_is_not_queued_again_by_the_next_start(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """An upload was dead-lettered ("nothing retries it by itself" until someone replays or drops it).
    The server restarts later than the dedup window (5 min): the start-up catch-up must leave it to
    the person deciding, not queue it again (a poison file then fails, or kills workers, again at
    every start, and the dead letters fill with copies of it)."""
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    path = write_jpeg(settings.cameras_dir / "porch" / "snap.jpg", seed=11)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 1
            await eventually(lambda: at_least(runtime, 1), timeout=30)
            await watcher.idle()
        await _dead_letter_everything_queued(runtime)
        assert await redis.xlen(DEAD) == 1
        # The dedup claim (HSI_DEDUP_TTL_SECONDS, 300 s) has expired by the next start.
        await dedup.release(redis, "porch", dedup.file_sha256(path))
        async with watching(runtime) as watcher:
            handed_on = await watcher.catch_up()
            await asyncio.sleep(1.5)
            await watcher.idle()
            requeued = await queued(runtime)
    assert handed_on == 0 and requeued == [], (
        f"after a restart the dead-lettered upload {path.name} was queued for detection again "
        f"({len(requeued)} new entries) although it still waits in the dead letters for a replay or drop"
    )


async def test_the_dead_letter_log_row_names_the_uploads_camera(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """The ERROR row written when an upload is dead-lettered must be found by `GET /api/logs?camera_id=`:
    an operator looking at one camera's log for why its upload made no event sees nothing otherwise
    (the other rows about an upload — rejected, N objects in ... — carry the camera)."""
    settings = pipeline_settings(tmp_path, file_stable_seconds=0.5)
    write_jpeg(settings.cameras_dir / "porch" / "snap.jpg", seed=12)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        async with watching(runtime) as watcher:
            assert await watcher.catch_up() == 1
            await eventually(lambda: at_least(runtime, 1), timeout=30)
            await watcher.idle()
        await _dead_letter_everything_queued(runtime)

        async def dead_letter_row() -> list:
            return [
                row
                for row in await log_rows(runtime)
                if row.level == "ERROR" and "moved to hsi:detect:dead" in row.message
            ]

        [row] = await eventually(dead_letter_row, timeout=10)
    assert row.camera_id == "porch", (
        f"the log row saying porch's upload was dead-lettered has camera_id={row.camera_id!r}: "
        "GET /api/logs?camera_id=porch does not show it"
    )
