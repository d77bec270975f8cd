"""What the entities read: the latest view of one server, and how detections become activity.

Built by the REST refresh (coordinator.py) and kept current by the push channel (push.py); both
record activity the same way, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeassistant.util import dt as dt_util

from .api_types import AlertRule, Camera, Event, EventSummary, Health, Stats, Zone
from .const import ACTIVITY_CLASSES, SUBENTRY_ALERT_RULE
from .subentry_data import rule_to_subentry_data, zone_to_subentry_data


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


def record_activity(
    activity: dict[str, dict[str, datetime]],
    camera_id: str,
    object_types: list[str],
    when: str,
) -> None:
    """Note in ``activity`` that a camera saw these objects at ``when`` (now when unknown); a
    category keeps its latest time."""
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


def event_order(event: Event | EventSummary) -> tuple[datetime, int]:
    """Where an event stands among its camera's events, as the server orders them (its camera's
    `last_event`): by start, then id. Not by id alone: an upload handled late (a backlog, an FTP
    client back online) makes its event last, though it started hours before the latest."""
    return dt_util.parse_datetime(event["started_at"], raise_on_error=True), event["id"]
