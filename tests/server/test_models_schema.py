"""The migrated schema, read back from PostgreSQL's catalogue, matches the base schema (README, "Data model").

Every expectation below is written from the base schema (plus the documented HSI extensions:
`events.analysis_backend`, UNIQUE `idx_events_batch_id`, `detections.file_hash` with its index,
names for the constraints the base schema leaves unnamed, revision 0004's list indexes and the rollup
tables `event_counts_hourly` / `store_counters` with their triggers, and the revision 0005 columns
(nullable `alert_rules.severity`, three `cameras` columns), and revision 0006's stationary objects,
loitering zones and object filters (`detections.track_id`/`stationary` with their index,
`zones.loitering_seconds`/`loitering_classes`/`object_filters`, `cameras.object_filters`)), and
compared with what the database reports — not with the Python models, so a model and a migration
that agree with each other but not with the spec still fail here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

VARCHAR = "character varying"
TEXT = "text"
INTEGER = "integer"
BIGINT = "bigint"
DOUBLE = "double precision"
BOOLEAN = "boolean"
TSTZ = "timestamp with time zone"
JSON = "json"
JSONB = "jsonb"
UUID = "uuid"
NOW = "now()"


@dataclass(frozen=True)
class Col:
    """Expected column: type as the catalogue names it (enum/tsvector: the type's own name)."""

    type: str
    nullable: bool
    default: str | None = None
    length: int | None = None


def serial(table: str) -> Col:
    return Col(INTEGER, False, f"nextval('{table}_id_seq'::regclass)")


def varchar(nullable: bool, length: int | None = None, default: str | None = None) -> Col:
    return Col(VARCHAR, nullable, None if default is None else f"'{default}'::character varying", length)


#: The count columns of the event rollups (revision 0004); their ids are identity columns (no default).
COUNT_NAMES = tuple(
    f"{prefix}{level}" for prefix in ("", "unreviewed_") for level in ("low", "medium", "high", "critical", "unscored")
)
COUNTS = {name: Col(INTEGER, False, "0") for name in COUNT_NAMES}

EXPECTED_COLUMNS: dict[str, dict[str, Col]] = {
    "cameras": {
        "id": varchar(False),
        "name": varchar(False),
        "folder_path": varchar(False),
        "status": varchar(False, default="online"),
        "created_at": Col(TSTZ, False, NOW),
        "last_seen_at": Col(TSTZ, True),
        # HSI extensions (revision 0005): the latest upload, learned and set connectivity delays
        "last_upload_path": varchar(True),
        "upload_gap_seconds": Col(DOUBLE, True),
        "offline_after_seconds": Col(INTEGER, True),
        "object_filters": Col(JSONB, True),  # HSI extension (revision 0006): filters and masks
        "baselines_reset_at": Col(TSTZ, True),  # HSI extension (revision 0009)
    },
    "detections": {
        "id": serial("detections"),
        "camera_id": varchar(False),
        "file_path": varchar(False),
        "file_type": varchar(True),
        "detected_at": Col(TSTZ, False, NOW),
        "object_type": varchar(True),
        "confidence": Col(DOUBLE, True),
        "bbox_x": Col(INTEGER, True),
        "bbox_y": Col(INTEGER, True),
        "bbox_width": Col(INTEGER, True),
        "bbox_height": Col(INTEGER, True),
        "thumbnail_path": varchar(True),
        "media_type": varchar(True, default="image"),
        "duration": Col(DOUBLE, True),
        "video_codec": varchar(True),
        "video_width": Col(INTEGER, True),
        "video_height": Col(INTEGER, True),
        "file_hash": varchar(True, 64),  # HSI extension (revision 0002): idempotent detection
        "image_width": Col(INTEGER, True),  # HSI extension (revision 0003): the size zones are measured on
        "image_height": Col(INTEGER, True),
        # HSI extension (revision 0006): the object across uploads, and whether it had stayed put.
        "track_id": Col(BIGINT, True),
        "stationary": Col(BOOLEAN, False, "false"),
    },
    "events": {
        "id": serial("events"),
        "batch_id": varchar(False),
        "camera_id": varchar(False),
        "started_at": Col(TSTZ, False),
        "ended_at": Col(TSTZ, True),
        "risk_score": Col(INTEGER, True),
        "risk_level": varchar(True),
        "summary": Col(TEXT, True),
        "reasoning": Col(TEXT, True),
        "detection_ids": Col(TEXT, True),
        "reviewed": Col(BOOLEAN, False, "false"),
        "notes": Col(TEXT, True),
        "is_fast_path": Col(BOOLEAN, False, "false"),
        "object_types": Col(TEXT, True),
        "clip_path": varchar(True),
        "search_vector": Col("tsvector", True),
        "analysis_backend": varchar(True, 32),  # HSI extension
    },
    "alerts": {
        "id": Col(UUID, False, "gen_random_uuid()"),
        "event_id": Col(INTEGER, False),
        "rule_id": Col(UUID, True),
        "severity": Col("alert_severity", False, "'medium'::alert_severity"),
        "status": Col("alert_status", False, "'pending'::alert_status"),
        "created_at": Col(TSTZ, False, NOW),
        "updated_at": Col(TSTZ, False, NOW),
        "delivered_at": Col(TSTZ, True),
        "channels": Col(JSON, True),
        "dedup_key": varchar(False, 255),
        "metadata": Col(JSON, True),
    },
    "alert_rules": {
        "id": Col(UUID, False, "gen_random_uuid()"),
        "name": varchar(False, 255),
        "description": Col(TEXT, True),
        "enabled": Col(BOOLEAN, False, "true"),
        "severity": Col("alert_severity", True),  # HSI extension (revision 0005): NULL = from the risk
        "risk_threshold": Col(INTEGER, True),
        "object_types": Col(JSON, True),
        "camera_ids": Col(JSON, True),
        "zone_ids": Col(JSON, True),
        "min_confidence": Col(DOUBLE, True),
        "schedule": Col(JSON, True),
        "conditions": Col(JSON, True),
        "dedup_key_template": varchar(False, 255, "{camera_id}:{rule_id}"),
        "cooldown_seconds": Col(INTEGER, False, "300"),
        "channels": Col(JSON, True),
        "created_at": Col(TSTZ, False, NOW),
        "updated_at": Col(TSTZ, False, NOW),
    },
    "zones": {
        "id": varchar(False),
        "camera_id": varchar(False),
        "name": varchar(False, 255),
        "zone_type": Col("zone_type", False, "'other'::zone_type"),
        "coordinates": Col(JSONB, False),
        "shape": Col("zone_shape", False, "'rectangle'::zone_shape"),
        "color": varchar(False, 7, "#3B82F6"),
        "enabled": Col(BOOLEAN, False, "true"),
        "priority": Col(INTEGER, False, "0"),
        "created_at": Col(TSTZ, False, NOW),
        "updated_at": Col(TSTZ, False, NOW),
        # HSI extensions (revision 0006): loitering time and classes, the zone's object filters.
        "loitering_seconds": Col(INTEGER, True),
        "loitering_classes": Col(JSONB, True),
        "object_filters": Col(JSONB, True),
    },
    "activity_baselines": {
        "id": serial("activity_baselines"),
        "camera_id": varchar(False),
        "hour": Col(INTEGER, False),
        "day_of_week": Col(INTEGER, False),
        "avg_count": Col(DOUBLE, False, "0"),
        "sample_count": Col(INTEGER, False, "0"),
        "last_updated": Col(TSTZ, False, NOW),
    },
    "class_baselines": {
        "id": serial("class_baselines"),
        "camera_id": varchar(False),
        "detection_class": varchar(False),
        "hour": Col(INTEGER, False),
        "frequency": Col(DOUBLE, False, "0"),
        "sample_count": Col(INTEGER, False, "0"),
        "last_updated": Col(TSTZ, False, NOW),
    },
    "gpu_stats": {
        "id": serial("gpu_stats"),
        "recorded_at": Col(TSTZ, False, NOW),
        "gpu_name": varchar(True, 255),
        "gpu_utilization": Col(DOUBLE, True),
        "memory_used": Col(INTEGER, True),
        "memory_total": Col(INTEGER, True),
        "temperature": Col(DOUBLE, True),
        "power_usage": Col(DOUBLE, True),
        "inference_fps": Col(DOUBLE, True),
    },
    "logs": {
        "id": serial("logs"),
        "timestamp": Col(TSTZ, False, NOW),
        "level": varchar(False, 10),
        "component": varchar(False, 50),
        "message": Col(TEXT, False),
        "camera_id": varchar(True, 100),
        "event_id": Col(INTEGER, True),
        "request_id": varchar(True, 36),
        "detection_id": Col(INTEGER, True),
        "duration_ms": Col(INTEGER, True),
        "extra": Col(JSONB, True),
        "source": varchar(False, 10, "backend"),
        "user_agent": Col(TEXT, True),
    },
    "audit_logs": {
        "id": serial("audit_logs"),
        "timestamp": Col(TSTZ, False, NOW),
        "action": varchar(False, 50),
        "resource_type": varchar(False, 50),
        "resource_id": varchar(True, 255),
        "actor": varchar(False, 100),
        "ip_address": varchar(True, 45),
        "user_agent": Col(TEXT, True),
        "details": Col(JSONB, True),
        "status": varchar(False, 20, "success"),
    },
    "api_keys": {
        "id": serial("api_keys"),
        "key_hash": varchar(False, 64),
        "name": varchar(False, 100),
        "created_at": Col(TSTZ, False, NOW),
        "is_active": Col(BOOLEAN, False, "true"),
    },
    # HSI extension (revision 0004): rollups the stats read, kept by triggers (server/models/rollups.py).
    "event_counts_hourly": {"id": Col(BIGINT, False), "hour": Col(TSTZ, False), "camera_id": varchar(False), **COUNTS},
    "event_counts_hourly_total": {"id": Col(BIGINT, False), "hour": Col(TSTZ, False), **COUNTS},
    "event_counts_daily": {"id": Col(BIGINT, False), "day": Col(TSTZ, False), "camera_id": varchar(False), **COUNTS},
    "store_counters": {
        "id": Col(BIGINT, False),  # identity
        "name": varchar(False, 64),
        "value": Col(BIGINT, False),
    },
}


@dataclass(frozen=True)
class Idx:
    columns: tuple[str, ...]
    unique: bool = False
    method: str = "btree"


PK_ID = Idx(("id",), unique=True)

EXPECTED_INDEXES: dict[str, dict[str, Idx]] = {
    "cameras": {"pk_cameras": PK_ID},
    "detections": {
        "pk_detections": PK_ID,
        "idx_detections_camera_id": Idx(("camera_id",)),
        "idx_detections_detected_at": Idx(("detected_at",)),
        "idx_detections_camera_time": Idx(("camera_id", "detected_at")),
        "idx_detections_file_hash": Idx(("file_hash",)),  # HSI extension (revision 0002)
        # HSI extension (revision 0004): the list order (supersedes idx_detections_camera_time).
        "idx_detections_camera_id_detected_at_id": Idx(("camera_id", "detected_at", "id")),
        # HSI extension (revision 0006): a track's earlier detections (partial: tracked rows only).
        "idx_detections_camera_track": Idx(("camera_id", "track_id", "detected_at")),
        # HSI extension (revision 0011): a camera's latest moving detection (partial: not stationary).
        "idx_detections_camera_moving": Idx(("camera_id", "detected_at", "id")),
    },
    "events": {
        "pk_events": PK_ID,
        "idx_events_camera_id": Idx(("camera_id",)),
        "idx_events_started_at": Idx(("started_at",)),
        "idx_events_risk_score": Idx(("risk_score",)),
        "idx_events_reviewed": Idx(("reviewed",)),
        "idx_events_batch_id": Idx(("batch_id",), unique=True),  # HSI: unique (idempotent events)
        "idx_events_search_vector": Idx(("search_vector",), method="gin"),
        # HSI extension (revision 0004): the list orders. idx_events_unreviewed is partial and
        # idx_events_object_types is on an expression (not listed by this catalogue query): both are
        # checked with their definitions in test_list_indexes_of_revision_0004.
        "idx_events_started_at_id": Idx(("started_at", "id")),
        # revision 0007: the camera one also holds risk_score (a risk filter read from the index)
        "idx_events_camera_id_started_at_risk": Idx(("camera_id", "started_at", "id", "risk_score")),
        "idx_events_unreviewed": Idx(("started_at", "id")),
    },
    "alerts": {
        "pk_alerts": PK_ID,
        "idx_alerts_event_id": Idx(("event_id",)),
        "idx_alerts_rule_id": Idx(("rule_id",)),
        "idx_alerts_severity": Idx(("severity",)),
        "idx_alerts_status": Idx(("status",)),
        "idx_alerts_created_at": Idx(("created_at",)),
        "idx_alerts_dedup_key": Idx(("dedup_key",)),
        "idx_alerts_dedup_key_created_at": Idx(("dedup_key", "created_at")),
        "idx_alerts_pending": Idx(("created_at", "id")),  # HSI extension (revision 0004), partial
    },
    "alert_rules": {
        "pk_alert_rules": PK_ID,
        "idx_alert_rules_name": Idx(("name",)),
        "idx_alert_rules_enabled": Idx(("enabled",)),
        "idx_alert_rules_severity": Idx(("severity",)),
    },
    "zones": {
        "pk_zones": PK_ID,
        "idx_zones_camera_id": Idx(("camera_id",)),
        "idx_zones_enabled": Idx(("enabled",)),
        "idx_zones_camera_enabled": Idx(("camera_id", "enabled")),
    },
    "activity_baselines": {
        "pk_activity_baselines": PK_ID,
        "uq_activity_baseline_slot": Idx(("camera_id", "hour", "day_of_week"), unique=True),
        "idx_activity_baseline_camera": Idx(("camera_id",)),
        "idx_activity_baseline_slot": Idx(("camera_id", "hour", "day_of_week")),
    },
    "class_baselines": {
        "pk_class_baselines": PK_ID,
        "uq_class_baseline_slot": Idx(("camera_id", "detection_class", "hour"), unique=True),
        "idx_class_baseline_camera": Idx(("camera_id",)),
        "idx_class_baseline_class": Idx(("camera_id", "detection_class")),
        "idx_class_baseline_slot": Idx(("camera_id", "detection_class", "hour")),
    },
    "gpu_stats": {
        "pk_gpu_stats": PK_ID,
        "idx_gpu_stats_recorded_at": Idx(("recorded_at",)),
    },
    "logs": {
        "pk_logs": PK_ID,
        "idx_logs_timestamp": Idx(("timestamp",)),
        "idx_logs_level": Idx(("level",)),
        "idx_logs_component": Idx(("component",)),
        "idx_logs_camera_id": Idx(("camera_id",)),
        "idx_logs_source": Idx(("source",)),
    },
    "audit_logs": {
        "pk_audit_logs": PK_ID,
        "idx_audit_logs_timestamp": Idx(("timestamp",)),
        "idx_audit_logs_action": Idx(("action",)),
        "idx_audit_logs_resource_type": Idx(("resource_type",)),
        "idx_audit_logs_actor": Idx(("actor",)),
        "idx_audit_logs_status": Idx(("status",)),
        "idx_audit_logs_resource": Idx(("resource_type", "resource_id")),
        # HSI extension (revision 0007): a resource's entries in list order
        "idx_audit_logs_resource_timestamp_id": Idx(("resource_type", "resource_id", "timestamp", "id")),
    },
    "api_keys": {
        "pk_api_keys": PK_ID,
        "uq_api_keys_key_hash": Idx(("key_hash",), unique=True),
    },
    # Covering: the key, then the counts it carries (INCLUDE).
    "event_counts_hourly": {
        "pk_event_counts_hourly": PK_ID,
        "idx_event_counts_hourly_hour_camera": Idx(("hour", "camera_id", *COUNT_NAMES)),
    },
    "event_counts_hourly_total": {
        "pk_event_counts_hourly_total": PK_ID,
        "idx_event_counts_hourly_total_hour": Idx(("hour", *COUNT_NAMES)),
    },
    "event_counts_daily": {
        "pk_event_counts_daily": PK_ID,
        "idx_event_counts_daily_day_camera": Idx(("day", "camera_id", *COUNT_NAMES)),
    },
    "store_counters": {
        "pk_store_counters": PK_ID,
        "idx_store_counters_name": Idx(("name",)),
    },
}

#: Unique *constraints* (pg_constraint contype 'u'): table -> name -> columns.
EXPECTED_UNIQUE_CONSTRAINTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("api_keys", "uq_api_keys_key_hash"): ("key_hash",),
    ("activity_baselines", "uq_activity_baseline_slot"): ("camera_id", "hour", "day_of_week"),
    ("class_baselines", "uq_class_baseline_slot"): ("camera_id", "detection_class", "hour"),
}

