"""Decoded video frames as they are shown: turned by the recording's display matrix.

A camera or phone mounted sideways ("corridor mode") records its pictures as the sensor sees them and
says in the track header how to turn them for display; every player, browsers included, does so. The
detector, the thumbnails, a camera's snapshot and the event clip must see what people see, as a photo
is put upright by its EXIF orientation (`image.decode_image`). FFmpeg's own rule (its `autorotate`):
the frame is turned by its `rotation` (degrees counter-clockwise), in quarter turns.
"""

from __future__ import annotations

import av
from PIL import Image

#: A frame's rotation (counter-clockwise, modulo 360) -> the turn that shows it as players do.
_TURNS = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def _quarter_turns(frame: av.VideoFrame) -> int:
    return round(frame.rotation / 90) * 90 % 360


def is_turned(frame: av.VideoFrame) -> bool:
    """Whether the frame is shown otherwise than stored."""
    return _quarter_turns(frame) != 0


def shown_size(frame: av.VideoFrame) -> tuple[int, int]:
    """Width and height of the frame as it is shown."""
    sideways = _quarter_turns(frame) in (90, 270)
    return (frame.height, frame.width) if sideways else (frame.width, frame.height)


def shown_picture(frame: av.VideoFrame, size: tuple[int, int] | None = None) -> Image.Image:
    """The frame as an RGB picture as it is shown, of `size` (as shown) when given: scaled and converted
    by FFmpeg in one pass, then turned (a lossless transpose of the smaller picture)."""
    turns = _quarter_turns(frame)
    width, height = size or shown_size(frame)
    if turns in (90, 270):
        width, height = height, width
    picture = frame.reformat(width=width, height=height, format="rgb24").to_image()
    return picture.transpose(_TURNS[turns]) if turns else picture
