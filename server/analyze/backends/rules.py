"""A deterministic risk scorer: no model, always available, and the fallback of every LLM backend.

Calibrated on the labelled scenario set in tests/server/scenarios.py, so that only real threats score
high or critical (routine activity, most of what a camera sees, stays low). The score is built from
explicit contributions, each of which also becomes a risk factor and a clause of the reasoning, so a
user can see why:

1. **Base** by what was seen and where (class group × zone type), the most concerning detection wins.
2. **Night** (22:00–06:00 local) adds to people and vehicles, much more at entry points and in the yard;
   halved where the slot's baseline says this hour routinely sees this activity.
3. **Lingering**: a person present over a long span (≥ 60 s at night; ≥ 75 s at an entry point by day,
   longer than a delivery), a vehicle idling at night.
   **Loitering**: an object in a zone beyond the zone's loitering time (its dwell from its track, not
   only this batch) adds a stated factor, "loitering at <zone>", much more after dark.
4. **Night context**: several people at once, one person crossing several zones, other cameras active.
5. **Baseline**: "unusual" and "elevated" raise, "normal" lowers a little, "unknown" is neutral.
6. **Confidence**: an uncertain top detection (< 0.6) scales the score down.
7. **Routine patterns** by day (a brief visit at the door, residents at the car, animals only) keep
   everyday activity low and are named in the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.prompt import part_of_day
from server.analyze.risk import clamp_score, risk_level
from server.analyze.schema import (
    REASONING_MAX_CHARS,
    RISK_FACTOR_MAX_CHARS,
    RISK_FACTORS_MAX_ITEMS,
    SUMMARY_MAX_CHARS,
    RiskAssessment,
    fit,
)
from server.vocabulary import ObjectGroup, ZoneType, group_of

PERSON, VEHICLE, CYCLE, ANIMAL, OTHER = (
    ObjectGroup.PERSON,
    ObjectGroup.VEHICLE,
    ObjectGroup.CYCLE,
    ObjectGroup.ANIMAL,
    ObjectGroup.OTHER,
)
NO_ZONE = "none"
_ZONE_KEYS = (*(zone.value for zone in ZoneType), NO_ZONE)


def _table(**rows: tuple[int, int, int, int, int, int]) -> dict[str, dict[str, int]]:
    """Rows in the order entry_point, driveway, sidewalk, yard, other, none."""
    return {group: dict(zip(_ZONE_KEYS, values, strict=True)) for group, values in rows.items()}


#: Daytime points by class group and zone type (entry_point, driveway, sidewalk, yard, other, none).
BASE = _table(
    person=(15, 10, 5, 12, 10, 10),
    vehicle=(12, 5, 2, 20, 5, 4),
    cycle=(10, 6, 2, 8, 5, 4),
    animal=(4, 3, 2, 3, 3, 3),
    other=(12, 10, 5, 10, 8, 8),
)
#: Points added at night, same layout.
NIGHT = _table(
    person=(50, 40, 10, 50, 35, 35),
    vehicle=(20, 20, 3, 25, 10, 8),
    cycle=(20, 15, 3, 20, 10, 8),
    animal=(0, 0, 0, 0, 0, 0),
    other=(25, 20, 5, 20, 15, 15),
)

NIGHT_START_HOUR, NIGHT_END_HOUR = 22, 6
LINGER_NIGHT_SECONDS = 60.0
LINGER_DAY_ENTRY_SECONDS = 75.0
LINGER_MIN_DETECTIONS = 3
#: Loitering beyond a zone's own loitering time: a setting the user made to say "staying this long here
#: is suspicious", so after dark (evening and night) it alone lifts a person at any zone into "high".
LOITER_DARK_POINTS = 45
LOITER_DAY_POINTS = 20
DARK_FROM_HOUR = 18
LOW_CONFIDENCE = 0.6
LOW_CONFIDENCE_FACTOR = 0.85
ANIMALS_ONLY_CAP = 10
_PROPERTY_ZONES = {ZoneType.ENTRY_POINT.value, ZoneType.DRIVEWAY.value, ZoneType.YARD.value}


def is_night(moment: datetime) -> bool:
    """22:00–06:00 on the home's clock (`moment` already local)."""
    return moment.hour >= NIGHT_START_HOUR or moment.hour < NIGHT_END_HOUR


