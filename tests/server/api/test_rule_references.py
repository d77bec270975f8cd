"""Deleting a camera or zone over the API takes it out of the alert rules naming it, never widening one.

A rule left naming a deleted object would never fire; one whose list were simply emptied would match
everything. Each case below is a rule the deletion must leave narrowed, disabled, or untouched.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.models import AuditLog, Log
from server.runtime import Runtime
from tests.server.api.conftest import Seeded
from tests.support.pipeline import eventually

GATE = {"name": "Gate", "shape": "polygon", "coordinates": [[0.1, 0.5], [0.9, 0.5], [0.5, 0.95]]}


async def _rule(client: TestClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/alert-rules", json=body)
    created = await response.json()
    assert response.status == 201, created
    return created


async def _rules(client: TestClient) -> dict[str, dict[str, Any]]:
    page = await (await client.get("/api/alert-rules?limit=100")).json()
    return {rule["name"]: rule for rule in page["items"]}


async def _rule_audit(runtime: Runtime) -> dict[str, dict[str, Any]]:
    async with runtime.database.sessions() as session:
        rows = await session.scalars(select(AuditLog).where(AuditLog.action == "rule_updated"))
        return {row.resource_id or "": row.details or {} for row in rows}


async def _deletion_audit(runtime: Runtime, action: str, resource_id: str) -> dict[str, Any]:
    async with runtime.database.sessions() as session:
        statement = select(AuditLog).where(AuditLog.action == action, AuditLog.resource_id == resource_id)
        [row] = (await session.scalars(statement)).all()
        return row.details or {}


async def test_deleting_a_zone_narrows_or_disables_the_rules_naming_it(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    gate = await (await client.post("/api/cameras/front_door/zones", json=GATE)).json()
    narrowed = await _rule(client, name="narrowed", camera_ids=["front_door"], zone_ids=["porch", gate["id"]])
    emptied = await _rule(client, name="emptied", zone_ids=["porch"])
    already_off = await _rule(client, name="already off", zone_ids=["porch"], enabled=False)
    await _rule(client, name="other zone", zone_ids=[gate["id"]])
    before = await _rules(client)

    assert (await client.delete("/api/cameras/front_door/zones/porch")).status == 204

    after = await _rules(client)
    assert after["narrowed"]["zone_ids"] == [gate["id"]] and after["narrowed"]["enabled"] is True
    assert after["emptied"]["zone_ids"] == [] and after["emptied"]["enabled"] is False
    assert after["already off"]["zone_ids"] == [] and after["already off"]["enabled"] is False
    for untouched in ("people", "other zone"):
        assert after[untouched] == before[untouched], untouched

    audit = await _rule_audit(runtime)
    assert set(audit) == {narrowed["id"], emptied["id"], already_off["id"]}
    assert audit[narrowed["id"]] == {
        "change": "deleted references removed",
        "removed_camera_ids": [],
        "removed_zone_ids": ["porch"],
        "disabled": False,
    }
    assert audit[emptied["id"]]["disabled"] is True and audit[already_off["id"]]["disabled"] is False
    deleted = await _deletion_audit(runtime, "settings_changed", "porch")
    assert deleted["alert_rules_changed"] == [narrowed["id"], emptied["id"], already_off["id"]]
    # What is left is valid as the API validates rules: an edit needs no repair first.
    edited = await client.patch(f"/api/alert-rules/{narrowed['id']}", json={"description": "kept"})
    assert edited.status == 200, await edited.text()


async def test_deleting_a_camera_takes_it_and_its_zones_out_of_rules(
    runtime: Runtime, client: TestClient, seeded: Seeded
) -> None:
    both = await _rule(client, name="both cameras", camera_ids=["front_door", "backyard"])
    only = await _rule(client, name="only front", camera_ids=["front_door"])
    porch = await _rule(client, name="porch anywhere", zone_ids=["porch"])
    await _rule(client, name="backyard", camera_ids=["backyard"])
    before = await _rules(client)

    assert (await client.delete("/api/cameras/front_door")).status == 204

    after = await _rules(client)
    assert after["both cameras"]["camera_ids"] == ["backyard"] and after["both cameras"]["enabled"] is True
    assert after["only front"]["camera_ids"] == [] and after["only front"]["enabled"] is False
    assert after["porch anywhere"]["zone_ids"] == [] and after["porch anywhere"]["enabled"] is False
    for untouched in ("people", "backyard"):
        assert after[untouched] == before[untouched], untouched

    deleted = await _deletion_audit(runtime, "camera_deleted", "front_door")
    assert deleted["alert_rules_changed"] == [both["id"], only["id"], porch["id"]]
    audit = await _rule_audit(runtime)
    assert audit[porch["id"]]["removed_zone_ids"] == ["porch"] and audit[porch["id"]]["disabled"] is True
    assert audit[only["id"]]["removed_camera_ids"] == ["front_door"]

    async def warning() -> Log | None:
        async with runtime.database.sessions() as session:
            statement = select(Log).where(Log.component == "alerts", Log.message.contains("only front"))
            return (await session.scalars(statement)).first()

    row = await eventually(warning, timeout=10)
    assert row.level == "WARNING" and "disabled" in row.message and row.extra["rule_id"] == only["id"]
