"""Events that mean something: stationary objects, loitering zones, object filters and masks (HSI
extensions).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Schema:

- `detections.track_id`: the object across a camera's uploads (`server.pipeline.stationary` matches
  each detection to the camera's recent ones); NULL on rows from before 0006 and when tracking is off.
- `detections.stationary`: the object had stayed put longer than `HSI_STATIONARY_SECONDS` when this
  upload was taken; the row is kept (nothing is lost) but joins no event and raises no alert.
- `zones.loitering_seconds` / `zones.loitering_classes`: presence in the zone beyond that time is
  loitering (a risk factor, and a condition rules can ask for); classes default to `["person"]`.
- `zones.object_filters`, `cameras.object_filters`: minimum area and score per class, ratio bounds and
  (cameras only) mask polygons (`server.alerts.object_filters`). A camera's filters drop detections
  before they are stored; a zone's decide which detections count as being in the zone.
- Index `idx_detections_camera_track`: the analyzer's look-up of a track's earlier detections (dwell).

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("detections", sa.Column("track_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "detections", sa.Column("stationary", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.create_index(
        "idx_detections_camera_track",
        "detections",
        ["camera_id", "track_id", "detected_at"],
        postgresql_where=sa.text("track_id IS NOT NULL"),
    )
    op.add_column("zones", sa.Column("loitering_seconds", sa.Integer(), nullable=True))
    op.add_column("zones", sa.Column("loitering_classes", postgresql.JSONB(), nullable=True))
    op.add_column("zones", sa.Column("object_filters", postgresql.JSONB(), nullable=True))
    op.add_column("cameras", sa.Column("object_filters", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("cameras", "object_filters")
    op.drop_column("zones", "object_filters")
    op.drop_column("zones", "loitering_classes")
    op.drop_column("zones", "loitering_seconds")
    op.drop_index("idx_detections_camera_track", table_name="detections")
    op.drop_column("detections", "stationary")
    op.drop_column("detections", "track_id")