@dataclass(frozen=True)
class _Seen:
    """One detection as the scorer weighs it."""

    detection: DetectionInfo
    group: str
    zone: str
    night: bool
    points: float


@dataclass
class _Score:
    """Running total plus the words that explain it."""

    points: float = 0.0
    factors: list[str] = field(default_factory=list)
    clauses: list[str] = field(default_factory=list)

    def add(self, points: float, factor: str | None, clause: str) -> None:
        self.points += points
        if factor:
            self.factors.append(factor)
        sign = "+" if points >= 0 else "-"
        self.clauses.append(f"{clause} ({sign}{abs(points):.0f})" if points else clause)


def _weigh(ctx: BatchContext, detection: DetectionInfo, night_weight: float) -> _Seen:
    """Points of one detection: base plus night, in whichever of its zones matters most."""
    group = group_of(detection.object_type)
    local = ctx.local(detection.detected_at)
    night = is_night(local)
    zones = [zone.zone_type.value for zone in detection.zones] or [NO_ZONE]

    def points(zone: str) -> float:
        return BASE[group][zone] + (NIGHT[group][zone] * night_weight if night else 0.0)

    zone = max(zones, key=points)
    return _Seen(detection, group, zone, night, points(zone))


def _span_seconds(items: Iterable[_Seen]) -> tuple[float, int]:
    times = sorted(item.detection.detected_at for item in items)
    if len(times) < 2:
        return 0.0, len(times)
    return (times[-1] - times[0]).total_seconds(), len(times)


def _zone_label(zone: str) -> str:
    return "no zone" if zone == NO_ZONE else zone.replace("_", " ")


def _describe(seen: _Seen) -> str:
    zones = ", ".join(z.name for z in seen.detection.zones)
    where = f"at {zones} ({_zone_label(seen.zone)})" if zones else "in view"
    return f"{seen.detection.object_type} {where}"


def score_batch(ctx: BatchContext) -> RiskAssessment:
    """The deterministic assessment of `ctx`.

    An uncertain detection never lowers it: when the most telling detection is uncertain, the whole
    score is discounted (x`LOW_CONFIDENCE_FACTOR`), which could take a confident person's points and the
    baseline's down with it (a person at 02:14 scored 60, and 55 with one more, uncertain, sighting).
    So the batch is also scored on its confident detections alone, and the higher assessment stands.
    """
    assessment = _assess(ctx)
    confident = tuple(item for item in ctx.detections if item.confidence >= LOW_CONFIDENCE)
    if confident and len(confident) < len(ctx.detections):
        alone = _assess(replace(ctx, detections=confident))
        if alone.risk_score > assessment.risk_score:
            return alone
    return assessment


