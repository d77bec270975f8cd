"""Zones: named regions of a camera's view (normalized 0-1 coordinates) that give detections context."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.enums import ZoneShape, ZoneType, zone_shape_type, zone_type_type

if TYPE_CHECKING:
    from server.models.camera import Camera

#: Default zone colour (a blue that reads on day and night images).
DEFAULT_ZONE_COLOR = "#3B82F6"


class Zone(Base):
    """A region of interest on one camera.

    `coordinates` is a list of `[x, y]` points normalized to the image size (0-1), so a zone survives
    a camera resolution change; JSONB so the database can validate and index it if ever needed.
    """

    __tablename__ = "zones"
    __table_args__ = (
        Index("idx_zones_camera_id", "camera_id"),
        Index("idx_zones_enabled", "enabled"),
        Index("idx_zones_camera_enabled", "camera_id", "enabled"),
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)
    camera_id: Mapped[str] = mapped_column(
        String, ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    zone_type: Mapped[ZoneType] = mapped_column(
        zone_type_type, nullable=False, default=ZoneType.OTHER, server_default=ZoneType.OTHER.value
    )
    coordinates: Mapped[list[list[float]]] = mapped_column(JSONB, nullable=False)
    shape: Mapped[ZoneShape] = mapped_column(
        zone_shape_type,
        nullable=False,
        default=ZoneShape.RECTANGLE,
        server_default=ZoneShape.RECTANGLE.value,
    )
    color: Mapped[str] = mapped_column(
        String(7), nullable=False, default=DEFAULT_ZONE_COLOR, server_default=DEFAULT_ZONE_COLOR
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("true"))
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    # HSI extensions (migration 0006).
    #: Presence beyond this many seconds is loitering (NULL: the zone judges no dwell).
    loitering_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Classes whose dwell counts (NULL: people only).
    loitering_classes: Mapped[list[str] | None] = mapped_column(JSONB, nullable=True)
    #: Which detections count as in the zone (`server.alerts.object_filters.ObjectFilters`, no masks).
    object_filters: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    camera: Mapped[Camera] = relationship(back_populates="zones")

    def __repr__(self) -> str:
        return f"<Zone id={self.id!r} camera={self.camera_id!r} type={self.zone_type}>"
