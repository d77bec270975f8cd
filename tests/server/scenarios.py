"""A labelled set of batches a home camera really sees, to calibrate and check risk scoring.

Each scenario is labelled by what a homeowner would want: **routine** (no notification wanted),
**suspicious** (worth a look) or **threatening** (wake me up). The rules scorer must put ≥ 80 % of the
routine ones in *low* and every threatening one in *high* or *critical* (test_rules_scenarios.py); the
same set feeds `python -m bench.scenarios`-style reports through `confusion_table()`.

Baselines are not hand-written comparisons: each scenario describes the slot's learned history (rate
per hour, samples, class rates) and the real `anomaly()` computes the comparison from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from server.analyze.baselines import RateStats, anomaly
from server.analyze.context import BaselineComparison, BatchContext, DetectionInfo, ZoneHit
from server.analyze.risk import RiskLevel, risk_level
from server.analyze.schema import RiskAssessment

Label = Literal["routine", "suspicious", "threatening"]
LABELS: tuple[Label, ...] = ("routine", "suspicious", "threatening")
TIMEZONE = "America/Chicago"

#: Zone names per camera, as a user would draw them.
ZONE_NAMES = {
    "entry_point": "Front Door",
    "driveway": "Driveway",
    "sidewalk": "Street",
    "yard": "Lawn",
    "other": "Side Path",
}


@dataclass(frozen=True)
class Seen:
    """One object over a run of frames: class, zone type (None = no zone), seconds seen, confidence."""

    object_type: str
    zone: str | None
    seconds: Sequence[float]
    confidence: float = 0.9
    copies: int = 1  # how many such objects per frame (two people side by side)


@dataclass(frozen=True)
class History:
    """What the slot has learned: detections per hour, hours of history, per-class rates."""

    rate: float
    samples: int
    classes: dict[str, float]


@dataclass(frozen=True)
class Scenario:
    name: str
    label: Label
    ctx: BatchContext


def frames(start: float, end: float, every: float = 5.0) -> list[float]:
    """Seconds at which a camera uploads a snapshot while the object is in view."""
    count = int((end - start) // every) + 1
    return [start + i * every for i in range(count)]


def batch(
    when: str,
    seen: Sequence[Seen],
    *,
    camera: str = "Front Yard",
    day: str = "2025-06-10",
    history: History | None = None,
    other_cameras: Sequence[str] = (),
) -> BatchContext:
    """A closed batch of `camera`, starting at local `when` (HH:MM) on `day`."""
    tz = ZoneInfo(TIMEZONE)
    start = datetime.fromisoformat(f"{day}T{when}:00").replace(tzinfo=tz)
    detections = []
    for item in seen:
        zones = (ZoneHit(ZONE_NAMES[item.zone], item.zone),) if item.zone else ()
        for offset in item.seconds:
            for copy in range(item.copies):
                detections.append(
                    DetectionInfo(
                        object_type=item.object_type,
                        confidence=item.confidence,
                        detected_at=start + timedelta(seconds=offset),
                        x=100 + 150 * copy,
                        y=120,
                        width=80,
                        height=200,
                        image_width=1920,
                        image_height=1080,
                        zones=zones,
                    )
                )
    detections.sort(key=lambda detection: detection.detected_at)
    return BatchContext(
        camera_id=camera.lower().replace(" ", "_"),
        camera_name=camera,
        started_at=detections[0].detected_at,
        ended_at=detections[-1].detected_at,
        detections=tuple(detections),
        timezone=TIMEZONE,
        baseline=_compare(detections, history),
        other_cameras_activity=tuple(other_cameras),
    )


def _compare(detections: list[DetectionInfo], history: History | None) -> BaselineComparison:
    """The baseline comparison `anomaly()` makes for this batch (taken as the hour's activity)."""
    observed = Counter(detection.object_type for detection in detections)
    if history is None:
        return anomaly(len(detections), None, observed)
    classes = {name: RateStats(rate, history.samples) for name, rate in history.classes.items()}
    return anomaly(len(detections), RateStats(history.rate, history.samples), observed, classes)


def person(zone: str | None, seconds: Sequence[float], confidence: float = 0.9, copies: int = 1) -> Seen:
    return Seen("person", zone, seconds, confidence, copies)


BUSY_DAY = History(rate=40.0, samples=30, classes={"person": 20.0, "car": 15.0, "truck": 2.0, "dog": 3.0})
#: Detections per hour (a visit yields several snapshots): a cat most nights, a car now and then.
QUIET_NIGHT = History(rate=3.0, samples=30, classes={"cat": 2.5, "car": 0.5})
NIGHT_RETURNS = History(rate=12.0, samples=30, classes={"person": 6.0, "car": 6.0})


SCENARIOS: tuple[Scenario, ...] = (
    # --- routine: what a camera sees all day; nobody wants a notification -------------------------------
    Scenario("parcel delivery at the door", "routine", batch("14:05", [
        person("entry_point", frames(0, 35)), Seen("truck", "sidewalk", frames(0, 45))])),
    Scenario("mail carrier", "routine", batch("11:20", [
        person("sidewalk", frames(0, 10)), person("entry_point", frames(10, 20))])),
    Scenario("resident leaving for work", "routine", batch("07:45", [
        person("driveway", frames(0, 20)), Seen("car", "driveway", frames(0, 60))], camera="Driveway")),
    Scenario("resident coming home", "routine", batch("18:30", [
        Seen("car", "driveway", frames(0, 40)), person("driveway", frames(20, 35)),
        person("entry_point", frames(40, 50))], camera="Driveway", history=BUSY_DAY)),
    Scenario("dog in the yard", "routine", batch("10:00", [Seen("dog", "yard", frames(0, 90))], camera="Backyard")),
    Scenario("cat on the porch at night", "routine", batch("01:30", [
        Seen("cat", "entry_point", frames(0, 30))], history=QUIET_NIGHT)),
    Scenario("bird on the lawn", "routine", batch("15:00", [Seen("bird", "yard", frames(0, 10), 0.7)])),
    Scenario("car parked in the driveway", "routine", batch("13:00", [
        Seen("car", "driveway", frames(0, 90))], camera="Driveway", history=BUSY_DAY)),
    Scenario("car passing on the street", "routine", batch("16:00", [Seen("car", "sidewalk", frames(0, 10))])),
    Scenario("kids playing in the yard", "routine", batch("16:30", [
        person("yard", frames(0, 90), copies=2), Seen("bicycle", "yard", frames(30, 60))], camera="Backyard")),
    Scenario("pedestrian on the sidewalk", "routine", batch("08:15", [person("sidewalk", frames(0, 10))])),
    Scenario("pedestrian on the sidewalk late", "routine", batch("23:10", [person("sidewalk", frames(0, 15))])),
    Scenario("early jogger", "routine", batch("06:30", [person("sidewalk", frames(0, 5))])),
    Scenario("gardening in the yard", "routine", batch("10:00", [person("yard", frames(0, 90))], camera="Backyard")),
    Scenario("visitor at the door", "routine", batch("15:00", [
        person("entry_point", frames(0, 30))], history=BUSY_DAY)),
    Scenario("food delivery by motorcycle", "routine", batch("19:45", [
        Seen("motorcycle", "sidewalk", frames(0, 40)), person("entry_point", frames(10, 35))])),
    Scenario("taking out the trash", "routine", batch("21:00", [person("driveway", frames(0, 30))], camera="Driveway")),
    Scenario("neighbour's cat in the backyard", "routine", batch("03:00", [
        Seen("cat", "yard", frames(0, 60))], camera="Backyard", history=QUIET_NIGHT)),
    Scenario("car passing at night", "routine", batch("00:30", [Seen("car", None, frames(0, 10))], camera="Street")),
    Scenario("cyclist on the sidewalk", "routine", batch("12:00", [Seen("bicycle", "sidewalk", frames(0, 10))])),
    Scenario("school bus", "routine", batch("07:30", [Seen("bus", None, frames(0, 20))], camera="Street")),
    Scenario("night-shift resident returns as every night", "routine", batch("23:15", [
        Seen("car", "driveway", frames(0, 30)), person("driveway", frames(20, 40))],
        camera="Driveway", history=NIGHT_RETURNS)),
    Scenario("person on a camera without zones", "routine", batch("14:00", [
        person(None, frames(0, 20))], camera="Garden", history=BUSY_DAY)),
    Scenario("dog walker passing", "routine", batch("20:00", [
        person("sidewalk", frames(0, 15)), Seen("dog", "sidewalk", frames(0, 15))])),
    Scenario("residents chatting in the driveway", "routine", batch("17:00", [
        person("driveway", frames(0, 90), copies=2)], camera="Driveway")),
    Scenario("squirrel-chasing dog at dawn", "routine", batch("05:45", [
        Seen("dog", "yard", frames(0, 40))], camera="Backyard")),
    # --- suspicious: worth a look, not an alarm -----------------------------------------------------------
    Scenario("person in the driveway after midnight", "suspicious", batch("01:00", [
        person("driveway", frames(0, 15))], camera="Driveway")),
    Scenario("stranger at the back door at an unusual hour", "suspicious", batch("13:00", [
        person("entry_point", frames(0, 20))], camera="Back Door",
        history=History(rate=0.2, samples=30, classes={"cat": 0.2}))),
    Scenario("person waiting at the door for long", "suspicious", batch("15:30", [
        person("entry_point", frames(0, 85))])),
    Scenario("car idling in the driveway at night", "suspicious", batch("02:00", [
        Seen("car", "driveway", frames(0, 80))], camera="Driveway")),
    Scenario("person loitering on the sidewalk at night", "suspicious", batch("02:30", [
        person("sidewalk", frames(0, 80))])),
    Scenario("person at night on a camera without zones", "suspicious", batch("22:30", [
        person(None, frames(0, 15))], camera="Garden")),
    Scenario("truck on the lawn", "suspicious", batch("15:00", [
        Seen("truck", "yard", frames(0, 30))], camera="Backyard",
        history=History(rate=2.0, samples=30, classes={"dog": 1.5, "person": 0.5}))),
    Scenario("crowd in the yard far above normal", "suspicious", batch("12:00", [
        person("yard", frames(0, 90), copies=4)], camera="Backyard",
        history=History(rate=6.0, samples=30, classes={"person": 4.0, "dog": 2.0}))),
    Scenario("bicycle in the driveway at night", "suspicious", batch("03:00", [
        Seen("bicycle", "driveway", frames(0, 20))], camera="Driveway")),
    Scenario("person in the yard in the evening, rare for the hour", "suspicious", batch("21:30", [
        person("yard", frames(0, 20))], camera="Backyard",
        history=History(rate=0.3, samples=30, classes={"cat": 0.3}))),
    # --- threatening: wake me up --------------------------------------------------------------------------
    Scenario("stranger at the front door at 2 AM", "threatening", batch("02:14", [
        person("entry_point", frames(0, 20))])),
    Scenario("person lingering at the front door at night", "threatening", batch("03:05", [
        person("entry_point", frames(0, 80))])),
    Scenario("person in the backyard at night", "threatening", batch("01:40", [
        person("yard", frames(0, 10))], camera="Backyard")),
    Scenario("person at the back door, never seen at this hour", "threatening", batch("23:30", [
        person("entry_point", frames(0, 25))], camera="Back Door", history=QUIET_NIGHT)),
    Scenario("two people moving from driveway to door at night", "threatening", batch("02:00", [
        Seen("car", "driveway", frames(0, 60)), person("driveway", frames(10, 30), copies=2),
        person("entry_point", frames(35, 50), copies=2)], camera="Driveway")),
    Scenario("person crossing cameras at night", "threatening", batch("04:00", [
        person("yard", frames(0, 20))], camera="Backyard", other_cameras=("Driveway: person at 03:58",))),
    Scenario("uncertain figure lingering at a window at night", "threatening", batch("00:45", [
        person("entry_point", frames(0, 70), confidence=0.55)], camera="Side Window")),
    Scenario("person at the garage door before dawn, other cameras active", "threatening", batch("05:30", [
        person("entry_point", frames(0, 15))], camera="Garage", other_cameras=("Backyard: person at 05:27",))),
    Scenario("person lingering in the yard at night", "threatening", batch("22:15", [
        person("yard", frames(0, 90))], camera="Backyard")),
    Scenario("three people at the front door at night", "threatening", batch("01:00", [
        person("entry_point", frames(0, 20), copies=3)])),
    Scenario("person at the door at night on a camera that only sees cats then", "threatening", batch("03:00", [
        person("entry_point", frames(0, 20)), Seen("cat", "yard", frames(0, 20))], history=QUIET_NIGHT)),
)


Scorer = Callable[[BatchContext], RiskAssessment]


def confusion(scorer: Scorer) -> dict[Label, Counter[RiskLevel]]:
    """Label × level counts of `scorer` over the scenario set."""
    table: dict[Label, Counter[RiskLevel]] = {label: Counter() for label in LABELS}
    for scenario in SCENARIOS:
        table[scenario.label][risk_level(scorer(scenario.ctx).risk_score)] += 1
    return table


def confusion_table(scorer: Scorer | None = None) -> str:
    """The confusion table as text (rows: labels, columns: risk levels), rules scorer by default."""
    if scorer is None:
        from server.analyze.backends.rules import score_batch

        scorer = score_batch
    table = confusion(scorer)
    levels = list(RiskLevel)
    lines = [f"{'label':<12}" + "".join(f"{level.value:>10}" for level in levels) + f"{'total':>8}"]
    for label in LABELS:
        row = table[label]
        lines.append(
            f"{label:<12}" + "".join(f"{row[level]:>10}" for level in levels) + f"{sum(row.values()):>8}"
        )
    return "\n".join(lines)
