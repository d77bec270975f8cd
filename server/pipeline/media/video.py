"""Recordings from cameras: probing their metadata and decoding their frames.

Frames are decoded one at a time and never kept by this module: `video_frames` yields them as they are
decoded, and `sample_video` converts only the ones it picks, scaled down as they are converted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
from av.video.stream import VideoStream
from PIL import Image

from server.pipeline.media.containers import check_complete
from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import check_size, mime_for_path
from server.pipeline.media.frames import is_turned, shown_picture, shown_size
from server.vocabulary import VIDEO_EXTENSIONS, Rejection

MIN_VIDEO_BYTES = 1024
#: 8K UHD (7680×4320): above any camera here. The decoder holds whole frames of the source's size (its
#: reference frames, one per decoding thread) however small the pictures taken from them are scaled, so
#: a recording claiming more is refused rather than decoded.
MAX_VIDEO_PIXELS = 7680 * 4320
#: Decoding threads per recording, and the pixels their frames may add up to: frame threading holds a
#: frame of the source's size (and its context, ~25 MB at 4K) per thread, and FFmpeg would start one
#: per core (17 on a 16-core host). So 4 threads up to 1080p, 2 at 4K, 1 above.
MAX_DECODE_THREADS = 4
DECODE_THREAD_PIXELS = 2 * 3840 * 2160
#: The detector's sampling: a picture every 2 s from 0.5 s, at most 30 per recording; a longer
#: recording is sampled over its whole length at a wider stride (`sample_video`).
SAMPLE_EVERY_SECONDS = 2.0
SAMPLE_START_SECONDS = 0.5
SAMPLE_MAX_FRAMES = 30
#: A stride this many times the one asked for is worth telling (`VideoSample.widened`).
WIDENED_BY = 1.25
#: The longest recording taken (a day): a camera's clip lasts seconds to minutes, and a container
#: declaring more, or a frame stamped later (a camera clock set mid-recording, a garbage RTC), says
#: nothing true of when its pictures were taken. Longer ones are refused; frames stamped later end it.
MAX_VIDEO_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float
    codec: str
    width: int
    height: int
    mime: str


@dataclass(frozen=True, slots=True)
class VideoSample:
    """Pictures taken across a recording: `frames` (seconds into it, picture), the stride they are
    apart, the stride asked for, and how far the sampling went (the time of the last frame considered,
    within one asked stride of the recording's end)."""

    frames: list[tuple[float, Image.Image]]
    every: float
    requested_every: float
    covered_until: float

    @property
    def widened(self) -> bool:
        """The recording was too long for the frame cap at the asked stride, and the stride grew by a
        quarter or more (a 60 s recording's 2.03 s instead of 2 s is not worth a word)."""
        return self.every >= self.requested_every * WIDENED_BY


def _open_video(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
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
        codec = stream.codec_context.codec.canonical_name  # av1, not the decoder's libdav1d
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        if width <= 0 or height <= 0:
            raise MediaError("video stream has no frame size")
        _check_pixels(width, height)
        if duration > MAX_VIDEO_SECONDS:
            raise MediaError(f"video too long ({duration:.0f} s declared, limit {MAX_VIDEO_SECONDS:.0f} s)")
        return VideoInfo(
            duration=round(duration, 3),
            codec=codec,
            width=width,
            height=height,
            mime=mime_for_path(path) if path.suffix.lower() in VIDEO_EXTENSIONS else "video/mp4",
        )
    finally:
        container.close()


def validate_video(path: Path | str, *, min_bytes: int = MIN_VIDEO_BYTES) -> VideoInfo:
    """Check size, that the container holds all it announces (`containers`), metadata, and that at
    least one frame decodes."""
    path = Path(path)
    check_size(path, min_bytes)
    try:
        check_complete(path)
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
    info = probe_video(path)
    with closing(video_frames(path, every=1e9)) as frames:
        _shown_at, frame = next(frames)  # MediaError when not one frame decodes; it is never converted
        if is_turned(frame):  # the size stored (boxes and zones are measured in it) is the shown one
            width, height = shown_size(frame)
            info = replace(info, width=width, height=height)
    return info


def sample_video(
    path: Path | str,
    every: float = SAMPLE_EVERY_SECONDS,
    start: float = SAMPLE_START_SECONDS,
    max_frames: int = SAMPLE_MAX_FRAMES,
    *,
    duration: float | None = None,
    max_side: int | None = None,
) -> VideoSample:
    """One RGB picture every `every` seconds from `start`, over the whole recording, at most `max_frames`.

    Each pick is the first frame shown at or after its target time; the time returned is that frame's
    own (seconds from the start of the stream). Frames in between are decoded but never converted,
    which is where the time would go. A recording longer than `max_frames` picks at `every` is sampled
    over its whole length at a wider stride: planned from its `duration` when that is given, and in any
    case (no duration in the container, or a wrong one) by thinning as it goes: when the picks reach the
    cap, every other one is dropped and the stride doubles. So the end of a long recording is never left
    unseen (a person who appears at 90 s of a 120 s recording is found), and at most `max_frames`
    pictures are held. `max_side` scales each picked frame down as it is converted, so a 4K recording
    never holds 4K pictures in memory.
    """
    if max_frames < 1:
        raise ValueError("max_frames must be >= 1")
    requested = every
    planned = duration is not None and duration > start
    if duration is not None and duration > start:
        # Half a stride of margin: the last planned pick stays inside a recording slightly shorter than
        # its metadata says, and a rounding error's extra pick does not halve the density.
        every = max(every, (duration - start) / max(1.0, max_frames - 0.5))
    picked: list[tuple[float, Image.Image]] = []
    step = 1  # every `step`-th candidate is kept: the stride is `every * step`
    shown_at = 0.0
    with closing(video_frames(path, every=every, start=start)) as frames:
        for index, (shown_at, frame) in enumerate(frames):
            if index % step:
                continue
            if len(picked) == max_frames:
                picked = picked[::2]
                step *= 2
                if index % step:
                    continue
            picked.append((shown_at, _frame_image(frame, max_side)))
    if planned and every > requested and len(picked) < max_frames and shown_at < (duration or 0.0) / 2:
        # The container claimed far more than its frames hold (6 s declaring 10 h): the stride planned
        # from its claim saw one picture. Again by the frames alone, thinning as they come.
        return sample_video(path, requested, start, max_frames, max_side=max_side)
    return VideoSample(picked, every * step, requested, shown_at)


def video_frames(path: Path | str, every: float, start: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames of a video, one every `every` seconds from `start` at most, as they are decoded.

    Each is the first frame shown at or after its target time, with that frame's own time (seconds from
    the start of the stream). A recording that ends before `start` (a 1-frame clip, a 0.4 s motion
    burst) gives its last frame: it decodes, so it is seen. Nothing else is kept: a caller that stops
    early closes the file. Raises `MediaError` when not one frame decodes.
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
        _check_pixels(stream.codec_context.width, stream.codec_context.height)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = decode_threads(stream.codec_context.width, stream.codec_context.height)
        time_base = stream.time_base or Fraction(1, 90_000)
        origin = stream.start_time or 0
        rate = stream.average_rate or stream.guessed_rate
        # Half a frame of slack, so a frame stamped 0.4999 s still counts as the 0.5 s pick.
        slack = 0.5 / float(rate) if rate else 1e-3
        target = start
        before_start: tuple[float, av.VideoFrame] | None = None
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
            if shown_at > MAX_VIDEO_SECONDS:
                break  # a clock jump: nothing from here on says when it was taken
            if shown_at + slack < target:
                if not yielded:
                    before_start = (round(shown_at, 3), frame)
                continue
            yielded += 1
            yield round(shown_at, 3), frame
            # The first target after this frame (in one step: a frame far ahead is no loop of strides).
            target = start + (math.floor((shown_at + slack - start) / every) + 1) * every
        if not yielded and before_start is not None:
            yielded += 1
            yield before_start
    finally:
        container.close()
    if not yielded:
        detail = f" ({errors} packets failed to decode: {last_error})" if errors else ""
        raise MediaError(f"no decodable video frame{detail}")


def _frame_image(frame: av.VideoFrame, max_side: int | None) -> Image.Image:
    """The frame as an RGB picture as it is shown, no larger than `max_side` on its longer side: scaled
    and converted by FFmpeg in one pass, so no full-size RGB copy of a 4K frame is made."""
    width, height = shown_size(frame)
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = max(2, round(width * scale)), max(2, round(height * scale))
    return shown_picture(frame, (width, height))


def decode_threads(width: int, height: int) -> int:
    """Decoding threads for frames of this size (see `DECODE_THREAD_PIXELS`)."""
    return max(1, min(MAX_DECODE_THREADS, DECODE_THREAD_PIXELS // max(1, width * height)))


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_VIDEO_PIXELS:
        raise MediaError(f"video too large ({width}x{height} pixels, limit {MAX_VIDEO_PIXELS})")


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
