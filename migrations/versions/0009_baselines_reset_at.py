"""When a camera's baselines were last forgotten (HSI extension).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

`cameras.baselines_reset_at`: `DELETE /api/cameras/{id}/baselines` (after the camera was moved)
deleted the baseline rows, which were also where the hourly fold read how far it had come; with them
gone it started again from the camera's creation and re-learned the whole old view from the detections
still kept. The fold now starts from the latest of its rows and this time.

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("baselines_reset_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("cameras", "baselines_reset_at")
