"""Event counts by risk level, camera and day, from the hourly rollup wherever it can answer.

`event_counts_hourly` (server/models/rollups.py) holds the counts per UTC hour, camera and risk band,
all and unreviewed. A query is answered from it for every whole hour of its range; the events table
is read only for what the rollup cannot split:

- the partial hours at the ends of `[since, until)` (at most two hours of events);
- for `by_day`, the hours in which a local day starts in the requested time zone when that is not on
  the hour (UTC+05:30, UTC+09:30, UTC+05:45…): one hour per day, counted from events by their own time.

Filters the rollup has no column for — `object_type`, a `min_risk`/`max_risk` that does not fall on a
band boundary — are answered from events alone (one pass, grouped once). Either way the answer is the
same; only its cost differs.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    DateTime,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from server.analyze.risk import RiskLevel, band_bounds
from server.api.rows import fetch_all
from server.models import Event, EventHourlyCounts
from server.models.rollups import LEVEL_COLUMNS

HOUR = timedelta(hours=1)
UNSCORED = "unscored"


class CountFilters(Protocol):
    """The stats query's filters (events.EventFilters plus a time zone)."""

    since: datetime | None
    until: datetime | None
    camera_id: str | None
    risk_level: RiskLevel | None
    min_risk: int | None
    max_risk: int | None
    reviewed: bool | None
    object_type: str | None
    timezone: str


@dataclass
class Counts:
    by_level: Counter[str] = field(default_factory=Counter)
    by_camera: Counter[str] = field(default_factory=Counter)
    by_day: Counter[str] = field(default_factory=Counter)


def rollup_levels(q: CountFilters) -> tuple[str, ...] | None:
    """The risk levels the filters select, or None when the rollup cannot answer the filters."""
    if q.object_type is not None:
        return None
    bands = {level.value: band_bounds(level) for level in RiskLevel}
    if q.min_risk is not None and q.min_risk not in {low for low, _ in bands.values()}:
        return None
    if q.max_risk is not None and q.max_risk not in {high for _, high in bands.values()}:
        return None
    if q.risk_level is None and q.min_risk is None and q.max_risk is None:
        return LEVEL_COLUMNS
    return tuple(
        name
        for name, (low, high) in bands.items()
        if (q.risk_level is None or q.risk_level.value == name)
        and (q.min_risk is None or low >= q.min_risk)
        and (q.max_risk is None or high <= q.max_risk)
    )


def _level_sums(levels: tuple[str, ...], reviewed: bool | None) -> list[Any]:
    """`sum(<count>)` per level, of all, the unreviewed, or the reviewed (all minus unreviewed) events."""
    table = EventHourlyCounts.__table__.c
    sums = []
    for level in levels:
        everything, unreviewed = table[level], table[f"unreviewed_{level}"]
        counted = everything if reviewed is None else unreviewed if reviewed is False else everything - unreviewed
        sums.append(func.coalesce(func.sum(counted), 0).label(level))
    return sums


def _local_day(moment: Any, zone: Any) -> Any:
    return func.to_char(func.timezone(zone, moment), "YYYY-MM-DD", type_=String)


