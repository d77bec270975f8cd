"""Detections remember the upright size of the image their box was measured on (HSI extension).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Zones are polygons in 0..1 of the image, so testing a box against them needs the image's size. The
detect worker knows it (it decoded the image, EXIF orientation applied) and now stores it with each row,
so neither the batcher nor the analyzer re-reads the file to learn it, and a photo a camera wrote
sideways with an EXIF rotation is measured upright, as its boxes are. Rows written before this revision
have NULL here; the analyzer then reads the size from the file as it did before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("detections", sa.Column("image_width", sa.Integer(), nullable=True))
    op.add_column("detections", sa.Column("image_height", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("detections", "image_height")
    op.drop_column("detections", "image_width")
