"""Media checks against real files, including the broken ones cameras and FTP actually leave behind."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from server.analyze.clip import Upload, make_event_clip
from server.pipeline.media.encode import ClipWriter, clip_size
from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import media_type, mime_for_path, require_media_type
from server.pipeline.media.image import MIN_IMAGE_BYTES, ImageInfo, decode_image, inspect_image, load_image
from server.pipeline.media.render import first_frame_jpeg, make_thumbnail
from server.pipeline.media.video import (
    MAX_VIDEO_PIXELS,
    probe_video,
    sample_video,
    validate_video,
)
from tests.support.media import (
    clip_frame,
    noise_image,
    truncate,
    write_h264_clip,
    write_jpeg,
    write_png,
    write_png_claiming_size,
    write_recording,
    write_sideways_mp4,
    write_undecodable_mp4,
)


@dataclass(frozen=True)
class Box:
    object_type: str
    x: int
    y: int
    width: int
    height: int


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s at 10 fps: frame i is shown at i/10 s."""
    return write_h264_clip(tmp_path_factory.mktemp("clip") / "front_door.mp4", seconds=7, fps=10)


def reason_of(call: object, *args: object) -> str:
    with pytest.raises(MediaError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.reason


def inspect_bytes(path: Path) -> ImageInfo:
    """`inspect_image` on a file's bytes, as intake calls it after its one read."""
    return inspect_image(path.read_bytes())


# --- images ---------------------------------------------------------------------------------------


def test_good_jpeg_and_png_pass(tmp_path: Path) -> None:
    assert inspect_image(write_jpeg(tmp_path / "a.jpg", (640, 480)).read_bytes()) == ImageInfo(640, 480, "image/jpeg")
    assert inspect_image(write_png(tmp_path / "b.png", (320, 240)).read_bytes()) == ImageInfo(320, 240, "image/png")


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.touch()
    assert reason_of(inspect_bytes, empty) == "empty file (0 bytes)"


def test_too_small_file_is_rejected_and_the_minimum_is_configurable(tmp_path: Path) -> None:
    small = write_jpeg(tmp_path / "small.jpg", (32, 32))
    size = small.stat().st_size
    assert size < MIN_IMAGE_BYTES
    assert reason_of(inspect_bytes, small) == f"file too small ({size} bytes, minimum {MIN_IMAGE_BYTES})"
    assert inspect_image(small.read_bytes(), min_bytes=0) == ImageInfo(32, 32, "image/jpeg")


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    assert reason_of(load_image, tmp_path / "gone.jpg") == "file not found"


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    cut = truncate(write_jpeg(tmp_path / "cut.jpg"), keep=0.6)
    assert cut.stat().st_size > MIN_IMAGE_BYTES
    assert reason_of(inspect_bytes, cut).startswith("truncated image")


def test_truncated_jpeg_is_rejected_even_when_pillow_is_told_to_tolerate_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # some libraries set this globally
    cut = truncate(write_jpeg(tmp_path / "cut.jpg"), keep=0.6)
    assert reason_of(inspect_bytes, cut) == "truncated image (no JPEG end marker)"


def test_truncated_png_is_rejected(tmp_path: Path) -> None:
    cut = truncate(write_png(tmp_path / "cut.png", (320, 240)), keep=0.7)
    assert reason_of(inspect_bytes, cut).startswith(("truncated image", "corrupt image"))


def test_text_named_jpg_is_not_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "fake.jpg"
    fake.write_text("<html>camera error page</html>\n" * 500)
    assert reason_of(inspect_bytes, fake) == "not an image (content is not a recognised image format)"


def test_other_image_formats_are_not_accepted(tmp_path: Path) -> None:
    gif = tmp_path / "anim.jpg"
    noise_image((320, 240)).save(gif, "GIF")
    assert gif.stat().st_size > MIN_IMAGE_BYTES
    assert reason_of(inspect_bytes, gif) == "unsupported image format GIF (JPEG and PNG only)"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(9000, 8000), (10_000, 10_000), (20_000, 20_000)])
