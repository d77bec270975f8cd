"""Conversions between server objects (rules, zones) and subentry data / form input.

Subentry data mirrors the server object (plus its id) so the reconfigure forms can be prefilled
without a server round trip; the forms flatten the nested schedule and the colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .api_types import AlertRule, Zone
from .const import SEVERITY_FROM_RISK, WEEKDAYS

RULE_FIELDS = (
    "name",
    "description",
    "enabled",
    "severity",
    "risk_threshold",
    "object_types",
    "camera_ids",
    "zone_ids",
    "min_confidence",
    "schedule",
    "dedup_key_template",
    "cooldown_seconds",
    "channels",
    "webhook",
)
ZONE_FIELDS = (
    "name",
    "zone_type",
    "coordinates",
    "shape",
    "color",
    "enabled",
    "priority",
    "loitering_seconds",
    "loitering_classes",
)


def rule_to_subentry_data(rule: AlertRule) -> dict[str, Any]:
    """Subentry data of a server rule."""
    data: dict[str, Any] = {key: rule.get(key) for key in RULE_FIELDS if key in rule}
    data["rule_id"] = rule["id"]
    return data


def zone_to_subentry_data(zone: Zone, camera_id: str) -> dict[str, Any]:
    """Subentry data of a server zone."""
    data: dict[str, Any] = {key: zone.get(key) for key in ZONE_FIELDS if key in zone}
    data["zone_id"] = zone["id"]
    data["camera_id"] = zone.get("camera_id", camera_id)
    return data


def rule_form_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Form values (schedule flattened) of a rule's subentry data."""
    values = {key: data[key] for key in RULE_FIELDS if data.get(key) is not None}
    values.setdefault("severity", SEVERITY_FROM_RISK)
    schedule = values.pop("schedule", None) or {}
    for key in ("days", "start_time", "end_time", "timezone"):
        if schedule.get(key):
            values[key] = schedule[key]
    webhook = values.pop("webhook", None) or {}
    if webhook.get("url"):
        values["webhook_url"] = webhook["url"]  # the server never returns the secret
    return values


def webhook_secret_missing(
    user_input: Mapping[str, Any], current: Mapping[str, Any] | None
) -> bool:
    """Whether the form sets a new webhook URL without its secret.

    The server takes a webhook's URL only together with its secret (and never returns the
    secret), so a URL without one could only be dropped; keeping the current URL is fine.
    """
    url = user_input.get("webhook_url")
    if not url or user_input.get("webhook_secret") or "webhook" not in (
        user_input.get("channels") or ()
    ):
        return False
    webhook = (current or {}).get("webhook") or {}
    return bool(url != webhook.get("url"))


def rule_body_from_form(
    user_input: Mapping[str, Any], default_timezone: str | None
) -> dict[str, Any]:
    """Server rule body of the rule form's input (schedule nested, empties as null); a severity
    "from the event's risk" is no severity of the rule's own, and a schedule without a time zone gets
    `default_timezone` (None: the home's, the server's `HSI_TIMEZONE`)."""
    severity = user_input.get("severity", SEVERITY_FROM_RISK)
    body: dict[str, Any] = {
        "name": user_input["name"],
        "description": user_input.get("description") or None,
        "enabled": user_input.get("enabled", True),
        "severity": None if severity == SEVERITY_FROM_RISK else severity,
        "risk_threshold": _int_or_none(user_input.get("risk_threshold")),
        "object_types": user_input.get("object_types") or None,
        "camera_ids": user_input.get("camera_ids") or None,
        "zone_ids": user_input.get("zone_ids") or None,
        "min_confidence": user_input.get("min_confidence"),
        "cooldown_seconds": int(user_input.get("cooldown_seconds", 300)),
        "channels": list(user_input.get("channels") or ["ha"]),
    }
    url, secret = user_input.get("webhook_url"), user_input.get("webhook_secret")
    if not url:
        body["webhook"] = None  # cleared (or never given)
    elif secret:
        body["webhook"] = {"url": url, "secret": secret}
    # else: the URL is unchanged (webhook_secret_missing): a reconfigure keeps the server's webhook,
    # also while the webhook channel is off (a webhook paused keeps its secret, which the server never
    # returns); a new rule with the channel and no webhook is refused by the server, saying why
    if user_input.get("dedup_key_template"):
        body["dedup_key_template"] = user_input["dedup_key_template"]
    days = user_input.get("days") or []
    start, end = user_input.get("start_time"), user_input.get("end_time")
    if days or start or end:
        # The server needs all four: no days is every day, no times the whole day (start == end).
        body["schedule"] = {
            "days": list(days) or list(WEEKDAYS),
            "start_time": str(start or "00:00")[:5],
            "end_time": str(end or "00:00")[:5],
            "timezone": user_input.get("timezone") or default_timezone,
        }
    else:
        body["schedule"] = None
    return body


def loitering_body(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """A zone's loitering fields from its form: no time (or 0) means the zone judges no dwell."""
    seconds = user_input.get("loitering_seconds")
    classes = [str(name).strip().lower() for name in user_input.get("loitering_classes") or ()]
    return {
        "loitering_seconds": int(seconds) if seconds else None,
        "loitering_classes": [name for name in classes if name] or None,
    }


def parse_coordinates(text: str) -> list[list[float]]:
    """Parse ``"x,y x,y ..."`` (space or ``;`` separated) into normalised points.

    Raises ValueError when a point is malformed, out of 0..1, or there are fewer than 3.
    """
    points: list[list[float]] = []
    for chunk in text.replace(";", " ").split():
        parts = chunk.split(",")
        if len(parts) != 2:
            raise ValueError(chunk)
        x, y = float(parts[0]), float(parts[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(chunk)
        points.append([x, y])
    if len(points) < 3:
        raise ValueError("at least three points")
    return points


def format_number(value: float) -> str:
    """A number for a form's text, exactly as stored (the shortest text that reads back the same, no
    `.0`): saving the form unchanged must not move a corner or a bound set elsewhere."""
    return repr(value).removesuffix(".0")


def format_coordinates(points: list[list[float]]) -> str:
    """The text form of a point list, for prefilling the zone form."""
    return " ".join(f"{format_number(x)},{format_number(y)}" for x, y in points)


def hex_to_rgb(color: str) -> list[int]:
    """``#RRGGBB`` to ``[r, g, b]`` for the colour picker."""
    value = color.lstrip("#")
    return [int(value[i : i + 2], 16) for i in (0, 2, 4)]


def rgb_to_hex(rgb: list[int]) -> str:
    """``[r, g, b]`` from the colour picker to ``#RRGGBB``."""
    return "#" + "".join(f"{int(c):02X}" for c in rgb)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
