"""Thin typed async client for the Home Security Intelligence server API.

The integration talks to the server only through this module. The shapes of what the server answers
are the server's own response models, as its OpenAPI document (``GET /api/openapi.json``) declares
them; api_types.py renders them as TypedDicts (scripts/ha/gen_api_types.py, checked by
tests/server/test_ha_api_types.py), so they cannot drift from the server.

Auth: header ``X-API-Key``. Errors: ``{"error": {"code": str, "message": str, "details": ...}}``
with a 4xx status; 401 means a bad key; 422 carries ``details`` = ``[{"field", "message"}]``.
Lists: ``{"items": [...], "next_cursor": str|null}`` with ``?limit=&cursor=``. The WebSocket
``GET /api/ws`` (header ``X-API-Key``) pushes ``{"type", "data"}`` messages of the types in
``PUSH_MESSAGE_TYPES`` once the client sends ``{"type": "subscribe", "data": {"types": [...]}}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, NamedTuple, cast
from urllib.parse import quote

import aiohttp
from yarl import URL

from .api_types import (
    Alert,
    AlertRule,
    Camera,
    Detection,
    Event,
    Health,
    ObjectFilters,
    Page,
    RuleTest,
    SearchHit,
    Stats,
    Zone,
)

API_KEY_HEADER = "X-API-Key"
REQUEST_TIMEOUT = 10.0
MEDIA_TIMEOUT = 60.0
PAGE_LIMIT = 100
MAX_PAGES = 50
#: Alert statuses that still want a person's attention (not delivered yet, or not answered).
OPEN_ALERT_STATUSES = ("pending", "delivered")


class OpenAlerts(NamedTuple):
    """The newest open alerts, and whether more are open than listed."""

    items: list[Alert]
    more: bool


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


def _segment(value: object) -> str:
    """An id as one segment of a request's path: a '/', '?' or '#' in it (an action's input is any
    text) cannot reach another endpoint. '.' and '..' would be resolved away by the URL, and name
    nothing on the server: not found, without asking."""
    text = str(value)
    if text in (".", ".."):
        raise HSINotFoundError(404, "not_found", f"no resource is named {text!r}")
    return quote(text, safe="")


class HSIValidationError(HSIResponseError):
    """The server refused the input (400/422); ``field_errors`` maps fields to messages."""

    @property
    def field_errors(self) -> dict[str, str]:
        """Map of field path (``webhook.secret``, ``object_types.0``) to message, from the ``details``
        list of the error body."""
        result: dict[str, str] = {}
        if isinstance(self.details, list):
            for item in self.details:
                if isinstance(item, Mapping) and "field" in item:
                    result[str(item["field"])] = str(item.get("message", ""))
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
        # yarl brackets an IPv6 address ("::1" → "[::1]"), which a URL needs around it.
        self.base_url = str(URL.build(scheme="https" if ssl else "http", host=host, port=port))
        self.ws_url = str(URL.build(scheme="wss" if ssl else "ws", host=host, port=port, path="/api/ws"))

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
            page = cast(Page[Any], await self._request("GET", path, params=query))
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

    async def camera_snapshot(self, camera_id: str) -> tuple[bytes, str] | None:
        """Latest image of a camera and its content type (a JPEG or a PNG upload), None when it has
        none."""
        return await self._get_bytes(f"/api/cameras/{_segment(camera_id)}/snapshot")

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

    async def events(self, **filters: Any) -> Page[Event]:
        """One page of events, filtered (camera_id, risk_level, min_risk, reviewed, ...)."""
        return cast(Page[Event], await self._request("GET", "/api/events", params=filters))

    async def search_events(self, query: str, limit: int, **filters: Any) -> Page[SearchHit]:
        """Full-text search over event summaries and reasoning (the list's filters apply)."""
        return cast(
            Page[SearchHit],
            await self._request(
                "GET", "/api/events/search", params={**filters, "q": query, "limit": limit}
            ),
        )

    async def event(self, event_id: int) -> Event:
        """One event."""
        return cast(Event, await self._request("GET", f"/api/events/{_segment(event_id)}"))

    async def event_detections(self, event_id: int) -> list[Detection]:
        """Every detection of an event."""
        return cast(list[Detection], await self._list(f"/api/events/{_segment(event_id)}/detections"))

    async def alerts(self, **filters: Any) -> Page[Alert]:
        """One page of alerts, newest first (filters status, severity, camera_id, event_id, ...)."""
        return cast(Page[Alert], await self._request("GET", "/api/alerts", params=filters))

    async def open_alerts(self, **filters: Any) -> OpenAlerts:
        """Alerts nobody acknowledged or dismissed yet (pending or delivered), newest first: a page's
        worth (`PAGE_LIMIT`), and whether there are more."""
        limit = PAGE_LIMIT
        alerts: list[Alert] = []
        more = False
        for status in OPEN_ALERT_STATUSES:
            page = await self.alerts(**filters, status=status, limit=limit)
            alerts.extend(page["items"])
            more = more or bool(page.get("next_cursor"))
        alerts.sort(key=lambda alert: alert["created_at"], reverse=True)
        return OpenAlerts(alerts[:limit], more or len(alerts) > limit)

    async def update_event(self, event_id: int, body: Mapping[str, Any]) -> Event:
        """Mark an event reviewed and/or set its notes."""
        return cast(
            Event, await self._request("PATCH", f"/api/events/{_segment(event_id)}", json=dict(body))
        )

    async def alert_action(self, alert_id: str, action: Literal["acknowledge", "dismiss"]) -> Alert:
        """Acknowledge or dismiss an alert."""
        return cast(
            Alert, await self._request("POST", f"/api/alerts/{_segment(alert_id)}/{action}")
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
            await self._request("PATCH", f"/api/alert-rules/{_segment(rule_id)}", json=dict(body)),
        )

    async def delete_rule(self, rule_id: str) -> None:
        """Delete an alert rule (a missing one counts as deleted)."""
        try:
            await self._request("DELETE", f"/api/alert-rules/{_segment(rule_id)}")
        except HSINotFoundError:
            return

    async def test_rule(self, rule_id: str) -> RuleTest:
        """Evaluate a rule against recent events without raising alerts."""
        return cast(
            RuleTest,
            await self._request("POST", f"/api/alert-rules/{_segment(rule_id)}/test"),
        )

    async def zones(self, camera_id: str) -> list[Zone]:
        """Zones of one camera."""
        return cast(list[Zone], await self._list(f"/api/cameras/{_segment(camera_id)}/zones"))

    async def create_zone(self, camera_id: str, body: Mapping[str, Any]) -> Zone:
        """Create a zone on a camera."""
        return cast(
            Zone,
            await self._request(
                "POST", f"/api/cameras/{_segment(camera_id)}/zones", json=dict(body)
            ),
        )

    async def camera_filters(self, camera_id: str) -> ObjectFilters:
        """A camera's object filters and masks."""
        return cast(
            ObjectFilters, await self._request("GET", f"/api/cameras/{_segment(camera_id)}/filters")
        )

    async def replace_camera_filters(
        self, camera_id: str, body: Mapping[str, Any]
    ) -> ObjectFilters:
        """Replace a camera's object filters and masks (``{}`` removes them all)."""
        return cast(
            ObjectFilters,
            await self._request("PUT", f"/api/cameras/{_segment(camera_id)}/filters", json=dict(body)),
        )

    async def update_zone(
        self, camera_id: str, zone_id: str, body: Mapping[str, Any]
    ) -> Zone:
        """Change fields of a zone."""
        return cast(
            Zone,
            await self._request(
                "PATCH", f"/api/cameras/{_segment(camera_id)}/zones/{_segment(zone_id)}", json=dict(body)
            ),
        )

    async def delete_zone(self, camera_id: str, zone_id: str) -> None:
        """Delete a zone (a missing one counts as deleted)."""
        try:
            await self._request("DELETE", f"/api/cameras/{_segment(camera_id)}/zones/{_segment(zone_id)}")
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
