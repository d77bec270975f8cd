"""JSON forms of the resources, shared by the REST API and the pub/sub broadcast (one per resource).

Both paths must show a client the same shape for the same row, so there is exactly one function per
resource and nobody builds these dicts by hand elsewhere.

Each function takes a model object (the pipeline's, read by attribute) or a row read by name (the
API's read paths: a driver record or a row mapping, see server/api/rows.py, or a plain dict): the
fields are the model's attribute names either way. The list endpoints call these for every row of a
page, so they read each field once and parse the JSON-as-text columns with orjson.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import RowMapping

from server.models import ActivityBaseline, ClassBaseline

#: A model object (Camera, Event, …) or a row of its columns read by name.
Readable = Any

_BY_NAME = (asyncpg.Record, RowMapping, dict)


def reader(row: Readable) -> Callable[[str], Any]:
    """Field access by attribute name, for model objects and rows alike."""
    return row.__getitem__ if isinstance(row, _BY_NAME) else row.__getattribute__


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def camera_to_dict(camera: Readable) -> dict[str, Any]:
    get = reader(camera)
    return {
        "id": get("id"),
        "name": get("name"),
        "folder_path": get("folder_path"),
        "status": get("status"),
        "created_at": _iso(get("created_at")),
        "last_seen_at": _iso(get("last_seen_at")),
        "upload_gap_seconds": get("upload_gap_seconds"),
        "offline_after_seconds": get("offline_after_seconds"),
    }


def detection_to_dict(detection: Readable) -> dict[str, Any]:
    get = reader(detection)
    detection_id = get("id")
    bbox_x = get("bbox_x")
    thumbnail_path = get("thumbnail_path")
    return {
        "id": detection_id,
        "camera_id": get("camera_id"),
        "file_path": get("file_path"),
        "file_type": get("file_type"),
        "detected_at": _iso(get("detected_at")),
        "object_type": get("object_type"),
        "confidence": get("confidence"),
        "bbox": (
            None
            if bbox_x is None
            else {"x": bbox_x, "y": get("bbox_y"), "width": get("bbox_width"), "height": get("bbox_height")}
        ),
        "thumbnail_path": thumbnail_path,
        "thumbnail_url": f"/api/detections/{detection_id}/thumbnail" if thumbnail_path else None,
        "image_url": f"/api/detections/{detection_id}/image",
        "media_type": get("media_type"),
        "duration": get("duration"),
        "video_codec": get("video_codec"),
        "video_width": get("video_width"),
        "video_height": get("video_height"),
        "track_id": get("track_id"),
        "stationary": bool(get("stationary")),
    }


# --- resources added by the API (same rule: one function per resource, used by REST and broadcast) ---


def json_list(value: str | None) -> list[Any]:
    """Decode a JSON-array-as-text column (`events.detection_ids`, `events.object_types`).

    `object_types` is also accepted as a comma-separated string (the form older rows may hold), so the
    API shows a list whatever form the writer chose.
    """
    if not value:
        return []
    stripped = value.strip()
    if stripped.startswith("["):
        try:
            decoded = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return []
        return decoded if isinstance(decoded, list) else []
    return [part.strip() for part in stripped.split(",") if part.strip()]


def event_summary(event: Readable) -> dict[str, Any]:
    """The short form of an event embedded in a camera (its latest event)."""
    get = reader(event)
    return {
        "id": get("id"),
        "risk_score": get("risk_score"),
        "risk_level": get("risk_level"),
        "summary": get("summary"),
        "started_at": _iso(get("started_at")),
        "object_types": [str(item) for item in json_list(get("object_types"))],
    }


def camera_with_activity(
    camera: Readable, last_event: Readable | None, last_detection_id: int | None
) -> dict[str, Any]:
    """A camera as the REST API lists it: the row plus its latest event and detection."""
    return {
        **camera_to_dict(camera),
        "last_event": event_summary(last_event) if last_event is not None else None,
        "last_detection_id": last_detection_id,
    }


def event_to_dict(event: Readable) -> dict[str, Any]:
    get = reader(event)
    event_id = get("id")
    detection_ids = [int(item) for item in json_list(get("detection_ids"))]
    clip_path = get("clip_path")
    return {
        "id": event_id,
        "batch_id": get("batch_id"),
        "camera_id": get("camera_id"),
        "started_at": _iso(get("started_at")),
        "ended_at": _iso(get("ended_at")),
        "risk_score": get("risk_score"),
        "risk_level": get("risk_level"),
        "summary": get("summary"),
        "reasoning": get("reasoning"),
        "detection_ids": detection_ids,
        "reviewed": get("reviewed"),
        "notes": get("notes"),
        "is_fast_path": get("is_fast_path"),
        "object_types": [str(item) for item in json_list(get("object_types"))],
        "clip_path": clip_path,
        "analysis_backend": get("analysis_backend"),
        "thumbnail_url": f"/api/events/{event_id}/thumbnail" if detection_ids else None,
        "has_clip": clip_path is not None,
    }


def alert_to_dict(alert: Readable) -> dict[str, Any]:
    get = reader(alert)
    rule_id = get("rule_id")
    return {
        "id": str(get("id")),
        "event_id": get("event_id"),
        "rule_id": str(rule_id) if rule_id is not None else None,
        "severity": str(get("severity")),
        "status": str(get("status")),
        "created_at": _iso(get("created_at")),
        "updated_at": _iso(get("updated_at")),
        "delivered_at": _iso(get("delivered_at")),
        "channels": list(get("channels") or []),
        "dedup_key": get("dedup_key"),
        "metadata": dict(get("alert_metadata") or {}),
    }


def alert_rule_to_dict(rule: Readable) -> dict[str, Any]:
    """A rule; a webhook's secret is never shown again after it was set (`has_secret` says it is)."""
    get = reader(rule)
    conditions = get("conditions")
    webhook = (conditions or {}).get("webhook") if isinstance(conditions, dict) else None
    return {
        "id": str(get("id")),
        "name": get("name"),
        "description": get("description"),
        "enabled": get("enabled"),
        "severity": None if (severity := get("severity")) is None else str(severity),
        "risk_threshold": get("risk_threshold"),
        "object_types": get("object_types"),
        "camera_ids": get("camera_ids"),
        "zone_ids": get("zone_ids"),
        "min_confidence": get("min_confidence"),
        "schedule": get("schedule"),
        "dedup_key_template": get("dedup_key_template"),
        "cooldown_seconds": get("cooldown_seconds"),
        "channels": list(get("channels") or []),
        "webhook": (
            {"url": webhook.get("url"), "has_secret": bool(webhook.get("secret"))}
            if isinstance(webhook, dict)
            else None
        ),
        "created_at": _iso(get("created_at")),
        "updated_at": _iso(get("updated_at")),
    }


