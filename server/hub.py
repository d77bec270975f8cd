"""Models by name: a Hugging Face Hub id in `HSI_DETECTOR_MODEL` / `HSI_LLM_MODEL`, fetched once.

A model setting is either a local path or a Hub id, `owner/name` (a whole repository, e.g. a transformers
`save_pretrained` folder such as `PekingU/rtdetr_v2_r18vd`) or `owner/name/file` (one file, e.g. a GGUF),
optionally pinned with `@revision`. A value is a path when it starts with `/`, `.` or `~`, or names
something that exists; otherwise, when it has the shape of an id, it is an id.

`HubFetcher` downloads an id into `<data>/models` with `huggingface_hub` (its cache layout, so an
interrupted download resumes from its `.incomplete` file and a finished one is never fetched again), and
verifies every file against the hash the Hub named it by (the SHA-256 of LFS files, the git blob id of
others) before anyone loads it. Progress (bytes done / total) is read from the cache folder as it grows,
so it needs nothing from the library's progress bars. `HF_ENDPOINT` (a mirror) and `HF_HUB_OFFLINE`
(cache only) are the library's own settings and work as documented there.

The roles that use a model never wait for a download: they run on their default (the packaged detector,
the rules scorer) and switch when `HubFetcher.run` hands them the verified path. A failed download is a
log row and a health reason, retried with a growing pause; it never stops the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_LOGGER = logging.getLogger("hsi.models")

_HUB_ID = re.compile(
    r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:/(?P<file>[^@\s]+))?(?:@(?P<revision>[\w./-]+))?$"
)
#: Files of a whole-repository model worth fetching: configs and safetensors weights (no duplicate
#: PyTorch pickles, no README images).
REPOSITORY_PATTERNS = ("*.json", "*.safetensors", "*.txt")
#: Pause after a failed download, doubling to the cap.
RETRY_FIRST_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
PROGRESS_POLL_SECONDS = 0.5
_HASH_CHUNK = 1 << 22


@dataclass(frozen=True, slots=True)
class HubModel:
    """A model on the Hugging Face Hub: a repository, optionally one file in it, optionally a revision."""

    repo_id: str
    filename: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        text = f"{self.repo_id}/{self.filename}" if self.filename else self.repo_id
        return f"{text}@{self.revision}" if self.revision else text

    @property
    def cache_folder(self) -> str:
        """huggingface_hub's folder name for the repository inside the cache."""
        return "models--" + self.repo_id.replace("/", "--")


ModelRef = Path | HubModel


def parse_model_ref(value: Any) -> Any:
    """A setting's text as a `Path` or a `HubModel` (see the module docstring for the rule)."""
    if value is None or isinstance(value, (Path, HubModel)):
        return value
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith(("/", ".", "~")) or os.path.exists(os.path.expanduser(text)):
        return Path(text)
    match = _HUB_ID.match(text)
    if match is None:
        return Path(text)
    return HubModel(match["repo"], match["file"], match["revision"])


State = Literal["checking", "downloading", "verifying", "ready", "failed"]


@dataclass
class DownloadProgress:
    """What health shows about a model being fetched (`components.<role>.download`)."""

    model: str
    state: State = "checking"
    bytes_done: int = 0
    bytes_total: int | None = None
    error: str | None = None
    attempts: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "state": self.state,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "error": self.error,
            "attempts": self.attempts,
        }


class DownloadFailed(Exception):
    """The model could not be fetched or did not verify; the message says why, for logs and health."""