#: Foreign keys: (table, column) -> (referenced table, referenced column, ON DELETE action).
EXPECTED_FOREIGN_KEYS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("detections", "camera_id"): ("cameras", "id", "CASCADE"),
    ("events", "camera_id"): ("cameras", "id", "CASCADE"),
    ("zones", "camera_id"): ("cameras", "id", "CASCADE"),
    ("activity_baselines", "camera_id"): ("cameras", "id", "CASCADE"),
    ("class_baselines", "camera_id"): ("cameras", "id", "CASCADE"),
    ("alerts", "event_id"): ("events", "id", "CASCADE"),
    ("alerts", "rule_id"): ("alert_rules", "id", "SET NULL"),
}

EXPECTED_ENUMS: dict[str, list[str]] = {
    "alert_severity": ["low", "medium", "high", "critical"],
    "alert_status": ["pending", "delivered", "acknowledged", "dismissed"],
    "zone_type": ["entry_point", "driveway", "sidewalk", "yard", "other"],
    "zone_shape": ["rectangle", "polygon"],
}

INDEXES_SQL = """
SELECT t.relname AS table_name, i.relname AS index_name, am.amname AS method, ix.indisunique AS is_unique,
       array_agg(a.attname::text ORDER BY k.ord) AS columns
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = 'public' AND t.relname = :table
GROUP BY t.relname, i.relname, am.amname, ix.indisunique
"""

