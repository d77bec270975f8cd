"""`/api/system/dead-letters`: list, replay and drop what a queue gave up on; health and stats count them.

Dead letters are made the way the pipeline makes them: a consumer whose handler keeps failing on an
entry for a reason of its own (here: an entry whose field cannot be read) until `max_retries`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.api.system import api_health
from server.models import AuditLog
from server.pipeline.streams import (
    ANALYZE_GROUP,
    ANALYZE_STREAM,
    DETECT_GROUP,
    DETECT_STREAM,
    RedisStream,
)
from server.runtime import Runtime
from tests.server.api.conftest import error_of
from tests.support.pipeline import eventually, log_rows


async def _dead_letter(redis: aioredis.Redis, name: str, group: str, fields: dict[str, str]) -> None:
    """Queue `fields` and consume them with a handler that cannot read them, until dead-lettered."""
    stream = RedisStream(redis, name, group, max_retries=2, backoff_base_seconds=0.01, backoff_cap_seconds=0.02)
    await stream.add(fields)

    async def handler(entry_id: str, entry: dict[str, str]) -> None:
        int(entry["n"])  # not a number, or no number at all

    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume("test", handler, stop=stop, count=2, block_ms=20))
    try:
        await eventually(lambda: _has_dead(redis, stream.dead_letter_name), timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _has_dead(redis: aioredis.Redis, name: str) -> bool:
    return bool(await redis.xlen(name))


async def test_list_replay_and_drop_dead_letters(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    redis = runtime.redis
    upload = tmp_path / "a.jpg"
    upload.write_bytes(b"the upload")  # a replay queues only a file that is still there
    await _dead_letter(redis, DETECT_STREAM, DETECT_GROUP, {"n": "not a number", "file_path": str(upload)})
    await _dead_letter(redis, ANALYZE_STREAM, ANALYZE_GROUP, {"batch_id": "b1"})

    response = await client.get("/api/system/dead-letters")
    assert response.status == 200
    page = await response.json()
    assert [(item["queue"], item["fields"]) for item in page["items"]] == [
        ("detect", {"n": "not a number", "file_path": str(upload)}),
        ("analyze", {"batch_id": "b1"}),
    ]
    detect, analyze = page["items"]
    assert detect["error"].startswith("ValueError") and detect["attempts"] == 2 and detect["original_id"]
    assert page["next_cursor"] is None
    # Pages of one: the cursor carries on into the next queue.
    first = await (await client.get("/api/system/dead-letters", params={"limit": 1})).json()
    second = await (
        await client.get("/api/system/dead-letters", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [detect["id"], analyze["id"]]
    assert second["next_cursor"] is None
    only = await (await client.get("/api/system/dead-letters", params={"queue": "analyze"})).json()
    assert [item["id"] for item in only["items"]] == [analyze["id"]]

    # The health report and the stats count them.
    health = await api_health(runtime)
    assert health["components"]["pipeline"]["dead_letters"]["detect"] == 1
    assert "2 dead letters" in health["components"]["pipeline"]["reason"]
    stats = await (await client.get("/api/system/stats")).json()
    assert stats["queues"]["dead_letter"] == 2
    # Each was logged when it was dead-lettered (the log writer stores rows in batches: wait for both).
    async def both_logged() -> list[Any] | None:
        rows = [row for row in await log_rows(runtime) if row.component == "streams" and row.level == "ERROR"]
        return rows if len(rows) >= 2 else None

    errors = await eventually(both_logged, timeout=10)
    assert len(errors) == 2

    # Replay: back on its queue as a new entry with its own fields only; the letter is gone.
    replayed = await client.post(f"/api/system/dead-letters/detect/{detect['id']}/replay")
    assert replayed.status == 202
    body = await replayed.json()
    assert body["queue"] == "detect"
    [(entry_id, fields)] = await redis.xrange(DETECT_STREAM)
    assert entry_id.decode() == body["entry_id"]
    assert {k.decode(): v.decode() for k, v in fields.items()} == {"n": "not a number", "file_path": str(upload)}
    await error_of(await client.post(f"/api/system/dead-letters/detect/{detect['id']}/replay"), 404)

    # Drop.
    dropped = await client.delete(f"/api/system/dead-letters/analyze/{analyze['id']}")
    assert dropped.status == 204
    assert (await (await client.get("/api/system/dead-letters")).json())["items"] == []
    assert (await api_health(runtime))["components"]["pipeline"]["dead_letters"] == {
        "detect": 0, "analyze": 0, "refine": 0, "clips": 0, "alerts": 0
    }
    async with runtime.database.sessions() as session:
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["dead_letter_replayed", "dead_letter_dropped"]


async def test_a_letter_replayed_twice_at_once_is_queued_once(client: TestClient, runtime: Runtime) -> None:
    """A review's finding, tried: two replays of one letter at once (a double click, two dashboards)
    both found it before either deleted it: both answered 202 and the job was queued twice. So did a
    replay and a drop at once: queued, and dropped."""
    redis = runtime.redis
    await _dead_letter(redis, DETECT_STREAM, "detect", {"n": "one"})
    [(letter_id, _)] = await redis.xrange(f"{DETECT_STREAM}:dead")
    url = f"/api/system/dead-letters/detect/{letter_id.decode()}"
    answers = await asyncio.gather(client.post(f"{url}/replay"), client.post(f"{url}/replay"), client.delete(url))
    assert sorted(answer.status for answer in answers) == [202, 404, 404]
    assert await redis.xlen(DETECT_STREAM) == 1 and await redis.xlen(f"{DETECT_STREAM}:dead") == 0


async def test_an_upload_whose_file_is_gone_is_not_replayed(client: TestClient, runtime: Runtime) -> None:
    """A review's finding: replaying the letter of an upload deleted since answered 202 'queued'; the
    worker then only rejected it (file not found) and the letter was gone. It is a 409 `file_gone` now,
    the letter kept for a drop."""
    redis = runtime.redis
    await _dead_letter(redis, DETECT_STREAM, DETECT_GROUP, {"n": "x", "file_path": "/nowhere/gone.jpg"})
    [(letter_id, _)] = await redis.xrange(f"{DETECT_STREAM}:dead")
    response = await client.post(f"/api/system/dead-letters/detect/{letter_id.decode()}/replay")
    error = await error_of(response, 409)
    assert error["code"] == "file_gone" and "/nowhere/gone.jpg" in error["message"], error
    assert await redis.xlen(DETECT_STREAM) == 0 and await redis.xlen(f"{DETECT_STREAM}:dead") == 1


async def test_dead_letter_routes_refuse_bad_input_in_the_error_shape(client: TestClient) -> None:
    await error_of(await client.get("/api/system/dead-letters", params={"queue": "nope"}), 422)
    await error_of(await client.get("/api/system/dead-letters", params={"cursor": "x"}), 422)
    # A cursor naming no queue cannot come from a page (a review's finding: page one came back).
    await error_of(await client.get("/api/system/dead-letters", params={"cursor": "zzz/1-0"}), 422)
    await error_of(await client.delete("/api/system/dead-letters/detect/not-an-id"), 422)
    await error_of(await client.delete("/api/system/dead-letters/detect/1-0"), 404)
    await error_of(await client.post("/api/system/dead-letters/nope/1-0/replay"), 422)
    anonymous = await client.get("/api/system/dead-letters", headers={"X-API-Key": ""})
    await error_of(anonymous, 401)


async def test_openapi_documents_the_dead_letter_routes(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/api/system/dead-letters"]) == {"get"}
    assert set(paths["/api/system/dead-letters/{queue}/{letter_id}/replay"]) == {"post"}
    assert set(paths["/api/system/dead-letters/{queue}/{letter_id}"]) == {"delete"}

