"""What a camera file is by its name, whether it is big enough to be one, and temporary files beside it.

The pipeline recognises media by extension (cameras name their uploads honestly or not at all; the
content is checked by `image` and `video`), and the API serves stored files with the MIME type their
extension says. The extensions and MIME types themselves are `server.vocabulary`'s.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from server import vocabulary
from server.pipeline.media.errors import MediaError
from server.vocabulary import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Rejection

MediaType = Literal["image", "video"]


def media_type(path: Path | str) -> MediaType | None:
    """ "image" or "video" by extension (case-insensitive), None for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def require_media_type(path: Path | str) -> MediaType:
    """The media type, or MediaError naming the extension that is not supported."""
    kind = media_type(path)
    if kind is None:
        suffix = Path(path).suffix.lower() or "(none)"
        allowed = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        raise MediaError(f"unsupported file type {suffix} (allowed: {allowed})")
    return kind


def mime_for_path(path: Path | str) -> str:
    """The MIME type an HTTP response should carry for a stored file, by extension."""
    return vocabulary.mime_for_path(Path(path).name)


def check_size(path: Path, minimum: int) -> int:
    """The file's size in bytes; MediaError when it is missing, not a regular file, empty or too small."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
    except OSError as err:
        raise MediaError(f"file not readable: {err.strerror or err}") from None
    if not path.is_file():
        raise MediaError(Rejection.NOT_REGULAR_FILE)
    if size == 0:
        raise MediaError(f"{Rejection.EMPTY} (0 bytes)")
    if size < minimum:
        raise MediaError(f"{Rejection.TOO_SMALL} ({size} bytes, minimum {minimum})")
    return size


def temp_beside(out_path: Path, suffix: str) -> tuple[Path, Path]:
    """A new empty temporary file in `out_path`'s folder (created if missing), and `out_path`: written
    to the first and renamed to the second, a file appears whole or not at all."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=suffix, dir=out_path.parent)
    os.close(handle)
    return Path(temp_name), out_path
