"""System resource: health (the one open route), counters and queue depths, GPU current and history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.middleware import API_KEY_HEADER, checked_key
from server.api.declare import Call, Routes
from server.api.registry import json_response
from server.api.rows import first, selected
from server.models import Camera, GPUStats, StoreCounter
from server.models.rollups import ALERTS_OPEN, EVENTS_UNREVIEWED
from server.disk_guard import free_percent
from server.health import health_report
from server.pipeline import broadcast
from server.retention import last_round
from server.pipeline import dead_letters, progress
from server.pipeline.faults import describe
from server.pipeline.streams import ANALYZE_STREAM, CLIP_STREAM, DETECT_STREAM, REFINE_STREAM
from server.runtime import Runtime
from server.wire import GpuSample

_LOGGER = logging.getLogger("hsi.api.system")

routes = Routes("system")


class ComponentHealth(BaseModel):
    """One component's status; components add their own fields (latency, workers...). The fields
    declared below are those a client reads (the integration's repair issues)."""

    model_config = ConfigDict(extra="allow")

    status: str
    backend: str | None = Field(None, description="detector, analyzer: the backend running.")
    device: str | None = Field(None, description="detector: where it runs (cpu, cuda...).")
    fallback: bool | None = Field(None, description="detector: true while it stands in for the configured one.")
    reason: str | None = Field(None, description="Why the component is not healthy (with a key only).")
    min_free_percent: float | None = Field(None, description="storage: the free space it keeps, in %.")


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    instance_id: str
    components: dict[str, ComponentHealth]


#: What anyone may read of a component's health. Everything else (error texts that quote URLs with
#: credentials, model paths, worker host names, GPU names) is for holders of a key.
PUBLIC_COMPONENT_FIELDS = frozenset({"status", "backend", "device", "fallback", "healthy", "loaded", "breaker"})


def public_health(report: dict[str, Any]) -> dict[str, Any]:
    """The health report without anything that describes the installation beyond its state."""
    return {
        **{key: report[key] for key in ("status", "version", "instance_id")},
        "components": {
            name: {key: value for key, value in part.items() if key in PUBLIC_COMPONENT_FIELDS}
            for name, part in report["components"].items()
        },
    }


async def _holds_a_key(call: Call) -> bool:
    """Did the caller present a valid key? (Health is open: no key, or a wrong one, is no error.)"""
    runtime = call.runtime
    if not runtime.settings.api_key_enabled:
        return True
    if not call.request.headers.get(API_KEY_HEADER):
        return False
    return (await checked_key(call.request)).ok  # a wrong key: slowed down and audited, as anywhere


@routes.get(
    "/api/system/health",
    summary="Health of every component",
    response=Health,
    auth=False,
    also=(503,),
)
async def get_health(call: Call) -> web.Response:
    """Open to all (Home Assistant's config flow and the add-on watchdog); 503 when unhealthy.

    The detector and the analyzer are reported from the live workers of any process (see
    `server.runtime`); "unhealthy" with no workers when none runs, which makes the whole "degraded".
    Without a valid `X-API-Key` each component shows only its state (status, backend, device,
    fallback); with one, also why it is unhealthy, models, workers.
    `storage` is the media folder's disk: "degraded" while it is below `media_min_free_percent` free
    (the disk guard then removes the oldest media), with the last retention round's report.
    """
    report = await api_health(call.runtime)
    status = 200 if report["status"] != "unhealthy" else 503
    try:
        full = await _holds_a_key(call)
    except Exception:  # the database is down: that is what the (public) report says
        full = False
    return json_response(report if full else public_health(report), status=status)


async def api_health(runtime: Runtime) -> dict[str, Any]:
    """The health of the stores and workers (server.runtime) plus the media storage seen from here."""
    report, storage = await asyncio.gather(health_report(runtime, expect_workers=True), _storage(runtime))
    report["components"]["storage"] = storage
    try:
        report["components"]["pipeline"] = await progress.pipeline_health(
            runtime.redis,
            dead_letters.QUEUES,
            dead_letters.dead_letter_streams(),
            runtime.settings.pipeline_stall_seconds,
        )
    except Exception as err:  # Redis down: the redis component says so; the queues are unknown
        report["components"]["pipeline"] = {"status": "unhealthy", "reason": f"queues unreadable: {describe(err)}"}
    if report["status"] == "healthy" and any(
        report["components"][name]["status"] != "healthy" for name in ("storage", "pipeline")
    ):
        report["status"] = "degraded"
    return report


async def _storage(runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    free = await asyncio.to_thread(free_percent, settings)
    part: dict[str, Any] = {
        "status": "healthy",
        "free_percent": None if free is None else round(free, 1),
        "min_free_percent": settings.media_min_free_percent,
    }
    if free is not None and free < settings.media_min_free_percent:
        part["status"] = "degraded"
        part["reason"] = (
            f"the media disk has {free:.1f}% free, below {settings.media_min_free_percent:g}%: "
            "the oldest media are removed first"
        )
    try:
        part["last_cleanup"] = await last_round(runtime)
    except Exception as err:  # Redis down: the redis component says so
        part["last_cleanup"] = None
        _LOGGER.debug("no retention report: %s", err)
    return part


class QueueDepths(BaseModel):
    detect: int = Field(description="Files waiting for detection.")
    analyze: int = Field(description="Closed batches waiting for their event.")
    refine: int = Field(description="Events waiting for the AI's assessment (their alerts went out already).")
    clips: int = Field(description="Events waiting for their clip.")
    dead_letter: int = Field(description="Entries of every queue set aside after repeated failures.")


class GpuNow(BaseModel):
    utilization: float | None
    memory_used: int | None = Field(description="MiB")
    memory_total: int | None = Field(description="MiB")
    temperature: float | None
    inference_fps: float | None


class Stats(BaseModel):
    cameras: int
    events_unreviewed: int
    alerts_pending: int
    queues: QueueDepths
    gpu: GpuNow
    pipeline_healthy: bool


def _gpu_now(runtime: Runtime) -> Any:
    """The newest GPU sample if it is the GPU now: written within three sampling intervals (a minute at
    least). An older one means the sampler stopped (the detect worker down, the driver not answering,
    the server moved to a CPU host): its figures are unknown now, not yesterday's shown as current."""
    fresh = timedelta(seconds=max(60.0, 3 * runtime.settings.gpu_stats_interval_seconds))
    return (
        selected(GPUStats)
        .where(GPUStats.recorded_at >= func.now() - fresh)
        .order_by(GPUStats.recorded_at.desc())
        .limit(1)
    )


def _counter(name: str) -> Any:
    """A store counter's value: the sum of its delta rows (a handful; see server/models/rollups.py)."""
    return select(func.coalesce(func.sum(StoreCounter.value), 0)).where(StoreCounter.name == name).scalar_subquery()


_STORE_FIGURES = select(
    select(func.count()).select_from(Camera).scalar_subquery().label("cameras"),
    _counter(EVENTS_UNREVIEWED).label("events_unreviewed"),
    _counter(ALERTS_OPEN).label("alerts_pending"),
)


async def _store_figures(connection: AsyncConnection, gpu_now: Any) -> tuple[Any, Any]:
    """Cameras and the counters (one statement; constant cost however many events), and the GPU now."""
    return await first(connection, _STORE_FIGURES), await first(connection, gpu_now)


async def _queue_depths(runtime: Runtime) -> dict[str, int]:
    """The work queues' depths, and the dead letters of every queue (`/api/system/dead-letters`)."""
    redis = runtime.redis
    queues = {
        "detect": DETECT_STREAM, "analyze": ANALYZE_STREAM, "refine": REFINE_STREAM, "clips": CLIP_STREAM
    }
    async with redis.pipeline(transaction=False) as pipe:
        for name in [*queues.values(), *dead_letters.dead_letter_streams().values()]:
            pipe.xlen(name)
        depths = [int(value) for value in await pipe.execute()]
    return dict(zip(queues, depths, strict=False)) | {"dead_letter": sum(depths[len(queues) :])}


async def collect_stats(runtime: Runtime, health: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `Stats` figures: what `GET /api/system/stats` answers and `system.status` pushes.

    "Pending" alerts are those neither acknowledged nor dismissed (pending or delivered)."""
    (figures, gpu), queues, health = await asyncio.gather(
        runtime.database.read(lambda connection: _store_figures(connection, _gpu_now(runtime))),
        _queue_depths(runtime),
        api_health(runtime) if health is None else _given(health),
    )
    now = GpuSample.dump(gpu) if gpu is not None else {}
    return {
        "cameras": figures["cameras"],
        "events_unreviewed": int(figures["events_unreviewed"]),
        "alerts_pending": int(figures["alerts_pending"]),
        "queues": queues,
        "gpu": {key: now.get(key) for key in GpuNow.model_fields},
        # Degraded parts (HOG instead of RT-DETRv2, rules instead of the LLM, dead letters waiting)
        # still turn uploads into events; an unhealthy one (a store down, no live detect or analyze
        # worker, work queued with nothing finishing: `server.pipeline.progress`) does not.
        "pipeline_healthy": all(part["status"] != "unhealthy" for part in health["components"].values()),
    }


@routes.get("/api/system/stats", summary="Counters, queue depths and GPU figures", response=Stats)
async def get_stats(call: Call) -> dict[str, Any]:
    """What Home Assistant shows as sensors (also pushed as `system.status` when it changes)."""
    return await collect_stats(call.runtime)


async def _given(value: dict[str, Any]) -> dict[str, Any]:
    return value


#: Component fields that say what a component is and whether it works (not how fast it was just now).
_STABLE_COMPONENT_FIELDS = ("status", "backend", "device", "fallback", "model", "reason", "min_free_percent")


async def system_status(runtime: Runtime) -> dict[str, Any]:
    """The `system.status` message: the stats plus the health summary (status, version, components
    without their timings), so clients see a CPU fallback or an upgrade as soon as it happens."""
    health = await api_health(runtime)
    components = {
        name: {key: part[key] for key in _STABLE_COMPONENT_FIELDS if key in part}
        for name, part in health["components"].items()
    }
    return {
        **await collect_stats(runtime, health),
        "status": health["status"],
        "version": health["version"],
        "instance_id": health["instance_id"],
        "components": components,
    }


#: Redis keys of `publish_status`: whose turn this interval is, and the status last published.
STATUS_TURN_KEY = "hsi:system-status:turn"
STATUS_LAST_KEY = "hsi:system-status:last"


async def publish_status(
    runtime: Runtime, stop: asyncio.Event, interval: float, listened: Callable[[], bool]
) -> None:
    """Push `system.status` whenever it changed, checked every `interval` seconds while `listened()`.

    Counters, queue depths and component states change with no event of their own (a batch queued,
    an alert delivered, the LLM failing over); this keeps live views current without polling. The
    status is computed once per interval for the whole installation, not per listener nor per API
    process: the process that claims the interval's turn in Redis computes it, compares it with the
    last one published (kept in Redis too) and publishes it only if it changed; every process relays
    the one message to its own clients. With no WebSocket client on this process it claims no turn
    (once it has computed a first status: a client that connects later gets what changed meanwhile).
    """
    primed = False
    while True:
        if not primed or listened():
            try:
                primed = await _publish_if_changed(runtime, interval) or primed
            except Exception as err:  # a store restarting: try again next round
                _LOGGER.warning("could not publish the system status: %s", err, extra={"component": "api"})
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass


async def _publish_if_changed(runtime: Runtime, interval: float) -> bool:
    """Compute and (if changed) publish the status when this interval is ours; False when it was not."""
    redis = runtime.redis
    claimed = await redis.set(STATUS_TURN_KEY, runtime.instance_id, nx=True, px=max(1, int(interval * 900)))
    if not claimed:
        return False
    current = await system_status(runtime)
    encoded = orjson.dumps(current, option=orjson.OPT_SORT_KEYS)
    previous = await redis.set(STATUS_LAST_KEY, encoded, get=True)
    if previous is not None and previous != encoded:  # clients read the starting figures over REST
        await broadcast.publish(redis, "system.status", current)
    return True


class GpuReport(BaseModel):
    current: GpuSample | None
    history: list[GpuSample] = Field(description="Oldest first, at most `points` samples.")


class GpuQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(60, ge=1, le=7 * 24 * 60, description="How far back the history goes.")
    points: int = Field(360, ge=1, le=2000, description="Most samples returned (evenly thinned).")


@routes.get("/api/system/gpu", summary="GPU now and its recent history", query=GpuQuery, response=GpuReport)
async def get_gpu(call: Call) -> dict[str, Any]:
    """Samples written by the GPU monitor (`gpu_stats`); empty on a host without a GPU."""
    q: GpuQuery = call.query
    since = datetime.now(UTC) - timedelta(minutes=q.minutes)
    async with call.runtime.database.sessions() as session:
        total = (
            await session.execute(select(func.count()).where(GPUStats.recorded_at >= since))
        ).scalar_one()
        step = max(1, -(-total // q.points))
        numbered = (
            select(GPUStats.id, func.row_number().over(order_by=GPUStats.recorded_at).label("n"))
            .where(GPUStats.recorded_at >= since)
            .subquery()
        )
        statement = (
            select(GPUStats)
            .join(numbered, numbered.c.id == GPUStats.id)
            .where((numbered.c.n - 1) % step == 0)
            .order_by(GPUStats.recorded_at)
        )
        history = list((await session.execute(statement)).scalars())
    latest = await call.runtime.database.read(lambda connection: first(connection, _gpu_now(call.runtime)))
    return {
        "current": latest,
        "history": history,
    }
