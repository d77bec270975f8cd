"""Thin typed async client for the Home Security Intelligence server API.

The integration talks to the server only through this module, so the shapes it relies on are
written down here for the server side to match exactly (every field below is read somewhere):

Auth: header ``X-API-Key``. Errors: ``{"error": {"code": str, "message": str, "details": ...}}``
with a 4xx status; 401 means a bad key; 422 carries ``details`` = ``[{"field", "message"}]``.

``GET /api/system/health`` (open; with a valid key also ``reason`` and the like)::

    {"status": "healthy"|"degraded"|"unhealthy", "version": "0.1.0", "instance_id": "<uuid>",
     "components": {"database": {"status"}, "redis": {"status"},
                    "detector": {"status", "backend", "device", "fallback": bool, "reason"},
                    "analyzer": {"status", "backend"}, "gpu": {"status"}}}

``GET /api/system/stats``::

    {"cameras": int, "events_unreviewed": int, "alerts_pending": int,
     "queues": {"detect": int, "analyze": int, "dead_letter": int},
     "gpu": {"utilization": float|null, "memory_used": int|null (MiB),
             "memory_total": int|null (MiB), "temperature": float|null, "inference_fps": float|null},
     "pipeline_healthy": bool}

Lists: ``{"items": [...], "next_cursor": str|null}`` with ``?limit=&cursor=``.

- ``GET /api/cameras`` items: ``{id, name, folder_path, status: online|offline|error, created_at,
  last_seen_at, last_event: {id, risk_score, risk_level, summary, started_at, object_types}|null,
  last_detection_id: int|null}``; ``GET /api/cameras/{id}/snapshot`` → image bytes, 404 when none.
- Events: ``{id, batch_id, camera_id, started_at, ended_at, risk_score, risk_level, summary,
  reasoning, detection_ids, reviewed, notes, is_fast_path, object_types, clip_path,
  analysis_backend, thumbnail_url, has_clip}``; ``GET /api/events`` (filters camera_id, risk_level,
  min_risk, reviewed, since, until); ``PATCH /api/events/{id}`` ``{reviewed?, notes?}``;
  ``GET /api/events/search?q=`` (same filters); ``GET /api/events/{id}``;
  ``GET /api/events/{id}/clip`` (video/mp4).
- Detections: ``{id, camera_id, detected_at, object_type, confidence, bbox: {x, y, width,
  height}|null, thumbnail_url, media_type, ...}``; ``GET /api/detections/{id}/thumbnail``
  (image/jpeg); ``GET /api/events/{id}/detections`` (a list).
- Alerts: ``{id, event_id, rule_id, severity, status, created_at, updated_at, delivered_at,
  channels, dedup_key, metadata: {object_types, top_confidence, zone_ids, thumbnail_url, summary,
  risk_score, camera_id}}``; ``GET /api/alerts`` (filters status, severity, camera_id, event_id,
  since, until); ``POST /api/alerts/{id}/acknowledge|dismiss`` → the alert.
- Alert rules: ``GET/POST /api/alert-rules``, ``GET/PATCH/DELETE /api/alert-rules/{id}`` with the
  AlertRule columns; ``POST /api/alert-rules/{id}/test`` →
  ``{"rule_id", "results": [{"event_id", "matched", "reasons"}]}``.
- Zones: ``GET/POST /api/cameras/{camera_id}/zones``, ``PATCH/DELETE .../zones/{zone_id}``.
- ``POST /api/ingest?camera_id=`` raw image body → 202 ``{"accepted": true, "camera_id", "file"}``.
- WebSocket ``GET /api/ws`` (header ``X-API-Key``): ``{"type": "event.created"|"event.updated"|
  "alert.created"|"alert.updated"|"detection.created"|"camera.updated"|"camera.deleted"|
  "system.status", "data": {...}}`` (``camera.deleted``: ``{"id"}``; ``system.status``: the stats
  plus ``status``, ``version``, ``instance_id`` and ``components`` of the health); the client sends
  ``{"type": "subscribe", "data": {"types": [...]}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, NotRequired, TypedDict, cast

import aiohttp

API_KEY_HEADER = "X-API-Key"
REQUEST_TIMEOUT = 10.0
MEDIA_TIMEOUT = 60.0
PAGE_LIMIT = 100
MAX_PAGES = 50
#: Alert statuses that still want a person's attention (not delivered yet, or not answered).
OPEN_ALERT_STATUSES = ("pending", "delivered")


class ComponentHealth(TypedDict, total=False):
    """Health of one server component (database, redis, detector, analyzer, gpu, storage)."""

    status: str
    backend: str
    device: str
    fallback: bool
    reason: str
    min_free_percent: float


class Health(TypedDict):
    """``GET /api/system/health``."""

    status: str
    version: str
    instance_id: str
    components: dict[str, ComponentHealth]


class QueueStats(TypedDict):
    """Stream depths of the pipeline."""

    detect: int
    analyze: int
    dead_letter: int


class GpuStats(TypedDict):
    """GPU figures; every field is null when the server has no GPU."""

    utilization: float | None
    memory_used: int | None
    memory_total: int | None
    temperature: float | None
    inference_fps: float | None


class Stats(TypedDict):
    """``GET /api/system/stats``."""

    cameras: int
    events_unreviewed: int
    alerts_pending: int
    queues: QueueStats
    gpu: GpuStats
    pipeline_healthy: bool


class EventSummary(TypedDict):
    """The latest event of a camera, embedded in the camera resource."""

    id: int
    risk_score: int
    risk_level: str
    summary: str | None
    started_at: str
    object_types: list[str]


class Camera(TypedDict):
    """A camera (one FTP folder)."""

    id: str
    name: str
    folder_path: str
    status: Literal["online", "offline", "error"]
    created_at: str
    last_seen_at: str | None
    last_event: EventSummary | None
    last_detection_id: int | None
    upload_gap_seconds: NotRequired[float | None]
    offline_after_seconds: NotRequired[int | None]


class Event(TypedDict):
    """A security event (a batch of detections scored for risk)."""

    id: int
    camera_id: str
    started_at: str
    ended_at: str | None
    risk_score: int
    risk_level: str
    summary: str | None
    reviewed: bool
    notes: str | None
    object_types: list[str]
    detection_ids: list[int]
    thumbnail_url: str | None
    has_clip: bool
    batch_id: NotRequired[str]
    reasoning: NotRequired[str | None]
    is_fast_path: NotRequired[bool]
    clip_path: NotRequired[str | None]
    analysis_backend: NotRequired[str | None]


class BoundingBox(TypedDict):
    """A detection's box in pixels of the image it was found in."""

    x: int
    y: int
    width: int
    height: int


