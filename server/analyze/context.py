"""What is analysed: a closed batch of one camera's detections, with the context that gives it meaning.

Plain frozen dataclasses, free of the database: the analyze worker builds them from rows, the
`analysis/preview` endpoint from a request, tests and the scenario set by hand. Every backend (LLM
prompt or rules scorer) sees exactly the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.vocabulary import ZoneType

BaselineStatus = Literal["unknown", "normal", "elevated", "unusual"]


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")


@dataclass(frozen=True)
class ZoneHit:
    """A zone whose polygon holds the detection's bbox bottom-centre.

    `dwell_seconds`: how long this object (its track, `server.pipeline.stationary`) had been in the zone
    without leaving it, up to this detection (0 for an object just arrived or not tracked).
    `loitering_seconds`: the zone's loitering time when it applies to this object's class, else None.
    """

    name: str
    zone_type: ZoneType
    dwell_seconds: float = 0.0
    loitering_seconds: int | None = None

    @property
    def loitering(self) -> bool:
        return self.loitering_seconds is not None and self.dwell_seconds >= self.loitering_seconds

    def __post_init__(self) -> None:
        # Accept the string value as well as the member (a preview's request, a row read as text).
        object.__setattr__(self, "zone_type", ZoneType(self.zone_type))


@dataclass(frozen=True)
class DetectionInfo:
    """One detected object in one image, in pixels of that image (top-left corner + size)."""

    object_type: str
    confidence: float
    detected_at: datetime
    x: int
    y: int
    width: int
    height: int
    image_width: int
    image_height: int
    zones: tuple[ZoneHit, ...] = ()

    def __post_init__(self) -> None:
        _require_aware("detected_at", self.detected_at)
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {self.confidence}")
        if self.image_width <= 0 or self.image_height <= 0:
            raise ValueError(f"image size must be positive, got {self.image_width}x{self.image_height}")
        object.__setattr__(self, "zones", tuple(self.zones))

    @property
    def zone_types(self) -> frozenset[ZoneType]:
        return frozenset(zone.zone_type for zone in self.zones)


@dataclass(frozen=True)
class BaselineComparison:
    """How this batch compares with what this camera usually sees at this hour and day of week.

    `observed_count` and `expected_count` are detections per hour (the trailing hour at the batch's end
    against the slot's learned rate); `anomaly_score` is in 0..1 (1 = far beyond the usual). With too
    few samples the status is "unknown": no history is not the same as a normal history.
    """

    expected_count: float | None
    observed_count: int
    sample_count: int
    anomaly_score: float | None
    unusual_classes: tuple[str, ...] = ()
    status: BaselineStatus = "unknown"

    def __post_init__(self) -> None:
        if self.anomaly_score is not None and not 0.0 <= self.anomaly_score <= 1.0:
            raise ValueError(f"anomaly_score must be within 0..1, got {self.anomaly_score}")
        object.__setattr__(self, "unusual_classes", tuple(self.unusual_classes))


@dataclass(frozen=True)
class BatchContext:
    """A closed batch of one camera, and the context an analyst needs to judge it."""

    camera_id: str
    camera_name: str
    started_at: datetime
    ended_at: datetime
    detections: tuple[DetectionInfo, ...]
    timezone: str = "UTC"
    baseline: BaselineComparison | None = None
    #: Pre-formatted lines about other cameras within the last few minutes, e.g. "Backyard: person 02:11".
    other_cameras_activity: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _require_aware("started_at", self.started_at)
        _require_aware("ended_at", self.ended_at)
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        if not self.detections:
            raise ValueError("a batch needs at least one detection")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {self.timezone!r}") from None
        object.__setattr__(self, "detections", tuple(self.detections))
        object.__setattr__(self, "other_cameras_activity", tuple(self.other_cameras_activity))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """`moment` on the home's wall clock (what "night" and "Tuesday" refer to)."""
        return moment.astimezone(self.tz)
