"""Decoded pictures reuse freed buffers (server/allocator.py), and the detect worker gives them back.

Each decoded picture is megabytes; with the mmap threshold fixed (so a recording's frames go back to the
system) a picture that does not reuse a freed buffer is a fresh mapping, and the kernel zero-fills it
page by page as the decoder writes it. Pillow's kept buffers are what prevents that; the page-fault
count of the decoding process shows whether they do (measured in a child process: the settings are
process-wide, and the count is the process's own). A busy detect worker reuses them; an idle one frees
them, so an idle server holds no more than it did without them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from PIL import Image

from server import allocator
from server.detect import load_detector
from server.pipeline.detect_worker import IDLE_RELEASE_SECONDS, DetectWorker
from server.pipeline.intake import submit_file
from tests.support.photos import video_frame
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.real_media import media_path
from tests.support.watching import drained

REPO = Path(__file__).resolve().parents[2]

#: Decodes one photo 20 times as `server run` is tuned (or with no buffer kept, for the contrast), then
#: gives the kept buffers back; prints page faults per picture and Pillow's block counts.
_DECODE_REPEATEDLY = """
import json, resource, sys
from PIL import Image
from server import allocator
from server.pipeline.media.image import decode_image

data = open(sys.argv[1], "rb").read()
allocator.tune()
if sys.argv[2] == "none":
    Image.core.set_blocks_max(0)
decode_image(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    decode_image(data)
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
busy = Image.core.get_stats()
allocator.release_pictures()
print(json.dumps({
    "faults_per_picture": faults, "reused": busy["reused_blocks"], "kept": busy["blocks_cached"],
    "kept_after_release": Image.core.get_stats()["blocks_cached"],
}))
"""


def _decode_repeatedly(buffers: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_REPEATEDLY, str(media_path("bus.jpg")), buffers],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def test_pictures_decoded_one_after_another_reuse_a_kept_buffer_and_release_gives_it_back() -> None:
    # bus.jpg: 810×1080, 3.5 MB decoded, above the 1 MiB mmap threshold: 855 pages to fault if fresh.
    kept = _decode_repeatedly("kept")
    assert kept["faults_per_picture"] < 50, kept
    assert kept["reused"] >= 20 and kept["kept"] >= 1, kept
    assert kept["kept_after_release"] == 0, kept
    # The contrast: the same decodes with no buffer kept fault in every page of every picture.
    fresh = _decode_repeatedly("none")
    assert fresh["faults_per_picture"] > 500, fresh
    assert fresh["reused"] == 0, fresh


@pytest.fixture
def kept_buffers() -> Iterator[None]:
    """Pillow keeps buffers in this process as `allocator.tune()` makes `server run`'s processes do."""
    before = Image.core.get_blocks_max()
    Image.core.set_blocks_max(allocator.PICTURE_BUFFERS)
    try:
        yield
    finally:
        Image.core.set_blocks_max(before)


@pytest.mark.usefixtures("kept_buffers")
async def test_a_busy_detect_worker_reuses_picture_buffers_and_frees_them_once_idle(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    # Batches of one, so the window (3 entries) is smaller than the files and freed buffers come round.
    settings = pipeline_settings(tmp_path, detector_batch_size=1)
    files = []
    for index in range(12):
        path = settings.cameras_dir / "street" / f"{index:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        video_frame(media_path("vtest.avi"), index * 40).save(path, "JPEG", quality=85)
        files.append(path)
    before = Image.core.get_stats()
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        for path in files:
            queued = await submit_file(runtime, path, camera_folder="street", source="watcher")
            assert queued.status == "queued"
        worker = DetectWorker(runtime, load_detector(settings), consumer="buffers")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            await eventually(lambda: drained(runtime), timeout=120)
            busy = Image.core.get_stats()
            # Each picture after the first window's reused a buffer a finished file had freed.
            assert busy["reused_blocks"] - before["reused_blocks"] >= len(files) - 3, (before, busy)
            assert busy["blocks_cached"] >= 1, busy
            # Idle: the kept buffers go back, while the worker keeps running.
            async def freed() -> bool:
                return bool(Image.core.get_stats()["blocks_cached"] == 0)

            await eventually(freed, timeout=IDLE_RELEASE_SECONDS + 10, interval=0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
