"""WebSocket relay (auth, filters, slow clients) and HTTP ingest into the real intake."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from server.api.app import create_app
from server.api.state import ApiSettings
from server.api.ws import HUB, RELAY_LOST
from server.pipeline import broadcast
from server.pipeline.streams import DETECT_STREAM
from server.runtime import Runtime
from tests.server.api.conftest import error_of
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.websocket import subscribe


async def test_relays_broadcasts_with_filters(runtime: Runtime, client: TestClient, api_key: str) -> None:
    everything = await client.ws_connect("/api/ws")
    alerts_only = await client.ws_connect("/api/ws", headers={"X-API-Key": api_key})
    backyard = await client.ws_connect("/api/ws")
    await subscribe(everything)
    await subscribe(alerts_only, types=["alert.created"])
    await subscribe(backyard, camera_ids=["backyard"])
    await broadcast.publish(runtime.redis, "event.created", {"id": 1, "camera_id": "front_door"})
    await broadcast.publish(
        runtime.redis, "alert.created", {"id": "a", "metadata": {"camera_id": "backyard"}}
    )
    await broadcast.publish(runtime.redis, "camera.updated", {"id": "backyard"})
    got = [await everything.receive_json(timeout=5) for _ in range(3)]
    assert [m["type"] for m in got] == ["event.created", "alert.created", "camera.updated"]
    assert got[0]["data"] == {"id": 1, "camera_id": "front_door"}
    assert (await alerts_only.receive_json(timeout=5))["type"] == "alert.created"
    assert [(await backyard.receive_json(timeout=5))["type"] for _ in range(2)] == [
        "alert.created",
        "camera.updated",
    ]
    await everything.send_json({"type": "ping"})
    assert (await everything.receive_json(timeout=5))["type"] == "pong"
    await everything.send_str("nonsense")
    assert (await everything.receive_json(timeout=5))["type"] == "error"
    for ws in (everything, alerts_only, backyard):
        await ws.close()


async def test_websocket_needs_a_key(client: TestClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
        await client.ws_connect("/api/ws", headers={"X-API-Key": "wrong"})
    assert raised.value.status == 401


async def test_websocket_takes_the_key_from_the_header_only(client: TestClient, api_key: str) -> None:
    """Finding: `?api_key=` was accepted, putting the key into proxy logs and browser history."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
        await client.ws_connect(f"/api/ws?api_key={api_key}", headers={"X-API-Key": ""})
    assert raised.value.status == 401


async def test_slow_client_is_dropped_without_slowing_others(runtime: Runtime) -> None:
    app = create_app(runtime, ApiSettings(ws_queue_size=8, ws_send_timeout=2.0, auth_failure_delay=0.001))
    async with TestClient(TestServer(app)) as client:
        key = (runtime.settings.data_dir / "api_key.txt").read_text().strip()
        headers = {"X-API-Key": key}
        slow = await client.ws_connect("/api/ws", headers=headers)  # never reads until the end
        fast = await client.ws_connect("/api/ws", headers=headers)
        await subscribe(fast)
        payload = {"camera_id": "front_door", "blob": "x" * 32_000}
        count = 600  # ~19 MB: more than the socket buffers of a client that does not read
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while received < count:
                message = await fast.receive_json(timeout=20)
                assert message["type"] == "event.created"
                received += 1

        reader = asyncio.create_task(read_fast())
        started = asyncio.get_running_loop().time()
        for index in range(count):
            await broadcast.publish(runtime.redis, "event.created", {**payload, "id": index})
        await asyncio.wait_for(reader, 60)
        assert received == count
        assert asyncio.get_running_loop().time() - started < 30
        messages = []
        while True:
            message = await slow.receive(timeout=20)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                break
            messages.append(message)
        assert slow.close_code == 4008
        assert len(messages) < count
        await fast.close()


async def test_a_batch_publication_reaches_clients_as_its_messages(runtime: Runtime, client: TestClient) -> None:
    """A file's camera and detections go out as one PUBLISH; clients see each message, filters apply."""
    everything = await client.ws_connect("/api/ws")
    detections = await client.ws_connect("/api/ws")
    await subscribe(everything)
    await subscribe(detections, types=["detection.created"], camera_ids=["porch"])
    async with runtime.redis.pipeline(transaction=False) as pipe:
        broadcast.queue_many(
            pipe,
            [
                ("camera.updated", {"id": "porch", "status": "online"}),
                ("detection.created", {"id": 7, "camera_id": "porch"}),
                ("detection.created", {"id": 8, "camera_id": "porch"}),
            ],
        )
        assert len(await pipe.execute()) == 1  # one publication
    got = [await everything.receive_json(timeout=5) for _ in range(3)]
    assert got == [
        {"type": "camera.updated", "data": {"id": "porch", "status": "online"}},
        {"type": "detection.created", "data": {"id": 7, "camera_id": "porch"}},
        {"type": "detection.created", "data": {"id": 8, "camera_id": "porch"}},
    ]
    assert [(await detections.receive_json(timeout=5))["data"]["id"] for _ in range(2)] == [7, 8]


