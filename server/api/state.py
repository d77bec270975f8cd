"""Typed keys of what the app and each request carry, in one place so modules need not import app.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.runtime import Runtime

if TYPE_CHECKING:
    from server.api.registry import Endpoint


@dataclass(frozen=True)
class ApiSettings:
    """Options of one app instance (tests turn on response validation and shorten the auth delay)."""

    #: Check every JSON response against its declared model (tests; costs time in production).
    validate_responses: bool = False
    #: Base delay after a failed authentication; doubles per recent failure of the same client...
    auth_failure_delay: float = 0.5
    #: ...up to this many seconds.
    auth_failure_max_delay: float = 8.0
    #: Largest media body `/api/ingest` accepts.
    max_ingest_bytes: int = 64 * 1024 * 1024
    #: Messages a WebSocket client may have queued before it is dropped as too slow.
    ws_queue_size: int = 256
    ws_heartbeat: float = 30.0
    #: Seconds a single WebSocket send may take before the client counts as stuck.
    ws_send_timeout: float = 10.0
    #: How often open WebSockets are checked for a revoked API key (any process may revoke it).
    ws_key_check_interval: float = 10.0
    #: Write one access line per request to the process log (logger `server.api.access`).
    access_log: bool = True
    #: How often the stats are checked for a change worth a `system.status` push.
    status_interval: float = 5.0


@dataclass(frozen=True)
class Principal:
    """Who made a request: the API key's id and name (the audit trail's actor)."""

    key_id: int | None
    name: str


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("api_settings", ApiSettings)
#: Declared endpoints by operation id (= aiohttp route name).
ENDPOINTS = web.AppKey("endpoints", dict[str, "Endpoint"])
#: Per-app services started with the app (WebSocket hub, access-log writer, the exit stack that closes them).
SERVICES = web.AppKey("services", dict[str, Any])

AUTH = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
