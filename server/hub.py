"""Models by name: a Hugging Face Hub id in `HSI_DETECTOR_MODEL` / `HSI_LLM_MODEL`, fetched once.

A model setting is either a local path or a Hub id, `owner/name` (a whole repository, e.g. a transformers
`save_pretrained` folder such as `PekingU/rtdetr_v2_r18vd`) or `owner/name/file` (one file, e.g. a GGUF),
optionally pinned with `@revision`. A value is a path when it starts with `/`, `.` or `~`, or names
something that exists; otherwise, when it has the shape of an id, it is an id.

`HubFetcher` downloads an id into its own folder under `<data>/models` with `huggingface_hub`: the
repository's metadata (`model_info`, which names each file's size and hash) and each file's bytes
(`http_get`, the library's resumable transfer). Files grow as `<name>.part` and are renamed only once
their SHA-256 (LFS files) or git blob id (small files) matches what the Hub said, so nothing half-written
is ever loaded; a `.part` left by a stopped or killed server is resumed with an HTTP `Range` request at
the next start. (The library's own cache download cannot resume across processes: it writes each attempt
to a file of its own and deletes it on failure.) A manifest written last marks the folder complete: a
fetched model is never downloaded again and loads with no network at all. `HF_ENDPOINT` (a mirror) and
`HF_HUB_OFFLINE` (no network) are the library's own settings and work as documented there.

The roles that use a model never wait for a download: they run on their default (the packaged detector,
the rules scorer) and switch when `HubFetcher.run` hands them the verified path. A failed download is a
log row and a health reason, retried with a growing pause; it never stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
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
#: Written into a model's folder once every file of it is downloaded and verified.
MANIFEST = ".hsi-download.json"
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
    """Fetches one `HubModel` into its folder under `models_dir` once; see the module docstring."""

    def __init__(self, model: HubModel, models_dir: Path) -> None:
        self.model = model
        self.folder = models_dir / re.sub(r"[^\w.@-]+", "--", str(model))
        self.progress = DownloadProgress(str(model))

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    def _result(self) -> Path:
        return self.folder / self.model.filename if self.model.filename else self.folder

    # -- blocking parts (run in a thread) ---------------------------------------------------------

    def cached(self) -> Path | None:
        """The local path when a complete, verified copy is here (no network), else None."""
        try:
            files: dict[str, int] = json.loads(self.manifest.read_text(encoding="utf-8"))["files"]
            complete = all((self.folder / name).stat().st_size == size for name, size in files.items())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return self._result() if complete else None

    def _wanted(self) -> tuple[str, list[Any]]:
        """The commit and the repository's files this model needs, with their sizes and hashes."""
        from huggingface_hub import HfApi
        from huggingface_hub.utils import filter_repo_objects

        info = HfApi().model_info(self.model.repo_id, revision=self.model.revision, files_metadata=True)
        siblings = info.siblings or []
        if self.model.filename:
            wanted = [sibling for sibling in siblings if sibling.rfilename == self.model.filename]
        else:
            names = set(
                filter_repo_objects([s.rfilename for s in siblings], allow_patterns=REPOSITORY_PATTERNS)
            )
            wanted = [sibling for sibling in siblings if sibling.rfilename in names]
        if not wanted:
            what = self.model.filename or f"a file matching {', '.join(REPOSITORY_PATTERNS)}"
            raise DownloadFailed(f"{self.model}: the repository has no {what}")
        return str(info.sha), wanted

    def _download(self) -> Path:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.file_download import http_get
        from huggingface_hub.utils import build_hf_headers

        commit, wanted = self._wanted()
        self.progress.bytes_total = sum(sibling.size or 0 for sibling in wanted)
        self.progress.state = "downloading"
        for sibling in wanted:
            target = self.folder / sibling.rfilename
            sha256 = sibling.lfs.sha256 if sibling.lfs else None
            if target.is_file() and target.stat().st_size == sibling.size:
                # Verified when it got this name, by an attempt that failed later: maybe against another
                # commit (the branch moved since, same size), so checked against this one's hash again.
                with contextlib.suppress(DownloadFailed):  # another commit's: removed, fetched afresh
                    verify_file(target, sibling.size, sha256, sibling.blob_id)
                    continue
            part = _part(target)
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open("ab") as handle:
                done = handle.tell()
                if sibling.size is None or done < sibling.size:
                    url = hf_hub_url(self.model.repo_id, sibling.rfilename, revision=commit)
                    http_get(
                        url, handle, resume_size=done, headers=build_hf_headers(), expected_size=sibling.size
                    )
            self.progress.state = "verifying"
            verify_file(part, sibling.size, sha256, sibling.blob_id)
            part.replace(target)
            self.progress.state = "downloading"
        files = {sibling.rfilename: (self.folder / sibling.rfilename).stat().st_size for sibling in wanted}
        manifest = {"model": str(self.model), "commit": commit, "files": files}
        self.manifest.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return self._result()

    def _downloaded_bytes(self) -> int:
        total = 0
        for directory, _dirs, names in os.walk(self.folder):
            for name in names:
                if name != MANIFEST:
                    with contextlib.suppress(OSError):
                        total += os.stat(os.path.join(directory, name)).st_size
        return total

    # -- on the event loop ------------------------------------------------------------------------

    async def fetch(self) -> Path:
        """Download and verify (resuming whatever an earlier attempt left); DownloadFailed if it fails.

        The download runs in a daemon thread, not the loop's executor: a stopping server must not wait
        for gigabytes to arrive (the `.part` file it leaves is resumed at the next start).
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
        except Exception as err:  # network, HTTP, disk, offline mode: "not yet", in the library's words
            first_line = (str(err).strip().splitlines() or [""])[0]
            raise DownloadFailed(f"{self.model}: {type(err).__name__}: {first_line}") from err
        self.progress.state = "ready"
        self.progress.bytes_done = self.progress.bytes_total or 0
        return path

    async def run(
        self, on_ready: Callable[[Path], Awaitable[None]], component: str, stop: asyncio.Event
    ) -> None:
        """Fetch until it works (pausing longer after each failure) or `stop`; then hand the path on."""
        pause = RETRY_FIRST_SECONDS
        while not stop.is_set():
            started = time.monotonic()
            _LOGGER.info("downloading %s into %s", self.model, self.folder, extra={"component": component})
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


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _settle(future: asyncio.Future[Path], result: Path | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)


def verify_file(path: Path, size: int | None, sha256: str | None, git_oid: str | None) -> None:
    """Check a downloaded file against what the Hub said of it: its size, and its SHA-256 (LFS files) or
    its git blob id (SHA-1 of `blob <size>\\0` + content; small files). A mismatch deletes the file, so the
    next attempt downloads it afresh."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        path.unlink(missing_ok=True)
        raise DownloadFailed(f"{path.name}: {actual} bytes, the Hub said {size}; removed")
    if sha256:
        digest, expected = hashlib.sha256(), sha256
    elif git_oid:
        digest, expected = hashlib.sha1(f"blob {actual}\0".encode(), usedforsecurity=False), git_oid
    else:
        return  # the Hub named no hash: the size check above is all there is
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        path.unlink(missing_ok=True)
        raise DownloadFailed(f"{path.name}: content does not match its hash {expected[:12]}…; removed")