def _assess(ctx: BatchContext) -> RiskAssessment:
    """`score_batch` of every detection of `ctx` as they are."""
    baseline = ctx.baseline
    routine_hour = baseline is not None and baseline.status == "normal"
    night_weight = 0.5 if routine_hour else 1.0
    seen = [_weigh(ctx, detection, night_weight) for detection in ctx.detections]
    top = max(seen, key=lambda item: (item.points, item.detection.confidence))
    people = [item for item in seen if item.group == PERSON]
    night = top.night
    local_top = ctx.local(top.detection.detected_at)
    score = _Score()

    base = BASE[top.group][top.zone]
    score.add(base, None, f"{_describe(top)} ({top.detection.confidence:.2f})")
    if night and top.points > base:
        weight_note = ", halved: usual for this hour" if routine_hour else ""
        score.add(top.points - base, "night-time activity", f"at {local_top:%H:%M}, night{weight_note}")
    if top.group == PERSON and top.zone == ZoneType.ENTRY_POINT.value:
        score.factors.append("person at an entry point")

    lingering = _lingering(score, people, seen, night)
    loitering = _loitering(score, ctx, seen)
    if night:
        _night_context(score, ctx, people)
    _baseline(score, ctx)
    if top.detection.confidence < LOW_CONFIDENCE:
        score.points *= LOW_CONFIDENCE_FACTOR
        score.clauses.append(f"low detection confidence {top.detection.confidence:.2f} (x{LOW_CONFIDENCE_FACTOR})")
        score.factors.append("low detection confidence")
    pattern = None if night or lingering or loitering else _routine_pattern(score, seen, people)

    final = clamp_score(score.points)
    level = risk_level(final)
    summary = _summary(ctx, top, local_top, pattern, lingering or loitering)
    reasoning = f"Rules score {final} ({level.value}): " + "; ".join(score.clauses) + "."
    if pattern:
        reasoning += f" Pattern: {pattern}."
    factors = _dedupe(score.factors) or ["routine activity"]
    return RiskAssessment(
        risk_factors=[fit(factor, RISK_FACTOR_MAX_CHARS) for factor in factors[:RISK_FACTORS_MAX_ITEMS]],
        reasoning=fit(reasoning, REASONING_MAX_CHARS),
        risk_score=final,
        summary=fit(summary, SUMMARY_MAX_CHARS),
    )


def _lingering(score: _Score, people: list[_Seen], seen: list[_Seen], night: bool) -> float | None:
    """Dwell: a person over a long span, a vehicle idling at night. Returns the person's span if any."""
    span, count = _span_seconds(people)
    lingered: float | None = None
    if people and count >= LINGER_MIN_DETECTIONS:
        zone = max(people, key=lambda item: item.points).zone
        if night and span >= LINGER_NIGHT_SECONDS:
            points = 15 if zone == ZoneType.SIDEWALK.value else 20
            score.add(points, f"lingering {span:.0f} s", f"person present for {span:.0f} s at night")
            lingered = span
        elif not night and zone == ZoneType.ENTRY_POINT.value and span >= LINGER_DAY_ENTRY_SECONDS:
            score.add(15, f"lingering {span:.0f} s at an entry point", f"person at the entry point for {span:.0f} s")
            lingered = span
    vehicles = [item for item in seen if item.group == VEHICLE and item.night and item.zone in _PROPERTY_ZONES]
    vehicle_span, vehicle_count = _span_seconds(vehicles)
    if vehicle_count >= LINGER_MIN_DETECTIONS and vehicle_span >= LINGER_NIGHT_SECONDS:
        score.add(10, "vehicle idling at night", f"vehicle on the property for {vehicle_span:.0f} s at night")
    return lingered


def _loitering(score: _Score, ctx: BatchContext, seen: list[_Seen]) -> float | None:
    """The longest dwell beyond a zone's loitering time (`ZoneHit.loitering`); returns it, if any."""
    found: tuple[_Seen, ZoneHit] | None = None
    for item in seen:
        for zone in item.detection.zones:
            if zone.loitering and (found is None or zone.dwell_seconds > found[1].dwell_seconds):
                found = (item, zone)
    if found is None:
        return None
    item, zone = found
    local = ctx.local(item.detection.detected_at)
    dark = is_night(local) or local.hour >= DARK_FROM_HOUR
    score.add(
        LOITER_DARK_POINTS if dark else LOITER_DAY_POINTS,
        f"loitering at {zone.name} ({zone.dwell_seconds:.0f} s)",
        f"{item.detection.object_type} at {zone.name} for {zone.dwell_seconds:.0f} s, beyond its loitering time"
        f" of {zone.loitering_seconds} s{' after dark' if dark else ''}",
    )
    return zone.dwell_seconds


