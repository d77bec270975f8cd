"""The value ranges of 0008 hold for every row: old rows out of range are brought into it (HSI extension).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

0008 added its CHECK constraints `NOT VALID`, so that a row already out of range could not stop an
upgrade. But PostgreSQL checks such a constraint again whenever the row is written: an event scored 150
(written by hand, a restore) could no longer be marked reviewed (409 on every PATCH), a detection with
the NaN confidence the detector stored before it was fixed could not be updated. Those rows are brought
into range, then the constraints are validated (a SHARE UPDATE EXCLUSIVE lock: writes go on meanwhile):

- `events.risk_score` out of 0-100: clamped (a score above 100 counted `critical` already);
- `detections.confidence` NaN or out of 0.0-1.0: NULL (unknown, which the column allows);
- baseline rows with an hour out of 0-23 or a day out of 0-6: deleted (no slot ever reads them).

This file is a frozen snapshot: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Statements that bring the rows into range.
REPAIRS = (
    "UPDATE events SET risk_score = LEAST(GREATEST(risk_score, 0), 100) WHERE risk_score NOT BETWEEN 0 AND 100",
    "UPDATE detections SET confidence = NULL WHERE confidence NOT BETWEEN 0 AND 1",  # NaN sorts above 1
    "DELETE FROM activity_baselines WHERE hour NOT BETWEEN 0 AND 23 OR day_of_week NOT BETWEEN 0 AND 6",
    "DELETE FROM class_baselines WHERE hour NOT BETWEEN 0 AND 23",
)
#: 0008's constraints: (table, name).
CONSTRAINTS = (
    ("events", "ck_events_risk_score"),
    ("detections", "ck_detections_confidence"),
    ("activity_baselines", "ck_activity_baselines_hour"),
    ("activity_baselines", "ck_activity_baselines_day_of_week"),
    ("class_baselines", "ck_class_baselines_hour"),
)


def upgrade() -> None:
    for statement in REPAIRS:
        op.execute(statement)
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    """Nothing to undo: the rows stay in range, and a validated constraint is the one 0008 added."""
