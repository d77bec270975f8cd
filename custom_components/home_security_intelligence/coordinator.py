"""Coordinator: one REST snapshot of the server, kept current by the WebSocket push.

The REST refresh runs at start, after each reconnect of the push channel (to catch up on what was
missed), after alerts, and once a minute as a safety net that also brings in alert rules and zones
(which have no push). Only when both fail do the entities go unavailable (a failed read while
the push channel is up keeps them as they are); the loss and the recovery are
each logged once, and a repair issue appears when the outage lasts. The push channel (push.py) and
the server's repair issues (server_issues.py) belong to the coordinator; the subentries that mirror
rules and zones follow its data (subentries.py).
"""

from __future__ import annotations

from typing import cast

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import HSIAuthError, HSIClient, HSIError, HSINotFoundError
from .api_types import AlertRule, Camera, Zone
from .const import DOMAIN, LOGGER, UPDATE_INTERVAL
from .data import HSIData, record_activity
from .push import PushChannel
from .server_issues import ServerIssues
from .views import proxy_path, signed_media_url

type HSIConfigEntry = ConfigEntry[HSICoordinator]


class HSICoordinator(DataUpdateCoordinator[HSIData]):
    """Holds the server's state for one config entry; its push channel keeps it current."""

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
        self.issues = ServerIssues(hass, entry, client.base_url)
        self.push = PushChannel(self)
        #: Pushes that changed a camera, counted, and each camera's latest (`camera_pushed`): a refresh
        #: whose reads began before keeps the pushed state instead of rolling it back.
        self._pushes = 0
        self._pushed: dict[str, int] = {}
        # Subentries as the update listener last saw them: it diffs against them to delete
        # server objects whose subentry the user removed (see subentries.py).
        self.known_subentries: dict[str, ConfigSubentry] = {}
        #: A refresh failed while the push channel stayed up (logged once, until one succeeds).
        self._read_failed_logged = False

    async def _async_setup(self) -> None:
        """Once, before the first refresh: where the push channel's alert catch-up starts."""
        try:
            await self.push.async_note_history()
        except HSIAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except HSIError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err

    def camera_pushed(self, camera_id: str) -> None:
        """A push changed (or deleted) `camera_id` in the data just now."""
        self._pushes += 1
        self._pushed[camera_id] = self._pushes

    def _with_pushes(self, cameras: dict[str, Camera], began: int) -> dict[str, Camera]:
        """The cameras as read, except those a push changed since the reads `began`: a newer event,
        detection or upload (or a deletion) is not rolled back to what the read saw before it."""
        current = self.data.cameras if self.data is not None else {}
        for camera_id, push in self._pushed.items():
            if push > began:
                if camera_id in current:
                    cameras[camera_id] = current[camera_id]
                else:
                    cameras.pop(camera_id, None)
        return cameras

    @property
    def instance_id(self) -> str:
        """The server's instance id, which is the config entry's unique id."""
        return cast(str, self.config_entry.unique_id)

    async def _async_update_data(self) -> HSIData:
        """Read health, stats, cameras, rules and every camera's zones over REST."""
        read_subentry_ids = frozenset(self.config_entry.subentries)
        began = self._pushes
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
            if self.push.connected and self.data is not None:
                # The push channel is up: the server is there and keeps the cameras current. This
                # read failed alone (a timeout while the server was busy, a stalled database): the
                # entities keep what they show, rules and zones are read again at the next poll.
                if not self._read_failed_logged:
                    LOGGER.warning(
                        "Could not refresh from %s (push still connected): %s",
                        self.client.base_url,
                        err,
                    )
                    self._read_failed_logged = True
                return self.data
            self.issues.note_unreachable()
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        if self._read_failed_logged:
            LOGGER.info("Refreshing from %s works again", self.client.base_url)
            self._read_failed_logged = False
        self.issues.note_reachable()
        self.issues.check_health(health)
        activity = dict(self.data.activity) if self.data else {}
        for camera in cameras:
            if (last := camera.get("last_event")) is not None:
                record_activity(activity, camera["id"], last["object_types"], last["started_at"])
        return HSIData(
            health=health,
            stats=stats,
            cameras=self._with_pushes({camera["id"]: camera for camera in cameras}, began),
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

    @callback
    def store_rule(self, rule: AlertRule) -> None:
        """Keep a rule as the server just answered a change of it (rules have no push)."""
        self.data.rules[rule["id"]] = rule

    @callback
    def store_zone(self, zone: Zone, camera_id: str) -> None:
        """Keep a zone as the server just answered a change of it (zones have no push)."""
        self.data.zones[zone["id"]] = cast(Zone, {**zone, "camera_id": camera_id})

    def signed_url(self, server_path: str | None) -> str | None:
        """A signed HA URL proxying a server media path, for answers that are not recorded (an
        action's response, the media browser); the bus gets `media_path` instead."""
        return signed_media_url(self.hass, self.config_entry.entry_id, server_path)

    def media_path(self, server_path: str | None) -> str | None:
        """The unsigned HA proxy path of a server media path (needs HA auth, or the
        ``get_media_url`` action for a signed one): what bus events and attributes carry."""
        return proxy_path(self.config_entry.entry_id, server_path) if server_path else None
