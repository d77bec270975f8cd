"""MicroBatcher: concurrent callers share detector calls of up to B images, flushed after T ms.

The detector here is a stand-in that records the batches it is given (a real model would only make
the timing noisier); each image's answer names the image, so the tests see answers reach their askers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from PIL import Image

from server.detect import DetectedObject
from server.pipeline.detect_stats import DetectStats
from server.pipeline.microbatch import MicroBatcher


class RecordingDetector:
    """Answers one box as wide as each image; `fail_with` makes the next call raise instead."""

    name = "recording"
    device = "cpu"
    fallback = False
    last_inference_ms: float | None = None

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.fail_with: Exception | None = None

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]:
        self.batches.append(len(images))
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        return [[DetectedObject("tag", 1.0, 0, 0, image.width, 1)] for image in images]

    def warmup(self) -> None:
        pass


class GatedDetector(RecordingDetector):
    """Holds each call until `gate` is set, as a model busy with a batch; `entered` says one started."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]:
        self.entered.set()
        self.gate.wait(5)
        return super().detect(images)


def tagged(width: int) -> Image.Image:
    return Image.new("RGB", (width, 1))


async def widths(batcher: MicroBatcher, *images: int) -> list[int]:
    objects, _ = await batcher.detect([tagged(width) for width in images])
    return [found[0].width for found in objects]


@asynccontextmanager
async def serving(batcher: MicroBatcher) -> AsyncIterator[MicroBatcher]:
    task = asyncio.create_task(batcher.run())
    try:
        yield batcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_concurrent_callers_fill_batches_of_at_most_b_without_waiting_for_t() -> None:
    detector, stats = RecordingDetector(), DetectStats()
    batcher = MicroBatcher(detector, max_batch=4, max_wait_ms=10_000, stats=stats)
    async with serving(batcher):
        started = time.monotonic()
        answers = await asyncio.wait_for(
            asyncio.gather(*(widths(batcher, n) for n in range(1, 9)), widths(batcher, 20, 21, 22, 23)), 5
        )
        elapsed = time.monotonic() - started
    assert answers == [[n] for n in range(1, 9)] + [[20, 21, 22, 23]]  # to each caller its own answers
    assert detector.batches == [4, 4, 4]
    assert elapsed < 5  # a full batch goes at once, without waiting out T (10 s)
    assert stats.images == 12


async def test_a_partial_batch_is_flushed_after_t_ms() -> None:
    detector = RecordingDetector()
    batcher = MicroBatcher(detector, max_batch=8, max_wait_ms=300, stats=DetectStats())
    async with serving(batcher):
        started = time.monotonic()
        answers = await asyncio.wait_for(asyncio.gather(*(widths(batcher, n) for n in (1, 2, 3))), 5)
        waited = time.monotonic() - started
        later = await asyncio.wait_for(widths(batcher, 4), 5)  # after the flush: a batch of its own
    assert answers == [[1], [2], [3]] and later == [4]
    assert detector.batches == [3, 1]
    assert 0.28 <= waited < 3


async def test_a_detector_error_reaches_every_caller_of_the_batch_and_serving_goes_on() -> None:
    detector, stats = RecordingDetector(), DetectStats()
    batcher = MicroBatcher(detector, max_batch=4, max_wait_ms=50, stats=stats)
    error = RuntimeError("CUDA out of memory")
    detector.fail_with = error
    async with serving(batcher):
        results = await asyncio.wait_for(
            asyncio.gather(
                widths(batcher, 1), widths(batcher, 2, 3), widths(batcher, 4), return_exceptions=True
            ),
            5,
        )
        assert results == [error, error, error]
        assert await asyncio.wait_for(widths(batcher, 5), 5) == [5]
    assert detector.batches == [4, 1]
    assert stats.images == 1  # the failed batch is not counted as inference


@pytest.mark.parametrize("max_batch", [1, 3])
async def test_one_caller_with_more_images_than_b_is_split_in_order(max_batch: int) -> None:
    detector = RecordingDetector()
    batcher = MicroBatcher(detector, max_batch=max_batch, max_wait_ms=20, stats=DetectStats())
    async with serving(batcher):
        assert await asyncio.wait_for(widths(batcher, *range(1, 8)), 5) == list(range(1, 8))
    assert sum(detector.batches) == 7 and max(detector.batches) == max_batch


async def test_with_no_wait_a_call_starts_at_once_and_what_arrives_during_it_is_the_next_batch() -> None:
    detector = GatedDetector()
    batcher = MicroBatcher(detector, max_batch=8, max_wait_ms=0, stats=DetectStats())
    async with serving(batcher):
        first = asyncio.create_task(widths(batcher, 1))
        assert await asyncio.to_thread(detector.entered.wait, 5)  # alone, and not kept waiting for company
        later = [asyncio.create_task(widths(batcher, n)) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)  # they arrive while the model is busy with the first
        detector.gate.set()
        answers = await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert answers == [[1], [2], [3], [4]]
    assert detector.batches == [1, 3]
