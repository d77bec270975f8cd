"""Zones: polygon validation, point-in-polygon, bottom-centre normalisation and which zones a box hits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from server.alerts.geometry import EPS
from server.alerts.partial import apply_update
from server.alerts.zones import (
    ZoneSpec,
    ZoneUpdate,
    bottom_centre,
    point_in_polygon,
    validate_polygon,
    zones_hit,
)

SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]
# A "U" opening upwards: the notch (0.4..0.6 wide, above y=0.5) is outside.
U_SHAPE = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.5], [0.6, 0.5], [0.6, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]


@dataclass
class Box:
    camera_id: str
    bbox_x: int | None
    bbox_y: int | None
    bbox_width: int | None
    bbox_height: int | None


def zone(zone_id: str, coordinates: list[list[float]], **overrides: object) -> ZoneSpec:
    data: dict[str, object] = {
        "id": zone_id,
        "camera_id": "front",
        "name": zone_id,
        "coordinates": coordinates,
        "shape": "polygon",
    }
    data.update(overrides)
    return ZoneSpec.model_validate(data)


def polygon_error(points: list[list[float]]) -> str:
    with pytest.raises(ValueError) as exc:
        validate_polygon(points)
    return str(exc.value)


# --- polygon validation -----------------------------------------------------------------------------


def test_valid_polygons_are_accepted() -> None:
    assert validate_polygon(SQUARE) == ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6))
    assert len(validate_polygon(U_SHAPE)) == 8  # concave is fine
    assert len(validate_polygon([[0, 0], [1, 0], [0.5, 1]])) == 3
    assert len(validate_polygon([[0, 0], [1, 0], [1, 1], [0, 1]])) == 4  # the whole frame


def test_explicitly_closed_ring_drops_the_repeated_first_point() -> None:
    assert validate_polygon([*SQUARE, SQUARE[0]]) == validate_polygon(SQUARE)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0.1, 0.1], [0.9, 0.1]], "a zone needs at least 3 points, got 2"),
        ([], "a zone needs at least 3 points, got 0"),
        ([[0.1, 0.1], [1.2, 0.1], [0.5, 0.9]], "point 1 has x=1.2: coordinates are fractions of the image"),
        ([[0.1, -0.1], [0.9, 0.1], [0.5, 0.9]], "point 0 has y=-0.1"),
        ([[0.1, 0.1], [0.9, 0.1], [0.5, float("nan")]], "point 2 has y=nan"),
        ([[0.1, 0.1, 0.3], [0.9, 0.1], [0.5, 0.9]], "point 0 must be [x, y], got 3 numbers"),
        # Bow-tie: edges 0-1 and 2-3 cross in the middle.
        (
            [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]],
            "the outline crosses itself: edge 0-1 meets edge 2-3",
        ),
        # A vertex touching a non-adjacent edge is not a simple polygon either.
        ([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.5, 0.1], [0.1, 0.9]], "edge 0-1 meets edge 2-3"),
        ([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]], "the zone has no area (all points lie on one line)"),
        ([[0.0, 0.0], [0.1, 0.0], [0.05, 1.5e-8]], "the zone is too small"),
        ([[0.1, 0.1], [0.1, 0.1], [0.9, 0.9], [0.1, 0.9]], "points 0 and 1 are the same point"),
        ([[0.1, 0.1], [0.9, 0.1], [0.5, 0.1], [0.5, 0.9]], "the outline folds back on itself at point 1"),
    ],
)
def test_invalid_polygons_are_rejected_with_a_precise_message(
    points: list[list[float]], message: str
) -> None:
    assert message in polygon_error(points)


# --- point in polygon -------------------------------------------------------------------------------


def test_point_in_square_including_its_boundary() -> None:
    assert point_in_polygon(0.4, 0.4, SQUARE)
    assert point_in_polygon(0.2, 0.4, SQUARE)  # on the left edge
    assert point_in_polygon(0.6, 0.6, SQUARE)  # on a corner
    assert not point_in_polygon(0.61, 0.4, SQUARE)
    assert not point_in_polygon(0.4, 0.1, SQUARE)


def test_point_in_concave_polygon() -> None:
    assert point_in_polygon(0.3, 0.5, U_SHAPE)  # left arm
    assert point_in_polygon(0.7, 0.3, U_SHAPE)  # right arm
    assert point_in_polygon(0.5, 0.7, U_SHAPE)  # bottom bar
    assert not point_in_polygon(0.5, 0.3, U_SHAPE)  # in the notch
    assert point_in_polygon(0.5, 0.5, U_SHAPE)  # on the notch floor (boundary)
    # Rays at the height of four vertices (y = 0.2) must not miscount crossings.
    assert not point_in_polygon(0.5, 0.2, U_SHAPE)  # the open top of the notch
    assert not point_in_polygon(0.1, 0.2, U_SHAPE)
    assert not point_in_polygon(0.9, 0.2, U_SHAPE)
    assert point_in_polygon(0.3, 0.2, U_SHAPE)  # on the top edge of the left arm


coordinate = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(x0=coordinate, x1=coordinate, y0=coordinate, y1=coordinate, px=coordinate, py=coordinate)
@example(x0=1.0, x1=1e-09, y0=0.0, y1=0.5321084030801829, px=0.0, py=0.5)  # exactly EPS away
def test_point_in_rectangle_equals_the_bounds_check(
    x0: float, x1: float, y0: float, y1: float, px: float, py: float
) -> None:
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    if right - left < 1e-6 or bottom - top < 1e-6:
        return
    rect = [[left, top], [right, top], [right, bottom], [left, bottom]]
    # Points within EPS of the outline are on it (the documented tolerance), hence inside.
    outside_by = math.hypot(max(left - px, 0.0, px - right), max(top - py, 0.0, py - bottom))
    # Exactly EPS away (a rectangle from 1e-9 and a point at 0, found by CI) is either side of it by a
    # rounding of the projection: no answer to check there.
    assume(not math.isclose(outside_by, EPS, rel_tol=1e-6))
    expected = outside_by <= EPS
    assert point_in_polygon(px, py, rect) == expected
    assert point_in_polygon(px, py, list(reversed(rect))) == expected  # orientation does not matter


# --- bottom-centre ----------------------------------------------------------------------------------


def test_bottom_centre_is_normalised_by_the_image_size() -> None:
    assert bottom_centre(100, 200, 50, 100, 640, 480) == (125 / 640, 300 / 480)
    assert bottom_centre(0, 0, 640, 480, 640, 480) == (0.5, 1.0)


def test_bottom_centre_is_clamped_for_boxes_past_the_frame() -> None:
    assert bottom_centre(600, 400, 100, 100, 640, 480) == (1.0, 1.0)
    assert bottom_centre(-20, 0, 10, 10, 640, 480) == (0.0, 10 / 480)


def test_bottom_centre_needs_a_real_image_size() -> None:
    with pytest.raises(ValueError, match="image size must be positive, got 0x480"):
        bottom_centre(0, 0, 10, 10, 0, 480)


@pytest.mark.parametrize("scale", [(1920 / 640, 1080 / 480), (1280 / 640, 720 / 480), (1.0, 1.0)])
def test_same_physical_spot_hits_the_same_zone_at_any_resolution(scale: tuple[float, float]) -> None:
    door = zone("door", [[0.15, 0.5], [0.3, 0.5], [0.3, 0.7], [0.15, 0.7]], shape="rectangle")
    drive = zone("drive", [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]], shape="rectangle")
    sx, sy = scale
    size = (round(640 * sx), round(480 * sy))
    # At 640x480: a person whose feet are at (125, 300) -> (0.195, 0.625), inside the door zone.
    person = Box("front", round(100 * sx), round(200 * sy), round(50 * sx), round(100 * sy))
    assert zones_hit(person, size, [door, drive]) == ["door"]
    # A box whose centre (0.195, 0.68) is in the door zone but whose feet (0.195, 0.83) are below it
    # is not in the zone: the ground point decides.
    tall = Box("front", round(100 * sx), round(250 * sy), round(50 * sx), round(150 * sy))
    assert zones_hit(tall, size, [door, drive]) == []


# --- zones_hit filtering ----------------------------------------------------------------------------


def test_only_enabled_zones_of_the_same_camera_count_ordered_by_priority() -> None:
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    zones = [
        zone("a-low", whole, priority=1),
        zone("b-high", whole, priority=10),
        zone("c-off", whole, enabled=False),
        zone("d-other-camera", whole, camera_id="back"),
        zone("e-also-low", whole, priority=1),
    ]
    box = Box("front", 10, 10, 20, 20)
    assert zones_hit(box, (640, 480), zones) == ["b-high", "a-low", "e-also-low"]


def test_detection_without_a_box_is_in_no_zone() -> None:
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    assert zones_hit(Box("front", None, None, None, None), (640, 480), [zone("z", whole)]) == []


# --- ZoneSpec ---------------------------------------------------------------------------------------


def spec_error(**overrides: object) -> str:
    data: dict[str, object] = {"camera_id": "front", "name": "Door", "coordinates": SQUARE}
    data.update(overrides)
    with pytest.raises(ValidationError) as exc:
        ZoneSpec.model_validate(data)
    return " | ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.value.errors())


def test_zone_spec_defaults_match_the_data_model() -> None:
    spec = ZoneSpec.model_validate({"camera_id": "front", "name": "Door", "coordinates": SQUARE})
    assert (spec.zone_type, spec.shape, spec.color, spec.enabled, spec.priority, spec.id) == (
        "other",
        "rectangle",
        "#3B82F6",
        True,
        0,
        None,
    )
    assert spec.model_dump(mode="json")["coordinates"] == SQUARE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"coordinates": [[0.1, 0.1], [0.9, 0.1]]}, "coordinates: a zone needs at least 3 points, got 2"),
        ({"coordinates": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]], "shape": "polygon"}, "point 1 has x=1.5"),
        (
            {"coordinates": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]], "shape": "polygon"},
            "coordinates: the outline crosses itself",
        ),
        ({"coordinates": U_SHAPE}, "a 'rectangle' zone needs exactly 4 points"),
        ({"coordinates": [[0.1, 0.1], [0.9, 0.2], [0.9, 0.9], [0.1, 0.9]]}, "horizontal and vertical edges"),
        ({"color": "blue"}, "color: color 'blue' must be '#RRGGBB'"),
        ({"color": "#12345"}, "color: color '#12345' must be '#RRGGBB'"),
        ({"zone_type": "garden"}, "zone_type: Input should be 'entry_point', 'driveway', 'sidewalk', 'yard'"),
        ({"shape": "circle"}, "shape: Input should be 'rectangle' or 'polygon'"),
        ({"id": "Front Door"}, "id: String should match pattern"),
        ({"name": "  "}, "name: String should have at least 1 character"),
        ({"camera_id": ""}, "camera_id: String should have at least 1 character"),
        ({"radius": 3}, "radius: Extra inputs are not permitted"),
    ],
)
def test_zone_spec_rejections(overrides: dict[str, object], message: str) -> None:
    assert message in spec_error(**overrides)


def test_zone_spec_normalises_colour_and_accepts_a_slug_id() -> None:
    spec = ZoneSpec.model_validate(
        {
            "id": "front_door-1",
            "camera_id": "front",
            "name": "Door",
            "coordinates": SQUARE,
            "color": "#ef4444",
        }
    )
    assert (spec.id, spec.color) == ("front_door-1", "#EF4444")


def test_zone_update_is_partial_and_revalidated_when_merged() -> None:
    existing = ZoneSpec.model_validate(
        {"id": "door", "camera_id": "front", "name": "Door", "coordinates": SQUARE}
    )
    patch = ZoneUpdate.model_validate({"name": "Front door", "priority": 5})
    merged = apply_update(existing, patch)
    assert (merged.name, merged.priority, merged.coordinates) == ("Front door", 5, existing.coordinates)
    # Per-field rules apply to the patch itself ...
    with pytest.raises(ValidationError, match="the outline crosses itself"):
        ZoneUpdate.model_validate({"coordinates": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ZoneUpdate.model_validate({"camera_id": "back"})  # a zone never moves to another camera
    # ... and cross-field rules to the merged zone: a concave outline cannot stay a 'rectangle'.
    with pytest.raises(ValidationError, match="a 'rectangle' zone needs exactly 4 points"):
        apply_update(existing, ZoneUpdate.model_validate({"coordinates": U_SHAPE}))
    reshaped = apply_update(existing, ZoneUpdate.model_validate({"coordinates": U_SHAPE, "shape": "polygon"}))
    assert len(reshaped.coordinates) == 8
