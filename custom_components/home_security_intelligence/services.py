"""Actions: act on alerts and events, query events and rules, feed any HA camera in.

Registered once in ``async_setup`` (so automations referencing them validate even while a
server is down). Every action takes an optional ``config_entry_id``; with one server it can
be left out. Bad input raises ``ServiceValidationError``, server trouble ``HomeAssistantError``,
both translated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, cast

import voluptuous as vol

from homeassistant.components.camera import async_get_image
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
    split_entity_id,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.util import dt as dt_util, slugify
from homeassistant.util.json import JsonObjectType, JsonValueType

from .api import HSIError, HSINotFoundError
from .api_types import Event, Page, SearchHit
from .const import DOMAIN, SEVERITIES, SIGNED_URL_TTL
from .coordinator import HSICoordinator
from .helpers import camera_of_identifier, translated_error
from .views import media_of_proxy_path

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
# The server's rule for camera ids of /api/ingest (it normalises them: "Back Yard" → back_yard).
CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"

SCHEMA_ENTRY = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})

#: The longest search the server takes (its `q`).
SEARCH_QUERY_MAX = 500


def _as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a date-time no calendar has in UTC (9999-12-31 23:00 in a zone behind UTC, year
    1 ahead of it) is refused as a value, not an OverflowError out of the action."""
    try:
        return dt_util.as_utc(moment)
    except OverflowError as err:
        raise vol.Invalid("date-time out of range") from err


SCHEMA_ALERT = SCHEMA_ENTRY.extend({vol.Required("alert_id"): cv.string})
SCHEMA_REVIEW = SCHEMA_ENTRY.extend(
    {
        vol.Required("event_id"): vol.Coerce(int),
        vol.Optional("reviewed", default=True): cv.boolean,
        vol.Optional("notes"): cv.string,
    }
)
SCHEMA_SEARCH = SCHEMA_ENTRY.extend(
    {
        vol.Required("query"): vol.All(cv.string, vol.Length(min=1, max=SEARCH_QUERY_MAX)),
        vol.Optional("limit", default=20): vol.All(vol.Coerce(int), vol.Range(1, 100)),
    }
)
SCHEMA_GET_EVENTS = SCHEMA_ENTRY.extend(
    {
        vol.Optional("device_id"): cv.string,
        vol.Optional("risk_level"): vol.In(SEVERITIES),
        vol.Optional("min_risk"): vol.All(vol.Coerce(int), vol.Range(0, 100)),
        vol.Optional("reviewed"): cv.boolean,
        # The UI's date-time picker gives a naive local time; the server wants a time zone.
        vol.Optional("since"): vol.All(cv.datetime, _as_utc),
        vol.Optional("until"): vol.All(cv.datetime, _as_utc),
        vol.Optional("limit", default=20): vol.All(vol.Coerce(int), vol.Range(1, 100)),
    }
)
SCHEMA_TEST_RULE = SCHEMA_ENTRY.extend({vol.Required("rule_id"): cv.string})
SCHEMA_MEDIA_URL = vol.Schema({vol.Optional("path"): vol.Any(None, cv.string)})
SCHEMA_ANALYZE = SCHEMA_ENTRY.extend(
    {
        vol.Required("entity_id"): cv.entity_ids_or_uuids,
        vol.Optional("camera_id"): vol.All(cv.string, vol.Match(CAMERA_ID_PATTERN)),
    }
)


def _coordinator(hass: HomeAssistant, call: ServiceCall) -> HSICoordinator:
    """The loaded server an action addresses."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_found",
                translation_placeholders={"entry_id": entry_id},
            )
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="entry_not_loaded"
            )
        return cast(HSICoordinator, entry.runtime_data)
    loaded = hass.config_entries.async_loaded_entries(DOMAIN)
    if not loaded:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="entry_not_loaded")
    if len(loaded) > 1:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="entry_required")
    return cast(HSICoordinator, loaded[0].runtime_data)


async def _call[T](awaitable: Awaitable[T], item: str) -> T:
    """Run a client call, translating its errors for the user."""
    try:
        return await awaitable
    except HSINotFoundError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_found",
            translation_placeholders={"item": item},
        ) from err
    except HSIError as err:
        raise translated_error(err) from err


def _json(value: object) -> JsonValueType:
    """Server data as HA's JSON type, for an action's response.

    The client types the server's (decoded JSON) resources as TypedDicts, which mypy treats as
    ``Mapping[str, object]``, never as ``dict[str, JsonValueType]``; this checks each value
    instead of casting. Anything that is not JSON raises, as serializing the response would.
    """
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, Mapping):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    raise TypeError(f"Not JSON: {type(value).__name__}")


def _json_object(value: Mapping[str, object]) -> JsonObjectType:
    """A server resource (a TypedDict of the client) as HA's JSON object type."""
    return {key: _json(item) for key, item in value.items()}


