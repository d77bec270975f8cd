"""Signals a user can trust from the first minute: default alert rules, learned connectivity, severity
from risk, the latest upload per camera (HSI extensions).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Schema:

- `alert_rules.severity` becomes nullable, without a default: NULL means "the alert takes the event's
  risk level" (a rule that names a severity keeps it). Existing rules keep the severity they have.
- `cameras.last_upload_path`: the newest file the camera uploaded (with or without detections), which
  the camera's snapshot shows.
- `cameras.upload_gap_seconds`: the camera's learned longest recent silence between two uploads
  (`server.pipeline.upload_pattern`); `cameras.offline_after_seconds`: the user's own setting of how
  long a silence means "disconnected" (NULL: learned, else the server's default).

Data: the default alert rules (`DEFAULT_RULES`) are inserted here, because a migration runs exactly
once per database: a fresh server alerts from its first upload, and a default rule the user deleted
is never created again. A database that already has rules (an installation upgraded from before) keeps
exactly its own. The downgrade removes them by their fixed ids (edited or not).

This file is a frozen snapshot: it does not import the models or the rule spec.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALERT_SEVERITY = postgresql.ENUM(
    "low", "medium", "high", "critical", name="alert_severity", create_type=False
)
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

#: The rules a fresh server starts with (ids fixed so the downgrade finds them). Severity NULL: the
#: alert takes the event's risk level. Schedule timezone NULL: the home's zone (`HSI_TIMEZONE`).
DEFAULT_RULES = (
    {
        "id": "5e1f0001-0000-4000-8000-000000000001",
        "name": "Person at night",
        "description": (
            "Default rule: a person on any camera between 22:00 and 06:00 in the home's time zone. "
            "Created on first start; edit, disable or delete it like any rule (it does not come back)."
        ),
        "object_types": ["person"],
        "risk_threshold": None,
        "schedule": {"days": EVERY_DAY, "start_time": "22:00", "end_time": "06:00", "timezone": None},
    },
    {
        "id": "5e1f0001-0000-4000-8000-000000000002",
        "name": "High risk",
        "description": (
            "Default rule: any event the analysis scores high (60) or above, on any camera, at any time. "
            "Created on first start; edit, disable or delete it like any rule (it does not come back)."
        ),
        "object_types": None,
        "risk_threshold": 60,
        "schedule": None,
    },
)


def upgrade() -> None:
    op.alter_column(
        "alert_rules",
        "severity",
        existing_type=ALERT_SEVERITY,
        nullable=True,
        server_default=None,
        existing_server_default=sa.text("'medium'::alert_severity"),
    )
    op.add_column("cameras", sa.Column("last_upload_path", sa.String(), nullable=True))
    op.add_column("cameras", sa.Column("upload_gap_seconds", sa.Float(), nullable=True))
    op.add_column("cameras", sa.Column("offline_after_seconds", sa.Integer(), nullable=True))

    if op.get_bind().execute(sa.text("SELECT EXISTS (SELECT 1 FROM alert_rules)")).scalar():
        return  # rules written by the user: theirs alone
    rules = sa.table(
        "alert_rules",
        sa.column("id", sa.UUID()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("enabled", sa.Boolean()),
        sa.column("severity", ALERT_SEVERITY),
        sa.column("risk_threshold", sa.Integer()),
        sa.column("object_types", sa.JSON()),
        sa.column("schedule", sa.JSON()),
        sa.column("cooldown_seconds", sa.Integer()),
        sa.column("channels", sa.JSON()),
    )
    op.bulk_insert(
        rules,
        [
            {**rule, "enabled": True, "severity": None, "cooldown_seconds": 300, "channels": ["ha"]}
            for rule in DEFAULT_RULES
        ],
    )


def downgrade() -> None:
    ids = ", ".join(f"'{rule['id']}'::uuid" for rule in DEFAULT_RULES)  # constants of this file
    op.execute(f"DELETE FROM alert_rules WHERE id IN ({ids})")
    op.drop_column("cameras", "offline_after_seconds")
    op.drop_column("cameras", "upload_gap_seconds")
    op.drop_column("cameras", "last_upload_path")
    op.execute("UPDATE alert_rules SET severity = 'medium' WHERE severity IS NULL")
    op.alter_column(
        "alert_rules",
        "severity",
        existing_type=ALERT_SEVERITY,
        nullable=False,
        server_default=sa.text("'medium'::alert_severity"),
    )
