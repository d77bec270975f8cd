"""Initial schema: the 12 tables of the base schema (README, "Data model"), plus the HSI extensions.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Generated with autogenerate against the models, then reviewed and reorganised by hand:

- the four PostgreSQL enum types are created explicitly, once, before any table (`alert_severity` is
  shared by `alerts` and `alert_rules`), and dropped explicitly after the last table;
- `events.search_vector` is a generated (STORED) column with a GIN index;
- HSI extensions: `events.analysis_backend`, and `idx_events_batch_id` is UNIQUE (idempotent events).

This file is a frozen snapshot: it does not import the models, so later model changes cannot
silently change what revision 0001 creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_SEVERITY = postgresql.ENUM(
    "low", "medium", "high", "critical", name="alert_severity", create_type=False
)
ALERT_STATUS = postgresql.ENUM(
    "pending", "delivered", "acknowledged", "dismissed", name="alert_status", create_type=False
)
ZONE_TYPE = postgresql.ENUM(
    "entry_point", "driveway", "sidewalk", "yard", "other", name="zone_type", create_type=False
)
ZONE_SHAPE = postgresql.ENUM("rectangle", "polygon", name="zone_shape", create_type=False)
ENUMS = (ALERT_SEVERITY, ALERT_STATUS, ZONE_TYPE, ZONE_SHAPE)

SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(object_types, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(reasoning, '')), 'C') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(notes, '')), 'D')"
)

TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _camera_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["camera_id"], ["cameras.id"], name=f"fk_{table}_camera_id_cameras", ondelete="CASCADE"
    )


def upgrade() -> None:
    bind = op.get_bind()
    for enum in ENUMS:
        enum.create(bind, checkfirst=False)

    op.create_table(
        "cameras",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("folder_path", sa.String(), nullable=False),
        sa.Column("status", sa.String(), server_default="online", nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
    )

    op.create_table(
        "detections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("file_path", sa.String(), nullable=False),
        sa.Column("file_type", sa.String(), nullable=True),
        sa.Column("detected_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("object_type", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("bbox_x", sa.Integer(), nullable=True),
        sa.Column("bbox_y", sa.Integer(), nullable=True),
        sa.Column("bbox_width", sa.Integer(), nullable=True),
        sa.Column("bbox_height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_path", sa.String(), nullable=True),
        sa.Column("media_type", sa.String(), server_default="image", nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("video_codec", sa.String(), nullable=True),
        sa.Column("video_width", sa.Integer(), nullable=True),
        sa.Column("video_height", sa.Integer(), nullable=True),
        _camera_fk("detections"),
        sa.PrimaryKeyConstraint("id", name="pk_detections"),
    )
    op.create_index("idx_detections_camera_id", "detections", ["camera_id"])
    op.create_index("idx_detections_detected_at", "detections", ["detected_at"])
    op.create_index("idx_detections_camera_time", "detections", ["camera_id", "detected_at"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("risk_score", sa.Integer(), nullable=True),
        sa.Column("risk_level", sa.String(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("reasoning", sa.Text(), nullable=True),
        sa.Column("detection_ids", sa.Text(), nullable=True),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("is_fast_path", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("object_types", sa.Text(), nullable=True),
        sa.Column("clip_path", sa.String(), nullable=True),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_VECTOR_SQL, persisted=True),
            nullable=True,
        ),
        sa.Column("analysis_backend", sa.String(length=32), nullable=True),
        _camera_fk("events"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("idx_events_camera_id", "events", ["camera_id"])
    op.create_index("idx_events_started_at", "events", ["started_at"])
    op.create_index("idx_events_risk_score", "events", ["risk_score"])
    op.create_index("idx_events_reviewed", "events", ["reviewed"])
    op.create_index("idx_events_batch_id", "events", ["batch_id"], unique=True)
    op.create_index("idx_events_search_vector", "events", ["search_vector"], postgresql_using="gin")

    op.create_table(
        "alert_rules",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("severity", ALERT_SEVERITY, server_default="medium", nullable=False),
        sa.Column("risk_threshold", sa.Integer(), nullable=True),
        sa.Column("object_types", sa.JSON(), nullable=True),
        sa.Column("camera_ids", sa.JSON(), nullable=True),
        sa.Column("zone_ids", sa.JSON(), nullable=True),
        sa.Column("min_confidence", sa.Float(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column(
            "dedup_key_template",
            sa.String(length=255),
            server_default="{camera_id}:{rule_id}",
            nullable=False,
        ),
        sa.Column("cooldown_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
    )
    op.create_index("idx_alert_rules_name", "alert_rules", ["name"])
    op.create_index("idx_alert_rules_enabled", "alert_rules", ["enabled"])
    op.create_index("idx_alert_rules_severity", "alert_rules", ["severity"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.UUID(), nullable=True),
        sa.Column("severity", ALERT_SEVERITY, server_default="medium", nullable=False),
        sa.Column("status", ALERT_STATUS, server_default="pending", nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_alerts_event_id_events", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rules.id"], name="fk_alerts_rule_id_alert_rules", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("idx_alerts_event_id", "alerts", ["event_id"])
    op.create_index("idx_alerts_rule_id", "alerts", ["rule_id"])
    op.create_index("idx_alerts_severity", "alerts", ["severity"])
    op.create_index("idx_alerts_status", "alerts", ["status"])
    op.create_index("idx_alerts_created_at", "alerts", ["created_at"])
    op.create_index("idx_alerts_dedup_key", "alerts", ["dedup_key"])
    op.create_index("idx_alerts_dedup_key_created_at", "alerts", ["dedup_key", "created_at"])

    op.create_table(
        "zones",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("zone_type", ZONE_TYPE, server_default="other", nullable=False),
        sa.Column("coordinates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shape", ZONE_SHAPE, server_default="rectangle", nullable=False),
        sa.Column("color", sa.String(length=7), server_default="#3B82F6", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=NOW, nullable=False),
        _camera_fk("zones"),
        sa.PrimaryKeyConstraint("id", name="pk_zones"),
    )
    op.create_index("idx_zones_camera_id", "zones", ["camera_id"])
    op.create_index("idx_zones_enabled", "zones", ["enabled"])
    op.create_index("idx_zones_camera_enabled", "zones", ["camera_id", "enabled"])

    op.create_table(
        "activity_baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("day_of_week", sa.Integer(), nullable=False),
        sa.Column("avg_count", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("sample_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_updated", TIMESTAMP, server_default=NOW, nullable=False),
        _camera_fk("activity_baselines"),
        sa.PrimaryKeyConstraint("id", name="pk_activity_baselines"),
        sa.UniqueConstraint("camera_id", "hour", "day_of_week", name="uq_activity_baseline_slot"),
    )
    op.create_index("idx_activity_baseline_camera", "activity_baselines", ["camera_id"])
    op.create_index("idx_activity_baseline_slot", "activity_baselines", ["camera_id", "hour", "day_of_week"])

    op.create_table(
        "class_baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(), nullable=False),
        sa.Column("detection_class", sa.String(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("sample_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_updated", TIMESTAMP, server_default=NOW, nullable=False),
        _camera_fk("class_baselines"),
        sa.PrimaryKeyConstraint("id", name="pk_class_baselines"),
        sa.UniqueConstraint("camera_id", "detection_class", "hour", name="uq_class_baseline_slot"),
    )
    op.create_index("idx_class_baseline_camera", "class_baselines", ["camera_id"])
    op.create_index("idx_class_baseline_class", "class_baselines", ["camera_id", "detection_class"])
    op.create_index("idx_class_baseline_slot", "class_baselines", ["camera_id", "detection_class", "hour"])

    op.create_table(
        "gpu_stats",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("gpu_name", sa.String(length=255), nullable=True),
        sa.Column("gpu_utilization", sa.Float(), nullable=True),
        sa.Column("memory_used", sa.Integer(), nullable=True),
        sa.Column("memory_total", sa.Integer(), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("power_usage", sa.Float(), nullable=True),
        sa.Column("inference_fps", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gpu_stats"),
    )
    op.create_index("idx_gpu_stats_recorded_at", "gpu_stats", ["recorded_at"])

    op.create_table(
        "logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timestamp", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("component", sa.String(length=50), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("camera_id", sa.String(length=100), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("detection_id", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("extra", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("source", sa.String(length=10), server_default="backend", nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_logs"),
    )
    op.create_index("idx_logs_timestamp", "logs", ["timestamp"])
    op.create_index("idx_logs_level", "logs", ["level"])
    op.create_index("idx_logs_component", "logs", ["component"])
    op.create_index("idx_logs_camera_id", "logs", ["camera_id"])
    op.create_index("idx_logs_source", "logs", ["source"])

    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("timestamp", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="success", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_logs"),
    )
    op.create_index("idx_audit_logs_timestamp", "audit_logs", ["timestamp"])
    op.create_index("idx_audit_logs_action", "audit_logs", ["action"])
    op.create_index("idx_audit_logs_resource_type", "audit_logs", ["resource_type"])
    op.create_index("idx_audit_logs_actor", "audit_logs", ["actor"])
    op.create_index("idx_audit_logs_status", "audit_logs", ["status"])
    op.create_index("idx_audit_logs_resource", "audit_logs", ["resource_type", "resource_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=NOW, nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and constraints with it.
    for table in (
        "api_keys",
        "audit_logs",
        "logs",
        "gpu_stats",
        "class_baselines",
        "activity_baselines",
        "zones",
        "alerts",
        "alert_rules",
        "events",
        "detections",
        "cameras",
    ):
        op.drop_table(table)
    bind = op.get_bind()
    for enum in reversed(ENUMS):
        enum.drop(bind, checkfirst=False)
