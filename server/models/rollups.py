"""Rollups and counters (HSI extension, migration 0004): what stats read instead of scanning events.

The database keeps them, not the code: statement-level triggers on `events` and `alerts` (migration
0004) add one row of deltas per changed hour and camera, inside the very transaction that inserts,
re-scores, reviews or deletes events and alerts — the pipeline, the API, the retention cleanup and raw
SQL alike. So `/api/events/stats` and `/api/system/stats` cost the same at 10 000 and 10 000 000 events.

Deltas are appended, never updated in place: two transactions counting the same hour (or the one
system-wide counter) never wait for each other's row lock, and no lock order between the events and
alerts triggers can deadlock. Readers sum the rows of a key; `server.retention` folds each key's rows
back into one now and then (`fold_counts`), so a key has a handful of rows at most.

Risk levels are counted by `risk_score` band (server.analyze.risk: low 0-29, medium 30-59, high 60-84,
critical 85-100; `unscored` for NULL), the one source of truth that `risk_level` is derived from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base

#: The count columns of `event_counts_hourly`, per risk level: all events, and the unreviewed ones.
LEVEL_COLUMNS = ("low", "medium", "high", "critical", "unscored")
UNREVIEWED_COLUMNS = tuple(f"unreviewed_{level}" for level in LEVEL_COLUMNS)

#: `store_counters.name` of the counters `/api/system/stats` reports.
EVENTS_UNREVIEWED = "events.unreviewed"
ALERTS_OPEN = "alerts.open"  # pending or delivered: neither acknowledged nor dismissed


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, server_default="0")


class EventHourlyCounts(Base):
    """Deltas of the number of events per UTC hour (of `started_at`), camera and risk level."""

    __tablename__ = "event_counts_hourly"
    #: Covering: a range of hours is read from the index alone (no heap visits for vacuumed pages).
    __table_args__ = (
        Index(
            "idx_event_counts_hourly_hour_camera",
            "hour",
            "camera_id",
            postgresql_include=[*LEVEL_COLUMNS, *UNREVIEWED_COLUMNS],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    camera_id: Mapped[str] = mapped_column(String, nullable=False)
    low: Mapped[int] = _count()
    medium: Mapped[int] = _count()
    high: Mapped[int] = _count()
    critical: Mapped[int] = _count()
    unscored: Mapped[int] = _count()
    unreviewed_low: Mapped[int] = _count()
    unreviewed_medium: Mapped[int] = _count()
    unreviewed_high: Mapped[int] = _count()
    unreviewed_critical: Mapped[int] = _count()
    unreviewed_unscored: Mapped[int] = _count()


class StoreCounter(Base):
    """Deltas of a store-wide counter (`EVENTS_UNREVIEWED`, `ALERTS_OPEN`); its value is their sum."""

    __tablename__ = "store_counters"
    __table_args__ = (Index("idx_store_counters_name", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
