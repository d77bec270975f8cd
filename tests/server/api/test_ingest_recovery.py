"""HTTP uploads are never left behind: an error answer keeps no file, and a queued file whose entry was
lost comes back with the watcher's start-up catch-up (which scans the ingest folder too)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from server.api.app import create_app
from server.apikeys import KEY_FILE_NAME

from server.pipeline.streams import DETECT_STREAM
from server.pipeline.watcher import FileWatcher
from server.runtime import Runtime
from tests.server.api.conftest import TEST_API_SETTINGS, ApiTestServer, error_of
from tests.support.media import write_jpeg
from tests.support.processes import free_port
from tests.support.watching import queued


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


async def test_an_unexpected_error_while_queueing_leaves_no_file_in_the_ingest_folder(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    """The finding: an error other than a rejection or a full queue left the written file orphaned in
    `<data>/ingest/<camera>/`, with nothing that would ever process or remove it."""
    photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
    # A Redis key of the wrong type where the queue should be: the queueing script fails (WRONGTYPE).
    await runtime.redis.set(DETECT_STREAM, "not a stream")
    response = await client.post("/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg"})
    assert response.status == 500
    assert _files(runtime.settings.ingest_dir) == []
    # With the queue back, the client's retry is the one copy (the failed script's claim was given back:
    # before, the retry was answered "duplicate" for the claim's 300 s, and the upload was never processed).
    await runtime.redis.delete(DETECT_STREAM)
    accepted = await client.post("/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg"})
    assert accepted.status == 202, await accepted.text()
    assert len(_files(runtime.settings.ingest_dir)) == 1


async def test_redis_away_answers_503_and_keeps_no_file(runtime: Runtime, tmp_path: Path) -> None:
    """With Redis unreachable the upload cannot be queued: a 503 the client retries, and no file kept."""
    photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
    unreachable = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    app = create_app(replace(runtime, redis=unreachable), TEST_API_SETTINGS)
    try:
        async with TestClient(ApiTestServer(app)) as client:
            key = (runtime.settings.data_dir / KEY_FILE_NAME).read_text().strip()
            response = await client.post(
                "/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg", "X-API-Key": key}
            )
            error = await error_of(response, 503)
    finally:
        await unreachable.aclose()
    assert error["code"] == "unavailable" and "ConnectionError" in error["message"]
    assert _files(runtime.settings.ingest_dir) == []


async def test_catch_up_brings_back_http_uploads_whose_queue_entry_was_lost(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    """The finding: the start-up catch-up scanned the cameras folder only, so an HTTP upload accepted
    (202) and then lost to the queue (Redis wiped, say) never came back."""
    photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
    accepted = await client.post("/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg"})
    assert accepted.status == 202
    kept = Path((await accepted.json())["file"])
    await runtime.redis.flushdb()  # the queue entry, its dedup claim: gone

    watcher = FileWatcher(runtime)
    await watcher.start()
    try:
        assert await watcher.catch_up() == 1
        await watcher.idle()
    finally:
        await watcher.stop()
    [entry] = await queued(runtime)
    assert entry["file_path"] == str(kept) and entry["source"] == "ingest" and entry["camera_id"] == "porch"
