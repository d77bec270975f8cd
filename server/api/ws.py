"""WebSocket `/api/ws`: relays Redis pub/sub `hsi:broadcast` to every connected client.

One subscription per API process (not per client) feeds a `Hub`; the hub hands each message to every
client's bounded queue without waiting (`put_nowait`). Each client has its own sender task. A client
that cannot keep up fills its queue and is dropped (close code 4008) — the hub, the pipeline that
published and the other clients never wait for it. Heartbeats are WebSocket pings (aiohttp), so a
dead peer is noticed even when nothing is published. A client whose API key is revoked (over the API
or the CLI, in any process) is closed as soon as the revocation's notification arrives (the key cache's
`on_change`), and at the latest within `ws_key_check_interval` (close code 4001).

Nothing published is lost to a connected client without it knowing: when the hub's subscription
drops (Redis restarting, a network blip), every client is closed with code 1012 ("service restart"),
the cue to reconnect and read what it missed over REST, and no client joins until the hub has
subscribed again (a handshake waits up to `RELAY_WAIT_SECONDS`, then is answered 503).

Client → server messages: `{"type": "subscribe", "data": {"types": [...], "camera_ids": [...]}}`
(absent or null = everything; answered with `{"type": "subscribed", "data": {...}}`) and
`{"type": "ping"}` (answered with `{"type": "pong"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Literal

import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.api.audit import record
from server.api.declare import Call, Routes
from server.api.errors import ApiError
from server.api.state import AUTH, SETTINGS, ApiSettings
from server.models import APIKey, AuditAction
from server.pipeline.broadcast import BATCH, CHANNEL

_LOGGER = logging.getLogger("hsi.api.ws")

routes = Routes("websocket")

MESSAGE_TYPES = (
    "event.created",
    "event.updated",
    "alert.created",
    "alert.updated",
    "detection.created",
    "camera.updated",
    "camera.deleted",
    "system.status",
)


class PushMessage(BaseModel):
    """What the server pushes to a subscribed client. Declared as the route's response so that the
    OpenAPI document lists the message types (the Home Assistant integration generates its list
    from it); `data` is the resource the type names (`camera.deleted`: `{"id"}`; `system.status`:
    the stats with the health's `status`, `version`, `instance_id` and `components`)."""

    type: Literal[MESSAGE_TYPES]  # type: ignore[valid-type]
    data: dict[str, Any]


#: Close codes (4000-4999: application codes): the key was revoked; the client did not read fast enough.
KEY_REVOKED = 4001
SLOW_CONSUMER = 4008
#: RFC 6455's "service restart": the relay lost messages; reconnect (and read what was missed).
RELAY_LOST = 1012
#: How long a handshake waits for the hub's subscription (at start-up, after Redis came back).
RELAY_WAIT_SECONDS = 5.0
#: The relay's longest pause between attempts to subscribe again.
RELAY_RETRY_MAX_SECONDS = 5.0


class Subscription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: list[Literal[MESSAGE_TYPES]] | None = Field(None, max_length=len(MESSAGE_TYPES))  # type: ignore[valid-type]
    camera_ids: list[str] | None = Field(None, max_length=1000)


def _camera_of(message_type: str, data: Any) -> str | None:
    """The camera a message is about (for the camera filter); None when it names none."""
    if not isinstance(data, dict):
        return None
    if message_type in ("camera.updated", "camera.deleted"):
        return data.get("id")
    if data.get("camera_id"):
        return str(data["camera_id"])
    metadata = data.get("metadata")
    return metadata.get("camera_id") if isinstance(metadata, dict) else None


#: A queued message: its type and camera (None, None for an answer to the client, always sent), its text.
Queued = tuple[str | None, str | None, str]


class Client:
    """One connected socket: its filter, its bounded queue and its sender task.

    Everything the socket is sent goes through the queue, answers to the client (`subscribed`, `pong`,
    errors) too: one task writes, in order, and a failed write drops the client wherever it came from.
    The filter is applied again as each message is sent, so nothing queued under an older subscription
    follows its `subscribed` answer.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        settings: ApiSettings,
        key_id: int | None,
        transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self.ws = ws
        self.key_id = key_id
        #: The connection, aborted when a dropped client's close cannot be written (it does not read).
        self.transport = transport
        self.queue: asyncio.Queue[Queued] = asyncio.Queue(settings.ws_queue_size)
        self.send_timeout = settings.ws_send_timeout
        self.types: frozenset[str] | None = None
        self.camera_ids: frozenset[str] | None = None
        self.dropped = False
        #: Set when the socket's handler has finished (the client is gone).
        self.finished = asyncio.Event()
        self._closer: asyncio.Task[Any] | None = None

    def wants(self, message_type: str, camera_id: str | None) -> bool:
        if self.types is not None and message_type not in self.types:
            return False
        if self.camera_ids is not None and camera_id is not None and camera_id not in self.camera_ids:
            return False
        return True

    def offer(self, text: str, message_type: str | None = None, camera_id: str | None = None) -> None:
        """Queue without waiting (`message_type` None: an answer to the client); a full queue means the
        client is too slow: drop it."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait((message_type, camera_id, text))
        except asyncio.QueueFull:
            self.drop("slow consumer")

    def drop(self, reason: str, code: int = SLOW_CONSUMER) -> None:
        if self.dropped:
            return
        self.dropped = True
        _LOGGER.warning("dropping WebSocket client: %s", reason, extra={"component": "api"})
        while not self.queue.empty():  # never sent now: free it
            self.queue.get_nowait()
        self._closer = asyncio.create_task(self._close(reason, code))

    async def _close(self, reason: str, code: int) -> None:
        """Send the close frame, and give the client `send_timeout` to go. One that does not read
        never takes the frame (it waits behind the unread data, and the handler with it, for as long
        as the peer keeps TCP open): it is cut off."""
        # Not under wait_for: a close cancelled while it waits for the drain does not end (aiohttp then
        # waits for the transport to flush, for ever).
        closing = asyncio.create_task(self.ws.close(code=code, message=reason.encode()))
        closing.add_done_callback(lambda task: task.cancelled() or task.exception())  # retrieved: no log
        try:
            await asyncio.wait_for(self.finished.wait(), 2 * self.send_timeout)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()
        await asyncio.wait({closing}, timeout=self.send_timeout)
        if not closing.done():
            closing.cancel()

    async def run_sender(self) -> None:
        try:
            while not self.dropped:
                message_type, camera_id, text = await self.queue.get()
                if message_type is None or self.wants(message_type, camera_id):
                    await asyncio.wait_for(self.ws.send_str(text), self.send_timeout)
        except (TimeoutError, ConnectionError, RuntimeError) as err:
            self.drop(f"send failed: {type(err).__name__}")


class Hub:
    """The process's single pub/sub subscription and the set of connected clients."""

    def __init__(
        self, redis: aioredis.Redis, sessions: async_sessionmaker[AsyncSession], key_check_interval: float
    ) -> None:
        self._redis = redis
        self._sessions = sessions
        self._key_check_interval = key_check_interval
        self.clients: set[Client] = set()
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._rechecks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._relay(), name="hsi-ws-relay"),
            asyncio.create_task(self._watch_keys(), name="hsi-ws-keys"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await client.ws.close(code=1001, message=b"server shutting down")

    def dispatch(self, raw: bytes | str) -> None:
        """Parse once, then offer the text to every client whose filter wants it (the messages of a
        batch publication one by one)."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
            message_type = str(message["type"])
        except (ValueError, KeyError, TypeError):
            _LOGGER.warning("ignoring a malformed broadcast: %.200s", text)
            return
        if message_type == BATCH and isinstance(message.get("data"), list):
            for inner in message["data"]:
                self.dispatch(json.dumps(inner, separators=(",", ":")))
            return
        camera_id = _camera_of(message_type, message.get("data"))
        for client in list(self.clients):
            if client.wants(message_type, camera_id):
                client.offer(text, message_type, camera_id)

    async def close_revoked(self) -> None:
        """Close the clients whose API key is no longer active (one query for all of them)."""
        keyed = [client for client in self.clients if client.key_id is not None and not client.dropped]
        if not keyed:
            return
        async with self._sessions() as session:
            active = set(
                await session.scalars(
                    select(APIKey.id).where(
                        APIKey.id.in_({client.key_id for client in keyed}), APIKey.is_active.is_(True)
                    )
                )
            )
        for client in keyed:
            if client.key_id not in active:
                client.drop("API key revoked", KEY_REVOKED)

    def recheck_keys(self) -> None:
        """A key changed somewhere: close the clients whose key is no longer active, now."""
        if any(client.key_id is not None for client in self.clients):
            task = asyncio.create_task(self._recheck(), name="hsi-ws-recheck-keys")
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    async def _recheck(self) -> None:
        try:
            await self.close_revoked()
        except Exception as err:  # the periodic check catches up
            _LOGGER.warning("could not recheck the WebSocket clients' keys: %s", err)

    async def _watch_keys(self) -> None:
        while True:
            await asyncio.sleep(self._key_check_interval)
            try:
                await self.close_revoked()
            except Exception as err:  # the database restarting: check again next round
                _LOGGER.warning("could not check the WebSocket clients' keys: %s", err)

    async def _relay(self) -> None:
        """Subscribe and relay until cancelled; reconnect with backoff if Redis goes away."""
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.ready.set()
                delay = 0.5
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        self.dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.ready.clear()
                with contextlib.suppress(Exception):  # before the pause: nothing may be delivered to it
                    await pubsub.aclose()
                _LOGGER.warning("broadcast subscription lost (%s); retrying in %.1fs", err, delay)
                for client in list(self.clients):  # they may have missed messages: let them catch up
                    client.drop("live updates interrupted: reconnect and read what was missed", RELAY_LOST)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RELAY_RETRY_MAX_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


HUB = web.AppKey("hub", Hub)


def hub_of(app: web.Application) -> Hub:
    return app[HUB]


def _handle_client_message(client: Client, raw: str) -> None:
    """Answer one message of the client (through its queue, see `Client`)."""
    try:
        message = json.loads(raw)
        kind = message.get("type") if isinstance(message, dict) else None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        kind, message = None, None
    if kind == "subscribe":
        try:
            wanted = Subscription.model_validate(message.get("data") or {})
        except ValidationError as err:
            client.offer(_error("validation_error", str(err.errors()[0]["msg"])))
            return
        client.types = frozenset(wanted.types) if wanted.types is not None else None
        client.camera_ids = frozenset(wanted.camera_ids) if wanted.camera_ids is not None else None
        client.offer(json.dumps({"type": "subscribed", "data": wanted.model_dump()}))
    elif kind == "ping":
        client.offer('{"type":"pong","data":{}}')
    else:
        client.offer(_error("unknown_message", "expected subscribe or ping"))


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "data": {"code": code, "message": message}})


@routes.get("/api/ws", summary="Live updates (WebSocket)", websocket=True, response=PushMessage)
async def websocket(call: Call) -> web.WebSocketResponse:
    """Key in `X-API-Key` (never in the query string). Messages: `{"type", "data"}` with the types
    event.created, event.updated, alert.created, alert.updated, detection.created, camera.updated,
    camera.deleted, system.status."""
    request = call.request
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat, max_msg_size=64 * 1024)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "bad_request", "this route only speaks WebSocket")
    hub = hub_of(request.app)
    if not hub.ready.is_set():  # a client joining now would miss what is published until it is
        try:
            await asyncio.wait_for(hub.ready.wait(), RELAY_WAIT_SECONDS)
        except TimeoutError:
            raise ApiError(503, "unavailable", "live updates cannot be relayed now (Redis is away); try again") from None
    client = Client(ws, settings, request[AUTH].key_id, request.transport)
    try:
        # Audited before the handshake: a database away is then answered 503 (the error middleware);
        # after it, the answer would be written into the upgraded socket.
        async with call.runtime.database.sessions() as session:
            record(session, request, AuditAction.LOGIN, "websocket", None, details={"channel": "ws"})
            await session.commit()
        # Joins the hub just before the handshake completes: nothing published after it is missed,
        # and little published before the client asked is relayed to it.
        hub.clients.add(client)
        await ws.prepare(request)
        sender = asyncio.create_task(client.run_sender())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    _handle_client_message(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
    finally:
        hub.clients.discard(client)
        client.finished.set()
        with contextlib.suppress(Exception):
            async with call.runtime.database.sessions() as session:
                record(
                    session,
                    request,
                    AuditAction.LOGOUT,
                    "websocket",
                    None,
                    details={"channel": "ws", "dropped": client.dropped},
                )
                await session.commit()
    return ws
