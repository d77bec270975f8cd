"""Generate strings.json and translations/en.json of the integration (one source, no drift).

Run: python scripts/ha/gen_strings.py  (any Python 3; tests/integration/test_metadata.py checks
the files are current).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "custom_components" / "home_security_intelligence"

CONNECTION_DATA = {
    "host": "Host",
    "port": "Port",
    "ssl": "Use HTTPS",
    "verify_ssl": "Verify the HTTPS certificate",
    "api_key": "API key",
}
CONNECTION_DESC = {
    "host": "Host name or IP address of the server (the add-on's host name when it runs as an add-on).",
    "port": "Port of the server's API (8000 unless you changed HSI_PORT).",
    "ssl": "Enable when the server is behind an HTTPS proxy.",
    "verify_ssl": "Turn off only for a proxy with its own (self-signed) certificate on your network.",
    "api_key": "An API key of the server. A server without any key writes its first one to `api_key.txt` in its data folder; `python -m server keys create <name>` makes another.",
}
SEVERITY = {"low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
RULE_SEVERITY = {"from_risk": "From the event's risk", **SEVERITY}

RULE_DATA = {
    "name": "Name",
    "description": "Description",
    "enabled": "Enabled",
    "severity": "Severity",
    "risk_threshold": "Minimum risk score",
    "object_types": "Object types",
    "camera_ids": "Cameras",
    "zone_ids": "Zones",
    "min_confidence": "Minimum detection confidence",
    "days": "Days",
    "start_time": "Start time",
    "end_time": "End time",
    "timezone": "Time zone",
    "cooldown_seconds": "Cooldown",
    "channels": "Channels",
    "webhook_url": "Webhook URL",
    "webhook_secret": "Webhook secret",
}
RULE_DESC = {
    "name": "Shown in alerts and on the rule's switch.",
    "description": "What the rule is for (optional).",
    "enabled": "Disabled rules raise no alerts; the rule's switch toggles this too.",
    "severity": "Severity of the alerts this rule raises. From the event's risk: each alert takes its event's risk level (low, medium, high, critical).",
    "risk_threshold": "Alert only for events scored at least this (0-100). Empty: any score.",
    "object_types": "Alert only when one of these was detected. Empty: any object.",
    "camera_ids": "Alert only for these cameras. Empty: every camera.",
    "zone_ids": "Alert only when a detection lies in one of these zones. Empty: anywhere.",
    "min_confidence": "Ignore detections less confident than this (0-1).",
    "days": "Active on these days only. Empty: every day.",
    "start_time": "Active from this time (needs an end time; may wrap past midnight).",
    "end_time": "Active until this time.",
    "timezone": "Time zone of the schedule, for example Europe/Berlin (empty: Home Assistant's for a new rule, the rule's own when editing one).",
    "cooldown_seconds": "Do not raise the same alert again within this many seconds.",
    "channels": "Where the server delivers alerts. Home Assistant (this integration) always receives them; a webhook also gets each alert as a signed POST.",
    "webhook_url": "Where the webhook channel POSTs each alert (http:// or https://).",
    "webhook_secret": "Shared secret (at least 16 characters) the receiver checks the X-HSI-Signature HMAC with. Needed with a new webhook URL; leave empty to keep the current webhook.",
}
ZONE_DATA = {
    "camera_id": "Camera",
    "name": "Name",
    "zone_type": "Type",
    "coordinates": "Points",
    "shape": "Shape",
    "color": "Colour",
    "enabled": "Enabled",
    "priority": "Priority",
    "loitering_seconds": "Loitering time",
    "loitering_classes": "Loitering classes",
}
ZONE_DESC = {
    "camera_id": "The camera the zone belongs to.",
    "name": "Shown in alert rules and event summaries.",
    "zone_type": "What the area is; the analysis weighs activity by zone type.",
    "coordinates": "At least three corners as x,y pairs from 0 to 1 (fractions of the image width and height), separated by spaces, for example `0.1,0.5 0.6,0.5 0.6,1 0.1,1`.",
    "shape": "Rectangle or free polygon.",
    "color": "Colour used when drawing the zone.",
    "enabled": "Disabled zones are ignored by rules and analysis.",
    "priority": "Higher priority zones win when zones overlap.",
    "loitering_seconds": "Presence in the zone longer than this (seconds) is loitering: it raises the event's risk with the factor \"loitering\". Empty or 0: the zone does not judge dwell.",
    "loitering_classes": "Which objects can loiter here; empty: people.",
}
FILTERS_DATA = {"camera_id": "Camera", "classes": "Class filters", "masks": "Masks"}
FILTERS_DESC = {
    "camera_id": "The camera the filters belong to.",
    "classes": "One line per class: `person: min_area=0.01 min_score=0.6 max_ratio=1.5` (area as a share of the image, score 0 to 1, ratio = width / height; `*` for every other class).",
    "masks": "One polygon per line, its corners as x,y pairs from 0 to 1 like a zone's points, for example `0.6,0 1,0 1,0.3 0.6,0.3`. A detection standing in a mask (the bottom-centre of its box) is ignored.",
}


def _service(
    name: str, description: str, fields: dict[str, tuple[str, str]], *, entry: bool = True
) -> dict[str, object]:
    entry_field = ("Server", "The server to use; may be left out when only one is configured.")
    all_fields = {"config_entry_id": entry_field, **fields} if entry else fields
    return {
        "name": name,
        "description": description,
        "fields": {key: {"name": n, "description": d} for key, (n, d) in all_fields.items()},
    }


STRINGS: dict[str, object] = {
    "config": {
        "flow_title": "{name}",
        "step": {
            "user": {
                "title": "Connect to Home Security Intelligence",
                "description": "Enter where the Home Security Intelligence server runs and one of its API keys.",
                "data": CONNECTION_DATA,
                "data_description": CONNECTION_DESC,
            },
            "hassio_confirm": {
                "title": "Home Security Intelligence add-on found",
                "description": "Do you want to connect Home Assistant to the {addon} add-on? If an API key is asked for, the add-on announced none that works (its first key was revoked): enter one of its keys.",
                "data": {"api_key": CONNECTION_DATA["api_key"]},
                "data_description": {"api_key": CONNECTION_DESC["api_key"]},
            },
            "reauth_confirm": {
                "title": "API key rejected",
                "description": "The server at {host} no longer accepts the API key. Enter a valid one.",
                "data": {"api_key": CONNECTION_DATA["api_key"]},
                "data_description": {"api_key": CONNECTION_DESC["api_key"]},
            },
            "reconfigure": {
                "title": "Change the connection",
                "description": "Change where the server runs or the API key. It must be the same server.",
                "data": CONNECTION_DATA,
                "data_description": CONNECTION_DESC,
            },
        },
        "error": {
            "cannot_connect": "Could not reach the server. Check host, port and HTTPS.",
            "invalid_auth": "The server rejected the API key.",
            "not_hsi": "The address answers, but not as a Home Security Intelligence server.",
            "invalid_host": "Not a host name or address (for example `192.168.1.20` or `hsi.local`, without a path).",
            "unknown": "Unexpected error; see the log.",
        },
        "abort": {
            "already_configured": "This server is already configured.",
            "already_in_progress": "This server is being set up already: finish the discovered setup (Settings → Devices & services).",
            "cannot_connect": "Could not reach the discovered server.",
            "reauth_successful": "The API key was updated.",
            "reconfigure_successful": "The connection was updated.",
            "wrong_server": "That address belongs to a different server (another instance id).",
        },
    },
    "config_subentries": {
        "alert_rule": {
            "initiate_flow": {"user": "Add alert rule", "reconfigure": "Edit alert rule"},
            "entry_type": "Alert rule",
            "step": {
                step: {
                    "title": title,
                    "description": "Alert rules decide which events raise alerts. The rule is stored on the server.{message}",
                    "data": RULE_DATA,
                    "data_description": RULE_DESC,
                }
                for step, title in (("user", "Add alert rule"), ("reconfigure", "Edit alert rule"))
            },
            "error": {
                "cannot_connect": "Could not reach the server.",
                "invalid_value": "The server refused this value.",
                "secret_required": "Enter the webhook secret again to change the webhook URL.",
                "server_rejected": "The server refused the rule.",
                "time_pair": "Give both a start and an end time, or neither.",
            },
            "abort": {
                "entry_not_loaded": "The server is not connected; try again when it is.",
                "reconfigure_successful": "The rule was updated.",
            },
        },
        "zone": {
            "initiate_flow": {"user": "Add zone", "reconfigure": "Edit zone"},
            "entry_type": "Zone",
            "step": {
                step: {
                    "title": title,
                    "description": "Zones mark areas of a camera's image. The zone is stored on the server.{message}",
                    "data": ZONE_DATA if step == "user" else {k: v for k, v in ZONE_DATA.items() if k != "camera_id"},
                    "data_description": ZONE_DESC if step == "user" else {k: v for k, v in ZONE_DESC.items() if k != "camera_id"},
                }
                for step, title in (("user", "Add zone"), ("reconfigure", "Edit zone"))
            },
            "error": {
                "cannot_connect": "Could not reach the server.",
                "invalid_coordinates": "Give at least three x,y points with values from 0 to 1.",
                "invalid_value": "The server refused this value.",
                "server_rejected": "The server refused the zone.",
            },
            "abort": {
                "entry_not_loaded": "The server is not connected; try again when it is.",
                "no_cameras": "The server has no cameras yet.",
                "reconfigure_successful": "The zone was updated.",
            },
        },
        "object_filters": {
            "initiate_flow": {"user": "Set object filters", "reconfigure": "Edit object filters"},
            "entry_type": "Object filters",
            "step": {
                "user": {
                    "title": "Object filters and masks",
                    "description": "Pick the camera; its filters follow, as the server holds them.",
                    "data": {"camera_id": FILTERS_DATA["camera_id"]},
                    "data_description": {"camera_id": FILTERS_DESC["camera_id"]},
                },
                **{
                    step: {
                        "title": "Object filters and masks",
                        "description": "Filters say what a real object of a class looks like on this camera, masks where nothing counts. Detections they reject are not stored.{message}",
                        "data": {k: v for k, v in FILTERS_DATA.items() if k != "camera_id"},
                        "data_description": {k: v for k, v in FILTERS_DESC.items() if k != "camera_id"},
                    }
                    for step in ("filters", "reconfigure")
                },
            },
            "error": {
                "camera_filtered": "This camera has its filters already: change them in its own entry.",
                "cannot_connect": "Could not reach the server.",
                "invalid_filters": "A line could not be read.",
                "invalid_value": "The server refused this value.",
                "server_rejected": "The server refused the filters.",
            },
            "abort": {
                "camera_filtered": "This camera got its filters entry meanwhile: change them in its own entry.",
                "cannot_connect": "Could not reach the server.",
                "entry_not_loaded": "The server is not connected; try again when it is.",
                "every_camera_filtered": "Every camera has its filters already: change them in the camera's own entry.",
                "no_cameras": "The server has no cameras yet.",
                "reconfigure_successful": "The filters were updated.",
            },
        },
    },
    "selector": {
        "severity": {"options": SEVERITY},
        "rule_severity": {"options": RULE_SEVERITY},
        "object_type": {
            "options": {
                "person": "Person", "car": "Car", "truck": "Truck", "bus": "Bus",
                "motorcycle": "Motorcycle", "bicycle": "Bicycle", "dog": "Dog", "cat": "Cat",
                "bird": "Bird",
            }
        },
        "weekday": {
            "options": {
                "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
                "fri": "Friday", "sat": "Saturday", "sun": "Sunday",
            }
        },
        "zone_type": {
            "options": {
                "entry_point": "Entry point", "driveway": "Driveway", "sidewalk": "Sidewalk",
                "yard": "Yard", "other": "Other",
            }
        },
        "shape": {"options": {"rectangle": "Rectangle", "polygon": "Polygon"}},
        "channel": {"options": {"ha": "Home Assistant", "webhook": "Webhook"}},
    },
    "device_automation": {
        "trigger_type": {"alert": "Alert raised on {entity_name}"},
        "extra_fields": {"min_severity": "Minimum severity"},
    },
    "entity": {
        "binary_sensor": {
            "person_activity": {"name": "Person activity"},
            "vehicle_activity": {"name": "Vehicle activity"},
            "animal_activity": {"name": "Animal activity"},
            "pipeline": {"name": "Pipeline"},
        },
        "event": {
            "alert": {
                "name": "Alert",
                "state_attributes": {"event_type": {"state": SEVERITY}},
            }
        },
        "calendar": {"events": {"name": "Events"}, "all_events": {"name": "All camera events"}},
        "image": {"latest_detection": {"name": "Latest detection"}},
        "sensor": {
            "risk_score": {"name": "Risk score"},
            "risk_level": {"name": "Risk level", "state": SEVERITY},
            "last_event_summary": {"name": "Last event"},
            "events_unreviewed": {"name": "Unreviewed events"},
            "alerts_pending": {"name": "Pending alerts"},
            "queue_detect": {"name": "Detection queue"},
            "queue_analyze": {"name": "Analysis queue"},
            "queue_dead_letter": {"name": "Dead-letter queue"},
            "gpu_utilization": {"name": "GPU utilization"},
            "gpu_memory_used": {"name": "GPU memory used"},
            "gpu_memory_total": {"name": "GPU memory total"},
            "gpu_temperature": {"name": "GPU temperature"},
            "inference_fps": {"name": "Inference rate"},
        },
        "switch": {"rule": {"name": "Alert rule"}},
    },
    "exceptions": {
        "invalid_auth": {"message": "The server rejected the API key."},
        "cannot_connect": {"message": "Could not reach the server: {error}"},
        "rule_update_failed": {"message": "Could not change the rule on the server: {error}"},
        "entry_not_found": {"message": "No Home Security Intelligence server with entry id {entry_id}."},
        "entry_not_loaded": {"message": "No Home Security Intelligence server is connected."},
        "entry_required": {"message": "Several servers are configured: choose one (config_entry_id)."},
        "not_found": {"message": "The server has no {item}."},
        "rejected": {"message": "The server refused the request: {message}"},
        "invalid_device": {"message": "Device {device_id} is not a camera of this server."},
        "invalid_time_range": {"message": "The time range ends before it starts (`since` or `start` must be before `until` or `end`)."},
        "invalid_datetime": {"message": "`{field}` is not an ISO 8601 date-time: {value}"},
        "datetime_out_of_range": {"message": "`{field}` is too far in the past for a time range: {value}"},
        "unknown_camera": {"message": "No camera is named {camera}. Cameras: {cameras}."},
        "invalid_tool_arguments": {"message": "Invalid arguments: {error}"},
        "not_a_camera": {"message": "{entity_id} is not a camera entity."},
        "snapshot_failed": {"message": "Could not take a snapshot of {entity_id}: {error}"},
        "media_unknown_server": {"message": "No loaded Home Security Intelligence server with entry id {entry_id}."},
        "media_unknown_camera": {"message": "The server has no camera {camera_id}."},
        "media_not_browsable": {"message": "Not a folder of Home Security Intelligence media: {identifier}"},
        "media_not_playable": {"message": "Not a playable Home Security Intelligence media item: {identifier}"},
        "not_media_path": {"message": "Not a media path of a loaded Home Security Intelligence server: {path}"},
    },
    "issues": {
        "server_unreachable": {
            "title": "{title} is unreachable",
            "description": "Home Assistant has not reached the server at {url} for more than 15 minutes. Its entities are unavailable. Check that the server (or add-on) runs and that the address is right; reconfigure the integration if it moved.",
        },
        "detector_fallback": {
            "title": "{title} is not running the detector it was configured for",
            "description": "The server detects with {backend} instead: {reason}. Detection goes on meanwhile. A model that is being downloaded clears this by itself once it is ready; otherwise check the server's `detector_model` option (add-on) or `HSI_DETECTOR_MODEL` (a Hugging Face Hub id or a path to a model) and restart the server.",
        },
        "camera_offline": {
            "title": "{camera} is disconnected",
            "description": "The camera {camera} of {title} has uploaded nothing since {since}, far longer than its usual rhythm (learned from its uploads; a camera's own limit can be set with the server's API). Check the camera's power, network and FTP upload settings. This issue goes away with its next upload.",
        },
        "server_version_incompatible": {
            "title": "{title} runs an incompatible version",
            "description": "The server reports version {version}; this integration supports {supported}. Update the server or the integration so their versions match.",
        },
        "media_disk_low": {
            "title": "{title} is running out of disk space",
            "description": "The disk that holds the server's thumbnails, clips and uploads has less than {minimum}% free. The server removes the oldest media first (the events themselves stay) until there is room again. Free some space, give the media folder a larger disk (the add-on's `media_dir` option or `HSI_MEDIA_DIR`), or keep events for fewer days (`retention_days`).",
        },
        "dead_letters": {
            "title": "{title} gave up on {count} queued items",
            "description": "{count} uploads or batches failed repeatedly for a reason of their own (an unreadable file, for example; a database or disk that was briefly away never causes this) and were set aside as dead letters. Nothing retries them by itself. List them with the server's API (`GET /api/system/dead-letters`, each with its error), then replay (`POST /api/system/dead-letters/<queue>/<id>/replay`) or drop (`DELETE`) each. This issue goes away once none are left.",
        },
    },
    "services": {
        "acknowledge_alert": _service("Acknowledge alert", "Marks an alert as acknowledged.", {
            "alert_id": ("Alert ID", "The alert's ID (the alert_id of the alert event).")}),
        "dismiss_alert": _service("Dismiss alert", "Dismisses an alert.", {
            "alert_id": ("Alert ID", "The alert's ID (the alert_id of the alert event).")}),
        "review_event": _service("Review event", "Marks an event as reviewed, optionally with notes.", {
            "event_id": ("Event ID", "The event's ID."),
            "reviewed": ("Reviewed", "Whether the event counts as reviewed."),
            "notes": ("Notes", "Notes to store with the event.")}),
        "search_events": _service("Search events", "Full-text search over event summaries and reasoning; returns the events.", {
            "query": ("Query", "Words to look for (at most 500 characters)."),
            "limit": ("Limit", "Most events to return.")}),
        "get_events": _service("Get events", "Returns recent events, filtered.", {
            "device_id": ("Camera", "Only events of this camera."),
            "risk_level": ("Risk level", "Only events of this risk level."),
            "min_risk": ("Minimum risk score", "Only events scored at least this."),
            "reviewed": ("Reviewed", "Only reviewed (on) or unreviewed (off) events."),
            "since": ("Since", "Only events that started at or after this (Home Assistant's time zone unless it has an offset)."),
            "until": ("Until", "Only events that started before this (Home Assistant's time zone unless it has an offset)."),
            "limit": ("Limit", "Most events to return.")}),
        "test_rule": _service("Test alert rule", "Evaluates a rule against recent events without raising alerts; returns which matched and why.", {
            "rule_id": ("Rule ID", "The rule's ID.")}),
        "analyze_image": _service("Analyze camera image", "Takes a snapshot of Home Assistant cameras and sends it through the detection and analysis pipeline.", {
            "entity_id": ("Cameras", "Camera entities to snapshot."),
            "camera_id": ("Server camera", "Camera on the server to file the images under, e.g. `Back Yard` or `back_yard` (default: the entity's object ID).")}),
        "get_media_url": _service("Get media URL", "Signs a thumbnail or clip path of an alert or event (its `thumbnail_path`) for one hour, e.g. for a phone notification's image; returns `url` (none without a path) and `expires_at`.", {
            "path": ("Path", "The media path, as the `thumbnail_path` of an alert or security event.")}, entry=False),
    },
}


def render() -> str:
    """The text of both files (tests/integration/test_metadata.py checks they are current)."""
    return json.dumps(STRINGS, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write both files, identical (English is the source language)."""
    text = render()
    (ROOT / "strings.json").write_text(text, encoding="utf-8")
    (ROOT / "translations").mkdir(exist_ok=True)
    (ROOT / "translations" / "en.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
