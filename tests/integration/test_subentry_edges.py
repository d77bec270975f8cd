"""Config and subentry flows at their edges: ids that collide, values only the server's range takes,
a removal while the server is away, a discovery waiting while the user adds the server by hand.

Against the real server of the suite (tests/integration/hsi_server.py); every check of what a flow
did reads the server's own API.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER, ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import HSIServer
from .test_config_flow import SETUP, _discovery
from .test_subentries import (
    LoadEntry,
    _filters_form,
    _reconfigure,
    _start,
    _subentries,
    _suggested,
    _with_camera,
)

SQUARE = "0.1,0.1 0.5,0.1 0.5,0.5 0.1,0.5"


async def test_zone_whose_id_is_a_filtered_camera_id(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Zone ids are `<camera>_<name>` slugs and camera ids are slugs of their names, so a zone
    "Side" of camera "Garage" has the id `garage_side`, which is also the id of a camera "Garage
    Side". The object filters subentry of that camera has the camera id as its unique id, and Home
    Assistant 2025.4 refuses a second subentry with the same unique id whatever its type: the zone
    is made on the server, its subentry refused (flow aborts "already_configured"), and every
    later sync (setup included) raises on importing it."""
    await _with_camera(hsi_server, "Garage")
    await _with_camera(hsi_server, "Garage Side")
    entry = await load_entry()

    result = await _filters_form(hass, entry, "garage_side")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"classes": "person: min_score=0.6"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result

    result = await _start(hass, entry, "zone")
    try:
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {
                "camera_id": "garage",
                "name": "Side",
                "zone_type": "other",
                "coordinates": SQUARE,
                "shape": "polygon",
                "enabled": True,
                "priority": 0,
            },
        )
    except Exception as err:  # noqa: BLE001 - what the user gets is a 500
        raise AssertionError(f"the zone flow crashed: {err!r}") from err
    await hass.async_block_till_done()
    zones = await hsi_server.items("/api/cameras/garage/zones")
    assert [zone["id"] for zone in zones] == ["garage_side"]
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert [s.unique_id for s in _subentries(entry, "zone")] == ["garage_side"]

    # And the entry still sets up with both (the setup's sync imports nothing twice).
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_filters_removed_while_the_server_is_away(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Removing a camera's object filters subentry clears its filters on the server. When the
    server is away at that moment the warning says the filters "will be imported again", but filters
    are not mirrored: the subentry is gone for good and the server keeps filtering (and masking)
    the camera's detections, with nothing left in Home Assistant to show or remove them."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _filters_form(hass, entry, "front_door")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"classes": "person: min_score=0.6", "masks": SQUARE},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    (sub,) = _subentries(entry, "object_filters")

    await hsi_server.stop()
    hass.config_entries.async_remove_subentry(entry, sub.subentry_id)
    await hass.async_block_till_done()
    await hsi_server.start()
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    # The server answers again: the clearing is tried again, and works.
    filters = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert not filters.get("classes") and not filters.get("masks"), (
        f"the server keeps {filters} and Home Assistant shows no filters subentry"
    )
    # Nothing is left to clear: a reload (Home Assistant restarting) brings nothing back.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _subentries(entry, "object_filters") == []
    filters = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert not filters.get("classes") and not filters.get("masks")


async def test_filters_subentries_of_an_older_release_get_their_prefixed_unique_id(
    hass: HomeAssistant, hsi_server: HSIServer, config_entry: MockConfigEntry
) -> None:
    """Entries made before 1.2 named a filters subentry by its camera id alone; the migration prefixes
    it, so a zone of the same id (camera "Garage", zone "Side") can be imported next to it."""
    await _with_camera(hsi_server, "Garage")
    await _with_camera(hsi_server, "Garage Side")
    await hsi_server.request(
        "PUT",
        "/api/cameras/garage_side/filters",
        json_body={"classes": {"car": {"min_score": 0.7}}},
        expect=200,
    )
    await hsi_server.request(
        "POST",
        "/api/cameras/garage/zones",
        json_body={"name": "Side", "coordinates": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]},
        expect=201,
    )
    old = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=config_entry.data,
        minor_version=1,
        subentries_data=[
            ConfigSubentryData(
                data={"camera_id": "garage_side", "classes": {"car": {"min_score": 0.7}}, "masks": []},
                subentry_type="object_filters",
                title="Garage Side filters",
                unique_id="garage_side",
            )
        ],
    )
    old.add_to_hass(hass)
    assert await hass.config_entries.async_setup(old.entry_id)
    await hass.async_block_till_done()
    assert old.state is ConfigEntryState.LOADED and old.minor_version == 2
    assert [s.unique_id for s in _subentries(old, "object_filters")] == ["filters:garage_side"]
    assert [s.unique_id for s in _subentries(old, "zone")] == ["garage_side"]
    assert await hass.config_entries.async_unload(old.entry_id)


