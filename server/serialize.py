"""JSON forms of the resources, shared by the REST API and the pub/sub broadcast (one per resource).

Both paths must show a client the same shape for the same row, so there is exactly one function per
resource and nobody builds these dicts by hand elsewhere.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from server.models import (
    ActivityBaseline,
    Alert,
    AlertRule,
    APIKey,
    AuditLog,
    Camera,
    ClassBaseline,
    Detection,
    Event,
    GPUStats,
    Log,
    Zone,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def camera_to_dict(camera: Camera) -> dict[str, Any]:
    return {
        "id": camera.id,
        "name": camera.name,
        "folder_path": camera.folder_path,
        "status": camera.status,
        "created_at": _iso(camera.created_at),
        "last_seen_at": _iso(camera.last_seen_at),
        "upload_gap_seconds": camera.upload_gap_seconds,
        "offline_after_seconds": camera.offline_after_seconds,
    }


def detection_to_dict(detection: Detection) -> dict[str, Any]:
    return {
        "id": detection.id,
        "camera_id": detection.camera_id,
        "file_path": detection.file_path,
        "file_type": detection.file_type,
        "detected_at": _iso(detection.detected_at),
        "object_type": detection.object_type,
        "confidence": detection.confidence,
        "bbox": (
            None
            if detection.bbox_x is None
            else {
                "x": detection.bbox_x,
                "y": detection.bbox_y,
                "width": detection.bbox_width,
                "height": detection.bbox_height,
            }
        ),
        "thumbnail_path": detection.thumbnail_path,
        "thumbnail_url": f"/api/detections/{detection.id}/thumbnail" if detection.thumbnail_path else None,
        "image_url": f"/api/detections/{detection.id}/image",
        "media_type": detection.media_type,
        "duration": detection.duration,
        "video_codec": detection.video_codec,
        "video_width": detection.video_width,
        "video_height": detection.video_height,
    }


# --- resources added by the API (same rule: one function per resource, used by REST and broadcast) ---


def json_list(value: str | None) -> list[Any]:
    """Decode a JSON-array-as-text column (`events.detection_ids`, `events.object_types`).

    `object_types` is also accepted as a comma-separated string (the reference's cached form), so the
    API shows a list whatever form the writer chose.
    """
    if not value:
        return []
    stripped = value.strip()
    if stripped.startswith("["):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            return []
        return decoded if isinstance(decoded, list) else []
    return [part.strip() for part in stripped.split(",") if part.strip()]


def event_summary(event: Event) -> dict[str, Any]:
    """The short form of an event embedded in a camera (its latest event)."""
    return {
        "id": event.id,
        "risk_score": event.risk_score,
        "risk_level": event.risk_level,
        "summary": event.summary,
        "started_at": _iso(event.started_at),
        "object_types": [str(item) for item in json_list(event.object_types)],
    }


def camera_with_activity(
    camera: Camera, last_event: Event | None, last_detection_id: int | None
) -> dict[str, Any]:
    """A camera as the REST API lists it: the row plus its latest event and detection."""
    return {
        **camera_to_dict(camera),
        "last_event": event_summary(last_event) if last_event is not None else None,
        "last_detection_id": last_detection_id,
    }


def event_to_dict(event: Event) -> dict[str, Any]:
    detection_ids = [int(item) for item in json_list(event.detection_ids)]
    return {
        "id": event.id,
        "batch_id": event.batch_id,
        "camera_id": event.camera_id,
        "started_at": _iso(event.started_at),
        "ended_at": _iso(event.ended_at),
        "risk_score": event.risk_score,
        "risk_level": event.risk_level,
        "summary": event.summary,
        "reasoning": event.reasoning,
        "detection_ids": detection_ids,
        "reviewed": event.reviewed,
        "notes": event.notes,
        "is_fast_path": event.is_fast_path,
        "object_types": [str(item) for item in json_list(event.object_types)],
        "clip_path": event.clip_path,
        "analysis_backend": event.analysis_backend,
        "thumbnail_url": f"/api/events/{event.id}/thumbnail" if detection_ids else None,
        "has_clip": event.clip_path is not None,
    }


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": str(alert.id),
        "event_id": alert.event_id,
        "rule_id": str(alert.rule_id) if alert.rule_id is not None else None,
        "severity": str(alert.severity),
        "status": str(alert.status),
        "created_at": _iso(alert.created_at),
        "updated_at": _iso(alert.updated_at),
        "delivered_at": _iso(alert.delivered_at),
        "channels": list(alert.channels or []),
        "dedup_key": alert.dedup_key,
        "metadata": dict(alert.alert_metadata or {}),
    }


def alert_rule_to_dict(rule: AlertRule) -> dict[str, Any]:
    """A rule; a webhook's secret is never shown again after it was set (`has_secret` says it is)."""
    webhook = (rule.conditions or {}).get("webhook") if isinstance(rule.conditions, dict) else None
    return {
        "id": str(rule.id),
        "name": rule.name,
        "description": rule.description,
        "enabled": rule.enabled,
        "severity": None if rule.severity is None else str(rule.severity),
        "risk_threshold": rule.risk_threshold,
        "object_types": rule.object_types,
        "camera_ids": rule.camera_ids,
        "zone_ids": rule.zone_ids,
        "min_confidence": rule.min_confidence,
        "schedule": rule.schedule,
        "dedup_key_template": rule.dedup_key_template,
        "cooldown_seconds": rule.cooldown_seconds,
        "channels": list(rule.channels or []),
        "webhook": (
            {"url": webhook.get("url"), "has_secret": bool(webhook.get("secret"))}
            if isinstance(webhook, dict)
            else None
        ),
        "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


def zone_to_dict(zone: Zone) -> dict[str, Any]:
    return {
        "id": zone.id,
        "camera_id": zone.camera_id,
        "name": zone.name,
        "zone_type": str(zone.zone_type),
        "coordinates": [[float(x), float(y)] for x, y in zone.coordinates],
        "shape": str(zone.shape),
        "color": zone.color,
        "enabled": zone.enabled,
        "priority": zone.priority,
        "created_at": _iso(zone.created_at),
        "updated_at": _iso(zone.updated_at),
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


def gpu_stats_to_dict(row: GPUStats) -> dict[str, Any]:
    return {
        "recorded_at": _iso(row.recorded_at),
        "gpu_name": row.gpu_name,
        "utilization": row.gpu_utilization,
        "memory_used": row.memory_used,
        "memory_total": row.memory_total,
        "temperature": row.temperature,
        "power_usage": row.power_usage,
        "inference_fps": row.inference_fps,
    }


def log_to_dict(row: Log) -> dict[str, Any]:
    return {
        "id": row.id,
        "timestamp": _iso(row.timestamp),
        "level": row.level,
        "component": row.component,
        "message": row.message,
        "camera_id": row.camera_id,
        "event_id": row.event_id,
        "detection_id": row.detection_id,
        "request_id": row.request_id,
        "duration_ms": row.duration_ms,
        "extra": row.extra,
        "source": row.source,
        "user_agent": row.user_agent,
    }


def audit_to_dict(row: AuditLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "timestamp": _iso(row.timestamp),
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "actor": row.actor,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "details": row.details,
        "status": row.status,
    }


def api_key_to_dict(row: APIKey) -> dict[str, Any]:
    """A key without its hash: the hash is a credential-equivalent for offline guessing."""
    return {"id": row.id, "name": row.name, "created_at": _iso(row.created_at), "is_active": row.is_active}
