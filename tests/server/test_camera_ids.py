"""Camera ids from any folder name: Unicode, long names and undecodable bytes.

Findings: `normalize_camera_id` dropped every non-ASCII character (`Кухня` was rejected, `Tür` and
`Tr` merged); a non-UTF-8 folder name made the watcher retry every 5 s forever (and its log rows were
dropped with unrelated ones); a 120-character folder name made a camera every route refused with 422.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from server.api.app import create_app
from server.api.cameras import CameraId
from server.apikeys import KEY_FILE_NAME
from server.models import Camera, normalize_camera_id
from server.pipeline.cameras import ensure_camera
from server.pipeline.intake import MediaRejected, submit_file
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime
from tests.server.api.conftest import TEST_API_SETTINGS
from tests.support.media import write_jpeg
from tests.support.pipeline import eventually, log_rows, pipeline_runtime, pipeline_settings

ROUTE_ID = re.compile(CameraId.__metadata__[0].pattern)
MAX_CAMERA_ID_LENGTH = 100  # what the routes' pattern allows
LATIN1_FOLDER = "K\xfcche".encode("latin-1")  # "Küche" from an old FTP client: not UTF-8


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path), db_url, redis) as rt:
        rt.settings.cameras_dir.mkdir(parents=True)
        yield rt


@pytest.mark.parametrize(
    "name",
    ["Кухня", "Tür", "Tr", "Tur", "Straße", "東京 カメラ", "a" * 120, os.fsdecode(LATIN1_FOLDER), "★"],
)
def test_every_name_with_a_letter_gets_an_id_every_route_accepts(name: str) -> None:
    camera_id = normalize_camera_id(name)
    assert ROUTE_ID.fullmatch(camera_id), camera_id
    assert len(camera_id) <= MAX_CAMERA_ID_LENGTH
    assert normalize_camera_id(name) == camera_id  # stable
    assert normalize_camera_id(camera_id) == camera_id  # an id is its own id


def test_names_that_fold_alike_stay_apart() -> None:
    ids = {name: normalize_camera_id(name) for name in ("Tür", "Tr", "Tur", "Tür 2", "Tur 2", "Кухня", "Кухни")}
    assert len(set(ids.values())) == len(ids), ids
    assert ids["Tur"] == "tur" and ids["Tr"] == "tr"  # ASCII names keep the ids they always had
    assert re.fullmatch(r"tur_[0-9a-f]{8}", ids["Tür"])
    assert re.fullmatch(r"camera_[0-9a-f]{8}", ids["Кухня"])
    long_a, long_b = normalize_camera_id("x" * 120 + "a"), normalize_camera_id("x" * 120 + "b")
    assert long_a != long_b and len(long_a) == len(long_b) == MAX_CAMERA_ID_LENGTH


async def test_unicode_and_long_folders_become_cameras_the_api_serves(runtime: Runtime) -> None:
    folders = ["Кухня", "Tür", "Tr", "Front " + "long " * 25]
    for index, folder in enumerate(folders):
        path = write_jpeg(runtime.settings.cameras_dir / folder / "a.jpg", seed=index)
        queued = await submit_file(runtime, path, camera_folder=folder, source="watcher")
        # The detect worker creates a new folder's camera with its first rows, from the queued id.
        await ensure_camera(runtime, queued.camera_id, folder, str(path.parent))
    async with runtime.database.sessions() as session:
        cameras = {camera.name: camera.id for camera in await session.scalars(select(Camera))}
    assert set(cameras) == set(folders) and len(set(cameras.values())) == 4
    app = create_app(runtime, TEST_API_SETTINGS)
    async with TestClient(TestServer(app)) as client:
        client.session.headers["X-API-Key"] = (runtime.settings.data_dir / KEY_FILE_NAME).read_text().strip()
        for name, camera_id in cameras.items():
            for route in ("", "/zones", "/baselines", "/snapshot"):
                response = await client.get(f"/api/cameras/{camera_id}{route}")
                assert response.status == 200, (name, route, await response.text())
            assert (await (await client.get(f"/api/cameras/{camera_id}")).json())["name"] == name


async def test_a_non_utf8_folder_is_one_clear_log_row_not_a_retry_loop(runtime: Runtime) -> None:
    folder = os.path.join(os.fsencode(runtime.settings.cameras_dir), LATIN1_FOLDER)
    os.mkdir(folder)
    path = Path(os.fsdecode(folder)) / "a.jpg"
    write_jpeg(path)
    with pytest.raises(MediaRejected, match="not valid UTF-8"):
        await submit_file(runtime, path, camera_folder=path.parent.name, source="watcher")

    watcher = FileWatcher(runtime)  # the same file found by a start-up catch-up
    await watcher.start()
    try:
        assert await watcher.catch_up() == 1
        await asyncio.wait_for(watcher.idle(), 10)  # no retry timer left behind
    finally:
        await watcher.stop()

    async def both_rejections() -> list[str] | None:  # the submit's and the catch-up's
        found = [row.message for row in await log_rows(runtime) if "not valid UTF-8" in row.message]
        return found if len(found) == 2 else None

    found = await eventually(both_rejections)
    assert all("K\\xfcche" in message and "rename it" in message for message in found)
    async with runtime.database.sessions() as session:
        assert list(await session.scalars(select(Camera))) == []