async def test_a_misspelt_message_type_is_refused_not_silently_never_sent(client: TestClient) -> None:
    """A review's finding: `types` took any string, so `alerts.created` was answered `subscribed` and
    the client then never received an alert."""
    ws = await client.ws_connect("/api/ws")
    await ws.send_json({"type": "subscribe", "data": {"types": ["alerts.created"]}})
    answer = await ws.receive_json(timeout=10)
    await ws.close()
    assert answer["type"] == "error" and answer["data"]["code"] == "validation_error", answer
    assert "alert.created" in answer["data"]["message"]  # what it may be instead


async def test_clients_are_told_to_catch_up_when_the_relay_loses_messages(
    runtime: Runtime, client: TestClient
) -> None:
    """A review's finding: when the hub's one Redis subscription dropped (Redis restarting, a network
    blip), what was published until it subscribed again was lost, and the client's socket stayed open:
    nothing told it to read the missed alerts over REST (its cue is a reconnect). Now every client is
    closed with 1012 ("service restart"), and none joins until the hub has subscribed again."""
    hub = client.server.app[HUB]
    ws = await client.ws_connect("/api/ws")
    await subscribe(ws, types=["event.created"])
    async with runtime.redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        pipe.publish(broadcast.CHANNEL, broadcast.encode("event.created", {"id": 1, "camera_id": "porch"}))
        killed, receivers = await pipe.execute()
    assert killed >= 1 and receivers == 0  # event 1 was published while nobody listened
    closing = await ws.receive(timeout=10)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, RELAY_LOST), closing
    assert not hub.ready.is_set()
    # A client connecting meanwhile waits for the subscription, then gets what is published after.
    again = await client.ws_connect("/api/ws")
    assert hub.ready.is_set()
    await subscribe(again, types=["event.created"])
    await broadcast.publish(runtime.redis, "event.created", {"id": 2, "camera_id": "porch"})
    assert (await again.receive_json(timeout=10))["data"]["id"] == 2
    await again.close()


async def test_ingest_raw_and_multipart_join_the_pipeline(
    runtime: Runtime, client: TestClient, tmp_path
) -> None:
    image = write_jpeg(tmp_path / "snap.jpg").read_bytes()
    queued = await client.post(
        "/api/ingest?camera_id=Driveway Cam", data=image, headers={"Content-Type": "image/jpeg"}
    )
    body = await queued.json()
    assert queued.status == 202, body
    assert body["accepted"] is True and body["camera_id"] == "driveway_cam" and body["status"] == "queued"
    assert body["file"].startswith(str(runtime.settings.ingest_dir / "driveway_cam"))
    again = await client.post(
        "/api/ingest?camera_id=driveway_cam", data=image, headers={"Content-Type": "image/jpeg"}
    )
    assert again.status == 200 and (await again.json())["accepted"] is False
    form = aiohttp.FormData()
    form.add_field(
        "file",
        write_jpeg(tmp_path / "other.jpg", seed=7).read_bytes(),
        filename="other.jpg",
        content_type="image/jpeg",
    )
    multipart = await client.post("/api/ingest?camera_id=driveway_cam", data=form)
    assert multipart.status == 202, await multipart.text()
    entries = await runtime.redis.xrange(DETECT_STREAM)
    assert len(entries) == 2
    fields = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert fields["camera_id"] == "driveway_cam" and json.dumps(fields)
    cameras = await (await client.get("/api/cameras")).json()
    assert [c["id"] for c in cameras["items"]] == ["driveway_cam"]


