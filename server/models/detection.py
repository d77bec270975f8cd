"""Detections: one row per object the detector found in one uploaded image or video frame."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow

if TYPE_CHECKING:
    from server.models.camera import Camera


class Detection(Base):
    """An object detection (class, confidence, bounding box in pixels) with its source media.

    The object fields are nullable: a processed file in which nothing was found
    can still be recorded. Video metadata columns are filled only for `media_type == "video"`.
    """

    __tablename__ = "detections"
    __table_args__ = (
        Index("idx_detections_camera_id", "camera_id"),
        Index("idx_detections_detected_at", "detected_at"),
        Index("idx_detections_camera_time", "camera_id", "detected_at"),
        Index("idx_detections_file_hash", "file_hash"),
        # Migration 0004: a camera's detections newest first, ties by id (the list's keyset), in one index
        # range; makes idx_detections_camera_time and idx_detections_camera_id redundant (both kept).
        Index("idx_detections_camera_id_detected_at_id", "camera_id", "detected_at", "id"),
        # Migration 0006: a track's earlier detections on its camera (the analyzer's dwell time).
        Index(
            "idx_detections_camera_track",
            "camera_id",
            "track_id",
            "detected_at",
            postgresql_where=text("track_id IS NOT NULL"),
        ),
        # Migration 0011: a camera's latest moving detection (its "latest detection"), one probe.
        Index(
            "idx_detections_camera_moving",
            "camera_id",
            "detected_at",
            "id",
            postgresql_where=text("NOT stationary"),
        ),
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence"),  # migration 0008
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(
        String, ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False
    )
    file_path: Mapped[str] = mapped_column(String, nullable=False)
    file_type: Mapped[str | None] = mapped_column(String, nullable=True)
    detected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    object_type: Mapped[str | None] = mapped_column(String, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    bbox_x: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bbox_y: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bbox_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bbox_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumbnail_path: Mapped[str | None] = mapped_column(String, nullable=True)
    media_type: Mapped[str | None] = mapped_column(
        String, nullable=True, default="image", server_default="image"
    )
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_codec: Mapped[str | None] = mapped_column(String, nullable=True)
    video_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: HSI extension (migration 0002): SHA-256 of the source file. The detect worker writes a file's
    #: rows only if none with this (camera_id, file_hash) exist, so a redelivered entry adds nothing.
    file_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: HSI extension (migration 0003): the upright size (EXIF orientation applied) of the image or video
    #: frame the box was measured on, which zones are tested against. NULL on rows from before 0003.
    image_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: HSI extension (migration 0006): the object across the camera's uploads (`pipeline.stationary`).
    track_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: HSI extension (migration 0006): the object had stayed put beyond `HSI_STATIONARY_SECONDS`; the row
    #: is kept but joins no event (and so raises no alert) until the object moves again.
    stationary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=text("false"))

    camera: Mapped[Camera] = relationship(back_populates="detections")

    def __repr__(self) -> str:
        return f"<Detection id={self.id} camera={self.camera_id!r} {self.object_type}:{self.confidence}>"
