"""Images from cameras: cheap checks of an upload's bytes, and the one full decode.

An image's bytes are checked cheaply when it joins the pipeline (`inspect_image`: format, size, end
marker) and decoded once, in the detect worker (`decode_image`); anything unusable raises `MediaError`.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from server.pipeline.media.errors import MediaError
from server.vocabulary import MIME_BY_IMAGE_FORMAT, Rejection

#: Smaller "images" are camera error pages or aborted uploads.
MIN_IMAGE_BYTES = 10 * 1024
#: 64 megapixels: above any camera sensor here, far below what would exhaust memory when decoded.
MAX_IMAGE_PIXELS = 64_000_000
#: An image file is read whole to be hashed and checked: above any camera's snapshot (a 64 MP PNG of
#: noise is ~190 MB, a camera's JPEG a few MB), a cap so that one file cannot exhaust memory.
MAX_IMAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    mime: str


@contextmanager
def _bomb_guard(max_pixels: int) -> Iterator[None]:
    """Turn Pillow's decompression-bomb error (and its warning, where warnings are errors) into MediaError.

    Pillow refuses above 2 x its MAX_IMAGE_PIXELS (~179 MP) and only warns above ~89 MP; our own
    limit (`_check_dimensions`, 64 MP) is lower and rejects everything in between. No warnings filter
    is changed here: filters are process-wide and this runs in several threads at once.
    """
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise MediaError(f"image too large (decompression bomb, limit {max_pixels} pixels): {err}") from None


def _check_dimensions(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise MediaError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise MediaError(f"image too large ({width}x{height} pixels, limit {max_pixels})")


_EXIF_ORIENTATION = 0x0112
_SIDEWAYS_ORIENTATIONS = frozenset({5, 6, 7, 8})


def inspect_image(
    data: bytes, *, min_bytes: int = MIN_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> ImageInfo:
    """Cheap checks of an uploaded image's bytes, without decoding its pixels: size, format, dimensions
    (a decompression bomb is refused here), and the end marker an upload cut short lacks. The size
    returned is the upright one (EXIF orientation applied), as `decode_image` will return the image.

    Corruption inside the compressed data is found by the one full decode, in the detect worker.
    """
    if not data:
        raise MediaError(f"{Rejection.EMPTY} (0 bytes)")
    if len(data) < min_bytes:
        raise MediaError(f"{Rejection.TOO_SMALL} ({len(data)} bytes, minimum {min_bytes})")
    with _bomb_guard(max_pixels):
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format or "unknown"
                if image_format not in MIME_BY_IMAGE_FORMAT:
                    raise MediaError(f"unsupported image format {image_format} (JPEG and PNG only)")
                _check_dimensions(image, max_pixels)
                width, height = image.size
                # A JPEG's EXIF comes with its header; a PNG's may follow the pixels, and reading it
                # would decode them, so a sideways PNG is put upright by the decoder alone.
                if image_format == "JPEG" and image.getexif().get(_EXIF_ORIENTATION) in _SIDEWAYS_ORIENTATIONS:
                    width, height = height, width  # what decode_image returns, after exif_transpose
        except MediaError:
            raise
        except UnidentifiedImageError:
            raise MediaError("not an image (content is not a recognised image format)") from None
        except (OSError, SyntaxError, ValueError, struct.error) as err:  # Pillow plugins leak these on bad headers
            raise MediaError(f"corrupt image ({err})") from None
    marker = b"\xff\xd9" if image_format == "JPEG" else b"IEND"
    if marker not in data[-_END_MARKER_WINDOW:]:
        raise MediaError(f"{Rejection.TRUNCATED} (no {image_format} end marker)")
    return ImageInfo(width=width, height=height, mime=MIME_BY_IMAGE_FORMAT[image_format])


#: How far from the end an end marker may sit: some cameras pad the file after it.
_END_MARKER_WINDOW = 4096


def decode_image(data: bytes, *, max_side: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image to RGB, upright (EXIF orientation applied, so boxes match what people see).

    With `max_side`, a JPEG larger than that is decoded at a reduced scale in the DCT domain (1/2, 1/4,
    1/8; never below `max_side` on its longer side), which costs a fraction of a full decode: a detector
    resizes to its own input anyway. Truncated or corrupt data raises MediaError.
    """
    with _bomb_guard(max_pixels):
        try:
            image = Image.open(io.BytesIO(data))
            _check_dimensions(image, max_pixels)
            if max_side is not None and image.format == "JPEG" and max(image.size) > max_side:
                scale = max_side / max(image.size)
                image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
            image.load()
            # Each of these copies the whole picture, so only when there is something to change.
            if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I"):
                # 16-bit grey (thermal cameras, NVR exports) opens as I;16: converted as it is, every
                # value above 255 would be white. Scaled to 8 bits first.
                image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
            return image if image.mode == "RGB" else image.convert("RGB")
        except MediaError:
            raise
        except UnidentifiedImageError:
            raise MediaError("not an image (content is not a recognised image format)") from None
        except (OSError, ValueError, SyntaxError, struct.error) as err:
            message = str(err)
            if "truncated" in message or "broken data stream" in message or "premature end" in message.lower():
                raise MediaError(f"{Rejection.TRUNCATED} ({message})") from None
            raise MediaError(f"corrupt image ({message})") from None


def load_image(
    path: Path | str, *, max_side: int | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """`decode_image` of a file (thumbnails and clips from stored images)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
    return decode_image(data, max_side=max_side, max_pixels=max_pixels)
