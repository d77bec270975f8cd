"""The Redis connection: `HSI_REDIS_URL`, or an embedded redis-server under the data directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from server.config import Settings
from server.embedded import EmbeddedRedis


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """Yield a client (bytes responses) and its URL; stop the embedded server, if we started one, on exit."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.redis_dir)
        url = await asyncio.to_thread(embedded.start)
    client = aioredis.from_url(url, decode_responses=False, health_check_interval=30)
    try:
        yield client, url
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
