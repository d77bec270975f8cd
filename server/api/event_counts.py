"""Event counts by risk level, camera and day, from the rollups wherever they can answer.

The rollups (server/models/rollups.py) hold the counts per risk band, all and unreviewed, per UTC day
and camera, per UTC hour, and per UTC hour and camera. A query reads, for the whole hours of its range,
the coarsest that answers each part: the cameras' (and levels') totals from the days, the hours at
either end of the whole days from the cameras' hours; the local days from the hours (a camera's hours
when it asks for one camera). A 30-day range reads about 1 500 rows at 10 cameras, whatever the
number of events. The events table is read only for what the rollups cannot split:

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
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from server.analyze.risk import RiskLevel, band_bounds
from server.api.rows import fetch_all
from server.models import Event, EventDailyCounts, EventHourlyCounts, EventHourlyTotals
from server.models.rollups import LEVEL_COLUMNS

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_TIME = DateTime(timezone=True)
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


def _level_sums(table: Any, levels: tuple[str, ...], reviewed: bool | None) -> list[Any]:
    """`sum(<count>)` per level, of all, the unreviewed, or the reviewed (all minus unreviewed) events."""
    sums = []
    for level in levels:
        everything, unreviewed = table[level], table[f"unreviewed_{level}"]
        counted = everything if reviewed is None else unreviewed if reviewed is False else everything - unreviewed
        sums.append(func.coalesce(func.sum(counted), 0).label(level))
    return sums


#: IANA zones whose names PostgreSQL's timezone() reads as abbreviations first: fixed offsets there,
#: zones with summer time in IANA (and so in alert schedules, which Python resolves). Each is counted
#: in the region zone tzdata 2024b links it to, which keeps its rules.
_ABBREVIATION_NAMED_ZONES = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}


def postgres_zone(name: str) -> str:
    """The name PostgreSQL reads as the IANA zone `name` (a name it could take for an abbreviation
    would count a European summer's nights on the day before)."""
    return _ABBREVIATION_NAMED_ZONES.get(name, name)


def _local_day(moment: Any, zone: Any) -> Any:
    return func.to_char(func.timezone(zone, moment), "YYYY-MM-DD", type_=String)


@dataclass(frozen=True)
class Shape:
    """What a rollup statement reads: the levels, the review filter, one camera or all, and which
    bounds each of its parts has (`days` is None when the range holds no whole UTC day)."""

    levels: tuple[str, ...]
    reviewed: bool | None
    camera: bool
    low: bool
    high: bool
    days: tuple[bool, bool] | None
    pieces: tuple[tuple[bool, bool], ...]


def _between(column: Any, start: str | None, end: str | None) -> list[Any]:
    """`start <= column < end` for the bounds named (bind parameters of that name)."""
    return [
        *([column >= bindparam(start, type_=_TIME)] if start else []),
        *([column < bindparam(end, type_=_TIME)] if end else []),
    ]


@functools.lru_cache(maxsize=256)
def _rollup_statement(shape: Shape) -> Any:
    """Per camera (whole days from the daily rollup, the hours at either end from the cameras' hours),
    per local day (the hours inside one day) and the hours a local midnight falls into (returned as
    such, for the events table to split).

    Built once per shape with the values as parameters (`low`, `high`, `days_start`, `days_end`,
    `piece<n>_start`/`_end`, `camera_id`, `zone`): building and keying a statement this size costs
    more than running it."""
    camera = [bindparam("camera_id", type_=String)] if shape.camera else []
    daily, hourly, totals = (model.__table__.c for model in (EventDailyCounts, EventHourlyCounts, EventHourlyTotals))
    per_camera = []
    if shape.days is not None:
        bounds = ("days_start" if shape.days[0] else None, "days_end" if shape.days[1] else None)
        per_camera.append(
            select(daily.camera_id, *_level_sums(daily, shape.levels, shape.reviewed))
            .where(*_between(daily.day, *bounds), *(daily.camera_id == value for value in camera))
            .group_by(daily.camera_id)
        )
    for index, (start, end) in enumerate(shape.pieces):
        bounds = (f"piece{index}_start" if start else None, f"piece{index}_end" if end else None)
        per_camera.append(
            select(hourly.camera_id, *_level_sums(hourly, shape.levels, shape.reviewed))
            .where(*_between(hourly.hour, *bounds), *(hourly.camera_id == value for value in camera))
            .group_by(hourly.camera_id)
        )
    source = hourly if shape.camera else totals  # one camera's hours, or everyone's
    hours = (
        select(source.hour, *_level_sums(source, shape.levels, shape.reviewed))
        .where(
            *_between(source.hour, "low" if shape.low else None, "high" if shape.high else None),
            *(source.camera_id == value for value in camera),
        )
        .group_by(source.hour)
        .cte("hours")
    )
    zone = bindparam("zone", type_=String)
    counts = [hours.c[level] for level in shape.levels]
    local_start = func.timezone(zone, hours.c.hour)
    local_end = func.timezone(zone, hours.c.hour + literal_column("interval '59:59.999999'"))
    straddles = func.date(local_start) != func.date(local_end)
    day = _local_day(hours.c.hour, zone)  # one expression object: one bind, so GROUP BY matches
    no_hour = literal_column("NULL::timestamptz", _TIME).label("hour")
    cameras = union_all(*per_camera).subquery("cameras") if len(per_camera) > 1 else per_camera[0].subquery("cameras")
    return union_all(
        select(
            _text("'camera'").label("kind"),
            cameras.c.camera_id.label("key"),
            no_hour,
            *(func.sum(cameras.c[level]).label(level) for level in shape.levels),
        ).group_by(cameras.c.camera_id),
        select(_text("'day'"), day, no_hour, *(func.sum(count) for count in counts))
        .where(~straddles)
        .group_by(day),
        select(_text("'midnight'"), _text("NULL::text"), hours.c.hour, *counts).where(straddles),
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
    day = _local_day(Event.started_at, postgres_zone(q.timezone))
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


def _floor(moment: datetime, unit: timedelta) -> datetime:
    """`moment` rounded down to the UTC hour or day."""
    utc = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0) if unit == DAY else utc


def _ceil(moment: datetime, unit: timedelta) -> datetime:
    floor = _floor(moment, unit)
    return floor if floor == moment else floor + unit


def _plan(levels: tuple[str, ...], q: CountFilters, low: datetime | None, high: datetime | None) -> tuple[Shape, dict[str, Any]]:
    """The rollup statement's shape for whole hours `[low, high)` and the values of its parameters."""
    values: dict[str, Any] = {"low": low, "high": high, "camera_id": q.camera_id, "zone": postgres_zone(q.timezone)}
    days_start = _ceil(low, DAY) if low is not None else None
    days_end = _floor(high, DAY) if high is not None else None
    pieces: list[tuple[datetime | None, datetime | None]] = []
    days: tuple[bool, bool] | None = None
    if days_start is not None and days_end is not None and days_start >= days_end:
        pieces.append((low, high))  # no whole day: the cameras' hours only
    else:
        days = (days_start is not None, days_end is not None)
        values.update(days_start=days_start, days_end=days_end)
        if low is not None and days_start is not None and low < days_start:
            pieces.append((low, days_start))
        if high is not None and days_end is not None and days_end < high:
            pieces.append((days_end, high))
    for index, (start, end) in enumerate(pieces):
        values.update({f"piece{index}_start": start, f"piece{index}_end": end})
    shape = Shape(
        levels,
        q.reviewed,
        q.camera_id is not None,
        low is not None,
        high is not None,
        days,
        tuple((start is not None, end is not None) for start, end in pieces),
    )
    return shape, values


async def count_events(connection: AsyncConnection, filtered: Select[Any], q: CountFilters) -> Counts:
    """The counts of the events `filtered` selects (which applies every filter of `q`)."""
    counts = Counts()
    levels = rollup_levels(q)
    if levels is None:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, [])))
        return counts
    low = _ceil(q.since, HOUR) if q.since is not None else None
    high = _floor(q.until, HOUR) if q.until is not None else None
    if low is not None and high is not None and low >= high:
        _add_events(counts, await connection.execute(_events_statement(filtered, q, [(q.since, q.until)])))
        return counts
    edges = [(q.since, low)] if q.since is not None and q.since < low else []
    if q.until is not None and high < q.until:
        edges.append((high, q.until))
    midnights = []
    shape, values = _plan(levels, q, low, high)
    for row in await fetch_all(connection, _rollup_statement(shape), values):
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
