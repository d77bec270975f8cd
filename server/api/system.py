"""System resource: health (the one open route), counters and queue depths, GPU current and history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from server import apikeys, serialize
from server.api.middleware import API_KEY_HEADER
from server.api.registry import Call, Routes, json_response
from server.models import Alert, AlertStatus, Camera, Event, GPUStats
from server.pipeline import broadcast
from server.pipeline.streams import ANALYZE_GROUP, ANALYZE_STREAM, DETECT_GROUP, DETECT_STREAM, RedisStream
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.api.system")

routes = Routes("system")


class ComponentHealth(BaseModel):
    """One component's status; components add their own fields (backend, device, latency...)."""

    model_config = ConfigDict(extra="allow")

    status: str


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
    presented = call.request.headers.get(API_KEY_HEADER)
    if not presented:
        return False
    async with runtime.database.sessions() as session:
        return (await apikeys.authenticate(session, presented)).ok


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
    """
    report = await call.runtime.health(expect_workers=True)
    status = 200 if report["status"] != "unhealthy" else 503
    try:
        full = await _holds_a_key(call)
    except Exception:  # the database is down: that is what the (public) report says
        full = False
    return json_response(report if full else public_health(report), status=status)


class QueueDepths(BaseModel):
    detect: int
    analyze: int
    dead_letter: int


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


async def _latest_gpu(runtime: Runtime) -> GPUStats | None:
    async with runtime.database.sessions() as session:
        statement = select(GPUStats).order_by(GPUStats.recorded_at.desc()).limit(1)
        return (await session.execute(statement)).scalar_one_or_none()


async def collect_stats(runtime: Runtime) -> dict[str, Any]:
    """The `Stats` figures: what `GET /api/system/stats` answers and `system.status` pushes."""
    async with runtime.database.sessions() as session:
        cameras = (await session.execute(select(func.count()).select_from(Camera))).scalar_one()
        unreviewed = (
            await session.execute(select(func.count()).select_from(Event).where(Event.reviewed.is_(False)))
        ).scalar_one()
        pending = (
            await session.execute(
                select(func.count())
                .select_from(Alert)
                .where(Alert.status.in_((AlertStatus.PENDING, AlertStatus.DELIVERED)))
            )
        ).scalar_one()
    redis = runtime.redis
    detect = RedisStream(redis, DETECT_STREAM, DETECT_GROUP)
    analyze = RedisStream(redis, ANALYZE_STREAM, ANALYZE_GROUP)
    dead = int(await redis.xlen(detect.dead_letter_name)) + int(await redis.xlen(analyze.dead_letter_name))
    gpu = await _latest_gpu(runtime)
    health = await runtime.health(expect_workers=True)
    now = serialize.gpu_stats_to_dict(gpu) if gpu is not None else {}
    return {
        "cameras": cameras,
        "events_unreviewed": unreviewed,
        "alerts_pending": pending,
        "queues": {"detect": await detect.depth(), "analyze": await analyze.depth(), "dead_letter": dead},
        "gpu": {key: now.get(key) for key in GpuNow.model_fields},
        # Degraded parts (HOG instead of RT-DETRv2, rules instead of the LLM) still turn uploads into
        # events; an unhealthy one (a store down, no live detect or analyze worker) does not.
        "pipeline_healthy": all(part["status"] != "unhealthy" for part in health["components"].values()),
    }


@routes.get("/api/system/stats", summary="Counters, queue depths and GPU figures", response=Stats)
async def get_stats(call: Call) -> dict[str, Any]:
    """What Home Assistant shows as sensors (also pushed as `system.status` when it changes)."""
    return await collect_stats(call.runtime)


#: Component fields that say what a component is and whether it works (not how fast it was just now).
_STABLE_COMPONENT_FIELDS = ("status", "backend", "device", "fallback", "model", "reason")


async def system_status(runtime: Runtime) -> dict[str, Any]:
    """The `system.status` message: the stats plus the health summary (status, version, components
    without their timings), so clients see a CPU fallback or an upgrade as soon as it happens."""
    health = await runtime.health(expect_workers=True)
    components = {
        name: {key: part[key] for key in _STABLE_COMPONENT_FIELDS if key in part}
        for name, part in health["components"].items()
    }
    return {
        **await collect_stats(runtime),
        "status": health["status"],
        "version": health["version"],
        "instance_id": health["instance_id"],
        "components": components,
    }


async def publish_status(
    runtime: Runtime, stop: asyncio.Event, interval: float, listened: Callable[[], bool]
) -> None:
    """Push `system.status` whenever it changed, checked every `interval` seconds while `listened()`.

    Counters, queue depths and component states change with no event of their own (a batch queued,
    an alert delivered, the LLM failing over); this keeps live views current without polling. With no
    WebSocket client on this process nothing is collected; the figures last seen are kept, so a client
    that connects later still gets whatever changed meanwhile. Several API processes may each publish:
    a client just sees the same figures twice.
    """
    last: dict[str, Any] | None = None
    while True:
        if last is None or listened():
            try:
                current = await system_status(runtime)
            except Exception as err:  # a store restarting: try again next round
                _LOGGER.warning("could not collect system status: %s", err, extra={"component": "api"})
            else:
                if last is not None and current != last:  # clients read the starting figures over REST
                    await broadcast.publish(runtime.redis, "system.status", current)
                last = current
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass


class GpuSample(BaseModel):
    recorded_at: datetime
    gpu_name: str | None
    utilization: float | None
    memory_used: int | None
    memory_total: int | None
    temperature: float | None
    power_usage: float | None
    inference_fps: float | None


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
    latest = await _latest_gpu(call.runtime)
    return {
        "current": serialize.gpu_stats_to_dict(latest) if latest is not None else None,
        "history": [serialize.gpu_stats_to_dict(row) for row in history],
    }
