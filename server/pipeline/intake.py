"""The one door into the pipeline: a file on disk becomes an entry of `hsi:detect`, or a logged rejection.

The watcher (FTP uploads) and the API's `/api/ingest` both call `submit_file`, so every rule — allowed
types, full validation, containment in the upload root, dedup, camera creation, the queue cap — holds
the same way for both. A rejection raises `MediaRejected` after writing a `logs` row that names the
file and the reason; nothing is dropped without one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select

from server.models import Detection, normalize_camera_id
from server.pipeline import dedup, media
from server.pipeline.cameras import ensure_camera
from server.pipeline.streams import QueueFull, RedisStream, detect_stream
from server.runtime import Runtime
from server.storable import storable

_LOGGER = logging.getLogger("hsi.intake")

Source = Literal["watcher", "ingest"]
SubmitStatus = Literal["queued", "duplicate", "processed"]


class MediaRejected(Exception):
    """The file cannot enter the pipeline; `reason` is what the log row (and an API error) says."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """`queued` (a new stream entry), `duplicate` (queued recently) or `processed` (done before)."""

    status: SubmitStatus
    camera_id: str
    file_hash: str
    media_type: str
    entry_id: str | None = None


async def already_processed(runtime: Runtime, camera_id: str, file_hash: str) -> bool:
    """In the ledger, or (older than its retention, or Redis was wiped) stored in PostgreSQL."""
    redis = runtime.redis
    if await dedup.is_processed(redis, camera_id, file_hash):
        return True
    async with runtime.database.sessions() as session:
        stored = await session.scalar(
            select(Detection.id)
            .where(Detection.camera_id == camera_id, Detection.file_hash == file_hash)
            .limit(1)
        )
    if stored is None:
        return False
    await dedup.mark_processed(redis, camera_id, file_hash)
    return True


def upload_root(runtime: Runtime, source: Source) -> Path:
    settings = runtime.settings
    return settings.cameras_dir if source == "watcher" else settings.ingest_dir


def pipeline_stream(runtime: Runtime) -> RedisStream:
    settings = runtime.settings
    return detect_stream(
        runtime.redis, max_len=settings.queue_max_len, max_retries=settings.stream_max_retries
    )


def reject(path: Path, reason: str, *, camera_id: str | None, source: str) -> MediaRejected:
    """Log the rejection (a `logs` row through the `hsi` handler) and return the exception to raise."""
    _LOGGER.warning(
        "rejected %s: %s",
        path,
        reason,
        extra={
            "component": "intake",
            "camera_id": camera_id,
            "data": {"file_path": str(path), "reason": reason, "source": source},
        },
    )
    return MediaRejected(reason, path)


def _check_inside(path: Path, root: Path) -> None:
    """A path (or a symlink on it) must not lead out of the upload root."""
    target = path.resolve(strict=False)
    if not target.is_relative_to(root.resolve(strict=False)):
        raise media.MediaError(f"resolves outside the upload folder (to {target})")


def _inspect(path: Path, root: Path) -> tuple[str, media.ImageInfo | media.VideoInfo, str]:
    """Blocking checks, in a thread: containment, type, full validation, hash."""
    _check_inside(path, root)
    kind = media.require_media_type(path)
    info: media.ImageInfo | media.VideoInfo
    info = media.validate_image(path) if kind == "image" else media.validate_video(path)
    try:
        file_hash = dedup.file_sha256(path)
    except FileNotFoundError:
        raise media.MediaError("file not found") from None
    return kind, info, file_hash


def _undecodable_name(path: Path, camera_folder: str) -> str | None:
    """Why a path cannot be recorded, if a name in it is not UTF-8 (e.g. Latin-1 from an old FTP
    client): PostgreSQL text, Redis entries and JSON all need UTF-8, so rows could never name it."""
    for what, name in (("camera folder name", camera_folder), ("file path", str(path))):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return f"the {what} {storable(name)!r} is not valid UTF-8: rename it (the file stays where it is)"
    return None


def _reason(err: media.MediaError) -> str:
    if err.reason == "file not found":
        return "file not found (deleted before it could be processed)"
    return err.reason


async def submit_file(
    runtime: Runtime,
    path: Path,
    *,
    camera_folder: str,
    source: Source,
    seen_at: float | None = None,
) -> SubmitResult:
    """Validate, hash, dedup and queue one file for detection (see the module docstring).

    Raises `MediaRejected` (logged) for unusable input, `QueueFull` when the stream is at its cap (the
    dedup claim is released, so the caller can simply try again later).
    """
    seen_at = time.time() if seen_at is None else seen_at
    try:
        camera_id = normalize_camera_id(camera_folder)
    except ValueError:
        reason = f"folder name {camera_folder!r} has no usable characters for a camera id"
        raise reject(path, reason, camera_id=None, source=source) from None
    if (unreadable := _undecodable_name(path, camera_folder)) is not None:
        raise reject(path, unreadable, camera_id=camera_id, source=source)
    root = upload_root(runtime, source)
    try:
        kind, info, file_hash = await asyncio.to_thread(_inspect, path, root)
        mtime = path.stat().st_mtime
    except media.MediaError as err:
        raise reject(path, _reason(err), camera_id=camera_id, source=source) from None
    except FileNotFoundError:
        raise reject(path, _reason(media.MediaError("file not found")), camera_id=camera_id, source=source) from None

    redis = runtime.redis
    if await already_processed(runtime, camera_id, file_hash):
        return SubmitResult("processed", camera_id, file_hash, kind)
    if not await dedup.claim(redis, camera_id, file_hash, path, runtime.settings.dedup_ttl_seconds):
        return SubmitResult("duplicate", camera_id, file_hash, kind)
    try:
        await ensure_camera(runtime, camera_id, camera_folder, str(root / camera_folder))
        fields = _entry_fields(path, camera_id, kind, info, file_hash, mtime, source, seen_at)
        entry_id = await pipeline_stream(runtime).add(fields)
    except BaseException as err:
        await dedup.release(redis, camera_id, file_hash)
        if isinstance(err, QueueFull):
            _LOGGER.warning(
                "queue full, %s waits: %s",
                path,
                err,
                extra={"component": "intake", "camera_id": camera_id, "data": {"file_path": str(path)}},
            )
        raise
    return SubmitResult("queued", camera_id, file_hash, kind, entry_id)


def _entry_fields(
    path: Path,
    camera_id: str,
    kind: str,
    info: media.ImageInfo | media.VideoInfo,
    file_hash: str,
    mtime: float,
    source: str,
    seen_at: float,
) -> dict[str, str]:
    """The `hsi:detect` entry: the reference's five fields plus what saves the worker a second probe."""
    fields = {
        "camera_id": camera_id,
        "file_path": str(path),
        "timestamp": datetime.fromtimestamp(mtime, tz=UTC).isoformat(),
        "media_type": kind,
        "file_hash": file_hash,
        "file_type": info.mime,
        "source": source,
        "seen_at": f"{seen_at:.6f}",
        "queued_at": f"{time.time():.6f}",
    }
    if isinstance(info, media.VideoInfo):
        fields |= {
            "duration": str(info.duration),
            "video_codec": info.codec,
            "video_width": str(info.width),
            "video_height": str(info.height),
        }
    return fields
