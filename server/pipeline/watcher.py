"""FileWatcher: camera uploads under `HSI_CAMERAS_DIR` (one folder per camera) join the pipeline.

watchdog reports created / modified / moved / closed files from its own thread; each report is handed
to the asyncio loop with `call_soon_threadsafe`. There, a path is debounced (0.5 s), then waited on
until its size has been stable for `HSI_FILE_STABLE_SECONDS` (polled every 0.5 s; after ~10 s of
growth it gives up with a log row — the upload's next write event starts a new wait), then handed to
`intake.submit_file`. The camera is the first folder level below the root. A write that arrives once
the wait is over (while the file is validated, hashed and queued) may not be in what was queued, so the
file goes through the whole path again afterwards: new bytes become their own entry, the same bytes
are a dedup no-op. Only with that does the detect worker's rule hold that content which changed after
queueing has an entry of its own.

At start-up, `catch_up` walks the root for files that arrived while nothing was watching: a file
whose `(camera, sha256)` is in the processed ledger or already has detection rows is skipped,
everything else goes through the same path as a live upload. It looks back as far as the ledger
remembers (a week): older files are left alone, and the log says how many, so that a start does not
re-hash years of camera folders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from server.models import normalize_camera_id
from server.pipeline import dedup, media
from server.pipeline.intake import MediaRejected, already_processed, reject, submit_file
from server.pipeline.streams import QueueFull
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.watcher")

DEBOUNCE_SECONDS = 0.5
POLL_SECONDS = 0.5
MIN_GIVE_UP_SECONDS = 10.0
QUEUE_FULL_RETRY_SECONDS = 5.0
CATCH_UP_CONCURRENCY = 4
#: Files validated and queued at once. Validation decodes whole images (CPU), and each submission
#: holds a Redis and a database connection: a burst of uploads must queue here, not exhaust pools.
SUBMIT_CONCURRENCY = 4
#: Names FTP servers and clients give files while they are still being written; the final name
#: arrives with a move event, so these are not uploads (and not rejections) in their own right.
IN_PROGRESS_SUFFIXES = frozenset({".part", ".tmp", ".filepart", ".partial", ".crdownload"})


def _camera_id_or_none(folder: str) -> str | None:
    try:
        return normalize_camera_id(folder)
    except ValueError:
        return None


def is_in_progress_name(path: Path) -> bool:
    return path.name.startswith(".") or path.suffix.lower() in IN_PROGRESS_SUFFIXES


class _Relay(FileSystemEventHandler):
    """Runs in watchdog's thread; only forwards paths to the loop."""

    def __init__(self, watcher: FileWatcher, loop: asyncio.AbstractEventLoop) -> None:
        self._watcher = watcher
        self._loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        raw = event.dest_path if event.event_type == "moved" else event.src_path
        path = Path(os.fsdecode(raw))
        try:
            self._loop.call_soon_threadsafe(self._watcher.notify, path)
        except RuntimeError:  # the loop is closed: we are shutting down
            pass


