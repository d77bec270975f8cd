"""Activity baselines: learned detection rates per time slot, and how unusual a batch is against them.

A baseline is a rate (not a counter bumped per observation, whose "average" converges to 1 whatever
the traffic), defined precisely:

* **Activity** — for each slot (camera, hour of day, day of week) every *completed* local hour of that
  slot contributes one sample: the number of detections in that hour, **zero included** (an hour with
  nothing is evidence too; leaving it out would measure "traffic when there is traffic").
  `avg ← avg + α·(count − avg)` with `α = max(1/n, ALPHA_MIN)`, n the sample number: the first
  1/ALPHA_MIN samples are averaged exactly (no start-up bias towards 0), later ones are an exponentially
  weighted average that follows slow drift (a new neighbour, a new delivery route).
* **Class frequency** — the same update per (camera, class, hour), over per-hour counts of that class.
  All classes of a slot are updated together each completed hour, a class that was absent with 0.

`anomaly()` compares the detections of the trailing hour with the slot's rate through a Poisson tail
probability, and each class likewise. This module is math only; the database rows
(`activity_baselines.avg_count/sample_count`, `class_baselines.frequency/sample_count`) are read and
written by the analyze worker.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from server.analyze.context import BaselineComparison, BaselineStatus

#: Floor of the EWMA weight: after 10 samples each new one weighs 10 % (≈ 10-sample memory).
ALPHA_MIN = 0.1
#: Fewer samples than this and the slot says "unknown" rather than "normal".
MIN_SAMPLES = 4
#: Tail probability at or below which the batch is "unusual", resp. "elevated", for its slot.
UNUSUAL_TAIL = 0.01
ELEVATED_TAIL = 0.10
#: Tail probability at or below which one class is listed as unusual for the hour.
CLASS_UNUSUAL_TAIL = 0.05
#: About how many detections one arrival produces (see `count_tail`).
DISPERSION = 4.0

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RateStats:
    """One baseline row: the weighted average count per hour and how many hours it has seen."""

    avg: float = 0.0
    sample_count: int = 0


@dataclass(frozen=True)
class HourSample:
    """One completed hour of one camera: its slot and what was detected in it."""

    start: datetime  # UTC start of the hour
    hour: int  # local hour of day, 0..23
    day_of_week: int  # local day, 0 = Monday
    total: int
    by_class: Mapping[str, int]


def alpha(sample_number: int, alpha_min: float = ALPHA_MIN) -> float:
    """Weight of the `sample_number`-th sample (1-based): exact mean first, then a floor of alpha_min."""
    if sample_number < 1:
        raise ValueError("sample_number starts at 1")
    return max(1.0 / sample_number, alpha_min)


def update_rate(stats: RateStats, count: int, alpha_min: float = ALPHA_MIN) -> RateStats:
    """Fold one completed hour's `count` into a slot's rate."""
    if count < 0:
        raise ValueError(f"a count cannot be negative, got {count}")
    n = stats.sample_count + 1
    return RateStats(avg=stats.avg + alpha(n, alpha_min) * (count - stats.avg), sample_count=n)


def update_class_rates(
    stats: Mapping[str, RateStats],
    counts: Mapping[str, int],
    hours_before: int,
    alpha_min: float = ALPHA_MIN,
) -> dict[str, RateStats]:
    """Fold one completed hour's per-class counts into the class rates of that (camera, hour).

    `hours_before` is how many earlier hours of this (camera, hour) the baselines have counted (the sum
    of that hour's activity sample counts over the days of the week). Every known class is updated,
    absent ones with 0; a class seen for the first time starts as if it had been counted 0 in each of
    those hours, so one sighting is not mistaken for a rate of one per hour.
    """
    if hours_before < 0:
        raise ValueError("hours_before cannot be negative")
    updated: dict[str, RateStats] = {}
    for name in set(stats) | {name for name, count in counts.items() if count > 0}:
        row = stats.get(name, RateStats(avg=0.0, sample_count=hours_before))
        updated[name] = update_rate(row, counts.get(name, 0), alpha_min)
    return updated


def hour_samples(
    since: datetime,
    until: datetime,
    detections: Iterable[tuple[datetime, str]],
    tz: ZoneInfo,
) -> list[HourSample]:
    """Every whole hour in [since, until), empty hours included, with its local slot and counts.

    `since` is rounded up and `until` down to whole UTC hours (every IANA zone in use today is offset
    from UTC by whole hours or half-hours; a half-hour zone gets its hour slot from the hour's start).
    Across a DST change a local hour may occur twice or not at all; each real hour is still one sample.
    """
    for name, moment in (("since", since), ("until", until)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    first = _ceil_hour(since.astimezone(timezone.utc))
    end = _floor_hour(until.astimezone(timezone.utc))
    buckets: dict[datetime, Counter[str]] = {}
    for moment, object_type in detections:
        start = _floor_hour(moment.astimezone(timezone.utc))
        if first <= start < end:
            buckets.setdefault(start, Counter())[object_type] += 1
    samples = []
    start = first
    while start < end:
        hour, weekday = hour_slot(start, tz)
        by_class = dict(buckets.get(start, Counter()))
        samples.append(HourSample(start, hour, weekday, sum(by_class.values()), by_class))
        start += _HOUR
    return samples


def hour_slot(moment: datetime, tz: ZoneInfo) -> tuple[int, int]:
    """The slot (local hour, weekday) `moment` falls in: that of the start of its UTC hour. Learning
    and comparing both take it from here: in a half-hour zone (India, Adelaide, Newfoundland) 06:21
    local lies in the UTC hour that starts at 05:30 local, slot 5, where that hour was learned."""
    local = _floor_hour(moment.astimezone(timezone.utc)).astimezone(tz)
    return local.hour, local.weekday()


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR


def poisson_tail(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam), accurate in both tails (no scipy needed).

    Below the mean it is 1 − CDF(k−1); above, the upper terms are summed directly, so that tiny tail
    probabilities do not vanish in a `1 − 0.99999…` cancellation. Terms are built in log space, so a
    large `lam` does not underflow `exp(−lam)`.
    """
    if k <= 0:
        return 1.0
    if lam < 0 or math.isnan(lam):
        raise ValueError(f"rate must be ≥ 0, got {lam}")
    if lam == 0:
        return 0.0

    def log_pmf(i: int) -> float:
        return -lam + i * math.log(lam) - math.lgamma(i + 1)

    if k <= lam:
        below = math.fsum(math.exp(log_pmf(i)) for i in range(k))
        return min(1.0, max(0.0, 1.0 - below))
    terms = []
    i = k
    while True:
        term = math.exp(log_pmf(i))
        terms.append(term)
        if term == 0.0 or term < 1e-17 * math.fsum(terms):
            break
        i += 1
    return min(1.0, math.fsum(terms))


def effective_rate(stats: RateStats) -> float:
    """The rate used for surprise: the learned average, floored at 0.5 / samples.

    A slot that saw nothing in n hours has a rate "below about 1/n", not exactly 0 (0.5/n is the
    posterior mean under a Jeffreys prior); without a floor the first ever detection would be
    infinitely surprising, with it the surprise grows with the evidence.
    """
    return max(stats.avg, 0.5 / max(stats.sample_count, 1))


def count_tail(count: int, stats: RateStats, dispersion: float = DISPERSION) -> float:
    """P(a count ≥ `count` in an hour) under the slot's rate, allowing for overdispersion.

    Detections are not independent arrivals: one visitor is seen in several frames, so hourly counts
    vary more than a Poisson law says. Quasi-Poisson scaling (counts and rate divided by `dispersion`)
    treats about `dispersion` detections as one arrival, so a busy afternoon's delivery is not
    "unusual" while the first person ever at 3 AM still is.
    """
    if count <= 0:
        return 1.0
    return poisson_tail(math.ceil(count / dispersion), effective_rate(stats) / dispersion)


def _status(tail: float) -> BaselineStatus:
    if tail <= UNUSUAL_TAIL:
        return "unusual"
    if tail <= ELEVATED_TAIL:
        return "elevated"
    return "normal"


def anomaly(
    observed_count: int,
    activity: RateStats | None,
    observed_classes: Mapping[str, int] | None = None,
    class_stats: Mapping[str, RateStats] | None = None,
    class_hours: int | None = None,
    min_samples: int = MIN_SAMPLES,
) -> BaselineComparison:
    """How surprising `observed_count` detections in an hour are for this slot, and which classes are.

    `observed_count`/`observed_classes` cover the trailing hour up to the batch's end (the quantity the
    baseline averages). anomaly_score = 1 − (smallest tail probability of the total and of each class):
    near 0 for an ordinary hour, → 1 for something the slot practically never sees. A class with a
    tail ≤ CLASS_UNUSUAL_TAIL is listed as unusual (e.g. the first person ever at 3 AM on this camera).
    `class_hours` is how many hours the class rates of this hour have counted (for a class never seen);
    by default the largest sample count among `class_stats`.
    """
    if observed_count < 0:
        raise ValueError("observed_count cannot be negative")
    samples = activity.sample_count if activity else 0
    if activity is None or samples < min_samples:
        return BaselineComparison(
            expected_count=activity.avg if activity and samples else None,
            observed_count=observed_count,
            sample_count=samples,
            anomaly_score=None,
            status="unknown",
        )
    class_stats = class_stats or {}
    if class_hours is None:
        class_hours = max((row.sample_count for row in class_stats.values()), default=0)
    worst_tail = count_tail(observed_count, activity)
    unusual: list[str] = []
    for name, count in sorted((observed_classes or {}).items()):
        # A class never seen in this hour has a row of zeros as old as the others of the slot.
        row = class_stats.get(name, RateStats(0.0, class_hours))
        if row.sample_count < min_samples:
            continue  # too little class history for this hour: unknown, not unusual
        tail = count_tail(count, row)
        if tail <= CLASS_UNUSUAL_TAIL:
            unusual.append(name)
        worst_tail = min(worst_tail, tail)
    return BaselineComparison(
        expected_count=activity.avg,
        observed_count=observed_count,
        sample_count=samples,
        anomaly_score=round(1.0 - worst_tail, 6),
        unusual_classes=tuple(unusual),
        status=_status(worst_tail),
    )
