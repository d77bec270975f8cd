"""Camera media: checking uploads, decoding images and video frames, writing thumbnails and clips.

Cheap cameras upload over FTP, and an upload can be empty, cut short, or not what its name says. An
image's bytes are checked cheaply when it joins the pipeline (`inspect_image`: format, size, end
marker) and decoded once, in the detect worker (`decode_image`); anything unusable raises `MediaError`
with a reason precise enough to put in the log row that says why the file was rejected.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol, cast

import av
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from server import vocabulary
from server.vocabulary import (
    IMAGE_EXTENSIONS,
    MIME_BY_IMAGE_FORMAT,
    VIDEO_EXTENSIONS,
    ObjectGroup,
    Rejection,
    shown_group_of,
)

#: Smaller "images" are camera error pages or aborted uploads.
MIN_IMAGE_BYTES = 10 * 1024
MIN_VIDEO_BYTES = 1024
#: 64 megapixels: above any camera sensor here, far below what would exhaust memory when decoded.
MAX_IMAGE_PIXELS = 64_000_000

THUMBNAIL_SIZE = (320, 240)
THUMBNAIL_QUALITY = 85

MediaType = Literal["image", "video"]


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


class MediaError(Exception):
    """A file that cannot be used; `reason` is one short line for logs and API errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageInfo:
    width: int
    height: int
    mime: str


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float
    codec: str
    width: int
    height: int
    mime: str


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


# --- file types -----------------------------------------------------------------------------------


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


def _check_size(path: Path, minimum: int) -> int:
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


# --- images ---------------------------------------------------------------------------------------


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


def load_image(path: Path | str, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """`decode_image` of a file (thumbnails and clips from stored images)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise MediaError(Rejection.FILE_NOT_FOUND) from None
    return decode_image(data, max_pixels=max_pixels)


# --- video ----------------------------------------------------------------------------------------


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
            mime=mime_for_path(path) if path.suffix.lower() in VIDEO_EXTENSIONS else "video/mp4",
        )
    finally:
        container.close()


def validate_video(path: Path | str, *, min_bytes: int = MIN_VIDEO_BYTES) -> VideoInfo:
    """Check size, metadata, and that at least one frame decodes."""
    path = Path(path)
    _check_size(path, min_bytes)
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


def first_frame_jpeg(path: Path | str) -> bytes:
    """The first decodable frame of a video as a JPEG (a camera's snapshot when it uploaded a video),
    scaled down like a clip's frames (`clip_size`)."""
    with closing(video_frames(path, every=1e9)) as frames:
        _shown_at, frame = next(frames)
        image = frame.reformat(*clip_size(frame.width, frame.height), format="rgb24").to_image()
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


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


# --- thumbnails -----------------------------------------------------------------------------------


def box_colour(object_type: str) -> tuple[int, int, int]:
    """Red for people, blue for vehicles, green for animals, yellow for anything else."""
    return _COLOURS.get(shown_group_of(object_type), OTHER_COLOUR)


def _atomic_write(out_path: Path, suffix: str) -> tuple[Path, Path]:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=suffix, dir=out_path.parent)
    os.close(handle)
    return Path(temp_name), out_path


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
        temp, final = _atomic_write(Path(out_path), ".jpg")
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


# --- clips ----------------------------------------------------------------------------------------

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


class ClipWriter:
    """An H.264 yuv420p mp4 that browsers and Home Assistant play, written frame by frame.

    Each frame is encoded when it is added, at its own time (variable frame rate, millisecond time
    base), and then dropped: memory does not grow with the clip's length. The size is the first
    frame's (`clip_size`); later frames of another shape are letterboxed into it. The file appears
    under its name only when `close()` finishes it (moov atom first, so a player can start before the
    whole file has arrived); leaving the `with` block on an error leaves nothing behind.
    """

    def __init__(self, out_path: Path | str, *, max_pixels: int = MAX_CLIP_PIXELS) -> None:
        self._temp, self._final = _atomic_write(Path(out_path), ".mp4")
        self._max_pixels = max_pixels
        self._container: av.container.OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._last_pts = -1
        self._done = False
        self.frames = 0

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
        pts = round(at * 1000)
        if pts <= self._last_pts:
            return
        stream = self._stream or self._open(*_frame_size(frame))
        picture = _fit(frame, (stream.width, stream.height))
        picture.pts, picture.time_base = pts, CLIP_TIME_BASE
        assert self._container is not None
        self._container.mux(stream.encode(picture))
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
        if self._container is not None:
            self._container.close()
            self._container = None
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


#: libx264 options: `veryfast` keeps the encoder's look-ahead (memory) and CPU time small.
_ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23"}


def _frame_size(frame: av.VideoFrame | Image.Image) -> tuple[int, int]:
    return (frame.width, frame.height)


def _fit(frame: av.VideoFrame | Image.Image, size: tuple[int, int]) -> av.VideoFrame:
    """The frame as a yuv420p frame of the clip's size: scaled by FFmpeg when the shape matches,
    letterboxed (through Pillow) when it does not."""
    width, height = _frame_size(frame)
    same_shape = abs(width / height - size[0] / size[1]) < 0.01
    if isinstance(frame, av.VideoFrame) and same_shape:
        return frame.reformat(width=size[0], height=size[1], format="yuv420p")
    image = frame.to_image() if isinstance(frame, av.VideoFrame) else frame
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
