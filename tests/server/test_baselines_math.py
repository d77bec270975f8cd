"""Baselines measure rates (not a counter whose "average" converges to 1), and anomalies mean something."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.analyze.baselines import (
    ALPHA_MIN,
    MIN_SAMPLES,
    RateStats,
    alpha,
    anomaly,
    count_tail,
    hour_samples,
    poisson_tail,
    update_class_rates,
    update_rate,
)


def feed(counts: list[int] | np.ndarray, alpha_min: float = ALPHA_MIN) -> RateStats:
    stats = RateStats()
    for count in counts:
        stats = update_rate(stats, int(count), alpha_min)
    return stats


def ewma_sd(rate: float, weight: float = ALPHA_MIN) -> float:
    """Stationary standard deviation of an EWMA of Poisson(rate) samples with weight `weight`."""
    return math.sqrt(rate * weight / (2 - weight))


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.2, 60.0), seed=st.integers(0, 2**32 - 1))
def test_ewma_converges_to_the_true_rate(rate: float, seed: int) -> None:
    counts = np.random.default_rng(seed).poisson(rate, size=3000)
    stats = feed(counts)
    assert stats.sample_count == 3000
    assert abs(stats.avg - rate) <= 5 * ewma_sd(rate) + 0.02
    # The same traffic with a vanishing floor is the plain mean: tight around the rate.
    exact = feed(counts, alpha_min=0.0)
    assert abs(exact.avg - rate) <= 5 * math.sqrt(rate / 3000) + 1e-9


@pytest.mark.parametrize("rate", [0.0, 3.0, 7.0, 25.0])
def test_rates_do_not_converge_to_one(rate: float) -> None:
    """A +1-per-observation counter reads ~1 in every slot whatever the traffic; a rate does not."""
    stats = feed(np.random.default_rng(7).poisson(rate, size=500))
    assert stats.avg == pytest.approx(rate, abs=5 * ewma_sd(rate) + 0.02)


@given(st.lists(st.integers(0, 500), min_size=1, max_size=int(1 / ALPHA_MIN)))
def test_early_samples_are_averaged_exactly(counts: list[int]) -> None:
    stats = feed(counts)
    assert stats.avg == pytest.approx(sum(counts) / len(counts), rel=1e-12, abs=1e-12)


def test_later_samples_track_drift() -> None:
    stats = feed([2] * 200 + [10] * 60)
    assert stats.avg == pytest.approx(10, abs=0.05)  # a weekly-only mean would still say ~3.8
    assert alpha(1) == 1.0 and alpha(4) == 0.25 and alpha(50) == ALPHA_MIN
    with pytest.raises(ValueError):
        update_rate(RateStats(), -1)


@settings(max_examples=15, deadline=None)
@given(
    rates=st.dictionaries(st.sampled_from(["person", "car", "dog", "cat"]), st.floats(0.05, 20.0), min_size=1),
    late=st.floats(0.5, 10.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_class_rates_converge_including_late_and_absent_classes(
    rates: dict[str, float], late: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    stats: dict[str, RateStats] = {}
    hours = 2000
    for hour in range(hours):
        counts = {name: int(rng.poisson(rate)) for name, rate in rates.items()}
        if hour >= 700:
            counts["truck"] = int(rng.poisson(late))  # a class that only starts later (a new route)
        stats = update_class_rates(stats, counts, hours_before=hour)
    for name, rate in {**rates, "truck": late}.items():
        assert stats[name].sample_count == hours  # every hour counted, absences included
        assert abs(stats[name].avg - rate) <= 5 * ewma_sd(rate) + 0.02, name


def test_new_class_starts_as_if_absent_before() -> None:
    stats = {"car": RateStats(2.0, 9)}
    updated = update_class_rates(stats, {"car": 2, "person": 5}, hours_before=9)
    assert updated["person"] == RateStats(avg=0.5, sample_count=10)  # 5 over 10 hours, not 5 per hour
    assert updated["car"].sample_count == 10
    assert update_class_rates(updated, {}, hours_before=10)["person"].avg < 0.5  # absences pull it down
    # Hours in which no class at all was seen still count for a class that shows up later.
    assert update_class_rates({}, {"dog": 4}, hours_before=3)["dog"] == RateStats(avg=1.0, sample_count=4)
    with pytest.raises(ValueError):
        update_class_rates({}, {}, hours_before=-1)


@settings(max_examples=200)
@given(k=st.integers(0, 80), rate=st.floats(0.01, 40.0))
def test_poisson_tail_matches_direct_summation(k: int, rate: float) -> None:
    def pmf(i: int) -> float:
        return math.exp(-rate + i * math.log(rate) - math.lgamma(i + 1))

    direct = math.fsum(pmf(i) for i in range(k, k + 600))
    assert poisson_tail(k, rate) == pytest.approx(direct, rel=1e-9, abs=1e-15)
    assert poisson_tail(k, rate) - poisson_tail(k + 1, rate) == pytest.approx(pmf(k), rel=1e-6, abs=1e-15)


def test_poisson_tail_edges() -> None:
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 1.0) == pytest.approx(1 - math.exp(-1))
    assert poisson_tail(1, 0.0) == 0.0
    assert 0.0 < poisson_tail(60, 2.0) < 1e-50  # far tail does not vanish into 1 - 1
    assert poisson_tail(900, 1000.0) == pytest.approx(0.9992, abs=1e-3)  # large rates do not underflow


def test_unknown_until_enough_samples() -> None:
    for samples in range(MIN_SAMPLES):
        result = anomaly(50, RateStats(1.0, samples) if samples else None, {"person": 50})
        assert result.status == "unknown"
        assert result.anomaly_score is None
        assert result.unusual_classes == ()
    assert anomaly(50, RateStats(1.0, MIN_SAMPLES)).status != "unknown"


def test_ordinary_hour_is_normal_and_first_person_at_night_is_unusual() -> None:
    day = anomaly(24, RateStats(20.0, 30), {"person": 10, "car": 14},
                  {"person": RateStats(9.0, 30), "car": RateStats(11.0, 30)})
    assert day.status == "normal"
    assert day.anomaly_score is not None and day.anomaly_score < 0.9
    assert day.unusual_classes == ()

    night = anomaly(6, RateStats(0.4, 30), {"person": 6}, {"cat": RateStats(0.4, 30)})
    assert night.status == "unusual"
    # With no class rows at all, the hour count tells how long "never a person" has held.
    assert anomaly(6, RateStats(0.4, 30), {"person": 6}, {}, class_hours=200).unusual_classes == ("person",)
    assert anomaly(6, RateStats(0.4, 30), {"person": 6}, {}, class_hours=2).unusual_classes == ()
    assert night.unusual_classes == ("person",)
    assert night.anomaly_score is not None and night.anomaly_score > 0.99
    assert night.expected_count == 0.4 and night.observed_count == 6 and night.sample_count == 30


def test_overdispersion_keeps_a_busy_visit_from_being_unusual() -> None:
    # One delivery adds ~20 snapshots on top of a busy afternoon's 30: elevated at most, not unusual.
    assert anomaly(50, RateStats(30.0, 30)).status in ("normal", "elevated")
    assert count_tail(0, RateStats(0.0, 30)) == 1.0


@settings(max_examples=100)
@given(rate=st.floats(0.0, 50.0), samples=st.integers(MIN_SAMPLES, 500), count=st.integers(0, 200))
def test_anomaly_score_grows_with_the_count(rate: float, samples: int, count: int) -> None:
    lower = anomaly(count, RateStats(rate, samples)).anomaly_score
    higher = anomaly(count + 5, RateStats(rate, samples)).anomaly_score
    assert lower is not None and higher is not None
    assert 0.0 <= lower <= higher <= 1.0


def test_hour_samples_include_empty_hours() -> None:
    tz = ZoneInfo("Europe/Berlin")
    since = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)  # Monday 11:30 in Berlin
    until = datetime(2025, 6, 2, 14, 10, tzinfo=UTC)
    detections = [(since + timedelta(minutes=40), "person"), (since + timedelta(minutes=45), "car"),
                  (since + timedelta(hours=3, minutes=35), "person"), (until, "person")]
    samples = hour_samples(since, until, detections, tz)
    assert [sample.hour for sample in samples] == [12, 13, 14, 15]  # whole hours 10:00..14:00 UTC
    assert [sample.total for sample in samples] == [2, 0, 0, 1]
    assert samples[0].by_class == {"person": 1, "car": 1}
    assert {sample.day_of_week for sample in samples} == {0}


def test_hour_samples_across_dst_changes() -> None:
    tz = ZoneInfo("America/Chicago")
    fall = hour_samples(datetime(2025, 11, 2, 5, tzinfo=UTC), datetime(2025, 11, 3, 6, tzinfo=UTC), [], tz)
    assert len(fall) == 25  # the local day of the fall-back change has 25 hours
    assert [sample.hour for sample in fall].count(1) == 2
    spring = hour_samples(datetime(2025, 3, 9, 6, tzinfo=UTC), datetime(2025, 3, 10, 5, tzinfo=UTC), [], tz)
    assert len(spring) == 23 and 2 not in [sample.hour for sample in spring]
    with pytest.raises(ValueError):
        hour_samples(datetime(2025, 1, 1), datetime(2025, 1, 2, tzinfo=UTC), [], tz)