def _night_context(score: _Score, ctx: BatchContext, people: list[_Seen]) -> None:
    """At night: several people at once, one crossing the property, other cameras seeing activity."""
    if not people:
        return
    per_frame = Counter(item.detection.detected_at for item in people)
    if max(per_frame.values()) >= 2:
        score.add(10, "several people", f"{max(per_frame.values())} people in one frame at night")
    zones = {item.zone for item in people} & _PROPERTY_ZONES
    if len(zones) >= 2:
        names = ", ".join(sorted(_zone_label(zone) for zone in zones))
        score.add(10, "moving across the property", f"person seen in several zones ({names})")
    if ctx.other_cameras_activity:
        score.add(10, "activity on other cameras", "other cameras saw activity in the last minutes")


def _baseline(score: _Score, ctx: BatchContext) -> None:
    baseline = ctx.baseline
    if baseline is None or baseline.status == "unknown":
        score.clauses.append("no baseline yet for this hour (neutral)")
        return
    if baseline.status == "unusual":
        score.add(15, "unusual for this hour", f"activity unusual for this hour (anomaly {baseline.anomaly_score:.2f})")
    elif baseline.status == "elevated":
        score.add(7, "above the usual level", f"activity above the usual level (anomaly {baseline.anomaly_score:.2f})")
    else:
        score.add(-5, None, "activity normal for this hour")
    if baseline.unusual_classes:
        names = ", ".join(baseline.unusual_classes)
        score.add(min(10, 5 * len(baseline.unusual_classes)), f"rarely seen here at this hour: {names}", f"{names} rarely seen at this hour")


def _routine_pattern(score: _Score, seen: list[_Seen], people: list[_Seen]) -> str | None:
    """Daytime everyday scenes, named so the summary says what it probably was."""
    groups = {item.group for item in seen}
    if groups == {ANIMAL}:
        if score.points > ANIMALS_ONLY_CAP:
            score.clauses.append(f"animals only (capped at {ANIMALS_ONLY_CAP})")
            score.points = ANIMALS_ONLY_CAP
        return "animals only"
    person_zones = {item.zone for item in people}
    if ZoneType.ENTRY_POINT.value in person_zones:
        score.add(-5, None, "brief daytime visit at the door")
        return "a brief daytime visit at the door (delivery, mail or a visitor)"
    if people and VEHICLE in groups and ZoneType.DRIVEWAY.value in person_zones:
        return "residents at the car in the driveway"
    if person_zones == {ZoneType.YARD.value}:
        return "people in the yard by day"
    if groups <= {VEHICLE, CYCLE} or person_zones == {ZoneType.SIDEWALK.value}:
        return "passing traffic"
    return None


def _summary(
    ctx: BatchContext, top: _Seen, local_top: datetime, pattern: str | None, lingering: float | None
) -> str:
    counts = _peak_counts(ctx)
    subject = _describe(top)
    text = f"{subject[:1].upper()}{subject[1:]} on {ctx.camera_name} at {local_top:%H:%M} ({part_of_day(local_top.hour)})"
    if len(counts) > 1 or sum(counts.values()) > 1:
        seen = ", ".join(name if count == 1 else f"{count} x {name}" for name, count in counts.most_common(4))
        text += f"; seen: {seen}"
    if lingering:
        text += f"; lingering {lingering:.0f} s"
    if ctx.baseline is not None and ctx.baseline.status in ("unusual", "elevated"):
        text += f"; {ctx.baseline.status} for this hour"
    if pattern:
        text += f"; likely {pattern}"
    return text + "."


def _peak_counts(ctx: BatchContext) -> Counter[str]:
    """Most objects of each class in one frame: ten frames of one person are one person, not ten."""
    per_frame = Counter((item.object_type, item.detected_at) for item in ctx.detections)
    peak: Counter[str] = Counter()
    for (name, _), count in per_frame.items():
        peak[name] = max(peak[name], count)
    return peak


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class RulesAnalyzer:
    """The scorer behind the Analyzer protocol: instant, so it runs inline on the event loop."""

    name = "rules"
    concurrency = None

    async def assess(self, ctx: BatchContext) -> RiskAssessment:
        return score_batch(ctx)

    async def close(self) -> None:
        return None
