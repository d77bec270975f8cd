"""Alert delivery off the analysis path: webhook alerts go through the Redis stream `hsi:alerts:deliver`.

The alert engine raises an alert inside the analysis of a batch; POSTing it there made the analysis
wait up to the webhook timeout per rule, one rule after another. `hand_over` keeps what costs nothing
inline (an alert for Home Assistant only is delivered by its publish) and queues every alert with a
webhook; `AlertDeliverer` (one per analyze process, a consumer group shared by all of them) POSTs
them, many at once (a receiver that hangs holds back only its own alerts), retrying a failing
receiver a few times with backoff, and leaving its next alerts to the redelivery for a minute once
one of them failed every attempt. The stream keeps an entry
until it was handled, so a delivery interrupted by a crash or a restart is picked up again (by the
restarted consumer, or by another through XAUTOCLAIM). An alert whose receiver is still down after
the attempts here stays `pending`, and `AlertEngine.redeliver_pending` tries it every minute for hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Protocol

import redis.asyncio as aioredis
from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from server.alerts.dedup import RELEASE_IF_HOLDER
from server.alerts.rule_row import spec_from_row
from server.alerts.rule_spec import AlertRuleSpec
from server.models import Alert, AlertRule, AlertStatus, Event
from server.pipeline.streams import RedisStream

_LOGGER = logging.getLogger("hsi.alerts")

DELIVERY_STREAM = "hsi:alerts:deliver"
DELIVERY_GROUP = "deliverers"
#: Tries per queued alert here, and the pauses between them; then the minute-by-minute redelivery.
ATTEMPTS = 3
BACKOFF_SECONDS = (2.0, 8.0)
#: Deliveries in flight at once: each mostly waits for its receiver, and a receiver that hangs holds
#: a place per alert for all its attempts and pauses (40 s by default): the others' alerts go on.
IN_FLIGHT = 50
#: A receiver whose alert failed every attempt: its next alerts are left to the redelivery this long,
#: instead of each spending its attempts (and a place) on it again.
DOWN_SECONDS = 60.0
#: Held while one process POSTs an alert (`AlertDeliverer` and `AlertEngine.redeliver_pending` alike).
LOCK_PREFIX = "hsi:alert:delivering:"
LOCK_SECONDS = 60


class Channels(Protocol):
    """What delivery needs of the alert engine: send one alert to its channels (`AlertEngine.deliver`,
    True when every channel took it). Named here so that the engine, which hands alerts over to this
    module, is not imported back by it."""

    async def deliver(self, alert: Alert, event: Event, spec: AlertRuleSpec) -> bool: ...


def pending_alerts() -> Select[tuple[Alert, Event, AlertRule]]:
    """Alerts still to deliver, each with its event and its rule (what a delivery needs)."""
    return (
        select(Alert, Event, AlertRule)
        .join(Event, Alert.event_id == Event.id)
        .join(AlertRule, Alert.rule_id == AlertRule.id)
        .where(Alert.status == AlertStatus.PENDING)
    )


async def take_lock(redis: aioredis.Redis, alert_id: uuid.UUID, holder: str) -> bool:
    """Become the one process delivering `alert_id` (or find that `holder` already is: it crashed
    holding the lock and runs again under the same name)."""
    key = f"{LOCK_PREFIX}{alert_id}"
    if await redis.set(key, holder, nx=True, ex=LOCK_SECONDS):
        return True
    return await redis.get(key) in (holder, holder.encode())


async def release_lock(redis: aioredis.Redis, alert_id: uuid.UUID, holder: str) -> None:
    """Give the lock back, unless it expired meanwhile and another process holds it now."""
    await redis.eval(RELEASE_IF_HOLDER, 1, f"{LOCK_PREFIX}{alert_id}", holder)


async def load_pending(
    sessions: async_sessionmaker[AsyncSession], alert_id: uuid.UUID
) -> tuple[Alert, Event, AlertRuleSpec] | None:
    """The alert, its event and its rule's spec while the alert is still pending, else None.

    Read after the lock is taken: a delivery that another process finished before releasing the lock
    is then seen as done, and not POSTed again."""
    async with sessions() as session:
        found = (await session.execute(pending_alerts().where(Alert.id == alert_id))).one_or_none()
    if found is None:
        return None
    alert, event, rule = found
    try:
        return alert, event, spec_from_row(rule)
    except ValidationError as err:
        _LOGGER.warning("alert %s not delivered: its rule %s is invalid: %s", alert_id, rule.id, err)
        return None


def receiver(spec: AlertRuleSpec) -> str | None:
    """Where a rule's alerts go over the network (the webhook's scheme, host and port), or None."""
    if "webhook" in spec.channels and spec.webhook is not None:
        return str(URL(spec.webhook.url).origin())
    return None


def delivery_stream(redis: aioredis.Redis) -> RedisStream:
    return RedisStream(redis, DELIVERY_STREAM, DELIVERY_GROUP)


async def hand_over(
    redis: aioredis.Redis, engine: Channels, alert: Alert, event: Event, spec: AlertRuleSpec
) -> None:
    """Deliver `alert` now if that needs no network (Home Assistant only), else queue it."""
    if "webhook" in spec.channels and spec.webhook is not None:
        await delivery_stream(redis).add({"alert_id": str(alert.id)})
    else:
        await engine.deliver(alert, event, spec)


class AlertDeliverer:
    """Consumes `hsi:alerts:deliver`: each entry's alert is delivered through `AlertEngine.deliver`."""

    def __init__(
        self,
        engine: Channels,
        sessions: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        *,
        consumer: str,
        backoff_seconds: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.redis = redis
        self.consumer = consumer
        self.backoff = backoff_seconds
        self.stream = delivery_stream(redis)
        #: Receivers whose alert failed every attempt, and until when their alerts are left pending.
        self._down_until: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        await self.stream.consume(self.consumer, self.handle, stop=stop, count=IN_FLIGHT)

    def _down(self, target: str | None) -> bool:
        return target is not None and self._down_until.get(target, 0.0) > time.monotonic()

    async def handle(self, _entry_id: str, fields: dict[str, str]) -> None:
        """Deliver one queued alert; failures of the receiver are not errors of the entry (the alert
        stays pending for the periodic redelivery), failures of the stores are (the stream retries)."""
        alert_id = uuid.UUID(fields["alert_id"])
        if not await take_lock(self.redis, alert_id, self.consumer):
            return  # another process is delivering it right now
        try:
            loaded = await load_pending(self.sessions, alert_id)
            if loaded is None:
                return  # delivered meanwhile, acknowledged or dismissed, or deleted with its rule
            alert, event, spec = loaded
            target = receiver(spec)
            for attempt in range(ATTEMPTS):
                if self._down(target):
                    _LOGGER.debug("alert %s left to the redelivery: %s failed just now", alert.id, target)
                    return
                if await self.engine.deliver(alert, event, spec):
                    self._down_until.pop(target or "", None)
                    return
                if attempt < len(self.backoff) and attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(self.backoff[attempt])
            if target is not None:
                self._down_until[target] = time.monotonic() + DOWN_SECONDS
        finally:
            await release_lock(self.redis, alert_id, self.consumer)
        _LOGGER.info(
            "alert %s still pending after %d webhook attempts; redelivered every minute from now on",
            alert.id,
            ATTEMPTS,
            extra={"component": "alerts", "event_id": event.id, "data": {"alert_id": str(alert.id)}},
        )
