"""Every "Common Query Pattern" of the base schema (README, "Data model"), on real PostgreSQL.

Each test inserts known rows (enough of them, with realistic selectivity, that an index is the
sensible plan), runs the base schema's statement, asserts the exact ids in the exact order, and then
EXPLAINs the same statement with `SET LOCAL enable_seqscan = off` to check that PostgreSQL can serve
it from the index the base schema names (so a dropped or renamed index fails here).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ClauseElement, Executable, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from server.models import (
    Alert,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    AuditAction,
    AuditLog,
    Camera,
    Detection,
    Event,
    GPUStats,
    search_query,
    search_rank,
)

NOW = datetime.now(UTC)
CAMERAS = ("front_door", "garage", "back_yard", "side_gate")


class Explain(Executable, ClauseElement):
    """`EXPLAIN <statement>` keeping the statement's bind parameters (no literal rendering)."""

    inherit_cache = False

    def __init__(self, statement: Executable) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN " + compiler.process(element.statement, **kw)


async def plan(engine: AsyncEngine, statement: Executable) -> str:
    """The text plan of `statement` with sequential scans disabled for this transaction only."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await conn.execute(Explain(statement))).scalars().all()
    return "\n".join(rows)


async def analyze(session: AsyncSession) -> None:
    """Fresh statistics, so the planner sees the selectivity the test data was built with."""
    await session.commit()
    await session.execute(text("ANALYZE"))
    await session.commit()


def assert_uses_index(query_plan: str, *index_names: str) -> None:
    assert "Seq Scan" not in query_plan, query_plan
    assert any(name in query_plan for name in index_names), query_plan


@pytest.fixture
async def cameras(session: AsyncSession) -> list[str]:
    session.add_all(Camera(id=cid, name=cid, folder_path=f"/export/{cid}") for cid in CAMERAS)
    await session.commit()
    return list(CAMERAS)


async def _add_events(session: AsyncSession, count: int, seed: int = 7) -> list[Event]:
    """`count` events over the last 10 days across the cameras; about 10 % unreviewed high risk."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        high = rng.random() < 0.1
        events.append(
            Event(
                batch_id=f"batch-{index}",
                camera_id=rng.choice(CAMERAS),
                started_at=NOW - timedelta(minutes=rng.randrange(0, 10 * 24 * 60), seconds=index),
                risk_score=rng.randrange(60, 101) if high else rng.randrange(0, 60),
                reviewed=not high and rng.random() < 0.5,
                summary="Routine activity",
            )
        )
    session.add_all(events)
    await session.flush()
    return events


async def test_events_by_camera_last_24h(
    session: AsyncSession, engine: AsyncEngine, cameras: list[str]
) -> None:
    events = await _add_events(session, 600)
    await analyze(session)
    cutoff = NOW - timedelta(hours=24)
    statement = (
        select(Event)
        .where(Event.camera_id == "front_door")
        .where(Event.started_at >= cutoff)
        .order_by(Event.started_at.desc())
    )
    found = [event.id for event in (await session.execute(statement)).scalars()]
    expected = [
        e.id
        for e in sorted(events, key=lambda e: e.started_at, reverse=True)
        if e.camera_id == "front_door" and e.started_at >= cutoff
    ]
    assert expected and found == expected
    assert_uses_index(await plan(engine, statement), "idx_events_camera_id", "idx_events_started_at")


async def test_unreviewed_high_risk_events(
    session: AsyncSession, engine: AsyncEngine, cameras: list[str]
) -> None:
    events = await _add_events(session, 600)
    await analyze(session)
    statement = (
        select(Event)
        .where(Event.reviewed == False)  # noqa: E712 - the base schema's form, compiled to SQL
        .where(Event.risk_score >= 60)
        .order_by(Event.started_at.desc())
        .limit(50)
    )
    found = [event.id for event in (await session.execute(statement)).scalars()]
    expected = [
        e.id
        for e in sorted(events, key=lambda e: e.started_at, reverse=True)
        if not e.reviewed and (e.risk_score or 0) >= 60
    ][:50]
    assert expected and found == expected
    assert_uses_index(await plan(engine, statement), "idx_events_reviewed", "idx_events_risk_score")


