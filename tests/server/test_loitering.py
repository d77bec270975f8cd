"""Loitering in the rules scorer and the prompt: a zone's loitering time judged on the object's dwell.

The pipeline test (test_events_that_mean_something.py) shows dwell measured from real tracks; here the
scorer's side: the stated factor, its weight after dark and by day, and nothing below the limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.analyze.backends.rules import score_batch
from server.analyze.context import BatchContext, DetectionInfo, ZoneHit
from server.analyze.dwell import dwell_per_zone, max_gap
from server.analyze.prompt import detection_line
from server.analyze.risk import risk_level
from server.models import Detection


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


def _at_the_door(row_id: int, at: datetime) -> Detection:
    return Detection(
        id=row_id, camera_id="front_door", object_type="person", detected_at=at, track_id=7,
        bbox_x=220, bbox_y=263, bbox_width=79, bbox_height=276,
    )  # fmt: skip


def test_two_visits_minutes_apart_are_two_stays() -> None:
    """A review's finding, tried: a track matches by class and place for an hour, so the courier at
    22:00 and a neighbour at 22:08 on the same spot shared one, and the walk back over it ignored the
    eight minutes nobody was seen: 'loitering at Door (490 s)', +45 after dark, an alert."""
    first = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    second = first + timedelta(minutes=8)
    times = [visit + timedelta(seconds=s) for visit in (first, second) for s in (0, 5, 10)]
    rows = [_at_the_door(n, at) for n, at in enumerate(times, start=1)]
    earlier = sorted(rows, key=lambda row: row.detected_at, reverse=True)  # as history() gives them
    batch = rows[3:]
    gap = max_gap(30)
    dwell = dwell_per_zone(batch, [["door"]] * len(batch), earlier, lambda _row: ["door"], gap)
    assert [d["door"] for d in dwell] == [0, 5, 10]
    # Seen every 50 s (a camera that uploads on motion, someone standing still): one stay.
    still = [_at_the_door(n, first + timedelta(seconds=50 * n)) for n in range(6)]
    [longest] = dwell_per_zone(still[-1:], [["door"]], still[::-1], lambda _row: ["door"], gap)
    assert longest["door"] == 250
