"""Real photos shipped with the tests, and where the people in them are (marked by hand)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

#: A real street scene: frame 100 of OpenCV's vtest.avi (provenance and licence: data/README.md).
PEOPLE_WALKING = DATA_DIR / "people_walking.jpg"

#: The six people walking in it, (x0, y0, x1, y1) in pixels of the 768x576 frame, marked by hand.
PEOPLE_WALKING_PERSONS: tuple[tuple[int, int, int, int], ...] = (
    (349, 199, 383, 275),  # dark coat, walking left of the lamp post
    (375, 178, 410, 256),  # jacket and jeans, beside them
    (423, 176, 450, 257),  # half hidden behind the sign
    (494, 148, 518, 220),  # red and navy jacket
    (517, 151, 540, 222),  # blonde, beside them
    (591, 153, 617, 233),  # alone on the right
)
