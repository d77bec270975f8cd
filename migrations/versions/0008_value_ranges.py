"""The base schema's value ranges, held by the database (HSI extension).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

The base schema gives `events.risk_score` as 0-100, `detections.confidence` as 0.0-1.0, and the
baselines' `hour` as 0-23 and `day_of_week` as 0-6. HSI's writers keep to them, but nothing else did: a
score of 150 written by hand, by a restore or by a future path would be counted `critical` by the
rollups, and a baseline hour of 24 never found. Each range is now a CHECK constraint named as the models'
naming convention names it (`ck_<table>_<column>`; NULL passes, as the columns allow it).

`NOT VALID`: rows already there are not checked, so an upgrade never fails on a database holding a value
out of range (it could only stop the server); every row written from now on is.

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, constraint name, condition)
CHECKS = (
    ("events", "ck_events_risk_score", "risk_score BETWEEN 0 AND 100"),
    ("detections", "ck_detections_confidence", "confidence BETWEEN 0 AND 1"),
    ("activity_baselines", "ck_activity_baselines_hour", "hour BETWEEN 0 AND 23"),
    ("activity_baselines", "ck_activity_baselines_day_of_week", "day_of_week BETWEEN 0 AND 6"),
    ("class_baselines", "ck_class_baselines_hour", "hour BETWEEN 0 AND 23"),
)


def upgrade() -> None:
    for table, name, condition in CHECKS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")


def downgrade() -> None:
    for table, name, _condition in reversed(CHECKS):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