def test_decompression_bomb_dimensions_are_rejected_before_decoding(
    tmp_path: Path, width: int, height: int
) -> None:
    # 72 MP is above our 64 MP limit, 100 MP trips Pillow's warning, 400 MP its hard error.
    bomb = write_png_claiming_size(tmp_path / "bomb.png", width, height)
    assert bomb.stat().st_size > MIN_IMAGE_BYTES
    assert reason_of(inspect_bytes, bomb).startswith("image too large")
    assert reason_of(load_image, bomb).startswith("image too large")
    assert reason_of(decode_image, bomb.read_bytes()).startswith("image too large")


def test_load_image_returns_rgb_upright(tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    noise_image((640, 480)).save(rotated, "JPEG", exif=exif)
    image = load_image(rotated)
    assert image.mode == "RGB"
    assert image.size == (480, 640)
    assert inspect_image(rotated.read_bytes()) == ImageInfo(480, 640, "image/jpeg")


def test_extension_helpers() -> None:
    assert media_type("cam/Front Door/IMG_001.JPG") == "image"
    assert media_type(Path("x.jpeg")) == "image" and media_type("x.png") == "image"
    assert [media_type(f"v{ext}") for ext in (".mp4", ".MKV", ".avi", ".mov")] == ["video"] * 4
    assert media_type("notes.txt") is None and media_type("noext") is None
    assert require_media_type("a.mov") == "video"
    assert reason_of(require_media_type, "snap.gif").startswith("unsupported file type .gif")
    assert reason_of(require_media_type, "README").startswith("unsupported file type (none)")
    assert mime_for_path("a.JPG") == "image/jpeg" and mime_for_path("a.png") == "image/png"
    assert mime_for_path("a.mp4") == "video/mp4" and mime_for_path("a.mkv") == "video/x-matroska"
    assert mime_for_path("a.bin") == "application/octet-stream"


# --- video ----------------------------------------------------------------------------------------


def test_probe_reports_h264_size_and_duration(clip: Path) -> None:
    info = probe_video(clip)
    assert info.codec == "h264"
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(7.0, abs=0.11)
    assert info.mime == "video/mp4"
    assert validate_video(clip) == info


def test_sampling_takes_a_frame_every_two_seconds_from_half_a_second(clip: Path) -> None:
    frames = sample_video(clip).frames
    assert [t for t, _ in frames] == pytest.approx([0.5, 2.5, 4.5, 6.5])
    for timestamp, image in frames:
        assert image.mode == "RGB" and image.size == (320, 240)
        # The picture is the one shown at that time, not a neighbour (each frame differs from the next).
        pixels = np.asarray(image, dtype=np.int16)
        index = round(timestamp * 10)
        errors = {
            i: np.abs(pixels - clip_frame(i, (320, 240)).astype(np.int16)).mean()
            for i in (index - 1, index, index + 1)
        }
        assert min(errors, key=errors.__getitem__) == index


def test_sampling_respects_max_frames_start_and_step(clip: Path) -> None:
    # Two frames at most, over the whole 7 s clip: the stride doubles rather than stopping at 2.5 s.
    assert [t for t, _ in sample_video(clip, max_frames=2).frames] == pytest.approx([0.5, 4.5])
    assert [t for t, _ in sample_video(clip, every=3.0, start=0.0).frames] == pytest.approx([0.0, 3.0, 6.0])
    with pytest.raises(ValueError):
        sample_video(clip, every=0).frames


def _flat_pictures(count: int, size: tuple[int, int] = (320, 240)) -> Iterator[Image.Image]:
    for index in range(count):
        yield Image.fromarray(clip_frame(index, size))


@pytest.mark.parametrize("live", [True, False], ids=["mkv-without-duration", "mp4"])
def test_a_long_recording_is_sampled_over_its_whole_length(tmp_path: Path, live: bool) -> None:
    """Finding: only the first ~58 s of a recording were sampled (30 frames every 2 s), so people who
    came at 90 s of a 120 s recording were never looked at. A recording whose container says no
    duration (Matroska written live, as a camera streaming to disk does) is covered too."""
    name = "long.mkv" if live else "long.mp4"
    path = write_recording(tmp_path / name, _flat_pictures(240), fps=2, size=(320, 240), live=live)
    duration = probe_video(path).duration
    assert duration == (0.0 if live else pytest.approx(120.0, abs=0.6))
    sample = sample_video(path, duration=duration)
    times = [t for t, _ in sample.frames]
    assert 15 <= len(times) <= 30
    assert times[0] == pytest.approx(0.5) and times[-1] >= 110.0  # the last ten seconds are looked at
    gaps = np.diff(times)
    assert gaps.max() <= sample.every + 0.5 and gaps.min() >= sample.every - 0.5  # an even stride
    assert sample.widened and sample.every >= 3.5 and sample.requested_every == 2.0
    assert sample.covered_until >= 117.5
    # A short one keeps the asked stride and says so.
    short = sample_video(write_recording(tmp_path / "short.mp4", _flat_pictures(20), fps=2, size=(320, 240)))
    assert [t for t, _ in short.frames] == pytest.approx([0.5, 2.5, 4.5, 6.5, 8.5]) and not short.widened


def test_sampled_frames_are_scaled_at_decode(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "big.mp4", _flat_pictures(4, (1920, 1080)), fps=2, size=(1920, 1080))
    frames = sample_video(path, every=0.5, start=0.0, max_side=640).frames
    assert [image.size for _, image in frames] == [(640, 360)] * 4
    assert all(image.mode == "RGB" for _, image in frames)


def test_a_recording_larger_than_8k_is_refused(tmp_path: Path) -> None:
    """The decoder holds full-size frames however small the sampled pictures are: a recording claiming
    more pixels than 8K UHD is refused at the probe, before anything is decoded."""
    path = tmp_path / "huge.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 8192, 4352, "yuv420p"
        frame = av.VideoFrame(8192, 4352, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert reason_of(probe_video, path) == f"video too large (8192x4352 pixels, limit {MAX_VIDEO_PIXELS})"
    assert reason_of(validate_video, path).startswith("video too large")
    assert reason_of(sample_video, path).startswith("video too large")


@pytest.mark.parametrize("seconds", [0.1, 0.4])
def test_a_recording_shorter_than_the_first_pick_gives_its_last_frame(tmp_path: Path, seconds: float) -> None:
    """The finding (a review, then tried): sampling starts at 0.5 s, so a 1-frame clip or a 0.4 s burst
    that intake let in (it decodes) was rejected by the worker as 'no decodable video frame'."""
    clip = write_h264_clip(tmp_path / f"short_{seconds}.mp4", seconds=seconds, fps=10)
    info = validate_video(clip, min_bytes=0)
    sample = sample_video(clip, duration=info.duration)
    assert [at for at, _ in sample.frames] == [round(seconds - 0.1, 3)]  # the last of its frames


def test_a_sideways_recording_is_seen_as_it_is_shown(tmp_path: Path) -> None:
    """The finding (a review, then tried): a recording's display matrix (a camera mounted sideways,
    a phone) was ignored, so the detector saw people lying down, and the stored size, the camera's
    snapshot and the event clip were all on their side while the upload played upright."""
    clip = write_sideways_mp4(tmp_path / "cam" / "sideways.mp4")
    info = validate_video(clip)
    assert (info.width, info.height) == (240, 320)  # the size boxes and zones are measured in
    picture = sample_video(clip).frames[0][1]
    assert picture.size == (240, 320)
    # Stored: red grows left to right, green top to bottom. Turned a quarter clockwise: the stored left
    # edge (no red) is the top, the stored top (no green) the right.
    top_left, bottom_left, top_right = (picture.getpixel(xy) for xy in ((5, 5), (5, 314), (234, 5)))
    assert top_left[0] < 40 and bottom_left[0] > 215  # red grows downwards
    assert top_left[1] > 215 and top_right[1] < 40  # green falls to the right
    snapshot = Image.open(io.BytesIO(first_frame_jpeg(clip)))
    assert snapshot.width < snapshot.height
    upload = Upload(str(clip), "video", datetime(2024, 5, 1, 12, tzinfo=UTC))
    made = make_event_clip([upload], tmp_path / "c.mp4")
    assert made is not None
    with av.open(str(made)) as container:
        frame = next(container.decode(video=0))
    assert frame.rotation == 0 and frame.width < frame.height  # turned pixels: every player shows it upright


def test_video_with_no_decodable_frame_is_rejected(tmp_path: Path) -> None:
    broken = write_undecodable_mp4(tmp_path / "broken.mp4")
    assert probe_video(broken).codec == "h264"  # the index alone looks fine
    assert reason_of(sample_video, broken).startswith("no decodable video frame")
    assert reason_of(validate_video, broken).startswith("no decodable video frame")


def test_truncated_and_fake_videos_are_not_readable(tmp_path: Path) -> None:
    cut = truncate(write_h264_clip(tmp_path / "cut.mp4", seconds=3), keep=0.5)
    assert reason_of(probe_video, cut).startswith("not a readable video")
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video\n" * 200)
    assert reason_of(validate_video, fake).startswith("not a readable video")


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("index-last.mp4", {}),
        ("index-first.mp4", {"movflags": "+faststart"}),
        ("fragmented.mp4", {"movflags": "empty_moov", "frag_duration": "1000000"}),  # 1 s fragments
        ("camera.mov", {}),
        ("camera.mkv", {}),
        ("camera.avi", {}),
    ],
)
def test_a_recording_cut_short_is_a_truncated_video_whatever_its_container(
    tmp_path: Path, name: str, options: dict[str, str]
) -> None:
    """The first half of an MP4 whose index comes first, of a fragmented MP4 or of a Matroska file
    plays: PyAV alone let it in, and its detections were stored twice once the rest arrived. Every cut
    is now "truncated video", a reason intake waits on (`server.vocabulary.INCOMPLETE`)."""
    whole = write_h264_clip(tmp_path / name, seconds=6.0, options=options)
    assert validate_video(whole).duration == pytest.approx(6.0, abs=0.2)
    data = whole.read_bytes()
    for keep in (0.3, 0.55, 0.97):
        cut = tmp_path / f"cut-{keep}-{name}"
        cut.write_bytes(data[: int(len(data) * keep)])
        assert reason_of(validate_video, cut).startswith("truncated video ("), keep
    padded = tmp_path / f"padded-{name}"
    padded.write_bytes(data + bytes(4))  # a few bytes of padding after the end: still the whole recording
    assert validate_video(padded).duration == pytest.approx(6.0, abs=0.2)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 8000
            frame.pts = index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert reason_of(probe_video, path) == "no video stream"
    assert reason_of(sample_video, path) == "no video stream"


