"""End to end through the API: ingest a photo over HTTP, receive `event.created` and `alert.created`
on the WebSocket — produced by the real pipeline (HOG detector, batcher, rules analyzer, alert engine),
all roles started by `server.runner.serve` as `python -m server run` starts them. Then the same
event and alert are read, reviewed and acknowledged over REST.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from server.config import Settings
from server.runner import serve
from server.runtime import Runtime
from tests.support.photos import people_walking
from tests.support.processes import free_port
from tests.support.websocket import subscribe

TIMEOUT = 90.0




async def _next_of(ws: aiohttp.ClientWebSocketResponse, wanted: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while wanted - set(found):
        message = await ws.receive_json(timeout=max(0.1, deadline - loop.time()))
        found.setdefault(message["type"], message["data"])
    return found


async def test_ingested_photo_reaches_the_websocket_as_event_and_alert(
    tmp_path: Path, db_url: str, redis_url: str, redis: aioredis.Redis
) -> None:
    # `redis` empties the shared Redis: a test run before may have batched detections of the same
    # ids (every test's database counts from 1), which the batcher would take for these.
    port = free_port()
    (tmp_path / "cameras").mkdir()
    settings = Settings(
        data_dir=tmp_path / "data",
        cameras_dir=tmp_path / "cameras",
        database_url=db_url,
        redis_url=redis_url,
        host="127.0.0.1",
        port=port,
        detector="hog",
        llm="rules",
        batch_window_seconds=3.0,
        batch_idle_timeout_seconds=1.0,
        fast_path_confidence=1.0,
        file_stable_seconds=0.3,
        detect_process="inline",  # every role in the test's process (tests/support/pipeline.py)
    )
    stop, ready = asyncio.Event(), asyncio.Event()

    async def on_ready(_: Runtime) -> None:
        ready.set()

    server = asyncio.create_task(serve(settings, ["api", "detect", "analyze"], stop=stop, on_ready=on_ready))
    try:
        await asyncio.wait_for(ready.wait(), TIMEOUT)
        key = (settings.data_dir / "api_key.txt").read_text().strip()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
            rule = await http.post(f"{base}/api/cameras", json={"name": "Front Door"})
            assert rule.status == 201, await rule.text()
            created = await http.post(
                f"{base}/api/alert-rules",
                json={
                    "name": "people",
                    "object_types": ["person"],
                    "severity": "high",
                    "cooldown_seconds": 0,
                },
            )
            assert created.status == 201, await created.text()
            rule_id = (await created.json())["id"]
            async with http.ws_connect(f"{base}/api/ws", heartbeat=30) as ws:
                await subscribe(ws, types=["event.created", "alert.created"], camera_ids=["front_door"])
                ingested = await http.post(
                    f"{base}/api/ingest?camera_id=front_door",
                    data=people_walking().read_bytes(),
                    headers={"Content-Type": "image/jpeg"},
                )
                assert ingested.status == 202, await ingested.text()
                found = await _next_of(ws, {"event.created", "alert.created"})
            event, alert = found["event.created"], found["alert.created"]
            assert event["camera_id"] == "front_door" and "person" in event["object_types"]
            assert alert["event_id"] == event["id"] and alert["rule_id"] == rule_id

            listed = await (await http.get(f"{base}/api/events?camera_id=front_door")).json()
            assert [e["id"] for e in listed["items"]] == [event["id"]]
            thumb = await http.get(f"{base}{event['thumbnail_url']}")
            assert thumb.status == 200 and thumb.content_type == "image/jpeg"
            acknowledged = await http.post(f"{base}/api/alerts/{alert['id']}/acknowledge")
            assert (await acknowledged.json())["status"] == "acknowledged"
            detections = await (await http.get(f"{base}/api/events/{event['id']}/detections")).json()
            assert {d["object_type"] for d in detections["items"]} == {"person"}
    finally:
        stop.set()
        await asyncio.wait_for(server, 60)
