"""The notification blueprint: a valid HA blueprint that notifies, filters, cools down, and acts.

Alerts come from a real server (one rule whose severity the test sets, a photo of people per
alert); only the phone is a stand-in (`async_mock_service` for its notify action). The buttons are
answered by the integration (`notification_actions`), not by a run waiting for the tap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
import shutil
from typing import Any
import uuid

import pytest

from homeassistant.components import automation
from homeassistant.components.blueprint import models, schemas
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .hsi_server import HSIServer, eventually

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]

BLUEPRINT = (
    Path(__file__).resolve().parents[2]
    / "blueprints/automation/home_security_intelligence/notify_alert.yaml"
)


def test_blueprint_is_valid() -> None:
    """HA's blueprint schema accepts the file, as an automation blueprint with our inputs."""
    blueprint = models.Blueprint(
        load_yaml_dict(str(BLUEPRINT)), expected_domain="automation", schema=schemas.BLUEPRINT_SCHEMA
    )
    assert blueprint.domain == "automation"
    assert set(blueprint.inputs) == {
        "alert_entities", "notify_device", "min_severity", "cooldown", "critical_alerts",
    }


async def settle(hass: HomeAssistant) -> None:
    """Let HA finish its work (fails instead of hanging if something never ends)."""
    async with asyncio.timeout(30):
        await hass.async_block_till_done()


class Scene:
    """The server, HA with the blueprint automation, and a phone that records notifications."""

    def __init__(self, hass: HomeAssistant, server: HSIServer, notifications: list[ServiceCall]) -> None:
        self.hass = hass
        self.server = server
        self.notifications = notifications
        self.rule: dict[str, Any] = {}

    async def alert(self, severity: str, camera: str = "Front Door") -> dict[str, Any]:
        """Make the server raise one alert of that severity on the camera; return it once HA fired it."""
        camera_id = camera.lower().replace(" ", "_")
        await self.server.request(
            "PATCH", f"/api/alert-rules/{self.rule['id']}", json_body={"severity": severity}, expect=200
        )
        before = {a["id"] for a in await self.server.items("/api/alerts?limit=100")}
        await self.server.upload_and_wait(camera, camera_id)

        async def new_alert() -> dict[str, Any] | None:
            fresh = [a for a in await self.server.items("/api/alerts?limit=100") if a["id"] not in before]
            return fresh[0] if fresh else None

        alert = await eventually(new_alert, 30, f"a {severity} alert")
        assert alert["severity"] == severity
        entity_id = f"event.{camera_id}_alert"
        await wait_for(lambda: self.hass.states.get(entity_id).attributes.get("alert_id") == alert["id"])
        return alert

    async def press(self, action: str, alert: dict[str, Any], status: str) -> None:
        """Tap a notification button on the phone; the server's alert must get the status."""
        self.hass.bus.async_fire("mobile_app_notification_action", {"action": f"{action}_{alert['id']}"})

        async def done() -> bool:
            current = await self.server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
            return bool(current["status"] == status)

        await eventually(done, 30, f"alert {alert['id']} {status}")


