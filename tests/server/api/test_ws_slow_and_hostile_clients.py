"""The live WebSocket under hostile and slow clients: a bad message is answered, a narrowed subscription
is obeyed from its answer on, a client that does not read is cut off without an unhandled error."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from server.api.app import create_app
from server.api.state import ApiSettings
from server.api.ws import HUB
from server.pipeline import broadcast
from server.runtime import Runtime
from tests.server.api.conftest import ApiTestServer
from tests.support.websocket import subscribe

_CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.ERROR,
)


def _key(runtime: Runtime) -> dict[str, str]:
    return {"X-API-Key": (runtime.settings.data_dir / "api_key.txt").read_text().strip()}


async def test_a_deeply_nested_client_message_is_answered_with_an_error_frame(client: TestClient) -> None:
    """`json.loads` of a deeply nested (but small: 40 kB of a 64 kB limit) text raises RecursionError,
    which `_handle_client_message` does not catch: it escapes the handler, aiohttp logs "Error handling
    request" and cuts the TCP connection (no close frame, 1006), instead of an `error` frame."""
    ws = await client.ws_connect("/api/ws")
    await subscribe(ws, types=["system.status"])
    await ws.send_str("[" * 20_000 + "]" * 20_000)
    answer = await ws.receive(timeout=10)
    assert answer.type is aiohttp.WSMsgType.TEXT, (answer, ws.close_code)
    assert answer.json()["type"] == "error"
    await ws.send_json({"type": "ping"})  # the socket survives a bad message
    assert (await ws.receive_json(timeout=10))["type"] == "pong"
    await ws.close()


async def test_no_message_of_an_unsubscribed_type_follows_the_subscribed_answer(runtime: Runtime) -> None:
    """`subscribed` is written by the reader straight to the socket while the sender task still has
    messages queued under the old filter: a client that narrows its filter and waits for `subscribed`
    (tests/support/websocket.py, the HA integration) still receives types it just unsubscribed from."""
    app = create_app(runtime, ApiSettings(ws_queue_size=2000, ws_send_timeout=30.0, auth_failure_delay=0.001))
    async with TestClient(ApiTestServer(app)) as client:
        ws = await client.ws_connect("/api/ws", headers=_key(runtime), max_msg_size=0)
        blob = "x" * 16_000
        for index in range(400):  # ~6.4 MB: the socket buffers fill, the rest waits in the client's queue
            await broadcast.publish(
                runtime.redis, "event.created", {"id": index, "camera_id": "c", "blob": blob}
            )
        await asyncio.sleep(0.5)
        await ws.send_json({"type": "subscribe", "data": {"types": ["alert.created"]}})
        await asyncio.sleep(0.2)
        await broadcast.publish(runtime.redis, "alert.created", {"id": "marker", "metadata": {}})
        after: list[str] = []
        seen_subscribed = False
        while True:
            message = await ws.receive_json(timeout=30)
            if message["type"] == "subscribed":
                seen_subscribed = True
            elif seen_subscribed:
                after.append(message["type"])
                if message["type"] == "alert.created":
                    break
        await ws.close()
    assert after == ["alert.created"], f"{after.count('event.created')} event.created after `subscribed`"


async def _drop_a_client_that_does_not_read(
    runtime: Runtime, client: TestClient
) -> aiohttp.ClientWebSocketResponse:
    """A client that never reads, dropped as a slow consumer (its send times out after 1 s)."""
    ws = await client.ws_connect("/api/ws", headers=_key(runtime), max_msg_size=0)
    blob = "x" * 16_000
    for index in range(600):  # ~10 MB: more than the socket buffers of a client that does not read
        await broadcast.publish(runtime.redis, "event.created", {"id": index, "camera_id": "c", "blob": blob})
    hub = client.server.app[HUB]
    for _ in range(100):
        if all(each.dropped for each in hub.clients):
            break
        await asyncio.sleep(0.1)
    assert all(each.dropped for each in hub.clients)
    return ws


async def test_a_dropped_slow_client_that_never_reads_is_disconnected(runtime: Runtime) -> None:
    """`Client.drop` -> `_close`: `ws.close()` waits to drain the close frame behind the unread data;
    `wait_for(send_timeout)` cancels it, and aiohttp then calls `transport.close()`, which waits (forever)
    for the unread buffer to flush, and `_set_closed` has already cancelled the heartbeat. The reader stays
    blocked in `receive()`, so the handler never ends: the Client (its full queue), the transport's
    megabytes of buffer and the socket linger as long as the peer keeps TCP open (a phone asleep, a
    stalled proxy), and the client never gets its 4008."""
    app = create_app(runtime, ApiSettings(ws_queue_size=256, ws_send_timeout=1.0, auth_failure_delay=0.001))
    async with TestClient(ApiTestServer(app)) as client:
        hub = client.server.app[HUB]
        ws = await _drop_a_client_that_does_not_read(runtime, client)
        for _ in range(80):  # 8 s: eight send timeouts
            if not hub.clients:
                break
            await asyncio.sleep(0.1)
        lingering = [(len(each.queue._queue), each.ws.closed) for each in hub.clients]  # noqa: SLF001
        await ws.close()
    assert not lingering, f"dropped client still served (queued messages, closed): {lingering}"


async def test_pings_from_a_slow_client_are_not_an_unhandled_error(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """`_handle_client_message` awaits `client.send` (pong, subscribed, error) without the handling of
    `run_sender`: a pong that has to wait for the drain of a socket that is not read times out, or one
    answered once the client was dropped as slow goes into a closing socket; the TimeoutError /
    ClientConnectionResetError escapes the route handler and aiohttp logs "Error handling request" at
    ERROR with a traceback, for an ordinary slow client (the same holds for `subscribed` and `error`)."""
    app = create_app(runtime, ApiSettings(ws_queue_size=256, ws_send_timeout=2.0, auth_failure_delay=0.001))
    caplog.set_level(logging.WARNING)
    async with TestClient(ApiTestServer(app)) as client:
        hub = client.server.app[HUB]
        ws = await client.ws_connect("/api/ws", headers=_key(runtime), max_msg_size=0)
        blob = "x" * 16_000
        for index in range(600):  # ~10 MB: more than the socket buffers of a client that does not read
            await broadcast.publish(
                runtime.redis, "event.created", {"id": index, "camera_id": "c", "blob": blob}
            )

        async def ping() -> None:  # the pongs pile up behind the unread data until one has to wait
            with contextlib.suppress(Exception):
                for _ in range(600):
                    for _ in range(50):
                        await ws.send_str('{"type":"ping"}')
                    await asyncio.sleep(0.01)

        pinger = asyncio.create_task(ping())
        for _ in range(100):
            if not hub.clients:
                break
            await asyncio.sleep(0.1)
        pinger.cancel()
        await ws.close()
    unhandled = [
        record.getMessage()
        for record in caplog.records
        if record.exc_info
        or "Error handling request" in record.getMessage()
        or "cut short" in record.getMessage()
    ]
    assert not unhandled, unhandled
