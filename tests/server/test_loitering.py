"""Loitering in the rules scorer and the prompt: a zone's loitering time judged on the object's dwell.

The pipeline test (test_events_that_mean_something.py) shows dwell measured from real tracks; here the
scorer's side: the stated factor, its weight after dark and by day, and nothing below the limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.analyze.backends.rules import score_batch
from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.prompt import detection_line
from server.analyze.risk import risk_level


def _batch(at: datetime, dwell: float, limit: int | None = 60, zone_type: str = "entry_point") -> BatchContext:
    door = ZoneHit("Door", zone_type, dwell_seconds=dwell, loitering_seconds=limit)  # type: ignore[arg-type]
    detection = DetectionInfo("person", 0.85, at, 220, 263, 79, 276, 768, 576, zones=(door,))
    return BatchContext("door", "Front door", at, at, (detection,), timezone="UTC")


def test_a_person_beyond_the_loitering_time_after_dark_is_high_with_the_factor() -> None:
    for hour in (21, 23, 3):
        at = datetime(2026, 12, 3, hour, 30, tzinfo=UTC)
        loitering, passing = score_batch(_batch(at, 90)), score_batch(_batch(at, 0))
        assert "loitering at Door (90 s)" in loitering.risk_factors, loitering
        assert risk_level(loitering.risk_score) in ("high", "critical"), loitering.reasoning
        assert not any("loitering" in factor for factor in passing.risk_factors)
        assert loitering.risk_score > passing.risk_score
    evening = score_batch(_batch(datetime(2026, 12, 3, 21, 30, tzinfo=UTC), 0))
    assert risk_level(evening.risk_score) == "low", evening.reasoning


def test_by_day_loitering_raises_less_and_only_beyond_the_limit() -> None:
    at = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    below, at_limit = score_batch(_batch(at, 59)), score_batch(_batch(at, 60))
    assert not any("loitering" in factor for factor in below.risk_factors)
    assert "loitering at Door (60 s)" in at_limit.risk_factors
    assert risk_level(at_limit.risk_score) == "medium", at_limit.reasoning
    unjudged = score_batch(_batch(at, 600, limit=None))  # a zone without a loitering time judges no dwell
    assert not any("loitering" in factor for factor in unjudged.risk_factors)


def test_the_prompt_shows_dwell_and_loitering() -> None:
    ctx = _batch(datetime(2026, 12, 3, 23, 30, tzinfo=UTC), 95)
    line = detection_line(ctx, ctx.detections[0])
    assert line.endswith('in zone "Door" (entry_point, there 95 s, loitering (limit 60 s))'), line
    short = _batch(datetime(2026, 12, 3, 23, 30, tzinfo=UTC) + timedelta(seconds=1), 0)
    assert detection_line(short, short.detections[0]).endswith('in zone "Door" (entry_point)')
