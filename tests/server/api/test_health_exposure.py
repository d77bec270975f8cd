"""The open health check tells anyone the state of each part, and only key holders why.

Finding: `GET /api/system/health` without a key showed database error text, the LLM URL (with any
credentials in it, inside the analyzer's last error) and model paths.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from server.db import Database, create_engine, session_factory
from server.health import WorkerHealth
from server.runtime import Runtime

LLM_URL = "http://hsi:s3cret-pass@llm.lan:8080/v1"
MODEL = "/models/private/rtdetr-v2-custom.safetensors"


async def _detector() -> dict[str, Any]:
    return {"status": "degraded", "backend": "hog", "device": "cpu", "fallback": True, "model": MODEL}


async def _analyzer() -> dict[str, Any]:
    return {
        "status": "degraded",
        "backend": "openai",
        "healthy": False,
        "loaded": True,
        "breaker": "open",
        "last_error": f"openai failed: ClientConnectorError: Cannot connect to {LLM_URL}",
    }


async def test_public_health_shows_states_not_secrets(runtime: Runtime, client: TestClient) -> None:
    workers = [
        WorkerHealth(runtime.redis, "detect", "gpu-host.lan:1", {"detector": _detector}),
        WorkerHealth(runtime.redis, "analyze", "gpu-host.lan:2", {"analyzer": _analyzer}),
    ]
    for worker in workers:
        await worker.publish()
    try:
        public = await client.get("/api/system/health", headers={"X-API-Key": ""})
        wrong = await client.get("/api/system/health", headers={"X-API-Key": "hsi_guess"})
        full = await client.get("/api/system/health")  # the client's valid key
        public_body, wrong_body, full_body = await public.json(), await wrong.json(), await full.json()
    finally:
        for worker in workers:
            await worker.withdraw()
    assert public.status == wrong.status == full.status == 200
    text = json.dumps(public_body)
    for secret in ("s3cret", "llm.lan", MODEL, "gpu-host", "last_error", "latency_ms"):
        assert secret not in text, secret
    assert public_body == wrong_body
    assert public_body["components"]["detector"] == {
        "status": "degraded", "backend": "hog", "device": "cpu", "fallback": True
    }
    assert public_body["components"]["analyzer"] == {
        "status": "degraded", "backend": "openai", "healthy": False, "loaded": True, "breaker": "open"
    }
    # The key holder sees why (what Home Assistant's diagnostics and an operator need).
    assert full_body["components"]["detector"]["model"] == MODEL
    assert LLM_URL in full_body["components"]["analyzer"]["last_error"]


async def test_public_health_hides_the_database_error(runtime: Runtime, client: TestClient) -> None:
    """The database goes away under a running API: the open report says unhealthy, not the driver's
    text; a key holder (keys are checked from the process's cache) sees why."""
    url = runtime.database.url.rsplit("/", 1)[0] + "/no_such_database_here"
    engine = create_engine(url, pool_size=1)
    working, runtime.database = runtime.database, Database(url, engine, session_factory(engine))
    try:
        public = await client.get("/api/system/health", headers={"X-API-Key": ""})
        full = await client.get("/api/system/health")  # the client's valid key
        public_body, full_body = await public.json(), await full.json()
    finally:
        runtime.database = working
        await engine.dispose()
    assert public.status == full.status == 503
    assert public_body["components"]["database"] == {"status": "unhealthy"}
    assert "no_such_database_here" not in json.dumps(public_body)
    assert "no_such_database_here" in full_body["components"]["database"]["error"]
