"""The aiohttp application factory: routes of every resource module, shared state in `app[RUNTIME]`."""

from __future__ import annotations

from aiohttp import web

from server.api import system
from server.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.add_routes(system.routes)
    return app
