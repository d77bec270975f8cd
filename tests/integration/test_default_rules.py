"""A fresh server alerts from the first minute: its default rules appear in Home Assistant as alert rule
subentries, a person photo dropped at night raises an alert nobody wrote a rule for, with the event's
risk level as its severity, and a default rule deleted in Home Assistant stays deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.home_security_intelligence.const import EVENT_ALERT, SUBENTRY_ALERT_RULE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import state, wait_for
from .hsi_server import HSIServer, eventually
from .test_subentries import _reconfigure, _suggested

DEFAULT_RULES = ["High risk", "Person at night"]


def night_zone(now: datetime) -> str:
    """A real IANA zone (a fixed offset, `Etc/GMT±N`) where it is about 02:00 now: the test sets the
    server's home zone (`HSI_TIMEZONE`) there, which is what "the clock at night" means to it."""
    offset = (2 - now.hour) % 24  # hours east of UTC that make 02:xx
    if offset > 14:
        offset -= 24
    # The Etc zones are named the POSIX way round: Etc/GMT-3 is three hours *east* of Greenwich.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


HOME_ZONE = night_zone(datetime.now(UTC))


@pytest.fixture
def server_settings() -> dict[str, str]:
    """The home's zone is one where it is night now."""
    return {"HSI_TIMEZONE": HOME_ZONE}


@pytest.fixture
def server_default_rules() -> bool:
    """A fresh server, as it starts for a user: with its default rules."""
    return True


def test_the_night_zone_is_night() -> None:
    from zoneinfo import ZoneInfo

    for hour in range(24):
        moment = datetime(2026, 12, 3, hour, 30, tzinfo=UTC)
        assert moment.astimezone(ZoneInfo(night_zone(moment))).hour == 2


async def test_a_person_at_night_alerts_with_no_rule_written_by_the_user(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    rules = {subentry.title: subentry for subentry in loaded_entry.subentries.values()
             if subentry.subentry_type == SUBENTRY_ALERT_RULE}
    assert sorted(rules) == DEFAULT_RULES
    night = rules["Person at night"].data
    assert night["enabled"] and night["severity"] is None and night["object_types"] == ["person"]
    assert (night["schedule"]["start_time"], night["schedule"]["end_time"]) == ("22:00", "06:00")

    alerts: list[Event[Any]] = []

    @callback
    def on_alert(event: Event[Any]) -> None:
        alerts.append(event)

    hass.bus.async_listen(EVENT_ALERT, on_alert)
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    assert "person" in event["object_types"]

    await wait_for(lambda: alerts, 60)
    payload = alerts[0].data
    assert payload["event_id"] == event["id"] and payload["camera_id"] == "front_door"
    assert payload["metadata"]["rule_name"] == "Person at night"
    # No severity of the rule's own: the alert's is the event's risk level, and says so.
    assert payload["severity"] == event["risk_level"] == payload["risk_level"]
    assert payload["severity_source"] == "risk"
    fired = hass.states.get("event.front_door_alert")
    assert fired is not None and fired.attributes["event_type"] == event["risk_level"]
    assert fired.attributes["risk_level"] == event["risk_level"]


async def test_default_rules_are_switched_edited_and_deleted_in_home_assistant_for_good(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    registry = er.async_get(hass)
    switches = {
        entry.original_name or entry.entity_id: entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, loaded_entry.entry_id)
        if entry.domain == "switch"
    }
    assert len(switches) == 2 and all(state(hass, entity_id) == "on" for entity_id in switches.values())

    # Deleting the subentry deletes the server's rule ...
    night = next(s for s in loaded_entry.subentries.values() if s.title == "Person at night")
    assert hass.config_entries.async_remove_subentry(loaded_entry, night.subentry_id)
    await hass.async_block_till_done()

    async def night_rule_gone() -> bool:
        return [rule["name"] for rule in await hsi_server.items("/api/alert-rules")] == ["High risk"]

    await eventually(night_rule_gone, 30, "the rule deleted on the server")
    # ... and a restart (which runs the migrations again) does not bring it back.
    await hsi_server.stop()
    await hsi_server.start()
    assert await night_rule_gone()
    await loaded_entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert sorted(s.title for s in loaded_entry.subentries.values()) == ["High risk"]


async def test_editing_a_default_rule_keeps_its_schedule_in_the_homes_time_zone(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """A review's finding: a default rule's schedule has no time zone of its own (night where the
    home is: `HSI_TIMEZONE`); editing anything else of it (the cooldown) pinned it to Home Assistant's
    zone, which the form never showed. An empty zone now means the home's, for any rule."""
    assert hass.config.time_zone != HOME_ZONE
    (night,) = [s for s in loaded_entry.subentries.values()
                if s.subentry_type == SUBENTRY_ALERT_RULE and s.title == "Person at night"]
    before = await hsi_server.request("GET", f"/api/alert-rules/{night.unique_id}", expect=200)
    assert not before["schedule"].get("timezone")

    result = await _reconfigure(hass, loaded_entry, night)
    form = _suggested(result)
    assert "timezone" not in form
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**form, "cooldown_seconds": 60}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    after = await hsi_server.request("GET", f"/api/alert-rules/{night.unique_id}", expect=200)
    assert after["cooldown_seconds"] == 60
    assert after["schedule"] == before["schedule"]  # HA's zone before the change

