"""A file's committed rows reach the event batcher at least once.

The finding (a review, then tried): the detect worker wrote the file's ledger entry (`hsi:processed`)
with the commit's broadcast, before handing the rows to the batcher. When the hand-on failed (Redis away
inside the batcher's script, the process killed right after the commit), the entry's redelivery read
the ledger, took the rows for handed on, and never handed them on: detections stored, no event, no
analysis, no alert. The detector is HOG on a real photo of people; the stores are the real ones.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import redis.asyncio as aioredis

from server.detect import Detector
from server.models import Detection
from server.pipeline import dedup
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.intake import pipeline_stream, submit_file
from tests.support.photos import people_walking
from tests.support.pipeline import pipeline_runtime, pipeline_settings


async def test_rows_are_handed_on_again_when_the_first_hand_on_failed(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, hog: Detector
) -> None:
    settings = pipeline_settings(tmp_path)
    path = settings.cameras_dir / "porch" / "people.jpg"
    path.parent.mkdir(parents=True)
    shutil.copyfile(people_walking(), path)
    handed_on: list[list[int]] = []
    failures = ["Redis went away inside the batcher's script"]

    async def sink(camera_id: str, rows: list[Detection]) -> None:
        if failures:
            raise ConnectionError(failures.pop())
        handed_on.append([row.id for row in rows])

    async with pipeline_runtime(settings, db_url, redis) as runtime:
        queued = await submit_file(runtime, path, camera_folder="porch", source="watcher")
        [(entry_id, raw)] = await redis.xrange(pipeline_stream(runtime).name)
        fields = {key.decode(): value.decode() for key, value in raw.items()}
        worker = DetectWorker(runtime, hog, consumer="test", sink=sink)
        serving = [asyncio.create_task(worker.batcher.run()), asyncio.create_task(worker.committer.run())]
        try:
            try:
                await worker.handle(entry_id.decode(), fields)
            except ConnectionError:
                pass  # the stream keeps the entry and delivers it again
            assert not await dedup.is_processed(redis, "porch", queued.file_hash)  # not done yet
            await worker.handle(entry_id.decode(), fields)  # the delivery again
        finally:
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)
            worker.threads.shutdown(wait=False)
        assert await dedup.is_processed(redis, "porch", queued.file_hash)
    assert len(handed_on) == 1 and handed_on[0]  # the stored rows, handed on by the second delivery
