"""Event clips: an H.264 mp4 that browsers and Home Assistant play, encoded frame by frame.

Frames are scaled down to at most 1920×1080 and encoded as they are added, so a clip's memory does
not grow with its length or its source's size.
"""

from __future__ import annotations

import contextlib
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.video.stream import VideoStream
from PIL import Image

from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import temp_beside
from server.pipeline.media.frames import is_turned, shown_picture, shown_size

#: H.264 encoders in preference order: PyAV's bundled FFmpeg has libx264; others exist in some builds.
H264_ENCODERS = ("libx264", "h264", "libopenh264")


def h264_encoder() -> str:
    """The first H.264 encoder this FFmpeg build provides."""
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        return name
    raise MediaError("no H.264 encoder in this FFmpeg build")


#: Clips keep their source's frame rate up to this (a camera's 10 fps stays 10 fps; 25 fps become 10).
MAX_CLIP_FPS = 10.0
#: Clip frames are scaled down to at most this many pixels (1920×1080) as they are decoded: a 4K
#: source then costs a 1080p frame's memory at a time, and phones play the result.
MAX_CLIP_PIXELS = 1920 * 1080
#: Frame times are kept in milliseconds, so each frame shows for as long as it really did.
CLIP_TIME_BASE = Fraction(1, 1000)


def clip_size(width: int, height: int, max_pixels: int = MAX_CLIP_PIXELS) -> tuple[int, int]:
    """The source's size scaled down (never up) to `max_pixels`, rounded down to even numbers (4:2:0
    chroma needs them)."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class ClipWriteFailed(OSError):
    """The clip's own file could not be written (a full disk): the clip ends here, without a file.
    (PyAV's muxer crashes the process when frames are muxed after a failed write.)"""


class ClipWriter:
    """An H.264 yuv420p mp4 that browsers and Home Assistant play, written frame by frame.

    Each frame is encoded when it is added, at its own time (variable frame rate, millisecond time
    base), and then dropped: memory does not grow with the clip's length. The size is the first
    frame's (`clip_size`); later frames of another shape are letterboxed into it. The file appears
    under its name only when `close()` finishes it (moov atom first, so a player can start before the
    whole file has arrived); leaving the `with` block on an error leaves nothing behind.
    """

    def __init__(self, out_path: Path | str, *, max_pixels: int = MAX_CLIP_PIXELS) -> None:
        self._temp, self._final = temp_beside(Path(out_path), ".mp4")
        self._max_pixels = max_pixels
        self._container: av.container.OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._last_pts = -1
        self._done = False
        self.frames = 0
        #: A write failed (`ClipWriteFailed`): nothing more may be added.
        self.broken = False

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the last one added."""
        return max(0, self._last_pts) / 1000

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._done:
            return
        if kind is None:
            self.close()
        else:
            self.discard()

    def add(self, frame: av.VideoFrame | Image.Image, at: float) -> None:
        """Encode `frame` to show from `at` seconds; a frame not after the previous one is dropped."""
        if self.broken:
            raise ClipWriteFailed("the clip's file failed to be written before")
        pts = round(at * 1000)
        if pts <= self._last_pts:
            return
        stream = self._stream or self._open(*_frame_size(frame))
        picture = _fit(frame, (stream.width, stream.height))
        picture.pts, picture.time_base = pts, CLIP_TIME_BASE
        assert self._container is not None
        try:
            self._container.mux(stream.encode(picture))
        except OSError as err:  # a full disk: the muxer is left half-written, and muxing on crashes it
            self.broken = True
            raise ClipWriteFailed(err.errno, f"the clip cannot be written: {err.strerror or err}") from err
        self._last_pts = pts
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and give it its name; raises `MediaError` when no frame was added."""
        if self._container is None or self._stream is None:
            self.discard()
            raise MediaError("no frames to encode")
        try:
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None
            os.replace(self._temp, self._final)
        finally:
            self.discard()  # after the rename there is no temporary file left to remove
        return self._final

    def discard(self) -> None:
        """Stop without a file (an error, or nothing worth a clip)."""
        self._done = True
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(OSError):  # finishing a file the disk refused fails again
                container.close()
        self._temp.unlink(missing_ok=True)

    def _open(self, width: int, height: int) -> VideoStream:
        container = av.open(str(self._temp), mode="w", format="mp4", options={"movflags": "+faststart"})
        stream = cast(
            VideoStream,
            container.add_stream(h264_encoder(), rate=int(MAX_CLIP_FPS), options=_ENCODER_OPTIONS),
        )
        stream.width, stream.height = clip_size(width, height, self._max_pixels)
        stream.pix_fmt = "yuv420p"
        # No B-frames: with them the encoder invents decode times for a constant rate, and a clip of
        # snapshots seconds apart gets a wrong duration.
        stream.codec_context.max_b_frames = 0
        stream.time_base = stream.codec_context.time_base = CLIP_TIME_BASE
        self._container, self._stream = container, stream
        return stream


#: libx264 options. `veryfast` keeps the CPU time small; `zerolatency` drops the look-ahead (10 frames
#: at `veryfast`) and encodes each frame with threads working on slices of it, instead of one frame
#: per thread (libx264 would start 1.5 per core, each with frames of its own). Measured on the clip of
#: a 60 s 4K recording: 241 -> 169 MiB peak for the whole clip (decoder included), 34 -> 27 s.
_ENCODER_OPTIONS = {"preset": "veryfast", "tune": "zerolatency", "crf": "23"}


def _frame_size(frame: av.VideoFrame | Image.Image) -> tuple[int, int]:
    return shown_size(frame) if isinstance(frame, av.VideoFrame) else (frame.width, frame.height)


def _fit(frame: av.VideoFrame | Image.Image, size: tuple[int, int]) -> av.VideoFrame:
    """The frame as a yuv420p frame of the clip's size, as it is shown: scaled by FFmpeg when the shape
    matches (and it is shown as stored), turned or letterboxed through Pillow when not."""
    width, height = _frame_size(frame)
    same_shape = abs(width / height - size[0] / size[1]) < 0.01
    if isinstance(frame, av.VideoFrame) and same_shape and not is_turned(frame):
        return frame.reformat(width=size[0], height=size[1], format="yuv420p")
    image = shown_picture(frame, size if same_shape else None) if isinstance(frame, av.VideoFrame) else frame
    return av.VideoFrame.from_image(_letterbox(image, size)).reformat(format="yuv420p")


def _letterbox(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Fit an image into the clip's size, black bars where the shapes differ."""
    image = image.convert("RGB")
    if image.size == size:
        return image
    scale = min(size[0] / image.width, size[1] / image.height)
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(
        image.resize(inner, Image.Resampling.BILINEAR), ((size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2)
    )
    return canvas
