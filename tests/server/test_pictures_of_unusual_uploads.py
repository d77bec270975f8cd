"""Pictures from unusual uploads: a 16-bit grey PNG is the picture, not a white sheet (detector, thumbnail,
clip), and a recording is placed in its event's clip when it was recorded, not at its first detection."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
from PIL import Image

from server.analyze.clip import Upload, event_uploads, make_event_clip
from server.models import Detection
from server.pipeline.media.image import decode_image, inspect_image
from server.pipeline.media.render import make_thumbnail
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.real_media import media_path

T0 = datetime(2025, 3, 1, 2, 14, tzinfo=UTC)


def _sixteen_bit_png(path: Path) -> Path:
    """The real 'cameraman' photo (camera.png) as a 16-bit grayscale PNG, as thermal / industrial
    cameras and some NVR exports write them (same picture, 0..65535 instead of 0..255)."""
    grey = np.asarray(Image.open(media_path("camera.png")).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(path, "PNG")
    return path


def test_a_16_bit_grayscale_png_is_seen_as_the_picture_not_a_white_sheet(tmp_path: Path) -> None:
    source = _sixteen_bit_png(tmp_path / "cam.png")
    data = source.read_bytes()
    inspect_image(data)  # intake lets it in
    original = np.asarray(Image.open(media_path("camera.png")).convert("L"), dtype=float)
    decoded = np.asarray(decode_image(data).convert("L"), dtype=float)
    thumb = make_thumbnail(source, [], tmp_path / "thumb.jpg")
    thumb_mean = float(np.asarray(Image.open(thumb).convert("L"), dtype=float)[8:-8, 48:-48].mean())
    assert abs(decoded.mean() - original.mean()) < 10, (
        f"a 16-bit PNG snapshot is decoded as a white sheet (mean brightness {decoded.mean():.1f} of 255, "
        f"the photo's is {original.mean():.1f}): the detector, the thumbnail (mean {thumb_mean:.1f}) and the "
        "event clip all show a blank white picture"
    )


def test_a_16_bit_png_snapshot_event_clip_shows_the_picture(tmp_path: Path) -> None:
    a = _sixteen_bit_png(tmp_path / "a.png")
    b = _sixteen_bit_png(tmp_path / "b.png")
    out = make_event_clip(
        [Upload(str(a), "image", T0), Upload(str(b), "image", T0 + timedelta(seconds=2))],
        tmp_path / "clip.mp4",
    )
    assert out is not None
    with av.open(str(out)) as container:
        first = next(container.decode(video=0)).to_image().convert("L")
    mean = float(np.asarray(first, dtype=float).mean())
    assert mean < 200, (
        f"the clip of 16-bit PNG snapshots plays a white screen (mean brightness {mean:.1f} of 255)"
    )


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(float(frame.pts * stream.time_base), 3) for frame in container.decode(stream)]


def test_a_recording_whose_object_shows_late_starts_when_it_was_recorded_not_at_its_first_detection(
    tmp_path: Path,
) -> None:
    """A camera uploads a snapshot at T0 and a 12 s recording that began at T0+1 s; the person in the
    recording is first detected 10 s into it (the detect worker dates that row T0+11 s)."""
    still = write_jpeg(tmp_path / "snap.jpg", (320, 240), seed=1)
    video = write_h264_clip(tmp_path / "rec.mp4", seconds=12.0, fps=10, size=(320, 240))
    recording_start = T0 + timedelta(seconds=1)
    written = (recording_start + timedelta(seconds=12)).timestamp()  # the camera wrote it as it recorded
    os.utime(video, (written, written))
    rows = [
        Detection(camera_id="yard", file_path=str(still), detected_at=T0, media_type="image",
                  object_type="person", confidence=0.8),
        *(
            Detection(camera_id="yard", file_path=str(video), detected_at=recording_start + timedelta(seconds=s),
                      media_type="video", object_type="person", confidence=0.8, duration=12.0)
            for s in (10.5, 12.0)
        ),
    ]  # fmt: skip
    out = make_event_clip(event_uploads(rows), tmp_path / "clip.mp4")
    assert out is not None
    times = _frame_times(out)
    video_starts_at = times[1]
    assert video_starts_at < 2.0, (
        f"the snapshot freezes on screen for {video_starts_at:.1f} s before the recording plays, though the "
        f"recording began 1 s after it (the clip lasts {times[-1]:.1f} s for 13 s of real time): the recording "
        "is placed at its first detection's time, not its start"
    )
