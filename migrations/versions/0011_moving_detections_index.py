"""A camera's latest moving detection in one index probe (HSI extension).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

A camera's "latest detection" (`last_detection_id` of `GET /api/cameras` and `camera.updated`, the
picture Home Assistant shows) is its newest detection that is not stationary: a car parked in the drive,
seen again at every upload, is not what last happened there. Through the camera's time index the query
would step over every stationary row since the last moving one (a week of a parked car: tens of
thousands); `idx_detections_camera_moving (camera_id, detected_at, id) WHERE NOT stationary` holds only
the moving ones.

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "idx_detections_camera_moving",
        "detections",
        ["camera_id", "detected_at", "id"],
        postgresql_where=sa.text("NOT stationary"),
    )


def downgrade() -> None:
    op.drop_index("idx_detections_camera_moving", table_name="detections")
