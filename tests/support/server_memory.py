"""A running server's memory while it handles one long 4K recording: the scenario of
tests/server/test_video_memory.py and of `python -m bench.server_memory`.

`python -m server run` (as `make run` starts it: embedded PostgreSQL and Redis, the default detector,
the rules scorer) is started from a source tree; once its detector and analyzer are up, a 60 s
3840×2160 H.264 recording of real people (vtest.avi's street, scaled up) is moved into a camera folder.
The server samples it, detects, makes the event and the event's clip. Its memory (its process and the
detect process it starts) is read from `/proc/<pid>/status`: VmRSS when idle, sampled every 0.1 s while
it works (summed over the processes: what the machine holds at once), and after it is done; VmHWM, the
kernel's own high-water mark of each process, for each one's peak (no sample can miss it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from PIL import Image

from tests.support.media import vtest_frames, write_recording
from tests.support.pipeline import eventually
from tests.support.processes import REPO, free_port, health, roles_ready, server_env, stop_server

RECORDING_SECONDS = 60
#: A camera's low frame rate: the decode path per frame is the same as at 25 fps, the test is shorter.
RECORDING_FPS = 2
RECORDING_SIZE = (3840, 2160)
CAMERA = "Driveway"


def write_4k_recording(path: Path) -> Path:
    """vtest.avi's street, a frame every 0.5 s for 60 s, scaled up to 3840×2160 (H.264, mp4)."""
    pictures: Iterator[Image.Image] = (
        image for _t, image in vtest_frames(1.0 / RECORDING_FPS, RECORDING_SECONDS * RECORDING_FPS)
    )
    return write_recording(path, pictures, fps=RECORDING_FPS, size=RECORDING_SIZE)


def process_memory_mib(pid: int) -> dict[str, dict[str, float]]:
    """VmRSS (resident now) and VmHWM (resident at most, over the process's life) in MiB of each process
    of the server: its own (`server`) and the Python processes it started (`spawned <pid>`: the detect
    process, multiprocessing's resource tracker); not the embedded PostgreSQL and Redis."""
    server = psutil.Process(pid)
    found: dict[str, dict[str, float]] = {}
    for process in [server, *server.children(recursive=True)]:
        try:
            if process.pid != pid and not process.name().startswith("python"):
                continue
            lines = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        except (psutil.NoSuchProcess, FileNotFoundError):  # a child gone since it was listed
            if process.pid == pid:
                raise psutil.NoSuchProcess(pid) from None
            continue
        figures = found["server" if process.pid == pid else f"spawned {process.pid}"] = {}
        for line in lines:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = round(int(value.split()[0]) / 1024, 1)
    return found


def memory_mib(pid: int) -> dict[str, float]:
    """The server's VmRSS and VmHWM summed over its processes (`process_memory_mib`). The sum of the
    high-water marks bounds the server's peak from above: its processes need not peak at the same time."""
    processes = process_memory_mib(pid).values()
    return {name: round(sum(figures[name] for figures in processes), 1) for name in ("VmRSS", "VmHWM")}


def peak_growth_mib(idle: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """What each process's peak added to its idle resident memory (processes alive at both times)."""
    return {name: round(after[name]["VmHWM"] - idle[name]["VmRSS"], 1) for name in idle.keys() & after.keys()}


async def measure_server_memory(work: Path, recording: Path, tree: Path = REPO, timeout: float = 900) -> dict[str, Any]:
    """Run the scenario with the server of `tree`; the figures, and what the server made of the recording."""
    work.mkdir(parents=True, exist_ok=True)
    cameras, data = work / "cameras", work / "data"
    cameras.mkdir(exist_ok=True)
    port = free_port()
    env = server_env(
        HSI_DATA_DIR=str(data),
        HSI_CAMERAS_DIR=str(cameras),
        HSI_HOST="127.0.0.1",
        HSI_PORT=str(port),
        HSI_LLM="rules",
        HSI_BATCH_WINDOW_SECONDS="30",
        HSI_BATCH_IDLE_TIMEOUT_SECONDS="3",
    )
    log = work / "server.log"
    with log.open("ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "server", "run"], cwd=tree, env=env, stdout=out, stderr=out)
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []  # (seconds since the drop, VmRSS MiB)
    try:

        async def ready() -> dict[str, Any] | None:
            assert server.poll() is None, log.read_text()[-3000:]
            report = await loop.run_in_executor(None, health, port, data)
            return report if roles_ready(report) else None

        report = await eventually(ready, timeout=240, interval=0.5)
        await asyncio.sleep(3)
        idle_processes = process_memory_mib(server.pid)
        idle = memory_mib(server.pid)
        key = (data / "api_key.txt").read_text().strip()
        base = f"http://127.0.0.1:{port}"
        folder = cameras / CAMERA
        folder.mkdir()
        staged = work / "driveway.mp4"
        await asyncio.to_thread(_copy, recording, staged)
        started = time.monotonic()
        os.rename(staged, folder / "driveway.mp4")  # appears whole, as an FTP server's rename does

        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:

            async def clip_made() -> dict[str, Any] | None:
                assert server.poll() is None, log.read_text()[-3000:]
                async with http.get(f"{base}/api/events", params={"camera_id": "driveway"}) as got:
                    events = (await got.json())["items"]
                return next((event for event in events if event.get("has_clip")), None)

            sampler = asyncio.create_task(_sample(server.pid, samples, started))
            try:
                event = await eventually(clip_made, timeout=timeout, interval=1.0)
            finally:
                sampler.cancel()
            busy_seconds = time.monotonic() - started
            await asyncio.sleep(5)
            after_processes = process_memory_mib(server.pid)
            after = memory_mib(server.pid)
            async with http.get(f"{base}/api/detections", params={"camera_id": "driveway", "limit": 200}) as got:
                detections = (await got.json())["items"]
        return {
            "detector": report["components"]["detector"].get("backend"),
            "idle_rss_mib": idle["VmRSS"],
            "startup_peak_mib": idle["VmHWM"],
            "busy_rss_max_sampled_mib": max((rss for _, rss in samples), default=0.0),
            "peak_rss_mib": after["VmHWM"],
            "peak_over_idle_per_process_mib": peak_growth_mib(idle_processes, after_processes),
            "after_rss_mib": after["VmRSS"],
            "busy_seconds": round(busy_seconds, 1),
            "persons": sum(1 for row in detections if row["object_type"] == "person"),
            "detection_times": sorted({row["detected_at"] for row in detections}),
            "event_id": event["id"],
            "rss_trace": _per_second(samples),
        }
    finally:
        if server.poll() is None:
            stop_server(server, log)


async def _sample(pid: int, samples: list[tuple[float, float]], started: float) -> None:
    while True:
        try:
            samples.append((time.monotonic() - started, memory_mib(pid)["VmRSS"]))
        except psutil.NoSuchProcess:
            return
        await asyncio.sleep(0.1)


def _per_second(samples: list[tuple[float, float]]) -> list[float]:
    """The most resident in each second since the drop (MiB)."""
    trace: dict[int, float] = {}
    for at, rss in samples:
        trace[int(at)] = max(rss, trace.get(int(at), 0.0))
    return [trace.get(second, 0.0) for second in range(max(trace, default=-1) + 1)]


def _copy(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())
