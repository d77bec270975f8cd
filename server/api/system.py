"""System resource: health (open to all, used by HA and the add-on watchdog)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/api/system/health")
async def health(request: web.Request) -> web.Response:
    from server.api.app import RUNTIME

    report = await request.app[RUNTIME].health()
    return web.json_response(report, status=200 if report["status"] != "unhealthy" else 503)
