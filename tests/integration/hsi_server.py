"""The real HSI server for the Home Assistant suite.

Every test that talks to a server gets its own ``python -m server run`` from the server's venv
(``.venv``, built by ``make setup``): embedded PostgreSQL and Redis, the watcher on a cameras
folder, the default detector (SSD-MobileNet-V2 COCO) and the rules scorer (``HSI_LLM=llama_cpp`` with a tiny GGUF
in the end-to-end test). Nothing of the server is imitated: what the integration sees is what a
user's server sends.

Start-up is fast because each server starts from a copy of one template data directory, made
once per session by ``python -m server keys create`` (cluster initialised, schema migrated, one
API key); each copy then gets its own instance id on first start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import io
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import time
from typing import Any

import aiohttp
from PIL import Image

from tests.support.processes import roles_ready

REPO = Path(__file__).resolve().parents[2]
SERVER_PYTHON = REPO / ".venv" / "bin" / "python"
#: A real street scene with people (frame 100 of OpenCV's vtest.avi, fetched by `make media`:
#: tests/support/real_media.py). The default detector finds the persons in it.
PEOPLE_PHOTO = REPO / "var" / "media" / "people_walking.jpg"

#: Settings of every test server: quick batches, quick file settling, CPU-only parts.
BASE_SETTINGS = {
    "HSI_HOST": "127.0.0.1",
    "HSI_LLM": "rules",
    "HSI_BATCH_WINDOW_SECONDS": "4",
    "HSI_BATCH_IDLE_TIMEOUT_SECONDS": "1",
    "HSI_FILE_STABLE_SECONDS": "0.2",
    "HSI_LOG_LEVEL": "INFO",
    # The disk guard off, so a nearly full test machine raises no storage issue; its test sets one.
    "HSI_MEDIA_MIN_FREE_PERCENT": "0",
}


class ServerError(AssertionError):
    """The server failed to start or answered a setup request unexpectedly (with its log tail)."""


def _server_env(**settings: str) -> dict[str, str]:
    """The environment minus any HSI_* of the caller's shell, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSI_")}
    env.update(BASE_SETTINGS)
    env.update(settings)
    return env


