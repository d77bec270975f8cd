"""Health across processes: a `worker analyze` publishes its analyzer's health to Redis, `server api`
reports it, and says "no live worker" once the worker is gone (stopped cleanly, or killed and expired).

Real processes started as an operator would (`python -m server api`, `python -m server worker analyze`),
a corrupt GGUF as the broken LLM, the test's PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from server.health import HEALTH_INDEX, HEALTH_TTL_SECONDS, WorkerHealth, worker_components
from tests.support.gguf import write_corrupt_gguf
from tests.support.pipeline import eventually
from tests.support.processes import free_port, health, start_server


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
            return report if report and report["components"].get("analyzer", {}).get("workers") else None

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