@pytest.fixture
async def scene(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, tmp_path: Path
) -> AsyncGenerator[Scene]:
    """Two cameras, one rule, the blueprint automation (≥ high, 10 min cooldown) and a phone."""
    for name in ("Front Door", "Garage"):
        await hsi_server.request("POST", "/api/cameras", json_body={"name": name}, expect=201)
    rule = await hsi_server.create_rule(severity="high")
    await load_entry()

    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints/automation/home_security_intelligence/notify_alert.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target)
    phone_entry = MockConfigEntry(domain="mobile_app")
    phone_entry.add_to_hass(hass)
    phone = dr.async_get(hass).async_get_or_create(
        config_entry_id=phone_entry.entry_id, identifiers={("mobile_app", "pixel")}, name="Pixel 9"
    )
    notifications = async_mock_service(hass, "notify", "mobile_app_pixel_9")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": "notify",
                "use_blueprint": {
                    "path": "home_security_intelligence/notify_alert.yaml",
                    "input": {
                        "alert_entities": ["event.front_door_alert", "event.garage_alert"],
                        "notify_device": phone.id,
                        "min_severity": "high",
                        "cooldown": 600,
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()
    assert [automation_state.state for automation_state in hass.states.async_all(automation.DOMAIN)] == ["on"]
    built = Scene(hass, hsi_server, notifications)
    built.rule = rule
    yield built
    await hass.services.async_call(automation.DOMAIN, "turn_off", {"entity_id": "all"}, blocking=True)


@pytest.fixture
async def second_server(
    hass: HomeAssistant, scene: Scene, server_template: tuple[Path, str], tmp_path: Path
) -> AsyncGenerator[MockConfigEntry]:
    """Another server, loaded too (so actions without `config_entry_id` are ambiguous)."""
    template, api_key = server_template
    server = HSIServer(tmp_path / "second", template, api_key)
    await server.start()
    entry = MockConfigEntry(domain=DOMAIN, title="Second", unique_id=server.instance_id, data=server.entry_data)
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_for(lambda: entry.runtime_data.push.connected)
        yield entry
    finally:
        if entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
        await server.stop()


async def test_blueprint_notifies_and_buttons_act(
    hass: HomeAssistant, scene: Scene, second_server: MockConfigEntry
) -> None:
    """A critical alert → a critical push with the summary, thumbnail and buttons; Acknowledge
    acknowledges it on the server, and Dismiss (on the next one) dismisses it. The buttons act
    on the server the alert came from, also when another server is loaded."""
    assert len(hass.config_entries.async_loaded_entries(DOMAIN)) == 2
    alert = await scene.alert("critical")
    await wait_for(lambda: len(scene.notifications) == 1)
    data = scene.notifications[0].data
    metadata = alert["metadata"]
    assert data["title"] == "Front Door: Critical alert"
    # The rule sets the severity: the message gives the event's own risk level as well.
    assert metadata["severity_source"] == "rule"
    assert data["message"] == (
        f"{metadata['summary']} (risk {metadata['risk_score']} {metadata['risk_level']}, severity set by the rule)"
    )
    thumbnail = metadata["thumbnail_url"].removeprefix("/api/")  # detections/<id>/thumbnail
    entry_id = next(e.entry_id for e in hass.config_entries.async_entries(DOMAIN) if e is not second_server)
    assert data["data"]["image"].startswith(f"/api/{DOMAIN}/{entry_id}/{thumbnail}?authSig=")
    assert "authSig" not in str(hass.states.get("event.front_door_alert"))  # signed for the push only
    assert data["data"]["tag"] == f"hsi-{alert['id']}"
    assert data["data"]["push"]["interruption-level"] == "critical"
    assert data["data"]["channel"] == "alarm_stream"
    assert [a["action"] for a in data["data"]["actions"]] == [f"HSI_ACK_{alert['id']}", f"HSI_DISMISS_{alert['id']}"]
    await scene.press("HSI_ACK", alert, "acknowledged")

    second = await scene.alert("critical", "Garage")  # critical: no cooldown
    await wait_for(lambda: len(scene.notifications) == 2)
    assert scene.notifications[1].data["title"] == "Garage: Critical alert"
    await scene.press("HSI_DISMISS", second, "dismissed")
    await settle(hass)
    assert len(scene.notifications) == 2


async def test_blueprint_filters_severity_and_cools_down(hass: HomeAssistant, scene: Scene) -> None:
    """Below the minimum severity nothing is sent; after a notification, a high alert within the
    cooldown is skipped, while a critical one still goes through."""
    await scene.alert("medium")
    await settle(hass)  # the condition stopped the run
    assert scene.notifications == []

    high = await scene.alert("high")
    await wait_for(lambda: len(scene.notifications) == 1)
    sent = scene.notifications[0].data
    assert sent["title"] == "Front Door: High alert"
    assert sent["data"]["push"] == {"interruption-level": "time-sensitive"}
    assert sent["data"]["channel"] == DOMAIN
    await scene.press("HSI_ACK", high, "acknowledged")

    await scene.alert("high", "Garage")
    await settle(hass)
    assert len(scene.notifications) == 1  # inside the 10 min cooldown

    await scene.alert("critical", "Garage")
    await wait_for(lambda: len(scene.notifications) == 2)
    assert scene.notifications[1].data["title"] == "Garage: Critical alert"


async def test_blueprint_replaces_the_notification_when_the_ai_text_arrives(
    hass: HomeAssistant, scene: Scene
) -> None:
    """Notify first, enrich after: the alert's notification goes out at once; when the server refines
    the alert with the LLM's text (`alert.updated` keeping the first figures under `initial`, marked
    by `refined_at`), the same
    notification (same tag) is replaced quietly — even inside the cooldown — with no second set of
    buttons. A status change later does not notify again."""
    alert = await scene.alert("high")
    await wait_for(lambda: len(scene.notifications) == 1)
    first = scene.notifications[0].data
    assert first["data"]["alert_once"] is False

    entry = next(e for e in hass.config_entries.async_entries(DOMAIN))
    metadata = alert["metadata"]
    refined_metadata = {
        **metadata,
        "initial": {key: metadata[key] for key in ("risk_score", "risk_level", "summary")},
        "summary": "A man in a dark coat walks up the path and looks through the window.",
        "risk_score": 72,
        "risk_level": "high",
        "analysis_backend": "llama_cpp",
        "refined_at": "2026-01-06T03:00:05+00:00",
    }
    # The message the server publishes when the LLM's assessment arrives (server/alerts/engine.py refine).
    entry.runtime_data.push.async_handle_message(
        "alert.updated",
        {**alert, "status": "delivered", "updated_at": "2026-01-06T03:00:05Z", "metadata": refined_metadata},
    )
    await wait_for(lambda: len(scene.notifications) == 2)
    replaced = scene.notifications[1].data
    assert replaced["data"]["tag"] == first["data"]["tag"] == f"hsi-{alert['id']}"
    assert replaced["message"].startswith("A man in a dark coat walks up the path")
    assert replaced["data"]["alert_once"] is True
    assert replaced["data"]["push"] == {"interruption-level": "passive"}

    # Later updates of the same alert (a status change) are not a refinement: no third notification.
    entry.runtime_data.push.async_handle_message(
        "alert.updated",
        {**alert, "status": "acknowledged", "updated_at": "2026-01-06T03:01:00Z", "metadata": refined_metadata},
    )
    await scene.press("HSI_ACK", alert, "acknowledged")  # the replaced notification's buttons work too
    await settle(hass)
    assert len(scene.notifications) == 2


def _alert_message(alert_id: str, severity: str, **metadata: Any) -> dict[str, Any]:
    """An `alert.created` as the server publishes it (server/alerts/engine.py `_raise`)."""
    return {
        "id": alert_id, "event_id": 1000, "rule_id": None, "severity": severity, "status": "pending",
        "created_at": "2026-12-05T02:00:00Z", "updated_at": "2026-12-05T02:00:00Z", "delivered_at": None,
        "channels": ["ha"], "dedup_key": None,
        "metadata": {"camera_id": "front_door", "summary": "Person at the door", "risk_score": 90,
                     "risk_level": severity, "severity_source": "risk", "object_types": ["person"],
                     "thumbnail_url": None, **metadata},
    }


async def test_every_alert_of_a_burst_is_notified(hass: HomeAssistant, scene: Scene) -> None:
    """A review's finding: each notified alert kept its run waiting up to 30 minutes for a button, and
    the blueprint allows 20 runs at once, so the 21st alert in that time was not notified at all,
    critical ones included. The runs now end once the notification is sent."""
    push = hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.push
    for n in range(25):
        push.async_handle_message("alert.created", _alert_message(str(uuid.uuid4()), "critical"))
        await wait_for(lambda n=n: len(scene.notifications) == n + 1, 10)
    await settle(hass)
    assert len({call.data["data"]["tag"] for call in scene.notifications}) == 25


def _refined_message(alert: dict[str, Any], summary: str) -> dict[str, Any]:
    """The `alert.updated` of `alert` with the AI's text (server/alerts/engine.py refine)."""
    metadata = alert["metadata"]
    return {
        **alert,
        "status": "delivered",
        "updated_at": "2026-12-05T02:00:09Z",
        "metadata": {
            **metadata,
            "initial": {key: metadata[key] for key in ("risk_score", "risk_level", "summary")},
            "summary": summary,
            "refined_at": "2026-12-05T02:00:09+00:00",
        },
    }


async def test_the_ai_text_of_an_alert_the_cooldown_held_back_is_held_back_too(
    hass: HomeAssistant, scene: Scene
) -> None:
    """A review's finding: the AI text of an alert always went out, as the replacement of its first
    notification, also when the cooldown had held that one back: a busy camera flooded the phone a
    few seconds behind each alert, the cooldown notwithstanding. Only the alert notified is updated."""
    push = hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.push
    notified, held = (_alert_message(str(uuid.uuid4()), "high") for _ in range(2))
    push.async_handle_message("alert.created", notified)
    await wait_for(lambda: len(scene.notifications) == 1)
    push.async_handle_message("alert.created", held)
    await settle(hass)
    assert len(scene.notifications) == 1  # inside the cooldown
    push.async_handle_message("alert.updated", _refined_message(held, "A man walks past the gate."))
    await settle(hass)
    assert len(scene.notifications) == 1, scene.notifications[-1].data
    # The alert notified gets its AI text (the camera's state between that alert and its AI text is
    # another alert's, which leaves unknown whether it went out: taken as notified).
    push.async_handle_message("alert.updated", _refined_message(notified, "A woman rings the bell."))
    await wait_for(lambda: len(scene.notifications) == 2)
    assert scene.notifications[1].data["data"]["tag"] == f"hsi-{notified['id']}"
    assert scene.notifications[1].data["message"].startswith("A woman rings the bell.")


async def test_an_alert_the_ai_raises_past_the_minimum_is_notified_as_new(
    hass: HomeAssistant, scene: Scene
) -> None:
    """A review's finding: a refinement was always sent as the quiet replacement of a notification,
    also when the first one never went out (its severity, from the rules scorer's risk, was below the
    minimum): the user heard of a critical alert by a silent push whose buttons did nothing. It is
    now a new notification that sounds, and its buttons act."""
    await scene.server.request(
        "PATCH", f"/api/alert-rules/{scene.rule['id']}", json_body={"severity": None}, expect=200
    )
    before = {a["id"] for a in await scene.server.items("/api/alerts?limit=100")}
    await scene.server.upload_and_wait("Front Door", "front_door")

    async def new_alert() -> dict[str, Any] | None:
        fresh = [a for a in await scene.server.items("/api/alerts?limit=100") if a["id"] not in before]
        return fresh[0] if fresh else None

    alert = await eventually(new_alert, 30, "an alert with the severity of the risk")
    assert alert["severity"] in ("low", "medium") and alert["metadata"]["severity_source"] == "risk"
    await wait_for(lambda: hass.states.get("event.front_door_alert").attributes.get("alert_id") == alert["id"])
    await settle(hass)
    assert scene.notifications == []  # below the minimum (high)

    metadata = alert["metadata"]
    refined = {
        **alert,
        "severity": "critical",
        "updated_at": "2026-12-05T02:00:09Z",
        "metadata": {
            **metadata,
            "initial": {key: metadata[key] for key in ("risk_score", "risk_level", "summary")},
            "summary": "A man in a dark coat tries the handle of the front door.",
            "risk_score": 93,
            "risk_level": "critical",
            "refined_at": "2026-12-05T02:00:09+00:00",
        },
    }
    hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.push.async_handle_message(
        "alert.updated", refined
    )
    await wait_for(lambda: len(scene.notifications) == 1)
    sent = scene.notifications[0].data["data"]
    assert sent["alert_once"] is False and sent["push"]["interruption-level"] == "critical"
    await scene.press("HSI_ACK", alert, "acknowledged")
