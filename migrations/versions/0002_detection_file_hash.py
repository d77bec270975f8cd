"""Detections remember the SHA-256 of the file they came from (HSI extension: idempotent detection).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

A stream entry may be delivered twice (a worker crashed after committing but before acknowledging).
The detect worker inserts a file's rows only when no row with the same (camera_id, file_hash) exists,
under a transaction-scoped advisory lock, so a redelivery never creates a second set of detections.
The catch-up scan at start-up also uses the column to tell processed files from new ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("detections", sa.Column("file_hash", sa.String(length=64), nullable=True))
    op.create_index("idx_detections_file_hash", "detections", ["file_hash"])


def downgrade() -> None:
    op.drop_index("idx_detections_file_hash", table_name="detections")
    op.drop_column("detections", "file_hash")
