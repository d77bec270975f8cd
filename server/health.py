"""Health of a server's components, within a process and across processes.

Health crosses processes: a worker role publishes its components' health (the detector, the analyzer)
to Redis every `HEALTH_INTERVAL_SECONDS`, as hash `hsi:health:<role>:<consumer>` (component name ->
JSON report) that expires after `HEALTH_TTL_SECONDS` unless renewed. Any process's health report merges
the live workers' components with the stores' checks, so `server api` beside separate `worker analyze`
processes still says when the LLM is down; an API also says when no worker of a role is alive at all.
`python -m server run` goes the same way through its own Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text

from server import __version__
from server.pipeline.progress import redis_ms
from server.pipeline.supervision import spawn
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.health")

#: A component's health probe returns at least {"status": "healthy"|"degraded"|"unhealthy"|"unavailable"|
#: "starting"}. "unavailable" (an optional part absent: no GPU) and "starting" (a worker loading its model,
#: or not up yet since the server started) say nothing is wrong.
HealthProbe = Callable[[], Awaitable[dict[str, Any]]]

#: How often a worker publishes its health, and how long a publication outlives a worker that stopped
#: renewing it (killed, stalled, cut off from Redis).
HEALTH_INTERVAL_SECONDS = 2.0
HEALTH_TTL_SECONDS = 3 * HEALTH_INTERVAL_SECONDS
HEALTH_KEY_PREFIX = "hsi:health:"
#: Sorted set of the published keys, scored by expiry (ms): readers find workers without a SCAN.
HEALTH_INDEX = "hsi:health-index"
#: Components only a worker role has, and that role: an API reports "no worker" for each when none lives.
WORKER_COMPONENTS = {"detector": "detect", "analyzer": "analyze"}
_STATUS_RANK = {"healthy": 0, "starting": 1, "unavailable": 1, "degraded": 2, "unhealthy": 3}
#: How long the database's or Redis's check may take before the store counts as not answering.
CHECK_SECONDS = 3.0
#: How long a worker may report "starting" (loading its detector or LLM) before that is a problem.
WORKER_LOAD_LIMIT_SECONDS = 600.0


async def health_report(runtime: Runtime, *, expect_workers: bool = False) -> dict[str, Any]:
    """Status of every component; unhealthy if the stores are down, degraded if a part falls back.

    Components of live workers (any process) are merged in; with `expect_workers` (an API), each of
    `WORKER_COMPONENTS` with no live worker is reported unhealthy, which makes the whole "degraded";
    during the process's first `worker_start_grace_seconds` it is "starting" instead: a worker process
    importing its libraries is no problem, and a restart should not raise Home Assistant's.
    """
    components: dict[str, dict[str, Any]] = {
        "database": await _timed(lambda: _database_ok(runtime)),
        "redis": await _timed(lambda: _redis_ok(runtime)),
    }
    unreadable = None
    try:
        published = await worker_components(runtime.redis)
    except Exception as err:  # Redis down: already unhealthy above; say why workers are unknown
        published, unreadable = {}, f"worker health unreadable: {type(err).__name__}: {err}"
    for name, merged in published.items():
        components.setdefault(name, merged)
    if expect_workers:
        starting = time.monotonic() - runtime.started_at < runtime.settings.worker_start_grace_seconds
        for name, role in WORKER_COMPONENTS.items():
            if starting and unreadable is None:
                reason = f"no live {role} worker yet: the server is starting"
                missing = {"status": "starting", "reason": reason}
            else:
                missing = {"status": "unhealthy", "reason": unreadable or f"no live {role} worker"}
            components.setdefault(name, missing | {"workers": {}})
    if any(components[name]["status"] != "healthy" for name in ("database", "redis")):
        status = "unhealthy"
    elif any(part["status"] in ("degraded", "unhealthy") for part in components.values()):
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "version": __version__,
        "instance_id": runtime.instance_id,
        "components": components,
    }


async def _database_ok(runtime: Runtime) -> None:
    async with runtime.database.reader.connect() as connection:  # autocommit: one round trip
        await connection.execute(text("SELECT 1"))


async def _redis_ok(runtime: Runtime) -> None:
    await runtime.redis.ping()


async def publish_worker_health(
    runtime: Runtime,
    role: str,
    consumer: str,
    probes: Mapping[str, HealthProbe],
    stack: AsyncExitStack,
    stop: asyncio.Event,
) -> WorkerHealth:
    """Publish `probes` as worker `consumer` of `role` now, then every interval until `stop`;
    withdrawn at a clean stop (a killed worker's entry expires with its TTL). A worker that still has
    its model to load publishes `loading(...)` first, then `show`s its own probes."""
    publisher = WorkerHealth(runtime.redis, role, consumer, probes)
    await publisher.publish()
    stack.push_async_callback(publisher.withdraw)
    spawn(stack, stop, f"hsi-health-{role}", lambda: publisher.run(stop))
    return publisher


def loading(what: str, limit: float = WORKER_LOAD_LIMIT_SECONDS) -> HealthProbe:
    """A worker's probe while it loads `what` (its detector, its LLM): "starting", so the API does not
    call the role absent meanwhile, and unhealthy once that has taken longer than `limit` (a hang)."""
    since = time.monotonic()

    async def probe() -> dict[str, Any]:
        if time.monotonic() - since < limit:
            return {"status": "starting", "reason": f"loading {what}"}
        return {"status": "unhealthy", "reason": f"still loading {what} after {limit:.0f} s"}

    return probe


class WorkerHealth:
    """One worker's entry in the shared health: `hsi:health:<role>:<consumer>`, renewed while it runs."""

    def __init__(
        self,
        redis: aioredis.Redis,
        role: str,
        consumer: str,
        probes: Mapping[str, HealthProbe],
        *,
        interval: float = HEALTH_INTERVAL_SECONDS,
        ttl: float = HEALTH_TTL_SECONDS,
    ) -> None:
        self.redis = redis
        self.key = f"{HEALTH_KEY_PREFIX}{role}:{consumer}"
        self.probes = dict(probes)
        self.interval = interval
        self.ttl_ms = int(ttl * 1000)

    async def show(self, probes: Mapping[str, HealthProbe]) -> None:
        """Report `probes` from now on (the worker's own, once its model is loaded), at once."""
        self.probes = dict(probes)
        await self.publish()

    async def publish(self) -> None:
        reports = {name: json.dumps(await _probed(probe), default=str) for name, probe in self.probes.items()}
        expires = await redis_ms(self.redis) + self.ttl_ms  # Redis's clock, as the readers prune by
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            pipe.hset(self.key, mapping=reports)
            pipe.pexpire(self.key, self.ttl_ms)
            pipe.zadd(HEALTH_INDEX, {self.key: expires})
            await pipe.execute()

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
                return
            except TimeoutError:
                pass
            try:
                await self.publish()
            except Exception as err:  # Redis restarting: the entry expires meanwhile, as it should
                _LOGGER.warning("could not publish %s: %s", self.key, err, extra={"component": "health"})

    async def withdraw(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            pipe.zrem(HEALTH_INDEX, self.key)
            await pipe.execute()


async def worker_components(redis: aioredis.Redis) -> dict[str, dict[str, Any]]:
    """The live workers' components, merged per name: the worst worker's report at the top level (so a
    single worker reads like a local probe), every worker's report under `workers` by consumer name."""
    # On Redis's clock, which publishers score by: a worker on a host whose clock is behind is not dropped.
    await redis.zremrangebyscore(HEALTH_INDEX, "-inf", await redis_ms(redis))
    keys = [_text(key) for key in await redis.zrange(HEALTH_INDEX, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        entries = await pipe.execute()
    workers: dict[str, dict[str, dict[str, Any]]] = {}
    for key, entry in zip(keys, entries, strict=True):  # an expired key reads as an empty hash
        consumer = key.removeprefix(HEALTH_KEY_PREFIX).split(":", 1)[1]
        for name, report in entry.items():
            workers.setdefault(_text(name), {})[consumer] = json.loads(report)
    merged = {}
    for name, reports in sorted(workers.items()):
        worst = max(reports.values(), key=lambda report: _STATUS_RANK.get(report.get("status"), 3))
        merged[name] = {**worst, "workers": dict(sorted(reports.items()))}
    return merged


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _probed(probe: HealthProbe) -> dict[str, Any]:
    try:
        return await probe()
    except Exception as err:  # a broken probe must not break the health endpoint
        return {"status": "unhealthy", "error": str(err)}


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """A store's check, given `CHECK_SECONDS`: a store that stopped answering (a paused host, a network
    that drops packets) is reported unhealthy instead of holding the report (and its callers: Home
    Assistant, the add-on's watchdog) until the operating system gives up on the connection."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check()
    except TimeoutError:
        return {"status": "unhealthy", "error": f"no answer in {CHECK_SECONDS:g} s"}
    except Exception as err:
        return {"status": "unhealthy", "error": f"{type(err).__name__}: {err}"}
    return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
