"""The rules scorer and the prompt on what a batch adds: an uncertain sighting, other cameras' activity.

An extra, less certain detection must not make an event look safer; the model must be told when the
other cameras saw what they saw.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.analyze.backends.rules import score_batch
from server.analyze.context import BaselineComparison, BatchContext, DetectionInfo, ZoneHit
from server.analyze.prompt import build_prompt

# --------------------------------------------------------------------------------------------------
# Rules scorer: an extra, less certain detection must not lower the score of a confident one.

NIGHT = datetime(2025, 3, 4, 2, 14, 7, tzinfo=UTC)  # 02:14 UTC: night
UNUSUAL = BaselineComparison(
    expected_count=1.0, observed_count=12, sample_count=20, anomaly_score=0.9, status="unusual"
)


def _seen(zones: tuple[ZoneHit, ...], confidence: float, offset: float = 0.0) -> DetectionInfo:
    return DetectionInfo(
        object_type="person",
        confidence=confidence,
        detected_at=NIGHT + timedelta(seconds=offset),
        x=10,
        y=20,
        width=30,
        height=90,
        image_width=640,
        image_height=480,
        zones=zones,
    )


def _batch(*detections: DetectionInfo, baseline: BaselineComparison | None = UNUSUAL) -> BatchContext:
    ordered = sorted(detections, key=lambda item: item.detected_at)
    return BatchContext(
        camera_id="back",
        camera_name="Back",
        started_at=ordered[0].detected_at,
        ended_at=ordered[-1].detected_at,
        detections=tuple(ordered),
        baseline=baseline,
    )


DRIVEWAY = (ZoneHit("Driveway", "driveway"),)


def test_an_uncertain_extra_sighting_does_not_lower_a_confident_persons_score() -> None:
    """A person seen with 0.95 (no zone) at 02:14 in an hour unusual for the camera scores 60 (high).
    The same batch with one more, uncertain (0.55) sighting of a person on the driveway scored 55
    (medium): the uncertain detection became the "top" one (50 points against 45) and the x0.85 for
    low confidence then shrank the *whole* score, the confident sighting and the baseline included.
    More evidence made the event less risky and dropped it below a "high or above" alert rule."""
    confident = _seen((), 0.95)
    alone = score_batch(_batch(confident)).risk_score
    with_more = score_batch(_batch(confident, _seen(DRIVEWAY, 0.55, offset=1.0))).risk_score
    assert alone >= 60
    assert with_more >= alone, f"adding an uncertain detection lowered the score: {alone} -> {with_more}"


def test_the_low_confidence_factor_only_discounts_what_the_uncertain_detection_adds() -> None:
    """No baseline (neutral): confident person 45, plus an uncertain driveway sighting 43 — a 2-point
    drop (the suspected 1-3 points); and across the sweep of that sighting's confidence, never below
    the confident person alone."""
    confident = _seen((), 0.95)
    alone = score_batch(_batch(confident, baseline=None)).risk_score
    scores = [
        score_batch(_batch(confident, _seen(DRIVEWAY, c / 100, offset=1.0), baseline=None)).risk_score
        for c in range(30, 96, 5)
    ]
    assert scores == sorted(scores), scores
    assert min(scores) >= alone, (alone, scores)


# --------------------------------------------------------------------------------------------------
# Prompt: the other cameras' activity lines (built by the worker) reach the model whole.


def test_other_cameras_activity_keeps_its_time_in_the_prompt() -> None:
    """The worker writes `<camera>: <kinds> (last HH:MM:SS)`; the prompt passed each line through
    `quoted`, which cuts a *name* at 64 characters, so an ordinary busy line lost its time (and
    classes) — the model was told of activity without when."""
    line = "Driveway camera: bicycle ×2, car ×3, dog, person ×4, truck (last 02:11:40)"
    ctx = BatchContext(
        camera_id="back",
        camera_name="Back",
        started_at=NIGHT,
        ended_at=NIGHT,
        detections=(_seen((), 0.9),),
        other_cameras_activity=(line,),
    )
    user = build_prompt(ctx).user
    assert "(last 02:11:40)" in user, user.splitlines()[-1]