async def test_zone_edit_of_a_server_priority_outside_the_form_range(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The server takes any 32-bit zone priority ("higher first"); the form only 0..100. A zone
    made elsewhere with priority 150 (or -1) is imported, but its edit form, prefilled from the
    server, cannot be saved unchanged: renaming the zone is refused by the form's own validation."""
    await _with_camera(hsi_server)
    await hsi_server.request(
        "POST",
        "/api/cameras/front_door/zones",
        json_body={
            "name": "Gate",
            "coordinates": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]],
            "priority": 150,
        },
        expect=201,
    )
    entry = await load_entry()
    (sub,) = _subentries(entry, "zone")
    result = await _reconfigure(hass, entry, sub)
    suggested: dict[str, Any] = _suggested(result)
    assert suggested["priority"] == 150
    try:
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**suggested, "name": "Front gate"}
        )
    except Exception as err:  # noqa: BLE001 - the frontend shows the schema's refusal
        raise AssertionError(f"the unchanged priority is refused by the form: {err!r}") from err
    assert result["type"] is FlowResultType.ABORT, result
    stored = await hsi_server.request("GET", f"/api/cameras/front_door/zones/{sub.unique_id}", expect=200)
    assert (stored["name"], stored["priority"]) == ("Front gate", 150)


async def test_server_zone_whose_id_is_a_filtered_camera_id_does_not_break_setup(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The same collision from the other side: the zone "Side" of camera "Garage" is drawn on the
    server (its API, the card) while camera "Garage Side" has its filters subentry. Importing the
    zone raises AbortFlow out of the coordinator listener, and at the next setup out of
    `async_setup_entry`: the entry stops loading at all (setup error, no retry)."""
    await _with_camera(hsi_server, "Garage")
    await _with_camera(hsi_server, "Garage Side")
    entry = await load_entry()
    result = await _filters_form(hass, entry, "garage_side")
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], {"masks": SQUARE})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hsi_server.request(
        "POST",
        "/api/cameras/garage/zones",
        json_body={"name": "Side", "coordinates": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]},
        expect=201,
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert [s.unique_id for s in _subentries(entry, "zone")] == ["garage_side"]


async def test_rule_edit_of_a_server_cooldown_beyond_a_day(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The server takes a cooldown of up to 7 days (MAX_COOLDOWN_SECONDS); the form only up to
    86 400 s. A rule with a two-day cooldown made elsewhere cannot be saved unchanged from its edit
    form (renaming it is refused by the form's validation)."""
    rule = await hsi_server.create_rule(name="Shed", cooldown_seconds=2 * 86_400)
    entry = await load_entry()
    (sub,) = _subentries(entry, "alert_rule")
    result = await _reconfigure(hass, entry, sub)
    suggested = _suggested(result)
    assert suggested["cooldown_seconds"] == 2 * 86_400
    try:
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**suggested, "name": "Garden shed"}
        )
    except Exception as err:  # noqa: BLE001 - the frontend shows the schema's refusal
        raise AssertionError(f"the unchanged cooldown is refused by the form: {err!r}") from err
    assert result["type"] is FlowResultType.ABORT, result
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert (stored["name"], stored["cooldown_seconds"]) == ("Garden shed", 2 * 86_400)


async def test_filters_with_a_nan_bound(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """`min_score=nan` (or `inf`) is read as a number by the form (`float()` takes both); Home
    Assistant's JSON turns it into null, so the filters are saved without the bound the user typed,
    with no error. The form should refuse a bound that is not a finite number."""
    await _with_camera(hsi_server)
    entry = await load_entry()
    result = await _filters_form(hass, entry, "front_door")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"classes": "person: min_score=nan"}
    )
    filters = await hsi_server.request("GET", "/api/cameras/front_door/filters", expect=200)
    assert result["type"] is FlowResultType.FORM, f"saved as {filters}"
    assert result["errors"] == {"base": "invalid_filters"}


