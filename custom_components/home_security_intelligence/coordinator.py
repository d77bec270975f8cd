"""Coordinator: one REST snapshot of the server, kept current by the WebSocket push.

The server pushes its changes over ``/api/ws`` (cameras, events, alerts, detections, and
``system.status`` whenever the stats or the health summary change); the REST refresh runs at
start, after each reconnect (to catch up on what was missed), after alerts, and once a minute as
a safety net that also brings in alert rules and zones (which have no push). When both fail the
entities go unavailable; the loss and the recovery are each logged once, and a repair issue
appears when the outage lasts.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime
import json
from typing import Any, cast

import aiohttp

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    Alert,
    AlertRule,
    Camera,
    Event,
    Health,
    HSIAuthError,
    HSIClient,
    HSIConnectionError,
    HSIError,
    HSINotFoundError,
    Stats,
    Zone,
)
from .const import (
    ACTIVITY_CLASSES,
    DOMAIN,
    EVENT_ALERT,
    EVENT_SECURITY_EVENT,
    ISSUE_DETECTOR_FALLBACK,
    ISSUE_UNREACHABLE,
    ISSUE_MEDIA_DISK_LOW,
    ISSUE_VERSION,
    LOGGER,
    MIN_SERVER_VERSION,
    SIGNAL_ALERT,
    SUBENTRY_ALERT_RULE,
    SUPPORTED_SERVER_MAJOR,
    UNREACHABLE_ISSUE_AFTER,
    UPDATE_INTERVAL,
    WS_BACKOFF_INITIAL,
    WS_BACKOFF_MAX,
)
from .subentry_data import rule_to_subentry_data, zone_to_subentry_data
from .views import proxy_path, signed_media_url

type HSIConfigEntry = ConfigEntry[HSICoordinator]

#: Alerts whose refinement was already announced (a bounded memory: refinements come within minutes).
REFINED_ALERTS_REMEMBERED = 1000

WS_TYPES = (
    "event.created",
    "event.updated",
    "alert.created",
    "alert.updated",
    "detection.created",
    "camera.updated",
    "camera.deleted",
    "system.status",
)

# Fields a pushed message must carry to be applied (the ones read without a default).
_REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    "camera.updated": frozenset({"id"}),
    "camera.deleted": frozenset({"id"}),
    "event.created": frozenset({"id", "camera_id", "risk_score", "risk_level", "started_at"}),
    "event.updated": frozenset({"id", "camera_id", "risk_score", "risk_level", "started_at"}),
    "alert.created": frozenset({"id"}),
    "alert.updated": frozenset({"id"}),
    "detection.created": frozenset({"camera_id"}),
}


@dataclass
class HSIData:
    """What the entities read: the latest view of the server."""

    health: Health
    stats: Stats
    cameras: dict[str, Camera]
    rules: dict[str, AlertRule]
    zones: dict[str, Zone]  # by zone id; each names its camera
    # camera id -> activity category (person/vehicle/animal) -> last time seen
    activity: dict[str, dict[str, datetime]] = field(default_factory=dict)
    # Ids of the subentries that existed when the rules and zones above were read: only those can
    # be missing their server object here (a flow may have made one, and its subentry, since).
    read_subentry_ids: frozenset[str] = frozenset()

    def mirrored(self, subentry_type: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """Title and subentry data of each server object of a subentry type, by object id."""
        if subentry_type == SUBENTRY_ALERT_RULE:
            return {
                rule_id: (str(rule.get("name", rule_id)), rule_to_subentry_data(rule))
                for rule_id, rule in self.rules.items()
            }
        return {
            zone_id: (str(zone.get("name", zone_id)), zone_to_subentry_data(zone, zone["camera_id"]))
            for zone_id, zone in self.zones.items()
        }


def activity_category(object_type: str) -> str | None:
    """The activity sensor an object class belongs to, if any."""
    for category, classes in ACTIVITY_CLASSES.items():
        if object_type in classes:
            return category
    return None


def version_compatible(version: str) -> bool:
    """Whether this integration speaks the API of a server of that version."""
    try:
        parts = tuple(int(part) for part in version.split("-")[0].split(".")[:3])
    except ValueError:
        return False
    return bool(parts) and parts[0] == SUPPORTED_SERVER_MAJOR and parts >= MIN_SERVER_VERSION


class HSICoordinator(DataUpdateCoordinator[HSIData]):
    """Holds the server's state for one config entry and runs its WebSocket."""

    config_entry: HSIConfigEntry

    def __init__(self, hass: HomeAssistant, entry: HSIConfigEntry, client: HSIClient) -> None:
        """Set up polling as a safety net under the push channel."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=UPDATE_INTERVAL,
        )
        self.client = client
        self.ws_connected = False
        self._ws_lost_logged = False
        self._unreachable_since: datetime | None = None
        self._refined_alerts: OrderedDict[str, None] = OrderedDict()
        # Subentries as the update listener last saw them: it diffs against them to delete
        # server objects whose subentry the user removed.
        self.known_subentries: dict[str, ConfigSubentry] = {}

    @property
    def instance_id(self) -> str:
        """The server's instance id, which is the config entry's unique id."""
        return cast(str, self.config_entry.unique_id)

    async def _async_update_data(self) -> HSIData:
        """Read health, stats, cameras, rules and every camera's zones over REST."""
        read_subentry_ids = frozenset(self.config_entry.subentries)
        try:
            health = await self.client.health()
            stats = await self.client.stats()
            cameras = await self.client.cameras()
            rules = await self.client.alert_rules()
            zones = await self._read_zones(cameras)
        except HSIAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except HSIError as err:
            self._note_unreachable()
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        self._note_reachable()
        self._check_health(health)
        activity = dict(self.data.activity) if self.data else {}
        for camera in cameras:
            if (last := camera.get("last_event")) is not None:
                self._record_activity(activity, camera["id"], last["object_types"], last["started_at"])
        return HSIData(
            health=health,
            stats=stats,
            cameras={camera["id"]: camera for camera in cameras},
            rules={rule["id"]: rule for rule in rules if "id" in rule},
            zones=zones,
            activity=activity,
            read_subentry_ids=read_subentry_ids,
        )

    async def _read_zones(self, cameras: list[Camera]) -> dict[str, Zone]:
        """Every camera's zones; a camera deleted since the camera list was read has none."""
        zones: dict[str, Zone] = {}
        for camera in cameras:
            try:
                listed = await self.client.zones(camera["id"])
            except HSINotFoundError:
                continue
            for zone in listed:
                zones[zone["id"]] = cast(Zone, {**zone, "camera_id": camera["id"]})
        return zones

    # -- repairs -----------------------------------------------------------------------

    def _issue_id(self, key: str) -> str:
        return f"{key}_{self.config_entry.entry_id}"

    def _note_unreachable(self) -> None:
        """Raise the repair issue once the outage has lasted long enough."""
        now = dt_util.utcnow()
        if self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since >= UNREACHABLE_ISSUE_AFTER:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_UNREACHABLE),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_UNREACHABLE,
                translation_placeholders={
                    "title": self.config_entry.title,
                    "url": self.client.base_url,
                },
            )

    def _note_reachable(self) -> None:
        self._unreachable_since = None
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_UNREACHABLE))

    def _check_health(self, health: Health) -> None:
        """Repair issues derived from the health report (a detector standing in for another, version,
        media disk space)."""
        detector = health.get("components", {}).get("detector", {})
        if detector.get("fallback"):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_DETECTOR_FALLBACK),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_DETECTOR_FALLBACK,
                translation_placeholders={
                    "title": self.config_entry.title,
                    "backend": str(detector.get("backend", "unknown")),
                    "reason": str(detector.get("reason", "the server gave no reason")),
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_DETECTOR_FALLBACK))
        if version_compatible(health["version"]):
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_VERSION))
        else:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_VERSION),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_VERSION,
                translation_placeholders={
                    "title": self.config_entry.title,
                    "version": health["version"],
                    "supported": f"{SUPPORTED_SERVER_MAJOR}.x (≥ {'.'.join(map(str, MIN_SERVER_VERSION))})",
                },
            )
        storage = health.get("components", {}).get("storage", {})
        if storage.get("status") == "degraded":
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id(ISSUE_MEDIA_DISK_LOW),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_MEDIA_DISK_LOW,
                translation_placeholders={
                    "title": self.config_entry.title,
                    "minimum": f"{storage.get('min_free_percent', 0):g}",
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(ISSUE_MEDIA_DISK_LOW))

    @callback
    def async_remove_issues(self) -> None:
        """Drop this entry's repair issues (the entry is going away)."""
        for key in (ISSUE_UNREACHABLE, ISSUE_DETECTOR_FALLBACK, ISSUE_VERSION, ISSUE_MEDIA_DISK_LOW):
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(key))

    # -- push channel ------------------------------------------------------------------

    async def async_run_websocket(self) -> None:
        """Keep the WebSocket open for the entry's lifetime, reconnecting with backoff."""
        backoff = WS_BACKOFF_INITIAL
        while True:
            try:
                ws = await self.client.ws_connect()
            except HSIAuthError:
                self._ws_lost("API key rejected")
                self.config_entry.async_start_reauth(self.hass)
                return
            except HSIConnectionError as err:
                self._ws_lost(str(err))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, WS_BACKOFF_MAX)
                continue
            backoff = WS_BACKOFF_INITIAL
            try:
                await self._ws_session(ws)
            finally:
                await ws.close()
            self._ws_lost("connection closed")
            # Entities go unavailable now if REST is down too, instead of a minute later.
            await self.async_refresh()
            await asyncio.sleep(backoff)

    def _ws_lost(self, reason: str) -> None:
        self.ws_connected = False
        if not self._ws_lost_logged:
            LOGGER.warning("Lost the push connection to %s: %s", self.client.base_url, reason)
            self._ws_lost_logged = True

    async def _ws_session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Subscribe, catch up over REST, then apply pushed messages until the socket ends."""
        self.ws_connected = True
        if self._ws_lost_logged:
            LOGGER.info("Push connection to %s is back", self.client.base_url)
            self._ws_lost_logged = False
            await self.async_refresh()
        await ws.send_json({"type": "subscribe", "data": {"types": list(WS_TYPES)}})
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            self.async_handle_text(message.data)

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
        if self.data is None or not _REQUIRED_FIELDS.get(msg_type, frozenset()) <= data.keys():
            return
        if msg_type == "camera.updated":
            if data["id"] not in self.data.cameras and not {"name", "status"} <= data.keys():
                return  # a camera seen for the first time must be complete
            cameras = dict(self.data.cameras)
            cameras[data["id"]] = cast(Camera, {**cameras.get(data["id"], {}), **data})
            self.async_set_updated_data(replace(self.data, cameras=cameras))
        elif msg_type == "camera.deleted":
            # Listeners remove the camera's device (and so its entities) at once.
            cameras = {key: value for key, value in self.data.cameras.items() if key != data["id"]}
            self.async_set_updated_data(replace(self.data, cameras=cameras))
        elif msg_type in ("event.created", "event.updated"):
            self._apply_event(cast(Event, data), msg_type.split(".")[1])
        elif msg_type in ("alert.created", "alert.updated"):
            self._apply_alert(cast(Alert, data), msg_type.split(".")[1])
        elif msg_type == "detection.created":
            self._apply_detection(data)
        elif msg_type == "system.status":
            health, stats = self.data.health, self.data.stats
            if isinstance(data.get("components"), dict) and isinstance(data.get("version"), str):
                health = cast(Health, data)
                self._check_health(health)
            if isinstance(data.get("queues"), dict):
                stats = cast(Stats, {**stats, **data})
            self.async_set_updated_data(replace(self.data, health=health, stats=stats))

    @callback
    def store_rule(self, rule: AlertRule) -> None:
        """Keep a rule as the server just answered a change of it (rules have no push)."""
        self.data.rules[rule["id"]] = rule

    @callback
    def store_zone(self, zone: Zone, camera_id: str) -> None:
        """Keep a zone as the server just answered a change of it (zones have no push)."""
        self.data.zones[zone["id"]] = cast(Zone, {**zone, "camera_id": camera_id})

    @callback
    def forget(self, subentry: ConfigSubentry) -> None:
        """Drop the server object of a subentry the server just deleted (so it is not imported
        again meanwhile)."""
        objects = self.data.rules if subentry.subentry_type == SUBENTRY_ALERT_RULE else self.data.zones
        objects.pop(str(subentry.unique_id), None)

    def camera_device_id(self, camera_id: str | None) -> str | None:
        """The HA device id of a camera, for bus events and device triggers."""
        if camera_id is None:
            return None
        device = dr.async_get(self.hass).async_get_device(
            identifiers={(DOMAIN, f"{self.instance_id}_{camera_id}")}
        )
        return device.id if device else None

    def _apply_event(self, event: Event, action: str) -> None:
        camera_id = event["camera_id"]
        cameras = dict(self.data.cameras)
        activity = dict(self.data.activity)
        camera = cameras.get(camera_id)
        if camera is not None:
            last = camera.get("last_event")
            if last is None or event["id"] >= last["id"]:
                summary = {
                    "id": event["id"],
                    "risk_score": event["risk_score"],
                    "risk_level": event["risk_level"],
                    "summary": event.get("summary"),
                    "started_at": event["started_at"],
                    "object_types": list(event.get("object_types") or []),
                }
                cameras[camera_id] = cast(Camera, {**camera, "last_event": summary})
        if action == "created":
            self._record_activity(
                activity, camera_id, event.get("object_types") or [], event["started_at"]
            )
        fields = {key: value for key, value in event.items() if key != "thumbnail_url"}
        self.hass.bus.async_fire(
            EVENT_SECURITY_EVENT,
            {
                **fields,
                "action": action,
                "config_entry_id": self.config_entry.entry_id,
                "device_id": self.camera_device_id(camera_id),
                "thumbnail_path": self.media_path(event.get("thumbnail_url")),
            },
        )
        self.async_set_updated_data(replace(self.data, cameras=cameras, activity=activity))

    def _apply_alert(self, alert: Alert, action: str) -> None:
        metadata = alert.get("metadata") or {}
        camera_id = metadata.get("camera_id")
        # The server alerts first with the rules scorer's assessment and updates the alert once the LLM
        # has answered, keeping the first figures under `metadata.initial`: the first update that
        # carries them is the refinement (later ones are status changes).
        alert_id = str(alert.get("id"))
        if action == "updated" and "initial" in metadata and alert_id not in self._refined_alerts:
            action = "refined"
            self._refined_alerts[alert_id] = None
            while len(self._refined_alerts) > REFINED_ALERTS_REMEMBERED:
                self._refined_alerts.popitem(last=False)
        payload: dict[str, Any] = {
            **alert,
            "action": action,
            "refined": action == "refined",
            "camera_id": camera_id,
            "config_entry_id": self.config_entry.entry_id,
            "device_id": self.camera_device_id(camera_id),
            "summary": metadata.get("summary"),
            "risk_score": metadata.get("risk_score"),
            # The severity is the rule's own, or the event's risk level (`severity_source` says which).
            "risk_level": metadata.get("risk_level"),
            "severity_source": metadata.get("severity_source"),
            "object_types": list(metadata.get("object_types") or []),
            "thumbnail_path": self.media_path(metadata.get("thumbnail_url")),
        }
        self.hass.bus.async_fire(EVENT_ALERT, payload)
        # The alert entity fires for a new alert, and again when the AI text arrives for one nobody
        # has handled yet (a notification is then replaced, not repeated).
        if action == "created" or (action == "refined" and alert.get("status") in ("pending", "delivered")):
            async_dispatcher_send(
                self.hass, SIGNAL_ALERT.format(self.config_entry.entry_id), payload
            )
        # Pending-alert counters moved: refresh soon (debounced), not on every message.
        self.config_entry.async_create_task(self.hass, self.async_request_refresh())

    def _apply_detection(self, detection: dict[str, Any]) -> None:
        camera_id = str(detection["camera_id"])
        cameras = dict(self.data.cameras)
        activity = dict(self.data.activity)
        if (camera := cameras.get(camera_id)) is not None and "id" in detection:
            cameras[camera_id] = cast(Camera, {**camera, "last_detection_id": detection["id"]})
        self._record_activity(
            activity,
            camera_id,
            [str(detection.get("object_type", ""))],
            str(detection.get("detected_at", "")),
        )
        self.async_set_updated_data(replace(self.data, cameras=cameras, activity=activity))

    @staticmethod
    def _record_activity(
        activity: dict[str, dict[str, datetime]],
        camera_id: str,
        object_types: list[str],
        when: str,
    ) -> None:
        seen = dt_util.parse_datetime(when) if when else None
        if seen is None:
            seen = dt_util.utcnow()
        elif seen.tzinfo is None:
            seen = seen.replace(tzinfo=dt_util.UTC)
        per_camera = dict(activity.get(camera_id, {}))
        for object_type in object_types:
            if (category := activity_category(object_type)) is None:
                continue
            if category not in per_camera or per_camera[category] < seen:
                per_camera[category] = seen
        activity[camera_id] = per_camera

    def signed_url(self, server_path: str | None) -> str | None:
        """A signed HA URL proxying a server media path, for answers that are not recorded (an
        action's response, the media browser); the bus gets `media_path` instead."""
        return signed_media_url(self.hass, self.config_entry.entry_id, server_path)

    def media_path(self, server_path: str | None) -> str | None:
        """The unsigned HA proxy path of a server media path (needs HA auth, or the
        ``get_media_url`` action for a signed one): what bus events and attributes carry."""
        return proxy_path(self.config_entry.entry_id, server_path) if server_path else None
