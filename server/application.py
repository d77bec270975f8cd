"""The one wiring point: which roles a process runs, what each is built from, and what they share.

`Application` builds every role of one process over one `Runtime` (settings, database, Redis, instance
id) and one exit stack: `api` (HTTP/WebSocket on its own connection pool), `watcher` (uploads, catch-up,
camera health), `detect` (a detector and its worker) and `analyze` (events, refinement, alerts). What
one role hands another is passed here, explicitly: the detect worker's detection sink (the batcher's
`add_detections`, so detections reach the shared batches in Redis) and this process's one analyzer
(the analyze role and the API's analysis preview score with the same one, so `server run` loads the
model once). Each starter registers its tasks and cleanups on the stack; the server stops them in
reverse order of start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web

from server.alerts.delivery import DELIVERY_GROUP, DELIVERY_STREAM, AlertDeliverer
from server.alerts.engine import AlertEngine
from server.analyze.analyzer import SharedAnalyzer
from server.analyze.worker import AnalyzeWorker, redeliver_pending_loop
from server.api.app import create_app
from server.api.protocol import ApiRunner
from server.config import SettingsError
from server.detect.provision import DetectorSlot, provision_detector
from server.detect_process import ChildMain, DetectProcess, runs_in_child
from server.health import HealthProbe, loading, publish_worker_health
from server.logs import ensure_database_logging
from server.pipeline.batcher import BatchAggregator
from server.pipeline.camera_health import run_camera_health
from server.pipeline.consumers import lease_consumer_name
from server.pipeline.detect_stats import DetectStats
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.gpu import GPUSampler, gpu_probe, run_gpu_sampler
from server.pipeline.streams import ANALYZE_GROUP, ANALYZE_STREAM, DETECT_GROUP, DETECT_STREAM
from server.pipeline.supervision import spawn
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.runner")

#: Every role, in the order `server run` starts them.
ROLES = ("api", "watcher", "detect", "analyze")


class Application:
    """The roles of one process over one runtime; `start(role)` builds and starts one of them."""

    def __init__(
        self, runtime: Runtime, stack: AsyncExitStack, roles: Sequence[str], *, detect_process_main: ChildMain
    ) -> None:
        self.runtime = runtime
        self.stack = stack
        #: Every role this process runs (the detect role moves to a process of its own only beside others).
        self.roles = tuple(roles)
        #: What a detect process runs (the runner's entry point: it starts server processes).
        self.detect_process_main = detect_process_main
        #: Closed last (pushed first): the API may have built it, the analyze role borrow it.
        self.analyzer = SharedAnalyzer(runtime.settings)
        stack.push_async_callback(self.analyzer.close)
        self._starters: dict[str, Callable[[], Awaitable[None]]] = {
            "api": self.start_api,
            "watcher": self.start_watcher,
            "detect": self.start_detect,
            "analyze": self.start_analyze,
        }

    async def start(self, role: str) -> None:
        await self._starters[role]()

    # -- api -----------------------------------------------------------------------------------------

    async def start_api(self) -> None:
        settings = self.runtime.settings
        app = create_app(api_runtime(self.runtime, self.stack), analyzer=self.analyzer)
        runner = ApiRunner(app, access_log=None)
        await runner.setup()
        self.stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as err:  # the port taken (another HSI?), a host name that does not resolve
            raise SettingsError(
                f"cannot listen on {settings.host}:{settings.port} (HSI_HOST, HSI_PORT): {err.strerror or err}"
            ) from None
        _LOGGER.info("API listening on http://%s:%s", settings.host, settings.port)

    # -- pipeline ------------------------------------------------------------------------------------

    async def start_watcher(self) -> None:
        runtime, stack = self.runtime, self.stack
        await ensure_database_logging(runtime, stack)
        watcher = FileWatcher(runtime)
        await watcher.start()
        stack.push_async_callback(watcher.stop)
        stop = asyncio.Event()
        spawn(stack, stop, "hsi-catch-up", watcher.catch_up)
        spawn(stack, stop, "hsi-camera-health", lambda: run_camera_health(runtime, stop))

    async def start_detect(self) -> None:
        """A detector and its worker, handing committed detections to the batches shared through Redis;
        in a process of its own when `HSI_DETECT_PROCESS` says so (server/detect_process.py)."""
        runtime, stack, settings = self.runtime, self.stack, self.runtime.settings
        if runs_in_child(settings, self.roles):
            child, stop_child = DetectProcess(settings, self.detect_process_main), asyncio.Event()
            spawn(stack, stop_child, "hsi-detect-process", lambda: child.run(stop_child))
            return
        await ensure_database_logging(runtime, stack)
        stop = asyncio.Event()
        consumer = await lease_consumer_name(
            runtime.redis, runtime.instance_id, DETECT_STREAM, DETECT_GROUP, stack, stop
        )
        health = await publish_worker_health(
            runtime, "detect", consumer, {"detector": loading("the detector")}, stack, stop
        )
        slot = await asyncio.to_thread(provision_detector, settings)
        await asyncio.to_thread(slot.warmup)
        stats = DetectStats()
        _LOGGER.info(
            "detector %s on %s (%s), consuming %s as %s",
            slot.name,
            slot.device,
            slot.reason,
            DETECT_STREAM,
            consumer,
            extra={"component": "detector"},
        )
        batches = BatchAggregator(runtime.redis, settings)
        worker = DetectWorker(runtime, slot, consumer=consumer, stats=stats, sink=batches.add_detections)
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
            fps = stats.inference_fps
            spawn(stack, stop, "hsi-gpu-stats", lambda: run_gpu_sampler(runtime, sampler, stop, fps))
        else:
            _LOGGER.info("GPU statistics off: %s", sampler.reason, extra={"component": "gpu"})
        await health.show({"detector": detector_probe(slot, stats), "gpu": gpu_probe(sampler)})

    async def start_analyze(self) -> None:
        """The analyzer, the batch closer, the worker, alert delivery and redelivery.

        Each loop runs under the pipeline's supervisor (restarted after a crash, stopped on shutdown).
        """
        runtime, stack, settings = self.runtime, self.stack, self.runtime.settings
        await ensure_database_logging(runtime, stack)
        stop = asyncio.Event()
        consumer = await lease_consumer_name(
            runtime.redis, runtime.instance_id, ANALYZE_STREAM, ANALYZE_GROUP, stack, stop
        )
        health = await publish_worker_health(
            runtime, "analyze", consumer, {"analyzer": loading("the analyzer")}, stack, stop
        )
        analyzer = self.analyzer.get()  # the preview's too, when the API runs in this process
        await analyzer.start()  # never raises: an LLM that cannot load means "degraded", rules score
        alerts = AlertEngine(
            runtime.database.sessions,
            runtime.redis,
            home_timezone=settings.timezone,
            webhook_allowed_networks=settings.webhook_allowed_networks,
        )
        stack.push_async_callback(alerts.close)

        async def probe() -> dict[str, Any]:
            return analyzer.status()  # "degraded" while the rules fallback scores instead of the LLM

        batches = BatchAggregator(runtime.redis, settings)
        await health.show({"analyzer": probe})
        worker = AnalyzeWorker(runtime, analyzer, alerts, consumer=consumer)
        await worker.stream.ensure_group()
        await worker.refine_stream.ensure_group()
        await worker.clip_stream.ensure_group()
        spawn(stack, stop, "hsi-batch-closer", lambda: batches.run_closer(stop))
        spawn(stack, stop, "hsi-analyze-worker", lambda: worker.run(stop))
        spawn(stack, stop, "hsi-refine-worker", lambda: worker.run_refinements(stop))
        spawn(stack, stop, "hsi-clip-worker", lambda: worker.run_clips(stop))
        spawn(stack, stop, "hsi-alert-redelivery", lambda: redeliver_pending_loop(alerts, stop))
        delivery_consumer = await lease_consumer_name(
            runtime.redis, runtime.instance_id, DELIVERY_STREAM, DELIVERY_GROUP, stack, stop
        )
        deliverer = AlertDeliverer(
            alerts, runtime.database.sessions, runtime.redis, consumer=delivery_consumer
        )
        spawn(stack, stop, "hsi-alert-delivery", lambda: deliverer.run(stop))
        _LOGGER.info("analyze role started (consumer %s, timezone %s)", worker.consumer, worker.tz.key)


def api_runtime(runtime: Runtime, stack: AsyncExitStack) -> Runtime:
    """The API's view of the runtime: its own connection pool, closed with `stack`. Thirty slow exports
    or media downloads then exhaust the API's connections, never the pipeline's."""
    database = runtime.database.sibling()
    stack.push_async_callback(database.close)
    return runtime.with_database(database)


def detector_probe(slot: DetectorSlot, stats: DetectStats) -> HealthProbe:
    """The detect role's health: degraded while the model running is not the one configured."""

    async def probe() -> dict[str, Any]:
        return {
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
