"""Uploads over FTP, as most cheap cameras publish them: a real FTP server (pyftpdlib) on 127.0.0.1 whose
home is the cameras folder, a real client (`ftplib`), the real watcher.

Two ways cameras use FTP: `STOR` straight under the final name, slowly (the server creates the file, writes
each block as it arrives and closes it at the end), and `STOR` under a temporary name then `RNFR`/`RNTO`.
Each must be queued exactly once, with the complete file's hash, and processed once.
"""

from __future__ import annotations

import asyncio
import ftplib
import hashlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from server.detect import Detector
from tests.support.photos import people_walking
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.watching import detect_all, ledger, logged_about, queued, rows, watching

PHOTO = people_walking().read_bytes()
PHOTO_HASH = hashlib.sha256(PHOTO).hexdigest()
USER, PASSWORD = "camera", "secret"


def ftp_server(home: Path) -> Iterator[int]:
    """An FTP server on 127.0.0.1 (a free port) with one user whose home is `home`; yields the port."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(home), perm="elradfmw")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "passive_ports": None})
    server = FTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.address[1]
    finally:
        server.close_all()
        thread.join(5)


class SlowReader(io.BytesIO):
    """The bytes of a photo, handed to `storbinary` block by block with a pause: a camera on a slow link."""

    def __init__(self, data: bytes, pause: float) -> None:
        super().__init__(data)
        self.pause = pause
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        if self.reads:
            time.sleep(self.pause)
        self.reads += 1
        return super().read(size)


def upload(port: int, folder: str, name: str, data: bytes, *, pause: float, via: str | None = None) -> float:
    """`STOR` `data` (in 8 blocks, `pause` s apart) as `folder/name`, or as `folder/via` renamed to `name`
    afterwards; returns when the upload was complete (blocking: run it in a thread)."""
    with ftplib.FTP() as client:
        client.connect("127.0.0.1", port, timeout=30)
        client.login(USER, PASSWORD)
        if folder not in client.nlst():
            client.mkd(folder)
        client.cwd(folder)
        client.storbinary(f"STOR {via or name}", SlowReader(data, pause), blocksize=-(-len(data) // 8))
        if via is not None:
            client.rename(via, name)
        done = time.time()
        client.quit()
    return done


@pytest.mark.parametrize("via", [None, "upload.tmp"], ids=["stored-slowly", "stored-then-renamed"])
async def test_an_ftp_upload_is_processed_once(
    tmp_path: Path, db_url: str, redis: aioredis.Redis, hog: Detector, via: str | None
) -> None:
    settings = pipeline_settings(tmp_path)
    settings.cameras_dir.mkdir(parents=True)
    path = settings.cameras_dir / "porch" / "snap.jpg"
    async with pipeline_runtime(settings, db_url, redis) as runtime:
        for port in ftp_server(settings.cameras_dir):
            async with watching(runtime) as watcher:
                complete_at = await asyncio.to_thread(upload, port, "porch", path.name, PHOTO, pause=0.3, via=via)
                entries = await eventually(lambda: queued(runtime), timeout=30)
                await asyncio.sleep(1.5)  # time for a second, wrong entry to show up
                await watcher.idle()
                entries = await queued(runtime)
        assert [(entry["file_path"], entry["file_hash"]) for entry in entries] == [(str(path), PHOTO_HASH)]
        assert float(entries[0]["queued_at"]) < complete_at + 1.0  # the close (or rename) queued it at once
        assert await logged_about(runtime, path) == []  # the half-written file was not rejected
        await detect_all(runtime, hog)
        assert {(row.file_path, row.file_hash) for row in await rows(runtime)} == {(str(path), PHOTO_HASH)}
        assert await ledger(runtime) == {f"porch|{PHOTO_HASH}"}
