"""The notification blueprint: a valid HA blueprint that notifies, filters, cools down, and acts."""

from __future__ import annotations

from pathlib import Path
import shutil

from homeassistant.components import automation
from homeassistant.components.blueprint import models, schemas
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from .fake_server import FakeServer

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
        "alert_entities", "notify_device", "min_severity", "cooldown", "critical_alerts", "action_timeout",
    }


async def test_blueprint_notifies_and_wires_buttons(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, tmp_path: Path
) -> None:
    """Critical alert → critical push with thumbnail; Acknowledge acknowledges; low and cooled-down skip."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints/automation/home_security_intelligence/notify_alert.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target)
    phone_entry = MockConfigEntry(domain="mobile_app")
    phone_entry.add_to_hass(hass)
    phone = dr.async_get(hass).async_get_or_create(
        config_entry_id=phone_entry.entry_id, identifiers={("mobile_app", "pixel")}, name="Pixel 9"
    )
    notifications: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_pixel_9")
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
    coordinator = loaded_entry.runtime_data

    coordinator.async_handle_message("alert.created", server.make_alert("lo", 10, "front_door", "medium"))
    await hass.async_block_till_done()
    assert notifications == []  # below the minimum severity

    coordinator.async_handle_message("alert.created", server.make_alert("a1", 10, "front_door", "critical"))
    await hass.async_block_till_done()
    assert len(notifications) == 1
    data = notifications[0].data
    assert data["title"] == "Front door: Critical alert"
    assert data["message"].startswith("Person at the front door")
    assert "?authSig=" in data["data"]["image"]
    assert data["data"]["push"]["interruption-level"] == "critical"
    assert data["data"]["channel"] == "alarm_stream"
    assert [a["action"] for a in data["data"]["actions"]] == ["HSI_ACK_a1", "HSI_DISMISS_a1"]

    # A high alert right after is inside the cooldown; critical ones always pass.
    coordinator.async_handle_message("alert.created", server.make_alert("h1", 10, "garage", "high"))
    await hass.async_block_till_done()
    assert len(notifications) == 1

    hass.bus.async_fire("mobile_app_notification_action", {"action": "HSI_ACK_a1"})
    await hass.async_block_till_done()
    assert server.alerts["a1"]["status"] == "acknowledged"
