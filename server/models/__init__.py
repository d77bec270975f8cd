"""The HSI data model: 12 tables (README, "Data model"), one module per section, plus the
rollups the stats read (`rollups`, an HSI extension kept by database triggers).

Import models from here (`from server.models import Camera, Event`); importing this package also
registers every table on `Base.metadata`, which alembic and the schema tests rely on.
"""

from server.models.alert import Alert, AlertRule
from server.models.api_key import APIKey, hash_api_key
from server.models.audit import AuditLog
from server.models.base import Base, utcnow
from server.models.baseline import ActivityBaseline, ClassBaseline
from server.models.camera import Camera, normalize_camera_id
from server.models.detection import Detection
from server.models.enums import (
    PG_ENUM_TYPES,
    AlertSeverity,
    AlertStatus,
    AuditAction,
    AuditStatus,
    CameraStatus,
    Severity,
    ZoneShape,
    ZoneType,
)
from server.models.event import SEARCH_CONFIG, Event, json_list, object_types_of, search_query, search_rank
from server.models.gpu_stats import GPUStats
from server.models.log import Log
from server.models.rollups import EventDailyCounts, EventHourlyCounts, EventHourlyTotals, StoreCounter
from server.models.zone import Zone

__all__ = [
    "PG_ENUM_TYPES",
    "SEARCH_CONFIG",
    "APIKey",
    "ActivityBaseline",
    "Alert",
    "AlertRule",
    "AlertSeverity",
    "AlertStatus",
    "AuditAction",
    "AuditLog",
    "AuditStatus",
    "Base",
    "Camera",
    "CameraStatus",
    "ClassBaseline",
    "Detection",
    "Event",
    "EventDailyCounts",
    "EventHourlyCounts",
    "EventHourlyTotals",
    "GPUStats",
    "Log",
    "Severity",
    "StoreCounter",
    "Zone",
    "ZoneShape",
    "ZoneType",
    "hash_api_key",
    "json_list",
    "normalize_camera_id",
    "object_types_of",
    "search_query",
    "search_rank",
    "utcnow",
]
