"""Baselines in PostgreSQL: fold completed hours into the rate rows, and compare a batch against them.

The math (what a sample is, the EWMA, the anomaly score) is `server.analyze.baselines`; this module
only decides *which* hours are folded, reads and writes the rows, and keeps that safe with several
analyze workers.

How hours are closed:

* A camera's hours are folded lazily, by whoever analyses that camera's next batch (before scoring it,
  so the comparison uses the freshest rates). Every whole UTC hour between the camera's watermark and
  `now - grace` becomes one sample, **empty hours included** — a quiet week is folded as 168 zeros
  when the next detection arrives, which is exactly the evidence "nothing happens here at 3 AM".
* `grace` (default: the batch window plus five minutes, at least ten minutes) keeps an hour open while
  its detections may still be in the detect queue, so a late-committed detection is not missed.
* The watermark is stored in the rows themselves: `last_updated` of every row written by a fold is the
  end of the latest hour folded into it, so `max(activity_baselines.last_updated)` for a camera is the
  end of the latest folded hour (a new camera starts at its `created_at`, rounded up to the hour).
  Nothing else needs a table, and a re-run with the same `now` folds nothing twice.
* Concurrency: the fold runs in one transaction under `pg_advisory_xact_lock` on the camera, and
  re-reads the watermark under the lock, so two workers never fold the same hour twice.

Caveat, documented rather than hidden: hours while the server was down are folded as zeros too,
because the server cannot tell "nothing happened" from "nothing was recorded".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.analyze.baselines import (
    HourSample,
    RateStats,
    anomaly,
    hour_samples,
    hour_slot,
    update_class_rates,
    update_rate,
)
from server.analyze.context import BaselineComparison
from server.models import ActivityBaseline, Camera, ClassBaseline, Detection

#: The trailing window a batch is compared over (the quantity a baseline averages: detections per hour).
OBSERVATION_WINDOW = timedelta(hours=1)
MIN_GRACE = timedelta(minutes=10)


def default_grace(batch_window_seconds: float) -> timedelta:
    """How long after its end an hour stays open for late detections (see module docstring)."""
    return max(MIN_GRACE, timedelta(seconds=batch_window_seconds) + timedelta(minutes=5))


@dataclass(frozen=True)
class FoldResult:
    """What one fold did: the hours folded, [since, until)."""

    hours: int
    since: datetime | None = None
    until: datetime | None = None


async def fold_completed_hours(
    session: AsyncSession, camera_id: str, tz: ZoneInfo, now: datetime, grace: timedelta
) -> FoldResult:
    """Fold every completed hour of `camera_id` up to `now - grace` into its baselines; commits."""
    async with session.begin():
        await lock_baselines(session, camera_id)
        since = await _watermark(session, camera_id)
        if since is None:
            return FoldResult(0)
        samples = hour_samples(
            since, now - grace, await _detections(session, camera_id, since, now - grace), tz
        )
        if not samples:
            return FoldResult(0)
        await _fold(session, camera_id, samples)
        return FoldResult(len(samples), samples[0].start, samples[-1].start + timedelta(hours=1))


async def lock_baselines(session: AsyncSession, camera_id: str) -> None:
    """Hold the camera's baselines until the transaction ends: one fold at a time, and no reset in the
    middle of one (which would write the old view's hours into the fresh baselines)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"hsi:baseline:{camera_id}"})


async def _watermark(session: AsyncSession, camera_id: str) -> datetime | None:
    """Where the fold resumes: its newest row's hour; with none, the camera's creation or, when its
    baselines were forgotten since (`cameras.baselines_reset_at`), that moment: the old view's
    detections are still kept, and must not be learned again."""
    latest = await session.scalar(
        select(func.max(ActivityBaseline.last_updated)).where(ActivityBaseline.camera_id == camera_id)
    )
    camera = (
        await session.execute(
            select(Camera.created_at, Camera.baselines_reset_at).where(Camera.id == camera_id)
        )
    ).one_or_none()
    if camera is None:
        return latest
    moments = (latest, camera.baselines_reset_at, camera.created_at)
    return max(moment for moment in moments if moment is not None)


async def _detections(
    session: AsyncSession, camera_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, str]]:
    rows = await session.execute(
        select(Detection.detected_at, Detection.object_type).where(
            Detection.camera_id == camera_id,
            Detection.detected_at >= since,
            Detection.detected_at < until,
            Detection.object_type.is_not(None),
            Detection.stationary.is_(False),  # a car parked all day is no activity
        )
    )
    return [(moment, object_type) for moment, object_type in rows.all()]


