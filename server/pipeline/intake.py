"""The one door into the pipeline: a file on disk becomes an entry of `hsi:detect`, or a logged rejection.

The watcher (FTP uploads) and the API's `/api/ingest` both call `submit_file`, so every rule — allowed
types, cheap validation, containment in the upload root, dedup, the queue cap — holds the same way for
both. A rejection raises `MediaRejected` after writing a `logs` row that names the file and the reason;
nothing is dropped without one.

The file is read once here: its bytes are hashed and their header checked (format, dimensions, the end
marker an upload cut short lacks) without decoding pixels; the one full decode happens in the detect
worker. The file's identity at that moment travels with the job (see `detect_job`). A file that looks
cut short while it was written to a moment ago is not rejected yet (`UploadIncomplete`): the writer may
be pausing between pieces, and the watcher looks again later. The processed ledger, the claim and the
queueing are one Redis script, so a new upload costs one Redis round trip and no database look-up: the
detect worker's commit is where PostgreSQL says whether these bytes were stored before (it never stores
them twice), for a whole batch of files in one query. `already_processed` (the ledger, then the
database) serves the start-up scan of files that arrived while nothing was watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import redis.asyncio as aioredis
from sqlalchemy import select

from server.models import Detection, normalize_camera_id
from server.pipeline import dedup
from server.pipeline.media.errors import MediaError
from server.pipeline.media.files import MediaType, require_media_type
from server.pipeline.media.image import MAX_IMAGE_BYTES, ImageInfo, inspect_image
from server.pipeline.media.video import VideoInfo, validate_video
from server.pipeline.detect_job import DetectJob, FileIdentity, VideoMeta
from server.pipeline.dead_letters import dead_letter_stream
from server.pipeline.streams import DETECT_STREAM, QueueFull, RedisStream, detect_stream, note_depth
from server.runtime import Runtime
from server.storable import storable
from server.vocabulary import INCOMPLETE, Rejection, logged_reason

_LOGGER = logging.getLogger("hsi.intake")

Source = Literal["watcher", "ingest"]
SubmitStatus = Literal["queued", "duplicate", "processed"]

#: Reads of a file that is written to while it is read, before intake calls it still being written.
READ_ATTEMPTS = 3

#: Ledger check, claim and capped XADD in one round trip (keys: ledger, claim, stream; args: ledger
#: member, claim value (the file's path), claim TTL, stream cap, the claim to take over ("" for none),
#: then the entry's field/value pairs). A claim held by another path is answered with that path.
_SUBMIT_LUA = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 'processed' end
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) == ARGV[5] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
elseif not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', tonumber(ARGV[3])) then
  return {'duplicate', redis.call('GET', KEYS[2]) or ''}
end
local depth = redis.call('XLEN', KEYS[3])
if depth >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[2])
  return 'full'
end
return {redis.call('XADD', KEYS[3], '*', unpack(ARGV, 6)), depth + 1}
"""



