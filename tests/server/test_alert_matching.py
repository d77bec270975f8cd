"""Rule matching: each condition alone, their AND, per-detection semantics and the "why not" reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from server.alerts.matching import DetectionFacts, EventFacts, evaluate
from server.alerts.rule_spec import AlertRuleSpec

# Monday 2025-01-06 03:00 in Chicago (09:00 UTC).
MONDAY_NIGHT = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
MONDAY_NOON = datetime(2025, 1, 6, 18, 0, tzinfo=UTC)


def rule(**conditions: Any) -> AlertRuleSpec:
    return AlertRuleSpec.model_validate({"name": "test", **conditions})


def det(object_type: str, confidence: float, *zones: str) -> DetectionFacts:
    return DetectionFacts(object_type=object_type, confidence=confidence, zone_ids=frozenset(zones))


def event(
    *detections: DetectionFacts, camera: str = "front", risk: int | None = 70, at: datetime = MONDAY_NIGHT
) -> EventFacts:
    return EventFacts(event_id=1, camera_id=camera, risk_score=risk, started_at=at, detections=detections)


PERSON_AT_DOOR = det("person", 0.92, "door")


def test_rule_without_conditions_matches_everything() -> None:
    result = evaluate(rule(), event(PERSON_AT_DOOR, det("car", 0.6)))
    assert result.matched and result.reasons_failed == []
    assert result.matched_object_types == ["car", "person"]
    assert result.matched_zone_ids == ["door"]
    assert result.top_confidence == 0.92
    assert evaluate(rule(), event()).matched  # even an event with no detections
    assert evaluate(rule(object_types=[], camera_ids=[], zone_ids=[]), event()).matched  # [] means any


# --- each condition alone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "matched", "reason"),
    [
        (60, True, None),
        (59, False, "risk score 59 is below the threshold 60"),
        (None, False, "event has no risk score yet (rule needs at least 60)"),
        (100, True, None),
    ],
)
def test_risk_threshold(risk: int | None, matched: bool, reason: str | None) -> None:
    result = evaluate(rule(risk_threshold=60), event(PERSON_AT_DOOR, risk=risk))
    assert result.matched is matched
    assert result.reasons_failed == ([] if reason is None else [reason])


def test_risk_threshold_zero_still_needs_a_score() -> None:
    assert evaluate(rule(risk_threshold=0), event(risk=0)).matched
    assert not evaluate(rule(risk_threshold=0), event(risk=None)).matched


def test_camera_ids() -> None:
    r = rule(camera_ids=["front", "side"])
    assert evaluate(r, event(camera="side")).matched
    result = evaluate(r, event(camera="back"))
    assert result.reasons_failed == ["camera 'back' is not one of: front, side"]


def test_object_types() -> None:
    r = rule(object_types=["person", "dog"])
    assert evaluate(r, event(det("Person", 0.5))).matched  # detector casing does not matter
    result = evaluate(r, event(det("car", 0.9), det("cat", 0.8)))
    assert result.reasons_failed == ["no detection of type dog, person (the event has: car, cat)"]
    assert evaluate(r, event()).reasons_failed == ["no detection of type dog, person (the event has: none)"]


def test_min_confidence() -> None:
    r = rule(min_confidence=0.7)
    assert evaluate(r, event(det("cat", 0.3), det("car", 0.7))).top_confidence == 0.7
    result = evaluate(r, event(det("cat", 0.3), det("car", 0.65)))
    assert result.reasons_failed == ["no detection (any) reached confidence 0.70 (best was 0.65)"]
    assert evaluate(r, event()).reasons_failed == ["the event has no detections"]


def test_zone_ids() -> None:
    r = rule(zone_ids=["door", "porch"])
    result = evaluate(r, event(det("person", 0.5, "porch", "lawn")))
    assert result.matched and result.matched_zone_ids == ["porch"]  # only the rule's zones are reported
    result = evaluate(r, event(det("person", 0.5, "lawn"), det("car", 0.9)))
    assert result.reasons_failed == ["no detection (any) was in zone door, porch (they were in: lawn)"]
    assert evaluate(r, event()).reasons_failed == ["the event has no detections"]


def test_schedule_is_evaluated_when_the_event_started() -> None:
    r = rule(
        schedule={"days": ["sun"], "start_time": "22:00", "end_time": "06:00", "timezone": "America/Chicago"}
    )
    # Monday 03:00 Chicago is Sunday night: matches, whatever the clock says now.
    assert evaluate(r, event(at=MONDAY_NIGHT)).matched
    result = evaluate(r, event(at=MONDAY_NOON))
    assert result.reasons_failed == [
        "event started Mon 2025-01-06 12:00 local time, "
        "outside the schedule (sun 22:00-06:00 America/Chicago)"
    ]


# --- AND combination and per-detection semantics -----------------------------------------------------

NIGHT_PERSON_AT_DOOR = {
    "risk_threshold": 50,
    "camera_ids": ["front"],
    "object_types": ["person"],
    "min_confidence": 0.7,
    "zone_ids": ["door"],
    "schedule": {"days": ["sun"], "start_time": "22:00", "end_time": "06:00", "timezone": "America/Chicago"},
}


def test_all_conditions_met_matches_and_describes_the_winning_detections() -> None:
    result = evaluate(
        rule(**NIGHT_PERSON_AT_DOOR),
        event(det("person", 0.75, "door"), det("person", 0.95, "door", "porch"), det("dog", 0.99, "door")),
    )
    assert result.matched
    assert result.matched_object_types == ["person"]
    assert result.matched_zone_ids == ["door"]
    assert result.top_confidence == 0.95  # the dog's 0.99 does not count: wrong type
    assert (result.top_object_type, result.top_zone_id) == ("person", "door")


def test_top_fields_feed_the_dedup_key_and_thumbnail() -> None:
    # The most confident satisfying detection; its first zone (sorted) that the rule cares about.
    result = evaluate(rule(), event(det("car", 0.6, "drive"), det("person", 0.9, "porch", "door")))
    assert (result.top_object_type, result.top_zone_id, result.top_confidence) == ("person", "door", 0.9)
    assert result.top_index == 1
    result = evaluate(rule(zone_ids=["porch"]), event(det("person", 0.9, "porch", "door")))
    assert result.top_zone_id == "porch"
    # A more confident detection that fails the rule's conditions is never the top one.
    result = evaluate(
        rule(object_types=["car"]), event(det("person", 0.99), det("car", 0.5), det("car", 0.7))
    )
    assert (result.top_object_type, result.top_zone_id, result.top_index) == ("car", None, 2)
    result = evaluate(rule(), event())
    assert (result.top_object_type, result.top_zone_id, result.top_index) == (None, None, None)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"risk": 10}, "risk score 10 is below the threshold 50"),
        ({"camera": "back"}, "camera 'back' is not one of: front"),
        ({"at": MONDAY_NOON}, "outside the schedule"),
    ],
)
def test_any_single_failing_condition_blocks_the_match(override: dict[str, Any], reason: str) -> None:
    result = evaluate(rule(**NIGHT_PERSON_AT_DOOR), event(PERSON_AT_DOOR, **override))
    assert not result.matched
    assert len(result.reasons_failed) == 1 and reason in result.reasons_failed[0]
    assert result.matched_object_types == [] and result.top_confidence is None


def test_every_failing_condition_is_reported() -> None:
    result = evaluate(
        rule(**NIGHT_PERSON_AT_DOOR), event(det("cat", 0.4), camera="back", risk=None, at=MONDAY_NOON)
    )
    assert len(result.reasons_failed) == 4
    assert result.reasons_failed[0].startswith("event has no risk score")
    assert result.reasons_failed[1].startswith("camera 'back'")
    assert result.reasons_failed[2].startswith("event started Mon")
    assert result.reasons_failed[3] == "no detection of type person (the event has: cat)"


def test_conditions_must_hold_for_the_same_detection() -> None:
    """Type, confidence and zone each met by *some* detection, but by no single one: no match."""
    r = rule(object_types=["person"], min_confidence=0.7, zone_ids=["door"])
    scattered = event(
        det("person", 0.95, "lawn"),  # right type and confidence, wrong zone
        det("person", 0.40, "door"),  # right type and zone, too unsure
        det("cat", 0.99, "door"),  # right zone and confidence, wrong type
    )
    result = evaluate(r, scattered)
    assert not result.matched
    assert result.reasons_failed == [
        "no detection (person at confidence ≥ 0.70) was in zone door (they were in: lawn)"
    ]
    assert evaluate(r, event(*scattered.detections, det("person", 0.71, "door"))).matched


def test_confidence_reason_names_the_types_it_considered() -> None:
    result = evaluate(
        rule(object_types=["person"], min_confidence=0.8), event(det("person", 0.5), det("car", 0.99))
    )
    assert result.reasons_failed == ["no detection (person) reached confidence 0.80 (best was 0.50)"]


def test_zone_reason_without_confidence_condition() -> None:
    result = evaluate(
        rule(object_types=["car"], zone_ids=["drive"]), event(det("car", 0.5), det("person", 0.9, "drive"))
    )
    assert result.reasons_failed == ["no detection (car) was in zone drive (they were in: none)"]


def test_disabled_rules_are_still_evaluated_for_testing() -> None:
    assert evaluate(rule(enabled=False), event()).matched
