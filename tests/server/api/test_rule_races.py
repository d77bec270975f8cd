"""Rule edits racing other edits: a zone deleted while a rule naming it is saved, two updates of one
rule at once. Each was a review's finding, then tried: a rule saved while its zone was deleted kept the
zone's id (the rule never fired again, and every later update was refused, "unknown zone"), and two
updates each merged into the rule as they read it and stored together a rule neither had validated
(the webhook channel of one, no webhook of the other), which the engine then skipped.

The window is held open by pausing the first request right after it checked its rule (the module's own
`_check`), where a slow request would be; the other request starts meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

import server.api.alert_rules as alert_rules_api
from server.alerts.rule_row import spec_from_row
from server.models import AlertRule, Zone
from server.runtime import Runtime
from tests.server.api.conftest import Seeded


async def _race(
    monkeypatch: pytest.MonkeyPatch,
    first: Callable[[], Awaitable[ClientResponse]],
    second: Callable[[], Awaitable[ClientResponse]],
) -> tuple[ClientResponse, ClientResponse]:
    """`first` paused after its check while `second` runs (or waits for what `first` holds); both end."""
    checked, release = asyncio.Event(), asyncio.Event()
    real_check = alert_rules_api._check

    async def paused_check(session: Any, spec: Any) -> None:
        await real_check(session, spec)
        if not checked.is_set():
            checked.set()
            await release.wait()

    monkeypatch.setattr(alert_rules_api, "_check", paused_check)
    one = asyncio.create_task(first())
    await asyncio.wait_for(checked.wait(), 10)
    two = asyncio.create_task(second())
    await asyncio.sleep(0.5)  # the second request as far as it gets
    release.set()
    responses = await asyncio.wait_for(asyncio.gather(one, two), 20)
    for response in responses:
        await response.read()
    return responses[0], responses[1]


async def _stored_rule(runtime: Runtime, rule_id: str) -> AlertRule:
    async with runtime.database.sessions() as session:
        rule = await session.get(AlertRule, uuid.UUID(rule_id))
        assert rule is not None
        return rule


async def _zone_gone(runtime: Runtime) -> bool:
    async with runtime.database.sessions() as session:
        return await session.get(Zone, "porch") is None


async def test_a_rule_updated_while_its_new_zone_is_deleted_does_not_name_it(
    runtime: Runtime, client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    patched, deleted = await _race(
        monkeypatch,
        lambda: client.patch(f"/api/alert-rules/{seeded.rule_id}", json={"zone_ids": ["porch"]}),
        lambda: client.delete("/api/cameras/front_door/zones/porch"),
    )
    assert (patched.status, deleted.status) == (200, 204)
    assert await _zone_gone(runtime)
    rule = await _stored_rule(runtime, seeded.rule_id)
    assert "porch" not in (rule.zone_ids or []) and not rule.enabled, (rule.zone_ids, rule.enabled)


async def test_a_rule_created_while_its_zone_is_deleted_does_not_name_it(
    runtime: Runtime, client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, deleted = await _race(
        monkeypatch,
        lambda: client.post("/api/alert-rules", json={"name": "porch people", "zone_ids": ["porch"]}),
        lambda: client.delete("/api/cameras/front_door/zones/porch"),
    )
    assert (created.status, deleted.status) == (201, 204)
    rule = await _stored_rule(runtime, (await created.json())["id"])
    assert "porch" not in (rule.zone_ids or []) and not rule.enabled, (rule.zone_ids, rule.enabled)


async def test_a_rule_saved_after_its_zone_was_deleted_is_refused(
    runtime: Runtime, client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: the deletion holds the zone first; the rule then finds it gone."""
    deleting = asyncio.create_task(client.delete("/api/cameras/front_door/zones/porch"))
    assert (await deleting).status == 204
    response = await client.post("/api/alert-rules", json={"name": "porch people", "zone_ids": ["porch"]})
    assert response.status == 422 and "porch" in await response.text()


async def test_two_updates_of_one_rule_at_once_store_a_rule_the_engine_takes(
    runtime: Runtime, client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule_path = f"/api/alert-rules/{seeded.rule_id}"
    webhook = {"url": "https://hooks.example.com/hsi", "secret": "s" * 16}
    assert (await client.patch(rule_path, json={"webhook": webhook})).status == 200  # configured, not used
    # One client turns the webhook channel on while another removes the webhook: each valid on the rule
    # as it was; the second is now checked against the first's result.
    on, off = await _race(
        monkeypatch,
        lambda: client.patch(rule_path, json={"channels": ["ha", "webhook"]}),
        lambda: client.patch(rule_path, json={"webhook": None}),
    )
    assert (on.status, off.status) == (200, 422)
    spec_from_row(await _stored_rule(runtime, seeded.rule_id))  # the engine takes it
