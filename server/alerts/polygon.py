"""The polygon type of zones and masks: [[x, y], ...] fractions of the image, a simple outline.

One annotated type, so a zone's outline and a camera's mask are validated by the same rules
(`geometry.validate_polygon`) and described by the same JSON schema.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from server.alerts.geometry import MAX_VERTICES, validate_polygon


def _check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return list(validate_polygon(points))


Polygon = Annotated[
    list[tuple[float, float]],
    AfterValidator(_check_polygon),
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 3,
            "maxItems": MAX_VERTICES + 1,  # +1: an explicitly closed ring repeats the first point
            "items": {
                "type": "array",
                "items": {"type": "number", "minimum": 0, "maximum": 1},
                "minItems": 2,
                "maxItems": 2,
            },
        }
    ),
]
"""Zone outline as [[x, y], ...] fractions of the image; validated by `geometry.validate_polygon`."""
