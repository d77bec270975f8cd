"""Text forms of a camera's object filters, for the filters subentry's form.

One line per class, ``person: min_area=0.01 min_score=0.6 max_ratio=3`` (``*`` for every other class),
and one line per mask, its corners as ``x,y`` pairs like a zone's points. The server validates the
result (polygons, ranges) and says what it refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .api_types import ClassFilter, ObjectFilters
from .subentry_data import format_coordinates, format_number, parse_coordinates

BOUNDS = ("min_area", "min_score", "min_ratio", "max_ratio")


def parse_classes(text: str) -> dict[str, dict[str, float]]:
    """``"person: min_area=0.01 min_score=0.6"`` lines to the server's ``classes``.

    Raises ValueError naming the line when a line has no class, an unknown bound or a bad number.
    """
    classes: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, rest = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(line)
        bounds: dict[str, float] = {}
        for item in rest.replace(",", " ").split():
            key, equals, value = item.partition("=")
            if not equals or key not in BOUNDS:
                raise ValueError(line)
            number = float(value)
            if not math.isfinite(number):  # JSON has no nan/inf: the bound would be dropped silently
                raise ValueError(item)
            bounds[key] = number
        classes[name.strip().lower()] = bounds
    return classes


def format_classes(classes: Mapping[str, ClassFilter]) -> str:
    return "\n".join(
        f"{name}: "
        + " ".join(
            f"{key}={format_number(value)}" for key, value in bounds.items() if isinstance(value, float | int)
        )
        for name, bounds in classes.items()
    )


def parse_masks(text: str) -> list[list[list[float]]]:
    """One mask per line, as zone points; raises ValueError for a malformed line."""
    return [parse_coordinates(line) for line in text.splitlines() if line.strip()]


def format_masks(masks: list[list[list[float]]]) -> str:
    return "\n".join(format_coordinates(mask) for mask in masks)


def filters_body(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The server's body of the form's input (ValueError for text that cannot be read)."""
    return {
        "classes": parse_classes(user_input.get("classes") or ""),
        "masks": parse_masks(user_input.get("masks") or ""),
    }


def filters_form_values(filters: ObjectFilters) -> dict[str, str]:
    return {
        "classes": format_classes(filters.get("classes") or {}),
        "masks": format_masks(filters.get("masks") or []),
    }
