"""The default alert rules of a fresh database (migration 0005): there, enabled, ordinary rules the API
edits and deletes, matched at night in the home's zone, and never created again once deleted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from server.alerts.engine import AlertEngine, EventDetection
from server.alerts.matching import DetectionFacts
from server.alerts.rule_row import spec_from_row
from server.analyze.risk import risk_level
from server.api.app import create_app
from server.apikeys import KEY_FILE_NAME
from server.migrate import downgrade, upgrade
from server.models import AlertRule, Camera, Detection, Event
from server.runtime import Runtime
from tests.server.api.conftest import TEST_API_SETTINGS
from tests.support.pipeline import pipeline_runtime, pipeline_settings

#: 02:14 on a Saturday in Auckland (NZDT, UTC+13): night at home, early afternoon in UTC.
AUCKLAND_NIGHT = datetime(2025, 2, 28, 13, 14, tzinfo=UTC)
#: 14:00 on the same Saturday in Auckland.
AUCKLAND_DAY = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
async def fresh_runtime(tmp_path: Path, empty_db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    """A runtime over a database migrated from nothing, as a first start leaves it."""
    await asyncio.to_thread(upgrade, empty_db_url)
    settings = pipeline_settings(tmp_path, llm="rules", timezone="Pacific/Auckland")
    settings.cameras_dir.mkdir(parents=True)
    async with pipeline_runtime(settings, empty_db_url, redis) as runtime:
        yield runtime


async def _rules(runtime: Runtime) -> list[AlertRule]:
    async with runtime.database.sessions() as session:
        return list(await session.scalars(select(AlertRule).order_by(AlertRule.name)))


async def _event(runtime: Runtime, started: datetime, risk: int, kind: str) -> tuple[Event, list[EventDetection]]:
    async with runtime.database.sessions() as session, session.begin():
        if await session.get(Camera, "porch") is None:
            session.add(Camera(id="porch", name="Porch", folder_path="/x/porch"))
            await session.flush()
        detection = Detection(
            camera_id="porch", file_path="/x/porch/a.jpg", detected_at=started, object_type=kind, confidence=0.8
        )
        session.add(detection)
        await session.flush()
        event = Event(
            batch_id=f"b-{detection.id}",
            camera_id="porch",
            started_at=started,
            ended_at=started + timedelta(seconds=5),
            risk_score=risk,
            risk_level=risk_level(risk).value,
            summary=f"{kind} at the porch",
            detection_ids=json.dumps([detection.id]),
            object_types=json.dumps([kind]),
        )
        session.add(event)
    return event, [EventDetection(detection.id, DetectionFacts(kind, 0.8))]


async def test_a_fresh_database_has_the_default_rules_enabled_and_valid(fresh_runtime: Runtime) -> None:
    rules = await _rules(fresh_runtime)
    assert [rule.name for rule in rules] == ["High risk", "Person at night"]
    for rule in rules:
        spec = spec_from_row(rule)  # what the engine and the API read: valid as stored
        assert spec.enabled and spec.severity is None and spec.channels == ["ha"]
        assert rule.description and "Default rule" in rule.description
    high, night = (spec_from_row(rule) for rule in rules)
    assert high.risk_threshold == 60 and high.object_types is None and high.schedule is None
    assert night.object_types == ["person"] and night.schedule is not None
    assert (night.schedule.start_time, night.schedule.end_time, night.schedule.timezone) == ("22:00", "06:00", None)
    assert len(night.schedule.days) == 7


async def test_the_default_rules_alert_at_night_in_the_home_zone_with_the_events_risk(
    fresh_runtime: Runtime,
) -> None:
    engine = AlertEngine(
        fresh_runtime.database.sessions, fresh_runtime.redis, home_timezone=fresh_runtime.settings.timezone
    )
    try:
        # A person at 02:14 home time, scored medium by the analysis: "Person at night", severity medium.
        night_event, night_facts = await _event(fresh_runtime, AUCKLAND_NIGHT, 40, "person")
        [alert] = await engine.process_event(night_event, night_facts)
        # The same person at 14:00 home time (02:00 in UTC, which is no night at this home): nothing.
        day_event, day_facts = await _event(fresh_runtime, AUCKLAND_DAY, 40, "person")
        assert await engine.process_event(day_event, day_facts) == []
        # A car scored critical by day: "High risk", severity critical.
        car_event, car_facts = await _event(fresh_runtime, AUCKLAND_DAY + timedelta(minutes=1), 90, "car")
        [car_alert] = await engine.process_event(car_event, car_facts)
    finally:
        await engine.close()
    assert alert.alert_metadata is not None and car_alert.alert_metadata is not None
    assert alert.alert_metadata["rule_name"] == "Person at night"
    assert (str(alert.severity), alert.alert_metadata["severity_source"]) == ("medium", "risk")
    assert alert.alert_metadata["risk_level"] == "medium"
    assert car_alert.alert_metadata["rule_name"] == "High risk"
    assert (str(car_alert.severity), car_alert.alert_metadata["risk_level"]) == ("critical", "critical")


async def test_default_rules_are_edited_and_deleted_like_any_rule_and_stay_deleted(
    fresh_runtime: Runtime, empty_db_url: str
) -> None:
    app = create_app(fresh_runtime, TEST_API_SETTINGS)
    async with TestClient(TestServer(app)) as client:
        key = (fresh_runtime.settings.data_dir / KEY_FILE_NAME).read_text().strip()
        client.session.headers["X-API-Key"] = key
        listed = (await (await client.get("/api/alert-rules")).json())["items"]
        by_name = {rule["name"]: rule for rule in listed}
        night, high = by_name["Person at night"], by_name["High risk"]
        assert night["severity"] is None and night["schedule"]["timezone"] is None and night["enabled"]

        edited = await client.patch(
            f"/api/alert-rules/{night['id']}", json={"severity": "critical", "cooldown_seconds": 60}
        )
        assert edited.status == 200, await edited.text()
        body = await edited.json()
        assert (body["severity"], body["cooldown_seconds"]) == ("critical", 60)
        assert body["schedule"]["timezone"] is None  # still the home's zone, not frozen to one

        deleted = await client.delete(f"/api/alert-rules/{high['id']}")
        assert deleted.status == 204

    # Every start runs the migrations: the deleted default rule does not come back.
    await asyncio.to_thread(upgrade, empty_db_url)
    assert [rule.name for rule in await _rules(fresh_runtime)] == ["Person at night"]
    # Downgrading past 0005 takes the default rules with it (edited or not); nothing else.
    await asyncio.to_thread(downgrade, empty_db_url, "0002")
    assert await _rules(fresh_runtime) == []


async def test_an_upgraded_installation_with_rules_of_its_own_gets_no_default_rules(
    empty_db_url: str, tmp_path: Path, redis: aioredis.Redis
) -> None:
    await asyncio.to_thread(upgrade, empty_db_url, "0002")
    settings = pipeline_settings(tmp_path, llm="rules")
    async with pipeline_runtime(settings, empty_db_url, redis, database_logs=False) as runtime:
        async with runtime.database.sessions() as session, session.begin():
            await session.execute(
                text("INSERT INTO alert_rules (name, severity) VALUES ('Mine', 'high')")
            )
        await asyncio.to_thread(upgrade, empty_db_url)
        rules = await _rules(runtime)
    assert [(rule.name, str(rule.severity)) for rule in rules] == [("Mine", "high")]  # its severity kept
