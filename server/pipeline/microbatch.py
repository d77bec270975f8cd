"""Micro-batching of images for the detector: up to B images, or whatever arrived within T ms.

Handlers of concurrent stream entries each ask for their own images; one loop gathers them into one
`detector.detect` call (one GPU launch for many uploads), run in a thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from server.detect import DetectedObject, Detector
from server.pipeline.detect_stats import DetectStats


@dataclass
class _Request:
    image: Image.Image
    future: asyncio.Future[tuple[list[DetectedObject], float]]


class MicroBatcher:
    """`detect(images)` from any number of tasks; `run()` serves them in batches until cancelled."""

    def __init__(self, detector: Detector, *, max_batch: int, max_wait_ms: int, stats: DetectStats) -> None:
        self._detector = detector
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
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self._max_wait
            while len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._serve(batch)

    async def _serve(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            results = await asyncio.to_thread(self._detector.detect, [r.image for r in batch])
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
