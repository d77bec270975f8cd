"""FileWatcher: camera uploads under `HSI_CAMERAS_DIR` (one folder per camera) join the pipeline.

watchdog reports file events from its own thread; each is handed to the asyncio loop with
`call_soon_threadsafe`. There a file goes to `intake.submit_file` the moment it is finished:

- **closed after writing** (inotify's `IN_CLOSE_WRITE`, the native observer on Linux) or **renamed into
  place** (FTP servers and `rsync` publish finished uploads that way): submitted at once, no waiting;
- **created** (an image): tried at once as well. A file that appears complete in a folder created a
  moment ago (a new camera's first upload, written before the folder's watch existed) gets no other
  event; a file still being written looks cut short and is simply looked at again (below);
- **created or modified** only: submitted once nothing more happened to it for `HSI_FILE_STABLE_SECONDS`.
  With the native observer this is a safety net (a close that was never reported); with the polling
  observer (NFS, SMB and Docker mounts report no close) it is how a file is known to be finished. Every
  new write restarts the wait, so a writer that pauses between pieces is never given up on.

A file that looks cut short although it was just written to (a writer that closes between pieces) is
not rejected at once: intake says `UploadIncomplete`, and the file is looked at again when its grace has
passed (or at its next event). A write that arrives while a file is being queued goes through the whole
path again afterwards: new bytes become their own entry, the same bytes are a dedup no-op. A full queue
parks files without reading them again until the queue has room.

At start-up, `catch_up` walks the root for files that arrived while nothing was watching, and the
ingest folder (`<data>/ingest/<camera>/`, where `/api/ingest` keeps what it queued) for HTTP uploads
whose queue entry was lost: a file whose `(camera, sha256)` is in the processed ledger or already has
detection rows is skipped, everything else goes through the same path as a live upload (an ingest
file as source `ingest`). It looks back as far as the ledger
remembers (a week) by when each file arrived (its inode's change time, which a copy keeping old
modification times still sets): older files are left alone, and the log says how many, so that a
start does not re-hash years of camera folders.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
import time
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from server.models import normalize_camera_id
from server.pipeline import dedup
from server.pipeline.media.files import media_type
from server.pipeline.intake import (
    MediaRejected,
    Source,
    StillWriting,
    UploadIncomplete,
    already_processed,
    reject,
    submit_file,
    waiting_uploads,
)
from server.pipeline.streams import DETECT_STREAM, QueueFull
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.watcher")

#: Events that mean "the writer is done with this file".
FINISHED_EVENTS = frozenset({"closed", "moved"})
#: What the kernel is asked to report (inotify's mask is built from it): not opens, reads or deletes,
#: so the pipeline's own reads of each upload wake nothing.
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    DirCreatedEvent,  # a new folder the server cannot read is said so (`FileWatcher.folder_created`)
]
#: With close events, how long a file written and never reported closed waits before it is taken.
NATIVE_SAFETY_SECONDS = 5.0
#: How long a file that looks cut short may have been written to before it is rejected as such.
INCOMPLETE_GRACE_SECONDS = 10.0
RETRY_SECONDS = 5.0
CATCH_UP_CONCURRENCY = 4
#: How far back the start-up catch-up looks: as far as the processed ledger remembers.
CATCH_UP_WINDOW_SECONDS = dedup.LEDGER_RETENTION_SECONDS
#: Files read, hashed and queued at once: each holds a thread, a database and a Redis connection for a
#: moment; a burst of uploads waits here, not in the pools.
SUBMIT_CONCURRENCY = 4
#: Names FTP servers and clients give files while they are still being written; the final name
#: arrives with a move event, so these are not uploads (and not rejections) in their own right.
IN_PROGRESS_SUFFIXES = frozenset({".part", ".tmp", ".filepart", ".partial", ".crdownload"})


#: Where Linux says how many folders one user may watch (inotify watches, one per folder), and the
#: share of it at which the cameras folder's folders are worth a warning.
WATCH_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
WATCH_LIMIT_SHARE = 0.8
#: Pairs of camera folders whose moves are logged (one line each), at most.
MOVES_LOGGED_MAX = 1000

#: Folders a NAS keeps inside shared folders: thumbnails of every picture (Synology's @eaDir, QNAP's
#: @__thumb), recycle bins, snapshots. Their pictures are copies of uploads, not uploads.
NAS_FOLDERS = frozenset({"@eaDir", "@__thumb", "#recycle", "#snapshot", "@Recycle", "@Recently-Snapshot"})


def _camera_part(root: Path, path: Path) -> str | None:
    """The camera folder a path lies in under `root` (None outside it, or directly in it)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    return parts[0] if len(parts) >= 2 else None