class MediaRejected(Exception):
    """The file cannot enter the pipeline; `reason` is what the log row (and an API error) says."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class UploadIncomplete(Exception):
    """The file looks cut short and was written to `age` seconds ago: look again later, reject then."""

    def __init__(self, reason: str, age: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.age = age


class StillWriting(Exception):
    """The file changed during every read: a writer is at it; its next event brings it back."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """`queued` (a new stream entry), `duplicate` (queued recently) or `processed` (done before)."""

    status: SubmitStatus
    camera_id: str
    file_hash: str
    media_type: str
    entry_id: str | None = None


@dataclass(frozen=True, slots=True)
class Inspected:
    """What one read of an upload established."""

    kind: MediaType
    info: ImageInfo | VideoInfo
    file_hash: str
    identity: FileIdentity
    mtime: float


async def already_processed(runtime: Runtime, camera_id: str, file_hash: str) -> bool:
    """In the ledger, or (older than its retention, or Redis was wiped) stored in PostgreSQL."""
    redis = runtime.redis
    if await dedup.is_processed(redis, camera_id, file_hash):
        return True
    async with runtime.database.engine.connect() as connection:  # a look-up: no ORM session needed
        stored = await connection.scalar(
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


@functools.lru_cache(maxsize=8)
def _resolved_root(root: Path) -> Path:
    """An upload root with its links resolved: a setting, resolved once rather than per file."""
    return root.resolve(strict=False)


def check_inside(path: Path, root: Path) -> None:
    """A path (or a symlink on it) must not lead out of the upload root."""
    try:
        target = path.resolve(strict=False)
    except (RuntimeError, OSError) as err:  # a symlink loop (RuntimeError before Python 3.13)
        raise MediaError(f"cannot be resolved ({err})") from None
    if not target.is_relative_to(_resolved_root(root)):
        raise MediaError(f"resolves outside the upload folder (to {target})")


def inspect_upload(path: Path, root: Path) -> Inspected:
    """Read the file once (blocking, in a thread): containment, type, cheap checks, hash, identity.

    Images are read whole and checked from memory; videos are hashed as a stream and probed by PyAV.
    The file's identity before and after the read must agree, or the read is repeated.
    """
    check_inside(path, root)
    kind = require_media_type(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise MediaError("file name is not valid UTF-8 (rename the file)") from None
    for _ in range(READ_ATTEMPTS):
        try:
            first = path.stat()
            if not stat.S_ISREG(first.st_mode):  # a fifo would block the read
                raise MediaError(Rejection.NOT_REGULAR_FILE)
            if kind == "image" and first.st_size > MAX_IMAGE_BYTES:
                raise MediaError(f"image file too large ({first.st_size} bytes, limit {MAX_IMAGE_BYTES})")
            before = FileIdentity.of(first)
            if kind == "image":
                data = path.read_bytes()
                file_hash = hashlib.sha256(data).hexdigest()
            else:
                file_hash = dedup.file_sha256(path)
            after = path.stat()
        except FileNotFoundError:
            raise MediaError(Rejection.FILE_NOT_FOUND) from None
        except PermissionError:  # retrying cannot help: rejected, logged once (a chmod brings it back)
            raise MediaError(Rejection.NOT_READABLE) from None
        if FileIdentity.of(after) != before:
            continue
        info = inspect_image(data) if kind == "image" else validate_video(path)
        return Inspected(kind, info, file_hash, before, after.st_mtime)
    raise StillWriting(f"{path} changed during each of {READ_ATTEMPTS} reads")


def _undecodable_name(path: Path, camera_folder: str) -> str | None:
    """Why a path cannot be recorded, if a name in it is not UTF-8 (e.g. Latin-1 from an old FTP
    client): PostgreSQL text, Redis entries and JSON all need UTF-8, so rows could never name it."""
    for what, name in (("camera folder name", camera_folder), ("file path", str(path))):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return f"the {what} {storable(name)!r} is not valid UTF-8: rename it (the file stays where it is)"
    return None


async def submit_file(
    runtime: Runtime,
    path: Path,
    *,
    camera_folder: str,
    source: Source,
    seen_at: float | None = None,
    incomplete_grace: float = 0.0,
) -> SubmitResult:
    """Read, check, hash, dedup and queue one file for detection (see the module docstring).

    Raises `MediaRejected` (logged) for unusable input; `UploadIncomplete` instead when the file looks
    cut short and was written within `incomplete_grace` seconds; `StillWriting` when it changed during
    every read; `QueueFull` when the stream is at its cap (nothing is claimed: try again later).
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
        found = await asyncio.to_thread(inspect_upload, path, root)
    except MediaError as err:
        age = _age(path)
        if err.reason.startswith(INCOMPLETE) and age is not None and age < incomplete_grace:
            raise UploadIncomplete(err.reason, age) from None
        raise reject(path, logged_reason(err.reason), camera_id=camera_id, source=source) from None

    redis = runtime.redis
    job = _job(path, camera_id, camera_folder, found, source, seen_at)
    settings = runtime.settings
    fields = [item for pair in job.to_fields().items() for item in pair]
    submit = redis.register_script(_SUBMIT_LUA)

    async def queue(takeover: str = "") -> object:
        args = [dedup.ledger_member(camera_id, found.file_hash), str(path), settings.dedup_ttl_seconds]
        return await submit(
            keys=[dedup.LEDGER_KEY, dedup.claim_key(camera_id, found.file_hash), DETECT_STREAM],
            args=[*args, settings.queue_max_len, takeover, *fields],
        )

    try:
        answer = await queue()
        if isinstance(answer, list) and _text(answer[0]) == "duplicate":
            holder = _text(answer[1])
            # The same bytes claimed under a name that is gone: renamed after it was queued (a writer
            # that finishes a file, then gives it its final name). Its entry will find nothing to read,
            # and this name would never be processed: it takes the claim over and is queued itself.
            if holder and holder != str(path) and not await asyncio.to_thread(os.path.lexists, holder):
                answer = await queue(takeover=holder)
    except Exception:
        # A script that fails part-way keeps what it wrote before (Redis does not roll scripts back):
        # a claim left without its entry would make the retry a "duplicate" that is never processed.
        with contextlib.suppress(Exception):
            await dedup.release(redis, camera_id, found.file_hash)
        raise
    outcome = _text(answer[0]) if isinstance(answer, list) else _text(answer)
    if outcome == "processed":
        return SubmitResult("processed", camera_id, found.file_hash, found.kind)
    if outcome == "duplicate":
        return SubmitResult("duplicate", camera_id, found.file_hash, found.kind)
    if outcome == "full":
        _LOGGER.warning(
            "queue full, %s waits",
            path,
            extra={"component": "intake", "camera_id": camera_id, "data": {"file_path": str(path)}},
        )
        raise QueueFull(f"{DETECT_STREAM} holds {settings.queue_max_len} entries (HSI_QUEUE_MAX_LEN)")
    note_depth(DETECT_STREAM, int(answer[1]), settings.queue_max_len)
    return SubmitResult("queued", camera_id, found.file_hash, found.kind, outcome)