class Detection(TypedDict):
    """One detected object."""

    id: int
    camera_id: str
    detected_at: str
    object_type: str
    confidence: float
    bbox: NotRequired[BoundingBox | None]
    thumbnail_url: NotRequired[str | None]
    media_type: NotRequired[str | None]


class AlertMetadata(TypedDict, total=False):
    """Context the alert engine attaches to an alert."""

    object_types: list[str]
    top_confidence: float
    zone_ids: list[str]
    thumbnail_url: str | None
    summary: str | None
    risk_score: int
    risk_level: str | None
    severity_source: str
    camera_id: str


class Alert(TypedDict):
    """An alert raised by a rule for an event."""

    id: str
    event_id: int
    rule_id: str | None
    severity: str
    status: str
    created_at: str
    updated_at: str
    delivered_at: str | None
    channels: list[str]
    dedup_key: str | None
    metadata: AlertMetadata


class Schedule(TypedDict, total=False):
    """When a rule is active."""

    days: list[str]
    start_time: str
    end_time: str
    timezone: str | None


class AlertRule(TypedDict, total=False):
    """An alert rule (AlertRule columns); ``id`` is present on server objects."""

    id: str
    name: str
    description: str | None
    enabled: bool
    severity: str | None
    risk_threshold: int | None
    object_types: list[str] | None
    camera_ids: list[str] | None
    zone_ids: list[str] | None
    min_confidence: float | None
    schedule: Schedule | None
    dedup_key_template: str | None
    cooldown_seconds: int
    channels: list[str] | None


