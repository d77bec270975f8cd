"""The alert engine's cooldown against real PostgreSQL and Redis: a lowered cooldown applies to the next
event, events a backlog analyses together are as far apart as they happened; and an overnight rule in its
own time zone across the fall-back night."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.engine import AlertEngine, EventDetection
from server.alerts.matching import DetectionFacts
from server.alerts.rule_row import row_values, spec_from_row
from server.alerts.rule_spec import AlertRuleSpec
from server.analyze.risk import risk_level
from server.db import session_factory
from server.models import AlertRule, Camera, Detection, Event


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


async def _rule(sessions: async_sessionmaker[AsyncSession], **spec: Any) -> AlertRule:
    values = row_values(AlertRuleSpec.model_validate({"name": "people", **spec}))
    async with sessions() as session, session.begin():
        rule = AlertRule(**values)
        session.add(rule)
    return rule


async def _event(
    sessions: async_sessionmaker[AsyncSession],
    started: datetime,
    *,
    camera: str = "front",
    risk: int = 70,
) -> tuple[Event, list[EventDetection]]:
    async with sessions() as session, session.begin():
        if await session.get(Camera, camera) is None:
            session.add(Camera(id=camera, name=camera.title(), folder_path=f"/export/foscam/{camera}"))
            await session.flush()
        row = Detection(
            camera_id=camera, file_path="/x.jpg", detected_at=started, object_type="person", confidence=0.9
        )
        session.add(row)
        await session.flush()
        event = Event(
            batch_id=f"batch-{row.id}-{camera}",
            camera_id=camera,
            started_at=started,
            ended_at=started + timedelta(seconds=20),
            risk_score=risk,
            risk_level=risk_level(risk).value,
            summary="Person at the front door",
            detection_ids=json.dumps([row.id]),
            object_types=json.dumps(["person"]),
        )
        session.add(event)
    return event, [EventDetection(row.id, DetectionFacts("person", 0.9, frozenset()))]


async def test_lowering_a_rules_cooldown_takes_effect_for_the_next_event(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """A user who finds a day's cooldown too long sets it to one minute (PATCH /api/alert-rules/{id});
    a person seen ten minutes later must be alerted."""
    rule = await _rule(sessions, object_types=["person"], cooldown_seconds=86_400)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    engine = AlertEngine(sessions, redis)
    try:
        first = await _event(sessions, t0)
        assert len(await engine.process_event(*first)) == 1
        # The API's PATCH: the merged spec written back column by column.
        async with sessions() as session, session.begin():
            stored = await session.get(AlertRule, rule.id)
            assert stored is not None
            spec = spec_from_row(stored).model_copy(update={"cooldown_seconds": 60})
            for name, value in row_values(spec).items():
                setattr(stored, name, value)
        second = await _event(sessions, t0 + timedelta(minutes=10))
        raised = await engine.process_event(*second)
    finally:
        await engine.close()
    assert len(raised) == 1, (
        "the rule's cooldown was lowered to 60 s, yet a person 10 minutes later raised no alert: the "
        "cooldown taken under the old setting still held the key"
    )


async def test_events_an_hour_apart_each_alert_when_processed_from_a_backlog(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """After a restart (or an analyze worker catching up) the batches of the last hours are analysed
    within seconds. Two people at the door an hour apart are two situations for a 5-minute cooldown."""
    await _rule(sessions, object_types=["person"], cooldown_seconds=300)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    engine = AlertEngine(sessions, redis)
    try:
        first = await _event(sessions, t0)
        second = await _event(sessions, t0 + timedelta(hours=1))
        raised = [*await engine.process_event(*first), *await engine.process_event(*second)]
    finally:
        await engine.close()
    assert len(raised) == 2, (
        f"two events one hour apart raised {len(raised)} alert(s) under a 300 s cooldown: the cooldown "
        "runs from when the worker got to the event, not from when it happened"
    )


async def test_overnight_rule_in_its_own_zone_across_fall_back(
    sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    """Regression check: a 'sat 22:00-06:00 America/Chicago' rule on a server whose HSI_TIMEZONE is
    Europe/Berlin, on the night US clocks fall back; both 01:30s belong to Saturday night."""
    await _rule(
        sessions,
        object_types=["person"],
        cooldown_seconds=0,
        schedule={"days": ["sat"], "start_time": "22:00", "end_time": "06:00", "timezone": "America/Chicago"},
    )
    engine = AlertEngine(sessions, redis, home_timezone="Europe/Berlin")
    try:
        # 2025-11-02 01:30 CDT = 06:30 UTC; 01:30 CST = 07:30 UTC; Sunday 06:30 CST = 12:30 UTC (outside)
        inside_1 = await _event(sessions, datetime(2025, 11, 2, 6, 30, tzinfo=UTC))
        inside_2 = await _event(sessions, datetime(2025, 11, 2, 7, 30, tzinfo=UTC))
        outside = await _event(sessions, datetime(2025, 11, 2, 12, 30, tzinfo=UTC))
        sunday_night = await _event(sessions, datetime(2025, 11, 3, 7, 30, tzinfo=UTC))  # Mon 01:30 CST
        results = [len(await engine.process_event(*e)) for e in (inside_1, inside_2, outside, sunday_night)]
    finally:
        await engine.close()
    assert results == [1, 1, 0, 0]
