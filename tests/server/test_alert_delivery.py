"""Webhook alerts are delivered off the analysis path, from a Redis stream that outlives a crash.

Finding: webhooks were POSTed inside the analysis of a batch, 10 s timeout each, one rule after
another: a slow receiver held up every event behind it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.delivery import DELIVERY_GROUP, DELIVERY_STREAM, LOCK_PREFIX, AlertDeliverer, delivery_stream
from server.alerts.engine import AlertEngine
from server.db import session_factory
from server.models import Alert, AlertSeverity, AlertStatus
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


@asynccontextmanager
async def _serving(receiver: HeldReceiver) -> AsyncIterator[str]:
    """`receiver` behind a real HTTP server on 127.0.0.1; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        receiver.release.set()
        await runner.cleanup()


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldReceiver, str]]:
    receiver = HeldReceiver()
    async with _serving(receiver) as url:
        yield receiver, url


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


async def test_an_alert_the_deliverer_delivered_is_not_posted_again_by_the_redelivery(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, held: tuple[HeldReceiver, str]
) -> None:
    """The finding (a review, then tried): the minute-by-minute redelivery read its pending alerts, then
    took each one's lock and POSTed it without looking again. While it waited on a slow receiver, the
    stream's deliverer delivered the next alert and released its lock; the redelivery then POSTed that
    one a second time. The status is now read after the lock is taken, in both paths."""
    slow, slow_url = held
    prompt = HeldReceiver()
    prompt.release.set()
    created = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)
    async with _serving(prompt) as prompt_url:
        first_rule = await _rule(sessions, name="slow", channels=["webhook"], webhook={"url": slow_url, "secret": SECRET})
        second_rule = await _rule(
            sessions, name="prompt", channels=["webhook"], webhook={"url": prompt_url, "secret": SECRET}
        )
        event, _facts = await _event(sessions)
        alerts = [
            Alert(
                event_id=event.id,
                rule_id=rule.id,
                severity=AlertSeverity.HIGH,
                status=AlertStatus.PENDING,
                channels=["webhook"],
                dedup_key=f"key-{rule.name}",
                alert_metadata={},
                created_at=created + timedelta(seconds=n),
                updated_at=created + timedelta(seconds=n),
            )
            for n, rule in enumerate((first_rule, second_rule))
        ]
        async with sessions() as session, session.begin():
            session.add_all(alerts)
        engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
        try:
            redelivery = asyncio.create_task(engine.redeliver_pending(now=created + timedelta(minutes=1)))
            await eventually(lambda: _arrived(slow, 1))  # the pass waits on the first alert's receiver
            deliverer = AlertDeliverer(engine, sessions, redis, consumer="c1", backoff_seconds=(0.05, 0.05))
            await deliverer.handle("1-0", {"alert_id": str(alerts[1].id)})  # the second's stream entry
            assert len(prompt.answered) == 1 and await _is_delivered(sessions, alerts[1].id)
            slow.release.set()
            assert await asyncio.wait_for(redelivery, 15) == 1  # the first only
            assert len(prompt.arrived) == 1, f"the delivered alert was POSTed {len(prompt.arrived)} times"
            assert await _is_delivered(sessions, alerts[0].id)
        finally:
            await engine.close()


async def _arrived(receiver: HeldReceiver, count: int) -> bool:
    return len(receiver.arrived) >= count


async def _is_delivered(sessions: async_sessionmaker[AsyncSession], alert_id: object) -> bool:
    return await _status(sessions, alert_id) == AlertStatus.DELIVERED