def test_tiny_video_is_rejected(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"\x00" * 100)
    assert reason_of(validate_video, tiny) == "file too small (100 bytes, minimum 1024)"


# --- thumbnails and clips -------------------------------------------------------------------------


def _near(pixel: object, colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    assert isinstance(pixel, tuple) and len(pixel) == 3
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_thumbnail_is_a_letterboxed_320x240_jpeg_with_class_colours(tmp_path: Path) -> None:
    # A 2:1 grey frame: it scales by 0.4 to 320x160 with 40 px black bars above and below.
    frame = Image.new("RGB", (800, 400), (128, 128, 128))
    boxes = [
        Box("person", 100, 100, 100, 200),  # -> (40, 80)-(80, 160)
        Box("car", 400, 100, 200, 100),  # -> (160, 80)-(240, 120)
        Box("dog", 650, 250, 100, 100),  # -> (260, 140)-(300, 180)
        Box("backpack", 300, 300, 50, 50),  # -> (120, 160)-(140, 180)
    ]
    out = make_thumbnail(frame, boxes, tmp_path / "thumbs" / "d1.jpg")
    with Image.open(out) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 240)
        rgb = thumb.convert("RGB")
    assert _near(rgb.getpixel((160, 10)), (0, 0, 0), 20)  # top bar
    assert _near(rgb.getpixel((160, 230)), (0, 0, 0), 20)  # bottom bar
    assert _near(rgb.getpixel((20, 120)), (128, 128, 128), 20)  # picture, no box
    assert _near(rgb.getpixel((40, 120)), (230, 30, 30))  # person: red, left edge at x = 40
    assert _near(rgb.getpixel((200, 80)), (40, 110, 240))  # car: blue, top edge at y = 80
    assert _near(rgb.getpixel((280, 140)), (40, 200, 70))  # dog: green, top edge at y = 140
    assert _near(rgb.getpixel((120, 170)), (240, 210, 30))  # other: yellow, left edge at x = 120
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_thumbnail_from_a_path(tmp_path: Path) -> None:
    source = write_jpeg(tmp_path / "snap.jpg", (1280, 720))
    out = make_thumbnail(source, [], tmp_path / "t.jpg")
    with Image.open(out) as thumb:
        assert thumb.size == (320, 240)


