"""End to end: a real server (its own venv, embedded stores, HOG, a tiny GGUF through llama.cpp) and
Home Assistant with the integration; a photo dropped into a camera folder becomes a device, a risk
score, an alert event entity firing and a bus event — with nothing in between imitated."""

from __future__ import annotations

from pathlib import Path
import subprocess
from typing import Any

import pytest

from custom_components.home_security_intelligence.const import DOMAIN, EVENT_ALERT
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import state, wait_for
from .hsi_server import REPO, SERVER_PYTHON, HSIServer, eventually


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight llama GGUF written by the tests' own builder in the server's venv."""
    path = tmp_path_factory.mktemp("llm") / "tiny.gguf"
    subprocess.run(
        [
            str(SERVER_PYTHON),
            "-c",
            "import sys; from pathlib import Path; from tests.support.gguf import write_tiny_gguf; "
            "write_tiny_gguf(Path(sys.argv[1]))",
            str(path),
        ],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture
def server_settings(tiny_gguf: Path) -> dict[str, str]:
    """The LLM path for real: llama.cpp on the tiny model, scoring every event."""
    return {"HSI_LLM": "llama_cpp", "HSI_LLM_MODEL": str(tiny_gguf)}


async def test_a_dropped_photo_reaches_home_assistant(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry
) -> None:
    """Upload → detections → LLM-scored event → alert, seen as HA devices, states and events."""
    health = await hsi_server.request("GET", "/api/system/health", key=None)
    assert health["components"]["analyzer"]["backend"] == "llama_cpp"

    # The user adds an alert rule in Home Assistant; it lands on the server.
    flow = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "alert_rule"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"name": "Anything", "enabled": True, "severity": "critical", "cooldown_seconds": 0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert [rule["name"] for rule in await hsi_server.items("/api/alert-rules")] == ["Anything"]

    alerts_on_bus: list[Event[Any]] = []

    @callback
    def on_alert(event: Event[Any]) -> None:
        alerts_on_bus.append(event)

    hass.bus.async_listen(EVENT_ALERT, on_alert)
    entry = hass.config_entries.async_get_entry(loaded_entry.entry_id)
    assert entry is not None
    await wait_for(lambda: entry.runtime_data.push.connected)

    # A camera uploads a photo into its folder.
    hsi_server.upload("Back Yard")

    # The event is written at once with the rules scorer's assessment; the LLM's refines it after.
    async def refined_event() -> dict[str, Any] | None:
        events = await hsi_server.items("/api/events?camera_id=back_yard")
        return events[0] if events and events[0]["analysis_backend"] != "rules" else None

    event = await eventually(refined_event, 90, f"a refined event\n{hsi_server.log_tail()}")
    assert event["analysis_backend"] == "llama_cpp"
    assert "person" in event["object_types"]

    # The camera device appeared at runtime, under the hub.
    registry = dr.async_get(hass)
    await wait_for(
        lambda: registry.async_get_device(identifiers={(DOMAIN, f"{hsi_server.instance_id}_back_yard")})
        is not None
    )
    device = registry.async_get_device(identifiers={(DOMAIN, f"{hsi_server.instance_id}_back_yard")})
    hub = registry.async_get_device(identifiers={(DOMAIN, hsi_server.instance_id)})
    assert device is not None and hub is not None and device.via_device_id == hub.id

    # Its risk sensors show the LLM's score and the band derived from it.
    await wait_for(lambda: state(hass, "sensor.back_yard_risk_score") == str(event["risk_score"]), 30)
    assert state(hass, "sensor.back_yard_risk_level") == event["risk_level"]

    # The rule raised an alert at once (the rules' figures), then it was refined with the LLM's: the
    # camera's event entity fired for both, the bus carried both, the second marked as the refinement.
    await wait_for(lambda: [e for e in alerts_on_bus if e.data["action"] == "refined"], 60)
    (server_alert,) = await hsi_server.items("/api/alerts")
    actions = [e.data["action"] for e in alerts_on_bus]
    assert actions.index("created") < actions.index("refined")
    payload = alerts_on_bus[actions.index("created")].data
    assert payload["id"] == server_alert["id"] and payload["event_id"] == event["id"]
    assert payload["severity"] == "critical" and payload["refined"] is False
    refined = alerts_on_bus[actions.index("refined")].data
    assert refined["summary"] == event["summary"] and refined["risk_score"] == event["risk_score"]
    assert refined["metadata"]["initial"]["risk_score"] == payload["risk_score"]
    fired = hass.states.get("event.back_yard_alert")
    assert fired is not None and fired.attributes["event_type"] == "critical"
    assert fired.attributes["alert_id"] == server_alert["id"] and fired.attributes["refined"] is True
    assert fired.attributes["risk_score"] == event["risk_score"]