CONSTRAINTS_SQL = """
SELECT c.conname AS name, c.contype::text AS kind, t.relname AS table_name, rt.relname AS ref_table,
       c.confdeltype::text AS on_delete,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord)
           AS columns,
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
           AS ref_columns
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
WHERE n.nspname = 'public' AND c.contype IN ('u', 'f')
"""

ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).mappings())


async def test_exactly_the_twelve_tables_exist(engine: AsyncEngine) -> None:
    rows = await _rows(
        engine,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    assert {row["table_name"] for row in rows} == set(EXPECTED_COLUMNS) | {"alembic_version"}


@pytest.mark.parametrize("table", sorted(EXPECTED_COLUMNS))
async def test_columns_match_reference(engine: AsyncEngine, table: str) -> None:
    rows = await _rows(
        engine,
        "SELECT column_name, data_type, udt_name, is_nullable, column_default, character_maximum_length "
        "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = :table",
        table=table,
    )
    actual = {
        row["column_name"]: Col(
            type=row["udt_name"] if row["data_type"] == "USER-DEFINED" else row["data_type"],
            nullable=row["is_nullable"] == "YES",
            default=row["column_default"],
            length=row["character_maximum_length"],
        )
        for row in rows
    }
    assert actual == EXPECTED_COLUMNS[table]


async def test_every_timestamp_is_timezone_aware(engine: AsyncEngine) -> None:
    rows = await _rows(
        engine,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'",
    )
    assert rows == []


async def test_search_vector_is_generated_from_the_text_columns(engine: AsyncEngine) -> None:
    (row,) = await _rows(
        engine,
        "SELECT is_generated, generation_expression FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'events' AND column_name = 'search_vector'",
    )
    assert row["is_generated"] == "ALWAYS"
    expression = row["generation_expression"]
    assert "to_tsvector('english'::regconfig" in expression
    for column, weight in (("summary", "A"), ("object_types", "B"), ("reasoning", "C"), ("notes", "D")):
        assert f"COALESCE({column}, ''::text)), '{weight}'" in expression


@pytest.mark.parametrize("table", sorted(EXPECTED_INDEXES))
async def test_indexes_match_reference(engine: AsyncEngine, table: str) -> None:
    rows = await _rows(engine, INDEXES_SQL, table=table)
    actual = {
        row["index_name"]: Idx(tuple(row["columns"]), unique=row["is_unique"], method=row["method"])
        for row in rows
    }
    assert actual == EXPECTED_INDEXES[table]


async def test_unique_constraints_match_reference(engine: AsyncEngine) -> None:
    rows = [row for row in await _rows(engine, CONSTRAINTS_SQL) if row["kind"] == "u"]
    actual = {(row["table_name"], row["name"]): tuple(row["columns"]) for row in rows}
    assert actual == EXPECTED_UNIQUE_CONSTRAINTS


async def test_foreign_keys_and_their_delete_rules(engine: AsyncEngine) -> None:
    rows = [row for row in await _rows(engine, CONSTRAINTS_SQL) if row["kind"] == "f"]
    actual = {}
    for row in rows:
        (column,) = row["columns"]
        (ref_column,) = row["ref_columns"]
        actual[(row["table_name"], column)] = (row["ref_table"], ref_column, ON_DELETE[row["on_delete"]])
    assert actual == EXPECTED_FOREIGN_KEYS


#: HSI extension (revision 0008): the base schema's value ranges, each a statement the database refuses.
OUT_OF_RANGE = {
    "ck_events_risk_score": [
        "INSERT INTO events (batch_id, camera_id, started_at, risk_score) VALUES ('b1', 'cam', now(), 101)",
        "INSERT INTO events (batch_id, camera_id, started_at, risk_score) VALUES ('b2', 'cam', now(), -1)",
    ],
    "ck_detections_confidence": [
        "INSERT INTO detections (camera_id, file_path, confidence) VALUES ('cam', '/x.jpg', 1.5)",
    ],
    "ck_activity_baselines_hour": [
        "INSERT INTO activity_baselines (camera_id, hour, day_of_week) VALUES ('cam', 24, 0)",
    ],
    "ck_activity_baselines_day_of_week": [
        "INSERT INTO activity_baselines (camera_id, hour, day_of_week) VALUES ('cam', 0, 7)",
    ],
    "ck_class_baselines_hour": [
        "INSERT INTO class_baselines (camera_id, detection_class, hour) VALUES ('cam', 'person', 24)",
    ],
}


async def test_the_value_ranges_are_held_by_the_database(engine: AsyncEngine) -> None:
    """The finding (a review, then tried): no range of the base schema was a constraint, so a score of
    150 written by anything but the analyzer was counted critical, a baseline hour of 24 never found."""
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO cameras (id, name, folder_path) VALUES ('cam', 'C', '/c')"))
        event = "INSERT INTO events (batch_id, camera_id, started_at, risk_score) VALUES ('{}', 'cam', now(), {})"
        for statement in (  # the ends of each range, and NULL, pass
            event.format("ok0", 0),
            event.format("ok1", 100),
            event.format("ok2", "NULL"),
            "INSERT INTO detections (camera_id, file_path, confidence) VALUES ('cam', '/y.jpg', 1.0)",
            "INSERT INTO activity_baselines (camera_id, hour, day_of_week) VALUES ('cam', 23, 6)",
        ):
            await connection.execute(text(statement))
    for name, statements in OUT_OF_RANGE.items():
        for statement in statements:
            with pytest.raises(IntegrityError, match=name):
                async with engine.begin() as connection:
                    await connection.execute(text(statement))


async def test_enum_types_and_labels(engine: AsyncEngine) -> None:
    rows = await _rows(
        engine,
        "SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels "
        "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' GROUP BY t.typname",
    )
    assert {row["typname"]: list(row["labels"]) for row in rows} == EXPECTED_ENUMS


async def test_list_indexes_of_revision_0004(engine: AsyncEngine) -> None:
    """The partial and expression indexes, by their full definitions (predicates and expression)."""
    rows = await _rows(
        engine,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = ANY(:names)",
        names=["idx_events_unreviewed", "idx_alerts_pending", "idx_events_object_types"],
    )
    definitions = {row["indexname"]: row["indexdef"] for row in rows}
    assert definitions["idx_events_unreviewed"].endswith("btree (started_at, id) WHERE (NOT reviewed)")
    assert definitions["idx_alerts_pending"].endswith(
        "btree (created_at, id) WHERE (status = 'pending'::alert_status)"
    )
    assert definitions["idx_events_object_types"].endswith(
        "USING gin (regexp_split_to_array(lower(btrim(object_types)), '\\s*[\\[\\]\",]+\\s*'::text))"
    )


async def test_rollup_and_key_triggers(engine: AsyncEngine) -> None:
    rows = await _rows(
        engine,
        "SELECT c.relname AS table_name, t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal",
    )
    assert {(row["table_name"], row["name"]) for row in rows} == {
        *((table, f"hsi_{table}_counted_{op}") for table in ("events", "alerts") for op in ("insert", "update", "delete")),
        ("events", "hsi_events_truncated"),
        ("alerts", "hsi_alerts_truncated"),
        ("api_keys", "hsi_api_keys_changed"),
    }
