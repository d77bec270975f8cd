"""WebSocket commands of the security card: cameras, events and alerts as Home Assistant serves them.

The card never talks to the server (its API key must not reach a browser): it asks Home Assistant,
which answers from the coordinator or the server, every media link a signed URL of the media proxy
bound to the user's session and valid for ``CARD_URL_TTL``. Any signed-in user may read (the card
works for non-admin users); changes go through the integration's actions and the zone subentry flow,
so they are checked and audited the same way wherever they come from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import voluptuous as vol

from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_INVALID_FORMAT, ERR_NOT_FOUND
from homeassistant.components.websocket_api.decorators import async_response, websocket_command
from homeassistant.components.websocket_api.messages import event_message
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event as HassEvent, HomeAssistant, callback

from .api import HSIError, HSINotFoundError, HSIResponseError
from .api_types import Alert, Detection, Event, Zone
from .const import CARD_URL_TTL, DOMAIN, EVENT_ALERT, EVENT_SECURITY_EVENT, SUBENTRY_ZONE
from .coordinator import HSICoordinator
from .views import signed_media_url

EVENT_ALERTS_LIMIT = 100
#: Event ids are PostgreSQL integers from 1.
EVENT_ID_MAX = 2**31 - 1
ERR_CANNOT_CONNECT = "cannot_connect"

type Signer = Callable[[str | None], str | None]


@callback
def async_setup_websocket_api(hass: HomeAssistant) -> None:
    """Register the card's commands."""
    for command in (ws_overview, ws_events, ws_event, ws_subscribe):
        async_register_command(hass, command)


def _signer(hass: HomeAssistant, entry_id: str, connection: ActiveConnection) -> Signer:
    """Sign server media paths of one entry for this connection's user session."""

    def sign(server_path: str | None) -> str | None:
        return signed_media_url(
            hass,
            entry_id,
            server_path,
            expiration=CARD_URL_TTL,
            refresh_token_id=connection.refresh_token_id,
        )

    return sign


def _send_server_error(connection: ActiveConnection, msg_id: int, err: HSIError) -> None:
    """The server's trouble as the card's error: a refusal (4xx) from a server that is up is not
    `cannot_connect`, which the card shows as the server being unreachable."""
    if isinstance(err, HSINotFoundError):
        connection.send_error(msg_id, ERR_NOT_FOUND, str(err))
    elif isinstance(err, HSIResponseError):
        connection.send_error(msg_id, ERR_INVALID_FORMAT, str(err))
    else:
        connection.send_error(msg_id, ERR_CANNOT_CONNECT, str(err))