def test_clip_writer_writes_a_probeable_h264_mp4_frame_by_frame(tmp_path: Path) -> None:
    # Odd sizes on purpose: 4:2:0 needs even ones, and the frames differ in size.
    still = load_image(write_jpeg(tmp_path / "still.jpg", (640, 480), seed=9))
    out_path = tmp_path / "clips" / "event.mp4"
    with ClipWriter(out_path) as writer:
        for index in range(3):
            writer.add(noise_image((321, 241), index), index * 0.5)
        writer.add(still, 1.5)
        writer.add(noise_image((321, 241), 7), 1.5)  # not after the previous frame: dropped
        assert writer.frames == 4 and writer.duration == 1.5
        out = writer.close()
    assert out == out_path
    info = probe_video(out)
    assert info.codec == "h264" and info.mime == "video/mp4"
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(1.6, abs=0.05)  # the last frame shows one 10 fps frame long
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(video=0)) == 4
    assert [t for t, _ in sample_video(out, every=0.5, start=0.0).frames] == pytest.approx(
        [0.0, 0.5, 1.0, 1.5]
    )
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_clip_writer_leaves_nothing_without_frames_or_after_an_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no frames to encode"), ClipWriter(tmp_path / "x.mp4"):
        pass
    with pytest.raises(RuntimeError), ClipWriter(tmp_path / "y.mp4") as writer:
        writer.add(noise_image((64, 48), 1), 0.0)
        raise RuntimeError("the source broke")
    assert list(tmp_path.iterdir()) == []


