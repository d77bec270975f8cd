"""Webhook receivers that misbehave, against the alert engine and the deliverer, with real receivers on
127.0.0.1: a rule URL no resolver takes, answers that are not HTTP, a receiver down for hours, one that
hangs. Each was a review's finding, then tried: the typo stopped the redelivery of every alert behind
it, a malformed answer put the URL's query token into the log, a hundred alerts of a dead receiver were
the only ones the redelivery ever retried, ten alerts of a hanging receiver held every other receiver's
alerts back for 40 s."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts import webhook
from server.alerts.engine import AlertEngine
from server.db import session_factory
from server.models import Alert, AlertRule, AlertSeverity, AlertStatus
from tests.server.test_alert_engine import LOOPBACK, SECRET, _event, _rule


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.Response(status=204)


@asynccontextmanager
async def _serving(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def _pending(
    sessions: async_sessionmaker[AsyncSession], event_id: int, rule: AlertRule, created_at: datetime
) -> Alert:
    async with sessions() as session, session.begin():
        alert = Alert(
            event_id=event_id,
            rule_id=rule.id,
            severity=AlertSeverity.HIGH,
            status=AlertStatus.PENDING,
            channels=["ha", "webhook"],
            dedup_key=f"k:{rule.id}:{created_at.isoformat()}",
            alert_metadata={"rule_name": rule.name},
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(alert)
    return alert


async def _status(sessions: async_sessionmaker[AsyncSession], alert_id: object) -> AlertStatus:
    async with sessions() as session:
        stored = await session.get(Alert, alert_id)
    assert stored is not None
    return AlertStatus(stored.status)


def test_a_url_no_resolver_takes_is_refused_with_the_rule() -> None:
    """`http://cam..example.com/hook` (a typo) passed the rule API's check; resolving it raised
    UnicodeError (an empty IDNA label), which ended the redelivery pass at that alert every minute."""
    for url in ("http://cam..example.com/hook", f"http://{'a' * 64}.example.com/hook"):
        with pytest.raises(ValueError, match="not a host name"):
            webhook.webhook_target(url)


async def test_a_stored_rule_with_such_a_url_stops_no_other_alert(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """A rule stored before the check (or edited behind the API's back) is left pending, and the pass
    goes on to the alerts behind it; delivering to it directly is a delivery error, not UnicodeError."""
    receiver = Receiver()
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
    try:
        async with _serving(receiver) as good_url:
            bad = await _rule(
                sessions, name="typo", channels=["ha", "webhook"], webhook={"url": good_url, "secret": SECRET}
            )
            async with sessions() as session, session.begin():
                stored = await session.get(AlertRule, bad.id)
                assert stored is not None
                stored.conditions = {"webhook": {"url": "http://cam..example.com/hook", "secret": SECRET}}
            good = await _rule(
                sessions, name="good", channels=["ha", "webhook"], webhook={"url": good_url, "secret": SECRET}
            )
            event, _facts = await _event(sessions)
            now = datetime.now(UTC)
            typo = await _pending(sessions, event.id, bad, now - timedelta(minutes=5))
            healthy = await _pending(sessions, event.id, good, now - timedelta(minutes=4))
            assert await engine.redeliver_pending() == 1
            assert await _status(sessions, healthy.id) == AlertStatus.DELIVERED
            assert await _status(sessions, typo.id) == AlertStatus.PENDING
    finally:
        await engine.close()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(webhook.WebhookTargetRefused, match="not a host name"):
            await webhook.deliver(
                session, "http://cam..example.com/hook", SECRET, {"x": 1}, timeout_seconds=3
            )


@asynccontextmanager
async def _broken_http_server(reply: bytes) -> AsyncIterator[int]:
    """A raw TCP server answering every request with `reply` (not valid HTTP)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",  # a header over aiohttp's limit
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["huge-header", "garbage"],
)
async def test_a_malformed_answer_does_not_put_the_query_token_in_the_error(reply: bytes) -> None:
    """The module promises error messages without query or credentials ("tokens often hide in query
    strings"), but aiohttp's ClientResponseError for an unparsable answer carries the full request URL,
    and `deliver` puts `str(exc)` into the message that `AlertEngine.deliver` logs (and the log table
    serves over /api/logs)."""
    async with _broken_http_server(reply) as port, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/hook?token=TOPSECRET-TOKEN"
        with pytest.raises(webhook.WebhookDeliveryError) as caught:
            await webhook.deliver(
                session, url, SECRET, {"x": 1}, timeout_seconds=5, allowed_networks=LOOPBACK
            )
    assert "TOPSECRET-TOKEN" not in str(caught.value), str(caught.value)


