"""Constants shared by every module of the Home Security Intelligence integration.

Kept in one module so the config flow, the coordinator and the platforms agree on names
without importing each other (which would create import cycles).
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final, get_args

from .api_types import Severity, ZoneShape, ZoneType

DOMAIN: Final = "home_security_intelligence"
LOGGER: Final = logging.getLogger(__package__)

DEFAULT_PORT: Final = 8000
DEFAULT_NAME: Final = "Home Security Intelligence"
MANUFACTURER: Final = "Home Security Intelligence"

CONF_API_KEY: Final = "api_key"
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_SSL: Final = "ssl"
#: Check the HTTPS certificate (off for a proxy with its own, self-signed one). Entries made before
#: it existed have none: they check.
CONF_VERIFY_SSL: Final = "verify_ssl"

SUBENTRY_ALERT_RULE: Final = "alert_rule"
SUBENTRY_ZONE: Final = "zone"
SUBENTRY_OBJECT_FILTERS: Final = "object_filters"
#: An object filters subentry's unique id is this plus its camera id: a camera id alone could be a zone's
#: (zone "Side" of camera "Garage" and camera "Garage Side" are both `garage_side`) or a rule's.
FILTERS_UNIQUE_ID_PREFIX: Final = "filters:"

# The server's ranges, so that an object made elsewhere can be edited unchanged in its form.
MAX_COOLDOWN_SECONDS: Final = 7 * 24 * 3600
ZONE_PRIORITY_MIN: Final = -(2**31)
ZONE_PRIORITY_MAX: Final = 2**31 - 1
#: Classes offered for a zone's loitering (any other COCO class can be typed in).
LOITERING_CLASSES: Final = ("person", "car", "truck", "bicycle", "motorcycle", "dog")

# Bus events (full payloads) for automations that prefer the bus to entities.
EVENT_SECURITY_EVENT: Final = f"{DOMAIN}_event"
EVENT_ALERT: Final = f"{DOMAIN}_alert"

# Dispatcher signal carrying an alert to the camera's `event` entity: format with entry id.
SIGNAL_ALERT: Final = f"{DOMAIN}_alert_{{}}"

# Risk bands are defined once on the server (its OpenAPI document lists them in order).
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
SEVERITY_RANK: Final = {name: rank for rank, name in enumerate(SEVERITIES)}
#: The rule form's severity choice meaning "no severity of its own: each alert takes its event's
#: risk level" (the server stores it as null).
SEVERITY_FROM_RISK: Final = "from_risk"

# Object classes the detector reports, grouped into the three activity sensors.
OBJECT_TYPES: Final = (
    "person",
    "car",
    "truck",
    "bus",
    "motorcycle",
    "bicycle",
    "dog",
    "cat",
    "bird",
)
# The groups the server shows object classes in (a bicycle with the vehicles); checked against the
# server by tests/server/test_ha_api_types.py.
ACTIVITY_CLASSES: Final[dict[str, frozenset[str]]] = {
    "person": frozenset({"person"}),
    "vehicle": frozenset({"car", "truck", "bus", "motorcycle", "bicycle"}),
    "animal": frozenset(
        {"dog", "cat", "bird", "horse", "sheep", "cow", "bear", "elephant", "zebra", "giraffe"}
    ),
}
# An activity sensor stays on this long after the last matching detection: long enough to
# bridge the gaps between snapshot uploads, short enough to mean "now".
ACTIVITY_HOLD: Final = timedelta(seconds=90)

# The server's zone vocabulary, from its OpenAPI document.
ZONE_TYPES: Final[tuple[str, ...]] = get_args(ZoneType)
ZONE_SHAPES: Final[tuple[str, ...]] = get_args(ZoneShape)
#: The content type of an event's media, by the last part of its server path
#: (``/api/events/{id}/clip``): what the media browser announces.
EVENT_MEDIA_TYPES: Final = {"clip": "video/mp4", "thumbnail": "image/jpeg"}
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Alert delivery channels of a rule: "ha" is this integration; "webhook" a signed POST elsewhere.
CHANNELS: Final = ("ha", "webhook")

# Full REST refresh: a safety net under the WebSocket push (the server pushes cameras, events,
# alerts, detections and `system.status`), and what brings in rule changes made on the server.
UPDATE_INTERVAL: Final = timedelta(seconds=60)
# WebSocket reconnect backoff (seconds): doubles from the first value up to the cap.
WS_BACKOFF_INITIAL: Final = 1.0
WS_BACKOFF_MAX: Final = 60.0
# The repair issue for an unreachable server appears only after this long.
UNREACHABLE_ISSUE_AFTER: Final = timedelta(minutes=15)
# Signed media URLs (notifications, the media browser) stay valid this long: a phone loads the
# picture when the notification arrives, a player opens a clip when asked to.
SIGNED_URL_TTL: Final = timedelta(hours=1)
# The card's media URLs are signed for the viewer's session and live this long; the card asks
# for fresh ones well before (see frontend/src/card.ts).
CARD_URL_TTL: Final = timedelta(hours=1)

# Servers with another major version speak another API; below the minimum, fields are missing.
SUPPORTED_SERVER_MAJOR: Final = 0
MIN_SERVER_VERSION: Final = (0, 1, 0)

ISSUE_UNREACHABLE: Final = "server_unreachable"
ISSUE_DETECTOR_FALLBACK: Final = "detector_fallback"
ISSUE_VERSION: Final = "server_version_incompatible"
ISSUE_CAMERA_OFFLINE: Final = "camera_offline"
ISSUE_MEDIA_DISK_LOW: Final = "media_disk_low"
ISSUE_DEAD_LETTERS: Final = "dead_letters"