#: The detect queue and its dead letters: what is waiting for detection, or for a person's decision.
_WAITING_STREAMS = (DETECT_STREAM, dead_letter_stream("detect"))


async def waiting_files(redis: aioredis.Redis) -> set[Path]:
    """Files queued for detection and not done with: the detect queue's entries (an entry is deleted
    once its rows are committed) and its dead letters (kept for a replay)."""
    return {Path(path) for (path,) in await _waiting(redis, _WAITING_STREAMS, b"file_path")}


async def waiting_uploads(redis: aioredis.Redis) -> set[tuple[Path, str]]:
    """`waiting_files` as (path, file hash): the bytes waiting, where a camera writes over one name."""
    found = await _waiting(redis, _WAITING_STREAMS, b"file_path", b"file_hash")
    return {(Path(path), file_hash) for path, file_hash in found}


async def waiting_cameras(redis: aioredis.Redis) -> set[str]:
    """Cameras with an upload queued for detection: not silent, however far behind the detector is."""
    return {camera_id for (camera_id,) in await _waiting(redis, (DETECT_STREAM,), b"camera_id")}


async def _waiting(redis: aioredis.Redis, streams: tuple[str, ...], *names: bytes) -> set[tuple[str, ...]]:
    """The values of fields `names` of every entry of `streams` that has them all."""
    found: set[tuple[str, ...]] = set()
    for stream in streams:
        start = "-"
        while entries := await redis.xrange(stream, min=start, count=_WAITING_PAGE):
            found.update(
                tuple(_text(fields[name]) for name in names)
                for _, fields in entries
                if all(name in fields for name in names)
            )
            start = "(" + _text(entries[-1][0])
    return found


#: Queue entries read per round trip by `waiting_files`.
_WAITING_PAGE = 1000


def _age(path: Path) -> float | None:
    """Seconds since the file was last written, or None when it is gone."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def _job(
    path: Path, camera_id: str, camera_name: str, found: Inspected, source: str, seen_at: float
) -> DetectJob:
    info = found.info
    video = VideoMeta(info.duration, info.codec) if isinstance(info, VideoInfo) else None
    return DetectJob(
        camera_id=camera_id,
        camera_name=camera_name,
        file_path=path,
        file_hash=found.file_hash,
        media_type=found.kind,
        file_type=info.mime,
        # A file's time is its camera's clock: one running ahead (a wrong time zone, common on cheap
        # cameras; kept by an FTP server's MFMT, rsync -t, an SMB copy) would date its pictures in the
        # future, and the activity they mean would last until then. Nothing is uploaded later than now.
        uploaded_at=datetime.fromtimestamp(min(found.mtime, time.time()), tz=UTC),
        source=source,
        seen_at=seen_at,
        queued_at=time.time(),
        width=info.width,
        height=info.height,
        identity=found.identity,
        video=video,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
