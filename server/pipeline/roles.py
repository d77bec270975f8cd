"""Role starters of the pipeline: `watcher` (uploads, catch-up, camera health) and `detect`.

Each starter creates its tasks and pushes their shutdown onto the server's exit stack, so
`python -m server run` runs both beside the API and `python -m server worker detect` runs detection
alone (one per GPU, on any host, sharing PostgreSQL and Redis).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from server.detect.provision import DetectorSlot, provision_detector
from server.logs import ensure_database_logging
from server.pipeline.camera_health import run_camera_health
from server.pipeline.consumers import lease_consumer_name
from server.pipeline.detect_stats import DetectStats
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.gpu import GPUSampler, gpu_probe, run_gpu_sampler
from server.pipeline.streams import DETECT_GROUP, DETECT_STREAM
from server.pipeline.supervision import spawn
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.pipeline")


async def start_watcher(runtime: Runtime, stack: AsyncExitStack) -> None:
    await ensure_database_logging(runtime, stack)
    watcher = FileWatcher(runtime)
    await watcher.start()
    stack.push_async_callback(watcher.stop)
    stop = asyncio.Event()
    spawn(stack, stop, "hsi-catch-up", watcher.catch_up)
    spawn(stack, stop, "hsi-camera-health", lambda: run_camera_health(runtime, stop))


def detector_probe(slot: DetectorSlot, stats: DetectStats) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def probe() -> dict[str, Any]:
        return {
            # Degraded while the model running is not the one configured (downloading, or unusable).
            "status": "degraded" if slot.fallback else "healthy",
            "backend": slot.name,
            "device": slot.device,
            "fallback": slot.fallback,
            "model": slot.model,
            "reason": slot.reason,
            "download": slot.download_report(),
            "last_inference_ms": stats.last_inference_ms,
            "inference_fps": stats.inference_fps(),
            "files_processed": stats.files,
            "detections": stats.detections,
        }

    return probe


async def start_detect(runtime: Runtime, stack: AsyncExitStack) -> None:
    await ensure_database_logging(runtime, stack)
    settings = runtime.settings
    slot = await asyncio.to_thread(provision_detector, settings)
    await asyncio.to_thread(slot.warmup)
    stats = DetectStats()
    stop = asyncio.Event()
    consumer = await lease_consumer_name(
        runtime.redis, runtime.instance_id, DETECT_STREAM, DETECT_GROUP, stack, stop
    )
    _LOGGER.info(
        "detector %s on %s (%s), consuming %s as %s",
        slot.name,
        slot.device,
        slot.reason,
        DETECT_STREAM,
        consumer,
        extra={"component": "detector"},
    )
    worker = DetectWorker(runtime, slot, consumer=consumer, stats=stats)
    spawn(stack, stop, "hsi-detect-worker", lambda: worker.run(stop))
    fetcher = slot.fetcher
    if fetcher is not None:
        spawn(
            stack,
            stop,
            "hsi-detector-download",
            lambda: fetcher.run(lambda path: slot.switch_to(settings, path), "detector", stop),
        )

    sampler = GPUSampler()
    if await asyncio.to_thread(sampler.open):
        stack.callback(sampler.close)
        spawn(stack, stop, "hsi-gpu-stats", lambda: run_gpu_sampler(runtime, sampler, stop, stats.inference_fps))
    else:
        _LOGGER.info("GPU statistics off: %s", sampler.reason, extra={"component": "gpu"})
    probes = {"detector": detector_probe(slot, stats), "gpu": gpu_probe(sampler)}
    await runtime.publish_worker_health("detect", consumer, probes, stack, stop)
