"""Zones: the spec the API validates on create/update, and which zones a detection stands in.

A rule's `zone_ids` hold when one of its detections is in one of the zones. A detection is in a zone when
the bottom-centre of its box, normalised by the real size of the image it was found in, lies inside
(or on the edge of) the zone's polygon — see `geometry.bottom_centre` for why the bottom-centre.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from server.alerts.errors import invalid
from server.alerts.geometry import EPS, Points, bottom_centre, point_in_polygon, validate_polygon
from server.alerts.object_filters import ClassName, FilterBox, ZoneObjectFilters, rejection
from server.alerts.partial import partial_model
from server.alerts.polygon import Polygon
from server.vocabulary import ZoneShape, ZoneType

__all__ = [
    "DetectionBox",
    "Polygon",
    "ZoneLike",
    "ZoneShape",
    "ZoneSpec",
    "ZoneType",
    "ZoneUpdate",
    "bottom_centre",
    "point_in_polygon",
    "validate_polygon",
    "zones_hit",
]


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _check_colour(value: str) -> str:
    if len(value) != 7 or value[0] != "#" or any(c not in "0123456789abcdefABCDEF" for c in value[1:]):
        raise invalid("color", f"color '{value}' must be '#RRGGBB' (e.g. '#3B82F6')")
    return value.upper()


Colour = Annotated[
    str, AfterValidator(_check_colour), WithJsonSchema({"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$"})
]


def _is_axis_aligned_rectangle(points: Points) -> bool:
    """Four vertices whose every edge is horizontal or vertical (a simple polygon is then a rectangle)."""
    if len(points) != 4:
        return False
    for i, a in enumerate(points):
        b = points[(i + 1) % 4]
        if abs(a[0] - b[0]) > EPS and abs(a[1] - b[1]) > EPS:
            return False
    return True


class ZoneSpec(BaseModel):
    """What a client may set on a zone; the `zones` row adds timestamps."""

    model_config = ConfigDict(extra="forbid")

    id: Slug | None = Field(
        default=None, description="Stable slug (a-z, 0-9, '_', '-'); generated from the name when absent."
    )
    camera_id: Identifier
    name: DisplayName
    zone_type: ZoneType = ZoneType.OTHER
    coordinates: Polygon
    shape: ZoneShape = ZoneShape.RECTANGLE
    color: Colour = "#3B82F6"
    enabled: bool = True
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1, description="Higher first.")
    loitering_seconds: int | None = Field(
        default=None,
        ge=1,
        le=86_400,
        description="Presence in the zone beyond this many seconds is loitering (a risk factor); null: none.",
    )
    loitering_classes: list[ClassName] | None = Field(
        default=None, max_length=80, description='Classes whose dwell counts; null: ["person"].'
    )
    object_filters: ZoneObjectFilters | None = Field(
        default=None, description="Which detections count as in the zone (per class: min area, score, ratio)."
    )

    @model_validator(mode="after")
    def _rectangle_is_rectangular(self) -> ZoneSpec:
        points = tuple(self.coordinates)
        if self.shape is ZoneShape.RECTANGLE and not _is_axis_aligned_rectangle(points):
            raise invalid(
                "rectangle",
                "a 'rectangle' zone needs exactly 4 points with horizontal and vertical edges; "
                "use shape 'polygon' for any other outline",
            )
        return self


ZoneUpdate = partial_model(ZoneSpec, "ZoneUpdate", exclude=("id", "camera_id"))
"""PATCH body for a zone: any subset of the fields; a zone never changes id or camera."""


class DetectionBox(FilterBox, Protocol):
    """The parts of a detection zone matching needs (the `detections` row satisfies it): its box, and
    its class and confidence for the zone's own object filters."""

    @property
    def camera_id(self) -> str: ...


class ZoneLike(Protocol):
    """The parts of a zone matching needs (both the `zones` row and `ZoneSpec` with an id satisfy it)."""

    @property
    def id(self) -> str | None: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def coordinates(self) -> Sequence[Sequence[float]]: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def priority(self) -> int: ...


def _admits(zone: ZoneLike, detection: DetectionBox, image_size: tuple[int, int]) -> bool:
    """The zone's own object filters (if any) let the detection count as in it."""
    raw = getattr(zone, "object_filters", None)
    if not raw:
        return True
    filters = raw if isinstance(raw, ZoneObjectFilters) else ZoneObjectFilters.model_validate(raw)
    return rejection(filters, detection, image_size) is None


def zones_hit(detection: DetectionBox, image_size: tuple[int, int], zones: Iterable[ZoneLike]) -> list[str]:
    """Ids of the enabled zones of the detection's camera that contain its bottom-centre.

    `image_size` is (width, height) of the image (or video frame) the box was measured on. A detection
    without a box is in no zone, nor one the zone's object filters reject (too small, too unsure). Ordered by zone priority (highest first), then id, so the first entry
    is the most important zone, stable across runs.
    """
    left, top = detection.bbox_x, detection.bbox_y
    width, height = detection.bbox_width, detection.bbox_height
    if left is None or top is None or width is None or height is None:
        return []
    x, y = bottom_centre(left, top, width, height, image_size[0], image_size[1])
    hits = [
        zone
        for zone in zones
        if zone.enabled
        and zone.id is not None
        and zone.camera_id == detection.camera_id
        and point_in_polygon(x, y, zone.coordinates)
        and _admits(zone, detection, image_size)
    ]
    hits.sort(key=lambda zone: (-zone.priority, zone.id or ""))
    return [zone.id for zone in hits if zone.id is not None]