class HubFetcher:
    """Fetches one `HubModel` into `cache_dir` once; see the module docstring."""

    def __init__(self, model: HubModel, cache_dir: Path) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.progress = DownloadProgress(str(model))

    # -- blocking parts (run in a thread) ---------------------------------------------------------

    def _patterns(self) -> list[str]:
        return [self.model.filename] if self.model.filename else list(REPOSITORY_PATTERNS)

    def _result(self, snapshot: str) -> Path:
        folder = Path(snapshot)
        return folder / self.model.filename if self.model.filename else folder

    def cached(self) -> Path | None:
        """The local path when a complete copy is in the cache (no network), else None."""
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            snapshot = snapshot_download(
                self.model.repo_id,
                revision=self.model.revision,
                cache_dir=self.cache_dir,
                allow_patterns=self._patterns(),
                local_files_only=True,
            )
        except (LocalEntryNotFoundError, OSError, ValueError):
            return None
        path = self._result(str(snapshot))
        return path if path.exists() else None

    def _download(self) -> Path:
        from huggingface_hub import snapshot_download

        plan = snapshot_download(
            self.model.repo_id,
            revision=self.model.revision,
            cache_dir=self.cache_dir,
            allow_patterns=self._patterns(),
            dry_run=True,
        )
        if not plan:
            raise DownloadFailed(f"{self.model}: no file of the repository matches {self._patterns()}")
        self.progress.bytes_total = sum(info.file_size or 0 for info in plan)
        self.progress.state = "downloading"
        snapshot = snapshot_download(
            self.model.repo_id,
            revision=self.model.revision,
            cache_dir=self.cache_dir,
            allow_patterns=self._patterns(),
        )
        self.progress.state = "verifying"
        self.progress.bytes_done = self.progress.bytes_total
        for info in plan:
            verify_blob(Path(snapshot) / info.filename, info.file_size)
        path = self._result(str(snapshot))
        if not path.exists():
            raise DownloadFailed(f"{self.model}: {path.name} is not in the repository")
        return path

    def _downloaded_bytes(self) -> int:
        blobs = self.cache_dir / self.model.cache_folder / "blobs"
        try:
            return sum(entry.stat().st_size for entry in os.scandir(blobs) if entry.is_file())
        except OSError:
            return 0

    # -- on the event loop ------------------------------------------------------------------------

    async def fetch(self) -> Path:
        """Download and verify (resuming whatever an earlier attempt left); DownloadFailed if it fails.

        The download runs in a daemon thread, not the loop's executor: a stopping server must not wait
        for gigabytes to arrive (the `.incomplete` file it leaves is resumed at the next start).
        """
        self.progress.attempts += 1
        self.progress.state, self.progress.error = "checking", None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Path] = loop.create_future()

        def work() -> None:
            try:
                result = self._download()
            except BaseException as err:  # handed to the loop, which decides what it means
                loop.call_soon_threadsafe(_settle, done, None, err)
            else:
                loop.call_soon_threadsafe(_settle, done, result, None)

        threading.Thread(target=work, name=f"hsi-download-{self.model.repo_id}", daemon=True).start()
        while not done.done():
            await asyncio.wait({done}, timeout=PROGRESS_POLL_SECONDS)
            if self.progress.state == "downloading":
                total = self.progress.bytes_total or 0
                self.progress.bytes_done = min(total, self._downloaded_bytes())
        try:
            path = done.result()
        except DownloadFailed:
            raise
        except Exception as err:  # network, HTTP, disk: all mean "not yet", with the library's words
            raise DownloadFailed(f"{self.model}: {type(err).__name__}: {err}") from err
        self.progress.state = "ready"
        return path

    async def run(
        self, on_ready: Callable[[Path], Awaitable[None]], component: str, stop: asyncio.Event
    ) -> None:
        """Fetch until it works (pausing longer after each failure) or `stop`; then hand the path on."""
        pause = RETRY_FIRST_SECONDS
        while not stop.is_set():
            started = time.monotonic()
            _LOGGER.info("downloading %s into %s", self.model, self.cache_dir, extra={"component": component})
            try:
                path = await self.fetch()
            except DownloadFailed as err:
                self.progress.state, self.progress.error = "failed", str(err)
                _LOGGER.error(
                    "model download failed (attempt %d, next in %.0f s): %s",
                    self.progress.attempts,
                    pause,
                    err,
                    extra={"component": component, "data": self.progress.report()},
                )
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                except TimeoutError:
                    pause = min(pause * 2, RETRY_MAX_SECONDS)
                continue
            _LOGGER.info(
                "downloaded and verified %s (%d bytes in %.0f s): %s",
                self.model,
                self.progress.bytes_total or 0,
                time.monotonic() - started,
                path,
                extra={"component": component, "data": self.progress.report()},
            )
            await on_ready(path)
            return


def _settle(future: asyncio.Future[Path], result: Path | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)


def verify_blob(path: Path, expected_size: int | None) -> None:
    """Check a downloaded file against the name the Hub gave its blob: SHA-256 for LFS files, the git
    blob id (SHA-1 of `blob <size>\\0` + content) for small ones; its size in any case."""
    blob = path.resolve()
    size = blob.stat().st_size
    if expected_size is not None and size != expected_size:
        raise DownloadFailed(f"{path.name}: {size} bytes, the Hub said {expected_size}")
    name = blob.name
    if re.fullmatch(r"[0-9a-f]{64}", name):
        digest = hashlib.sha256()
    elif re.fullmatch(r"[0-9a-f]{40}", name):
        digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    else:
        return  # a blob named by an opaque ETag: the size check above is all there is
    with blob.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != name:
        blob.unlink(missing_ok=True)  # so the next attempt downloads it again
        raise DownloadFailed(f"{path.name}: content does not match its hash {name[:12]}…; removed")
