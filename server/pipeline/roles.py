"""Role starters of the pipeline: `watcher` (uploads, catch-up, camera health) and `detect`.

Each starter creates its tasks and pushes their shutdown onto the server's exit stack, so
`python -m server run` runs both beside the API and `python -m server worker detect` runs detection
alone (one per GPU, on any host, sharing PostgreSQL and Redis).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from server.detect import Detector, load_detector
from server.logs import ensure_database_logging
from server.pipeline.camera_health import run_camera_health
from server.pipeline.detect_stats import DetectStats
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.gpu import GPUSampler, gpu_probe, run_gpu_sampler
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.pipeline")

RESTART_DELAY_SECONDS = 5.0


async def supervise(name: str, stop: asyncio.Event, run: Callable[[], Awaitable[None]]) -> None:
    """Run `run()` until `stop`; if it crashes (Redis restarting...), log it and start it again."""
    while not stop.is_set():
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("%s stopped unexpectedly; restarting in %.0f s", name, RESTART_DELAY_SECONDS,
                              extra={"component": "pipeline"})
            try:
                await asyncio.wait_for(stop.wait(), RESTART_DELAY_SECONDS)
            except TimeoutError:
                pass


def _spawn(stack: AsyncExitStack, stop: asyncio.Event, name: str, run: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(supervise(name, stop, run), name=name)

    async def _shutdown() -> None:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(_shutdown)


def consumer_name(runtime: Runtime) -> str:
    """Stable across restarts of the same installation, so a restarted worker resumes its own entries."""
    return f"{socket.gethostname()}:{runtime.instance_id[:8]}"


async def start_watcher(runtime: Runtime, stack: AsyncExitStack) -> None:
    await ensure_database_logging(runtime, stack)
    watcher = FileWatcher(runtime)
    await watcher.start()
    stack.push_async_callback(watcher.stop)
    stop = asyncio.Event()
    _spawn(stack, stop, "hsi-catch-up", watcher.catch_up)
    _spawn(stack, stop, "hsi-camera-health", lambda: run_camera_health(runtime, stop))


def detector_probe(detector: Detector, stats: DetectStats) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def probe() -> dict[str, Any]:
        fallback = bool(getattr(detector, "fallback", False))
        return {
            "status": "degraded" if fallback else "healthy",
            "backend": detector.name,
            "device": detector.device,
            "fallback": fallback,
            "model": getattr(detector, "model", None),
            "last_inference_ms": stats.last_inference_ms,
            "inference_fps": stats.inference_fps(),
            "files_processed": stats.files,
            "detections": stats.detections,
        }

    return probe


async def start_detect(runtime: Runtime, stack: AsyncExitStack) -> None:
    await ensure_database_logging(runtime, stack)
    detector = await asyncio.to_thread(load_detector, runtime.settings)
    await asyncio.to_thread(detector.warmup)
    stats = DetectStats()
    runtime.probes["detector"] = detector_probe(detector, stats)
    _LOGGER.info(
        "detector %s on %s%s",
        detector.name,
        detector.device,
        " (fallback)" if getattr(detector, "fallback", False) else "",
        extra={"component": "detector"},
    )
    stop = asyncio.Event()
    worker = DetectWorker(runtime, detector, consumer=consumer_name(runtime), stats=stats)
    _spawn(stack, stop, "hsi-detect-worker", lambda: worker.run(stop))

    sampler = GPUSampler()
    runtime.probes["gpu"] = gpu_probe(sampler)
    if await asyncio.to_thread(sampler.open):
        stack.callback(sampler.close)
        _spawn(stack, stop, "hsi-gpu-stats", lambda: run_gpu_sampler(runtime, sampler, stop, stats.inference_fps))
    else:
        _LOGGER.info("GPU statistics off: %s", sampler.reason, extra={"component": "gpu"})
