"""What the fault suite uploads, and how: real frames and clips, into camera folders or over HTTP ingest.

Every upload is known by its camera and the SHA-256 of its bytes (what the server keys it by), so the
figures can say for each one whether it was processed, rejected, lost or processed twice.

The media are real: frames of OpenCV's `vtest.avi` (people walking; Debian `opencv-doc`, fetched by
`make media` into `var/media`), as JPEG snapshots (one pixel changed per upload past the clip's frames,
so each is new to the duplicate check) and as short H.264 clips, plus a few files that are bad in
themselves (cut short, not an image at all), which must end as exactly one rejection log row each.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp
import av
from PIL import Image

from tests.support.media import vtest_frames

CAMERAS = ("front_door", "driveway", "garden")
SIZE = (384, 288)

Route = Literal["folder", "http"]


@dataclass(frozen=True)
class Upload:
    index: int
    camera_id: str
    name: str
    data: bytes
    route: Route
    bad: str | None = None  # why it must be rejected

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def kind(self) -> str:
        return "clip" if self.name.endswith(".mp4") else "image"


def _frames(count: int) -> list[Image.Image]:
    return [image.resize(SIZE) for _t, image in vtest_frames(0.5, count)]


def _jpeg(image: Image.Image, seed: int) -> bytes:
    variant = image.copy()
    variant.putpixel((seed % variant.width, seed // variant.width % variant.height), (seed % 251, 7, 99))
    buffer = io.BytesIO()
    variant.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _clip(frames: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def plan(count: int, rng: random.Random, *, clip_share: float = 0.08, http_share: float = 0.3) -> list[Upload]:
    """`count` uploads: mostly snapshots, `clip_share` clips, one bad file in 25, `http_share` over HTTP."""
    frames = _frames(min(count, 150))
    uploads: list[Upload] = []
    for index in range(count):
        camera = CAMERAS[index % len(CAMERAS)]
        route: Route = "http" if rng.random() < http_share else "folder"
        if index % 25 == 12:  # bad in itself: always into a folder (HTTP answers a 422 instead)
            good = _jpeg(frames[index % len(frames)], index)
            if index % 50 == 12:
                uploads.append(Upload(index, camera, f"bad_{index:04}.jpg", good[: len(good) // 2], "folder", "cut short"))
            else:
                uploads.append(Upload(index, camera, f"bad_{index:04}.jpg", b"not an image " * 2000, "folder", "not an image"))
            continue
        if rng.random() < clip_share:
            start = index % max(1, len(frames) - 10)
            data = _clip(frames[start : start + 10])
            uploads.append(Upload(index, camera, f"clip_{index:04}.mp4", data, route))
        else:
            uploads.append(Upload(index, camera, f"snap_{index:04}.jpg", _jpeg(frames[index % len(frames)], index), route))
    return uploads


async def deliver(upload: Upload, cameras_dir: Path, staging: Path, api: str, key: str) -> int:
    """Put one upload in place; over HTTP, retried (as a client would) while the server answers 503 or
    cannot be reached, until it takes it. Returns how many attempts it took."""
    if upload.route == "folder":
        staged = staging / upload.name
        staged.write_bytes(upload.data)
        folder = cameras_dir / upload.camera_id
        folder.mkdir(exist_ok=True)
        staged.rename(folder / upload.name)  # published finished, as FTP servers do
        return 1
    content_type = "video/mp4" if upload.kind == "clip" else "image/jpeg"
    attempts = 0
    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        while True:
            attempts += 1
            try:
                async with http.post(
                    f"{api}/api/ingest",
                    params={"camera_id": upload.camera_id},
                    data=upload.data,
                    headers={"Content-Type": content_type},
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    if response.status in (200, 202):
                        return attempts
                    if response.status != 503:  # only "unavailable" or "queue full" is the world's
                        raise AssertionError(f"upload {upload.index}: {response.status} {await response.text()}")
            except (aiohttp.ClientError, TimeoutError):
                pass  # the API was killed or restarts: send it again
            await asyncio.sleep(1.0)