def _target(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> tuple[HSICoordinator, Signer] | None:
    """The loaded server a command names (or the only one) and its signer; None (answered) when
    there is none. A card on a one-server home need not wait for the overview to ask for events."""
    if "entry_id" in msg:
        entry = hass.config_entries.async_get_entry(msg["entry_id"])
        if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
            entry = None
    else:
        loaded = hass.config_entries.async_loaded_entries(DOMAIN)
        entry = loaded[0] if len(loaded) == 1 else None
    if entry is None:
        connection.send_error(msg["id"], ERR_NOT_FOUND, "Name a loaded server (entry_id)")
        return None
    return cast(HSICoordinator, entry.runtime_data), _signer(hass, entry.entry_id, connection)


def card_event(event: Event, sign: Signer) -> dict[str, Any]:
    """An event as the card shows it (from the REST resource or the bus payload alike)."""
    has_thumbnail = bool(event.get("detection_ids"))
    return {
        "id": event["id"],
        "camera_id": event["camera_id"],
        "started_at": event["started_at"],
        "ended_at": event.get("ended_at"),
        "risk_score": event.get("risk_score"),
        "risk_level": event.get("risk_level"),
        "summary": event.get("summary"),
        "reasoning": event.get("reasoning"),
        "object_types": list(event.get("object_types") or []),
        "reviewed": bool(event.get("reviewed")),
        "is_fast_path": bool(event.get("is_fast_path")),
        "has_clip": bool(event.get("has_clip")),
        "thumbnail_url": sign(f"/api/events/{event['id']}/thumbnail" if has_thumbnail else None),
        "clip_url": sign(f"/api/events/{event['id']}/clip" if event.get("has_clip") else None),
    }


def card_alert(alert: Alert, sign: Signer) -> dict[str, Any]:
    """An alert with the context its rule attached (from the REST resource or the bus payload)."""
    metadata = alert.get("metadata") or {}
    return {
        "id": alert["id"],
        "event_id": alert.get("event_id"),
        "severity": alert.get("severity"),
        "status": alert.get("status"),
        "created_at": alert.get("created_at"),
        "camera_id": metadata.get("camera_id"),
        "summary": metadata.get("summary"),
        "risk_score": metadata.get("risk_score"),
        "object_types": list(metadata.get("object_types") or []),
        "zone_ids": list(metadata.get("zone_ids") or []),
        "thumbnail_url": sign(metadata.get("thumbnail_url")),
    }


def _card_zone(zone: Zone, subentry_ids: dict[str, str]) -> dict[str, Any]:
    """A zone with the subentry the card's editor reconfigures it through."""
    return {**zone, "subentry_id": subentry_ids.get(zone["id"])}


@websocket_command({vol.Required("type"): f"{DOMAIN}/overview"})
@async_response
async def ws_overview(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Every loaded server: its cameras (with their latest images), zones and open alerts.

    A server that does not answer is listed with what Home Assistant knows of it and no alerts,
    `error` saying why: one server down must not blank the card for the others."""
    servers = []
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    answers = await asyncio.gather(
        *(cast(HSICoordinator, entry.runtime_data).client.open_alerts() for entry in entries),
        return_exceptions=True,
    )
    for entry, answer in zip(entries, answers, strict=True):
        coordinator = cast(HSICoordinator, entry.runtime_data)
        sign = _signer(hass, entry.entry_id, connection)
        if isinstance(answer, HSIError):
            alerts, error = [], str(answer)
        elif isinstance(answer, BaseException):
            raise answer
        else:
            alerts, error = [card_alert(alert, sign) for alert in answer.items], None
        subentry_ids = {
            str(sub.unique_id): sub.subentry_id
            for sub in entry.subentries.values()
            if sub.subentry_type == SUBENTRY_ZONE
        }
        cameras = sorted(coordinator.data.cameras.values(), key=lambda camera: camera["name"])
        servers.append(
            {
                "entry_id": entry.entry_id,
                "title": entry.title,
                "cameras": [
                    {
                        "id": camera["id"],
                        "name": camera["name"],
                        "status": camera["status"],
                        "last_seen_at": camera.get("last_seen_at"),
                        "last_event": camera.get("last_event"),
                        "last_detection_id": camera.get("last_detection_id"),
                        "snapshot_url": sign(f"/api/cameras/{camera['id']}/snapshot"),
                        "detection_url": sign(
                            f"/api/detections/{detection_id}/thumbnail"
                            if (detection_id := camera.get("last_detection_id")) is not None
                            else None
                        ),
                    }
                    for camera in cameras
                ],
                "zones": [
                    _card_zone(zone, subentry_ids) for zone in coordinator.data.zones.values()
                ],
                "alerts": alerts,
                "error": error,
            }
        )
    connection.send_result(
        msg["id"], {"servers": servers, "url_ttl": int(CARD_URL_TTL.total_seconds())}
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/events",
        vol.Optional("entry_id"): str,
        vol.Optional("camera_id"): str,
        vol.Optional("min_risk"): vol.All(int, vol.Range(0, 100)),
        vol.Optional("reviewed"): bool,
        vol.Optional("cursor"): str,
        vol.Optional("limit", default=50): vol.All(int, vol.Range(1, 100)),
    }
)
@async_response
async def ws_events(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """One page of a server's events, newest first, with the server's cursor for the next."""
    if (target := _target(hass, connection, msg)) is None:
        return
    coordinator, sign = target
    filters = {key: msg.get(key) for key in ("camera_id", "min_risk", "reviewed", "cursor")}
    try:
        page = await coordinator.client.events(**filters, limit=msg["limit"])
    except HSIError as err:
        _send_server_error(connection, msg["id"], err)
        return
    connection.send_result(
        msg["id"],
        {
            "entry_id": coordinator.config_entry.entry_id,
            "events": [card_event(event, sign) for event in page["items"]],
            "next_cursor": page.get("next_cursor"),
        },
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/event",
        vol.Optional("entry_id"): str,
        vol.Required("event_id"): vol.All(int, vol.Range(1, EVENT_ID_MAX)),
    }
)
@async_response
async def ws_event(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """An event's detail: every detection, its alerts and the zones they were raised for."""
    if (target := _target(hass, connection, msg)) is None:
        return
    coordinator, sign = target
    event_id = msg["event_id"]
    try:
        event = await coordinator.client.event(event_id)
        detections = await coordinator.client.event_detections(event_id)
        alerts = (await coordinator.client.alerts(event_id=event_id, limit=EVENT_ALERTS_LIMIT))["items"]
    except HSINotFoundError:
        connection.send_error(msg["id"], ERR_NOT_FOUND, f"No event {event_id}")
        return
    except HSIError as err:
        _send_server_error(connection, msg["id"], err)
        return
    card_alerts = [card_alert(alert, sign) for alert in alerts]
    zone_ids = sorted({zone_id for alert in card_alerts for zone_id in alert["zone_ids"]})
    zones = coordinator.data.zones
    connection.send_result(
        msg["id"],
        {
            "event": card_event(event, sign),
            "detections": [_card_detection(detection, sign) for detection in detections],
            "alerts": card_alerts,
            "zones": [
                {"id": zone_id, "name": zones[zone_id].get("name", zone_id) if zone_id in zones else zone_id}
                for zone_id in zone_ids
            ],
        },
    )


def _card_detection(detection: Detection, sign: Signer) -> dict[str, Any]:
    return {
        "id": detection["id"],
        "object_type": detection.get("object_type"),
        "confidence": detection.get("confidence"),
        "detected_at": detection.get("detected_at"),
        "bbox": detection.get("bbox"),
        "media_type": detection.get("media_type"),
        "thumbnail_url": sign(detection.get("thumbnail_url")),
    }


@websocket_command({vol.Required("type"): f"{DOMAIN}/subscribe"})
@callback
def ws_subscribe(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Forward the integration's event and alert bus events (as the card shows them) until
    unsubscribed: non-admin users may not subscribe to these bus events themselves."""

    @callback
    def forward(bus_event: HassEvent[dict[str, Any]]) -> None:
        data = bus_event.data
        entry_id = str(data.get("config_entry_id"))
        sign = _signer(hass, entry_id, connection)
        message: dict[str, Any] = {"entry_id": entry_id, "action": data.get("action")}
        if bus_event.event_type == EVENT_ALERT:
            message.update(kind="alert", alert=card_alert(cast(Alert, data), sign))
        else:
            message.update(kind="event", event=card_event(cast(Event, data), sign))
        connection.send_message(event_message(msg["id"], message))

    unsubscribers = [hass.bus.async_listen(event_type, forward) for event_type in (EVENT_SECURITY_EVENT, EVENT_ALERT)]

    @callback
    def unsubscribe() -> None:
        for unsub in unsubscribers:
            unsub()

    connection.subscriptions[msg["id"]] = unsubscribe
    connection.send_result(msg["id"])
