"""`python -m server run`: embedded PostgreSQL + Redis come up, health says so, SIGINT leaves nothing —
promptly, even with a live WebSocket client (Home Assistant) connected; and the instance id it keeps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import psutil

from server.runtime import instance_id
from tests.support.processes import free_port


def _processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(path) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_run_serves_health_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "HSI_DATA_DIR": str(data_dir),
        "HSI_CAMERAS_DIR": str(tmp_path / "cameras"),
        "HSI_HOST": "127.0.0.1",
        "HSI_PORT": str(port),
        "HSI_DETECTOR": "hog",
        "HSI_LLM": "rules",
    }
    for name in ("HSI_DATABASE_URL", "HSI_REDIS_URL"):
        env.pop(name, None)
    (tmp_path / "cameras").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "server", "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        report: dict = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                status, report = _get_json(f"http://127.0.0.1:{port}/api/system/health")
                break
            except OSError:
                await asyncio.sleep(0.3)
        assert status == 200, report
        assert report["components"]["database"]["status"] == "healthy"
        assert report["components"]["redis"]["status"] == "healthy"
        first_id = report["instance_id"]
        assert len(first_id) == 36
        assert _processes_using(data_dir), "embedded services should run under the data dir"
        key = (data_dir / "api_key.txt").read_text().strip()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}/api/ws", headers={"X-API-Key": key}) as ws,
        ):
            await ws.send_json({"type": "ping"})
            assert (await ws.receive_json(timeout=10))["type"] == "pong"
            stopping = time.monotonic()
            proc.send_signal(signal.SIGINT)
            closing = await ws.receive(timeout=30)  # the server says goodbye instead of hanging on
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
            await asyncio.to_thread(proc.wait, 60)
        assert time.monotonic() - stopping < 15
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    assert proc.returncode == 0
    deadline = time.monotonic() + 15
    while _processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_using(data_dir) == []
    assert (data_dir / "instance_id").read_text().strip() == first_id


def test_the_instance_id_is_stable_across_starts(tmp_path: Path) -> None:
    """Home Assistant keys its config entry on this id: a restart must not look like a new server.
    `serve()` calls `instance_id(settings.data_dir)` at every start; two starts are two calls."""
    data_dir = tmp_path / "data"  # the first start creates it
    first = instance_id(data_dir)
    assert str(uuid.UUID(first)) == first
    assert instance_id(data_dir) == first
    assert instance_id(tmp_path / "another") != first  # another data dir is another server

    # A first start that died before writing anything (an empty file) gets an id, kept from then on.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "instance_id").write_text("")
    repaired = instance_id(broken)
    assert repaired and instance_id(broken) == repaired
