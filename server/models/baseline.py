"""Per-camera activity baselines, which let the analyzer say "unusual for this camera at this hour".

Both tables hold one row per time slot (unique constraints below), updated in place with an
exponentially weighted average; the unique constraints are what make a concurrent
`INSERT … ON CONFLICT … DO UPDATE` from several analyze workers safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow

if TYPE_CHECKING:
    from server.models.camera import Camera


class ActivityBaseline(Base):
    """Average activity count of one camera for one hour of one weekday (0 = Monday)."""

    __tablename__ = "activity_baselines"
    __table_args__ = (
        UniqueConstraint("camera_id", "hour", "day_of_week", name="uq_activity_baseline_slot"),
        Index("idx_activity_baseline_camera", "camera_id"),
        Index("idx_activity_baseline_slot", "camera_id", "hour", "day_of_week"),
        # Migration 0008: the base schema's ranges.
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(
        String, ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False
    )
    hour: Mapped[int] = mapped_column(Integer, nullable=False)
    day_of_week: Mapped[int] = mapped_column(Integer, nullable=False)
    avg_count: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default=text("0"))
    sample_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    last_updated: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )

    camera: Mapped[Camera] = relationship(back_populates="activity_baselines")

    def __repr__(self) -> str:
        return (
            f"<ActivityBaseline camera={self.camera_id!r} hour={self.hour} dow={self.day_of_week} "
            f"avg={self.avg_count}>"
        )


class ClassBaseline(Base):
    """How often one object class appears on one camera in one hour of the day."""

    __tablename__ = "class_baselines"
    __table_args__ = (
        UniqueConstraint("camera_id", "detection_class", "hour", name="uq_class_baseline_slot"),
        Index("idx_class_baseline_camera", "camera_id"),
        Index("idx_class_baseline_class", "camera_id", "detection_class"),
        Index("idx_class_baseline_slot", "camera_id", "detection_class", "hour"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),  # migration 0008
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(
        String, ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False
    )
    detection_class: Mapped[str] = mapped_column(String, nullable=False)
    hour: Mapped[int] = mapped_column(Integer, nullable=False)
    frequency: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default=text("0"))
    sample_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    last_updated: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )

    camera: Mapped[Camera] = relationship(back_populates="class_baselines")

    def __repr__(self) -> str:
        return (
            f"<ClassBaseline camera={self.camera_id!r} class={self.detection_class!r} "
            f"hour={self.hour} freq={self.frequency}>"
        )
