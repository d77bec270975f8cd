"""Object filters and masks: which detections a camera keeps, and which count as being in a zone.

A camera sees things that are never worth an event: a waving tree read as a person at 0.4, a plant pot
read as a dog, a road beyond the fence. Filters say what a real object of a class looks like on this
camera (smallest box area as a share of the frame, lowest score, width/height ratio bounds); masks
are polygons where nothing counts. The camera's filters and masks drop detections before they are
stored (like the detector's own confidence cut); a zone's filters only decide whether a detection counts
as being in that zone.

Validated like zones (`server.alerts.zones`): masks are zone polygons (`server.alerts.polygon`),
normalised 0–1, and a detection is "in" a mask when the bottom-centre of its box is, exactly as for
zones — the point where an object stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.alerts.errors import invalid
from server.alerts.geometry import bottom_centre, point_in_polygon
from server.alerts.polygon import Polygon

#: Most masks per camera (each is tested per detection; a handful is what a view needs).
MAX_MASKS = 16
#: Most classes with their own filter.
MAX_CLASSES = 80
#: The key of `classes` that applies to every class without its own entry.
ANY_CLASS = "*"

ClassName = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)]


class ClassFilter(BaseModel):
    """What a real object of one class looks like on this camera; an unset bound does not filter."""

    model_config = ConfigDict(extra="forbid")

    min_area: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Smallest box area, as a share of the frame (0.01 = 1 %)."
    )
    min_score: float | None = Field(default=None, ge=0.0, le=1.0, description="Lowest detector confidence.")
    min_ratio: float | None = Field(default=None, gt=0.0, le=100.0, description="Smallest width / height.")
    max_ratio: float | None = Field(default=None, gt=0.0, le=100.0, description="Largest width / height.")

    @model_validator(mode="after")
    def _ratio_bounds(self) -> ClassFilter:
        if self.min_ratio is not None and self.max_ratio is not None and self.min_ratio > self.max_ratio:
            raise invalid("ratio_bounds", f"min_ratio {self.min_ratio} is above max_ratio {self.max_ratio}")
        return self

    def rejects(self, score: float, area: float, ratio: float) -> str | None:
        """Why a box of this class fails (None when it passes)."""
        if self.min_score is not None and score < self.min_score:
            return "min_score"
        if self.min_area is not None and area < self.min_area:
            return "min_area"
        if self.min_ratio is not None and ratio < self.min_ratio:
            return "min_ratio"
        if self.max_ratio is not None and ratio > self.max_ratio:
            return "max_ratio"
        return None


class ObjectFilters(BaseModel):
    """A camera's (or zone's) filters: per class (`"*"` for every other class) and mask polygons."""

    model_config = ConfigDict(extra="forbid")

    classes: dict[ClassName, ClassFilter] = Field(
        default_factory=dict,
        max_length=MAX_CLASSES,
        description='Filters by class name ("person", "car"); "*" applies to classes without their own.',
    )
    masks: list[Polygon] = Field(
        default_factory=list,
        max_length=MAX_MASKS,
        description="Polygons ([[x, y], ...] fractions of the image) where detections are ignored.",
    )

    @property
    def empty(self) -> bool:
        return not self.classes and not self.masks

    def for_class(self, object_type: str) -> ClassFilter | None:
        return self.classes.get(object_type.lower()) or self.classes.get(ANY_CLASS)


class ZoneObjectFilters(ObjectFilters):
    """A zone's filters: per class only (a zone is itself a region; a mask inside it would be another)."""

    @model_validator(mode="after")
    def _no_masks(self) -> ZoneObjectFilters:
        if self.masks:
            raise invalid("zone_masks", "a zone has no masks: draw the zone around what counts instead")
        return self


class BoxFields(Protocol):
    """A detection's box in pixels (the `detections` row's columns); zones and filters read it."""

    @property
    def bbox_x(self) -> int | None: ...
    @property
    def bbox_y(self) -> int | None: ...
    @property
    def bbox_width(self) -> int | None: ...
    @property
    def bbox_height(self) -> int | None: ...


class FilterBox(BoxFields, Protocol):
    """The parts of a detection the filters read (a `detections` row satisfies it)."""

    @property
    def object_type(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...


def rejection(filters: ObjectFilters, box: FilterBox, image_size: tuple[int, int]) -> str | None:
    """Why `filters` drop the detection ("mask", "min_score", ...), or None when it passes.

    A row without an object or a box has nothing to filter and passes.
    """
    x, y, width, height = box.bbox_x, box.bbox_y, box.bbox_width, box.bbox_height
    if box.object_type is None or x is None or y is None or width is None or height is None:
        return None
    image_width, image_height = image_size
    if filters.masks:
        point = bottom_centre(x, y, width, height, image_width, image_height)
        if any(point_in_polygon(point[0], point[1], mask) for mask in filters.masks):
            return "mask"
    rule = filters.for_class(box.object_type)
    if rule is None:
        return None
    area = (width * height) / float(image_width * image_height)
    return rule.rejects(float(box.confidence or 0.0), area, width / max(height, 1))


def parse(raw: dict[str, Any] | None) -> ObjectFilters | None:
    """A stored camera `object_filters` value as a model; None when unset or empty."""
    if not raw:
        return None
    filters = ObjectFilters.model_validate(raw)
    return None if filters.empty else filters


def parse_zone(raw: dict[str, Any] | None) -> ZoneObjectFilters | None:
    if not raw:
        return None
    filters = ZoneObjectFilters.model_validate(raw)
    return None if filters.empty else filters


def stored(filters: ObjectFilters | None) -> dict[str, Any] | None:
    """The JSONB value for a model (None when it filters nothing)."""
    if filters is None or filters.empty:
        return None
    return filters.model_dump(mode="json", exclude_none=True)


def keep(filters: ObjectFilters | None, boxes: Sequence[Any], image_size: tuple[int, int]) -> tuple[list[Any], dict[str, int]]:
    """The boxes `filters` keep, and how many were dropped for each reason."""
    if filters is None:
        return list(boxes), {}
    kept: list[Any] = []
    dropped: dict[str, int] = {}
    for box in boxes:
        reason = rejection(filters, box, image_size)
        if reason is None:
            kept.append(box)
        else:
            dropped[reason] = dropped.get(reason, 0) + 1
    return kept, dropped
