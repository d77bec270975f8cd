"""A running server given Hub ids: it serves with its defaults, downloads, switches, and survives a kill.

Real `python -m server run` processes on the test's PostgreSQL and Redis, the real `huggingface_hub`
client (`HF_ENDPOINT`) against the stand-in Hub of tests/support/hub.py, serving a tiny RT-DETRv2 folder
and the real SmolLM2-135M-Instruct GGUF at a limited rate, so that progress can be watched and a download
killed half-way.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.db import create_engine, session_factory
from server.models import Log
from tests.support.hub import StandInHub
from tests.support.pipeline import eventually
from tests.support.processes import free_port, health, server_env, start_server, stop_server
from tests.support.rtdetr import build_tiny_rtdetr
from tests.support.smollm2 import SMOLLM2

@pytest.fixture
async def hub() -> AsyncIterator[StandInHub]:
    stand_in = StandInHub()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def _env(
    tmp_path: Path, db_url: str, redis_url: str, hub: StandInHub, port: int, **more: str
) -> dict[str, str]:
    (tmp_path / "cameras").mkdir(exist_ok=True)
    return server_env(
        HSI_DATABASE_URL=db_url,
        HSI_REDIS_URL=redis_url,
        HSI_DATA_DIR=str(tmp_path / "data"),
        HSI_CAMERAS_DIR=str(tmp_path / "cameras"),
        HSI_HOST="127.0.0.1",
        HSI_PORT=str(port),
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_DISABLE_TELEMETRY="1",
        **more,
    )


async def _component(
    port: int, name: str, process: subprocess.Popen[bytes], log: Path, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The component's health report once `ready(report)` holds (the server must stay up meanwhile)."""
    loop = asyncio.get_running_loop()

    async def check() -> dict[str, Any] | None:
        assert process.poll() is None, log.read_text()[-3000:]
        report = await loop.run_in_executor(None, health, port, log.parent / "data")  # as _env places it
        part = (report or {}).get("components", {}).get(name)
        return part if part and part.get("workers") and part["status"] != "starting" and ready(part) else None

    return await eventually(check, timeout=120, interval=0.2)


async def _log_rows(db_url: str, component: str) -> list[Log]:
    engine = create_engine(db_url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(Log).where(Log.component == component).order_by(Log.id)))
    finally:
        await engine.dispose()


async def test_a_detector_by_hub_id_runs_the_default_until_downloaded_then_switches(
    tmp_path: Path, db_url: str, redis_url: str, hub: StandInHub
) -> None:
    model = build_tiny_rtdetr(tmp_path / "hub" / "acme" / "rtdetr-tiny")
    size = sum(p.stat().st_size for p in model.iterdir() if p.suffix in (".json", ".safetensors"))
    hub.add("acme/rtdetr-tiny", model)
    hub.bytes_per_second = size / 4  # about four seconds: long enough to be seen downloading
    port = free_port()
    env = _env(tmp_path, db_url, redis_url, hub, port, HSI_DETECTOR_MODEL="acme/rtdetr-tiny", HSI_LLM="rules")
    log = tmp_path / "server.log"
    server = start_server(["run"], env, log)
    try:
        waiting = await _component(port, "detector", server, log, lambda part: part["download"] is not None)
        assert waiting["backend"] == "ssd_mobilenet" and waiting["fallback"] is True
        assert waiting["status"] == "degraded"
        assert (
            waiting["reason"]
            == "acme/rtdetr-tiny is being downloaded: the packaged SSD-MobileNet-V2 COCO model"
        )
        assert waiting["download"]["state"] in ("checking", "downloading")

        switched = await _component(port, "detector", server, log, lambda part: part["backend"] == "rtdetr")
        assert switched["fallback"] is False and switched["status"] == "healthy"
        assert switched["download"] | {"attempts": 1} == {
            "model": "acme/rtdetr-tiny",
            "state": "ready",
            "bytes_done": size,
            "bytes_total": size,
            "error": None,
            "attempts": 1,
        }
        assert "acme/rtdetr-tiny" in switched["reason"] and "rtdetr" in switched["reason"]
    finally:
        stop_server(server, log)
    rows = [row.message for row in await _log_rows(db_url, "detector")]
    assert any(message.startswith("downloaded and verified acme/rtdetr-tiny") for message in rows)

    # Next start: the model is here; with the network switched off, it runs at once, asking nobody.
    asked = len(hub.requests)
    server = start_server(["run"], env | {"HF_HUB_OFFLINE": "1"}, log)
    try:
        report = await _component(port, "detector", server, log, lambda part: True)
        assert report["backend"] == "rtdetr" and report["fallback"] is False and report["download"] is None
    finally:
        stop_server(server, log)
    assert len(hub.requests) == asked


