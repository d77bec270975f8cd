"""AlertEngine with real PostgreSQL, Redis pub/sub and a real HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts import webhook
from server.alerts.dedup import Cooldown
from server.alerts.delivery import AlertDeliverer
from server.alerts.engine import AlertEngine, EventDetection
from server.alerts.matching import DetectionFacts
from server.alerts.rule_row import row_values
from server.alerts.rule_spec import AlertRuleSpec
from server.analyze.risk import risk_level
from server.db import session_factory
from server.models import Alert, AlertRule, AlertStatus, Camera, Detection, Event
from server.pipeline.broadcast import CHANNEL
from tests.support.pipeline import eventually

SECRET = "s3cret-s3cret-s3cret"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@asynccontextmanager
async def delivering(
    engine: AlertEngine, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, consumer: str = "c1"
) -> AsyncIterator[AlertDeliverer]:
    """An alert deliverer (as the analyze role runs one) consuming until the block ends."""
    deliverer = AlertDeliverer(engine, sessions, redis, consumer=consumer, backoff_seconds=(0.05, 0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        yield deliverer
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _delivered(sessions: async_sessionmaker[AsyncSession], alert_id: object) -> Alert | None:
    async with sessions() as session:
        stored = await session.get(Alert, alert_id)
    return stored if stored is not None and stored.status == AlertStatus.DELIVERED else None


async def _attempts(target: _Receiver, count: int) -> bool:
    return target.attempts >= count


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


async def _rule(sessions: async_sessionmaker[AsyncSession], **spec: Any) -> AlertRule:
    values = row_values(AlertRuleSpec.model_validate({"name": "night person", **spec}))
    async with sessions() as session, session.begin():
        rule = AlertRule(**values)
        session.add(rule)
    return rule


async def _event(
    sessions: async_sessionmaker[AsyncSession],
    *,
    camera: str = "front",
    risk: int = 70,
    detections: list[tuple[str, float, frozenset[str]]] = (("person", 0.92, frozenset()),),  # type: ignore[assignment]
) -> tuple[Event, list[EventDetection]]:
    started = datetime(2025, 3, 1, 2, 14, tzinfo=UTC)
    async with sessions() as session, session.begin():
        if await session.get(Camera, camera) is None:
            session.add(Camera(id=camera, name=camera.title(), folder_path=f"/export/foscam/{camera}"))
            await session.flush()
        rows = [
            Detection(
                camera_id=camera, file_path="/x.jpg", detected_at=started, object_type=kind, confidence=conf
            )
            for kind, conf, _zones in detections
        ]
        session.add_all(rows)
        await session.flush()
        event = Event(
            batch_id=f"batch-{id(rows)}-{camera}",
            camera_id=camera,
            started_at=started,
            ended_at=started + timedelta(seconds=20),
            risk_score=risk,
            risk_level=risk_level(risk).value,
            summary="Person at the front door at night",
            detection_ids=json.dumps([row.id for row in rows]),
            object_types=json.dumps(sorted({kind for kind, _c, _z in detections})),
        )
        session.add(event)
    facts = [
        EventDetection(row.id, DetectionFacts(kind, conf, zones))
        for row, (kind, conf, zones) in zip(rows, detections, strict=True)
    ]
    return event, facts


async def _messages(pubsub: aioredis.client.PubSub, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(found) < count and loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            found.append(json.loads(message["data"]))
    return found


@pytest.fixture
async def subscriber(redis: aioredis.Redis) -> AsyncIterator[aioredis.client.PubSub]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    yield pubsub
    await pubsub.aclose()


async def test_matching_rule_raises_a_delivered_alert_and_publishes_it(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, subscriber: aioredis.client.PubSub
) -> None:
    rule = await _rule(sessions, risk_threshold=60, object_types=["person"], severity="high")
    await _rule(sessions, name="too high", risk_threshold=90)
    await _rule(sessions, name="disabled", enabled=False)
    event, detections = await _event(
        sessions, detections=[("person", 0.92, frozenset()), ("car", 0.99, frozenset())]
    )
    engine = AlertEngine(sessions, redis)
    try:
        [alert] = await engine.process_event(event, detections)
    finally:
        await engine.close()
    async with sessions() as session:
        stored = await session.get(Alert, alert.id)
    assert stored is not None and stored.rule_id == rule.id
    assert stored.status == AlertStatus.DELIVERED and stored.delivered_at is not None
    assert str(stored.severity) == "high" and stored.channels == ["ha"]
    assert stored.dedup_key == f"front:{rule.id}"
    meta = stored.alert_metadata or {}
    assert meta["object_types"] == ["person"] and meta["top_confidence"] == pytest.approx(0.92)
    assert meta["thumbnail_url"] == f"/api/detections/{detections[0].detection_id}/thumbnail"
    assert meta["risk_score"] == 70 and meta["camera_id"] == "front" and meta["summary"]
    messages = await _messages(subscriber, 2)
    assert [m["type"] for m in messages] == ["alert.created", "alert.updated"]
    assert messages[0]["data"]["status"] == "pending" and messages[1]["data"]["status"] == "delivered"


async def test_severity_is_the_events_risk_level_unless_the_rule_names_one(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """The issue's case: a risk-10 "low" event no longer raises a "high" alert from a rule that never
    asked for "high"; a rule that does ask keeps it, and both alerts say so next to the risk level."""
    from_risk = await _rule(sessions, name="anything", cooldown_seconds=0)
    named = await _rule(sessions, name="always high", severity="high", cooldown_seconds=0)
    engine = AlertEngine(sessions, redis)
    try:
        low, low_facts = await _event(sessions, risk=10)
        critical, critical_facts = await _event(sessions, risk=90)
        alerts = await engine.process_event(low, low_facts) + await engine.process_event(critical, critical_facts)
    finally:
        await engine.close()
    seen = {
        (alert.event_id, alert.rule_id): (
            str(alert.severity),
            (alert.alert_metadata or {})["severity_source"],
            (alert.alert_metadata or {})["risk_level"],
        )
        for alert in alerts
    }
    assert seen == {
        (low.id, from_risk.id): ("low", "risk", "low"),
        (low.id, named.id): ("high", "rule", "low"),
        (critical.id, from_risk.id): ("critical", "risk", "critical"),
        (critical.id, named.id): ("high", "rule", "critical"),
    }


def test_an_unscored_event_gets_medium_and_says_why() -> None:
    from server.alerts.severity import alert_severity

    choice = alert_severity(None, None)
    assert (str(choice.severity), choice.source) == ("medium", "default")


async def test_zone_rules_need_a_detection_in_the_zone(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    await _rule(sessions, zone_ids=["porch"], cooldown_seconds=0, dedup_key_template="{camera_id}:{zone_id}")
    engine = AlertEngine(sessions, redis)
    try:
        outside, facts_out = await _event(sessions, detections=[("person", 0.9, frozenset({"lawn"}))])
        assert await engine.process_event(outside, facts_out) == []
        inside, facts_in = await _event(sessions, detections=[("person", 0.9, frozenset({"porch", "lawn"}))])
        [alert] = await engine.process_event(inside, facts_in)
    finally:
        await engine.close()
    assert alert.dedup_key == "front:porch" and (alert.alert_metadata or {})["zone_ids"] == ["porch"]


async def test_cooldown_holds_under_concurrent_workers_and_redelivery(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, redis_url: str
) -> None:
    await _rule(sessions, object_types=["person"], cooldown_seconds=300)
    events = [await _event(sessions) for _ in range(6)]
    clients = [aioredis.from_url(redis_url) for _ in range(3)]
    engines = [AlertEngine(sessions, client) for client in clients]
    try:
        results = await asyncio.gather(
            *(engines[n % 3].process_event(event, facts) for n, (event, facts) in enumerate(events))
        )
        assert sum(len(alerts) for alerts in results) == 1
        # The winning event's job delivered again (stream redelivery): still one alert.
        winner = next(n for n, alerts in enumerate(results) if alerts)
        assert await engines[0].process_event(*events[winner]) == []
        # Another camera has its own key.
        other = await _event(sessions, camera="back")
        assert len(await engines[1].process_event(*other)) == 1
    finally:
        for engine in engines:
            await engine.close()
        for client in clients:
            await client.aclose()
    async with sessions() as session:
        assert len((await session.scalars(select(Alert))).all()) == 2


class _Receiver:
    """A webhook endpoint that verifies signatures; `fail` makes it answer 503."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        if self.fail:
            return web.Response(status=503, text="maintenance")
        if not webhook.verify(
            body,
            SECRET,
            request.headers.get(webhook.TIMESTAMP_HEADER),
            request.headers.get(webhook.SIGNATURE_HEADER),
        ):
            return web.Response(status=401)
        self.received.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[_Receiver, str]]:
    target = _Receiver()
    app = web.Application()
    app.router.add_post("/hook", target.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield target, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_webhook_is_signed_and_a_failed_delivery_stays_pending_until_retried(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, receiver: tuple[_Receiver, str]
) -> None:
    target, url = receiver
    await _rule(
        sessions, channels=["ha", "webhook"], webhook={"url": url, "secret": SECRET}, cooldown_seconds=0
    )
    engine = AlertEngine(sessions, redis, webhook_allowed_networks=LOOPBACK)
    try:
        async with delivering(engine, sessions, redis):
            event, facts = await _event(sessions)
            [alert] = await engine.process_event(event, facts)
            stored = await eventually(lambda: _delivered(sessions, alert.id))
            assert stored.delivered_at is not None
            [payload] = target.received
            assert payload["alert"]["id"] == str(alert.id) and payload["event"]["id"] == event.id

            target.fail = True
            event2, facts2 = await _event(sessions)
            [pending] = await engine.process_event(event2, facts2)
            await eventually(lambda: _attempts(target, 1 + 3))  # retried by the deliverer, then left
            async with sessions() as session:
                stored = await session.get(Alert, pending.id)
                assert stored is not None and stored.status == AlertStatus.PENDING and stored.delivered_at is None

        target.fail = False
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await engine.redeliver_pending(now=later) == 1
        async with sessions() as session:
            stored = await session.get(Alert, pending.id)
            assert stored is not None and stored.status == AlertStatus.DELIVERED
        assert len(target.received) == 2
    finally:
        await engine.close()


async def test_a_rule_stored_invalid_is_skipped_not_fatal(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    broken = await _rule(sessions, name="broken")
    async with sessions() as session, session.begin():
        row = await session.get(AlertRule, broken.id)
        assert row is not None
        row.schedule = {
            "days": ["mon"],
            "start_time": "25:00",
            "end_time": "06:00",
            "timezone": "Mars/Olympus",
        }
    await _rule(sessions, name="fine", cooldown_seconds=0)
    engine = AlertEngine(sessions, redis)
    try:
        event, facts = await _event(sessions)
        alerts = await engine.process_event(event, facts)
    finally:
        await engine.close()
    assert [(a.alert_metadata or {})["rule_name"] for a in alerts] == ["fine"]
    assert "is invalid and was skipped" in caplog.text


async def test_a_refined_event_updates_its_alerts_and_raises_what_only_the_refined_score_calls_for(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, subscriber: aioredis.client.PubSub
) -> None:
    """Notify first, enrich after: the rules' first score raised one alert; the LLM's refined score
    updates it in place (first figures kept) and raises the alert a risk threshold now calls for."""
    people = await _rule(sessions, name="people", object_types=["person"], cooldown_seconds=0)
    risky = await _rule(sessions, name="high risk", risk_threshold=60, cooldown_seconds=0)
    event, detections = await _event(sessions, risk=35)
    engine = AlertEngine(sessions, redis)
    try:
        [first] = await engine.process_event(event, detections)
        assert first.rule_id == people.id and str(first.severity) == "medium"  # from the risk: 35
        await _messages(subscriber, 2)  # created, delivered
        async with sessions() as session, session.begin():
            stored = await session.get(Event, event.id)
            assert stored is not None
            stored.risk_score, stored.risk_level = 72, risk_level(72).value
            stored.summary, stored.analysis_backend = "A stranger tried the door handle.", "llama_cpp"
        [raised] = await engine.refine(stored, detections)
        assert await engine.refine(stored, detections) == []  # a redelivered refinement raises nothing
    finally:
        await engine.close()
    assert raised.rule_id == risky.id and str(raised.severity) == "high"
    async with sessions() as session:
        updated = await session.get(Alert, first.id)
        assert updated is not None
        alerts = list(await session.scalars(select(Alert).where(Alert.event_id == event.id)))
    assert len(alerts) == 2
    meta = updated.alert_metadata or {}
    assert meta["initial"] == {"risk_score": 35, "risk_level": "medium", "summary": "Person at the front door at night"}
    assert (meta["risk_score"], meta["risk_level"], meta["summary"]) == (72, "high", "A stranger tried the door handle.")
    assert meta["analysis_backend"] == "llama_cpp" and str(updated.severity) == "high"  # follows the risk
    # The refinement's own update is marked, so a client tells it from a later change of status.
    assert datetime.fromisoformat(meta["refined_at"]) == updated.updated_at
    messages = await _messages(subscriber, 6)
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "alert.updated" and messages[0]["data"]["metadata"]["initial"]["risk_score"] == 35
    assert "alert.created" in kinds and messages[kinds.index("alert.created")]["data"]["rule_id"] == str(risky.id)


async def test_concurrent_passes_over_one_event_raise_one_alert_per_rule(
    engine: AsyncEngine, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding (a review, then tried): `_raise` looked for the event's alert for the rule, then
    inserted in another transaction; two passes over one event (a job delivered again while its
    refinement runs) both found none and both inserted, the cooldown letting the second through as the
    event's own claim. The check and the insert now hold the event's row lock."""
    # A little network latency before the cooldown claim (Redis on another host): the window both
    # passes are in between their "no alert yet for this rule" check and their insert.
    real_acquire = Cooldown.acquire

    async def slow_acquire(self: Cooldown, *args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.05)
        return await real_acquire(self, *args, **kwargs)

    monkeypatch.setattr(Cooldown, "acquire", slow_acquire)
    sessions = session_factory(engine)
    await _rule(sessions, name="people", object_types=["person"], cooldown_seconds=300)
    event, facts = await _event(sessions, risk=70)
    alerts = AlertEngine(sessions, redis)
    try:
        await asyncio.gather(alerts.process_event(event, facts), alerts.process_event(event, facts))
    finally:
        await alerts.close()
    async with sessions() as session:
        rows = list(await session.scalars(select(Alert).where(Alert.event_id == event.id)))
    assert len(rows) == 1


async def test_a_redelivered_refinement_does_not_announce_a_second_refinement(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """The refine job is delivered again when its alert step failed after the alerts were updated (the
    worker calls `AlertEngine.refine` again for an event already refined). The second pass must leave
    the alerts as they are: it re-stamps `metadata.refined_at` and `updated_at` and publishes a new
    `alert.updated` that Home Assistant reads as a fresh refinement (push._is_refinement), so the
    blueprint notifies again (a second sounding notification when the first severity was below the
    minimum): it did, before."""
    await _rule(sessions, name="people", object_types=["person"], cooldown_seconds=0)
    event, detections = await _event(sessions, risk=35)
    engine = AlertEngine(sessions, redis)
    try:
        [first] = await engine.process_event(event, detections)
        async with sessions() as session, session.begin():
            stored = await session.get(Event, event.id)
            assert stored is not None
            stored.risk_score, stored.risk_level = 72, risk_level(72).value
            stored.summary, stored.analysis_backend = "A stranger tried the door handle.", "llama_cpp"
        await engine.refine(stored, detections)
        async with sessions() as session:
            once = await session.get(Alert, first.id)
            assert once is not None
        await engine.refine(stored, detections)  # the same refinement, delivered again
        async with sessions() as session:
            twice = await session.get(Alert, first.id)
            assert twice is not None
    finally:
        await engine.close()
    assert (twice.alert_metadata or {})["refined_at"] == (once.alert_metadata or {})["refined_at"]
    assert twice.updated_at == once.updated_at


async def test_zone_dedup_key_is_the_top_detections_zone_not_another_detections(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """Template `{camera_id}:{zone_id}` (one cooldown per zone): the most confident person stands in no
    zone, a less sure one in the driveway. The key is the top detection's zone ('-': none), as
    `RuleMatch.top_zone_id` documents; the engine fell back to the other detection's zone, so this
    alert took the driveway's cooldown and silenced the next real driveway alert."""
    await _rule(sessions, name="people", object_types=["person"], dedup_key_template="{camera_id}:{zone_id}")
    event, facts = await _event(
        sessions,
        detections=[("person", 0.95, frozenset()), ("person", 0.60, frozenset({"driveway"}))],
    )
    engine = AlertEngine(sessions, redis)
    try:
        [alert] = await engine.process_event(event, facts)
    finally:
        await engine.close()
    assert alert.dedup_key == "front:-"


async def test_rules_sharing_a_dedup_key_raise_one_alert_for_one_event(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """A review's finding, tried: two rules whose template leaves out `{rule_id}` share one dedup key
    (one alert per camera and object type, whichever rule sees it). The cooldown's holder was the
    event alone, so the second rule took the key for its own (the path of a job delivered again) and
    raised a second alert for the same event inside the cooldown."""
    template = "{camera_id}:{object_type}"
    await _rule(sessions, name="porch person", object_types=["person"], dedup_key_template=template)
    await _rule(sessions, name="any person", object_types=["person"], dedup_key_template=template)
    event, detections = await _event(sessions)
    engine = AlertEngine(sessions, redis)
    try:
        raised = await engine.process_event(event, detections)
        later, later_detections = await _event(sessions)
        raised_later = await engine.process_event(later, later_detections)
    finally:
        await engine.close()
    assert raised_later == []  # the cooldown holds across rules for the next event ...
    async with sessions() as session:
        keys = [a.dedup_key for a in (await session.scalars(select(Alert))).all()]
    assert keys == ["front:person"], keys  # ... and must for this one too
    assert len(raised) == 1


async def test_an_alert_held_by_the_cooldown_is_not_raised_late_by_the_refinement(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """A review's finding, tried: event B, held back by A's cooldown, had its alert raised by its
    refinement once the cooldown had run out (minutes later with an LLM on a CPU): the user was told
    of the same situation again, late."""
    await _rule(sessions, name="people", object_types=["person"], cooldown_seconds=1)
    first, first_detections = await _event(sessions)
    second, second_detections = await _event(sessions)
    engine = AlertEngine(sessions, redis)
    try:
        assert len(await engine.process_event(first, first_detections)) == 1
        assert await engine.process_event(second, second_detections) == []  # held by the cooldown
        await asyncio.sleep(1.3)  # the cooldown ends before the LLM's refinement arrives
        async with sessions() as session, session.begin():
            stored = await session.get(Event, second.id)
            assert stored is not None
            stored.summary, stored.analysis_backend = "A person walks past the door.", "llama_cpp"
        late = await engine.refine(stored, second_detections)
    finally:
        await engine.close()
    assert late == [], "the refinement raised an alert the cooldown had held back"
