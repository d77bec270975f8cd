"""Micro-batching of images for the detector: up to B images, or whatever arrived within T ms.

Handlers of concurrent stream entries each ask for their own images; one loop gathers them into one
`detector.detect` call (one GPU launch for many uploads), run in a thread (the `executor` given, or
the loop's shared pool) so the event loop stays free.
With T = 0 (the default, `HSI_DETECTOR_BATCH_WAIT_MS`) a call takes what is waiting and starts at once;
what arrives while it runs is the next call's batch, so batches are as large as the load makes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

from server.detect import DetectedObject, Detector
from server.pipeline.detect_stats import DetectStats

T = TypeVar("T")


#: While a batch waits for more items, how often it looks (a poll is cheaper than a task per item).
_POLL_SECONDS = 0.001


async def take_batch(queue: asyncio.Queue[T], limit: int, wait: float) -> list[T]:
    """The next item, and whatever else arrives within `wait` seconds of it, up to `limit` items."""
    batch = [await queue.get()]
    deadline = time.monotonic() + wait
    while True:
        while len(batch) < limit and not queue.empty():
            batch.append(queue.get_nowait())
        remaining = deadline - time.monotonic()
        if len(batch) >= limit or remaining <= 0:
            return batch
        await asyncio.sleep(min(remaining, _POLL_SECONDS))


@dataclass
class _Request:
    image: Image.Image
    future: asyncio.Future[tuple[list[DetectedObject], float]]


class MicroBatcher:
    """`detect(images)` from any number of tasks; `run()` serves them in batches until cancelled."""

    def __init__(
        self,
        detector: Detector,
        *,
        max_batch: int,
        max_wait_ms: int,
        stats: DetectStats,
        executor: Executor | None = None,
    ) -> None:
        self._detector = detector
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000.0
        self._stats = stats
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()

    async def detect(self, images: Sequence[Image.Image]) -> tuple[list[list[DetectedObject]], float]:
        """Objects per image, in order, and the wall time of the detector calls that served them."""
        loop = asyncio.get_running_loop()
        requests = [_Request(image, loop.create_future()) for image in images]
        for request in requests:
            self._queue.put_nowait(request)
        answers = await asyncio.gather(*(request.future for request in requests))
        return [objects for objects, _ in answers], max((seconds for _, seconds in answers), default=0.0)

    async def run(self) -> None:
        while True:
            await self._serve(await take_batch(self._queue, self._max_batch, self._max_wait))

    async def _serve(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            images = [r.image for r in batch]
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._detector.detect, images)
        except Exception as err:  # the entries fail and are retried by the stream
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(err)
            return
        seconds = time.perf_counter() - started
        self._stats.record_inference(len(batch), seconds)
        for request, objects in zip(batch, results, strict=True):
            if not request.future.done():
                request.future.set_result((objects, seconds))
