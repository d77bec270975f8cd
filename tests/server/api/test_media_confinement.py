"""Media routes serve regular files under the media roots only, opened without following symlinks.

Finding: a camera folder file replaced, after processing, by a symlink to `<data>/api_key.txt` was
served by `GET /api/detections/{id}/image` — the data folder was a media root and symlinks were
followed. Every media route is tried here with links, rows and special files pointing at secrets.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from server.apikeys import KEY_FILE_NAME
from server.models import Detection, Event
from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of


def media_routes(seeded: Seeded) -> list[str]:
    detection, event = seeded.detections[0], seeded.events[0]
    return [
        f"/api/detections/{detection}/image",
        f"/api/detections/{detection}/thumbnail",
        f"/api/events/{event}/clip",
        f"/api/events/{event}/thumbnail",
        f"/api/cameras/{seeded.cameras[0]}/snapshot",
    ]


async def assert_not_served(client: TestClient, path: str, secret: str) -> None:
    response = await client.get(path)
    body = await response.text()
    assert secret not in body, path
    error = await error_of(response, 404)
    assert error["message"].endswith("is not available") or "not found" in error["message"], error


async def point_every_media_row_at(runtime: Runtime, seeded: Seeded, target: str) -> None:
    async with runtime.database.sessions() as session:
        await session.execute(
            update(Detection)
            .where(Detection.id == seeded.detections[0])
            .values(file_path=target, thumbnail_path=target)
        )
        await session.execute(update(Event).where(Event.id == seeded.events[0]).values(clip_path=target))
        await session.commit()


async def test_a_processed_file_replaced_by_a_symlink_to_the_key_is_not_served(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    settings = runtime.settings
    secret = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    # Every image of the first camera (the processed ones and the folder's fallback) becomes a link.
    for image in (settings.cameras_dir / seeded.cameras[0]).iterdir():
        image.unlink()
        image.symlink_to(settings.data_dir / KEY_FILE_NAME)
    target = str(settings.cameras_dir / seeded.cameras[0] / "img0.jpg")
    await point_every_media_row_at(runtime, seeded, target)
    for path in media_routes(seeded):
        await assert_not_served(client, path, secret)


async def test_the_data_folder_is_not_a_media_root(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    settings = runtime.settings
    secret = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    for target in (
        settings.data_dir / KEY_FILE_NAME,
        settings.data_dir / "instance_id",
        settings.thumbnails_dir / ".." / KEY_FILE_NAME,  # lexically inside a root, really outside
        settings.cameras_dir / seeded.cameras[0] / ".." / ".." / "data" / KEY_FILE_NAME,
    ):
        await point_every_media_row_at(runtime, seeded, str(target))
        for path in media_routes(seeded)[:4]:
            await assert_not_served(client, path, secret)


async def test_a_symlinked_folder_below_a_root_is_not_followed(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    settings = runtime.settings
    secret = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    link = settings.cameras_dir / "sneaky"
    link.symlink_to(settings.data_dir, target_is_directory=True)
    await point_every_media_row_at(runtime, seeded, str(link / KEY_FILE_NAME))
    for path in media_routes(seeded)[:4]:
        await assert_not_served(client, path, secret)


async def test_a_cameras_folder_holding_the_data_folder_does_not_expose_it(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    """A cameras root above the data folder: the data folder's private files stay private."""
    settings = runtime.settings
    runtime.settings = settings.model_copy(update={"cameras_dir": settings.data_dir.parent})
    secret = (settings.data_dir / KEY_FILE_NAME).read_text().strip()
    await point_every_media_row_at(runtime, seeded, str(settings.data_dir / KEY_FILE_NAME))
    for path in media_routes(seeded)[:4]:
        await assert_not_served(client, path, secret)
    # ...while thumbnails under the data folder (media_dir unset) are still media.
    thumbnail = (await client.get(f"/api/detections/{seeded.detections[1]}/thumbnail"))
    assert thumbnail.status == 200 and thumbnail.content_type == "image/jpeg"


async def test_special_files_are_refused_without_hanging(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    fifo = runtime.settings.cameras_dir / seeded.cameras[0] / "pipe.jpg"
    os.mkfifo(fifo)
    folder = runtime.settings.cameras_dir / seeded.cameras[0]
    await point_every_media_row_at(runtime, seeded, str(fifo))
    response = await asyncio.wait_for(client.get(f"/api/detections/{seeded.detections[0]}/image"), 10)
    await error_of(response, 404)
    await point_every_media_row_at(runtime, seeded, str(folder))
    await error_of(await client.get(f"/api/detections/{seeded.detections[0]}/image"), 404)


async def test_missing_and_refused_files_get_the_same_answer(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    settings = runtime.settings
    answers = []
    for target in (settings.cameras_dir / "nope.jpg", settings.data_dir / KEY_FILE_NAME, Path("/etc/passwd")):
        await point_every_media_row_at(runtime, seeded, str(target))
        answers.append(await error_of(await client.get(f"/api/detections/{seeded.detections[0]}/image"), 404))
    assert answers[0] == answers[1] == answers[2]


async def test_clips_are_served_with_ranges_and_validators(client: TestClient, seeded: Seeded) -> None:
    assert seeded.clip is not None
    data = seeded.clip.read_bytes()
    path = f"/api/events/{seeded.events[3]}/clip"
    whole = await client.get(path)
    assert whole.status == 200 and await whole.read() == data
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.content_type == "video/mp4"
    etag = whole.headers["ETag"]
    part = await client.get(path, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and await part.read() == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = await client.get(path, headers={"Range": "bytes=-7"})
    assert tail.status == 206 and await tail.read() == data[-7:]
    rest = await client.get(path, headers={"Range": f"bytes={len(data) - 3}-"})
    assert await rest.read() == data[-3:]
    beyond = await client.get(path, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    assert (await client.get(path, headers={"If-None-Match": etag})).status == 304
    stale = await client.get(path, headers={"Range": "bytes=0-1", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert stale.status == 200 and await stale.read() == data
    # The date it was sent with is this file (a review's finding: the file's time has a fraction, the
    # date none, so the whole file came back for a player resuming with that date).
    os.utime(seeded.clip, ns=(1_714_567_890_250_000_000,) * 2)
    last_modified = (await client.head(path)).headers["Last-Modified"]
    resumed = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": last_modified})
    assert resumed.status == 206 and await resumed.read() == data[:10]