async def _fold(session: AsyncSession, camera_id: str, samples: list[HourSample]) -> None:
    """Load the camera's rows once, fold every sample in memory, write each touched row once."""
    activity = {
        (row.hour, row.day_of_week): RateStats(row.avg_count, row.sample_count)
        for row in await session.scalars(
            select(ActivityBaseline).where(ActivityBaseline.camera_id == camera_id)
        )
    }
    classes: dict[int, dict[str, RateStats]] = {}
    for row in await session.scalars(select(ClassBaseline).where(ClassBaseline.camera_id == camera_id)):
        classes.setdefault(row.hour, {})[row.detection_class] = RateStats(row.frequency, row.sample_count)
    touched_activity: dict[tuple[int, int], datetime] = {}
    touched_classes: dict[int, datetime] = {}
    for sample in samples:
        slot = (sample.hour, sample.day_of_week)
        hours_before = _hours_counted(activity, sample.hour)
        activity[slot] = update_rate(activity.get(slot, RateStats()), sample.total)
        classes[sample.hour] = update_class_rates(classes.get(sample.hour, {}), sample.by_class, hours_before)
        end = sample.start + timedelta(hours=1)
        touched_activity[slot] = end
        touched_classes[sample.hour] = end
    for (hour, day), end in touched_activity.items():
        stats = activity[(hour, day)]
        statement = insert(ActivityBaseline).values(
            camera_id=camera_id,
            hour=hour,
            day_of_week=day,
            avg_count=stats.avg,
            sample_count=stats.sample_count,
            last_updated=end,
        )
        await session.execute(
            statement.on_conflict_do_update(
                constraint="uq_activity_baseline_slot",
                set_={"avg_count": stats.avg, "sample_count": stats.sample_count, "last_updated": end},
            )
        )
    for hour, end in touched_classes.items():
        for name, stats in classes[hour].items():
            statement = insert(ClassBaseline).values(
                camera_id=camera_id,
                detection_class=name,
                hour=hour,
                frequency=stats.avg,
                sample_count=stats.sample_count,
                last_updated=end,
            )
            await session.execute(
                statement.on_conflict_do_update(
                    constraint="uq_class_baseline_slot",
                    set_={"frequency": stats.avg, "sample_count": stats.sample_count, "last_updated": end},
                )
            )


async def compare_batch(
    session: AsyncSession, camera_id: str, tz: ZoneInfo, batch_end: datetime
) -> BaselineComparison:
    """How the trailing hour up to `batch_end` compares with what its slots expect.

    The trailing hour spans two slots (22:05 looks back to 21:05): what it should hold is each slot's
    rate for its share of the window. Compared with the current slot's alone, the first sightings after
    a busy hour (the school run, the evening) read "unusual" every day."""
    start = batch_end - OBSERVATION_WINDOW
    observed = await _detections(session, camera_id, start, batch_end + _EPSILON)
    by_class = Counter(object_type for _moment, object_type in observed)
    current = await _slot_rates(session, camera_id, hour_slot(batch_end, tz))
    hour_start = batch_end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    earlier = (hour_start - start) / OBSERVATION_WINDOW  # the window's share in the slot before
    previous = await _slot_rates(session, camera_id, hour_slot(start, tz)) if earlier > 0 else None
    expected = current if previous is None or previous.activity is None else current.blend(previous, earlier)
    return anomaly(
        observed_count=len(observed),
        activity=expected.activity,
        observed_classes=dict(by_class),
        class_stats=expected.classes,
        class_hours=expected.class_hours,
    )


@dataclass(frozen=True)
class _SlotRates:
    """One slot's rates as learned: its activity row (None: never folded), its hour's class rates, and
    how many hours those have counted."""

    activity: RateStats | None
    classes: dict[str, RateStats]
    class_hours: int

    def blend(self, other: _SlotRates, share: float) -> _SlotRates:
        """These rates for `1 - share` of the window, `other`'s for `share` (a class one of the two never
        saw counts as a rate of 0 over its hours); each as sure as the less sure of the two."""
        assert self.activity is not None and other.activity is not None

        def mix(mine: RateStats, theirs: RateStats) -> RateStats:
            return RateStats(
                (1 - share) * mine.avg + share * theirs.avg, min(mine.sample_count, theirs.sample_count)
            )

        classes = {
            name: mix(
                self.classes.get(name, RateStats(0.0, self.class_hours)),
                other.classes.get(name, RateStats(0.0, other.class_hours)),
            )
            for name in self.classes.keys() | other.classes.keys()
        }
        return _SlotRates(
            mix(self.activity, other.activity), classes, min(self.class_hours, other.class_hours)
        )


async def _slot_rates(session: AsyncSession, camera_id: str, slot: tuple[int, int]) -> _SlotRates:
    hour, weekday = slot
    row = await session.scalar(
        select(ActivityBaseline).where(
            ActivityBaseline.camera_id == camera_id,
            ActivityBaseline.hour == hour,
            ActivityBaseline.day_of_week == weekday,
        )
    )
    class_rows: Iterable[ClassBaseline] = await session.scalars(
        select(ClassBaseline).where(ClassBaseline.camera_id == camera_id, ClassBaseline.hour == hour)
    )
    hours_counted = await session.scalar(
        select(func.coalesce(func.sum(ActivityBaseline.sample_count), 0)).where(
            ActivityBaseline.camera_id == camera_id, ActivityBaseline.hour == hour
        )
    )
    return _SlotRates(
        RateStats(row.avg_count, row.sample_count) if row is not None else None,
        {r.detection_class: RateStats(r.frequency, r.sample_count) for r in class_rows},
        int(hours_counted or 0),
    )


def _hours_counted(activity: dict[tuple[int, int], RateStats], hour: int) -> int:
    """Hours of this hour-of-day folded so far, over every weekday (what class rates have counted)."""
    return sum(stats.sample_count for (slot_hour, _day), stats in activity.items() if slot_hour == hour)


#: `batch_end` is the last detection's own timestamp; include it (the query's upper bound is exclusive).
_EPSILON = timedelta(microseconds=1)
