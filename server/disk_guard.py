"""The disk guard: when the media folder's disk runs short, the oldest media go first.

Thumbnails, clips and HTTP uploads are what fills a disk: a row is a few hundred bytes, its thumbnail
tens of kilobytes, a clip megabytes. When free space on the disk that holds the media folder falls
below `media_min_free_percent`, the oldest media files (by modification time) are removed until
`HEADROOM_PERCENT` more than that is free again. Their rows stay (an event keeps its summary, risk and
alerts; asking for a removed thumbnail answers 404): the guard overrides the retention settings for
media only, which is why it logs a warning and the health report names it (`storage` component).

An HTTP upload the detector has not seen yet is not media but work: it stays while its queue entry (or
its dead letter) does, like a file still being written (a dotfile). Removing it would lose the upload
that the API answered 202 for.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from server.config import Settings

_LOGGER = logging.getLogger("hsi.disk_guard")

#: (total, free) bytes of the file system holding a path.
DiskUsage = Callable[[Path], tuple[int, int]]
#: The files still waiting for detection (asked only when the guard has to remove something).
Waiting = Callable[[], Awaitable[Collection[Path]]]
#: What the guard frees beyond the threshold, so it does not run again at the next new thumbnail.
HEADROOM_PERCENT = 2.0


def disk_usage(path: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.total, usage.free


def free_percent(settings: Settings, usage: DiskUsage | None = None) -> float | None:
    """Free space on the media folder's disk, in percent (None when the folder does not exist yet)."""
    root = settings.media_root
    if not root.exists():
        return None
    total, free = (usage or disk_usage)(root)
    return 100.0 * free / total if total else None


def media_folders(settings: Settings) -> list[Path]:
    return [settings.thumbnails_dir, settings.clips_dir, settings.ingest_dir]


async def guard_media(settings: Settings, waiting: Waiting, usage: DiskUsage | None = None) -> dict[str, Any]:
    """Remove the oldest media while free space is below the threshold, never a file in `waiting()`;
    what it found and did."""
    usage = usage or disk_usage
    threshold = settings.media_min_free_percent
    before = free_percent(settings, usage)
    report: dict[str, Any] = {"free_percent": None if before is None else round(before, 2)}
    if before is None or threshold <= 0 or before >= threshold:
        return report
    kept = frozenset(await waiting())
    files, size = await asyncio.to_thread(_remove_oldest, settings, usage, threshold + HEADROOM_PERCENT, kept)
    after = free_percent(settings, usage)
    report.update(files=files, bytes=size, free_percent_after=None if after is None else round(after, 2))
    _LOGGER.warning(
        "media disk low: %.1f%% free (below %.1f%%); removed the %d oldest media files (%d bytes), %.1f%% free now",
        before,
        threshold,
        files,
        size,
        after or 0.0,
        extra={"component": "retention", "data": report},
    )
    return report


def _remove_oldest(
    settings: Settings, usage: DiskUsage, target_percent: float, kept: frozenset[Path]
) -> tuple[int, int]:
    """Blocking: walk the media folders, remove files oldest first until `target_percent` is free."""
    candidates = []
    for folder in media_folders(settings):
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.name.startswith(".") or path in kept:
                    continue
                try:
                    if path.is_file():
                        candidates.append((path.stat().st_mtime, path))
                except OSError:
                    continue
    candidates.sort()
    total, free = usage(settings.media_root)
    target = total * target_percent / 100
    count = size = 0
    for _, path in candidates:
        if free >= target:
            break
        try:
            length = path.stat().st_size
            path.unlink()
        except OSError:
            continue
        count += 1
        size += length
        free += length
        if count % 100 == 0:  # what the file system says, now and then (others write too)
            free = usage(settings.media_root)[1]
    return count, size
