"""An entry of `hsi:detect`: one upload to run detection on, as intake queues it and workers read it.

Everything the worker needs travels with the job, so it never probes the file again: the camera and
its display name (the worker creates the camera row if it is new), the content hash, the upright size
from the header, the video's metadata, and the file's identity when it was hashed (device, inode, size,
modification and change times). An unchanged identity proves the bytes the worker reads are the ones
that were hashed, so the worker hashes only when the file was written again since.

Entries queued by an older release lack the newer fields; `from_fields` reads them as unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

MediaType = Literal["image", "video"]


class MalformedJob(ValueError):
    """An entry that is not a detect job (a field missing or unreadable); it is bad input in itself."""


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What changes whenever a file's content can have: its inode, size, modification and change times."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileIdentity:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def __str__(self) -> str:
        return f"{self.device}:{self.inode}:{self.size}:{self.mtime_ns}:{self.ctime_ns}"

    @classmethod
    def parse(cls, text: str) -> FileIdentity:
        device, inode, size, mtime_ns, ctime_ns = (int(part) for part in text.split(":"))
        return cls(device, inode, size, mtime_ns, ctime_ns)


@dataclass(frozen=True, slots=True)
class VideoMeta:
    duration: float
    codec: str


@dataclass(frozen=True, slots=True)
class DetectJob:
    camera_id: str
    camera_name: str
    file_path: Path
    file_hash: str
    media_type: MediaType
    file_type: str
    #: When the camera wrote the file (its modification time): a snapshot's detections' time, the end
    #: of a recording (see detect_worker._pictures_from).
    uploaded_at: datetime
    source: str
    #: Wall-clock seconds: the watcher saw the file, intake queued it (for latency figures).
    seen_at: float
    queued_at: float
    #: Upright size from the header (images) or the stream (videos); None in entries of older releases.
    width: int | None = None
    height: int | None = None
    identity: FileIdentity | None = None
    video: VideoMeta | None = None

    def to_fields(self) -> dict[str, str]:
        fields = {
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "file_path": str(self.file_path),
            "file_hash": self.file_hash,
            "media_type": self.media_type,
            "file_type": self.file_type,
            "timestamp": self.uploaded_at.isoformat(),
            "source": self.source,
            "seen_at": f"{self.seen_at:.6f}",
            "queued_at": f"{self.queued_at:.6f}",
        }
        if self.width is not None and self.height is not None:
            fields |= {"width": str(self.width), "height": str(self.height)}
        if self.identity is not None:
            fields["identity"] = str(self.identity)
        if self.video is not None:
            fields |= {"duration": str(self.video.duration), "video_codec": self.video.codec}
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> DetectJob:
        try:
            media_type = fields["media_type"]
            if media_type not in ("image", "video"):
                raise MalformedJob(f"media_type {media_type!r}")
            uploaded_at = datetime.fromisoformat(fields["timestamp"])
            width, height = fields.get("width") or fields.get("video_width"), fields.get("height") or fields.get(
                "video_height"
            )
            return cls(
                camera_id=fields["camera_id"],
                camera_name=fields.get("camera_name") or fields["camera_id"],
                file_path=Path(fields["file_path"]),
                file_hash=fields["file_hash"],
                media_type=media_type,  # type: ignore[arg-type]  # checked above
                file_type=fields.get("file_type") or "",
                uploaded_at=uploaded_at if uploaded_at.tzinfo else uploaded_at.replace(tzinfo=UTC),
                source=fields.get("source", "watcher"),
                seen_at=float(fields.get("seen_at") or fields.get("queued_at") or 0.0),
                queued_at=float(fields.get("queued_at") or 0.0),
                width=int(width) if width else None,
                height=int(height) if height else None,
                identity=FileIdentity.parse(fields["identity"]) if fields.get("identity") else None,
                video=VideoMeta(float(fields.get("duration") or 0.0), fields.get("video_codec") or "")
                if media_type == "video"
                else None,
            )
        except (KeyError, ValueError) as err:
            raise MalformedJob(f"not a detect job ({type(err).__name__}: {err})") from err
