"""Recordings from cameras: probing their metadata and decoding their frames.

Frames are decoded one at a time and never kept by this module: `video_frames` yields them as they are
decoded, and `sample_video_frames` converts only the ones it picks, scaled down as they are converted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.stream import VideoStream
from PIL import Image

from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import VIDEO_MIME, check_size, mime_for_path

MIN_VIDEO_BYTES = 1024


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float
    codec: str
    width: int
    height: int
    mime: str


def _open_video(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError:
        raise MediaError("file not found") from None
    except (av.FFmpegError, OSError, ValueError) as err:
        raise MediaError(f"not a readable video ({err})") from None


def probe_video(path: Path | str) -> VideoInfo:
    """Container metadata of a video: duration in seconds, codec (e.g. h264), size, MIME type."""
    path = Path(path)
    container = _open_video(path)
    try:
        if not container.streams.video:
            raise MediaError("no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        if width <= 0 or height <= 0:
            raise MediaError("video stream has no frame size")
        return VideoInfo(
            duration=round(duration, 3),
            codec=codec,
            width=width,
            height=height,
            mime=mime_for_path(path) if path.suffix.lower() in VIDEO_MIME else "video/mp4",
        )
    finally:
        container.close()


def validate_video(path: Path | str, *, min_bytes: int = MIN_VIDEO_BYTES) -> VideoInfo:
    """Check size, metadata, and that at least one frame decodes."""
    path = Path(path)
    check_size(path, min_bytes)
    info = probe_video(path)
    if not sample_video_frames(path, every=1e9, start=0.0, max_frames=1):
        raise MediaError("no decodable video frame")
    return info


def sample_video_frames(
    path: Path | str,
    every: float = 2.0,
    start: float = 0.5,
    max_frames: int = 30,
    *,
    duration: float | None = None,
    max_side: int | None = None,
) -> list[tuple[float, Image.Image]]:
    """One RGB frame every `every` seconds from `start` (at most `max_frames`), with its timestamp.

    Each pick is the first frame shown at or after its target time; the timestamp returned is that
    frame's own (seconds from the start of the stream). Frames in between are decoded but never
    converted, which is where the time would go. Given the clip's `duration`, the step widens so the
    picks span the whole clip (a person who appears at 90 s of a 120 s clip is not missed for want of
    frames). `max_side` scales each picked frame down as it is converted, so a 4K clip never holds
    4K pictures in memory.
    """
    if max_frames < 1:
        raise ValueError("max_frames must be >= 1")
    if duration is not None and duration > start:
        every = max(every, (duration - start) / max_frames)
    picked: list[tuple[float, Image.Image]] = []
    with closing(video_frames(path, every=every, start=start)) as frames:
        for shown_at, frame in frames:
            picked.append((shown_at, _frame_image(frame, max_side)))
            if len(picked) >= max_frames:
                break
    return picked


def video_frames(path: Path | str, every: float, start: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames of a video, one every `every` seconds from `start` at most, as they are decoded.

    Each is the first frame shown at or after its target time, with that frame's own time (seconds from
    the start of the stream). Nothing is kept: a caller that stops early closes the file. Raises
    `MediaError` when not one frame decodes.
    """
    if every <= 0 or start < 0:
        raise ValueError("every must be > 0, start >= 0")
    path = Path(path)
    container = _open_video(path)
    yielded = 0
    errors = 0
    last_error = ""
    try:
        if not container.streams.video:
            raise MediaError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 90_000)
        origin = stream.start_time or 0
        rate = stream.average_rate or stream.guessed_rate
        # Half a frame of slack, so a frame stamped 0.4999 s still counts as the 0.5 s pick.
        slack = 0.5 / float(rate) if rate else 1e-3
        target = start
        for frame in _decoded_frames(container, stream):
            if isinstance(frame, str):
                errors += 1
                last_error = frame
                if errors > MAX_DECODE_ERRORS:
                    break
                continue
            if frame.pts is None:
                continue
            shown_at = float((frame.pts - origin) * time_base)
            if shown_at + slack < target:
                continue
            yielded += 1
            yield round(shown_at, 3), frame
            while target <= shown_at + slack:
                target += every
    finally:
        container.close()
    if not yielded:
        detail = f" ({errors} packets failed to decode: {last_error})" if errors else ""
        raise MediaError(f"no decodable video frame{detail}")


def _frame_image(frame: av.VideoFrame, max_side: int | None) -> Image.Image:
    """The frame as an RGB picture, no larger than `max_side` on its longer side."""
    if max_side is not None and max(frame.width, frame.height) > max_side:
        scale = max_side / max(frame.width, frame.height)
        frame = frame.reformat(width=max(2, round(frame.width * scale)), height=max(2, round(frame.height * scale)))
    return frame.to_image().convert("RGB")


#: Corrupt packets tolerated before a video is given up on (a damaged clip often recovers at the next
#: keyframe, so a few bad packets are skipped rather than failing the whole file).
MAX_DECODE_ERRORS = 50


def _decoded_frames(
    container: av.container.InputContainer, stream: VideoStream
) -> Iterator[av.VideoFrame | str]:
    """Frames of one stream, packet by packet; a packet that fails to decode yields its error text."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.FFmpegError as err:
                yield str(err) or type(err).__name__
    except av.FFmpegError as err:  # demuxing itself failed (file cut short): stop here
        yield str(err) or type(err).__name__
