"""HTTP ingest: an image or clip pushed by a client joins the pipeline exactly like an FTP upload.

The body (raw, or the `file` part of a multipart form) is streamed to
`<data_dir>/ingest/<camera_id>/` with a size cap, then handed to `intake.submit_file` — the same
validation, dedup, camera creation and queue as the watcher's. Home Assistant uses this to analyse a
snapshot of any of its camera entities.

A file stays in the ingest folder only once it is queued: whatever else happens (rejected, duplicate,
queue full, Redis or the database away, any unexpected error) it is removed before the answer, so the
client's retry is the one copy. A queued file that is then lost to the queue (Redis wiped) is found by
the watcher's start-up catch-up, which scans the ingest folder as well as the cameras folder.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.api.declare import Call, Routes
from server.api.errors import ApiError
from server.api.registry import json_response
from server.api.state import SETTINGS
from server.models import normalize_camera_id
from server.pipeline.cameras import ensure_camera
from server.pipeline.faults import describe, is_transient
from server.pipeline.intake import MediaRejected, submit_file
from server.pipeline.streams import QueueFull
from server.vocabulary import EXTENSION_BY_MIME, MIME_BY_EXTENSION

_LOGGER = logging.getLogger("hsi.ingest")

routes = Routes("ingest")

#: Accepted body types and the extension the file gets (the pipeline recognises media by extension).
EXTENSIONS = EXTENSION_BY_MIME
CHUNK = 256 * 1024


class IngestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$")] = Field(
        description="Camera the media belongs to (normalized: `Front Door` → `front_door`); created if new."
    )


class IngestResult(BaseModel):
    accepted: bool = Field(description="True when the file was queued; false for a recent duplicate.")
    status: Literal["queued", "duplicate", "processed"]
    camera_id: str
    file: str
    media_type: str


async def _write_limited(stream: Any, path: Path, limit: int) -> int:
    """Copy a body stream to `path`; 413 (and no file left behind) past `limit` bytes."""
    size = 0
    with path.open("wb") as out:
        while True:
            chunk = await (
                stream.read_chunk(CHUNK) if isinstance(stream, BodyPartReader) else stream.read(CHUNK)
            )
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"media bodies are limited to {limit} bytes")
            out.write(chunk)
    return size


async def _file_part(reader: MultipartReader) -> BodyPartReader:
    """The form's `file` part (422 when there is none)."""
    while True:
        part = await reader.next()
        if part is None:
            raise ApiError(
                422,
                "validation_error",
                "the form has no `file` part",
                [{"field": "file", "message": "required", "in": "body"}],
            )
        if isinstance(part, BodyPartReader) and part.name == "file":
            return part


async def _receive(call: Call, folder: Path, limit: int) -> Path:
    """The uploaded file written under `folder` (raw body or multipart `file` part)."""
    request = call.request
    media_type = request.content_type
    stem = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}_{uuid.uuid4().hex[:8]}"
    if media_type == "multipart/form-data":
        try:
            reader = await request.multipart()
            part = await _file_part(reader)
        except (HttpProcessingError, ValueError, AssertionError) as err:
            raise ApiError(400, "invalid_multipart", f"the multipart body cannot be read: {err}") from None
        suffix = Path(part.filename or "").suffix.lower()
        media_type = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type not in EXTENSIONS:
            media_type = MIME_BY_EXTENSION.get(suffix, media_type)
        source: Any = part
    else:
        source = request.content
    if media_type not in EXTENSIONS:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"unsupported media type {media_type or 'none'!r}",
            {"accepted": sorted(EXTENSIONS)},
        )
    partial = folder / f".{stem}.part"
    target = folder / f"{stem}{EXTENSIONS[media_type]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if await _write_limited(source, partial, limit) == 0:
            raise ApiError(422, "invalid_media", "the body is empty")
        partial.rename(target)
    except (HttpProcessingError, web.RequestPayloadError, ValueError) as err:
        # RequestPayloadError: a body declared compressed (Content-Encoding) that does not decompress.
        raise ApiError(400, "invalid_multipart", f"the body cannot be read: {err}") from None
    except OSError as err:
        if not is_transient(err):
            raise
        raise ApiError(503, "unavailable", f"the upload cannot be stored now: {describe(err)}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


@routes.post(
    "/api/ingest",
    summary="Push an image or clip into the pipeline",
    query=IngestQuery,
    raw_body=(*EXTENSIONS, "multipart/form-data"),
    response=IngestResult,
    status=202,
    also=(200,),
    errors=(415, 503),
)
async def ingest(call: Call) -> web.Response:
    """202 when queued for detection; 200 with `accepted: false` for media seen in the dedup window;
    503 `queue_full` or `unavailable` (Redis or the database away): nothing was kept, send it again."""
    runtime = call.runtime
    try:
        camera_id = normalize_camera_id(call.query.camera_id)
    except ValueError as err:
        raise ApiError(
            422, "validation_error", str(err), [{"field": "camera_id", "message": str(err), "in": "query"}]
        ) from None
    limit = call.request.app[SETTINGS].max_ingest_bytes
    if call.request.content_length is not None and call.request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"media bodies are limited to {limit} bytes")
    path = await _receive(call, runtime.settings.ingest_dir / camera_id, limit)
    try:
        result = await submit_file(runtime, path, camera_folder=camera_id, source="ingest")
    except MediaRejected as err:
        path.unlink(missing_ok=True)
        raise ApiError(
            422, "invalid_media", f"not usable media: {err.reason}", {"reason": err.reason}
        ) from None
    except QueueFull as err:
        path.unlink(missing_ok=True)
        raise ApiError(503, "queue_full", str(err)) from None
    except Exception as err:  # nothing was queued: leave no orphan behind
        path.unlink(missing_ok=True)
        if is_transient(err):
            raise ApiError(503, "unavailable", f"the pipeline cannot take media now: {describe(err)}") from None
        raise
    # The API answers with the camera, so it exists now, not only once the detect worker has run
    # (with the database away, the detect worker creates it when it commits the file's rows).
    try:
        await ensure_camera(runtime, camera_id, camera_id, str(runtime.settings.ingest_dir / camera_id))
    except Exception as err:
        if not is_transient(err):
            raise
        _LOGGER.warning(
            "camera %s not created yet (%s); its first detections create it",
            camera_id,
            describe(err),
            extra={"component": "ingest", "camera_id": camera_id},
        )
    if result.status != "queued":
        with contextlib.suppress(OSError):
            path.unlink()
    body = {
        "accepted": result.status == "queued",
        "status": result.status,
        "camera_id": result.camera_id,
        "file": str(path),
        "media_type": result.media_type,
    }
    return json_response(body, status=202 if result.status == "queued" else 200)