def zone_to_dict(zone: Readable) -> dict[str, Any]:
    get = reader(zone)
    return {
        "id": get("id"),
        "camera_id": get("camera_id"),
        "name": get("name"),
        "zone_type": str(get("zone_type")),
        "coordinates": [[float(x), float(y)] for x, y in get("coordinates")],
        "shape": str(get("shape")),
        "color": get("color"),
        "enabled": get("enabled"),
        "priority": get("priority"),
        "loitering_seconds": get("loitering_seconds"),
        "loitering_classes": get("loitering_classes"),
        "object_filters": get("object_filters"),
        "created_at": _iso(get("created_at")),
        "updated_at": _iso(get("updated_at")),
    }


def activity_baseline_to_dict(row: ActivityBaseline) -> dict[str, Any]:
    return {
        "hour": row.hour,
        "day_of_week": row.day_of_week,
        "avg_count": row.avg_count,
        "sample_count": row.sample_count,
        "last_updated": _iso(row.last_updated),
    }


def class_baseline_to_dict(row: ClassBaseline) -> dict[str, Any]:
    return {
        "detection_class": row.detection_class,
        "hour": row.hour,
        "frequency": row.frequency,
        "sample_count": row.sample_count,
        "last_updated": _iso(row.last_updated),
    }


def gpu_stats_to_dict(row: Readable) -> dict[str, Any]:
    get = reader(row)
    return {
        "recorded_at": _iso(get("recorded_at")),
        "gpu_name": get("gpu_name"),
        "utilization": get("gpu_utilization"),
        "memory_used": get("memory_used"),
        "memory_total": get("memory_total"),
        "temperature": get("temperature"),
        "power_usage": get("power_usage"),
        "inference_fps": get("inference_fps"),
    }


def log_to_dict(row: Readable) -> dict[str, Any]:
    get = reader(row)
    return {
        "id": get("id"),
        "timestamp": _iso(get("timestamp")),
        "level": get("level"),
        "component": get("component"),
        "message": get("message"),
        "camera_id": get("camera_id"),
        "event_id": get("event_id"),
        "detection_id": get("detection_id"),
        "request_id": get("request_id"),
        "duration_ms": get("duration_ms"),
        "extra": get("extra"),
        "source": get("source"),
        "user_agent": get("user_agent"),
    }


def audit_to_dict(row: Readable) -> dict[str, Any]:
    get = reader(row)
    return {
        "id": get("id"),
        "timestamp": _iso(get("timestamp")),
        "action": get("action"),
        "resource_type": get("resource_type"),
        "resource_id": get("resource_id"),
        "actor": get("actor"),
        "ip_address": get("ip_address"),
        "user_agent": get("user_agent"),
        "details": get("details"),
        "status": get("status"),
    }


def api_key_to_dict(row: Readable) -> dict[str, Any]:
    """A key without its hash: the hash is a credential-equivalent for offline guessing."""
    get = reader(row)
    return {
        "id": get("id"),
        "name": get("name"),
        "created_at": _iso(get("created_at")),
        "is_active": get("is_active"),
    }