def test_clip_size_caps_pixels_and_keeps_even_sides() -> None:
    assert clip_size(3840, 2160) == (1920, 1080)
    assert clip_size(2160, 3840) == (1080, 1920)  # portrait: the same pixel budget
    assert clip_size(768, 576) == (768, 576)  # never scaled up
    assert clip_size(321, 241) == (320, 240)


def test_damaged_pixels_are_caught_by_the_one_full_decode(tmp_path: Path) -> None:
    # Header and end marker intact, so the cheap check passes; the compressed pixels are not (a PNG's
    # chunks carry checksums, which the decoder verifies).
    whole = bytearray(write_png(tmp_path / "whole.png", (320, 240)).read_bytes())
    middle = len(whole) // 2
    whole[middle : middle + 64] = bytes(64)
    damaged = bytes(whole)
    assert inspect_image(damaged, min_bytes=0) == ImageInfo(320, 240, "image/png")
    assert reason_of(decode_image, damaged).startswith(("truncated image", "corrupt image"))


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_never_below_the_side_asked_for(tmp_path: Path) -> None:
    big = write_jpeg(tmp_path / "big.jpg", (2560, 1440), seed=5).read_bytes()
    assert decode_image(big).size == (2560, 1440)
    reduced = decode_image(big, max_side=1280)
    assert reduced.size == (1280, 720) and reduced.mode == "RGB"
    assert decode_image(big, max_side=1000).size == (1280, 720)  # 1/4 would go below 1000
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    noise_image((2560, 1440)).save(rotated, "JPEG", exif=exif)
    assert decode_image(rotated.read_bytes(), max_side=1280).size == (720, 1280)  # upright, reduced
