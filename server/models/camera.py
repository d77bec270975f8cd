"""Cameras: one row per upload folder, keyed by the folder's normalized name.

The id is derived from the folder name (`normalize_camera_id`), so the watcher can map a new file to
its camera without a lookup table, and the same folder always maps to the same camera.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Float, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
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
#: Longest id: what every camera route accepts (`server.api.cameras.CameraId`).
MAX_CAMERA_ID_LENGTH = 100
_HASH_CHARS = 8
#: Latin letters NFKD does not take apart.
_FOLDED = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def _name_hash(name: str) -> str:
    """8 hex digits of SHA-256 over the name's bytes (undecodable ones included, as they were on disk)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _slug(text: str) -> str:
    separated = _SEPARATORS.sub("_", text.lower())
    return _REPEATED_UNDERSCORES.sub("_", _DISALLOWED.sub("", separated)).strip("_")


def normalize_camera_id(name: str) -> str:
    """The camera id for a folder or display name: `"Front Door"` -> `"front_door"`.

    Ids stay `[a-z0-9_]`, at most `MAX_CAMERA_ID_LENGTH` characters: safe in URLs, Redis keys and
    Home Assistant entity ids, and accepted by every camera route. An ASCII name maps as it always did
    (lower case; whitespace and hyphens become `_`; other characters dropped; runs of `_` collapse).
    A name with anything else is folded to ASCII where Latin letters allow (`Tür` -> `tur`) and gets
    `_` + a short stable hash of the whole name, so names that fold alike stay apart (`Tür` is
    `tur_…`, `Tur` is `tur`); with nothing foldable (`Кухня`, undecodable bytes) the id is
    `camera_<hash>`, the name staying the camera's display name. A name longer than the limit is cut
    and hashed the same way. Raises `ValueError` for a name without a single letter or digit (e.g.
    `"---"`): an id made of nothing would merge unrelated folders.
    """
    ascii_only = name.isascii()
    if not any(char.isalnum() for char in name) and ascii_only:
        raise ValueError(f"camera name {name!r} has no usable characters for an id")
    if ascii_only:
        slug, lossy = _slug(name), False
    else:
        decomposed = unicodedata.normalize("NFKD", name.lower().translate(_FOLDED))
        slug, lossy = _slug("".join(char for char in decomposed if not unicodedata.combining(char))), True
    if len(slug) > MAX_CAMERA_ID_LENGTH:
        slug, lossy = slug[: MAX_CAMERA_ID_LENGTH - _HASH_CHARS - 1].rstrip("_"), True
    if not lossy:
        return slug
    return f"{slug or 'camera'}_{_name_hash(name)}"


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
    #: HSI extension (migration 0006): per-class minimum area and score, ratio bounds and mask polygons
    #: (`server.alerts.object_filters.ObjectFilters`); detections they reject are not stored. Deferred:
    #: read only where used (`/filters`, the detect worker), so camera lists stay on the direct path.
    object_filters: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True, deferred=True)
    #: HSI extension (migration 0009): when its baselines were last forgotten (the camera moved); the
    #: hourly fold learns from that time on, not again from the old view's detections.
    baselines_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

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