@functools.lru_cache(maxsize=128)
def _rollup_statement(levels: tuple[str, ...], reviewed: bool | None, camera: bool, low: bool, high: bool) -> Any:
    """One pass over the rollup's rows: per camera, per local day (hours inside one day), and the hours
    a local midnight falls into (returned as such, for the events table to split).

    Built once per shape (which levels, reviewed or not, which bounds) with the values as parameters
    (`low`, `high`, `camera_id`, `zone`): building and keying a statement this size costs more than
    running it."""
    table = EventHourlyCounts.__table__.c
    where = []
    if low:
        where.append(table.hour >= bindparam("low", type_=DateTime(timezone=True)))
    if high:
        where.append(table.hour < bindparam("high", type_=DateTime(timezone=True)))
    if camera:
        where.append(table.camera_id == bindparam("camera_id", type_=String))
    grouped = (
        select(table.camera_id, table.hour, *_level_sums(levels, reviewed))
        .where(*where)
        .group_by(func.grouping_sets(tuple_(table.camera_id), tuple_(table.hour)))
        .cte("grouped")
    )
    zone = bindparam("zone", type_=String)
    hours = grouped.c.hour
    counts = [grouped.c[level] for level in levels]
    local_start = func.timezone(zone, hours)
    local_end = func.timezone(zone, hours + literal_column("interval '59:59.999999'"))
    straddles = func.date(local_start) != func.date(local_end)
    day = _local_day(hours, zone)  # one expression object: one bind, so GROUP BY matches
    no_hour = literal_column("NULL::timestamptz", DateTime(timezone=True)).label("hour")
    return union_all(
        select(_text("'camera'").label("kind"), grouped.c.camera_id.label("key"), no_hour, *counts).where(
            hours.is_(None)
        ),
        select(
            _text("'day'"), day, no_hour, *(func.sum(count).label(level) for count, level in zip(counts, levels))
        )
        .where(hours.is_not(None), ~straddles)
        .group_by(day),
        select(_text("'midnight'"), _text("NULL::text"), hours, *counts).where(hours.is_not(None), straddles),
    )


def _text(sql: str) -> Any:
    return literal_column(sql, String)


def _level_of_score() -> Any:
    """The risk band of `events.risk_score`, as the rollup counts it."""
    whens = [(Event.risk_score.between(*band_bounds(level)), level.value) for level in RiskLevel]
    return case(*whens, else_=UNSCORED)


def _events_statement(filtered: Select[Any], q: CountFilters, ranges: list[tuple[datetime | None, datetime | None]]) -> Any:
    """Counts from events, per camera, local day and level, within `ranges` (all of them: none given)."""
    level = _level_of_score()
    day = _local_day(Event.started_at, q.timezone)
    statement = filtered.with_only_columns(Event.camera_id, day, level, func.count())
    if ranges:
        statement = statement.where(
            or_(
                *(
                    and_(*([Event.started_at >= start] if start else []), *([Event.started_at < end] if end else []))
                    for start, end in ranges
                )
            )
        )
    return statement.group_by(Event.camera_id, day, level)


def _add_events(counts: Counts, rows: Any, *, days_only: bool = False) -> None:
    for camera_id, day, level, count in rows:
        counts.by_day[day] += count
        if not days_only:
            counts.by_camera[camera_id] += count
            counts.by_level[level] += count


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def count_events(connection: AsyncConnection, filtered: Select[Any], q: CountFilters) -> Counts:
    """The counts of the events `filtered` selects (which applies every filter of `q`)."""
    counts = Counts()
    levels = rollup_levels(q)
    if levels is None:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, [])))
        return counts
    low = _ceil_hour(q.since) if q.since is not None else None
    high = _floor_hour(q.until) if q.until is not None else None
    if low is not None and high is not None and low >= high:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, [(q.since, q.until)])))
        return counts
    edges = [(q.since, low)] if q.since is not None and q.since < low else []
    if q.until is not None and high < q.until:
        edges.append((high, q.until))
    midnights = []
    rollup = _rollup_statement(levels, q.reviewed, q.camera_id is not None, low is not None, high is not None)
    values_of = {"low": low, "high": high, "camera_id": q.camera_id, "zone": q.timezone}
    for row in await fetch_all(connection, rollup, values_of):
        kind, key = row["kind"], row["key"]
        if kind == "midnight":
            midnights.append((row["hour"], row["hour"] + HOUR))
            continue
        for level in levels:
            if kind == "camera":
                counts.by_camera[key] += int(row[level])
                counts.by_level[level] += int(row[level])
            else:
                counts.by_day[key] += int(row[level])
    if edges:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, edges)))
    if midnights:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, midnights)), days_only=True)
    return counts