def make_template(directory: Path) -> str:
    """Initialise a data directory (cluster, schema, one key) and return the key's plaintext."""
    if not SERVER_PYTHON.exists():
        raise ServerError(f"{SERVER_PYTHON} is missing: run `make setup` first")
    data_dir = directory / "data"
    result = subprocess.run(
        [str(SERVER_PYTHON), "-m", "server", "keys", "create", "home-assistant"],
        cwd=REPO,
        env=_server_env(HSI_DATA_DIR=str(data_dir), HSI_CAMERAS_DIR=str(directory / "cameras")),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"could not prepare a server data directory:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The part of the street scene with the walkers and without the two vehicles parked at its top right,
#: so that an upload is about people only (tests add vehicles and animals on purpose where they need them).
PEOPLE_ONLY_BOX = (0, 0, 640, 576)


def people_photo(seed: int) -> bytes:
    """The people photo, one pixel changed per seed, so every upload has its own content hash."""
    return photo_variant(PEOPLE_PHOTO, seed, PEOPLE_ONLY_BOX)


def photo_variant(path: Path, seed: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """A photo (cropped to `box`) with one pixel changed per seed: a new file to the server's
    duplicate check."""
    with Image.open(path) as source:
        image = source.convert("RGB")
        if box is not None:
            image = image.crop(box)
    image.putpixel((seed % image.width, 0), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


class HSIServer:
    """One server process on 127.0.0.1 with its own data and cameras folders."""

    def __init__(
        self, root: Path, template: Path, api_key: str, *, default_rules: bool = False, **settings: str
    ) -> None:
        self.root = root
        #: Keep the default alert rules a fresh server starts with (migration 0005). Off by default:
        #: each test writes the rules it is about, and no test's alerts depend on the time of day.
        self.default_rules = default_rules
        self.template = template
        self.api_key = api_key
        self.settings = settings
        self.host = "127.0.0.1"
        self.port = free_port()
        self.data_dir = root / "data"
        self.cameras_dir = root / "cameras"
        self.log = root / "server.log"
        self.instance_id = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._uploads = 0

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    @property
    def entry_data(self) -> dict[str, Any]:
        """What a user types into the config flow for this server."""
        return {"host": self.host, "port": self.port, "ssl": False, "verify_ssl": True, "api_key": self.api_key}

    # -- process -----------------------------------------------------------------------------

    async def start(self, timeout: float = 90.0) -> None:
        """Start the process (from a copy of the template the first time) and wait until its
        detect and analyze workers report in."""
        first_start = not self.data_dir.exists()
        if first_start:
            self.cameras_dir.mkdir(parents=True, exist_ok=True)
            # cp -a keeps the embedded cluster's owner (it runs as its own user under root).
            subprocess.run(["cp", "-a", str(self.template / "data"), str(self.data_dir)], check=True)
            (self.data_dir / "postgres" / ".handle_pids.json").unlink(missing_ok=True)
        env = _server_env(
            HSI_PORT=str(self.port),
            HSI_DATA_DIR=str(self.data_dir),
            HSI_CAMERAS_DIR=str(self.cameras_dir),
            **self.settings,
        )
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [str(SERVER_PYTHON), "-m", "server", "run"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise ServerError(f"the server exited with {self._process.returncode}:\n{self.log_tail()}")
            try:  # with the key: the open report leaves out the workers
                health = await self.request("GET", "/api/system/health")
            except aiohttp.ClientError:
                health = None
            # The API answers first; ready once the detect and analyze roles publish their health.
            if roles_ready(health):
                self.instance_id = health["instance_id"]
                if first_start and not self.default_rules:
                    for rule in await self.items("/api/alert-rules"):
                        await self.request("DELETE", f"/api/alert-rules/{rule['id']}", expect=204)
                return
            if time.monotonic() > deadline:
                raise ServerError(f"the server did not become ready:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    async def stop(self, timeout: float = 30.0) -> None:
        """Ctrl-C, as a user would stop it; the process stops its embedded services itself.

        Waits without blocking the event loop, so a Home Assistant connected to the server keeps
        running and sees its push connection closed, as it would in real life.
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                # Its embedded PostgreSQL and Redis outlive a SIGKILL: end them too.
                subprocess.run(["pkill", "-f", str(self.data_dir)], check=False)
                raise ServerError(f"the server did not stop on SIGINT:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else "(no log)"

    # -- API -----------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        key: str | None = "default",
        expect: int | None = None,
    ) -> Any:
        """One API call; the decoded JSON (None for an empty body). `expect` checks the status."""
        headers = {}
        if key is not None:
            headers["X-API-Key"] = self.api_key if key == "default" else key
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.url + path,
                json=json_body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response,
        ):
            body = await response.read()
            if expect is not None and response.status != expect:
                raise ServerError(f"{method} {path} -> {response.status} (wanted {expect}): {body[:500]!r}")
            return json.loads(body) if body else None

    async def request_bytes(self, path: str) -> bytes:
        """The raw body of a GET (with the key), asserting it succeeded: media."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path, headers={"X-API-Key": self.api_key}) as response,
        ):
            if response.status != 200:
                raise ServerError(f"GET {path} -> {response.status}")
            return await response.read()

    async def items(self, path: str) -> list[dict[str, Any]]:
        """The first page of a list endpoint."""
        return list((await self.request("GET", path, expect=200))["items"])

    async def create_rule(self, **fields: Any) -> dict[str, Any]:
        """An alert rule on the server; by default it matches every event."""
        body = {"name": "Everything", "severity": "high", "cooldown_seconds": 0, **fields}
        return dict(await self.request("POST", "/api/alert-rules", json_body=body, expect=201))

    # -- uploads -------------------------------------------------------------------------------

    def upload(self, camera_folder: str, content: bytes | None = None, name: str | None = None) -> Path:
        """Drop a file into a camera's folder, as a camera's FTP upload would (the people photo by default)."""
        self._uploads += 1
        folder = self.cameras_dir / camera_folder
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or f"upload_{self._uploads:04d}.jpg")
        path.write_bytes(content if content is not None else people_photo(self._uploads))
        return path

    async def events(self, camera_id: str) -> list[dict[str, Any]]:
        """A camera's events, newest first."""
        return await self.items(f"/api/events?camera_id={camera_id}&limit=100")

    async def upload_and_wait(self, camera_folder: str, camera_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Upload the people photo and wait for the server to make an event of it; return the event."""
        before = {event["id"] for event in await self.events(camera_id)} if await self._has_camera(camera_id) else set()
        self.upload(camera_folder)

        async def new_event() -> dict[str, Any] | None:
            if not await self._has_camera(camera_id):
                return None
            fresh = [event for event in await self.events(camera_id) if event["id"] not in before]
            return fresh[0] if fresh else None

        return await eventually(new_event, timeout, f"an event on {camera_id}\n{self.log_tail()}")

    async def _has_camera(self, camera_id: str) -> bool:
        return any(camera["id"] == camera_id for camera in await self.items("/api/cameras?limit=100"))


async def eventually[T](
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "a condition"
) -> T:
    """Poll an async probe until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