class FileWatcher:
    """Watch the cameras root; `start()`, `catch_up()`, `stop()` (all on the event loop)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.root = runtime.settings.cameras_dir
        self.stable_seconds = runtime.settings.file_stable_seconds
        self.give_up_seconds = max(MIN_GIVE_UP_SECONDS, 5 * self.stable_seconds)
        self._observer: BaseObserver | None = None
        self._timers: dict[Path, asyncio.TimerHandle] = {}
        self._first_seen: dict[Path, float] = {}
        self._tasks: dict[Path, asyncio.Task[None]] = {}
        self._waiting: set[Path] = set()  # tasks still in their stability wait
        self._written_since: set[Path] = set()  # written to after their task's wait: go again
        self._background: set[asyncio.Task[None]] = set()
        self._submitting = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        observer: BaseObserver = (
            PollingObserver(timeout=1) if self.runtime.settings.watcher_polling else Observer()
        )
        observer.schedule(_Relay(self, asyncio.get_running_loop()), str(self.root), recursive=True)
        await asyncio.to_thread(observer.start)
        self._observer = observer
        _LOGGER.info(
            "watching %s (%s)",
            self.root,
            "polling" if self.runtime.settings.watcher_polling else "native events",
            extra={"component": "watcher"},
        )

    async def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            await asyncio.to_thread(self._observer.join, 5)
            self._observer = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        pending = [*self._tasks.values(), *self._background]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no file is being debounced, settled or submitted (tests and the bench use it)."""
        while self._timers or self._tasks or self._background:
            await asyncio.sleep(0.05)

    # -- live events -------------------------------------------------------------------------------

    def notify(self, path: Path) -> None:
        """A write happened to `path`: (re)start its debounce timer. Runs on the loop thread."""
        if is_in_progress_name(path):
            return
        self._first_seen.setdefault(path, time.time())
        timer = self._timers.pop(path, None)
        if timer is not None:
            timer.cancel()
        self._timers[path] = asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self._settle_soon, path)

    def _settle_soon(self, path: Path) -> None:
        self._timers.pop(path, None)
        if path in self._tasks:
            if path not in self._waiting:  # past its wait: what it queues may predate this write
                self._written_since.add(path)
            return  # (still waiting: the running wait sees the new size)
        task = asyncio.create_task(self._settle_and_submit(path), name=f"hsi-watch:{path.name}")
        self._tasks[path] = task
        task.add_done_callback(lambda t, p=path: self._finished(p, t))

    def _finished(self, path: Path, task: asyncio.Task[None]) -> None:
        self._tasks.pop(path, None)
        written = path in self._written_since
        self._written_since.discard(path)
        # Not when stopping, nor when a retry is already set (it goes through the whole path too).
        if written and not task.cancelled() and path not in self._timers:
            self.notify(path)

    async def _settle_and_submit(self, path: Path) -> None:
        seen_at = self._first_seen.pop(path, time.time())
        camera_folder = self._camera_folder(path)
        if camera_folder is None:
            return
        try:
            if media.media_type(path) is not None and not path.is_symlink():
                self._waiting.add(path)
                try:
                    stable = await self._wait_until_stable(path, camera_folder)
                finally:
                    self._waiting.discard(path)
                if not stable:
                    return
            async with self._submitting:
                await submit_file(
                    self.runtime, path, camera_folder=camera_folder, source="watcher", seen_at=seen_at
                )
        except MediaRejected:
            pass  # logged by intake
        except QueueFull:
            self._retry_later(path, QUEUE_FULL_RETRY_SECONDS)
        except Exception as err:  # Redis or the database away: keep watching, try this file again
            _LOGGER.error(
                "could not queue %s: %s; retrying in %.0f s",
                path,
                err,
                QUEUE_FULL_RETRY_SECONDS,
                extra={"component": "watcher", "data": {"file_path": str(path)}},
            )
            self._retry_later(path, QUEUE_FULL_RETRY_SECONDS)

    def _retry_later(self, path: Path, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[path] = loop.call_later(delay, self._settle_soon, path)

    def _camera_folder(self, path: Path) -> str | None:
        """The first folder level below the root; a file directly in the root has no camera."""
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return None
        if len(parts) < 2:
            reject(path, "not inside a camera folder (put uploads in <cameras>/<camera name>/)",
                   camera_id=None, source="watcher")
            return None
        return parts[0]

    async def _wait_until_stable(self, path: Path, camera_folder: str) -> bool:
        """True once the size has not changed for `stable_seconds` (or the file is older than that)."""
        started = time.monotonic()
        last_size: int | None = None
        stable_since = started
        while True:
            try:
                stat = path.stat()
            except FileNotFoundError:
                reject(path, "file not found (deleted before it could be processed)",
                       camera_id=_camera_id_or_none(camera_folder), source="watcher")
                return False
            now = time.monotonic()
            if stat.st_size != last_size:
                last_size, stable_since = stat.st_size, now
            # Unchanged for the whole delay — or not written for that long (a file found at catch-up).
            if now - stable_since >= self.stable_seconds or time.time() - stat.st_mtime >= self.stable_seconds:
                return True
            if now - started >= self.give_up_seconds:
                _LOGGER.warning(
                    "gave up waiting for %s: still changing size after %.0f s; the next write retries",
                    path,
                    self.give_up_seconds,
                    extra={"component": "watcher", "data": {"file_path": str(path), "size": stat.st_size}},
                )
                return False
            await asyncio.sleep(POLL_SECONDS)

    # -- start-up catch-up -------------------------------------------------------------------------

    async def catch_up(self) -> int:
        """Queue every file under the root that was never processed; returns how many were handed on."""
        files, too_old = await asyncio.to_thread(self._scan, time.time() - dedup.LEDGER_RETENTION_SECONDS)
        limit = asyncio.Semaphore(CATCH_UP_CONCURRENCY)
        handed_on = 0

        async def one(path: Path) -> None:
            nonlocal handed_on
            async with limit:
                if await self._needs_processing(path):
                    handed_on += 1
                    self.notify(path)

        await asyncio.gather(*(one(path) for path in files))
        _LOGGER.info(
            "catch-up: %d of %d files under %s were not processed yet (%d older than a week left alone)",
            handed_on,
            len(files),
            self.root,
            too_old,
            extra={"component": "watcher", "data": {"files": len(files), "queued": handed_on, "too_old": too_old}},
        )
        return handed_on

    def _scan(self, oldest: float) -> tuple[list[Path], int]:
        """Files modified since `oldest`, oldest first, and how many older ones were skipped."""
        found: list[tuple[float, Path]] = []
        too_old = 0
        for directory, _dirs, names in os.walk(self.root):
            for name in names:
                path = Path(directory) / name
                if is_in_progress_name(path):
                    continue
                try:
                    mtime = path.lstat().st_mtime
                except FileNotFoundError:
                    continue
                if mtime < oldest:
                    too_old += 1
                else:
                    found.append((mtime, path))
        return [path for _, path in sorted(found)], too_old

    async def _needs_processing(self, path: Path) -> bool:
        """Cheap checks first: only a supported file with a known camera can be "already done"."""
        folder = self._camera_folder(path)
        if folder is None:
            return False
        if media.media_type(path) is None or path.is_symlink():
            return True  # intake rejects it, with the log row
        try:
            camera_id = normalize_camera_id(folder)
            file_hash = await asyncio.to_thread(dedup.file_sha256, path)
        except (ValueError, OSError):
            return True
        return not await already_processed(self.runtime, camera_id, file_hash)
