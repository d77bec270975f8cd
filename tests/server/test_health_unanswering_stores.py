"""The health report when a store stops answering (its host paused, a network dropping packets): the
store is reported unhealthy within seconds, the report is not held until the OS gives up."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import make_url

from server.api.system import api_health
from tests.support.pipeline import pipeline_runtime, pipeline_settings
from tests.support.tcp_relay import TcpRelay


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A Redis that accepts connections and never answers (frozen, or a network dropping packets)."""
    with contextlib.suppress(Exception):
        await reader.read()
    writer.close()


async def test_health_answers_when_redis_stops_answering(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """A Redis that stops answering (its container paused, a partition) must show as `redis`
    unhealthy within a few seconds; the health endpoint (HA's config flow, the add-on watchdog,
    monitoring) must not wait forever on it."""
    settings = pipeline_settings(tmp_path)
    settings.cameras_dir.mkdir(parents=True)
    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # As server.broker.open_redis makes the server's client.
    frozen = aioredis.from_url(f"redis://127.0.0.1:{port}", decode_responses=False, health_check_interval=30)
    try:
        async with pipeline_runtime(settings, db_url, redis, database_logs=False) as runtime:
            try:
                report = await asyncio.wait_for(api_health(replace(runtime, redis=frozen)), 20)
            except TimeoutError:
                report = None
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(frozen.aclose(), 2)
    assert report is not None, "GET /api/system/health gave no answer in 20 s while Redis did not answer"
    assert report["status"] == "unhealthy" and report["components"]["redis"]["status"] == "unhealthy"


class _FreezingRelay(TcpRelay):
    """The relay, which can stop carrying bytes (connections stay open): PostgreSQL's host paused, or
    a network that drops packets."""

    frozen = False

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # type: ignore[override]
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if _FreezingRelay.frozen:
                    continue
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def test_health_answers_when_postgresql_stops_answering(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """PostgreSQL stops answering (its container paused, a partition): the health report must say
    `database` unhealthy (503) within seconds, not leave GET /api/system/health without an answer."""
    unix_socket = next(Path(make_url(db_url).query["host"]).glob(".s.PGSQL.*[0-9]"))
    settings = pipeline_settings(tmp_path)
    settings.cameras_dir.mkdir(parents=True)
    report = None
    try:
        async with _FreezingRelay(unix_socket) as relay:
            over_tcp = (
                make_url(db_url).set(host="127.0.0.1", port=relay.port, query={}).render_as_string(False)
            )
            async with pipeline_runtime(settings, over_tcp, redis, database_logs=False) as runtime:
                assert (await api_health(runtime))["components"]["database"]["status"] == "healthy"
                _FreezingRelay.frozen = True
                with contextlib.suppress(TimeoutError):
                    report = await asyncio.wait_for(api_health(runtime), 20)
                relay.resetting = True  # let the pool's connections go
    finally:
        _FreezingRelay.frozen = False
    assert report is not None, "GET /api/system/health gave no answer in 20 s while PostgreSQL did not answer"
    assert report["status"] == "unhealthy" and report["components"]["database"]["status"] == "unhealthy"
