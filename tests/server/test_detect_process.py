"""`python -m server run` gives the detect role a process of its own (server/detect_process.py).

A real server (embedded PostgreSQL and Redis, HOG, the rules scorer): its detect process handles the
uploads; killed, it is started again and the next upload is handled; a Ctrl-C stops both, once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.support.pipeline import eventually
from tests.support.processes import free_port, health, stop_server
from tests.support.real_media import media_path


def _detect_processes(server: psutil.Process) -> list[psutil.Process]:
    """The server's spawned Python children that run a role (not multiprocessing's resource tracker)."""
    found = []
    for child in server.children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            found.append(child)
    return found


def _upload(cameras: Path, name: str) -> None:
    """A real photo (its own bytes: the same bytes twice are one upload) published into the porch's folder."""
    folder = cameras / "porch"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media_path(name), folder / f".{name}.part")
    time.sleep(0.01)  # each upload a later modification time: the camera's latest upload moves on
    os.rename(folder / f".{name}.part", folder / name)  # as an FTP server publishes a finished upload


async def test_the_detect_role_runs_in_a_process_of_its_own_and_comes_back_after_a_crash(tmp_path: Path) -> None:
    port, data, cameras = free_port(), tmp_path / "data", tmp_path / "cameras"
    cameras.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HSI_")} | {
        "HSI_DATA_DIR": str(data),
        "HSI_CAMERAS_DIR": str(cameras),
        "HSI_HOST": "127.0.0.1",
        "HSI_PORT": str(port),
        "HSI_DETECTOR": "hog",
        "HSI_LLM": "rules",
        "HSI_DETECT_PROCESS": "child",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "server", "run"], env=env, stdout=out, stderr=out)
    server = psutil.Process(proc.pid)
    try:

        async def detect_worker() -> dict[str, Any] | None:
            assert proc.poll() is None, log.read_text()[-3000:]
            report = await asyncio.to_thread(health, port, data)
            detector = (report or {}).get("components", {}).get("detector") or {}
            loaded = detector.get("workers") and detector["status"] != "starting"
            return detector["workers"] if loaded else None

        await eventually(detect_worker, timeout=180, interval=0.5)
        [first] = _detect_processes(server)
        key = (data / "api_key.txt").read_text().strip()

        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:

            async def last_seen(before: str | None = None) -> str | None:
                """The camera's latest upload time once it is newer than `before` (the detect role
                records it with the file's detections)."""
                async with http.get(f"http://127.0.0.1:{port}/api/cameras/porch") as got:
                    seen = (await got.json()).get("last_seen_at") if got.status == 200 else None
                return seen if seen != before else None

            _upload(cameras, "bus.jpg")
            first_seen = await eventually(last_seen, timeout=60, interval=0.2)

            first.send_signal(signal.SIGKILL)  # a crash: the server starts the role again
            await asyncio.to_thread(first.wait, 10)

            async def restarted() -> list[psutil.Process]:
                return [p for p in _detect_processes(server) if p.pid != first.pid]

            await eventually(restarted, timeout=60)
            _upload(cameras, "zidane.jpg")
            await eventually(lambda: last_seen(first_seen), timeout=120, interval=0.2)
        assert "the detect process" in log.read_text() and "exited with code -9" in log.read_text()

        # A Ctrl-C reaches the whole process group: it is the server's to answer. The detect process
        # ignores it (stopping first, it would be taken for a crash and started again)...
        [second] = _detect_processes(server)
        second.send_signal(signal.SIGINT)
        with pytest.raises(psutil.TimeoutExpired):
            await asyncio.to_thread(second.wait, 3)
        # ...and the server stops it as it stops itself.
        stopping = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 60) == 0, log.read_text()[-3000:]
        assert time.monotonic() - stopping < 20
        assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE
        # One restart logged: the SIGKILL's.
        assert log.read_text().count("starting it again") == 1, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            stop_server(proc, log)  # stops its embedded stores too
