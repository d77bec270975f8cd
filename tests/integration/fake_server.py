"""A small in-memory stand-in for the HSI server's HTTP + WebSocket API (api.py's contract).

It runs as a real aiohttp server on 127.0.0.1, so the integration's client, error mapping and
WebSocket loop are exercised over real sockets. Tests change its state, inject failures
(``fail``), read what it received (``requests``) and push WebSocket messages (``push``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
import uuid

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

API_KEY = "test-api-key"
INSTANCE_ID = "0b7a3c2e-9a43-4df3-8d6c-2f1f3f5b1e77"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
MP4 = b"\x00\x00\x00\x18ftypmp42fake"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def now_iso() -> str:
    """Current UTC time as the server writes it."""
    return datetime.now(UTC).isoformat()


def error(status: int, code: str, message: str, details: Any = None) -> web.Response:
    """The server's error body."""
    return web.json_response(
        {"error": {"code": code, "message": message, "details": details}}, status=status
    )


class FakeServer:
    """State and routes of a fake server."""

    def __init__(self) -> None:
        """Two cameras (one with an event), no rules or zones yet."""
        self.api_key = API_KEY
        self.health: dict[str, Any] = {
            "status": "healthy",
            "version": "0.1.0",
            "instance_id": INSTANCE_ID,
            "components": {
                "database": {"status": "healthy"},
                "redis": {"status": "healthy"},
                "detector": {"status": "healthy", "backend": "rtdetr", "device": "cuda:0", "fallback": False},
                "analyzer": {"status": "healthy", "backend": "llama_cpp"},
                "gpu": {"status": "healthy"},
            },
        }
        self.stats: dict[str, Any] = {
            "cameras": 2,
            "events_unreviewed": 3,
            "alerts_pending": 1,
            "queues": {"detect": 4, "analyze": 1, "dead_letter": 0},
            "gpu": {
                "utilization": 37.5,
                "memory_used": 2048,
                "memory_total": 24576,
                "temperature": 61.0,
                "inference_fps": 48.2,
            },
            "pipeline_healthy": True,
        }
        self.cameras: dict[str, dict[str, Any]] = {
            "front_door": {
                "id": "front_door",
                "name": "Front door",
                "folder_path": "/export/foscam/front_door",
                "status": "online",
                "created_at": "2025-01-01T00:00:00+00:00",
                "last_seen_at": now_iso(),
                "last_event": {
                    "id": 10,
                    "risk_score": 72,
                    "risk_level": "high",
                    "summary": "A person walks up to the front door at night",
                    "started_at": now_iso(),
                    "object_types": ["person"],
                },
                "last_detection_id": 100,
            },
            "garage": {
                "id": "garage",
                "name": "Garage",
                "folder_path": "/export/foscam/garage",
                "status": "offline",
                "created_at": "2025-01-01T00:00:00+00:00",
                "last_seen_at": None,
                "last_event": None,
                "last_detection_id": None,
            },
        }
        self.events: dict[int, dict[str, Any]] = {
            10: self.make_event(10, "front_door", 72, "high", has_clip=True),
            11: self.make_event(11, "front_door", 12, "low", has_clip=False),
        }
        self.rules: dict[str, dict[str, Any]] = {}
        self.zones: dict[str, dict[str, dict[str, Any]]] = {cid: {} for cid in self.cameras}
        self.alerts: dict[str, dict[str, Any]] = {
            "a1": self.make_alert("a1", 10, "front_door", "high"),
        }
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.bodies: list[Any] = []
        self.fail: dict[tuple[str, str], web.Response | Callable[[], web.Response]] = {}
        self.page_size: int | None = None
        self.ws_clients: list[web.WebSocketResponse] = []
        self.ws_received: list[Any] = []
        self.ws_status: int | None = None  # refuse the WebSocket handshake with this status
        self.ws_connected = asyncio.Event()
        self._server: TestServer | None = None

    @staticmethod
    def make_event(event_id: int, camera_id: str, score: int, level: str, *, has_clip: bool) -> dict[str, Any]:
        """An event resource."""
        return {
            "id": event_id,
            "batch_id": str(uuid.uuid4()),
            "camera_id": camera_id,
            "started_at": now_iso(),
            "ended_at": now_iso(),
            "risk_score": score,
            "risk_level": level,
            "summary": f"Event {event_id}",
            "reasoning": "because",
            "detection_ids": [100],
            "reviewed": False,
            "notes": None,
            "is_fast_path": False,
            "object_types": ["person"],
            "clip_path": None,
            "analysis_backend": "rules",
            "thumbnail_url": "/api/detections/100/thumbnail",
            "has_clip": has_clip,
        }

    @staticmethod
    def make_alert(alert_id: str, event_id: int, camera_id: str, severity: str) -> dict[str, Any]:
        """An alert resource."""
        return {
            "id": alert_id,
            "event_id": event_id,
            "rule_id": None,
            "severity": severity,
            "status": "pending",
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "delivered_at": None,
            "channels": ["homeassistant"],
            "dedup_key": f"{camera_id}:person",
            "metadata": {
                "object_types": ["person"],
                "top_confidence": 0.93,
                "zone_ids": [],
                "thumbnail_url": "/api/detections/100/thumbnail",
                "summary": "Person at the front door",
                "risk_score": 72,
                "camera_id": camera_id,
            },
        }

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1, on a free port."""
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/system/health", self._health)
        r.add_get("/api/system/stats", lambda _: self._json(self.stats))
        r.add_get("/api/cameras", lambda q: self._list(q, list(self.cameras.values())))
        r.add_get("/api/cameras/{cid}/snapshot", self._snapshot)
        r.add_get("/api/cameras/{cid}/zones", self._zones)
        r.add_post("/api/cameras/{cid}/zones", self._zone_create)
        r.add_patch("/api/cameras/{cid}/zones/{zid}", self._zone_update)
        r.add_delete("/api/cameras/{cid}/zones/{zid}", self._zone_delete)
        r.add_get("/api/detections/{did}/thumbnail", self._thumbnail)
        r.add_get("/api/events", self._events)
        r.add_get("/api/events/search", self._search)
        r.add_patch("/api/events/{eid}", self._event_update)
        r.add_get("/api/events/{eid}/clip", self._clip)
        r.add_post("/api/alerts/{aid}/{action}", self._alert_action)
        r.add_get("/api/alert-rules", lambda q: self._list(q, list(self.rules.values())))
        r.add_post("/api/alert-rules", self._rule_create)
        r.add_patch("/api/alert-rules/{rid}", self._rule_update)
        r.add_delete("/api/alert-rules/{rid}", self._rule_delete)
        r.add_post("/api/alert-rules/{rid}/test", self._rule_test)
        r.add_post("/api/ingest", self._ingest)
        r.add_get("/api/ws", self._ws)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        """Close sockets and stop listening."""
        for ws in list(self.ws_clients):
            await ws.close()
        if self._server is not None:
            await self._server.close()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None and self._server.port is not None
        return self._server.port

    async def push(self, msg_type: str, data: dict[str, Any]) -> None:
        """Send a message to every connected WebSocket client."""
        for ws in list(self.ws_clients):
            await ws.send_json({"type": msg_type, "data": data})

    async def drop_websockets(self) -> None:
        """Close the push connections (as a server restart would)."""
        self.ws_connected.clear()
        for ws in list(self.ws_clients):
            await ws.close()

    def calls(self, method: str, path: str) -> list[dict[str, str]]:
        """Query strings of the requests received for method + path."""
        return [query for m, p, query in self.requests if m == method and p == path]

    # -- plumbing ----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        if (request.method, request.path) in self.fail:
            injected = self.fail[(request.method, request.path)]
            return injected() if callable(injected) else injected
        key = request.headers.get("X-API-Key") or request.query.get("api_key")
        if request.path != "/api/system/health" and key != self.api_key:
            return error(401, "unauthorized", "bad key")
        return await handler(request)

    @staticmethod
    async def _json(data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status)

    async def _list(self, request: web.Request, items: list[Any]) -> web.Response:
        size = self.page_size or int(request.query.get("limit", 50))
        start = int(request.query.get("cursor", 0))
        page = items[start : start + size]
        next_cursor = str(start + size) if start + size < len(items) else None
        return web.json_response({"items": page, "next_cursor": next_cursor})

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response(self.health)

    async def _snapshot(self, request: web.Request) -> web.Response:
        camera = self.cameras.get(request.match_info["cid"])
        if camera is None or camera["last_detection_id"] is None:
            return error(404, "not_found", "no snapshot")
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def _thumbnail(self, request: web.Request) -> web.Response:
        if request.match_info["did"] != "100":
            return error(404, "not_found", "no thumbnail")
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def _clip(self, request: web.Request) -> web.Response:
        event = self.events.get(int(request.match_info["eid"]))
        if event is None or not event["has_clip"]:
            return error(404, "not_found", "no clip")
        return web.Response(body=MP4, content_type="video/mp4")

    async def _events(self, request: web.Request) -> web.Response:
        items = list(self.events.values())
        if camera_id := request.query.get("camera_id"):
            items = [e for e in items if e["camera_id"] == camera_id]
        if min_risk := request.query.get("min_risk"):
            items = [e for e in items if e["risk_score"] >= int(min_risk)]
        if level := request.query.get("risk_level"):
            items = [e for e in items if e["risk_level"] == level]
        return await self._list(request, items)

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "").lower()
        items = [e for e in self.events.values() if query in e["summary"].lower()]
        return await self._list(request, items)

    async def _event_update(self, request: web.Request) -> web.Response:
        event = self.events.get(int(request.match_info["eid"]))
        if event is None:
            return error(404, "not_found", "no event")
        body = await request.json()
        self.bodies.append(body)
        if "notes" in body and body["notes"] is not None and len(body["notes"]) > 100:
            return error(422, "validation_error", "notes too long", [{"field": "notes", "message": "too long"}])
        event.update(body)
        return web.json_response(event)

    async def _alert_action(self, request: web.Request) -> web.Response:
        alert = self.alerts.get(request.match_info["aid"])
        if alert is None:
            return error(404, "not_found", "no alert")
        action = request.match_info["action"]
        alert["status"] = {"acknowledge": "acknowledged", "dismiss": "dismissed"}[action]
        return web.json_response(alert)

    def _validate_rule(self, body: dict[str, Any]) -> web.Response | None:
        if body.get("name") == "server-says-no":
            return error(422, "validation_error", "invalid rule", [])
        threshold = body.get("risk_threshold")
        if threshold is not None and threshold > 90:
            return error(
                422,
                "validation_error",
                "invalid rule",
                [{"field": "risk_threshold", "message": "must be at most 90 here"}],
            )
        return None

    async def _rule_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        if (refused := self._validate_rule(body)) is not None:
            return refused
        rule = {"id": str(uuid.uuid4()), **body}
        self.rules[rule["id"]] = rule
        return web.json_response(rule, status=201)

    async def _rule_update(self, request: web.Request) -> web.Response:
        rule = self.rules.get(request.match_info["rid"])
        if rule is None:
            return error(404, "not_found", "no rule")
        body = await request.json()
        self.bodies.append(body)
        if (refused := self._validate_rule({**rule, **body})) is not None:
            return refused
        rule.update(body)
        return web.json_response(rule)

    async def _rule_delete(self, request: web.Request) -> web.Response:
        if self.rules.pop(request.match_info["rid"], None) is None:
            return error(404, "not_found", "no rule")
        return web.Response(status=204)

    async def _rule_test(self, request: web.Request) -> web.Response:
        rule_id = request.match_info["rid"]
        if rule_id not in self.rules:
            return error(404, "not_found", "no rule")
        return web.json_response(
            {"rule_id": rule_id, "results": [{"event_id": 10, "matched": True, "reasons": ["risk 72 >= 50"]}]}
        )

    async def _zones(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in self.zones:
            return error(404, "not_found", "no camera")
        return await self._list(request, list(self.zones[cid].values()))

    async def _zone_create(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        body = await request.json()
        self.bodies.append(body)
        if body.get("name") == "server-says-no":
            return error(422, "validation_error", "bad", [{"field": "name", "message": "taken"}])
        zone = {"id": str(uuid.uuid4()), "camera_id": cid, **body}
        self.zones[cid][zone["id"]] = zone
        return web.json_response(zone, status=201)

    async def _zone_update(self, request: web.Request) -> web.Response:
        zone = self.zones.get(request.match_info["cid"], {}).get(request.match_info["zid"])
        if zone is None:
            return error(404, "not_found", "no zone")
        body = await request.json()
        self.bodies.append(body)
        zone.update(body)
        return web.json_response(zone)

    async def _zone_delete(self, request: web.Request) -> web.Response:
        if self.zones.get(request.match_info["cid"], {}).pop(request.match_info["zid"], None) is None:
            return error(404, "not_found", "no zone")
        return web.Response(status=204)

    async def _ingest(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append((request.query.get("camera_id"), request.content_type, body))
        if not body:
            return error(422, "validation_error", "empty image", [{"field": "body", "message": "empty"}])
        return web.json_response(
            {"accepted": True, "camera_id": request.query.get("camera_id"), "file": "upload.jpg"},
            status=202,
        )

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.ws_status is not None:
            return error(self.ws_status, "refused", "refused")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_clients.append(ws)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self.ws_received.append(message.json())
                    self.ws_connected.set()
        finally:
            self.ws_clients.remove(ws)
        return ws
