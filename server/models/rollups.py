"""Rollups and counters (HSI extension, migration 0004): what stats read instead of scanning events.

The database keeps them, not the code: statement-level triggers on `events` and `alerts` (migration
0004) add rows of deltas per changed hour and camera (and per hour, and per day and camera: each read
of the stats takes the coarsest that answers it), inside the very transaction that inserts,
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


class _Counts:
    """The counts every rollup row holds: events per risk band, all of them and the unreviewed ones."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
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


def _covering(name: str, *keys: str) -> Index:
    """An index on the keys that carries the counts: a range is read from the index alone."""
    return Index(name, *keys, postgresql_include=[*LEVEL_COLUMNS, *UNREVIEWED_COLUMNS])


class EventHourlyCounts(_Counts, Base):
    """Deltas of the number of events per UTC hour (of `started_at`) and camera: one camera's days in
    any time zone, and the partial days at the ends of a range."""

    __tablename__ = "event_counts_hourly"
    __table_args__ = (_covering("idx_event_counts_hourly_hour_camera", "hour", "camera_id"),)
    KEYS = ("hour", "camera_id")

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    camera_id: Mapped[str] = mapped_column(String, nullable=False)


class EventHourlyTotals(_Counts, Base):
    """Deltas of the number of events per UTC hour, all cameras: the days of a range in any time zone
    from 24 rows a day instead of 24 per camera."""

    __tablename__ = "event_counts_hourly_total"
    __table_args__ = (_covering("idx_event_counts_hourly_total_hour", "hour"),)
    KEYS = ("hour",)

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class EventDailyCounts(_Counts, Base):
    """Deltas of the number of events per UTC day and camera: the cameras' totals over whole days."""

    __tablename__ = "event_counts_daily"
    __table_args__ = (_covering("idx_event_counts_daily_day_camera", "day", "camera_id"),)
    KEYS = ("day", "camera_id")

    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    camera_id: Mapped[str] = mapped_column(String, nullable=False)


#: The event rollups, finest first; each row's key is its class's `KEYS`.
EVENT_ROLLUPS: tuple[type[EventHourlyCounts] | type[EventHourlyTotals] | type[EventDailyCounts], ...] = (
    EventHourlyCounts,
    EventHourlyTotals,
    EventDailyCounts,
)


class StoreCounter(Base):
    """Deltas of a store-wide counter (`EVENTS_UNREVIEWED`, `ALERTS_OPEN`); its value is their sum."""

    __tablename__ = "store_counters"
    __table_args__ = (Index("idx_store_counters_name", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