async def _abort_translated(hass: HomeAssistant, reason: str) -> bool:
    translations = await async_get_translations(hass, "en", "config", {DOMAIN})
    return f"component.{DOMAIN}.config.abort.{reason}" in translations


async def test_user_flow_while_the_add_on_discovery_waits(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """The add-on announced itself (a discovered flow waits for confirmation) and the user adds the
    server by hand instead: the user step aborts with `already_in_progress`, a reason strings.json
    does not have, so the dialog shows the raw key instead of a message."""
    discovered = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(hsi_server.port, hsi_server.api_key)
    )
    assert discovered["step_id"] == "hassio_confirm"
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY or await _abort_translated(hass, result["reason"]), (
        f"untranslated abort {result.get('reason')!r}"
    )


async def test_zone_rename_keeps_its_points(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The edit form writes the zone's points as `{x:g},{y:g}` (six significant digits) and sends
    them back with every save: renaming a zone drawn elsewhere (the API, a drawing tool) moves its
    corners, silently."""
    await _with_camera(hsi_server)
    points = [[0.1234567, 0.2345678], [0.8765432, 0.2345678], [0.8765432, 0.9876543], [0.1234567, 0.9876543]]
    zone = await hsi_server.request(
        "POST",
        "/api/cameras/front_door/zones",
        json_body={"name": "Lawn", "coordinates": points},
        expect=201,
    )
    assert zone["coordinates"] == points
    entry = await load_entry()
    (sub,) = _subentries(entry, "zone")
    result = await _reconfigure(hass, entry, sub)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**_suggested(result), "name": "Back lawn"}
    )
    assert result["type"] is FlowResultType.ABORT, result
    stored = await hsi_server.request("GET", f"/api/cameras/front_door/zones/{zone['id']}", expect=200)
    assert stored["name"] == "Back lawn"
    assert stored["coordinates"] == points


RULE: dict[str, Any] = {"name": "Hooked", "severity": "low", "cooldown_seconds": 0}


async def test_rule_short_webhook_secret_is_shown_on_its_field(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A review's finding: the server refuses a webhook secret under 16 characters (field
    `webhook.secret`); the form's `webhook_secret` field got no error, only "The server refused the rule"."""
    entry = await load_entry()
    result = await _start(hass, entry, "alert_rule")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **RULE,
            "channels": ["ha", "webhook"],
            "webhook_url": "https://hooks.example.com/a",
            "webhook_secret": "short",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"webhook_secret": "invalid_value"}, (
        f"a too-short webhook secret is shown as {result['errors']} instead of on the secret field"
    )


async def test_rule_bad_webhook_url_is_shown_on_its_field(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A review's finding: a webhook URL the server cannot deliver to (field `webhook.url`) got the
    generic form error, not one on the form's `webhook_url` field."""
    entry = await load_entry()
    result = await _start(hass, entry, "alert_rule")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **RULE,
            "channels": ["ha", "webhook"],
            "webhook_url": "ftp://hooks.example.com/a",
            "webhook_secret": "s" * 16,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"webhook_url": "invalid_value"}, (
        f"an undeliverable webhook URL is shown as {result['errors']} instead of on the URL field"
    )


async def test_rule_edit_keeps_webhook_of_a_rule_without_webhook_channel(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """A review's finding: a rule whose webhook (URL + secret) is stored but whose webhook channel is off
    (paused through the API); the edit form shows the URL, the user only renames the rule, and the
    webhook was deleted on the server (the secret, never returned, lost for good)."""
    url = "https://hooks.example.com/paused"
    rule = await hsi_server.create_rule(
        name="Paused hook", channels=["ha"], webhook={"url": url, "secret": "s" * 16}
    )
    assert rule["webhook"] == {"url": url, "has_secret": True}
    entry = await load_entry()
    (subentry,) = _subentries(entry, "alert_rule")
    result = await _reconfigure(hass, entry, subentry)
    edit = _suggested(result)
    assert edit["webhook_url"] == url  # the form shows the webhook as kept
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**edit, "name": "Paused hook v2"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    stored = await hsi_server.request("GET", f"/api/alert-rules/{rule['id']}", expect=200)
    assert stored["name"] == "Paused hook v2"
    assert stored["webhook"] == {"url": url, "has_secret": True}, (
        f"renaming the rule in HA deleted its stored webhook shown on the form (now {stored['webhook']})"
    )