async def test_detection_timeline_for_event(
    session: AsyncSession, engine: AsyncEngine, cameras: list[str]
) -> None:
    detections = [
        Detection(
            camera_id="front_door",
            file_path=f"/export/front_door/{index}.jpg",
            object_type="person",
            confidence=0.9,
            detected_at=NOW - timedelta(seconds=index * 7 % 500),
        )
        for index in range(500)
    ]
    session.add_all(detections)
    await session.flush()
    chosen = [detections[3], detections[250], detections[41], detections[77]]
    event = Event(
        batch_id="b",
        camera_id="front_door",
        started_at=NOW,
        detection_ids=json.dumps([d.id for d in chosen]),
    )
    session.add(event)
    await analyze(session)

    detection_ids = json.loads(event.detection_ids) if event.detection_ids else []
    statement = select(Detection).where(Detection.id.in_(detection_ids)).order_by(Detection.detected_at.asc())
    found = [d.id for d in (await session.execute(statement)).scalars()]
    assert found == [d.id for d in sorted(chosen, key=lambda d: d.detected_at)]
    assert_uses_index(await plan(engine, statement), "pk_detections")


async def test_alerts_by_status(session: AsyncSession, engine: AsyncEngine, cameras: list[str]) -> None:
    event = Event(batch_id="b", camera_id="front_door", started_at=NOW)
    session.add(event)
    await session.flush()
    statuses = [AlertStatus.PENDING] * 5 + [AlertStatus.DELIVERED] * 300 + [AlertStatus.DISMISSED] * 100
    random.Random(3).shuffle(statuses)
    alerts = [
        Alert(
            event_id=event.id, dedup_key=f"k{index}", status=status, created_at=NOW - timedelta(minutes=index)
        )
        for index, status in enumerate(statuses)
    ]
    session.add_all(alerts)
    await analyze(session)

    statement = select(Alert).where(Alert.status == AlertStatus.PENDING).order_by(Alert.created_at.desc())
    found = [a.id for a in (await session.execute(statement)).scalars()]
    pending = [a for a in alerts if a.status == AlertStatus.PENDING]
    assert found == [a.id for a in sorted(pending, key=lambda a: a.created_at, reverse=True)]
    assert len(found) == 5
    assert_uses_index(await plan(engine, statement), "idx_alerts_status", "idx_alerts_created_at")


async def test_active_alert_rules(session: AsyncSession, engine: AsyncEngine) -> None:
    severities = list(AlertSeverity)
    disabled = [AlertRule(name=f"old {i}", enabled=False, severity=severities[i % 4]) for i in range(400)]
    active = [
        AlertRule(name="Any motion", severity=AlertSeverity.LOW),
        AlertRule(name="Person at night", severity=AlertSeverity.CRITICAL),
        AlertRule(name="Vehicle in driveway", severity=AlertSeverity.MEDIUM),
        AlertRule(name="Person at door", severity=AlertSeverity.HIGH),
    ]
    session.add_all(disabled + active)
    await analyze(session)

    statement = select(AlertRule).where(AlertRule.enabled == True).order_by(AlertRule.severity.desc())  # noqa: E712
    found = [rule.name for rule in (await session.execute(statement)).scalars()]
    # PostgreSQL orders an enum by declaration order (low < medium < high < critical).
    assert found == ["Person at night", "Person at door", "Vehicle in driveway", "Any motion"]
    assert_uses_index(await plan(engine, statement), "idx_alert_rules_enabled")


