"""Consumer names for Redis Streams groups: never shared by two live processes, regained after a crash.

Redis keeps each entry pending under the name of the consumer it was given to. A worker restarted after
a crash should come back under its old name, so it resumes the entries it held at once instead of
waiting for another consumer's XAUTOCLAIM. Two workers alive at the same time must never share a name,
or each would re-read the other's in-flight entries as its own history.

So a name is `<hostname>:<instance id>` plus a slot, held by a lease in Redis (SET NX PX, renewed while
the process lives). When slot 0 is leased and holds pending entries (the lease of a process that just
died outlives it by up to one lease period), a starting worker waits that period for it; otherwise it
takes the first free slot (`#1`, `#2`, ...). Two `worker detect` processes on one host, or ten
containers from `--scale`, each get a name of their own without any configuration.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from contextlib import AsyncExitStack

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from server.pipeline.supervision import spawn

_LOGGER = logging.getLogger("hsi.consumers")

LEASE_SECONDS = 6.0
_KEY_PREFIX = "hsi:consumer:"

#: Renew only a lease this process still holds (a stalled process must not take back a lost one).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ConsumerLease:
    """One process's claim on a consumer name within a group."""

    def __init__(
        self, redis: aioredis.Redis, stream: str, group: str, base: str, *, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.base = base
        self.lease_ms = int(lease_seconds * 1000)
        self.token = uuid.uuid4().hex
        self.name = ""
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def _key(self, name: str) -> str:
        return f"{_KEY_PREFIX}{self.group}:{name}"

    async def acquire(self) -> str:
        """Take slot 0 (waiting for it while it holds pending entries), else the first free slot."""
        give_up_slot0 = time.monotonic() + self.lease_ms / 1000
        slot = 0
        while True:
            name = self.base if slot == 0 else f"{self.base}#{slot}"
            if await self.redis.set(self._key(name), self.token, nx=True, px=self.lease_ms):
                self.name = name
                return name
            if slot == 0 and time.monotonic() < give_up_slot0 and await self._pending(name):
                await asyncio.sleep(0.2)
            else:
                slot += 1

    async def _pending(self, name: str) -> int:
        """Entries waiting under `name` (0 when the stream or group does not exist yet)."""
        try:
            consumers = await self.redis.xinfo_consumers(self.stream, self.group)
        except ResponseError:
            return 0
        for consumer in consumers:
            found = consumer["name"]
            if (found.decode() if isinstance(found, bytes) else found) == name:
                return int(consumer["pending"])
        return 0

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew the lease until `stop`; a lost lease (the process stalled) is logged and taken again.

        A renewal Redis fails (a blip) is tried again at the next tick, a third of the lease later: the
        loop must not end on it, or the lease would lapse while the worker goes on consuming under the
        name (another process starting then would take it)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.lease_ms / 3000)
                return
            except TimeoutError:
                pass
            try:
                await self._renew_or_retake()
            except RedisError as err:
                _LOGGER.warning(
                    "consumer %s of %s could not renew its lease (%s); trying again",
                    self.name,
                    self.group,
                    err,
                    extra={"component": "streams"},
                )

    async def _renew_or_retake(self) -> None:
        if not await self._renew(keys=[self._key(self.name)], args=[self.token, self.lease_ms]):
            _LOGGER.warning(
                "consumer %s of %s lost its lease (the process stalled); taking it again",
                self.name,
                self.group,
                extra={"component": "streams"},
            )
            await self.redis.set(self._key(self.name), self.token, px=self.lease_ms)

    async def release(self) -> None:
        """Free the name at a clean stop, so the next start gets it without waiting."""
        if self.name:
            await self._release(keys=[self._key(self.name)], args=[self.token])


async def lease_consumer_name(
    redis: aioredis.Redis, instance_id: str, stream: str, group: str, stack: AsyncExitStack, stop: asyncio.Event
) -> str:
    """A consumer name for this process in `group`, renewed until `stop` and released with the stack."""
    lease = ConsumerLease(redis, stream, group, f"{socket.gethostname()}:{instance_id[:8]}")
    name = await lease.acquire()
    stack.push_async_callback(lease.release)
    spawn(stack, stop, f"hsi-lease-{group}", lambda: lease.keep(stop))
    return name
