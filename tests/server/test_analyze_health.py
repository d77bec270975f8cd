"""Health across processes: a `worker analyze` publishes its analyzer's health to Redis, `server api`
reports it, and says "no live worker" once the worker is gone (stopped cleanly, or killed and expired);
while a server starts, its workers are "starting", not absent.

Real processes started as an operator would (`python -m server api`, `python -m server worker analyze`),
a corrupt GGUF as the broken LLM, the test's PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from server.health import (
    HEALTH_INDEX,
    HEALTH_TTL_SECONDS,
    WorkerHealth,
    health_report,
    loading,
    worker_components,
)
from server.runtime import Runtime
from tests.support.gguf import write_corrupt_gguf
from tests.support.pipeline import eventually, pipeline_runtime, pipeline_settings
from tests.support.processes import free_port, health, server_env, start_server, stop_server


async def test_api_reports_a_separate_workers_broken_llm_and_its_absence_once_killed(
    tmp_path: Path, db_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    corrupt = write_corrupt_gguf(tmp_path / "corrupt.gguf")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HSI_")},
        "HSI_DATABASE_URL": db_url,
        "HSI_REDIS_URL": redis_url,
        "HSI_DATA_DIR": str(tmp_path / "data"),
        "HSI_CAMERAS_DIR": str(tmp_path / "cameras"),
        "HSI_HOST": "127.0.0.1",
        "HSI_PORT": str(port),
        "HSI_LLM": "llama_cpp",
        "HSI_LLM_MODEL": str(corrupt),
        "HSI_WORKER_START_GRACE_SECONDS": "0",  # no start-up grace: the absent detect worker is absent
    }
    (tmp_path / "cameras").mkdir()
    logs = {name: tmp_path / f"{name}.log" for name in ("api", "analyze")}
    api = start_server(["api"], env, logs["api"])
    analyze = start_server(["worker", "analyze"], env, logs["analyze"])
    loop = asyncio.get_running_loop()
    try:

        async def analyzer_reported() -> dict[str, Any] | None:
            report = await loop.run_in_executor(None, health, port, tmp_path / "data")
            assert api.poll() is None and analyze.poll() is None, {
                n: p.read_text()[-2000:] for n, p in logs.items()
            }
            analyzer = report["components"].get("analyzer", {}) if report else {}
            return report if analyzer.get("workers") and analyzer["status"] != "starting" else None

        report = await eventually(analyzer_reported, timeout=120, interval=0.3)
        analyzer = report["components"]["analyzer"]
        assert analyzer["status"] == "degraded" and analyzer["loaded"] is False
        assert "cannot load llama_cpp" in analyzer["last_error"]
        [(consumer, worker)] = analyzer["workers"].items()
        assert worker["status"] == "degraded" and consumer.endswith(report["instance_id"][:8])
        assert report["status"] == "degraded"
        # No detect worker runs anywhere: the API says so instead of leaving the detector out.
        assert report["components"]["detector"] == {
            "status": "unhealthy",
            "reason": "no live detect worker",
            "workers": {},
        }

        analyze.kill()  # no clean stop: its entry must expire on its own
        analyze.wait(30)
        killed_at = loop.time()

        async def analyzer_gone() -> dict[str, Any] | None:
            report = await loop.run_in_executor(None, health, port, tmp_path / "data")
            return report if report and not report["components"]["analyzer"]["workers"] else None

        report = await eventually(analyzer_gone, timeout=HEALTH_TTL_SECONDS + 10, interval=0.3)
        assert loop.time() - killed_at >= HEALTH_TTL_SECONDS - 2.5  # expired, not withdrawn
        assert report["components"]["analyzer"]["status"] == "unhealthy"
        assert report["components"]["analyzer"]["reason"] == "no live analyze worker"
        assert report["status"] == "degraded"
    finally:
        for process in (analyze, api):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)


async def test_a_worker_entry_is_renewed_while_it_runs_and_withdrawn_at_a_clean_stop(
    redis: aioredis.Redis,
) -> None:
    state = {"status": "healthy"}

    async def probe() -> dict[str, Any]:
        return dict(state)

    one = WorkerHealth(redis, "analyze", "host:abc", {"analyzer": probe}, interval=0.1, ttl=0.5)
    two = WorkerHealth(redis, "analyze", "host:abc#1", {"analyzer": probe}, interval=0.1, ttl=0.5)
    await one.publish()
    await two.publish()
    stop = asyncio.Event()
    renewing = asyncio.create_task(one.run(stop))
    state["status"] = "degraded"
    await asyncio.sleep(1.0)  # twice the TTL: only the renewed entry is still there

    merged = (await worker_components(redis))["analyzer"]
    assert merged["status"] == "degraded" and list(merged["workers"]) == ["host:abc"]
    assert await redis.zrange(HEALTH_INDEX, 0, -1) == [one.key.encode()]  # the expired one is pruned

    stop.set()
    await renewing
    await one.withdraw()
    assert await worker_components(redis) == {}
    assert not await redis.exists(one.key) and await redis.zcard(HEALTH_INDEX) == 0


async def test_a_starting_server_never_reports_its_pipeline_unhealthy(
    tmp_path: Path, db_url: str, redis_url: str
) -> None:
    """`server run` as the add-on starts it, its health read from the API's first answer until the
    detector is loaded. Before, the API answered while the detect process was still importing and
    loading its model: "no live detect worker", unhealthy, for about 4.5 s on this machine, so Home
    Assistant's problem sensor went on (and automations on it fired) at every restart."""
    port = free_port()
    data = tmp_path / "data"
    env = server_env(
        HSI_DATABASE_URL=db_url,
        HSI_REDIS_URL=redis_url,
        HSI_DATA_DIR=str(data),
        HSI_CAMERAS_DIR=str(tmp_path / "cameras"),
        HSI_HOST="127.0.0.1",
        HSI_PORT=str(port),
        HSI_LLM="rules",
    )
    log = tmp_path / "run.log"
    server = start_server(["run"], env, log)
    loop = asyncio.get_running_loop()
    seen: list[dict[str, str]] = []
    try:

        async def detector_loaded() -> dict[str, Any] | None:
            assert server.poll() is None, log.read_text()[-3000:]
            report = await loop.run_in_executor(None, health, port, data)
            if report is None or not (data / "api_key.txt").is_file():
                return None
            seen.append({name: part["status"] for name, part in report["components"].items()})
            detector = report["components"]["detector"]
            return report if detector["status"] not in ("starting",) and detector["workers"] else None

        report = await eventually(detector_loaded, timeout=180, interval=0.1)
    finally:
        stop_server(server, log)
    assert report["components"]["detector"]["status"] == "healthy", report
    # Read from the first answer on, many times while the roles started: nothing was ever unhealthy.
    assert len(seen) >= 2, seen
    assert [statuses for statuses in seen if "unhealthy" in statuses.values()] == []


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str, redis: aioredis.Redis) -> AsyncIterator[Runtime]:
    async with pipeline_runtime(pipeline_settings(tmp_path), db_url, redis) as rt:
        yield rt


async def test_an_absent_worker_is_starting_only_within_the_grace_and_a_load_only_until_its_limit(
    runtime: Runtime,
) -> None:
    just_started = await health_report(runtime, expect_workers=True)
    assert just_started["components"]["detector"] == {
        "status": "starting",
        "reason": "no live detect worker yet: the server is starting",
        "workers": {},
    }
    assert just_started["status"] == "healthy"

    grace = runtime.settings.worker_start_grace_seconds
    later = replace(runtime, started_at=time.monotonic() - grace - 1)
    report = await health_report(later, expect_workers=True)
    assert report["components"]["detector"]["status"] == "unhealthy"
    assert report["components"]["detector"]["reason"] == "no live detect worker"
    assert report["status"] == "degraded"

    assert await loading("the detector")() == {"status": "starting", "reason": "loading the detector"}
    hung = loading("the detector", limit=0)
    assert await hung() == {"status": "unhealthy", "reason": "still loading the detector after 0 s"}
