"""Pictures for people: thumbnails with the detected objects boxed, and a recording's first frame.

Boxes are coloured by kind of object, so a glance at a thumbnail says person, vehicle or animal.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageDraw

from server.pipeline.media.encode import clip_size
from server.pipeline.media.files import temp_beside
from server.pipeline.media.frames import shown_picture, shown_size
from server.pipeline.media.image import load_image
from server.pipeline.media.video import video_frames
from server.vocabulary import ObjectGroup, shown_group_of

THUMBNAIL_SIZE = (320, 240)
THUMBNAIL_QUALITY = 85

#: Box colours of thumbnails, by kind of object (RGB).
PERSON_COLOUR = (230, 30, 30)
VEHICLE_COLOUR = (40, 110, 240)
ANIMAL_COLOUR = (40, 200, 70)
OTHER_COLOUR = (240, 210, 30)
_COLOURS = {
    ObjectGroup.PERSON: PERSON_COLOUR,
    ObjectGroup.VEHICLE: VEHICLE_COLOUR,
    ObjectGroup.ANIMAL: ANIMAL_COLOUR,
}


class BoxLike(Protocol):
    """Anything with a class name and a pixel box, e.g. a DetectedObject or a detection row."""

    @property
    def object_type(self) -> str: ...
    @property
    def x(self) -> int: ...
    @property
    def y(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


def box_colour(object_type: str) -> tuple[int, int, int]:
    """Red for people, blue for vehicles, green for animals, yellow for anything else."""
    return _COLOURS.get(shown_group_of(object_type), OTHER_COLOUR)


class Canvas:
    """A picture shrunk once into the letterboxed thumbnail frame, for drawing any number of thumbnails.

    Boxes are given in the coordinates of `full_size` (the upright image they were measured on, which
    `image` may be a reduced copy of). Each thumbnail costs a copy, a few rectangles and a small JPEG.
    """

    def __init__(self, image: Image.Image, full_size: tuple[int, int], size: tuple[int, int] = THUMBNAIL_SIZE) -> None:
        target_w, target_h = size
        self.scale = min(target_w / full_size[0], target_h / full_size[1])
        inner = (max(1, round(full_size[0] * self.scale)), max(1, round(full_size[1] * self.scale)))
        self.offset = ((target_w - inner[0]) // 2, (target_h - inner[1]) // 2)
        self.base = Image.new("RGB", size, (0, 0, 0))
        self.base.paste(image.convert("RGB").resize(inner, Image.Resampling.BILINEAR, reducing_gap=2.0), self.offset)

    def write(self, boxes: Sequence[BoxLike], out_path: Path | str) -> Path:
        """A JPEG (q85) of the picture with `boxes` drawn in their class colours; written atomically."""
        canvas = self.base.copy()
        draw = ImageDraw.Draw(canvas)
        (offset_x, offset_y), scale = self.offset, self.scale
        for box in boxes:
            x0 = offset_x + box.x * scale
            y0 = offset_y + box.y * scale
            x1 = offset_x + (box.x + box.width) * scale
            y1 = offset_y + (box.y + box.height) * scale
            draw.rectangle(
                (x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=box_colour(box.object_type), width=2
            )
        temp, final = temp_beside(Path(out_path), ".jpg")
        try:
            canvas.save(temp, "JPEG", quality=THUMBNAIL_QUALITY)
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return final


def make_thumbnail(
    image: Image.Image | Path | str,
    boxes: Sequence[BoxLike],
    out_path: Path | str,
    size: tuple[int, int] = THUMBNAIL_SIZE,
) -> Path:
    """A letterboxed JPEG (q85) of a whole picture with the boxes drawn in their class colours."""
    source = load_image(image) if isinstance(image, (str, Path)) else image
    return Canvas(source, source.size, size).write(boxes, out_path)


def first_frame_jpeg(path: Path | str) -> bytes:
    """The first decodable frame of a video as a JPEG (a camera's snapshot when it uploaded a video),
    scaled down like a clip's frames (`clip_size`)."""
    with closing(video_frames(path, every=1e9)) as frames:
        _shown_at, frame = next(frames)
        image = shown_picture(frame, clip_size(*shown_size(frame)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()
