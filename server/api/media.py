"""Serving stored media: only files under the data, media or cameras directory, ever.

Media paths come from database rows (detections, events, camera folders), which a camera folder name,
an ingest or a hand-edited row could steer anywhere. Every path is resolved (symlinks followed) and
must land inside one of the allowed roots; otherwise the answer is 404, exactly as for a missing file,
so nothing about the rest of the filesystem can be probed. Files go out through aiohttp's
FileResponse: sendfile, conditional requests and HTTP Range (seeking in clips) for free.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.api.errors import ApiError
from server.config import Settings

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mov": "video/quicktime",
}
IMAGE_TYPES = ("image/jpeg", "image/png")
VIDEO_TYPES = ("video/mp4", "video/x-matroska", "video/x-msvideo", "video/quicktime")


def allowed_roots(settings: Settings) -> list[Path]:
    return [settings.data_dir.resolve(), settings.media_root.resolve(), settings.cameras_dir.resolve()]


def safe_path(settings: Settings, raw: str | None, what: str) -> Path:
    """The resolved file for a stored path, or 404 if it is missing, not a file, or outside the roots."""
    missing = ApiError(404, "not_found", f"{what} is not available")
    if not raw or "\x00" in raw:
        raise missing
    try:
        resolved = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        raise missing from None
    if not any(resolved.is_relative_to(root) for root in allowed_roots(settings)):
        raise missing
    if not resolved.is_file():
        raise missing
    return resolved


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def file_response(
    settings: Settings, raw: str | None, what: str, *, cache_seconds: int = 3600
) -> web.FileResponse:
    """A FileResponse for a stored path after the safety checks (Range support included)."""
    path = safe_path(settings, raw, what)
    response = web.FileResponse(path, headers={"Content-Type": content_type(path)})
    response.headers["Cache-Control"] = f"private, max-age={cache_seconds}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
