"""Event clips on real frames (OpenCV's vtest.avi): a camera's frame rate and length survive, snapshot-only
cameras get a clip at their real timing, big sources are scaled down, broken uploads are skipped."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from server.analyze.clip import (
    LAST_STILL_SECONDS,
    MAX_STILL_SECONDS,
    Upload,
    event_uploads,
    make_event_clip,
    worth_a_clip,
)
from server.models import Detection
from server.pipeline.media.video import probe_video
from tests.support.media import write_h264_clip, write_jpeg, write_vtest_snapshots
from tests.support.real_media import media_path

T0 = datetime(2025, 3, 1, 2, 14, tzinfo=UTC)


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(float(frame.pts * stream.time_base), 3) for frame in container.decode(stream)]


def _rate(times: list[float]) -> float:
    """Frames per second of a clip: frames shown per second of its length."""
    return (len(times) - 1) / (times[-1] - times[0])


def test_a_10_fps_recording_keeps_its_rate_and_its_length(tmp_path: Path) -> None:
    """The issue's case: vtest.avi, 79.5 s at 10 fps, used to become a 60 s clip at 2 fps."""
    source = probe_video(media_path("vtest.avi"))
    assert source.duration == pytest.approx(79.5, abs=0.1)
    started = time.perf_counter()
    out = make_event_clip([Upload(str(media_path("vtest.avi")), "video", T0)], tmp_path / "clips" / "event.mp4")
    print(f"clip of vtest.avi (795 frames, 768x576) made in {time.perf_counter() - started:.1f} s")
    assert out is not None
    info = probe_video(out)
    assert (info.codec, info.width, info.height) == ("h264", 768, 576)
    times = _frame_times(out)
    assert len(times) == 795
    assert _rate(times) >= 8.0 and _rate(times) == pytest.approx(10.0, rel=0.01)
    assert info.duration == pytest.approx(79.5, abs=0.2)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_a_faster_camera_is_capped_at_10_fps_and_a_4k_one_scaled_to_1080p(tmp_path: Path) -> None:
    fast = write_h264_clip(tmp_path / "fast.mp4", seconds=3.0, fps=25, size=(320, 240))
    big = write_h264_clip(tmp_path / "big.mp4", seconds=0.5, fps=10, size=(3840, 2160))
    fast_clip = make_event_clip([Upload(str(fast), "video", T0)], tmp_path / "fast_clip.mp4")
    big_clip = make_event_clip([Upload(str(big), "video", T0)], tmp_path / "big_clip.mp4")
    assert fast_clip is not None and big_clip is not None
    assert _rate(_frame_times(fast_clip)) == pytest.approx(10.0, rel=0.05)
    assert probe_video(fast_clip).duration == pytest.approx(3.0, abs=0.15)
    big_info = probe_video(big_clip)
    assert (big_info.width, big_info.height) == (1920, 1080)


def test_a_snapshot_only_event_gets_a_clip_at_the_real_timing(tmp_path: Path) -> None:
    """Six snapshots of the real scene, 2 s apart: each shows until the next came, the last for 1 s."""
    snapshots = write_vtest_snapshots(tmp_path / "cameras" / "Yard", count=6, every=2.0)
    rows = [
        Detection(
            camera_id="yard",
            file_path=str(path),
            detected_at=T0 + timedelta(seconds=2 * index),
            media_type="image",
            object_type=kind,
            confidence=0.8,
        )
        for index, path in enumerate(snapshots)
        for kind in ("person", "person")  # two people in each: one upload, however many rows
    ]
    uploads = event_uploads(rows)
    assert [upload.path for upload in uploads] == [str(path) for path in snapshots]
    assert worth_a_clip(uploads) and not worth_a_clip(uploads[:1])  # one still is a picture, not a clip

    out = make_event_clip(uploads, tmp_path / "clips" / "yard.mp4")

    assert out is not None
    assert _frame_times(out) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 10.0 + LAST_STILL_SECONDS]
    info = probe_video(out)
    assert (info.width, info.height) == (768, 576)
    assert info.duration == pytest.approx(10.0 + LAST_STILL_SECONDS, abs=0.15)


def test_long_pauses_are_shortened_and_unreadable_uploads_skipped(tmp_path: Path) -> None:
    first = write_jpeg(tmp_path / "a.jpg", (640, 480), seed=1)
    later = write_jpeg(tmp_path / "b.jpg", (1280, 720), seed=2)  # another shape: letterboxed
    uploads = [
        Upload(str(first), "image", T0),
        Upload(str(tmp_path / "deleted.jpg"), "image", T0 + timedelta(seconds=5)),
        Upload(str(later), "image", T0 + timedelta(seconds=75)),
    ]
    out = make_event_clip(uploads, tmp_path / "clip.mp4")
    assert out is not None
    assert _frame_times(out) == [0.0, MAX_STILL_SECONDS, MAX_STILL_SECONDS + LAST_STILL_SECONDS]
    assert (probe_video(out).width, probe_video(out).height) == (640, 480)
    # Nothing readable: no clip, and no file.
    assert make_event_clip(uploads[1:2] * 2, tmp_path / "none.mp4") is None
    assert not (tmp_path / "none.mp4").exists()


def test_a_recording_followed_by_a_snapshot_plays_one_after_the_other(tmp_path: Path) -> None:
    video = write_h264_clip(tmp_path / "rec.mp4", seconds=2.0, fps=10, size=(320, 240))
    still = write_jpeg(tmp_path / "after.jpg", (320, 240), seed=3)
    out = make_event_clip(
        [Upload(str(video), "video", T0), Upload(str(still), "image", T0 + timedelta(seconds=1))],
        tmp_path / "mixed.mp4",
    )
    assert out is not None
    times = _frame_times(out)
    assert times[:20] == pytest.approx([i / 10 for i in range(20)])
    assert times[20:] == pytest.approx([2.0, 2.0 + LAST_STILL_SECONDS])  # after the recording, not over it
