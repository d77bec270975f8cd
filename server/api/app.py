"""The aiohttp application factory: middlewares, every resource's routes, and the app's services.

Each service is a typed app key (beside the type it holds) set up and torn down by a `cleanup_ctx`
context: the database log handler (application events), the in-memory API keys (one LISTEN
connection) and — on a server without any API key — the first key, written to
`<data_dir>/api_key.txt`; the WebSocket hub (one Redis subscription); the `system.status` publisher
and the retention cleanup (one process at a time runs each round); the analyzer, when the app was not
handed the application's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web

from server import apikeys
from server.analyze.analyzer import SharedAnalyzer
from server.api import (
    alert_rules,
    alerts,
    analysis,
    audit,
    baselines,
    cameras,
    dead_letters,
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
from server.api.analysis import ANALYZER
from server.api.declare import ENDPOINTS
from server.api.docs import OPENAPI, DocumentCache
from server.api.key_cache import API_KEYS, KeyCache
from server.api.middleware import AUTH_FAILURES, AuthFailures, auth_middleware, context_middleware
from server.api.registry import register
from server.api.state import RUNTIME, SETTINGS, ApiSettings
from server.api.ws import HUB, Hub
from server.logs import ensure_database_logging
from server.pipeline.supervision import spawn
from server.retention import run_periodically as run_retention
from server.runtime import Runtime

__all__ = ["RUNTIME", "create_app"]

#: Every resource module's routes (order matters only for documentation: it is the OpenAPI order).
ROUTE_TABLES = (
    system.routes,
    dead_letters.routes,
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


def create_app(
    runtime: Runtime, settings: ApiSettings | None = None, *, analyzer: SharedAnalyzer | None = None
) -> web.Application:
    """The API over `runtime`; `analyzer` is the process's one analyzer (`server.application`), else
    the app builds its own on the first preview and closes it with itself."""
    settings = settings or ApiSettings()
    app = web.Application(
        middlewares=[context_middleware, auth_middleware],
        client_max_size=settings.max_ingest_bytes,
    )
    app[RUNTIME] = runtime
    app[SETTINGS] = settings
    app[AUTH_FAILURES] = AuthFailures(settings.auth_failure_delay, cap=settings.auth_failure_max_delay)
    app[OPENAPI] = DocumentCache()
    app[ENDPOINTS] = {endpoint.operation_id: endpoint for endpoint in register(app, ROUTE_TABLES)}
    if analyzer is None:
        app[ANALYZER] = SharedAnalyzer(runtime.settings)
        app.cleanup_ctx.append(_own_analyzer)
    else:
        app[ANALYZER] = analyzer
    app.cleanup_ctx.extend([_database_logging, _keys_and_hub, _background])
    app.on_shutdown.append(_close_websockets)
    return app


async def _own_analyzer(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[ANALYZER].close()


async def _database_logging(app: web.Application) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        await ensure_database_logging(app[RUNTIME], stack)
        yield


async def _keys_and_hub(app: web.Application) -> AsyncIterator[None]:
    """The WebSocket hub, and the in-memory keys whose changes make the hub recheck open sockets."""
    runtime = app[RUNTIME]
    hub = Hub(runtime.redis, runtime.database.sessions, app[SETTINGS].ws_key_check_interval)
    async with AsyncExitStack() as stack:
        if runtime.settings.api_key_enabled:
            await apikeys.ensure_initial_key(runtime.database.sessions, runtime.settings.data_dir)
            keys = KeyCache(runtime.database)
            keys.on_change(hub.recheck_keys)
            await keys.start()
            stack.push_async_callback(keys.stop)
            app[API_KEYS] = keys
        hub.start()
        stack.push_async_callback(hub.stop)
        app[HUB] = hub
        yield


async def _background(app: web.Application) -> AsyncIterator[None]:
    """The `system.status` publisher and the retention rounds, supervised, stopped with the app."""
    runtime, hub = app[RUNTIME], app[HUB]
    interval = app[SETTINGS].status_interval
    async with AsyncExitStack() as stack:
        stop = asyncio.Event()
        spawn(
            stack,
            stop,
            "hsi-system-status",
            lambda: system.publish_status(runtime, stop, interval, lambda: bool(hub.clients)),
        )
        if runtime.settings.retention_enabled:
            spawn(stack, stop, "hsi-retention", lambda: run_retention(runtime, stop))
        yield


async def _close_websockets(app: web.Application) -> None:
    """Close the live sockets first: aiohttp waits for open handlers before it runs cleanup, so a
    connected client (Home Assistant) would otherwise hold a Ctrl-C for a minute."""
    if HUB in app:
        await app[HUB].stop()
