"""Cameras: one row per upload folder, keyed by the folder's normalized name.

The id is derived from the folder name (`normalize_camera_id`), so the watcher can map a new file to
its camera without a lookup table, and the same folder always maps to the same camera.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, Float, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, utcnow
from server.models.enums import CameraStatus

if TYPE_CHECKING:
    from server.models.baseline import ActivityBaseline, ClassBaseline
    from server.models.detection import Detection
    from server.models.event import Event
    from server.models.zone import Zone

_SEPARATORS = re.compile(r"[\s\-]+")
_DISALLOWED = re.compile(r"[^a-z0-9_]")
_REPEATED_UNDERSCORES = re.compile(r"_+")


def normalize_camera_id(name: str) -> str:
    """The camera id for a folder or display name: `"Front Door"` -> `"front_door"`.

    Lower-case; whitespace and hyphens become `_`; every other character outside `[a-z0-9_]` is
    dropped; runs of `_` collapse and leading/trailing `_` go. The result is safe in URLs, Redis keys
    and Home Assistant entity ids. Raises `ValueError` when nothing is left (e.g. `"---"`), because an
    empty id would silently merge unrelated folders.
    """
    lowered = name.lower()
    separated = _SEPARATORS.sub("_", lowered)
    kept = _DISALLOWED.sub("", separated)
    collapsed = _REPEATED_UNDERSCORES.sub("_", kept).strip("_")
    if not collapsed:
        raise ValueError(f"camera name {name!r} has no usable characters for an id")
    return collapsed


class Camera(Base):
    """A security camera and its status.

    Deleting a camera deletes everything recorded for it (detections, events and through them alerts,
    zones, baselines), both through the ORM cascade and through `ON DELETE CASCADE` on every foreign
    key, so a plain SQL `DELETE FROM cameras` is just as complete. `passive_deletes=True` lets the
    database do that work instead of the ORM loading every child row first.
    """

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    folder_path: Mapped[str] = mapped_column(String, nullable=False)
    status: Mapped[str] = mapped_column(
        String, nullable=False, default=CameraStatus.ONLINE.value, server_default=CameraStatus.ONLINE.value
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # HSI extensions (migration 0005): what the camera shows, and when its silence means "offline".
    #: The newest file the camera uploaded, with or without detections (its snapshot).
    last_upload_path: Mapped[str | None] = mapped_column(String, nullable=True)
    #: Learned longest recent silence between two uploads (`server.pipeline.upload_pattern`).
    upload_gap_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The user's setting: silence after which the camera is offline (NULL: learned, else the default).
    offline_after_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)

    detections: Mapped[list[Detection]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )
    zones: Mapped[list[Zone]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )
    activity_baselines: Mapped[list[ActivityBaseline]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )
    class_baselines: Mapped[list[ClassBaseline]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Camera id={self.id!r} status={self.status!r}>"