class Zone(TypedDict, total=False):
    """A region of interest of one camera, coordinates normalised to 0..1."""

    id: str
    camera_id: str
    name: str
    zone_type: str
    coordinates: list[list[float]]
    shape: str
    color: str
    enabled: bool
    priority: int
    loitering_seconds: int | None
    loitering_classes: list[str] | None
    object_filters: dict[str, Any] | None


class ObjectFilters(TypedDict, total=False):
    """A camera's object filters: per-class bounds and mask polygons (``/api/cameras/{id}/filters``)."""

    classes: dict[str, dict[str, float]]
    masks: list[list[list[float]]]


class RuleTestResult(TypedDict):
    """``POST /api/alert-rules/{id}/test``."""

    rule_id: str
    results: list[dict[str, Any]]


class Page(TypedDict):
    """One page of a list endpoint."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class HSIError(Exception):
    """Base class of every error this client raises."""


class HSIConnectionError(HSIError):
    """The server could not be reached, timed out, or failed (5xx)."""


class HSIAuthError(HSIError):
    """The server rejected the API key (401/403)."""


class HSIResponseError(HSIError):
    """The server answered with a 4xx error body or an unexpected payload."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None
    ) -> None:
        """Keep the server's error code and details for the caller to translate."""
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class HSINotFoundError(HSIResponseError):
    """The resource does not exist (404)."""


class HSIValidationError(HSIResponseError):
    """The server refused the input (400/422); ``field_errors`` maps fields to messages."""

    @property
    def field_errors(self) -> dict[str, str]:
        """Map of field name to message, from the ``details`` list of the error body."""
        result: dict[str, str] = {}
        if isinstance(self.details, list):
            for item in self.details:
                if isinstance(item, Mapping) and "field" in item:
                    field = str(item["field"]).split(".")[-1]
                    result[field] = str(item.get("message", ""))
        return result