def _unreadable(folder: Path) -> None:
    _LOGGER.warning(
        "cannot read %s: uploads in it are not seen (give the server's user read access)",
        folder,
        extra={"component": "watcher", "data": {"folder": str(folder)}},
    )


def is_in_progress_name(path: Path) -> bool:
    return path.name.startswith(".") or path.suffix.lower() in IN_PROGRESS_SUFFIXES


def is_system_folder(name: str) -> bool:
    """A folder no camera writes to: a hidden one (a desktop's trash, Syncthing's old versions) or a
    NAS's own. Nothing in it is an upload, and it is no camera."""
    return name.startswith(".") or name in NAS_FOLDERS


class _Relay(FileSystemEventHandler):
    """Runs in watchdog's thread; only forwards paths and what happened to them to the loop."""

    def __init__(self, watcher: FileWatcher, loop: asyncio.AbstractEventLoop) -> None:
        self._watcher = watcher
        self._loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            if event.event_type == "created":
                self._forward(self._watcher.folder_created, Path(os.fsdecode(event.src_path)))
            return
        if event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        raw = event.dest_path if event.event_type == "moved" else event.src_path
        path = Path(os.fsdecode(raw))
        if is_in_progress_name(path):  # an upload's temporary name: its rename is the event that counts
            return
        if self._watcher.in_system_folder(path):
            return
        if event.event_type == "moved" and self._watcher.between_cameras(Path(os.fsdecode(event.src_path)), path):
            return
        self._forward(self._watcher.notify, path, event.event_type)

    def _forward(self, handler: Callable[..., None], *args: object) -> None:
        try:
            self._loop.call_soon_threadsafe(handler, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            pass


class FileWatcher:
    """Watch the cameras root; `start()`, `catch_up()`, `stop()` (all on the event loop)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.root = runtime.settings.cameras_dir
        #: Where uploads live, and the intake source of each: the cameras (watched) and HTTP ingest
        #: (only scanned at start-up: the API queues its files itself).
        self.roots: dict[Path, Source] = {self.root: "watcher", runtime.settings.ingest_dir: "ingest"}
        self.polling = runtime.settings.watcher_polling
        stable = runtime.settings.file_stable_seconds
        #: How long a file must stay untouched before it is taken without a "finished" event.
        self.quiet_seconds = stable if self.polling else max(stable, NATIVE_SAFETY_SECONDS)
        self._observer: BaseObserver | None = None
        self._timers: dict[Path, asyncio.TimerHandle] = {}
        self._first_seen: dict[Path, float] = {}
        self._tasks: dict[Path, asyncio.Task[None]] = {}
        self._written_since: set[Path] = set()  # written to while being submitted: go again
        self._parked: set[Path] = set()  # refused by a full queue: retried once it has room
        self._parked_task: asyncio.Task[None] | None = None
        self._submitting = asyncio.Semaphore(SUBMIT_CONCURRENCY)
        #: Pairs of camera folders files were moved between (logged once each; `between_cameras`).
        self._moves_logged: set[tuple[str, str]] = set()

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        observer: BaseObserver = PollingObserver(timeout=1) if self.polling else Observer()
        observer.schedule(
            _Relay(self, asyncio.get_running_loop()), str(self.root), recursive=True, event_filter=WATCHED_EVENTS
        )
        await asyncio.to_thread(observer.start)
        self._observer = observer
        _LOGGER.info(
            "watching %s (%s)",
            self.root,
            "polling" if self.polling else "native events",
            extra={"component": "watcher"},
        )
        if not self.polling:
            await asyncio.to_thread(self._check_watch_limit)

    def _check_watch_limit(self) -> None:
        """Native events take a watch per folder, and a user's watches are limited: a folder past the
        limit (cameras that make one per day and hour) gets none, and watchdog says nothing. Said here,
        at start, once the folders come near it."""
        try:
            limit = int(WATCH_LIMIT_FILE.read_text())
        except (OSError, ValueError):
            return  # not Linux, or not readable: nothing to compare with
        folders = sum(1 for _ in os.walk(self.root))
        if folders >= limit * WATCH_LIMIT_SHARE:
            _LOGGER.warning(
                "%d folders under %s against a limit of %d watched folders (fs.inotify.max_user_watches): "
                "uploads in folders past it are not seen; raise the limit, remove old folders, or set "
                "HSI_WATCHER_POLLING",
                folders,
                self.root,
                limit,
                extra={"component": "watcher", "data": {"folders": folders, "limit": limit}},
            )

    async def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, 5)
            self._observer = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        pending = [*self._tasks.values(), *([self._parked_task] if self._parked_task else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no file is waiting, being submitted or parked (tests and the bench use it)."""
        while self._timers or self._tasks or self._parked:
            await asyncio.sleep(0.02)

    # -- live events -------------------------------------------------------------------------------

    def notify(self, path: Path, event: str = "modified") -> None:
        """Something happened to `path` (on the loop thread): take it now, or once it has been quiet."""
        self._first_seen.setdefault(path, time.time())
        self._parked.discard(path)
        at_once = event in FINISHED_EVENTS or (event == "created" and media_type(path) == "image")
        self._schedule(path, 0.0 if at_once else self.quiet_seconds)

    def _schedule(self, path: Path, delay: float) -> None:
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
        self._timers[path] = asyncio.get_running_loop().call_later(delay, self._take, path)

    def _take(self, path: Path) -> None:
        self._timers.pop(path, None)
        if path in self._tasks:  # being submitted: what it queues may predate this write
            self._written_since.add(path)
            return
        task = asyncio.create_task(self._submit(path), name=f"hsi-watch:{path.name}")
        self._tasks[path] = task
        task.add_done_callback(lambda t, p=path: self._finished(p, t))

    def _finished(self, path: Path, task: asyncio.Task[None]) -> None:
        self._tasks.pop(path, None)
        written = path in self._written_since
        self._written_since.discard(path)
        # Not when stopping, nor when a retry is already set (it goes through the whole path too).
        if written and not task.cancelled() and path not in self._timers:
            self._schedule(path, 0.0)

    async def _submit(self, path: Path) -> None:
        found = self._camera_folder(path)
        if found is None:
            self._first_seen.pop(path, None)
            return
        camera_folder, source = found
        seen_at = self._first_seen.get(path, time.time())
        try:
            async with self._submitting:
                await submit_file(
                    self.runtime,
                    path,
                    camera_folder=camera_folder,
                    source=source,
                    seen_at=seen_at,
                    incomplete_grace=INCOMPLETE_GRACE_SECONDS,
                )
        except MediaRejected:
            pass  # logged by intake
        except UploadIncomplete as incomplete:
            _LOGGER.debug(
                "%s looks incomplete (%s); looking again in %.0f s",
                path,
                incomplete.reason,
                INCOMPLETE_GRACE_SECONDS - incomplete.age,
                extra={"component": "watcher", "data": {"file_path": str(path)}},
            )
            self._schedule(path, max(0.1, INCOMPLETE_GRACE_SECONDS - incomplete.age + 0.1))
            return
        except StillWriting:
            self._schedule(path, self.quiet_seconds)
            return
        except QueueFull:
            self._park(path)
            return
        except Exception as err:  # Redis or the database away: keep watching, try this file again
            _LOGGER.error(
                "could not queue %s: %s; retrying in %.0f s",
                path,
                err,
                RETRY_SECONDS,
                extra={"component": "watcher", "data": {"file_path": str(path)}},
            )
            self._schedule(path, RETRY_SECONDS)
            return
        self._first_seen.pop(path, None)

    def _park(self, path: Path) -> None:
        """Keep a file the full queue refused, without reading it again, until the queue has room."""
        self._parked.add(path)
        if self._parked_task is None or self._parked_task.done():
            self._parked_task = asyncio.create_task(self._unpark(), name="hsi-watch-parked")

    async def _unpark(self) -> None:
        cap = self.runtime.settings.queue_max_len
        while self._parked:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                depth = int(await self.runtime.redis.xlen(DETECT_STREAM))
            except Exception:  # Redis away: the parked files wait on
                continue
            room = cap - depth
            for path in sorted(self._parked)[: max(0, room)]:
                self._parked.discard(path)
                self._schedule(path, 0.0)

    def in_system_folder(self, path: Path) -> bool:
        """Whether `path` lies in a system folder below its root (`is_system_folder`; the root itself
        may be anywhere, hidden folders included)."""
        for root in self.roots:
            if path.is_relative_to(root):
                return any(is_system_folder(part) for part in path.relative_to(root).parts[:-1])
        return False

    def between_cameras(self, source: Path, path: Path) -> bool:
        """Whether a move took an upload from one camera's folder into another's (a camera folder
        renamed, files sorted by hand): no new picture, and detected again under the other camera it
        would raise that camera's events and alerts for old footage. Logged once per pair of folders.
        (Runs in watchdog's thread: it only reads paths.)"""
        before, after = _camera_part(self.root, source), _camera_part(self.root, path)
        if before is None or after is None or before == after or is_system_folder(before):
            return False
        if (before, after) not in self._moves_logged and len(self._moves_logged) < MOVES_LOGGED_MAX:
            self._moves_logged.add((before, after))
            _LOGGER.info(
                "files moved from camera folder %s to %s are not new uploads: not detected again",
                before,
                after,
                extra={"component": "watcher", "data": {"from": before, "to": after}},
            )
        return True

    def folder_created(self, folder: Path) -> None:
        """A new folder: one the server cannot read gets no upload seen, so it says so."""
        if not os.access(folder, os.R_OK | os.X_OK):
            _unreadable(folder)

    def _camera_folder(self, path: Path) -> tuple[str, Source] | None:
        """The first folder level below its root, and the root's source; a file directly in a root
        has no camera."""
        for root, source in self.roots.items():
            try:
                parts = path.relative_to(root).parts
            except ValueError:
                continue
            if len(parts) < 2:
                reject(path, "not inside a camera folder (put uploads in <cameras>/<camera name>/)",
                       camera_id=None, source=source)
                return None
            return parts[0], source
        return None

    # -- start-up catch-up -------------------------------------------------------------------------

    async def catch_up(self) -> int:
        """Queue every file under the root that was never processed; returns how many were handed on.

        An upload still queued, or dead-lettered (it waits for a person's replay or drop), is not
        queued again: a file that fails would fail again at every start, a copy more in the dead
        letters each time."""
        files, too_old = await asyncio.to_thread(self._scan, time.time() - CATCH_UP_WINDOW_SECONDS)
        waiting = await waiting_uploads(self.runtime.redis)
        limit = asyncio.Semaphore(CATCH_UP_CONCURRENCY)
        handed_on = 0

        async def one(path: Path) -> None:
            nonlocal handed_on
            async with limit:
                if await self._needs_processing(path, waiting):
                    handed_on += 1
                    self.notify(path, "closed")  # nothing is writing it: take it now

        await asyncio.gather(*(one(path) for path in files))
        _LOGGER.info(
            "catch-up: %d of %d files under %s were not processed yet (%d older than a week left alone)",
            handed_on,
            len(files),
            " and ".join(str(root) for root in self.roots),
            too_old,
            extra={"component": "watcher", "data": {"files": len(files), "queued": handed_on, "too_old": too_old}},
        )
        return handed_on

    def _scan(self, oldest: float) -> tuple[list[Path], int]:
        """Files that arrived since `oldest`, oldest first, and how many older ones were skipped.

        A file arrived when it was last modified or, if later, when its inode last changed: a copy
        that keeps the source's modification time (`rsync -a`, `cp -p`) changes the inode now, and a
        copy made while nothing watched must not be taken for last year's.
        """
        found: list[tuple[float, Path]] = []
        too_old = 0
        walks = (os.walk(root, onerror=lambda err: _unreadable(Path(err.filename or "?"))) for root in self.roots)
        for directory, folders, names in (walked for walk in walks for walked in walk):
            folders[:] = [folder for folder in folders if not is_system_folder(folder)]
            for folder in folders:
                if os.path.islink(os.path.join(directory, folder)):  # os.walk does not go in, nor do watches
                    _LOGGER.warning(
                        "%s is a link to a folder: uploads in it are not seen (cameras must write into a real "
                        "folder under the cameras folder)",
                        os.path.join(directory, folder),
                        extra={"component": "watcher"},
                    )
            for name in names:
                path = Path(directory) / name
                if is_in_progress_name(path):
                    continue
                try:
                    found_stat = path.lstat()
                except FileNotFoundError:
                    continue
                arrived = max(found_stat.st_mtime, found_stat.st_ctime)
                if arrived < oldest:
                    too_old += 1
                else:
                    found.append((arrived, path))
        return [path for _, path in sorted(found)], too_old

    async def _needs_processing(self, path: Path, waiting: set[tuple[Path, str]]) -> bool:
        """Cheap checks first: only a supported file with a known camera can be "already done", or
        among the uploads `waiting` (queued or dead-lettered, these bytes at this path)."""
        found = self._camera_folder(path)
        if found is None:
            return False
        folder = found[0]
        if media_type(path) is None or path.is_symlink():
            return True  # intake rejects it, with the log row
        try:
            camera_id = normalize_camera_id(folder)
            file_hash = await asyncio.to_thread(dedup.file_sha256, path)
        except (ValueError, OSError):
            return True
        if (path, file_hash) in waiting:
            return False
        return not await already_processed(self.runtime, camera_id, file_hash)
