"""Webhook alerts are delivered off the analysis path, from a Redis stream that outlives a crash.

Finding: webhooks were POSTed inside the analysis of a batch, 10 s timeout each, one rule after
another: a slow receiver held up every event behind it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.delivery import DELIVERY_GROUP, DELIVERY_STREAM, LOCK_PREFIX, delivery_stream
from server.alerts.engine import AlertEngine
from server.db import session_factory
from server.models import Alert, AlertStatus
from tests.server.test_alert_engine import LOOPBACK, SECRET, _event, _rule, delivering
from tests.support.pipeline import eventually

class HeldReceiver:
    """A webhook receiver that keeps every request waiting until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        self.arrived.append(payload)
        await self.release.wait()
        self.answered.append(payload)
        return web.Response(status=204)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldReceiver, str]]:
    receiver = HeldReceiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    receiver.release.set()
    await runner.cleanup()


async def _status(sessions: async_sessionmaker[AsyncSession], alert_id: object) -> AlertStatus | None:
    async with sessions() as session:
        stored = await session.get(Alert, alert_id)
    return None if stored is None else AlertStatus(stored.status)


async def test_a_slow_webhook_does_not_hold_up_the_analysis(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, held: tuple[HeldReceiver, str]
) -> None:
    receiver, url = held
    for name in ("first", "second"):
        await _rule(
            sessions, name=name, channels=["ha", "webhook"], webhook={"url": url, "secret": SECRET}, cooldown_seconds=0
        )
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
    try:
        event, facts = await _event(sessions)
        # The receiver answers nothing yet: raising the alerts must not wait for it.
        alerts = await asyncio.wait_for(engine.process_event(event, facts), 5)
        assert len(alerts) == 2 and receiver.arrived == []
        assert {await _status(sessions, alert.id) for alert in alerts} == {AlertStatus.PENDING}
        assert await redis.xlen(DELIVERY_STREAM) == 2

        async with delivering(engine, sessions, redis):
            await eventually(lambda: _arrived(receiver, 2))  # both in flight at once
            receiver.release.set()
            for alert in alerts:
                await eventually(lambda alert=alert: _is_delivered(sessions, alert.id))
        assert await redis.xlen(DELIVERY_STREAM) == 0
    finally:
        await engine.close()


async def test_a_delivery_cut_short_by_a_crash_is_finished_after_the_restart(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, held: tuple[HeldReceiver, str]
) -> None:
    receiver, url = held
    receiver.release.set()
    await _rule(sessions, channels=["webhook"], webhook={"url": url, "secret": SECRET}, cooldown_seconds=0)
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
    try:
        event, facts = await _event(sessions)
        [alert] = await engine.process_event(event, facts)
        # A deliverer took the entry and was killed while POSTing it (SIGKILL: no clean-up at all):
        # the entry stays pending under its consumer name, and its delivery lock stays held.
        await delivery_stream(redis).ensure_group()
        assert await redis.xreadgroup(DELIVERY_GROUP, "c1", {DELIVERY_STREAM: ">"}, count=1)
        await redis.set(f"{LOCK_PREFIX}{alert.id}", "c1", ex=60)
        assert await _status(sessions, alert.id) == AlertStatus.PENDING

        async with delivering(engine, sessions, redis, consumer="c1"):  # the same consumer, restarted
            await eventually(lambda: _is_delivered(sessions, alert.id))
        assert [payload["alert"]["id"] for payload in receiver.answered] == [str(alert.id)]
        assert await redis.xlen(DELIVERY_STREAM) == 0
    finally:
        await engine.close()


async def _arrived(receiver: HeldReceiver, count: int) -> bool:
    return len(receiver.arrived) >= count


async def _is_delivered(sessions: async_sessionmaker[AsyncSession], alert_id: object) -> bool:
    return await _status(sessions, alert_id) == AlertStatus.DELIVERED
