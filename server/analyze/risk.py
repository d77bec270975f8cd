"""Risk bands: the one definition used by the analyzer, the API, alert rules and Home Assistant.

The bands are defined once, here, so a level can never disagree with its score at the edges: the level
is never stored on its own authority, it is always `risk_level(score)`.
"""

from __future__ import annotations

import math
from enum import StrEnum

MIN_SCORE = 0
MAX_SCORE = 100


class RiskLevel(StrEnum):
    """Severity band of a 0–100 risk score."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: (level, lowest score, highest score), contiguous and covering 0..100 exactly once.
RISK_BANDS: tuple[tuple[RiskLevel, int, int], ...] = (
    (RiskLevel.LOW, 0, 29),
    (RiskLevel.MEDIUM, 30, 59),
    (RiskLevel.HIGH, 60, 84),
    (RiskLevel.CRITICAL, 85, 100),
)


def validate_score(score: object) -> int:
    """Return `score` if it is an integer in 0..100; raise ValueError naming the problem otherwise.

    Booleans are refused although Python counts them as ints: `True` is no risk score.
    """
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"risk score must be an integer, got {type(score).__name__} {score!r}")
    if not MIN_SCORE <= score <= MAX_SCORE:
        raise ValueError(f"risk score must be between {MIN_SCORE} and {MAX_SCORE}, got {score}")
    return score


def clamp_score(value: float) -> int:
    """Round a computed score (the rules scorer adds and multiplies) into 0..100."""
    if math.isnan(value):
        raise ValueError("risk score is NaN")
    return max(MIN_SCORE, min(MAX_SCORE, int(math.floor(value + 0.5))))


def risk_level(score: int) -> RiskLevel:
    """The band of a valid score: low 0–29, medium 30–59, high 60–84, critical 85–100."""
    valid = validate_score(score)
    for level, low, high in RISK_BANDS:
        if low <= valid <= high:
            return level
    raise AssertionError("RISK_BANDS does not cover 0..100")  # pragma: no cover - checked by tests


def band_bounds(level: RiskLevel | str) -> tuple[int, int]:
    """Lowest and highest score of a band, e.g. for an alert rule's "high or above" threshold."""
    wanted = RiskLevel(level)
    for candidate, low, high in RISK_BANDS:
        if candidate is wanted:
            return low, high
    raise AssertionError(f"no band for {wanted}")  # pragma: no cover
