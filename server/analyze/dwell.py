"""Dwell time: how long each object of a batch had been in each of its zones, from its track's history.

A batch is at most a window long (90 s) and the fast path closes one at the first confident person, so
"a person at the door for two minutes" is never visible inside one batch. Every detection carries its
track (`server.pipeline.stationary`), so the worker reads the batch's tracks' earlier detections on the
camera (one indexed query, `idx_detections_camera_track`) and, for each detection and zone it is in,
walks the track back while it stayed in that zone and was seen: the dwell is the time from the earliest
detection of that unbroken run to this one. A gap between two sightings longer than `max_gap` breaks
the run: a track matches by class and place for an hour, so the courier at 22:00 and a neighbour at
22:08 on the same spot of the doorstep share one, and are two visits, not eight minutes of loitering.
Zones' loitering times (`zones.loitering_seconds`) are judged on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Detection, Zone

#: How far back a track's history is read: at least this, and at least the longest loitering time.
MIN_LOOKBACK = timedelta(minutes=10)
MAX_LOOKBACK = timedelta(hours=6)
#: Most history rows read per batch (a bound on the work, whatever the camera's upload rate).
MAX_HISTORY_ROWS = 5000
#: The default loitering classes when a zone names none.
DEFAULT_LOITERING_CLASSES = ("person",)

ZonesOf = Callable[[Detection], list[str]]


def lookback(zones: Sequence[Zone]) -> timedelta:
    longest = max((zone.loitering_seconds or 0 for zone in zones), default=0)
    return min(MAX_LOOKBACK, max(MIN_LOOKBACK, timedelta(seconds=2 * longest)))


def loitering_limit(zone: Zone, object_type: str | None) -> int | None:
    """The zone's loitering time if it judges this class, else None."""
    if zone.loitering_seconds is None or object_type is None:
        return None
    classes = zone.loitering_classes or DEFAULT_LOITERING_CLASSES
    return zone.loitering_seconds if object_type.lower() in classes else None


async def history(
    session: AsyncSession, camera_id: str, rows: Sequence[Detection], zones: Sequence[Zone]
) -> list[Detection]:
    """The batch's tracks' detections on the camera from `lookback` before the batch to its end."""
    tracks = {row.track_id for row in rows if row.track_id is not None}
    if not tracks or not zones:
        return []
    start = min(row.detected_at for row in rows) - lookback(zones)
    end = max(row.detected_at for row in rows)
    return list(
        await session.scalars(
            select(Detection)
            .where(
                Detection.camera_id == camera_id,
                Detection.track_id.in_(sorted(tracks)),
                Detection.detected_at >= start,
                Detection.detected_at <= end,
            )
            .order_by(Detection.detected_at.desc(), Detection.id.desc())
            .limit(MAX_HISTORY_ROWS)
        )
    )


def max_gap(idle_timeout_seconds: float) -> timedelta:
    """The longest time between two sightings of one stay: twice the silence that ends a batch (a minute
    at least), so a camera that uploads only on motion, with someone standing still, keeps the stay."""
    return max(timedelta(minutes=1), timedelta(seconds=2 * idle_timeout_seconds))


def dwell_per_zone(
    rows: Sequence[Detection],
    zone_ids: Sequence[Sequence[str]],
    earlier: Sequence[Detection],
    zones_of: ZonesOf,
    gap: timedelta,
) -> list[dict[str, float]]:
    """For each row, zone id → seconds its track had been in that zone without leaving it, nor going
    unseen for longer than `gap` (`max_gap`).

    `earlier` is `history(...)` (newest first); `zones_of` gives a history row's zones (computed once per
    row). A row without a track has been in its zones for 0 s.
    """
    by_track: dict[int, list[Detection]] = defaultdict(list)
    for row in earlier:
        if row.track_id is not None:
            by_track[row.track_id].append(row)
    memo: dict[int, frozenset[str]] = {}

    def in_zones(row: Detection) -> frozenset[str]:
        if row.id not in memo:
            memo[row.id] = frozenset(zones_of(row))
        return memo[row.id]

    result: list[dict[str, float]] = []
    for row, ids in zip(rows, zone_ids, strict=True):
        dwell: dict[str, float] = {}
        past = by_track.get(row.track_id, []) if row.track_id is not None else []
        for zone_id in ids:
            entered: datetime = row.detected_at
            for before in past:  # newest first
                if before.detected_at > row.detected_at:
                    continue
                if zone_id not in in_zones(before) or entered - before.detected_at > gap:
                    break
                entered = before.detected_at
            dwell[zone_id] = (row.detected_at - entered).total_seconds()
        result.append(dwell)
    return result
