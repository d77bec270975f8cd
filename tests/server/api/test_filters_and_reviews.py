"""Filters that read the same on every list, and a review that is one change however often it is sent."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.models import AuditLog
from server.runtime import Runtime
from tests.server.api.conftest import Seeded


async def _json(response: Any) -> Any:
    body = await response.json()
    assert response.status < 300, body
    return body


async def _messages(ws: Any, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Every text message that arrives until `seconds` pass without one."""
    got = []
    while True:
        try:
            message = await ws.receive(timeout=seconds)
        except TimeoutError:
            return got
        if message.type != WSMsgType.TEXT:
            return got
        got.append(json.loads(message.data))


# --- filters ---------------------------------------------------------------------------------------


async def test_detections_object_type_filter_ignores_case_like_the_events_filter(
    client: TestClient, seeded: Seeded
) -> None:
    """`/api/events?object_type=Person` finds the person events (the filter is lower-cased), but
    `/api/detections?object_type=Person` finds nothing: "list endpoints filter the same way
    everywhere" does not hold, and a user typing the label as HA shows it ("Person") gets an empty list."""
    events = await _json(await client.get("/api/events", params={"object_type": "Person"}))
    assert events["items"], "the events filter matches case-insensitively"
    lower = await _json(await client.get("/api/detections", params={"object_type": "person"}))
    upper = await _json(await client.get("/api/detections", params={"object_type": "Person"}))
    assert lower["items"]
    assert [d["id"] for d in upper["items"]] == [d["id"] for d in lower["items"]]


# --- review actions --------------------------------------------------------------------------------


async def test_reviewing_a_reviewed_event_again_changes_nothing(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    """Acknowledging an alert twice is a no-op (one audit row, one `alert.updated`); marking an event
    reviewed twice (HA's review service retried, two people tapping "reviewed") writes an audit row and
    pushes `event.updated` every time, and so does an empty PATCH — automations on `event.updated`
    fire for changes that did not happen, and the audit trail shows reviews nobody made."""
    ws = await client.ws_connect("/api/ws")
    event_id = seeded.events[0]
    await _json(await client.patch(f"/api/events/{event_id}", json={"reviewed": True}))
    await _json(await client.patch(f"/api/events/{event_id}", json={"reviewed": True}))
    await _json(await client.patch(f"/api/events/{event_id}", json={}))
    pushed = [m for m in await _messages(ws) if m["type"] == "event.updated"]
    await ws.close()
    async with runtime.database.sessions() as session:
        audits = list(
            await session.scalars(
                select(AuditLog).where(
                    AuditLog.action == "event_reviewed", AuditLog.resource_id == str(event_id)
                )
            )
        )
    assert len(pushed) == 1, f"event.updated pushed {len(pushed)} times for one change"
    assert len(audits) == 1, f"{len(audits)} audit rows for one review"
