"""Audit trail of security-sensitive operations (who did what to which resource, and whether it worked).

`action` and `status` are strings holding `AuditAction` / `AuditStatus` values; they are not database
enums so that a new action needs no schema migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow
from server.models.enums import AuditAction, AuditStatus


class AuditLog(Base):
    """One audited operation.

    Extension of the base schema: `idx_audit_logs_resource_timestamp_id` (migration 0007), a resource's
    entries in list order, so `GET /api/audit?resource_type=…&resource_id=…` reads one index range at
    any size of the trail; it makes the base schema's `idx_audit_logs_resource` redundant (its columns
    lead the new one), which stays, as specified.
    """

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_timestamp", "timestamp"),
        Index("idx_audit_logs_action", "action"),
        Index("idx_audit_logs_resource_type", "resource_type"),
        Index("idx_audit_logs_actor", "actor"),
        Index("idx_audit_logs_status", "status"),
        Index("idx_audit_logs_resource", "resource_type", "resource_id"),
        Index("idx_audit_logs_resource_timestamp_id", "resource_type", "resource_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    action: Mapped[str] = mapped_column(String(50), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(50), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    ip_address: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    status: Mapped[str] = mapped_column(
        String(20),
        nullable=False,
        default=AuditStatus.SUCCESS.value,
        server_default=AuditStatus.SUCCESS.value,
    )

    @property
    def audit_action(self) -> AuditAction | None:
        """`action` as the enum, or None for an action this version does not know."""
        try:
            return AuditAction(self.action)
        except ValueError:
            return None

    def __repr__(self) -> str:
        return f"<AuditLog id={self.id} {self.action} {self.resource_type}/{self.resource_id} {self.status}>"
