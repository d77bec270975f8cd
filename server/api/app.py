"""The aiohttp application factory: middlewares, every resource's routes, and the app's services.

Services started with the app and stopped with it: the WebSocket hub (one Redis subscription), the
`system.status` publisher, the database log handler (application events), the failed-auth tracker, the
in-memory API keys (one LISTEN connection), the retention cleanup (one process at a time runs each
round), and — on a server without any API key — the first key, written to `<data_dir>/api_key.txt`.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aiohttp import web

from server import apikeys
from server.api import (
    alert_rules,
    alerts,
    analysis,
    audit,
    baselines,
    cameras,
    detections,
    docs,
    events,
    ingest,
    keys,
    logs,
    object_filters,
    system,
    ws,
    zones,
)
from server.api.key_cache import KeyCache
from server.api.middleware import AuthFailures, auth_middleware, context_middleware
from server.api.registry import register
from server.api.state import ENDPOINTS, RUNTIME, SERVICES, SETTINGS, ApiSettings
from server.logs import ensure_database_logging
from server.retention import run_periodically as run_retention
from server.pipeline.supervision import spawn
from server.runtime import Runtime

__all__ = ["RUNTIME", "create_app"]

#: Every resource module's routes (order matters only for documentation: it is the OpenAPI order).
ROUTE_TABLES = (
    system.routes,
    cameras.routes,
    zones.routes,
    object_filters.routes,
    baselines.routes,
    detections.routes,
    events.routes,
    alerts.routes,
    alert_rules.routes,
    logs.routes,
    audit.routes,
    keys.routes,
    ingest.routes,
    analysis.routes,
    ws.routes,
    docs.routes,
)


def create_app(runtime: Runtime, settings: ApiSettings | None = None) -> web.Application:
    settings = settings or ApiSettings()
    app = web.Application(
        middlewares=[context_middleware, auth_middleware],
        client_max_size=settings.max_ingest_bytes,
    )
    app[RUNTIME] = runtime
    app[SETTINGS] = settings
    app[SERVICES] = {
        "auth_failures": AuthFailures(settings.auth_failure_delay, cap=settings.auth_failure_max_delay)
    }
    app[ENDPOINTS] = {endpoint.operation_id: endpoint for endpoint in register(app, ROUTE_TABLES)}
    app.on_startup.append(_start_services)
    app.on_shutdown.append(_close_websockets)
    app.on_cleanup.append(_stop_services)
    return app


async def _start_services(app: web.Application) -> None:
    runtime = app[RUNTIME]
    services = app[SERVICES]
    stack = AsyncExitStack()
    services["stack"] = stack
    await ensure_database_logging(runtime, stack)
    hub = ws.Hub(runtime.redis, runtime.database.sessions, app[SETTINGS].ws_key_check_interval)
    if runtime.settings.api_key_enabled:
        await apikeys.ensure_initial_key(runtime.database.sessions, runtime.settings.data_dir)
        keys = KeyCache(runtime.database)
        keys.on_change(hub.recheck_keys)
        await keys.start()
        stack.push_async_callback(keys.stop)
        services["keys"] = keys
    hub.start()
    services["hub"] = hub
    stop = asyncio.Event()
    interval = app[SETTINGS].status_interval
    spawn(
        stack,
        stop,
        "hsi-system-status",
        lambda: system.publish_status(runtime, stop, interval, lambda: bool(hub.clients)),
    )
    if runtime.settings.retention_enabled:
        spawn(stack, stop, "hsi-retention", lambda: run_retention(runtime, stop))


async def _close_websockets(app: web.Application) -> None:
    """Close the live sockets first: aiohttp waits for open handlers before it runs cleanup, so a
    connected client (Home Assistant) would otherwise hold a Ctrl-C for a minute."""
    if "hub" in app[SERVICES]:
        await app[SERVICES]["hub"].stop()


async def _stop_services(app: web.Application) -> None:
    services = app[SERVICES]
    if "stack" in services:
        await services["stack"].aclose()
