"""What every part of a running server shares: settings, database, Redis, identity, health probes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text

from server import __version__
from server.config import Settings
from server.db import Database

#: A component's health probe returns at least {"status": "healthy"|"degraded"|"unhealthy"|"unavailable"}.
HealthProbe = Callable[[], Awaitable[dict[str, Any]]]
DetectionSink = Callable[[str, list[Any]], Awaitable[None]]


def instance_id(data_dir: Path) -> str:
    """A UUID kept in the data directory: Home Assistant uses it as the config entry's unique id."""
    path = data_dir / "instance_id"
    if path.is_file():
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    value = str(uuid.uuid4())
    path.write_text(value + "\n", encoding="utf-8")
    return value


@dataclass
class Runtime:
    """Handed to the API and the workers; components register their own health probes."""

    settings: Settings
    database: Database
    redis: aioredis.Redis
    instance_id: str
    probes: dict[str, HealthProbe] = field(default_factory=dict)
    #: Called with each file's committed detections (the batcher, when the analyze role runs here).
    detection_sink: DetectionSink | None = None

    async def health(self) -> dict[str, Any]:
        """Status of every component; unhealthy if the stores are down, degraded if a part falls back."""
        components: dict[str, dict[str, Any]] = {
            "database": await _timed(self._database_ok),
            "redis": await _timed(self._redis_ok),
        }
        for name, probe in self.probes.items():
            try:
                components[name] = await probe()
            except Exception as err:  # a broken probe must not break the health endpoint
                components[name] = {"status": "unhealthy", "error": str(err)}
        if any(components[name]["status"] != "healthy" for name in ("database", "redis")):
            status = "unhealthy"
        elif any(part["status"] in ("degraded", "unhealthy") for part in components.values()):
            status = "degraded"
        else:
            status = "healthy"
        return {
            "status": status,
            "version": __version__,
            "instance_id": self.instance_id,
            "components": components,
        }

    async def _database_ok(self) -> None:
        async with self.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _redis_ok(self) -> None:
        await self.redis.ping()


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await check()
    except Exception as err:
        return {"status": "unhealthy", "error": f"{type(err).__name__}: {err}"}
    return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
