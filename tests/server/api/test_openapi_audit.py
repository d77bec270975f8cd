"""The OpenAPI document covers every route; every AuditAction is written by some API operation."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.models import AuditAction, AuditLog
from server.runtime import Runtime
from tests.server.api.conftest import Seeded
from tests.support.pipeline import eventually


async def test_openapi_documents_every_route(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    document = await response.json()
    assert response.status == 200 and document["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = set()
    for route in client.app.router.routes():
        if route.method == "HEAD":
            continue
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.resource.canonical)
        served.add((route.method, path))
    assert served == documented
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["responses"], (method, path)
            if path != "/api/system/health":
                assert operation["security"] == [{"ApiKey": []}] and "401" in operation["responses"]
    assert (await client.get("/api/openapi.json", headers={"X-API-Key": ""})).status == 401


async def test_every_audit_action_is_recorded(runtime: Runtime, client: TestClient, seeded: Seeded) -> None:
    await client.get("/api/events", headers={"X-API-Key": "wrong"})  # login (failure)
    ws = await client.ws_connect("/api/ws")  # login
    await ws.close()  # logout
    await client.patch(f"/api/events/{seeded.events[0]}", json={"reviewed": True})
    await client.post(f"/api/alerts/{seeded.alerts[0]}/dismiss")
    await client.post(
        "/api/cameras/front_door/zones",
        json={"name": "Gate", "coordinates": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]},
    )
    await client.get("/api/events/export")
    rule = await (await client.post("/api/alert-rules", json={"name": "r"})).json()
    await client.patch(f"/api/alert-rules/{rule['id']}", json={"enabled": False})
    await client.post(f"/api/alert-rules/{rule['id']}/test")
    await client.delete(f"/api/alert-rules/{rule['id']}")
    await client.post("/api/cameras", json={"name": "Shed"})
    await client.patch("/api/cameras/shed", json={"name": "Old shed"})
    await client.delete("/api/cameras/backyard/baselines")
    await client.delete("/api/cameras/shed")
    key = await (await client.post("/api/keys", json={"name": "tmp"})).json()
    await client.delete(f"/api/keys/{key['id']}")
    for n in range(2):  # two dead letters, as the streams write them: one replayed, one dropped
        await runtime.redis.xadd("hsi:detect:dead", {"n": str(n), "error": "ValueError: x", "attempts": "5"})
    letters = (await (await client.get("/api/system/dead-letters")).json())["items"]
    await client.post(f"/api/system/dead-letters/detect/{letters[0]['id']}/replay")
    await client.delete(f"/api/system/dead-letters/detect/{letters[1]['id']}")

    async def actions_once_logged_out() -> set[str] | None:
        """The WebSocket's logout row is written as the server sees the close: wait for it."""
        async with runtime.database.sessions() as session:
            found = set(await session.scalars(select(AuditLog.action)))
        return found if AuditAction.LOGOUT.value in found else None

    recorded = await eventually(actions_once_logged_out, timeout=10)
    assert recorded == {action.value for action in AuditAction}
