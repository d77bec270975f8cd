"""Alerts and the rules that generate them.

`alerts.rule_id` is `ON DELETE SET NULL` (not CASCADE): an alert is the record that somebody was
notified about an event. Deleting or replacing a rule must not erase that history; the alert keeps
its event, severity, dedup key and channels, and simply no longer points at a rule. Deleting the
*event* does remove its alerts (CASCADE): an alert without its event has nothing left to show.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.enums import (
    AlertSeverity,
    AlertStatus,
    alert_severity_type,
    alert_status_type,
)

if TYPE_CHECKING:
    from server.models.event import Event

#: Default `dedup_key_template`: one alert per camera and rule within the cooldown.
DEFAULT_DEDUP_KEY_TEMPLATE = "{camera_id}:{rule_id}"
#: Default `cooldown_seconds` (5 minutes).
DEFAULT_COOLDOWN_SECONDS = 300


class AlertRule(Base):
    """Conditions under which an event raises an alert (all set conditions must hold: AND).

    Empty or NULL filters (`object_types`, `camera_ids`, `zone_ids`) match everything. `conditions` holds
    only the rule's webhook (`server.alerts.rule_row`).
    """

    __tablename__ = "alert_rules"
    __table_args__ = (
        Index("idx_alert_rules_name", "name"),
        Index("idx_alert_rules_enabled", "enabled"),
        Index("idx_alert_rules_severity", "severity"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("true"))
    #: NULL: alerts of the rule take the event's risk level (`server.alerts.severity`; HSI extension,
    #: migration 0005; before it, a rule's severity was required and defaulted to medium).
    severity: Mapped[AlertSeverity | None] = mapped_column(alert_severity_type, nullable=True)
    risk_threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)
    object_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    camera_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    zone_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    min_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    dedup_key_template: Mapped[str] = mapped_column(
        String(255),
        nullable=False,
        default=DEFAULT_DEDUP_KEY_TEMPLATE,
        server_default=DEFAULT_DEDUP_KEY_TEMPLATE,
    )
    cooldown_seconds: Mapped[int] = mapped_column(
        Integer,
        nullable=False,
        default=DEFAULT_COOLDOWN_SECONDS,
        server_default=text(str(DEFAULT_COOLDOWN_SECONDS)),
    )
    channels: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    # No delete cascade: the database sets alerts.rule_id to NULL (module docstring says why).
    alerts: Mapped[list[Alert]] = relationship(back_populates="rule", passive_deletes=True)

    def __repr__(self) -> str:
        return f"<AlertRule id={self.id} name={self.name!r} enabled={self.enabled}>"


class Alert(Base):
    """A notification raised for an event by a rule, with its delivery state.

    The column `metadata` is mapped as `alert_metadata` because `metadata` is reserved on declarative
    classes (it is the `MetaData` of the schema).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("idx_alerts_event_id", "event_id"),
        Index("idx_alerts_rule_id", "rule_id"),
        Index("idx_alerts_severity", "severity"),
        Index("idx_alerts_status", "status"),
        Index("idx_alerts_created_at", "created_at"),
        Index("idx_alerts_dedup_key", "dedup_key"),
        Index("idx_alerts_dedup_key_created_at", "dedup_key", "created_at"),
        # Migration 0004: pending alerts newest first (the list a notifier and Home Assistant poll), a
        # small partial index that stays small however many delivered alerts accumulate.
        Index("idx_alerts_pending", "created_at", "id", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("alert_rules.id", ondelete="SET NULL"), nullable=True
    )
    severity: Mapped[AlertSeverity] = mapped_column(
        alert_severity_type,
        nullable=False,
        default=AlertSeverity.MEDIUM,
        server_default=AlertSeverity.MEDIUM.value,
    )
    status: Mapped[AlertStatus] = mapped_column(
        alert_status_type,
        nullable=False,
        default=AlertStatus.PENDING,
        server_default=AlertStatus.PENDING.value,
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    channels: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    dedup_key: Mapped[str] = mapped_column(String(255), nullable=False)
    alert_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)

    event: Mapped[Event] = relationship(back_populates="alerts")
    rule: Mapped[AlertRule | None] = relationship(back_populates="alerts")

    def __repr__(self) -> str:
        return f"<Alert id={self.id} event={self.event_id} {self.severity}/{self.status}>"
