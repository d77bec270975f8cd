"""The notification blueprint on alerts a review found it mishandled: an unscored one, and one the AI
raised to critical.

Alerts come from the integration's push channel as the server publishes them (the same messages as
test_blueprint.py feeds); the phone is a stand-in recording its notify calls."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
import shutil
from typing import Any
import uuid

import pytest

from homeassistant.components import automation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .hsi_server import HSIServer
from .test_blueprint import BLUEPRINT, LoadEntry, Scene, _alert_message

COOLDOWN = 6


@pytest.fixture
async def quick_scene(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, tmp_path: Path
) -> AsyncGenerator[Scene]:
    """As test_blueprint's scene (two cameras, ≥ high, a phone) with a cooldown of a few seconds."""
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
                        "cooldown": COOLDOWN,
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()
    built = Scene(hass, hsi_server, notifications)
    built.rule = rule
    yield built
    await hass.services.async_call(automation.DOMAIN, "turn_off", {"entity_id": "all"}, blocking=True)


def _push(hass: HomeAssistant) -> Any:
    return hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.push


def _refinement(alert: dict[str, Any], severity: str, risk_level: str) -> dict[str, Any]:
    """The `alert.updated` the server publishes when the LLM's text arrives (engine.py refine)."""
    metadata = alert["metadata"]
    return {
        **alert,
        "severity": severity,
        "status": "delivered",
        "updated_at": "2026-12-05T02:00:09Z",
        "metadata": {
            **metadata,
            "initial": {key: metadata[key] for key in ("risk_score", "risk_level", "summary")},
            "summary": "A man in a dark coat tries the handle of the front door.",
            "risk_score": 95,
            "risk_level": risk_level,
            "refined_at": "2026-12-05T02:00:09+00:00",
        },
    }


async def test_an_unscored_alert_is_notified_without_none(
    hass: HomeAssistant, quick_scene: Scene
) -> None:
    """An alert on an event not scored (`risk_score` and `risk_level` null, the severity set by the
    rule) read "(risk None, ...)": it says "not scored"."""
    alert = _alert_message(
        str(uuid.uuid4()), "critical", risk_score=None, risk_level=None, summary=None,
        severity_source="rule",
    )
    _push(hass).async_handle_message("alert.created", alert)
    await wait_for(lambda: len(quick_scene.notifications) == 1, 10)
    message = quick_scene.notifications[0].data["message"]
    assert "None" not in message and "(not scored, severity set by the rule)" in message, message


async def test_an_alert_the_ai_raises_to_critical_sounds_as_critical(
    hass: HomeAssistant, quick_scene: Scene
) -> None:
    """Critical alerts sound even in Do Not Disturb. A notified high alert the AI's text raised to
    critical replaced the notification passively (iOS) and with alert_once (Android): at night the
    critical alert was never heard. It sounds as a critical alert now, under the same tag."""
    push = _push(hass)
    alert = _alert_message(str(uuid.uuid4()), "high")  # severity_source "risk"
    push.async_handle_message("alert.created", alert)
    await wait_for(lambda: len(quick_scene.notifications) == 1, 10)
    push.async_handle_message("alert.updated", _refinement(alert, "critical", "critical"))
    await wait_for(lambda: len(quick_scene.notifications) == 2, 10)
    sent = quick_scene.notifications[1].data
    assert sent["title"].endswith("Critical alert")
    assert sent["data"]["push"].get("interruption-level") == "critical", sent["data"]
    assert sent["data"]["alert_once"] is False, sent["data"]
    assert sent["data"]["tag"] == f"hsi-{alert['id']}"
