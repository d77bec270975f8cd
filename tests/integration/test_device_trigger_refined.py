"""The device trigger "an alert of at least this severity on this camera" on an alert the AI raised.

The finding (a review, then tried): the trigger took new alerts only, so an alert first raised medium
that the AI's text made critical never fired "Alert >= high", though the blueprint notifies it then."""

from __future__ import annotations

import uuid

from homeassistant.core import HomeAssistant
from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import HSIServer
from .test_blueprint import _alert_message
from .test_events_triggers import LoadEntry, _alert_automation, _create_camera, _device, _record


async def test_the_trigger_fires_once_when_the_ai_raises_an_alert_past_the_minimum(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Once: the refinement of an alert that was already at or above the minimum fires nothing."""
    await _create_camera(hsi_server, "Front Door")
    await load_entry()
    calls = _record(hass)
    await _alert_automation(
        hass, {"device_id": _device(hass, hsi_server, "front_door").id, "min_severity": "high"}
    )
    push = hass.config_entries.async_loaded_entries(DOMAIN)[0].runtime_data.push
    alert = _alert_message(str(uuid.uuid4()), "medium")  # severity from the risk
    push.async_handle_message("alert.created", alert)
    await hass.async_block_till_done()
    assert calls == []  # below the minimum

    metadata = alert["metadata"]
    push.async_handle_message(
        "alert.updated",
        {
            **alert,
            "severity": "critical",
            "status": "delivered",
            "updated_at": "2026-12-05T02:00:09Z",
            "metadata": {
                **metadata,
                "initial": {key: metadata[key] for key in ("risk_score", "risk_level", "summary")},
                "summary": "A man in a dark coat tries the handle of the front door.",
                "risk_score": 93,
                "risk_level": "critical",
                "refined_at": "2026-12-05T02:00:09+00:00",
            },
        },
    )
    await hass.async_block_till_done()
    assert [call.data["alert"] for call in calls] == [alert["id"]]
    # An alert at the minimum from the start fired when raised: its refinement fires nothing more.
    high = _alert_message(str(uuid.uuid4()), "high")
    push.async_handle_message("alert.created", high)
    push.async_handle_message(
        "alert.updated",
        {**high, "severity": "critical", "updated_at": "2026-12-05T02:00:09Z",
         "metadata": {**high["metadata"], "initial": {"risk_level": "high"}, "risk_level": "critical",
                      "refined_at": "2026-12-05T02:00:09+00:00"}},
    )  # fmt: skip
    await hass.async_block_till_done()
    assert [call.data["alert"] for call in calls] == [alert["id"], high["id"]]
