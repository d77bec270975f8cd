"""Recordings whose timestamps or declared length lie, and what a recording says of itself (real
H.264 and AV1 files made with PyAV). Each was a review's finding, then tried:

1. A Matroska recording written live (no duration) whose clock jumps far ahead (a camera's clock set
   mid-recording, a garbage RTC): the sampler stepped its next target one stride at a time up to the
   jump, spinning a detect worker's thread (which cannot be cancelled) for hours.
2. A recording of 6 s whose header says 10 hours: the stride planned from the claim looked at one
   picture, and the worker dated the detections 10 hours before the upload.
3. A frame stamped 1e11 s: the worker's date arithmetic overflowed, five times, then the upload went to
   the dead letters, no row saying what was wrong with it. A recording declaring over a day is refused
   at intake; frames stamped past a day end it.
4. An AV1 recording was stored as "libdav1d", the decoder, instead of its codec.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import pytest
import redis.asyncio as aioredis
from PIL import Image

from server.detect import DetectedObject
from server.pipeline.detect_worker import DetectWorker
from server.pipeline.intake import MediaRejected, submit_file
from server.pipeline.media.errors import MediaError
from server.pipeline.media.video import probe_video, sample_video, validate_video
from tests.support.media import clip_frame, write_h264_clip
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.watching import drained, rows


def write_live_mkv(path: Path, stamps_ms: Sequence[int], size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 Matroska written as a camera streams to disk (no duration), frames at `stamps_ms`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = Fraction(1, 1000)
    with av.open(str(path), "w", format="matroska", options={"live": "1"}) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.max_b_frames = 0
        stream.time_base = stream.codec_context.time_base = base
        for index, stamp in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, size), format="rgb24").reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = stamp, base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_mkv_declaring(path: Path, seconds: float, declared_seconds: float) -> Path:
    """An H.264 Matroska of `seconds` at 10 fps whose Segment Info says it lasts `declared_seconds`."""
    write_h264_clip(path, seconds=seconds, fps=10)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x44\x89")  # Duration (a float, in TimestampScale units: ms)
    width = data[at + 2] & 0x7F
    fmt = ">d" if width == 8 else ">f"
    data[at + 3 : at + 3 + width] = struct.pack(fmt, declared_seconds * 1000.0)
    path.write_bytes(bytes(data))
    return path


def test_a_clock_jump_in_a_live_recording_does_not_hang_sampling(tmp_path: Path) -> None:
    # 0.6 s of frames, then the clock jumps far ahead (1e14 ms, a garbage RTC): two frames there.
    jump = 10**14
    path = write_live_mkv(tmp_path / "cam" / "jump.mkv", [0, 100, 200, 300, 400, 500, 600, jump, jump + 100])
    info = validate_video(path)  # intake lets it in (it decodes)
    assert info.duration == 0.0  # no duration in a live recording: no planned stride
    script = textwrap.dedent(
        f"""
        from server.pipeline.media.video import sample_video
        sample = sample_video({str(path)!r}, duration=None, max_side=640)
        print(len(sample.frames))
        """
    )
    try:
        done = subprocess.run([sys.executable, "-c", script], timeout=30, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "sample_video of a 9-frame recording with a forward clock jump ran past 30 s "
            "(video_frames steps its target one stride at a time up to the jump)"
        ) from None
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]  # 0.5 s; the frames past a day end the recording


class OneBoxEach:
    """A stand-in detector: one box in the middle of every picture."""

    name = "one-box"
    device = "cpu"
    fallback = False
    reason = "test"
    last_inference_ms: float | None = None

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]:
        return [
            [
                DetectedObject(
                    "person", 0.99, image.width // 4, image.height // 4, image.width // 2, image.height // 2
                )
            ]
            for image in images
        ]

    def warmup(self) -> None:
        pass


def test_a_recording_declaring_ten_hours_is_still_looked_at_across_its_frames(tmp_path: Path) -> None:
    honest = write_h264_clip(tmp_path / "honest.mkv", seconds=6, fps=10)
    lying = write_mkv_declaring(tmp_path / "lying.mkv", seconds=6, declared_seconds=36_000)
    honest_info, lying_info = validate_video(honest), validate_video(lying)
    assert lying_info.duration == 36_000.0
    honest_picks = [at for at, _ in sample_video(honest, duration=honest_info.duration).frames]
    lying_picks = [at for at, _ in sample_video(lying, duration=lying_info.duration).frames]
    assert honest_picks == [0.5, 2.5, 4.5]
    # The same 6 s of frames: a person walking in at 3 s must be seen whatever the header claims.
    assert len(lying_picks) >= len(honest_picks), (
        f"6 s recording declaring 10 h sampled only at {lying_picks} (honest copy: {honest_picks})"
    )


async def test_detections_of_a_recording_declaring_ten_hours_are_dated_near_its_upload(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    settings = pipeline_settings(tmp_path)
    path = write_mkv_declaring(settings.cameras_dir / "yard" / "clip.mkv", seconds=6, declared_seconds=36_000)
    uploaded = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        assert (await submit_file(runtime, path, camera_folder="yard", source="watcher")).status == "queued"
        stop = asyncio.Event()
        task = asyncio.create_task(DetectWorker(runtime, OneBoxEach(), consumer="review").run(stop))
        try:
            await eventually(lambda: drained(runtime), timeout=60, interval=0.2)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        found = await rows(runtime)
    assert found, "no detections stored"
    earliest = min(row.detected_at for row in found)
    # The recording holds 6 s of pictures written before its mtime: nothing in it is 10 hours old.
    assert (uploaded - earliest).total_seconds() <= 60, (
        f"detections dated {uploaded - earliest} before the upload of a 6 s recording"
    )


def write_mkv(path: Path, stamps_ms: Sequence[int], size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 Matroska (duration written at the end, as usual) with frames at `stamps_ms`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = Fraction(1, 1000)
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.max_b_frames = 0
        stream.time_base = stream.codec_context.time_base = base
        for index, stamp in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, size), format="rgb24").reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = stamp, base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


async def test_a_recording_declaring_more_than_a_day_is_refused_at_intake(
    tmp_path: Path, db_url: str, redis: aioredis.Redis
) -> None:
    """Frames at 0-0.6 s and two at 1e11 s: refused with the reason, once; none dead-lettered."""
    settings = pipeline_settings(tmp_path)
    stamps = [0, 100, 200, 300, 400, 500, 600, 10**14, 10**14 + 100]
    path = write_mkv(settings.cameras_dir / "yard" / "clip.mkv", stamps)
    with pytest.raises(MediaError, match="video too long"):
        validate_video(path)
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        with pytest.raises(MediaRejected, match=r"video too long \(100000000000 s declared, limit 86400 s\)"):
            await submit_file(runtime, path, camera_folder="yard", source="watcher")
        assert await redis.xlen("hsi:detect") == 0  # nothing queued, so nothing to retry or dead-letter


def _write_with(path: Path, encoder: str) -> Path:
    base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=10)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = base
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, (320, 240)), format="rgb24").reformat(
                format="yuv420p"
            )
            frame.pts, frame.time_base = index * 100, base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _have(encoder: str) -> bool:
    try:
        av.codec.Codec(encoder, "w")
    except (av.FFmpegError, ValueError):
        return False
    return True


def test_an_av1_recording_is_stored_as_av1(tmp_path: Path) -> None:
    if not _have("libsvtav1"):
        pytest.skip("no AV1 encoder in this FFmpeg build")
    info = probe_video(_write_with(tmp_path / "clip.mkv", "libsvtav1"))
    assert info.codec == "av1", f"codec reported as {info.codec!r}"