class HSIClient:
    """Async client of one server, on Home Assistant's shared aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int,
        api_key: str,
        ssl: bool = False,
    ) -> None:
        """Store connection settings; the session is owned by Home Assistant."""
        self._session = session
        self._api_key = api_key
        scheme = "https" if ssl else "http"
        self.base_url = f"{scheme}://{host}:{port}"
        self.ws_url = f"{'wss' if ssl else 'ws'}://{host}:{port}/api/ws"

    @property
    def headers(self) -> dict[str, str]:
        """Auth header for every request (and the WebSocket)."""
        return {API_KEY_HEADER: self._api_key}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        """Send one JSON request and map failures to this module's errors."""
        clean = (
            {k: _param(v) for k, v in params.items() if v is not None}
            if params
            else None
        )
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                response = await self._session.request(
                    method,
                    f"{self.base_url}{path}",
                    params=clean,
                    json=json,
                    headers=self.headers if auth else None,
                )
                if response.status >= 400:
                    await _raise_for_status(response)
                if response.status == 204:
                    return None
                return await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as err:
            raise HSIConnectionError(str(err) or type(err).__name__) from err
        except ValueError as err:
            raise HSIResponseError(0, "invalid_json", str(err)) from err

    async def _get_bytes(self, path: str) -> tuple[bytes, str] | None:
        """Fetch a media resource; None when the server has none (404)."""
        try:
            async with asyncio.timeout(MEDIA_TIMEOUT):
                response = await self._session.get(
                    f"{self.base_url}{path}", headers=self.headers
                )
                if response.status == 404:
                    return None
                if response.status >= 400:
                    await _raise_for_status(response)
                content = await response.read()
                return content, response.content_type
        except (TimeoutError, aiohttp.ClientError) as err:
            raise HSIConnectionError(str(err) or type(err).__name__) from err

    async def _list(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Read every page of a list endpoint (bounded, lists here are small)."""
        items: list[Any] = []
        query: dict[str, Any] = dict(params or {})
        query["limit"] = PAGE_LIMIT
        for _ in range(MAX_PAGES):
            page = cast(Page, await self._request("GET", path, params=query))
            items.extend(page["items"])
            if not page.get("next_cursor"):
                break
            query["cursor"] = page["next_cursor"]
        return items

    async def health(self) -> Health:
        """Server status, version and instance id. No key is needed, but one is sent: with a valid
        key the server also says why a part is degraded (the repair issue shows that reason)."""
        data = await self._request("GET", "/api/system/health")
        if not isinstance(data, dict) or "instance_id" not in data:
            raise HSIResponseError(0, "not_hsi", "not a Home Security Intelligence server")
        return cast(Health, data)

    async def stats(self) -> Stats:
        """Counters, queue depths and GPU figures (also proves the key is valid)."""
        return cast(Stats, await self._request("GET", "/api/system/stats"))

    async def cameras(self) -> list[Camera]:
        """Every camera."""
        return cast(list[Camera], await self._list("/api/cameras"))

    async def camera_snapshot(self, camera_id: str) -> bytes | None:
        """Latest image of a camera, None when it has none."""
        result = await self._get_bytes(f"/api/cameras/{camera_id}/snapshot")
        return None if result is None else result[0]

    async def media(self, path: str) -> tuple[bytes, str] | None:
        """Bytes and content type of a small media path under ``/api`` (a thumbnail)."""
        return await self._get_bytes(path)

    @asynccontextmanager
    async def media_stream(
        self, path: str, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The server's answer for a media path, unread, to be passed on piece by piece (clips,
        with ``Range`` and validators among ``headers``); 404, 304 and 416 come back as answers.
        Only connecting and waiting for the headers are timed: a long clip may take its time."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=REQUEST_TIMEOUT, sock_read=MEDIA_TIMEOUT
        )
        try:
            async with self._session.get(
                f"{self.base_url}{path}",
                headers={**headers, **self.headers},
                timeout=timeout,
            ) as response:
                if response.status >= 400 and response.status not in (404, 416):
                    await _raise_for_status(response)
                yield response
        except (TimeoutError, aiohttp.ClientError) as err:
            raise HSIConnectionError(str(err) or type(err).__name__) from err

    async def events(self, **filters: Any) -> Page:
        """One page of events, filtered (camera_id, risk_level, min_risk, reviewed, ...)."""
        return cast(Page, await self._request("GET", "/api/events", params=filters))

    async def search_events(self, query: str, limit: int, **filters: Any) -> Page:
        """Full-text search over event summaries and reasoning (the list's filters apply)."""
        return cast(
            Page,
            await self._request(
                "GET", "/api/events/search", params={**filters, "q": query, "limit": limit}
            ),
        )

    async def event(self, event_id: int) -> Event:
        """One event."""
        return cast(Event, await self._request("GET", f"/api/events/{event_id}"))

    async def event_detections(self, event_id: int) -> list[Detection]:
        """Every detection of an event."""
        return cast(list[Detection], await self._list(f"/api/events/{event_id}/detections"))

    async def alerts(self, **filters: Any) -> Page:
        """One page of alerts, newest first (filters status, severity, camera_id, event_id, ...)."""
        return cast(Page, await self._request("GET", "/api/alerts", params=filters))

    async def open_alerts(self, limit: int = PAGE_LIMIT, **filters: Any) -> list[Alert]:
        """Alerts nobody acknowledged or dismissed yet (pending or delivered), newest first."""
        alerts: list[Alert] = []
        for status in OPEN_ALERT_STATUSES:
            page = await self.alerts(**filters, status=status, limit=limit)
            alerts.extend(cast(list[Alert], page["items"]))
        alerts.sort(key=lambda alert: alert["created_at"], reverse=True)
        return alerts[:limit]

    async def update_event(self, event_id: int, body: Mapping[str, Any]) -> Event:
        """Mark an event reviewed and/or set its notes."""
        return cast(
            Event, await self._request("PATCH", f"/api/events/{event_id}", json=dict(body))
        )

    async def alert_action(self, alert_id: str, action: Literal["acknowledge", "dismiss"]) -> Alert:
        """Acknowledge or dismiss an alert."""
        return cast(
            Alert, await self._request("POST", f"/api/alerts/{alert_id}/{action}")
        )

    async def alert_rules(self) -> list[AlertRule]:
        """Every alert rule."""
        return cast(list[AlertRule], await self._list("/api/alert-rules"))

    async def create_rule(self, body: Mapping[str, Any]) -> AlertRule:
        """Create an alert rule."""
        return cast(
            AlertRule, await self._request("POST", "/api/alert-rules", json=dict(body))
        )

    async def update_rule(self, rule_id: str, body: Mapping[str, Any]) -> AlertRule:
        """Change fields of an alert rule."""
        return cast(
            AlertRule,
            await self._request("PATCH", f"/api/alert-rules/{rule_id}", json=dict(body)),
        )

    async def delete_rule(self, rule_id: str) -> None:
        """Delete an alert rule (a missing one counts as deleted)."""
        try:
            await self._request("DELETE", f"/api/alert-rules/{rule_id}")
        except HSINotFoundError:
            return

    async def test_rule(self, rule_id: str) -> RuleTestResult:
        """Evaluate a rule against recent events without raising alerts."""
        return cast(
            RuleTestResult,
            await self._request("POST", f"/api/alert-rules/{rule_id}/test"),
        )

    async def zones(self, camera_id: str) -> list[Zone]:
        """Zones of one camera."""
        return cast(list[Zone], await self._list(f"/api/cameras/{camera_id}/zones"))

    async def create_zone(self, camera_id: str, body: Mapping[str, Any]) -> Zone:
        """Create a zone on a camera."""
        return cast(
            Zone,
            await self._request(
                "POST", f"/api/cameras/{camera_id}/zones", json=dict(body)
            ),
        )

    async def camera_filters(self, camera_id: str) -> ObjectFilters:
        """A camera's object filters and masks."""
        return cast(
            ObjectFilters, await self._request("GET", f"/api/cameras/{camera_id}/filters")
        )

    async def replace_camera_filters(
        self, camera_id: str, body: Mapping[str, Any]
    ) -> ObjectFilters:
        """Replace a camera's object filters and masks (``{}`` removes them all)."""
        return cast(
            ObjectFilters,
            await self._request("PUT", f"/api/cameras/{camera_id}/filters", json=dict(body)),
        )

    async def update_zone(
        self, camera_id: str, zone_id: str, body: Mapping[str, Any]
    ) -> Zone:
        """Change fields of a zone."""
        return cast(
            Zone,
            await self._request(
                "PATCH", f"/api/cameras/{camera_id}/zones/{zone_id}", json=dict(body)
            ),
        )

    async def delete_zone(self, camera_id: str, zone_id: str) -> None:
        """Delete a zone (a missing one counts as deleted)."""
        try:
            await self._request("DELETE", f"/api/cameras/{camera_id}/zones/{zone_id}")
        except HSINotFoundError:
            return

    async def ingest(self, camera_id: str, image: bytes, content_type: str) -> dict[str, Any]:
        """Push an image into the pipeline as if the camera had uploaded it."""
        try:
            async with asyncio.timeout(MEDIA_TIMEOUT):
                response = await self._session.post(
                    f"{self.base_url}/api/ingest",
                    params={"camera_id": camera_id},
                    data=image,
                    headers={**self.headers, "Content-Type": content_type},
                )
                if response.status >= 400:
                    await _raise_for_status(response)
                return cast(dict[str, Any], await response.json(content_type=None))
        except (TimeoutError, aiohttp.ClientError) as err:
            raise HSIConnectionError(str(err) or type(err).__name__) from err

    async def ws_connect(self) -> aiohttp.ClientWebSocketResponse:
        """Open the push channel; the caller owns and closes the socket."""
        try:
            return await self._session.ws_connect(
                self.ws_url, headers=self.headers, heartbeat=30
            )
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                raise HSIAuthError("API key rejected") from err
            raise HSIConnectionError(str(err)) from err
        except (TimeoutError, aiohttp.ClientError) as err:
            raise HSIConnectionError(str(err) or type(err).__name__) from err


def _param(value: Any) -> Any:
    """Query parameters: booleans as the lowercase words the server parses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    """Turn a 4xx/5xx response into the matching error, reading the error body."""
    status = response.status
    if status >= 500:
        raise HSIConnectionError(f"server error {status}")
    code, message, details = "http_error", response.reason or "", None
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        details = error.get("details")
    if status in (401, 403):
        raise HSIAuthError(message or "API key rejected")
    if status == 404:
        raise HSINotFoundError(status, code, message, details)
    if status in (400, 422):
        raise HSIValidationError(status, code, message, details)
    raise HSIResponseError(status, code, message, details)
