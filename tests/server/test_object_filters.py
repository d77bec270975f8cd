"""Object filters and masks on the default detector's boxes in real photos: what they drop, and only that."""

from __future__ import annotations

import pytest
from PIL import Image

from server.alerts.object_filters import ObjectFilters, ZoneObjectFilters, keep, rejection
from server.alerts.zones import ZoneSpec, zones_hit
from server.config import Settings
from server.detect import DetectedObject, load_detector
from tests.support.real_media import media_path


class Box:
    """A detection as the filters read it (a `detections` row's field names)."""

    def __init__(self, obj: DetectedObject, camera_id: str = "yard") -> None:
        self.camera_id = camera_id
        self.object_type: str | None = obj.object_type
        self.confidence: float | None = obj.confidence
        self.bbox_x: int | None = obj.x
        self.bbox_y: int | None = obj.y
        self.bbox_width: int | None = obj.width
        self.bbox_height: int | None = obj.height


@pytest.fixture(scope="module")
def found() -> dict[str, tuple[tuple[int, int], list[Box]]]:
    """The default detector's boxes in dog.jpg (bicycle, dog, car) and bus.jpg (a bus and people)."""
    detector = load_detector(Settings(detector="ssd_mobilenet"))
    result = {}
    for name in ("dog.jpg", "bus.jpg"):
        image = Image.open(media_path(name)).convert("RGB")
        result[name] = (image.size, [Box(o) for o in detector.detect([image])[0]])
    return result


def _kinds(boxes: list[Box]) -> list[str]:
    return sorted(box.object_type or "" for box in boxes)


def test_no_filters_keep_everything(found: dict[str, tuple[tuple[int, int], list[Box]]]) -> None:
    size, boxes = found["dog.jpg"]
    assert _kinds(boxes) == ["bicycle", "car", "dog"]
    assert keep(None, boxes, size) == (boxes, {})
    assert keep(ObjectFilters(), boxes, size)[0] == boxes


def test_a_mask_drops_what_stands_in_it_and_nothing_else(found: dict[str, tuple[tuple[int, int], list[Box]]]) -> None:
    size, boxes = found["dog.jpg"]
    road = ObjectFilters(masks=[[(0.55, 0.2), (0.95, 0.2), (0.95, 0.35), (0.55, 0.35)]])  # the car's bottom-centre
    kept, dropped = keep(road, boxes, size)
    assert _kinds(kept) == ["bicycle", "dog"] and dropped == {"mask": 1}
    # The same outline over the car's roof but not where it stands: the car stays (bottom-centre rule).
    roof = ObjectFilters(masks=[[(0.55, 0.1), (0.95, 0.1), (0.95, 0.2), (0.55, 0.2)]])
    assert _kinds(keep(roof, boxes, size)[0]) == ["bicycle", "car", "dog"]


def test_class_filters_drop_by_area_score_and_ratio(found: dict[str, tuple[tuple[int, int], list[Box]]]) -> None:
    size, boxes = found["dog.jpg"]
    by_kind = {box.object_type: box for box in boxes}
    dog, car = by_kind["dog"], by_kind["car"]
    dog_area = (dog.bbox_width or 0) * (dog.bbox_height or 0) / (size[0] * size[1])
    car_ratio = (car.bbox_width or 0) / (car.bbox_height or 1)
    cases = {
        "min_area": ObjectFilters.model_validate({"classes": {"dog": {"min_area": dog_area + 0.01}}}),
        "min_score": ObjectFilters.model_validate({"classes": {"dog": {"min_score": (dog.confidence or 0) + 0.01}}}),
        "max_ratio": ObjectFilters.model_validate({"classes": {"car": {"max_ratio": car_ratio - 0.1}}}),
    }
    assert _kinds(keep(cases["min_area"], boxes, size)[0]) == ["bicycle", "car"]
    assert _kinds(keep(cases["min_score"], boxes, size)[0]) == ["bicycle", "car"]
    assert _kinds(keep(cases["max_ratio"], boxes, size)[0]) == ["bicycle", "dog"]
    for reason, filters in cases.items():
        assert keep(filters, boxes, size)[1] == {reason: 1}
    # Bounds just on the other side keep everything (the filters cut where they say, not near it).
    lenient = ObjectFilters.model_validate(
        {"classes": {"dog": {"min_area": dog_area - 0.01, "min_score": (dog.confidence or 0) - 0.01},
                     "car": {"max_ratio": car_ratio + 0.1}}}
    )  # fmt: skip
    assert keep(lenient, boxes, size)[0] == boxes


def test_the_any_class_filter_applies_to_classes_without_their_own(
    found: dict[str, tuple[tuple[int, int], list[Box]]],
) -> None:
    size, boxes = found["bus.jpg"]
    people = [box for box in boxes if box.object_type == "person"]
    assert len(people) >= 3 and any(box.object_type == "bus" for box in boxes)
    # Anything but people must fill a third of the frame: the bus does, nothing else is affected.
    filters = ObjectFilters.model_validate({"classes": {"*": {"min_area": 0.33}, "person": {}}})
    kept, _ = keep(filters, boxes, size)
    assert _kinds(kept) == _kinds([box for box in boxes if box.object_type in ("person", "bus")])


def test_a_zone_filter_decides_who_is_in_the_zone(found: dict[str, tuple[tuple[int, int], list[Box]]]) -> None:
    size, boxes = found["bus.jpg"]
    people = sorted((box for box in boxes if box.object_type == "person"), key=lambda b: b.confidence or 0)
    everywhere = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    plain = ZoneSpec(id="all", camera_id="yard", name="All", coordinates=everywhere)
    strict = ZoneSpec(
        id="all",
        camera_id="yard",
        name="All",
        coordinates=everywhere,
        object_filters=ZoneObjectFilters.model_validate({"classes": {"person": {"min_score": people[-1].confidence}}}),
    )
    assert all(zones_hit(box, size, [plain]) == ["all"] for box in people)
    assert [zones_hit(box, size, [strict]) for box in people] == [[]] * (len(people) - 1) + [["all"]]
    assert rejection(strict.object_filters, people[0], size) == "min_score"  # type: ignore[arg-type]


def test_zone_filters_take_no_masks() -> None:
    with pytest.raises(ValueError, match="a zone has no masks"):
        ZoneObjectFilters.model_validate({"masks": [[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]]})