async def test_gpu_stats_history(session: AsyncSession, engine: AsyncEngine) -> None:
    samples = [
        GPUStats(
            recorded_at=NOW - timedelta(seconds=5 * index), gpu_name="GPU", gpu_utilization=float(index % 100)
        )
        for index in range(2000)  # about 2.8 hours of 5-second samples
    ]
    session.add_all(samples)
    await analyze(session)

    cutoff = NOW - timedelta(hours=1)
    statement = select(GPUStats).where(GPUStats.recorded_at >= cutoff).order_by(GPUStats.recorded_at.asc())
    found = [s.id for s in (await session.execute(statement)).scalars()]
    expected = [s.id for s in sorted(samples, key=lambda s: s.recorded_at) if s.recorded_at >= cutoff]
    assert len(expected) == 721 and found == expected
    assert_uses_index(await plan(engine, statement), "idx_gpu_stats_recorded_at")


async def test_full_text_event_search_ranked(
    session: AsyncSession, engine: AsyncEngine, cameras: list[str]
) -> None:
    filler = [
        Event(batch_id=f"f{i}", camera_id="garage", started_at=NOW, summary=f"Car {i} passed on the street")
        for i in range(300)
    ]
    in_summary = Event(
        batch_id="s",
        camera_id="front_door",
        started_at=NOW - timedelta(hours=2),
        summary="Unknown person approaching the front door",
        reasoning="Lingered for a minute.",
    )
    in_reasoning = Event(
        batch_id="r",
        camera_id="front_door",
        started_at=NOW - timedelta(hours=1),
        summary="Movement near the entrance",
        reasoning="A person stood by the door for a while.",
    )
    one_word = Event(
        batch_id="o",
        camera_id="back_yard",
        started_at=NOW,
        summary="A person in the yard",
    )
    session.add_all([*filler, in_summary, in_reasoning, one_word])
    await analyze(session)

    query = "person door"
    statement = (
        select(Event)
        .where(Event.search_vector.op("@@")(search_query(query)))
        .order_by(search_rank(query).desc())
    )
    found = [e.batch_id for e in (await session.execute(statement)).scalars()]
    # Both words are required; the summary hit (weight A) outranks the reasoning hit (weight C).
    assert found == ["s", "r"]
    assert_uses_index(await plan(engine, statement), "idx_events_search_vector")

    # The base schema's spelling (`match` + plainto_tsquery) finds the same rows in the same order.
    reference = (
        select(Event)
        .where(Event.search_vector.match(query, postgresql_regconfig="english"))
        .order_by(func.ts_rank(Event.search_vector, func.plainto_tsquery("english", query)).desc())
    )
    assert [e.batch_id for e in (await session.execute(reference)).scalars()] == ["s", "r"]
    assert_uses_index(await plan(engine, reference), "idx_events_search_vector")

    # Stemming: plural and -ing forms find the same events.
    stemmed = select(Event.batch_id).where(Event.search_vector.op("@@")(search_query("persons approaching")))
    assert (await session.execute(stemmed)).scalars().all() == ["s"]


async def test_audit_log_for_resource(session: AsyncSession, engine: AsyncEngine) -> None:
    rng = random.Random(11)
    entries = []
    for index in range(600):
        resource_type = rng.choice(["camera", "rule", "event", "api_key"])
        resource_id = rng.choice(["front_door", "garage", "back_yard", str(uuid.UUID(int=index))])
        entries.append(
            AuditLog(
                timestamp=NOW - timedelta(minutes=index),
                action=AuditAction.CAMERA_UPDATED.value,
                resource_type=resource_type,
                resource_id=resource_id,
                actor="admin",
            )
        )
    session.add_all(entries)
    await analyze(session)

    statement = (
        select(AuditLog)
        .where(AuditLog.resource_type == "camera")
        .where(AuditLog.resource_id == "front_door")
        .order_by(AuditLog.timestamp.desc())
    )
    found = [entry.id for entry in (await session.execute(statement)).scalars()]
    expected = [
        e.id
        for e in sorted(entries, key=lambda e: e.timestamp, reverse=True)
        if e.resource_type == "camera" and e.resource_id == "front_door"
    ]
    assert expected and found == expected
    assert_uses_index(await plan(engine, statement), "idx_audit_logs_resource")
