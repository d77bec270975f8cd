"""Camera-like media for tests: real JPEG and H.264 files, and the broken variants FTP uploads produce.

Written with Pillow and PyAV directly (not with the product's media module) so the product's readers and
writers are checked against files they did not make.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from tests.support.real_media import media_path


def noise_image(size: tuple[int, int] = (640, 480), seed: int = 0) -> Image.Image:
    """An RGB picture of noise with a few solid shapes: it compresses badly, like a real camera frame."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1, y1 = x0 + int(rng.integers(8, width // 2)), y0 + int(rng.integers(8, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.rectangle((x0, y0, x1, y1), fill=colour)
    return image


def write_jpeg(path: Path, size: tuple[int, int] = (640, 480), seed: int = 0, quality: int = 90) -> Path:
    """A valid JPEG well above the 10 KB minimum (a 640x480 one is ~100 KB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(size, seed).save(path, "JPEG", quality=quality)
    return path


def write_png(path: Path, size: tuple[int, int] = (320, 240), seed: int = 0) -> Path:
    """A valid PNG (noise, so it stays large)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(size, seed).save(path, "PNG")
    return path


def clip_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `index` of a test clip: a gradient with a bright square moving left to right."""
    width, height = size
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    frame[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    frame[..., 2] = (index * 7) % 256
    side = max(8, height // 4)
    x = (index * 4) % max(1, width - side)
    frame[height // 3 : height // 3 + side, x : x + side] = 255
    return frame


def write_h264_clip(
    path: Path,
    seconds: float = 3.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    *,
    options: dict[str, str] | None = None,
) -> Path:
    """H.264 of `seconds` at `fps` (frame i shown at i/fps seconds), in the container the suffix names,
    with the muxer's `options` (an MP4's index first, fragments)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, size), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_sideways_mp4(path: Path, seconds: float = 3.0, size: tuple[int, int] = (320, 240)) -> Path:
    """`write_h264_clip`'s MP4 with a display matrix in its track header that players turn a quarter
    clockwise (what `ffmpeg -metadata:s:v rotate=90` writes, and a camera mounted sideways): shown
    `size[1]` wide and `size[0]` high, the stored left edge at the top."""
    write_h264_clip(path, seconds=seconds, fps=10, size=size)
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd") - 4
    matrix = at + 8 + 4 + (32 if data[at + 8] == 1 else 20) + 8 + 8  # version 1 has 64-bit times
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def write_undecodable_mp4(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """An mp4 whose index (moov) is intact but whose frame data (mdat) is zeroed.

    Probing it succeeds (codec, size, duration are all in the index), yet not one frame decodes: what a
    camera that lost its encoder mid-upload, or a disk that lost blocks, leaves behind.
    """
    write_h264_clip(path, seconds, fps)
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat") - 4
    size = struct.unpack(">I", bytes(data[at : at + 4]))[0]
    data[at + 8 : at + size] = bytes(size - 8)
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to a fraction of its bytes, as an interrupted FTP upload leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def write_png_claiming_size(path: Path, width: int, height: int, padding: int = 16_384) -> Path:
    """A small PNG whose header claims `width` x `height` pixels: a decompression bomb's signature.

    A text chunk pads it past the 10 KB minimum, so the size check cannot be what rejects it.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(b"\x00" * 64)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"tEXt", b"Comment\x00" + b"x" * padding)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


#: OpenCV's sample clip, a fixed camera over a path with people walking: 795 frames, 10 fps, 768×576,
#: 79.5 s. From Debian's `opencv-doc` (`make test` installs it; never committed: data/README.md).
def _vtest() -> Path:
    return media_path("vtest.avi")


def vtest_frames(every: float = 0.1, count: int | None = None) -> Iterator[tuple[float, Image.Image]]:
    """Real frames of vtest.avi, one every `every` seconds (at most `count`), with their times."""
    picked = 0
    with av.open(str(_vtest())) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            shown_at = float(frame.pts * stream.time_base)
            if shown_at + 1e-3 >= picked * every:
                picked += 1
                yield shown_at, frame.to_image().convert("RGB")
                if count is not None and picked >= count:
                    return


def write_vtest_clip(path: Path, seconds: float) -> Path:
    """The first `seconds` of vtest.avi re-encoded as the H.264 mp4 a camera uploads (10 fps, real frames)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = 768, 576
        stream.pix_fmt = "yuv420p"
        for index, (_t, image) in enumerate(vtest_frames(0.1, round(seconds * 10))):
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_vtest_snapshots(folder: Path, count: int, every: float) -> list[Path]:
    """JPEG snapshots of vtest.avi's scene `every` seconds apart, as a snapshot-only camera uploads them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (_t, image) in enumerate(vtest_frames(every, count)):
        path = folder / f"snap_{index:03d}.jpg"
        image.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def write_recording(
    path: Path,
    pictures: Iterator[Image.Image],
    *,
    fps: int,
    size: tuple[int, int],
    live: bool = False,
    preset: str = "ultrafast",
) -> Path:
    """An H.264 recording of `pictures` (scaled to `size` by FFmpeg), frame i shown at i/fps seconds.

    The container follows the extension. `live` writes Matroska as a camera streaming to disk does
    (`-f matroska -live 1`): no duration in the header and no index, so a reader learns the length only
    by decoding to the end.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"live": "1"} if live else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": preset})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, image in enumerate(pictures):
            frame = av.VideoFrame.from_image(image).reformat(width=size[0], height=size[1], format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def grey_then_people(grey_seconds: float, people_seconds: float, fps: int) -> Iterator[Image.Image]:
    """A camera looking at nothing (flat grey) for `grey_seconds`, then vtest.avi's street with people
    walking for `people_seconds` (its frames from 10 s in, where several people are in view)."""
    grey = Image.new("RGB", (768, 576), (128, 128, 128))
    for _ in range(round(grey_seconds * fps)):
        yield grey
    street = vtest_frames(1.0 / fps, round((10 + people_seconds) * fps))
    for shown_at, image in street:
        if shown_at >= 10 - 1e-3:
            yield image
