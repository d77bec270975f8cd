"""The push channel: the server's WebSocket, turned into typed updates of the coordinator's data.

The server pushes its changes over ``/api/ws`` (cameras, events, alerts, detections, and
``system.status`` whenever the stats or the health summary change). One task per config entry keeps
the socket open, reconnecting with backoff; after each reconnect the coordinator reads everything
over REST to catch up, and the alerts raised meanwhile are fired as if they had been pushed (an
alert must reach the phone even when it came while Home Assistant was not listening). Each
message is checked for the fields it is applied with, then becomes a new ``HSIData`` (and, for
events and alerts, a bus event). A malformed message is logged and skipped: one bad message must
not end the channel.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
import json
from typing import Any, Protocol, cast

import aiohttp

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from homeassistant.util import dt as dt_util

from .api import OPEN_ALERT_STATUSES, HSIAuthError, HSIClient, HSIConnectionError, HSIError
from .api_types import PUSH_MESSAGE_TYPES, Alert, Camera, Event, EventSummary, Health, Page, Stats
from .const import (
    EVENT_ALERT,
    EVENT_SECURITY_EVENT,
    LOGGER,
    SIGNAL_ALERT,
    WS_BACKOFF_INITIAL,
    WS_BACKOFF_MAX,
)
from .data import HSIData, event_order, record_activity
from .helpers import camera_device_id
from .server_issues import ServerIssues


class PushTarget(Protocol):
    """What the channel needs of the coordinator it pushes into (named here so that the coordinator,
    which owns the channel, is not imported back)."""

    @property
    def hass(self) -> HomeAssistant: ...
    @property
    def config_entry(self) -> ConfigEntry[Any]: ...
    @property
    def client(self) -> HSIClient: ...
    @property
    def data(self) -> HSIData: ...
    @property
    def issues(self) -> ServerIssues: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def last_update_success(self) -> bool: ...

    async def async_refresh(self) -> None: ...
    async def async_request_refresh(self) -> None: ...
    def async_set_updated_data(self, data: HSIData) -> None: ...
    def camera_pushed(self, camera_id: str) -> None: ...
    def media_path(self, server_path: str | None) -> str | None: ...

#: Alerts fired, remembered so that one both pushed and found by a reconnect's catch-up fires once;
#: the same number of refinements announced, so that one both pushed and caught up is announced once.
FIRED_ALERTS_REMEMBERED = 1000
#: The most alerts raised (or refined) while the socket was down that a reconnect fires (the newest).
MISSED_ALERTS_MAX = 100

# Fields a pushed message must carry to be applied (the ones read without a default).
_REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    # The server pushes the whole camera with its activity, the shape the REST list has.
    "camera.updated": Camera.__required_keys__,
    "camera.deleted": frozenset({"id"}),
    "event.created": frozenset({"id", "camera_id", "risk_score", "risk_level", "started_at"}),
    "event.updated": frozenset({"id", "camera_id", "risk_score", "risk_level", "started_at"}),
    "alert.created": frozenset({"id"}),
    "alert.updated": frozenset({"id"}),
    "detection.created": frozenset({"camera_id"}),
}


#: The catch-up's starting point when the server had no alert at the first connection.
_EPOCH = "1970-01-01T00:00:00+00:00"

#: The fields of the server's `Stats`, of a `system.status` message (the rest is the health summary).
_STATS_FIELDS = Stats.__required_keys__ | Stats.__optional_keys__

#: The fields of a camera's `last_event`: the server's summary is a part of the event.
_SUMMARY_FIELDS = EventSummary.__required_keys__ | EventSummary.__optional_keys__


def _summary_of(event: Event) -> EventSummary:
    """A pushed event as the camera's latest event, in the server's `EventSummary` shape."""
    return cast(EventSummary, {key: value for key, value in event.items() if key in _SUMMARY_FIELDS})


class PushChannel:
    """The WebSocket of one config entry's server, applied to its coordinator."""

    def __init__(self, coordinator: PushTarget) -> None:
        """Push into ``coordinator`` (which owns the data and the REST catch-up)."""
        self.coordinator = coordinator
        self.connected = False
        self._lost_logged = False
        self._fired_alerts: OrderedDict[str, None] = OrderedDict()
        self._refined_alerts: OrderedDict[str, None] = OrderedDict()
        #: When the newest alert this channel knows of was raised (`async_note_history`, at setup).
        self._alerts_since: str = _EPOCH
        #: The catch-up after a reconnect has not read the alerts yet: until it has, a pushed alert
        #: does not move `_alerts_since` past the ones it has still to find.
        self._catching_up = False
        # One per type the server pushes (tests/integration/test_websocket.py checks them against
        # api_types.PUSH_MESSAGE_TYPES); called with the action ("created", "updated"...) and data.
        self._appliers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "camera.updated": self._apply_camera,
            "camera.deleted": self._apply_camera_deleted,
            "event.created": self._apply_event,
            "event.updated": self._apply_event,
            "alert.created": self._apply_alert,
            "alert.updated": self._apply_alert,
            "detection.created": self._apply_detection,
            "system.status": self._apply_status,
        }

    async def async_run(self) -> None:
        """Keep the WebSocket open for the entry's lifetime, reconnecting with backoff."""
        coordinator = self.coordinator
        backoff = WS_BACKOFF_INITIAL
        while True:
            try:
                ws = await coordinator.client.ws_connect()
            except HSIAuthError:
                self._lost("API key rejected")
                coordinator.config_entry.async_start_reauth(coordinator.hass)
                return
            except HSIConnectionError as err:
                self._lost(str(err))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, WS_BACKOFF_MAX)
                continue
            backoff = WS_BACKOFF_INITIAL
            try:
                await self._session(ws)
            except (aiohttp.ClientError, ConnectionError) as err:
                # The server closed the socket while we wrote to it (a restart, a key revoked just as
                # we subscribed): a lost connection like any other, never the end of the channel.
                LOGGER.debug("Push connection ended while writing: %r", err)
            finally:
                await ws.close()
            self._lost("connection closed")
            # Entities go unavailable now if REST is down too, instead of a minute later.
            await coordinator.async_refresh()
            await asyncio.sleep(backoff)

    def _lost(self, reason: str) -> None:
        self.connected = False
        if not self._lost_logged:
            LOGGER.warning(
                "Lost the push connection to %s: %s", self.coordinator.client.base_url, reason
            )
            self._lost_logged = True

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Subscribe, catch up over REST, then apply pushed messages until the socket ends."""
        self.connected = True
        if self._lost_logged:
            LOGGER.info("Push connection to %s is back", self.coordinator.client.base_url)
            self._lost_logged = False
            await self.coordinator.async_refresh()
        await ws.send_json({"type": "subscribe", "data": {"types": list(PUSH_MESSAGE_TYPES)}})
        catch_up = self.coordinator.config_entry.async_create_background_task(
            self.coordinator.hass, self._catch_up_alerts(), "hsi alert catch-up"
        )
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                self.async_handle_text(message.data)
        finally:
            catch_up.cancel()

    async def async_note_history(self) -> None:
        """Note the newest alert raised before the entry was set up (the coordinator's setup): those
        are history, every later one fires, caught up after any connection, the first included. Read
        at setup rather than at the first connection: a socket lost before that read succeeded made
        the alerts of its outage history, never fired. Raises HSIError."""
        newest = (await self.coordinator.client.alerts(limit=1))["items"]
        self._alerts_since = newest[0]["created_at"] if newest else _EPOCH
        if newest:
            _remember(self._fired_alerts, newest[0]["id"], FIRED_ALERTS_REMEMBERED)

    async def _catch_up_alerts(self) -> None:
        """Fire the alerts raised while the socket was down (since the newest this channel knows of),
        then announce the refinements of fired alerts made meanwhile: the AI text that arrived during
        the outage replaces the rules-only notification as it would have, pushed. The socket is
        subscribed first, so nothing falls between the two; one found both ways fires once. A read
        that fails is tried again (with backoff, while the socket lasts; the next connection starts
        over), never given up on."""
        client = self.coordinator.client
        self._catching_up = True
        since = self._alerts_since
        missed = await self._read_until_read(lambda: client.alerts(since=since, limit=MISSED_ALERTS_MAX))
        self._catching_up = False
        for alert in reversed(missed):  # oldest first, as they were raised
            self.async_handle_message("alert.created", dict(alert))
        # Refined after `since`: any refinement made since the newest alert known was raised.
        changed = await self._read_until_read(
            lambda: client.alerts(updated_since=since, limit=MISSED_ALERTS_MAX)
        )
        for alert in reversed(changed):
            alert_id = str(alert.get("id"))
            if (
                alert_id in self._fired_alerts
                and alert_id not in self._refined_alerts
                and _is_refinement(alert, alert.get("metadata") or {})
            ):
                self.async_handle_message("alert.updated", dict(alert))

    async def _read_until_read(self, read: Callable[[], Awaitable[Page[Alert]]]) -> list[Alert]:
        """The alerts of `read`, tried again with backoff until the server answers."""
        retry = WS_BACKOFF_INITIAL
        while True:
            try:
                return (await read())["items"]
            except HSIError as err:
                LOGGER.debug(
                    "Could not read the alerts changed while disconnected (again in %s s): %s",
                    retry,
                    err,
                )
                await asyncio.sleep(retry)
                retry = min(retry * 2, WS_BACKOFF_MAX)

    @callback
    def async_handle_text(self, text: str) -> None:
        """Apply one message as received; a malformed one is logged and skipped, never fatal."""
        try:
            payload = json.loads(text)
        except ValueError:
            LOGGER.debug("Ignoring a push message that is not JSON: %.200s", text)
            return
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            LOGGER.debug("Ignoring a push message without a data object: %.200s", text)
            return
        try:
            self.async_handle_message(str(payload.get("type")), payload["data"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            # One bad message (a server of another version, a bug) must not end the push channel.
            LOGGER.warning("Ignoring a malformed push message (%r): %.200s", err, text)

    @callback
    def async_handle_message(self, msg_type: str, data: dict[str, Any]) -> None:
        """Apply one pushed message to the state and fan it out to HA."""
        applier = self._appliers.get(msg_type)
        if (
            applier is None
            or self.coordinator.data is None
            or not _REQUIRED_FIELDS.get(msg_type, frozenset()) <= data.keys()
        ):
            return
        applier(msg_type.split(".")[1], data)

    def _apply_camera(self, action: str, data: dict[str, Any]) -> None:
        current = self.coordinator.data
        cameras = {**current.cameras, data["id"]: cast(Camera, data)}
        self.coordinator.camera_pushed(data["id"])
        self.coordinator.async_set_updated_data(replace(current, cameras=cameras))

    def _apply_camera_deleted(self, action: str, data: dict[str, Any]) -> None:
        # Listeners remove the camera's device (and so its entities) at once.
        current = self.coordinator.data
        cameras = {key: value for key, value in current.cameras.items() if key != data["id"]}
        self.coordinator.camera_pushed(data["id"])
        self.coordinator.async_set_updated_data(replace(current, cameras=cameras))

    def _apply_status(self, action: str, data: dict[str, Any]) -> None:
        current = self.coordinator.data
        health, stats = current.health, current.stats
        if isinstance(data.get("components"), dict) and isinstance(data.get("version"), str):
            health = cast(Health, data)
            self.coordinator.issues.check_health(health)
        if isinstance(data.get("queues"), dict):
            # The message is the stats and the health summary in one: only the stats' own fields are
            # stats (the health's texts would otherwise reach diagnostics unredacted).
            stats = cast(Stats, {**stats, **{key: data[key] for key in _STATS_FIELDS if key in data}})
        self.coordinator.async_set_updated_data(replace(current, health=health, stats=stats))

    def _apply_event(self, action: str, data: dict[str, Any]) -> None:
        coordinator = self.coordinator
        event = cast(Event, data)
        camera_id = event["camera_id"]
        cameras = dict(coordinator.data.cameras)
        activity = dict(coordinator.data.activity)
        camera = cameras.get(camera_id)
        if camera is not None:
            last = camera.get("last_event")
            if last is None or event_order(event) >= event_order(last):
                cameras[camera_id] = cast(Camera, {**camera, "last_event": _summary_of(event)})
                coordinator.camera_pushed(camera_id)
        if action == "created":
            record_activity(activity, camera_id, event.get("object_types") or [], event["started_at"])
        fields = {key: value for key, value in event.items() if key != "thumbnail_url"}
        coordinator.hass.bus.async_fire(
            EVENT_SECURITY_EVENT,
            {
                **fields,
                "action": action,
                "config_entry_id": coordinator.config_entry.entry_id,
                "device_id": camera_device_id(coordinator.hass, coordinator.instance_id, camera_id),
                "thumbnail_path": coordinator.media_path(event.get("thumbnail_url")),
            },
        )
        coordinator.async_set_updated_data(
            replace(coordinator.data, cameras=cameras, activity=activity)
        )

    def _apply_alert(self, action: str, data: dict[str, Any]) -> None:
        coordinator = self.coordinator
        alert = cast(Alert, data)
        metadata = alert.get("metadata") or {}
        camera_id = metadata.get("camera_id")
        alert_id = str(alert.get("id"))
        if action == "created":
            if alert_id in self._fired_alerts:
                return  # pushed, and found again by a reconnect's catch-up (or the other way round)
            _remember(self._fired_alerts, alert_id, FIRED_ALERTS_REMEMBERED)
            self._note_raised(alert.get("created_at"))
        if action == "updated" and _is_refinement(alert, metadata):
            if alert_id in self._refined_alerts:
                return  # pushed, and found again by a reconnect's catch-up
            action = "refined"
        if action in ("created", "refined") and metadata.get("refined_at"):
            # Fired with its AI text (a refinement, or an alert caught up after it was refined).
            _remember(self._refined_alerts, alert_id, FIRED_ALERTS_REMEMBERED)
        payload: dict[str, Any] = {
            **alert,
            "action": action,
            "refined": action == "refined",
            "camera_id": camera_id,
            "config_entry_id": coordinator.config_entry.entry_id,
            "device_id": camera_device_id(coordinator.hass, coordinator.instance_id, camera_id),
            "summary": metadata.get("summary"),
            "risk_score": metadata.get("risk_score"),
            # The severity is the rule's own, or the event's risk level (`severity_source` says which).
            "risk_level": metadata.get("risk_level"),
            "severity_source": metadata.get("severity_source"),
            # The severity the alert was first raised with (a refinement may change one taken from
            # the risk): whether its first notification passed the blueprint's minimum.
            "initial_severity": _initial_severity(alert, metadata),
            "object_types": list(metadata.get("object_types") or []),
            "thumbnail_path": coordinator.media_path(metadata.get("thumbnail_url")),
        }
        if not coordinator.last_update_success:
            # The alert came from the server (pushed, or read by the catch-up), so it is reachable,
            # though the last full refresh failed; the alert entity must be available when it
            # fires: automations (the blueprint too) ignore a change from `unavailable`.
            coordinator.async_set_updated_data(coordinator.data)
        coordinator.hass.bus.async_fire(EVENT_ALERT, payload)
        # The alert entity fires for a new alert, and again when the AI text arrives, for one nobody
        # has handled yet (a notification is then replaced, not repeated): an alert the catch-up
        # reads after a reconnect may have been acknowledged on the server meanwhile.
        if action in ("created", "refined") and alert.get("status") in OPEN_ALERT_STATUSES:
            async_dispatcher_send(
                coordinator.hass, SIGNAL_ALERT.format(coordinator.config_entry.entry_id), payload
            )
        # Pending-alert counters moved: refresh soon (debounced), not on every message.
        coordinator.config_entry.async_create_task(
            coordinator.hass, coordinator.async_request_refresh()
        )

    def _note_raised(self, created_at: Any) -> None:
        """Move the catch-up's starting point to a newer alert's time (not while a catch-up has still
        to read the alerts before it)."""
        if self._catching_up:
            return
        moment = dt_util.parse_datetime(created_at) if isinstance(created_at, str) else None
        since = dt_util.parse_datetime(self._alerts_since)
        if moment is not None and (since is None or moment > since):
            self._alerts_since = created_at

    def _apply_detection(self, action: str, detection: dict[str, Any]) -> None:
        """A new detection: the camera's latest detection, and its activity sensors. A stationary
        object (a car parked in the drive, uploaded again and again) is neither: it is in no event
        and no alert on the server, and kept the vehicle activity sensor on all day."""
        if detection.get("stationary"):
            return
        coordinator = self.coordinator
        camera_id = str(detection["camera_id"])
        cameras = dict(coordinator.data.cameras)
        activity = dict(coordinator.data.activity)
        if (camera := cameras.get(camera_id)) is not None and "id" in detection:
            cameras[camera_id] = cast(Camera, {**camera, "last_detection_id": detection["id"]})
            coordinator.camera_pushed(camera_id)
        record_activity(
            activity,
            camera_id,
            [str(detection.get("object_type", ""))],
            str(detection.get("detected_at", "")),
        )
        coordinator.async_set_updated_data(
            replace(coordinator.data, cameras=cameras, activity=activity)
        )


def _remember(memory: OrderedDict[str, None], key: str, size: int) -> None:
    """Add `key` to a bounded memory, forgetting the oldest beyond `size`."""
    memory[key] = None
    while len(memory) > size:
        memory.popitem(last=False)


def _is_refinement(alert: Alert, metadata: dict[str, Any]) -> bool:
    """Whether an `alert.updated` is the refinement: the server alerts first with the rules scorer's
    assessment and updates the alert once the LLM has answered, marking that update
    (`metadata.refined_at` is its `updated_at`); later updates are changes of status. Read from the
    message alone, so a reload or a restart of Home Assistant cannot take one for the other."""
    refined_at = metadata.get("refined_at")
    return isinstance(refined_at, str) and dt_util.parse_datetime(refined_at) == dt_util.parse_datetime(
        str(alert.get("updated_at"))
    )


def _initial_severity(alert: Alert, metadata: dict[str, Any]) -> Any:
    """The severity the alert had before its refinement: the first risk level when the severity
    follows the risk (`severity_source` "risk"), else the rule's own, which a refinement keeps."""
    initial = metadata.get("initial")
    if metadata.get("severity_source") == "risk" and isinstance(initial, dict):
        return initial.get("risk_level") or alert.get("severity")
    return alert.get("severity")

