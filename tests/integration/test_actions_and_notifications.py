"""The actions' values, and the notification blueprint: a date-time no calendar has is a validation error, a
query the server would refuse is refused by the action, the AI's text replaces a notification whatever
severity it gives, and notifications name the camera as the user renamed it."""

from __future__ import annotations

import uuid

import pytest
import voluptuous as vol

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.helpers import camera_identifier

from .conftest import wait_for
from .test_blueprint import Scene, _alert_message, scene, second_server, settle  # noqa: F401 (fixtures)
from .test_blueprint_refined_alerts import _push, _refinement, quick_scene  # noqa: F401


async def test_get_events_with_a_far_future_until_is_a_validation_error(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """`until: 9999-12-31 23:00:00` from the date-time picker ("everything up to forever") in a time
    zone behind UTC: the schema's conversion to UTC overflows, and the user gets an unhandled
    OverflowError ("Unknown error" in the UI, a traceback in the log) instead of a validation error."""
    assert hass.config.time_zone != "UTC"
    for data in ({"until": "9999-12-31 23:00:00"}, {"since": "0001-01-01T00:00:00+05:00"}):
        with pytest.raises(vol.Invalid, match="date-time out of range"):
            await hass.services.async_call(DOMAIN, "get_events", data, blocking=True, return_response=True)


async def test_a_lowered_ai_assessment_replaces_the_notification(
    hass: HomeAssistant,
    quick_scene: Scene,  # noqa: F811
) -> None:
    """Notify first, enrich after: a high alert is notified at once; the AI then finds it harmless
    (severity follows the risk: low). The phone keeps showing "High alert" with the rules' text and
    live buttons: the AI's text never reaches it, although the docs say the notification of that
    alert is replaced when the AI's text arrives."""
    push = _push(hass)
    alert = _alert_message(str(uuid.uuid4()), "high")  # severity_source "risk"
    push.async_handle_message("alert.created", alert)
    await wait_for(lambda: len(quick_scene.notifications) == 1, 10)
    lowered = _refinement(alert, "low", "low")
    lowered["metadata"]["summary"] = "A cat walks across the lawn."
    lowered["metadata"]["risk_score"] = 5
    push.async_handle_message("alert.updated", lowered)
    await settle(hass)
    assert len(quick_scene.notifications) == 2, (
        "the phone still shows the first notification ("
        + quick_scene.notifications[0].data["title"]
        + ": "
        + quick_scene.notifications[0].data["message"]
        + ") after the AI assessed the alert as low risk ('A cat walks across the lawn.')"
    )
    assert quick_scene.notifications[1].data["data"]["tag"] == f"hsi-{alert['id']}"


async def test_notification_title_uses_the_name_the_user_gave_the_camera(
    hass: HomeAssistant,
    quick_scene: Scene,  # noqa: F811
) -> None:
    """The user renamed the camera device "Front Door" to "Porch" in Home Assistant; the
    notification still says "Front Door: High alert" (the blueprint reads `name`, not `name_by_user`)."""
    entry = hass.config_entries.async_loaded_entries(DOMAIN)[0]
    registry = dr.async_get(hass)
    device = registry.async_get_device(
        identifiers={camera_identifier(entry.runtime_data.instance_id, "front_door")}
    )
    assert device is not None
    registry.async_update_device(device.id, name_by_user="Porch")
    _push(hass).async_handle_message("alert.created", _alert_message(str(uuid.uuid4()), "high"))
    await wait_for(lambda: len(quick_scene.notifications) == 1, 10)
    title = quick_scene.notifications[0].data["title"]
    assert title.startswith("Porch"), f"notification title {title!r} ignores the device's new name 'Porch'"


async def test_a_long_search_query_is_refused_by_the_action_itself(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """A 600-character query passed the action's schema and the server refused it, naming a field `q`
    the action does not have; the action refuses it, naming `query`."""
    with pytest.raises(vol.Invalid, match="query"):
        await hass.services.async_call(
            DOMAIN, "search_events", {"query": "door " * 120}, blocking=True, return_response=True
        )
