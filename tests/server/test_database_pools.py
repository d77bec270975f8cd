"""The API has its own connection pool: slow downloads cannot take the connections the pipeline needs.

Finding: one pool served the API and the workers, so 30 slow `/api/events/export` downloads (each
holds a connection for its server-side cursor while the client reads) starved the pipeline.
The control case runs the same downloads against an API on the pipeline's own pool, to show they
really do exhaust a pool.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from sqlalchemy import insert

from server.api.app import create_app
from server.apikeys import KEY_FILE_NAME
from server.application import api_runtime
from server.models import Camera, Event
from server.pipeline.cameras import ensure_camera
from server.pipeline.intake import already_processed
from server.runtime import Runtime
from tests.server.api.conftest import TEST_API_SETTINGS
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings

SLOW_DOWNLOADS = 30


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path), db_url, redis) as rt:
        rt.settings.cameras_dir.mkdir(parents=True)
        async with rt.database.sessions() as session:
            session.add(Camera(id="front", name="Front", folder_path=str(rt.settings.cameras_dir / "front")))
            await session.flush()
            start = datetime(2025, 12, 1, tzinfo=UTC)
            rows = [
                {
                    "batch_id": f"b{n}",
                    "camera_id": "front",
                    "started_at": start + timedelta(seconds=n),
                    "risk_score": 40,
                    "risk_level": "medium",
                    # Long texts: each export (~12 MB) outgrows the kernel's socket buffers cheaply.
                    "summary": "A person walks past the front door. " * 280,
                    "reasoning": "Seen at noon, walking on. " * 400,
                    "detection_ids": "[]",
                    "object_types": '["person"]',
                }
                for n in range(600)
            ]
            await session.execute(insert(Event), rows)
            await session.commit()
        yield rt


async def _slow_download(host: str, port: int, key: str) -> socket.socket:
    """A client that asks for the export and then reads nothing (a tiny receive window)."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, (host, port))
    request = f"GET /api/events/export?format=json HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n\r\n"
    await asyncio.get_running_loop().sock_sendall(client, request.encode())
    return client


@asynccontextmanager
async def slow_downloads(api: Runtime) -> AsyncIterator[None]:
    """`SLOW_DOWNLOADS` exports in progress on an API over `api`, each holding its connection."""
    server = TestServer(create_app(api, TEST_API_SETTINGS))
    await server.start_server()
    key = (api.settings.data_dir / KEY_FILE_NAME).read_text().strip()
    clients = [await _slow_download(server.host, server.port, key) for _ in range(SLOW_DOWNLOADS)]
    try:
        yield
    finally:
        for client in clients:
            client.close()
        await server.close()


async def _pipeline_database_work(runtime: Runtime, name: str) -> bool:
    """What a pipeline role does with its connections: a new camera's row (the detect worker's first
    upload of a folder) and the intake's look-up of a file in the database."""
    await ensure_camera(runtime, name, name.title(), str(runtime.settings.cameras_dir / name))
    return not await already_processed(runtime, name, "0" * 64)


async def test_thirty_slow_exports_do_not_starve_the_pipeline(runtime: Runtime) -> None:
    async with AsyncExitStack() as stack:
        api = api_runtime(runtime, stack)  # the API as `server run` starts it
        async with slow_downloads(api):

            async def api_pool_exhausted() -> bool:
                return api.database.engine.pool.checkedout() >= SLOW_DOWNLOADS  # type: ignore[attr-defined]

            await eventually(api_pool_exhausted, timeout=60)
            # The pipeline's own pool is untouched: an upload goes through intake at once.
            assert await asyncio.wait_for(_pipeline_database_work(runtime, "porch"), 10)


async def test_control_the_same_downloads_do_exhaust_a_shared_pool(runtime: Runtime) -> None:
    async with slow_downloads(runtime):  # the old wiring: the API on the pipeline's pool

        async def shared_pool_exhausted() -> bool:
            pool = runtime.database.engine.pool
            return pool.checkedout() >= pool.size() + pool._max_overflow  # type: ignore[attr-defined]

        await eventually(shared_pool_exhausted, timeout=60)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_pipeline_database_work(runtime, "garage"), 5)
