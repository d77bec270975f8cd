"""How the models behave on a real migrated PostgreSQL: defaults, cascades, uniqueness, enums, FTS."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import RowMapping, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload

from server.models import (
    ActivityBaseline,
    Alert,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    APIKey,
    AuditAction,
    AuditLog,
    AuditStatus,
    Camera,
    ClassBaseline,
    Detection,
    Event,
    GPUStats,
    Log,
    Severity,
    Zone,
    ZoneShape,
    ZoneType,
    hash_api_key,
    normalize_camera_id,
    search_query,
)

T0 = datetime(2025, 12, 31, 14, 30, tzinfo=UTC)


# --- normalize_camera_id -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Front Door", "front_door"),
        ("back-yard", "back_yard"),
        ("Garage", "garage"),
        ("  Side -- Gate  ", "side_gate"),
        ("Cam #2 (porch)", "cam_2_porch"),
        ("__x__", "x"),
        ("a\tb", "a_b"),
        ("Café", "cafe_73473dcc"),  # folded to ASCII + a hash of the name (tests/server/test_camera_ids.py)
    ],
)
def test_normalize_camera_id(name: str, expected: str) -> None:
    assert normalize_camera_id(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "---", "!!!", "___"])
def test_normalize_camera_id_rejects_names_with_nothing_left(name: str) -> None:
    with pytest.raises(ValueError, match="no usable characters"):
        normalize_camera_id(name)


def test_normalize_camera_id_is_idempotent() -> None:
    for name in ("Front Door", "back-yard", "Cam #2 (porch)"):
        once = normalize_camera_id(name)
        assert normalize_camera_id(once) == once


def test_severity_alias_and_enum_values() -> None:
    assert AlertSeverity is Severity
    assert [member.value for member in Severity] == ["low", "medium", "high", "critical"]
    assert AuditAction("api_key_revoked") is AuditAction.API_KEY_REVOKED
    assert str(ZoneType.ENTRY_POINT) == "entry_point"


def test_hash_api_key_is_sha256_hex() -> None:
    digest = hash_api_key("secret")
    assert digest == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    assert len(digest) == 64


# --- helpers -------------------------------------------------------------------------------------


def _camera(camera_id: str = "front_door") -> Camera:
    return Camera(id=camera_id, name=camera_id.replace("_", " ").title(), folder_path=f"/export/{camera_id}")


def _event(camera_id: str = "front_door", batch_id: str | None = None, **fields: object) -> Event:
    return Event(batch_id=batch_id or uuid.uuid4().hex, camera_id=camera_id, started_at=T0, **fields)


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def _populate_camera(session: AsyncSession, camera_id: str) -> tuple[Event, AlertRule]:
    """A camera with one of every child row, an event with an alert, and a rule."""
    camera = _camera(camera_id)
    rule = AlertRule(name=f"rule {camera_id}")
    event = _event(camera_id, summary="Person at the door")
    session.add_all([camera, rule, event])
    session.add_all(
        [
            Detection(camera_id=camera_id, file_path="/x/1.jpg", object_type="person", confidence=0.9),
            Zone(id=f"{camera_id}_entry", camera_id=camera_id, name="Entry", coordinates=[[0, 0], [1, 1]]),
            ActivityBaseline(camera_id=camera_id, hour=1, day_of_week=2),
            ClassBaseline(camera_id=camera_id, detection_class="person", hour=1),
        ]
    )
    await session.flush()
    session.add(Alert(event_id=event.id, rule_id=rule.id, dedup_key=f"{camera_id}:{rule.id}"))
    await session.commit()
    return event, rule


# --- defaults ------------------------------------------------------------------------------------


async def test_python_defaults_fill_in_on_flush(session: AsyncSession) -> None:
    camera = _camera()
    session.add(camera)
    await session.flush()
    event = _event()
    rule = AlertRule(name="Person at night")
    zone = Zone(id="front_door_entry", camera_id="front_door", name="Entry", coordinates=[[0.1, 0.2]])
    detection = Detection(camera_id="front_door", file_path="/x.jpg")
    key = APIKey(key_hash=hash_api_key("k"), name="ha")
    audit = AuditLog(action=AuditAction.LOGIN.value, resource_type="auth", actor="admin")
    log = Log(level="INFO", component="test", message="hello")
    session.add_all([event, rule, zone, detection, key, audit, log])
    await session.flush()
    alert = Alert(event_id=event.id, dedup_key="k")
    session.add(alert)
    await session.commit()

    assert camera.status == "online"
    assert camera.created_at.tzinfo is not None
    assert (event.reviewed, event.is_fast_path) == (False, False)
    assert isinstance(rule.id, uuid.UUID)
    # No severity of its own (HSI extension, migration 0005): its alerts take the event's risk level.
    assert (rule.enabled, rule.severity, rule.cooldown_seconds) == (True, None, 300)
    assert rule.dedup_key_template == "{camera_id}:{rule_id}"
    assert (alert.severity, alert.status) == (AlertSeverity.MEDIUM, AlertStatus.PENDING)
    assert isinstance(alert.id, uuid.UUID)
    assert (zone.zone_type, zone.shape, zone.color, zone.enabled, zone.priority) == (
        ZoneType.OTHER,
        ZoneShape.RECTANGLE,
        "#3B82F6",
        True,
        0,
    )
    assert detection.media_type == "image"
    assert key.is_active is True
    assert audit.status == AuditStatus.SUCCESS
    assert log.source == "backend"


async def _insert(conn: AsyncConnection, table: str, values: str, columns: str = "") -> RowMapping:
    """`INSERT INTO table (columns) VALUES (values) RETURNING *` with only the required columns."""
    sql = f"INSERT INTO {table} {columns} {values} RETURNING *"
    return (await conn.execute(text(sql))).mappings().one()


async def test_server_defaults_fill_in_for_raw_sql_inserts(engine: AsyncEngine) -> None:
    """The database itself supplies every default the base schema lists (not only the ORM)."""
    async with engine.begin() as conn:
        camera = await _insert(conn, "cameras", "VALUES ('c', 'C', '/c')", "(id, name, folder_path)")
        event = await _insert(conn, "events", "VALUES ('b', 'c', now())", "(batch_id, camera_id, started_at)")
        rule = await _insert(conn, "alert_rules", "VALUES ('r')", "(name)")
        alert = await _insert(conn, "alerts", f"VALUES ({event['id']}, 'k')", "(event_id, dedup_key)")
        zone = await _insert(
            conn, "zones", "VALUES ('z', 'c', 'Z', '[[0,0]]')", "(id, camera_id, name, coordinates)"
        )
        baseline = await _insert(
            conn, "activity_baselines", "VALUES ('c', 0, 0)", "(camera_id, hour, day_of_week)"
        )
        class_baseline = await _insert(
            conn, "class_baselines", "VALUES ('c', 'person', 0)", "(camera_id, detection_class, hour)"
        )
        detection = await _insert(conn, "detections", "VALUES ('c', '/f')", "(camera_id, file_path)")
        gpu = await _insert(conn, "gpu_stats", "DEFAULT VALUES")
        log = await _insert(conn, "logs", "VALUES ('INFO', 'x', 'm')", "(level, component, message)")
        audit = await _insert(
            conn, "audit_logs", "VALUES ('login', 'auth', 'a')", "(action, resource_type, actor)"
        )
        key = await _insert(conn, "api_keys", "VALUES ('h', 'n')", "(key_hash, name)")

    assert camera["status"] == "online" and camera["created_at"] is not None
    assert (event["reviewed"], event["is_fast_path"]) == (False, False)
    assert isinstance(rule["id"], uuid.UUID)
    assert (rule["enabled"], rule["severity"], rule["cooldown_seconds"]) == (True, None, 300)
    assert rule["dedup_key_template"] == "{camera_id}:{rule_id}"
    assert isinstance(alert["id"], uuid.UUID)
    assert (alert["severity"], alert["status"]) == ("medium", "pending")
    assert alert["created_at"] is not None and alert["updated_at"] is not None
    assert (zone["zone_type"], zone["shape"], zone["color"]) == ("other", "rectangle", "#3B82F6")
    assert (zone["enabled"], zone["priority"]) == (True, 0)
    assert (baseline["avg_count"], baseline["sample_count"]) == (0.0, 0)
    assert (class_baseline["frequency"], class_baseline["sample_count"]) == (0.0, 0)
    assert detection["media_type"] == "image" and detection["detected_at"] is not None
    assert gpu["recorded_at"] is not None
    assert (log["source"], log["timestamp"] is not None) == ("backend", True)
    assert (audit["status"], audit["timestamp"] is not None) == ("success", True)
    assert (key["is_active"], key["created_at"] is not None) == (True, True)


async def test_updated_at_moves_on_update(session: AsyncSession) -> None:
    rule = AlertRule(name="r", updated_at=T0, created_at=T0)
    session.add(rule)
    await session.commit()
    rule.cooldown_seconds = 60
    await session.commit()
    assert rule.updated_at > T0
    assert rule.created_at == T0


# --- enums and JSON ------------------------------------------------------------------------------


async def test_enums_are_stored_as_lowercase_values(session: AsyncSession) -> None:
    session.add(_camera())
    rule = AlertRule(name="r", severity=AlertSeverity.CRITICAL)
    zone = Zone(
        id="z",
        camera_id="front_door",
        name="Z",
        coordinates=[[0.1, 0.2], [0.3, 0.2], [0.3, 0.8]],
        zone_type=ZoneType.ENTRY_POINT,
        shape=ZoneShape.POLYGON,
    )
    session.add_all([rule, zone])
    await session.commit()
    row = (
        await session.execute(
            text("SELECT r.severity::text, z.zone_type::text, z.shape::text FROM alert_rules r, zones z")
        )
    ).one()
    assert tuple(row) == ("critical", "entry_point", "polygon")


async def test_database_rejects_unknown_enum_values(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError, match="alert_severity"):
            await conn.execute(text("INSERT INTO alert_rules (name, severity) VALUES ('r', 'urgent')"))


async def test_json_columns_round_trip(session: AsyncSession) -> None:
    await _populate_camera(session, "front_door")
    alert = (await session.execute(select(Alert))).scalar_one()
    alert.alert_metadata = {"object_type": "person", "confidence": 0.92}
    alert.channels = ["push", "email"]
    await session.commit()
    raw = (await session.execute(text("SELECT metadata->>'object_type', channels::text FROM alerts"))).one()
    assert raw[0] == "person"
    assert json.loads(raw[1]) == ["push", "email"]
    session.expunge_all()
    zone = (await session.execute(select(Zone))).scalar_one()
    assert zone.coordinates == [[0, 0], [1, 1]]


async def test_detection_id_list_decodes_the_text_column() -> None:
    assert _event(detection_ids="[1234, 1235]").detection_id_list == [1234, 1235]
    assert _event(detection_ids=None).detection_id_list == []


# --- cascades ------------------------------------------------------------------------------------

CHILD_MODELS = (Detection, Event, Zone, ActivityBaseline, ClassBaseline, Alert)


@pytest.mark.parametrize("children_loaded", [False, True])
async def test_orm_camera_delete_removes_all_children(session: AsyncSession, children_loaded: bool) -> None:
    """Unloaded children go through ON DELETE CASCADE, loaded ones through the ORM cascade."""
    await _populate_camera(session, "front_door")
    await _populate_camera(session, "garage")
    session.expunge_all()
    options = (
        [
            selectinload(Camera.detections),
            selectinload(Camera.events).selectinload(Event.alerts),
            selectinload(Camera.zones),
            selectinload(Camera.activity_baselines),
            selectinload(Camera.class_baselines),
        ]
        if children_loaded
        else []
    )
    camera = (
        await session.execute(select(Camera).where(Camera.id == "front_door").options(*options))
    ).scalar_one()
    await session.delete(camera)
    await session.commit()
    # Only the other camera's rows are left: one of each.
    for model in CHILD_MODELS:
        assert await _count(session, model) == 1, model.__name__
    assert await _count(session, AlertRule) == 2


async def test_removing_a_zone_from_its_camera_deletes_it(session: AsyncSession) -> None:
    await _populate_camera(session, "front_door")
    session.expunge_all()
    camera = (
        await session.execute(
            select(Camera).options(selectinload(Camera.zones)).where(Camera.id == "front_door")
        )
    ).scalar_one()
    camera.zones.clear()
    await session.commit()
    assert await _count(session, Zone) == 0
    assert await _count(session, Camera) == 1


async def test_sql_camera_delete_cascades_in_the_database(session: AsyncSession) -> None:
    await _populate_camera(session, "front_door")
    await session.execute(text("DELETE FROM cameras WHERE id = 'front_door'"))
    await session.commit()
    for model in CHILD_MODELS:
        assert await _count(session, model) == 0, model.__name__


async def test_event_delete_removes_its_alerts(session: AsyncSession) -> None:
    event, _ = await _populate_camera(session, "front_door")
    other, _ = await _populate_camera(session, "garage")
    await session.delete(event)
    await session.commit()
    remaining = (await session.execute(select(Alert.event_id))).scalars().all()
    assert remaining == [other.id]
    await session.execute(text("DELETE FROM events WHERE id = :id"), {"id": other.id})
    await session.commit()
    assert await _count(session, Alert) == 0


async def test_rule_delete_keeps_alerts_and_clears_rule_id(session: AsyncSession) -> None:
    _, rule = await _populate_camera(session, "front_door")
    await session.delete(rule)
    await session.commit()
    rule_ids = (await session.execute(text("SELECT rule_id FROM alerts"))).scalars().all()
    assert rule_ids == [None]


# --- uniqueness ----------------------------------------------------------------------------------


async def _assert_duplicate_rejected(session: AsyncSession, first: object, second: object) -> None:
    session.add(first)
    await session.commit()
    session.add(second)
    with pytest.raises(IntegrityError):
        await session.commit()
    await session.rollback()


async def test_api_key_hash_is_unique(session: AsyncSession) -> None:
    digest = hash_api_key("k")
    await _assert_duplicate_rejected(
        session, APIKey(key_hash=digest, name="a"), APIKey(key_hash=digest, name="b")
    )
    assert await _count(session, APIKey) == 1


async def test_activity_baseline_slot_is_unique(session: AsyncSession) -> None:
    session.add(_camera())
    await session.commit()
    await _assert_duplicate_rejected(
        session,
        ActivityBaseline(camera_id="front_door", hour=3, day_of_week=4),
        ActivityBaseline(camera_id="front_door", hour=3, day_of_week=4),
    )
    session.add(ActivityBaseline(camera_id="front_door", hour=3, day_of_week=5))
    await session.commit()
    assert await _count(session, ActivityBaseline) == 2


async def test_class_baseline_slot_is_unique(session: AsyncSession) -> None:
    session.add(_camera())
    await session.commit()
    await _assert_duplicate_rejected(
        session,
        ClassBaseline(camera_id="front_door", detection_class="person", hour=3),
        ClassBaseline(camera_id="front_door", detection_class="person", hour=3),
    )
    session.add(ClassBaseline(camera_id="front_door", detection_class="car", hour=3))
    await session.commit()
    assert await _count(session, ClassBaseline) == 2


async def test_baseline_upsert_on_the_unique_slot(session: AsyncSession) -> None:
    """The unique constraint is what lets analyze workers upsert a slot concurrently."""
    session.add(_camera())
    await session.commit()
    for count in (2.0, 4.0):
        statement = pg_insert(ActivityBaseline).values(
            camera_id="front_door", hour=1, day_of_week=1, avg_count=count, sample_count=1
        )
        statement = statement.on_conflict_do_update(
            constraint="uq_activity_baseline_slot",
            set_={
                "avg_count": statement.excluded.avg_count,
                "sample_count": ActivityBaseline.sample_count + 1,
            },
        )
        await session.execute(statement)
    await session.commit()
    row = (await session.execute(select(ActivityBaseline.avg_count, ActivityBaseline.sample_count))).one()
    assert tuple(row) == (4.0, 2)


async def test_event_batch_id_is_unique_and_idempotent(session: AsyncSession) -> None:
    session.add(_camera())
    await session.commit()
    await _assert_duplicate_rejected(session, _event(batch_id="batch-1"), _event(batch_id="batch-1"))
    values = {"batch_id": "batch-1", "camera_id": "front_door", "started_at": T0}
    result = await session.execute(
        pg_insert(Event)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["batch_id"])
        .returning(Event.id)
    )
    assert result.first() is None
    assert await _count(session, Event) == 1


# --- full-text search maintained by the database -------------------------------------------------


async def test_search_vector_follows_text_updates(session: AsyncSession) -> None:
    session.add(_camera())
    event = _event(summary="A delivery van parked in the driveway")
    session.add(event)
    await session.commit()

    async def matches(words: str) -> list[int]:
        return list(
            (
                await session.execute(
                    select(Event.id).where(Event.search_vector.op("@@")(search_query(words)))
                )
            ).scalars()
        )

    assert await matches("vans parking") == [event.id]  # stemmed
    event.summary = "Unknown person at the gate"
    event.notes = "Checked: neighbour"
    await session.commit()
    assert await matches("van") == []
    assert await matches("person gate") == [event.id]
    assert await matches("neighbour") == [event.id]
    await session.execute(text("UPDATE events SET reasoning = 'raccoon near bins'"))
    assert await matches("raccoon") == [event.id]


async def test_timestamps_round_trip_timezone_aware(session: AsyncSession) -> None:
    local = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    session.add(GPUStats(recorded_at=local, gpu_name="NVIDIA RTX A5500"))
    await session.commit()
    session.expunge_all()
    stats = (await session.execute(select(GPUStats))).scalar_one()
    assert stats.recorded_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert stats.recorded_at.tzinfo is not None


async def test_core_insert_uses_enum_values(session: AsyncSession) -> None:
    session.add(_camera())
    await session.flush()
    event = _event()
    session.add(event)
    await session.flush()
    await session.execute(
        insert(Alert).values(
            event_id=event.id, dedup_key="k", severity=AlertSeverity.HIGH, status=AlertStatus.DELIVERED
        )
    )
    await session.commit()
    raw = (await session.execute(text("SELECT severity::text, status::text FROM alerts"))).one()
    assert tuple(raw) == ("high", "delivered")
    loaded = (await session.execute(select(Alert))).scalar_one()
    assert (loaded.severity, loaded.status) == (AlertSeverity.HIGH, AlertStatus.DELIVERED)
