"""A camera's object filters and a zone's loitering time from Home Assistant, against a real server.

The server is the source of truth: every check reads the server's own API.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .hsi_server import HSIServer
from .test_subentries import (
    ZONE_INPUT,
    LoadEntry,
    _filters_form,
    _reconfigure,
    _start,
    _subentries,
    _suggested,
    _with_camera,
)

MASK_TEXT = "0.6,0 1,0 1,0.3 0.6,0.3"
MASK = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.3], [0.0, 0.3]]
CLASSES_TEXT = "person: min_area=0.01 min_score=0.6\n*: max_ratio=4"


async def test_filters_create_reconfigure_delete(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Filters set in HA land on the camera, the edit form starts from the server's, unreadable
    text is refused locally and invalid values by the server, and removing the subentry clears them."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _filters_form(hass, entry, "front_door")
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "filters")
    assert _suggested(result) == {"classes": "", "masks": ""}  # the server's: none yet
    flow_id = result["flow_id"]

    result = await hass.config_entries.subentries.async_configure(
        flow_id, {"classes": "person min_area 0.01"}
    )
    assert result["errors"] == {"base": "invalid_filters"}
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {"classes": "\nperson: min_size=3"}  # no such bound
    )
    assert result["errors"] == {"base": "invalid_filters"}
    assert "min_size" in result["description_placeholders"]["message"]
    result = await hass.config_entries.subentries.async_configure(
        flow_id, {"masks": "0,0 1,1 1,0 0,1"}  # crosses itself
    )
    assert result["errors"] == {"masks": "invalid_value"}  # on the field; the server names the mask and its fault
    assert "crosses itself" in result["description_placeholders"]["message"]
    assert await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200) == {
        "classes": {}, "masks": []
    }

    result = await hass.config_entries.subentries.async_configure(
        flow_id, {"classes": CLASSES_TEXT, "masks": MASK_TEXT}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    stored = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert stored == {
        "classes": {"person": {"min_area": 0.01, "min_score": 0.6}, "*": {"max_ratio": 4.0}},
        "masks": [[[0.6, 0.0], [1.0, 0.0], [1.0, 0.3], [0.6, 0.3]]],
    }
    (subentry,) = _subentries(entry, "object_filters")
    assert subentry.unique_id == "filters:front_door" and subentry.title == "Front Door filters"

    # Changed through the API meanwhile: the edit form shows the server's version.
    await hsi_server.request(
        "PUT", "/api/cameras/front_door/filters", json_body={"classes": {"car": {"min_score": 0.7}}}, expect=200
    )
    result = await _reconfigure(hass, entry, subentry)
    assert "camera_id" not in [str(k) for k in result["data_schema"].schema]
    assert _suggested(result) == {"classes": "car: min_score=0.7", "masks": ""}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"classes": "dog: min_area=0.05", "masks": MASK_TEXT}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert stored["classes"] == {"dog": {"min_area": 0.05}} and len(stored["masks"]) == 1

    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200) == {
        "classes": {}, "masks": []
    }


async def test_zone_loitering_from_the_zone_form(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The zone form sets and clears the loitering time and classes on the server."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _start(hass, entry, "zone")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**ZONE_INPUT, "loitering_seconds": 60, "loitering_classes": ["person", "Car"]}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    (zone,) = await hsi_server.items("/api/cameras/front_door/zones")
    assert (zone["loitering_seconds"], zone["loitering_classes"]) == (60, ["person", "car"])

    (subentry,) = _subentries(entry, "zone")
    result = await _reconfigure(hass, entry, subentry)
    suggested: dict[str, Any] = _suggested(result)
    assert (suggested["loitering_seconds"], suggested["loitering_classes"]) == (60, ["person", "car"])
    edit = {k: v for k, v in ZONE_INPUT.items() if k != "camera_id"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "loitering_seconds": 0}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful", result.get("errors")
    stored = await hsi_server.request("GET", f"/api/cameras/front_door/zones/{zone['id']}", expect=200)
    assert stored["loitering_seconds"] is None and stored["loitering_classes"] is None


async def test_filters_flow_without_cameras(hass: HomeAssistant, load_entry: LoadEntry) -> None:
    """A server without cameras has nothing to filter."""
    entry = await load_entry()
    result = await _start(hass, entry, "object_filters")
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "no_cameras"


async def test_a_camera_with_filters_is_not_offered_again(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A review's finding: the form offered a camera that had its filters subentry already, wrote the
    new filters to the server, and only then Home Assistant refused the subentry (same unique id,
    raised as an error in HA 2025.4): the camera's filters were replaced behind the existing subentry.
    Now the camera is not offered (a form answered for it anyway gets a field error; one whose camera got
    its subentry meanwhile ends, nothing written), and with every camera filtered the flow ends at once."""
    await _with_camera(hsi_server)
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Garage"}, expect=201)
    entry = await load_entry()
    stale = await _start(hass, entry, "object_filters")  # a form opened before the first one ends
    picked = await _filters_form(hass, entry, "front_door")
    late = await _filters_form(hass, entry, "front_door")  # both past the camera's choice
    result = await hass.config_entries.subentries.async_configure(
        picked["flow_id"], {"classes": "person: min_score=0.6"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    stored = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)

    result = await hass.config_entries.subentries.async_configure(late["flow_id"], {"classes": "dog: min_area=0.2"})
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "camera_filtered")
    result = await hass.config_entries.subentries.async_configure(stale["flow_id"], {"camera_id": "front_door"})
    assert result["errors"] == {"camera_id": "camera_filtered"}
    assert await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200) == stored
    (subentry,) = _subentries(entry, "object_filters")
    assert subentry.data["classes"] == stored["classes"]
    offered = [o["value"] for o in result["data_schema"].schema["camera_id"].config["options"]]
    assert offered == ["garage"]

    result = await hass.config_entries.subentries.async_configure(stale["flow_id"], {"camera_id": "garage"})
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {"classes": "dog: min_area=0.2"})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await _start(hass, entry, "object_filters")
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "every_camera_filtered")


async def test_new_filters_start_from_what_the_server_holds(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A review's finding: a camera's mask set through the API was erased when the user added a filters
    entry for it in HA (the camera was picked on the same form, which could not show what the server
    held, and the save replaces everything). The camera is picked first, then its filters are shown as
    the server holds them."""
    await _with_camera(hsi_server)
    await hsi_server.request("PUT", "/api/cameras/front_door/filters", json_body={"masks": [MASK]}, expect=200)
    entry = await load_entry()
    result = await _filters_form(hass, entry, "front_door")
    form = _suggested(result)
    assert form["masks"] == "0,0 0.3,0 0.3,0.3 0,0.3", form
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**form, "classes": "person: min_score=0.6"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    stored = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert stored == {"classes": {"person": {"min_score": 0.6}}, "masks": [MASK]}