async def test_the_engine_log_for_a_malformed_answer_has_no_query_token(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
    try:
        async with _broken_http_server(b"NOT HTTP AT ALL\r\n\r\n") as port:
            rule = await _rule(
                sessions,
                name="leaky",
                channels=["ha", "webhook"],
                webhook={"url": f"http://127.0.0.1:{port}/hook?token=TOPSECRET-TOKEN", "secret": SECRET},
            )
            event, _facts = await _event(sessions)
            alert = await _pending(sessions, event.id, rule, datetime.now(UTC) - timedelta(minutes=2))
            caplog.set_level(logging.INFO)
            assert await engine.redeliver_pending() == 0
            assert await _status(sessions, alert.id) == AlertStatus.PENDING
    finally:
        await engine.close()
    logged = [r.getMessage() for r in caplog.records if "stays pending" in r.getMessage()]
    assert logged, "expected the 'stays pending' warning"
    assert not any("TOPSECRET-TOKEN" in m for m in logged), logged


async def test_a_hundred_alerts_of_a_dead_receiver_do_not_starve_the_others(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """`redeliver_pending` took the 100 oldest pending alerts every pass: with 100 alerts of a receiver
    down for hours, they were the same 100 every minute, and an alert of another receiver that had a
    short blip was not retried until those aged out, six hours later. A pass goes through all of them,
    and a receiver that failed is not tried again in it (one connection refused, not a hundred)."""
    receiver = Receiver()
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK, webhook_timeout_seconds=2)
    # A port with nothing listening: connection refused at once.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    try:
        async with _serving(receiver) as good_url:
            dead = await _rule(
                sessions,
                name="dead",
                channels=["ha", "webhook"],
                webhook={"url": f"http://127.0.0.1:{dead_port}/hook", "secret": SECRET},
            )
            good = await _rule(
                sessions, name="good", channels=["ha", "webhook"], webhook={"url": good_url, "secret": SECRET}
            )
            event, _facts = await _event(sessions)
            now = datetime.now(UTC)
            for i in range(100):
                await _pending(sessions, event.id, dead, now - timedelta(hours=3, seconds=-i))
            blip = await _pending(sessions, event.id, good, now - timedelta(hours=1))

            for _ in range(3):  # three passes, three minutes
                await engine.redeliver_pending()
            assert await _status(sessions, blip.id) == AlertStatus.DELIVERED
            assert len(receiver.received) == 1
    finally:
        await engine.close()


async def test_alerts_of_a_hanging_receiver_do_not_hold_back_a_healthy_one(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """The deliverer kept 10 entries in flight, and an entry whose receiver accepts the connection but
    never answers holds its place for all its attempts and pauses (40 s by default): ten alerts of one
    hanging receiver held every other rule's webhook back that long (here, with a 1 s timeout, ~3 s)."""
    from server.alerts.delivery import delivery_stream
    from tests.server.test_alert_engine import delivering

    hang = asyncio.Event()

    async def never(request: web.Request) -> web.Response:
        await request.read()
        await hang.wait()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", never)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hanging_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    receiver = Receiver()
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK, webhook_timeout_seconds=1.0)
    try:
        async with _serving(receiver) as good_url:
            slow = await _rule(
                sessions,
                name="slow",
                channels=["ha", "webhook"],
                webhook={"url": hanging_url, "secret": SECRET},
            )
            good = await _rule(
                sessions, name="good", channels=["ha", "webhook"], webhook={"url": good_url, "secret": SECRET}
            )
            event, _facts = await _event(sessions)
            now = datetime.now(UTC)
            stream = delivery_stream(redis)
            for _ in range(10):
                alert = await _pending(sessions, event.id, slow, now)
                await stream.add({"alert_id": str(alert.id)})
            healthy = await _pending(sessions, event.id, good, now)
            await stream.add({"alert_id": str(healthy.id)})
            loop = asyncio.get_running_loop()
            async with delivering(engine, sessions, redis):
                started = loop.time()
                while not receiver.received and loop.time() - started < 10:
                    await asyncio.sleep(0.05)
                waited = loop.time() - started
            assert receiver.received, "the healthy alert never went out"
            assert waited < 1.0, (
                f"the healthy receiver's alert waited {waited:.1f} s behind a hanging receiver"
            )
    finally:
        hang.set()
        await engine.close()
        await runner.cleanup()
