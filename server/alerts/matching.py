"""Does an event satisfy a rule? — and if not, why not, in words a person can act on.

All conditions a rule sets are ANDed; an unset (None) or empty list condition means "any".

Event-level conditions: `risk_threshold` (an event not yet scored fails: alerting on "unknown risk"
would page people for every unscored event), `camera_ids`, and `schedule`, evaluated at the event's
`started_at` — not at evaluation time — because the rule is about when the activity happened: an event
that started at 05:55 inside a 22:00-06:00 window and was analysed at 06:01 must still alert, and
re-evaluating an old event (the API's "test rule") must give the same answer it gave live.

Detection-level conditions: `object_types`, `min_confidence` and `zone_ids` must hold for one and the
same detection. "A person, somewhere, at 0.9; a cat in the driveway at 0.4" does not match a rule for
"a person at ≥0.7 in the driveway", although each condition is met by *some* detection. Evaluating
them independently (each against any detection of the event) would raise exactly that false alarm.

`enabled` is not looked at here: the engine only evaluates enabled rules, and "test rule" wants the
answer for a rule still being drafted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from server.alerts.schedule import Schedule


@dataclass(frozen=True, slots=True)
class DetectionFacts:
    """What matching needs from one detection; `zone_ids` from `zones.zones_hit`."""

    object_type: str
    confidence: float
    zone_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What matching needs from one event (built from the event row and its detections)."""

    event_id: int
    camera_id: str
    risk_score: int | None
    started_at: datetime
    detections: Sequence[DetectionFacts] = ()


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """Outcome of `evaluate`; the matched_* fields describe the detections that satisfied the rule.

    `top_index` is the position in `EventFacts.detections` of the most confident satisfying detection
    (e.g. for the alert's thumbnail); `top_object_type` / `top_zone_id` are its type and its first
    relevant zone in sorted order — what `dedup.render_dedup_key` gets for `{object_type}` /
    `{zone_id}` (None when no detection was involved, or it was in no relevant zone).
    """

    matched: bool
    reasons_failed: list[str] = field(default_factory=list)
    matched_object_types: list[str] = field(default_factory=list)
    matched_zone_ids: list[str] = field(default_factory=list)
    top_confidence: float | None = None
    top_object_type: str | None = None
    top_zone_id: str | None = None
    top_index: int | None = None


class RuleConditions(Protocol):
    """The condition fields of a rule (`AlertRuleSpec` satisfies it)."""

    @property
    def risk_threshold(self) -> int | None: ...
    @property
    def object_types(self) -> Sequence[str] | None: ...
    @property
    def camera_ids(self) -> Sequence[str] | None: ...
    @property
    def zone_ids(self) -> Sequence[str] | None: ...
    @property
    def min_confidence(self) -> float | None: ...
    @property
    def schedule(self) -> Schedule | None: ...


def _names(items: Sequence[str] | frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(items)) if items else "none"


def _event_reasons(rule: RuleConditions, facts: EventFacts) -> list[str]:
    reasons: list[str] = []
    if rule.risk_threshold is not None:
        if facts.risk_score is None:
            reasons.append(f"event has no risk score yet (rule needs at least {rule.risk_threshold})")
        elif facts.risk_score < rule.risk_threshold:
            reasons.append(f"risk score {facts.risk_score} is below the threshold {rule.risk_threshold}")
    if rule.camera_ids and facts.camera_id not in rule.camera_ids:
        reasons.append(f"camera '{facts.camera_id}' is not one of: {_names(rule.camera_ids)}")
    if rule.schedule is not None and not rule.schedule.contains(facts.started_at):
        local = rule.schedule.local(facts.started_at)
        reasons.append(
            f"event started {local:%a %Y-%m-%d %H:%M} local time, outside the schedule "
            f"({rule.schedule.describe()})"
        )
    return reasons


def _detection_candidates(
    rule: RuleConditions, detections: Sequence[DetectionFacts]
) -> tuple[list[DetectionFacts], str | None]:
    """Detections satisfying all detection-level conditions, or the first condition that left none.

    Narrowing in steps (type, then confidence, then zone) is the same as testing the three together on
    each detection, and the step that empties the set is the most useful explanation.
    """
    wanted_types = {t.lower() for t in rule.object_types or ()}
    wanted_zones = set(rule.zone_ids or ())
    pool = list(detections)
    if wanted_types:
        pool = [d for d in detections if d.object_type.lower() in wanted_types]
        if not pool:
            seen = {d.object_type for d in detections}
            return [], f"no detection of type {_names(wanted_types)} (the event has: {_names(seen)})"
    what = _names(wanted_types) if wanted_types else "any"
    if rule.min_confidence is not None:
        before = pool
        pool = [d for d in pool if d.confidence >= rule.min_confidence]
        if not pool:
            if not before:
                return [], "the event has no detections"
            best = max(d.confidence for d in before)
            return [], (
                f"no detection ({what}) reached confidence {rule.min_confidence:.2f} (best was {best:.2f})"
            )
    if wanted_zones:
        before = pool
        pool = [d for d in pool if d.zone_ids & wanted_zones]
        if not pool:
            if not before:
                return [], "the event has no detections"
            seen_zones: set[str] = set().union(*(d.zone_ids for d in before))
            qualifier = "" if rule.min_confidence is None else f" at confidence ≥ {rule.min_confidence:.2f}"
            return [], (
                f"no detection ({what}{qualifier}) was in zone {_names(wanted_zones)} "
                f"(they were in: {_names(seen_zones)})"
            )
    return pool, None


def evaluate(rule: RuleConditions, facts: EventFacts) -> RuleMatch:
    """Match one event against one rule; every failing condition is reported, not just the first."""
    reasons = _event_reasons(rule, facts)
    detection_level = bool(rule.object_types) or rule.min_confidence is not None or bool(rule.zone_ids)
    candidates: list[DetectionFacts] = list(facts.detections)
    if detection_level:
        candidates, why_not = _detection_candidates(rule, facts.detections)
        if why_not is not None:
            reasons.append(why_not)
    if reasons:
        return RuleMatch(matched=False, reasons_failed=reasons)
    relevant = set(rule.zone_ids) if rule.zone_ids else None

    def zones_of(detection: DetectionFacts) -> list[str]:
        return sorted(z for z in detection.zone_ids if relevant is None or z in relevant)

    # Candidates are the same objects as in facts.detections; identity finds the top one's position.
    top = max(candidates, key=lambda d: d.confidence, default=None)
    top_index = next((i for i, d in enumerate(facts.detections) if d is top), None)
    top_zones = zones_of(top) if top is not None else []
    return RuleMatch(
        matched=True,
        matched_object_types=sorted({d.object_type for d in candidates}),
        matched_zone_ids=sorted({z for d in candidates for z in zones_of(d)}),
        top_confidence=None if top is None else top.confidence,
        top_object_type=None if top is None else top.object_type,
        top_zone_id=top_zones[0] if top_zones else None,
        top_index=top_index,
    )
