"""Two lists that walked a time index and dropped rows read one index range (HSI extensions).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Schema:

- `idx_events_camera_id_started_at_risk (camera_id, started_at, id, risk_score)` replaces 0004's
  `idx_events_camera_id_started_at_id (camera_id, started_at, id)`: the same leading columns (every
  query that read the old one reads this one the same way), and a risk range (`risk_level=high`,
  `min_risk`) is then checked on index entries, so only the rows that match are fetched from the table.
  Measured at 1 M events (`camera_id` + `risk_level=high` + 7 days, 50 rows): 0.75 ms through
  `idx_events_started_at` with 2 026 rows read and dropped, 0.16 ms through this index.
- `idx_audit_logs_resource_timestamp_id (resource_type, resource_id, timestamp, id)`: a resource's
  audit entries in list order (`GET /api/audit?resource_type=…&resource_id=…`). Through
  `idx_audit_logs_timestamp` the page cost grew with the trail (973 rows dropped for 51 at 50 000
  entries); the base schema's `idx_audit_logs_resource` stays.

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "idx_events_camera_id_started_at_risk", "events", ["camera_id", "started_at", "id", "risk_score"]
    )
    op.drop_index("idx_events_camera_id_started_at_id", table_name="events")
    op.create_index(
        "idx_audit_logs_resource_timestamp_id", "audit_logs", ["resource_type", "resource_id", "timestamp", "id"]
    )


def downgrade() -> None:
    op.drop_index("idx_audit_logs_resource_timestamp_id", table_name="audit_logs")
    op.create_index("idx_events_camera_id_started_at_id", "events", ["camera_id", "started_at", "id"])
    op.drop_index("idx_events_camera_id_started_at_risk", table_name="events")
