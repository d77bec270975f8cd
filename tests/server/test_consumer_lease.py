"""A worker's consumer name stays leased while it runs, whatever one renewal meets."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from server.pipeline.streams import DETECT_GROUP, DETECT_STREAM


async def test_one_failed_lease_renewal_does_not_let_the_name_lapse_while_the_worker_runs(
    redis: aioredis.Redis,
) -> None:
    """A review's finding: one renewal that failed (a Redis blip) ended the renewal loop; restarted 5 s
    later, it let the lease lapse about 3 s while the worker went on consuming under the name, free for
    another process starting then to take."""
    from contextlib import AsyncExitStack

    from redis.exceptions import ConnectionError as RedisConnectionError

    from server.pipeline import consumers

    real = consumers.ConsumerLease.__init__
    failed = []

    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real(self, *args, **kwargs)
        renew = self._renew

        async def flaky_renew(*a, **k):  # type: ignore[no-untyped-def]
            if not failed:
                failed.append(True)
                raise RedisConnectionError("Connection reset by peer")
            return await renew(*a, **k)

        self._renew = flaky_renew

    consumers.ConsumerLease.__init__ = patched  # type: ignore[method-assign]
    try:
        async with AsyncExitStack() as stack:
            stop = asyncio.Event()
            name = await consumers.lease_consumer_name(
                redis, "abcdef0123", DETECT_STREAM, DETECT_GROUP, stack, stop
            )
            key = f"hsi:consumer:{DETECT_GROUP}:{name}"
            lapsed_at = None
            started = time.monotonic()
            while time.monotonic() - started < consumers.LEASE_SECONDS + 3:
                if await redis.get(key) is None and lapsed_at is None:
                    lapsed_at = time.monotonic() - started
                await asyncio.sleep(0.1)
            stop.set()
    finally:
        consumers.ConsumerLease.__init__ = real  # type: ignore[method-assign]
    assert failed, "the renewal never ran"
    assert lapsed_at is None, (
        f"after one failed renewal the lease on consumer name {name!r} lapsed {lapsed_at:.1f} s after "
        f"start while the worker kept consuming as {name!r}: another worker starting on this host then "
        f"takes the same name"
    )
