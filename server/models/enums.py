"""Enumerations of the data model, and the PostgreSQL enum types that store some of them.

Four enums are native PostgreSQL types (`alert_severity`, `alert_status`, `zone_type`, `zone_shape`):
their value sets are closed and the database should reject anything else. The audit enums and the
camera status stay plain strings in their columns, because new audit
actions appear with new features and must not need a type migration each time.

All types store the enum *values* (`"low"`, `"entry_point"`), never the Python member names, so rows
read the same from SQL, the API and Home Assistant.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum as SAEnum

from server.vocabulary import ZoneShape, ZoneType


class Severity(StrEnum):
    """Severity of an alert; the same four bands as the risk score (low 0-29 … critical 85-100)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: An alert's severity is the same set of values as a risk band's, so it is the same class (no
#: conversions between two identical enums anywhere in the code); the name reads better on alerts.
AlertSeverity = Severity


class AlertStatus(StrEnum):
    """Life cycle of an alert: created, sent to a channel, then acknowledged or dismissed by a person."""

    PENDING = "pending"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"


class CameraStatus(StrEnum):
    """Values of `cameras.status` (a string column; the enum only names the allowed values)."""

    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"


class AuditAction(StrEnum):
    """Security-relevant operations recorded in `audit_logs.action` (a string column)."""

    EVENT_REVIEWED = "event_reviewed"
    EVENT_DISMISSED = "event_dismissed"
    SETTINGS_CHANGED = "settings_changed"
    MEDIA_EXPORTED = "media_exported"
    RULE_CREATED = "rule_created"
    RULE_UPDATED = "rule_updated"
    RULE_DELETED = "rule_deleted"
    CAMERA_CREATED = "camera_created"
    CAMERA_UPDATED = "camera_updated"
    CAMERA_DELETED = "camera_deleted"
    LOGIN = "login"
    LOGOUT = "logout"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    NOTIFICATION_TEST = "notification_test"
    DATA_CLEARED = "data_cleared"


class AuditStatus(StrEnum):
    """Outcome recorded in `audit_logs.status` (a string column)."""

    SUCCESS = "success"
    FAILURE = "failure"


def _values(enum_class: type[StrEnum]) -> list[str]:
    """Store enum values, not member names (SQLAlchemy's default would store `"ENTRY_POINT"`)."""
    return [member.value for member in enum_class]


# One SQLAlchemy type object per PostgreSQL enum type. `alert_severity` is shared by
# `alerts.severity` and `alert_rules.severity`: one type in the database, created and dropped once.
alert_severity_type = SAEnum(Severity, name="alert_severity", values_callable=_values)
alert_status_type = SAEnum(AlertStatus, name="alert_status", values_callable=_values)
zone_type_type = SAEnum(ZoneType, name="zone_type", values_callable=_values)
zone_shape_type = SAEnum(ZoneShape, name="zone_shape", values_callable=_values)

#: Names of every PostgreSQL enum type the schema owns (migrations create and drop exactly these).
PG_ENUM_TYPES: tuple[str, ...] = ("alert_severity", "alert_status", "zone_type", "zone_shape")
