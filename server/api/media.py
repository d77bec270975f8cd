"""Serving stored media: only regular files under the cameras, thumbnails, clips or ingest folders.

Media paths come from database rows (detections, events, camera folders), which a camera folder name,
an ingest or a hand-edited row could steer anywhere, and the folders themselves are written by
cameras over FTP: a file replaced by a symlink after it was processed must not lead anywhere else.
So a path is served only when, taken as written (no `..`, no `.`), it lies under one of the media
roots and not inside the data folder's private part (database files, Redis' AOF, `api_key.txt`), and
when it can be opened component by component below that root with `O_NOFOLLOW` (`openat` relative
to the directory opened before it): a symlink anywhere below the root, or anything but a regular file
at the end, is refused. Every refusal is the same 404 as a missing file, so nothing about the rest
of the filesystem can be probed.

The file is served from the descriptor that was checked (no second lookup by name), with
`ETag`/`Last-Modified`, conditional GETs and single HTTP ranges (seeking in clips).
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from email.utils import formatdate
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from aiohttp import hdrs, web

from server.api.errors import ApiError
from server.config import Settings
from server.vocabulary import mime_for_path

#: Bytes read per step when sending a file.
CHUNK_BYTES = 256 * 1024

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: opening a FIFO planted in a camera folder must not hang the thread (it is refused next).
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def media_roots(settings: Settings) -> list[Path]:
    """The folders media are served from: never the data folder itself."""
    return [settings.cameras_dir, settings.thumbnails_dir, settings.clips_dir, settings.ingest_dir]


def _served_path(settings: Settings, raw: str) -> tuple[Path, tuple[str, ...]] | None:
    """The media root holding `raw` and the components below it, or None if it may not be served."""
    path = PurePosixPath(raw)
    if not path.is_absolute() or any(part in ("..", ".") for part in raw.split("/")):
        return None
    roots = media_roots(settings)
    private = settings.data_dir
    if path.is_relative_to(private) and not any(path.is_relative_to(root) for root in roots[1:]):
        return None  # e.g. a cameras folder that contains the data folder
    for root in roots:
        if path.is_relative_to(root) and path != PurePosixPath(root):
            return root, path.relative_to(root).parts
    return None


def open_beneath(root: Path, parts: tuple[str, ...]) -> BinaryIO:
    """Open `root/parts...` for reading without following any symlink below `root`; a regular file
    only. Raises OSError (ELOOP for a symlink, ENOTDIR, ENOENT...) or PermissionError."""
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIRECTORY_FLAGS, dir_fd=directory)
            os.close(directory)
            directory = inner
        descriptor = os.open(parts[-1], _FILE_FLAGS, dir_fd=directory)
    finally:
        os.close(directory)
    handle = os.fdopen(descriptor, "rb", buffering=0)
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise IsADirectoryError(f"{parts[-1]} is not a regular file")
    return handle  # type: ignore[return-value]


def open_media(settings: Settings, raw: str | None, what: str) -> BinaryIO:
    """The opened file for a stored path, or the one 404 for anything missing or refused."""
    missing = ApiError(404, "not_found", f"{what} is not available")
    found = _served_path(settings, raw) if raw and "\x00" not in raw else None
    if found is None:
        raise missing
    try:
        return open_beneath(*found)
    except (OSError, ValueError):
        raise missing from None


def safe_path(settings: Settings, raw: str | None, what: str) -> Path:
    """The path of a stored file that passes the same checks, for a reader that needs a name (the
    video decoder of a camera's snapshot). The file may be swapped after the check; whoever reads it
    must only ever answer with what it decodes from it (a JPEG of a frame), never its bytes."""
    with open_media(settings, raw, what):
        return Path(raw or "")


def content_type(path: str | Path) -> str:
    return mime_for_path(Path(path).name)


#: One byte range, as RFC 9110 writes it (the unit is case-insensitive; whitespace around the dash is not
#: allowed, none is taken).
_BYTE_RANGE = re.compile(r"(?i:bytes)=(?P<first>\d*)-(?P<last>\d*)")


class MediaResponse(web.StreamResponse):
    """A checked, already opened file: validators, conditional GETs, one HTTP range, chunked reads."""

    def __init__(self, handle: BinaryIO, content_type: str, cache_seconds: int) -> None:
        super().__init__()
        self._handle = handle
        info = os.fstat(handle.fileno())
        self._size = info.st_size
        self._etag = f"{info.st_mtime_ns:x}-{info.st_size:x}"
        self._mtime = info.st_mtime
        self.content_type = content_type
        self.headers[hdrs.CACHE_CONTROL] = f"private, max-age={cache_seconds}"
        self.headers["X-Content-Type-Options"] = "nosniff"
        self.headers[hdrs.ACCEPT_RANGES] = "bytes"
        self.headers[hdrs.LAST_MODIFIED] = formatdate(self._mtime, usegmt=True)
        self.etag = self._etag

    def _not_modified(self, request: web.BaseRequest) -> bool:
        if (tags := request.if_none_match) is not None:
            return any(tag.value in (self._etag, "*") for tag in tags)
        since = request.if_modified_since
        return since is not None and int(self._mtime) <= since.timestamp()

    def _if_range_holds(self, request: web.BaseRequest) -> bool:
        """Whether the client's copy, named by `If-Range`, is this file (RFC 9110 13.1.5): an entity tag
        must be this strong one, a date the `Last-Modified` this file is sent with (whole seconds: an HTTP
        date has no fraction, the file's time has); no `If-Range`: it holds. A validator that is neither
        (a garbled date) does not: the client's copy is unknown, so it gets the whole file."""
        validator = request.headers.get(hdrs.IF_RANGE, "").strip()
        if not validator:
            return True
        if validator.startswith(('"', 'W/"')):
            return validator == f'"{self._etag}"'  # a weak tag never matches for a range
        if_range = request.if_range
        return if_range is not None and int(self._mtime) == int(if_range.timestamp())

    def _range(self, request: web.BaseRequest) -> tuple[int, int] | None:
        """(start, length) of the requested range; None for the whole file; ValueError if unsatisfiable.

        One byte range is served (RFC 9110 14.1.2). Anything else the header may say is answered with
        the whole file, as the RFC allows a server to: several ranges (no multipart/byteranges here),
        another unit, or syntax that is not a range. Only a well-formed range this file cannot satisfy
        is a 416: one starting at or past its end, or a suffix of no bytes (`bytes=-0`).
        """
        header = request.headers.get(hdrs.RANGE)
        if header is None or not self._if_range_holds(request):
            return None  # no range, or the client's copy is stale: the whole file
        match = _BYTE_RANGE.fullmatch(header.strip())
        if match is None:
            return None
        first, last = match.group("first"), match.group("last")
        if first:  # "bytes=F-" or "bytes=F-L"
            start = int(first)
            stop = self._size if not last else min(int(last) + 1, self._size)
            if last and int(last) < start:
                return None  # not a valid range: ignored
        elif last:  # "bytes=-N": the last N bytes
            start, stop = max(self._size - int(last), 0), self._size
            if int(last) == 0:
                raise ValueError("a suffix of no bytes")
        else:
            return None  # "bytes=-"
        if start >= self._size:
            raise ValueError("range not satisfiable")
        return start, stop - start

    async def prepare(self, request: web.BaseRequest) -> web.AbstractStreamWriter | None:
        try:
            return await self._send(request)
        finally:
            self._handle.close()

    async def _send(self, request: web.BaseRequest) -> web.AbstractStreamWriter | None:
        if self._not_modified(request):
            self.set_status(304)
            return await super().prepare(request)
        try:
            wanted = self._range(request)
        except ValueError:
            self.set_status(416)
            self.headers[hdrs.CONTENT_RANGE] = f"bytes */{self._size}"
            self.content_length = 0
            return await super().prepare(request)
        start, length = wanted or (0, self._size)
        if wanted is not None:
            self.set_status(206)
            self.headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{start + length - 1}/{self._size}"
        self.content_length = length
        writer = await super().prepare(request)
        if request.method == hdrs.METH_HEAD:
            return writer
        descriptor = self._handle.fileno()
        sent = 0
        while sent < length:
            chunk = await asyncio.to_thread(os.pread, descriptor, min(CHUNK_BYTES, length - sent), start + sent)
            if not chunk:
                break  # the file shrank meanwhile: the client sees a short body and retries
            await self.write(chunk)
            sent += len(chunk)
        await self.write_eof()
        return writer


async def file_response(
    settings: Settings, raw: str | None, what: str, *, cache_seconds: int = 3600
) -> MediaResponse:
    """The response serving a stored path after the checks above (opened off the event loop)."""
    handle = await asyncio.to_thread(open_media, settings, raw, what)
    return MediaResponse(handle, content_type(raw or ""), cache_seconds)
