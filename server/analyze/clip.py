"""An event's clip: the event's uploads in the order they came, as a video worth watching.

* A video upload keeps its own frame rate up to `media.encode.MAX_CLIP_FPS` (10 fps) and its whole length:
  a 79.5 s, 10 fps recording stays 79.5 s at 10 fps (the clip used to be 2 fps and at most 60 s).
* Snapshots (cameras that upload only stills) show at their real timing: each stays on screen until
  the next upload came, so a person crossing the yard in six snapshots over 12 s plays for 12 s. A
  longer pause between two uploads is shortened to `MAX_STILL_SECONDS`, and the last still shows for
  `LAST_STILL_SECONDS`. One snapshot alone is a picture, not a clip: the event's thumbnail shows it.
* The clip ends at `CLIP_MAX_SECONDS`.

Memory stays bounded whatever the sources: frames are decoded, scaled down to the clip's size
(`media.encode.MAX_CLIP_PIXELS`) and encoded one at a time (`media.encode.ClipWriter`); no list of frames is built.
An upload that cannot be read (deleted meanwhile, broken) is skipped with a log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from server.models import Detection
from server.pipeline.media.encode import MAX_CLIP_FPS, ClipWriteFailed, ClipWriter
from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import MediaType
from server.pipeline.media.image import load_image
from server.pipeline.media.video import video_frames

_LOGGER = logging.getLogger("hsi.analyze")

CLIP_MAX_SECONDS = 300.0
MAX_STILL_SECONDS = 10.0
LAST_STILL_SECONDS = 1.0
#: Stills are decoded (JPEG: in the DCT domain) no smaller than this on their longer side: at least
#: the clip's own size (`MAX_CLIP_PIXELS`, 1920×1080), never a 64 MP picture for a 1080p frame.
_STILL_MAX_SIDE = 1920
#: A video that follows another upload starts one frame after it.
_FRAME = 1.0 / MAX_CLIP_FPS


@dataclass(frozen=True, slots=True)
class Upload:
    """One file of the event, at the time its first picture was taken: a still's upload time, a
    recording's start."""

    path: str
    kind: MediaType
    at: datetime


def event_uploads(rows: Sequence[Detection]) -> list[Upload]:
    """The distinct files an event's detections come from, oldest first (blocking: reads the times of
    recordings' files)."""
    first: dict[str, Detection] = {}
    for row in rows:
        known = first.get(row.file_path)
        if known is None or row.detected_at < known.detected_at:
            first[row.file_path] = row
    uploads = [
        Upload(path, "video", _recording_start(row))
        if row.media_type == "video"
        else Upload(path, "image", row.detected_at)
        for path, row in first.items()
    ]
    return sorted(uploads, key=lambda upload: (upload.at, upload.path))


def _recording_start(first: Detection) -> datetime:
    """When a recording began, from its first detection: a camera writes the file while it records, so
    its time less its length (as the detect worker dates its frames), never after that detection nor
    more than the length before it. Placed at its first detection instead, a recording whose person
    shows late left the still before it frozen on screen for the difference."""
    seen = first.detected_at
    if not first.duration:
        return seen
    length = timedelta(seconds=first.duration)
    try:
        written = datetime.fromtimestamp(min(Path(first.file_path).stat().st_mtime, time.time()), tz=UTC)
    except OSError:
        return seen
    return min(seen, max(seen - length, written - length))


def worth_a_clip(uploads: Sequence[Upload]) -> bool:
    """A video, or at least two stills."""
    return any(upload.kind == "video" for upload in uploads) or len(uploads) >= 2


def make_event_clip(uploads: Sequence[Upload], out_path: Path) -> Path | None:
    """Encode the clip of `uploads` (see the module docstring); None when fewer than two frames made it."""
    if not uploads:
        return None
    with ClipWriter(out_path) as writer:
        cursor = 0.0  # the clip time the next upload may start at
        previous: tuple[datetime, float] | None = None  # the last upload's time and clip start
        still: Image.Image | None = None
        for upload in uploads:
            start = cursor
            if previous is not None:
                pause = min(MAX_STILL_SECONDS, max(0.0, (upload.at - previous[0]).total_seconds()))
                start = max(cursor, previous[1] + pause)
            if start >= CLIP_MAX_SECONDS:
                break
            try:
                if upload.kind == "video":
                    cursor = _add_video(writer, upload.path, start)
                    still = None
                else:
                    still = load_image(upload.path, max_side=_STILL_MAX_SIDE)
                    writer.add(still, start)
                    cursor = start + 0.001
            except ClipWriteFailed:
                raise  # the clip's own file, not this upload: no clip (the worker logs why)
            except (MediaError, OSError) as err:
                _LOGGER.warning("clip: skipping %s: %s", upload.path, getattr(err, "reason", err))
                continue
            previous = (upload.at, start)
        if still is not None and previous is not None:
            writer.add(still, min(CLIP_MAX_SECONDS, previous[1] + LAST_STILL_SECONDS))
        if writer.frames < 2:
            writer.discard()
            return None
        return writer.close()


def _add_video(writer: ClipWriter, path: str, start: float) -> float:
    """Add a video's frames (its own rate up to 10 fps) from clip time `start`; returns where it ends."""
    end = start
    with closing(video_frames(path, every=_FRAME)) as frames:
        for shown_at, frame in frames:
            at = start + shown_at
            if at > CLIP_MAX_SECONDS:
                break
            writer.add(frame, at)
            end = at
    return end + _FRAME