async def test_an_llm_download_killed_half_way_resumes_at_the_next_start_and_loads(
    tmp_path: Path, db_url: str, redis_url: str, hub: StandInHub
) -> None:
    repo = tmp_path / "hub" / "acme" / "smollm2"
    repo.mkdir(parents=True)
    (repo / SMOLLM2.name).symlink_to(SMOLLM2)
    hub.add("acme/smollm2", repo)
    hub.bytes_per_second = 15e6  # the 98 MB file takes ~7 s
    port = free_port()
    hub_id = f"acme/smollm2/{SMOLLM2.name}"
    env = _env(tmp_path, db_url, redis_url, hub, port, HSI_LLM_MODEL=hub_id, HSI_DETECTOR="hog")
    log = tmp_path / "server.log"
    server = start_server(["run"], env, log)
    try:
        half = await _component(
            port, "analyzer", server, log, lambda part: (part["download"] or {}).get("bytes_done", 0) >= 20e6
        )
        assert half["loaded"] is False and half["status"] == "degraded"
        assert half["download"]["bytes_done"] < half["download"]["bytes_total"] == SMOLLM2.stat().st_size
        assert f"HSI_LLM_MODEL={hub_id} is being downloaded" in half["last_error"]
    finally:
        server.kill()  # no clean stop: whatever reached the disk must be enough to go on from
        server.wait(30)
    (part,) = (tmp_path / "data" / "models").glob(f"*/{SMOLLM2.name}.part")
    kept = part.stat().st_size
    assert 10e6 <= kept < SMOLLM2.stat().st_size

    hub.bytes_per_second = None
    server = start_server(["run"], env, log)
    try:
        loaded = await _component(port, "analyzer", server, log, lambda part: part["loaded"])
        assert loaded["backend"] == "llama_cpp" and loaded["status"] == "healthy"
        assert loaded["download"]["state"] == "ready" and loaded["last_error"] is None
    finally:
        stop_server(server, log)
    ranges = [request.range for request in hub.requests if "/resolve/" in request.path]
    assert ranges == [None, f"bytes={kept}-"]
    assert (part.parent / SMOLLM2.name).read_bytes() == SMOLLM2.read_bytes()


async def test_a_failed_download_leaves_the_server_running_on_the_default_with_a_reason(
    tmp_path: Path, db_url: str, redis_url: str, hub: StandInHub
) -> None:
    hub.add("acme/rtdetr-tiny", tmp_path).broken = True  # every request answers 500
    port = free_port()
    env = _env(tmp_path, db_url, redis_url, hub, port, HSI_DETECTOR_MODEL="acme/rtdetr-tiny", HSI_LLM="rules")
    log = tmp_path / "server.log"
    server = start_server(["run"], env, log)
    try:
        failed = await _component(
            port, "detector", server, log, lambda part: (part["download"] or {}).get("state") == "failed"
        )
        assert failed["backend"] == "ssd_mobilenet" and failed["fallback"] is True
        assert failed["status"] == "degraded"
        assert failed["reason"].startswith("acme/rtdetr-tiny could not be downloaded (acme/rtdetr-tiny: ")
        assert "500" in failed["download"]["error"] and failed["download"]["attempts"] == 1
        await asyncio.sleep(1.0)
        assert server.poll() is None  # still serving, on the default model
    finally:
        stop_server(server, log)
    errors = [row for row in await _log_rows(db_url, "detector") if row.level == "ERROR"]
    assert len(errors) == 1 and errors[0].message.startswith(
        "model download failed (attempt 1, next in 30 s)"
    )