async def test_ingested_clip_is_stored_and_queued_as_video(
    runtime: Runtime, client: TestClient, tmp_path
) -> None:
    clip = write_h264_clip(tmp_path / "clip.mp4", seconds=2, fps=10, size=(320, 240)).read_bytes()
    response = await client.post(
        "/api/ingest?camera_id=Porch Cam", data=clip, headers={"Content-Type": "video/mp4"}
    )
    body = await response.json()
    assert response.status == 202, body
    assert body["accepted"] is True and body["status"] == "queued"
    assert body["camera_id"] == "porch_cam" and body["media_type"] == "video"
    stored = runtime.settings.ingest_dir / "porch_cam" / body["file"].rsplit("/", 1)[-1]
    assert body["file"] == str(stored) and stored.suffix == ".mp4" and stored.read_bytes() == clip
    [(_, entry)] = await runtime.redis.xrange(DETECT_STREAM)
    fields = {k.decode(): v.decode() for k, v in entry.items()}
    assert fields["file_path"] == str(stored) and fields["media_type"] == "video"
    assert fields["file_type"] == "video/mp4" and fields["video_codec"] == "h264"
    assert (fields["width"], fields["height"]) == ("320", "240")
    assert abs(float(fields["duration"]) - 2.0) < 0.2
    cameras = await (await client.get("/api/cameras")).json()
    assert [c["id"] for c in cameras["items"]] == ["porch_cam"]


async def test_ingest_size_limit(runtime: Runtime) -> None:
    app = create_app(runtime, ApiSettings(max_ingest_bytes=50_000, auth_failure_delay=0.001))
    async with TestClient(TestServer(app)) as client:
        key = (runtime.settings.data_dir / "api_key.txt").read_text().strip()

        async def chunks():
            for _ in range(20):
                yield b"\xff" * 10_000

        response = await client.post(
            "/api/ingest?camera_id=cam",
            data=chunks(),
            headers={"X-API-Key": key, "Content-Type": "image/jpeg"},
        )
        await error_of(response, 413)
        assert not any((runtime.settings.ingest_dir / "cam").glob("*"))


async def test_changed_stats_are_pushed_as_system_status(runtime: Runtime) -> None:
    app = create_app(runtime, ApiSettings(status_interval=0.05, auth_failure_delay=0.001))
    async with TestClient(TestServer(app)) as client:
        headers = {"X-API-Key": (runtime.settings.data_dir / "api_key.txt").read_text().strip()}
        ws = await client.ws_connect("/api/ws", headers=headers)
        await subscribe(ws, types=["system.status"])
        stats = await (await client.get("/api/system/stats", headers=headers)).json()
        assert stats["cameras"] == 0
        created = await client.post("/api/cameras", json={"name": "Porch"}, headers=headers)
        assert created.status == 201
        message = await ws.receive_json(timeout=10)
        assert message["type"] == "system.status"
        data = message["data"]
        # The stats of GET /api/system/stats, and the health summary without timings.
        assert {key: data[key] for key in stats} == {**stats, "cameras": 1}
        health = await (await client.get("/api/system/health")).json()
        assert data["version"] == health["version"] and data["instance_id"] == health["instance_id"]
        assert data["components"]["database"] == {"status": "healthy"}  # no latency_ms
        assert {name: part["status"] for name, part in data["components"].items()} == {
            name: part["status"] for name, part in health["components"].items()
        }
        await ws.close()


async def test_a_revoked_key_loses_its_open_websocket(runtime: Runtime) -> None:
    app = create_app(runtime, ApiSettings(ws_key_check_interval=0.05, auth_failure_delay=0.001))
    async with TestClient(TestServer(app)) as client:
        admin = {"X-API-Key": (runtime.settings.data_dir / "api_key.txt").read_text().strip()}
        phone = await (await client.post("/api/keys", json={"name": "phone"}, headers=admin)).json()
        kept = await client.ws_connect("/api/ws", headers=admin)
        revoked = await client.ws_connect("/api/ws", headers={"X-API-Key": phone["key"]})
        await subscribe(revoked)
        assert (await client.delete(f"/api/keys/{phone['id']}", headers=admin)).status == 200
        closing = await revoked.receive(timeout=10)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4001
        assert closing.extra == "API key revoked"
        await kept.send_json({"type": "ping"})
        assert (await kept.receive_json(timeout=5))["type"] == "pong"  # the other key keeps its socket
        await kept.close()


async def test_a_deleted_camera_is_announced(client: TestClient) -> None:
    assert (await client.post("/api/cameras", json={"name": "Shed"})).status == 201
    ws = await client.ws_connect("/api/ws")
    await subscribe(ws, types=["camera.deleted"], camera_ids=["shed"])
    assert (await client.delete("/api/cameras/shed")).status == 204
    assert await ws.receive_json(timeout=10) == {"type": "camera.deleted", "data": {"id": "shed"}}
    await ws.close()
