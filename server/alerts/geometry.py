"""Plane geometry for zones: polygon validation and point-in-polygon, in normalised 0..1 coordinates.

Kept apart from the zone *spec* so the engine's hot path (one test per detection per zone) imports
nothing but arithmetic. Coordinates are floats from JSON; comparisons use a tolerance of `EPS`, far
below one pixel of any real camera (1/100 000 of the frame), so a point "on" an edge drawn by a UI is
treated as on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from server.alerts.errors import invalid

EPS = 1e-9
#: Most vertices a zone may have. The simplicity check compares every pair of edges (O(n²)): at 100
#: points that is 4 950 pairs, ~4 ms on this 2-core CPU, fine on the event loop; a UI outline of
#: a driveway or a door needs a few dozen points at most.
MAX_VERTICES = 100
Point = tuple[float, float]
Points = tuple[Point, ...]


def _cross(o: Point, a: Point, b: Point) -> float:
    """Twice the signed area of triangle o-a-b: > 0 left turn, < 0 right turn, ~0 collinear."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _orientation(o: Point, a: Point, b: Point) -> int:
    value = _cross(o, a, b)
    if value > EPS:
        return 1
    if value < -EPS:
        return -1
    return 0


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    """p lies within `EPS` (a distance, whatever the segment's length) of the closed segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length_sq = dx * dx + dy * dy
    t = 0.0 if length_sq == 0.0 else ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length_sq
    t = min(max(t, 0.0), 1.0)
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy)) <= EPS


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Closed segments p1-p2 and q1-q2 share at least one point (crossing, touching or overlapping)."""
    d1 = _orientation(q1, q2, p1)
    d2 = _orientation(q1, q2, p2)
    d3 = _orientation(p1, p2, q1)
    d4 = _orientation(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (
        (d1 == 0 and _on_segment(p1, q1, q2))
        or (d2 == 0 and _on_segment(p2, q1, q2))
        or (d3 == 0 and _on_segment(q1, p1, p2))
        or (d4 == 0 and _on_segment(q2, p1, p2))
    )


def signed_area(points: Sequence[Point]) -> float:
    """Shoelace area; positive for counter-clockwise (in a y-up frame)."""
    total = 0.0
    for i, a in enumerate(points):
        b = points[(i + 1) % len(points)]
        total += a[0] * b[1] - b[0] * a[1]
    return total / 2.0


def _as_point(index: int, raw: Sequence[float]) -> Point:
    if len(raw) != 2:
        raise invalid("point_shape", f"point {index} must be [x, y], got {len(raw)} numbers")
    x, y = float(raw[0]), float(raw[1])
    for name, value in (("x", x), ("y", y)):
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise invalid(
                "point_range",
                f"point {index} has {name}={value}: coordinates are fractions of the image, 0 to 1",
            )
    return (x, y)


def validate_polygon(raw_points: Sequence[Sequence[float]]) -> Points:
    """Check a zone outline and return it as a tuple of points; raise with a precise message.

    Rules: at least three distinct vertices, at most `MAX_VERTICES`; every coordinate in 0..1; an
    explicitly closed ring (last point == first) is accepted and the duplicate dropped; no two
    consecutive equal points; no edge folding back onto the previous one; no two non-adjacent edges
    touching or crossing (a bow-tie); non-zero area. These guarantee a simple polygon, where "inside" is well defined.
    """
    closed = len(raw_points) > 3 and list(raw_points[0]) == list(raw_points[-1])
    if len(raw_points) - closed > MAX_VERTICES:
        raise invalid(
            "polygon_points",
            f"a zone has at most {MAX_VERTICES} points, got {len(raw_points) - closed}: simplify the outline",
        )
    points = [_as_point(i, raw) for i, raw in enumerate(raw_points)]
    if len(points) > 3 and _same(points[0], points[-1]):
        points.pop()
    if len(points) < 3:
        raise invalid("polygon_points", f"a zone needs at least 3 points, got {len(points)}")
    n = len(points)
    for i in range(n):
        if _same(points[i], points[(i + 1) % n]):
            raise invalid("polygon_repeat", f"points {i} and {(i + 1) % n} are the same point")
    if all(_orientation(points[0], points[1], p) == 0 for p in points[2:]):
        raise invalid("polygon_area", "the zone has no area (all points lie on one line)")
    for i in range(n):
        a, b, c = points[i - 1], points[i], points[(i + 1) % n]
        if _orientation(a, b, c) == 0 and _dot(a, b, c) > 0:
            raise invalid("polygon_fold", f"the outline folds back on itself at point {i}")
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # adjacent edges share a vertex by construction
            if segments_intersect(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                raise invalid(
                    "polygon_self_intersection",
                    f"the outline crosses itself: edge {i}-{(i + 1) % n} meets edge {j}-{(j + 1) % n}",
                )
    if abs(signed_area(points)) <= EPS:
        raise invalid("polygon_area", "the zone is too small: its area is practically zero")
    return tuple(points)


def _same(a: Point, b: Point) -> bool:
    return abs(a[0] - b[0]) <= EPS and abs(a[1] - b[1]) <= EPS


def _dot(a: Point, b: Point, c: Point) -> float:
    """Dot product of b->a and b->c: > 0 means the turn at b goes back the way it came."""
    return (a[0] - b[0]) * (c[0] - b[0]) + (a[1] - b[1]) * (c[1] - b[1])


def point_in_polygon(x: float, y: float, polygon: Sequence[Sequence[float]]) -> bool:
    """Ray casting (crossing number); a point on the boundary counts as inside.

    The boundary rule matters for zones drawn edge-to-edge with the frame (y = 1.0 at the bottom):
    a person standing at the very bottom of the image is in the zone.
    """
    p = (x, y)
    n = len(polygon)
    verts = [(float(v[0]), float(v[1])) for v in polygon]
    for i in range(n):
        if _on_segment(p, verts[i], verts[(i + 1) % n]):
            return True
    inside = False
    for i in range(n):
        (x1, y1), (x2, y2) = verts[i], verts[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def bottom_centre(
    bbox_x: float, bbox_y: float, width: float, height: float, image_width: int, image_height: int
) -> Point:
    """Where an object touches the ground, as a fraction of *this* image's size.

    The bottom-centre of the box (not its centre) is what is "in" a zone drawn on the ground: a tall
    person at a door has their centre above the door zone but their feet in it. Dividing by the real
    frame size makes the same spot give the same point whatever resolution the camera uploaded.
    Clamped to 0..1 because detectors can return boxes a pixel outside the frame.
    """
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
    x = (bbox_x + width / 2.0) / image_width
    y = (bbox_y + height) / image_height
    return (min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))