async def _acknowledge_alert(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    alert_id = call.data["alert_id"]
    alert = await _call(coordinator.client.alert_action(alert_id, "acknowledge"), alert_id)
    return {"alert": _json_object(alert)}


async def _dismiss_alert(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    alert_id = call.data["alert_id"]
    alert = await _call(coordinator.client.alert_action(alert_id, "dismiss"), alert_id)
    return {"alert": _json_object(alert)}


async def _review_event(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    body: dict[str, Any] = {"reviewed": call.data["reviewed"]}
    if "notes" in call.data:
        body["notes"] = call.data["notes"]
    event_id = call.data["event_id"]
    event = await _call(coordinator.client.update_event(event_id, body), str(event_id))
    return {"event": _json_object(event)}


async def _search_events(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    page = await _call(
        coordinator.client.search_events(call.data["query"], call.data["limit"]), "events"
    )
    return _events_response(coordinator, page)


async def _get_events(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    since, until = call.data.get("since"), call.data.get("until")
    if since is not None and until is not None and since > until:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="invalid_time_range"
        )
    filters: dict[str, Any] = {
        "risk_level": call.data.get("risk_level"),
        "min_risk": call.data.get("min_risk"),
        "reviewed": call.data.get("reviewed"),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "limit": call.data["limit"],
    }
    if device_id := call.data.get("device_id"):
        filters["camera_id"] = _camera_of_device(call.hass, coordinator, device_id)
    page = await _call(coordinator.client.events(**filters), "events")
    return _events_response(coordinator, page)


def _events_response(coordinator: HSICoordinator, page: Page[Event] | Page[SearchHit]) -> ServiceResponse:
    """A page of server events, each with a signed HA URL of its thumbnail (as on the bus)."""
    events = [
        {**event, "thumbnail_url": coordinator.signed_url(event.get("thumbnail_url"))}
        for event in page["items"]
    ]
    return {"events": _json(events), "next_cursor": page.get("next_cursor")}


def _camera_of_device(hass: HomeAssistant, coordinator: HSICoordinator, device_id: str) -> str:
    """The server camera id of one of this server's camera devices."""
    device = dr.async_get(hass).async_get(device_id)
    if device is not None:
        for identifier in device.identifiers:
            if (camera_id := camera_of_identifier(coordinator.instance_id, identifier)) is not None:
                return camera_id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_device",
        translation_placeholders={"device_id": device_id},
    )


async def _test_rule(call: ServiceCall) -> ServiceResponse:
    coordinator = _coordinator(call.hass, call)
    rule_id = call.data["rule_id"]
    result = await _call(coordinator.client.test_rule(rule_id), rule_id)
    return _json_object(result)


async def _analyze_image(call: ServiceCall) -> ServiceResponse:
    """Snapshot HA cameras and push them into the server's pipeline."""
    hass = call.hass
    coordinator = _coordinator(hass, call)
    registry = er.async_get(hass)
    results: list[JsonValueType] = []
    for requested in call.data["entity_id"]:
        # The UI's entity selector may send entity registry ids (UUIDs) instead of entity ids.
        entity_id = er.async_resolve_entity_id(registry, requested)
        if entity_id is None or split_entity_id(entity_id)[0] != CAMERA_DOMAIN:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_camera",
                translation_placeholders={"entity_id": requested},
            )
        try:
            image = await async_get_image(hass, entity_id)
        except HomeAssistantError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="snapshot_failed",
                translation_placeholders={"entity_id": entity_id, "error": str(err)},
            ) from err
        camera_id = call.data.get("camera_id") or slugify(entity_id.split(".", 1)[1])
        accepted = await _call(
            coordinator.client.ingest(camera_id, image.content, image.content_type), camera_id
        )
        results.append({"entity_id": entity_id, **_json_object(accepted)})
    return {"results": results}


async def _get_media_url(call: ServiceCall) -> ServiceResponse:
    """Sign a media proxy path (an alert's `thumbnail_path`) for `SIGNED_URL_TTL`; the signed URL
    goes to the caller only, never onto the bus."""
    path = call.data.get("path")
    if not path:
        return {"url": None, "expires_at": None}
    found = media_of_proxy_path(path)
    entry = call.hass.config_entries.async_get_entry(found[0]) if found else None
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_media_path",
            translation_placeholders={"path": path},
        )
    expires = dt_util.utcnow() + SIGNED_URL_TTL
    url = async_sign_path(call.hass, path, SIGNED_URL_TTL, use_content_user=True)
    return {"url": url, "expires_at": expires.isoformat()}


type ServiceHandler = Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]

SERVICES: dict[str, tuple[vol.Schema, ServiceHandler, SupportsResponse]] = {
    "acknowledge_alert": (SCHEMA_ALERT, _acknowledge_alert, SupportsResponse.OPTIONAL),
    "dismiss_alert": (SCHEMA_ALERT, _dismiss_alert, SupportsResponse.OPTIONAL),
    "review_event": (SCHEMA_REVIEW, _review_event, SupportsResponse.OPTIONAL),
    "search_events": (SCHEMA_SEARCH, _search_events, SupportsResponse.ONLY),
    "get_events": (SCHEMA_GET_EVENTS, _get_events, SupportsResponse.ONLY),
    "test_rule": (SCHEMA_TEST_RULE, _test_rule, SupportsResponse.ONLY),
    "analyze_image": (SCHEMA_ANALYZE, _analyze_image, SupportsResponse.OPTIONAL),
    "get_media_url": (SCHEMA_MEDIA_URL, _get_media_url, SupportsResponse.ONLY),
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action of the integration."""
    for name, (schema, handler, supports_response) in SERVICES.items():
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=supports_response
        )
