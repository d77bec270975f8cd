"""Typed keys of what every app and request carry (runtime, settings, principal, request id), so that
modules need not import app.py. A service's key sits beside its type: `declare.ENDPOINTS`,
`key_cache.API_KEYS`, `middleware.AUTH_FAILURES`, `ws.HUB`, `analysis.ANALYZER`, `docs.OPENAPI`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from server.runtime import Runtime


@dataclass(frozen=True)
class ApiSettings:
    """Options of one app instance (tests shorten the auth delay)."""

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
    """Who made a request: the API key's id and name."""

    key_id: int | None
    name: str

    @property
    def actor(self) -> str:
        """Who the audit trail and the access log name: a key by its id and name (`key 3 (phone)`).
        A key's name is free text, and neither unique nor kept from `cli` or `system`, the actors of
        the host's shell and of the server itself; its id is both."""
        return self.name if self.key_id is None else f"key {self.key_id} ({self.name})"


RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("api_settings", ApiSettings)

AUTH = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
