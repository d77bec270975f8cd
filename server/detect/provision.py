"""Which detector a worker runs right now, including while the configured model is downloaded.

`provision_detector` loads what can run at once: the configured model when it is a local path or a Hub
id already in `<data>/models`, and otherwise the packaged default, while `HubFetcher.run` downloads the
configured one in the background. `DetectorSlot` is a Detector that delegates to the current model and
switches to the configured one the moment it is downloaded, verified and loaded; nothing waits and no
upload is held back meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from server.config import Settings
from server.detect.base import DetectedObject, Detector
from server.detect.factory import Choice, choose, default_choice, load_detector
from server.hub import HubFetcher, HubModel

_LOGGER = logging.getLogger("hsi.detector")


class DetectorSlot:
    """A Detector standing for whichever model runs now (see the module docstring)."""

    def __init__(self, current: Detector, fetcher: HubFetcher | None = None) -> None:
        self.current = current
        self.fetcher = fetcher
        self.load_error: str | None = None

    # The Detector protocol, answered by the current model.
    @property
    def name(self) -> str:
        return self.current.name

    @property
    def device(self) -> str:
        return self.current.device

    @property
    def fallback(self) -> bool:
        return self.current.fallback

    @property
    def reason(self) -> str:
        """Why this model runs; while it stands in for a download, how that download is doing."""
        if self.fetcher is not None and self.current.fallback:
            progress = self.fetcher.progress
            if progress.state == "failed":
                return f"{progress.model} could not be downloaded ({progress.error}); running the default"
            if self.load_error is not None:
                return self.load_error
        return self.current.reason

    @property
    def model(self) -> str | None:
        return getattr(self.current, "model", None)

    @property
    def last_inference_ms(self) -> float | None:
        return self.current.last_inference_ms

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]:
        return self.current.detect(images)

    def warmup(self) -> None:
        self.current.warmup()

    def download_report(self) -> dict[str, Any] | None:
        return self.fetcher.progress.report() if self.fetcher is not None else None

    async def switch_to(self, settings: Settings, path: Path) -> None:
        """Load the downloaded model and make it current; on failure keep the default and say why."""
        assert self.fetcher is not None
        try:
            detector = await asyncio.to_thread(
                load_detector, settings, downloaded_choice(settings, self.fetcher.model, path)
            )
            await asyncio.to_thread(detector.warmup)
        except Exception as err:  # a broken download must not stop detection: the default keeps running
            self.load_error = _cannot_load(f"downloaded {path}", err)
            return
        self.current = detector
        _LOGGER.info(
            "detector switched to %s (%s)", detector.name, detector.reason, extra={"component": "detector"}
        )


def _cannot_load(what: str, err: Exception) -> str:
    """The reason the default runs instead of a model that cannot be loaded, logged as an error."""
    reason = f"{what} but cannot load it ({type(err).__name__}: {err}); running the default"
    _LOGGER.error(reason, extra={"component": "detector"})
    return reason


def downloaded_choice(settings: Settings, model: HubModel, path: Path) -> Choice:
    """What runs for a Hub id once its files are here: named by the id, with where they are."""
    choice = choose(settings, path)
    return (
        choice
        if choice.fallback
        else replace(choice, reason=f"HSI_DETECTOR_MODEL={model} ({choice.backend}, in {path})")
    )


def provision_detector(settings: Settings) -> DetectorSlot:
    """The slot with the model that can run now (blocking: call it in a thread); when it holds the
    default for a Hub id not downloaded yet, run `slot.fetcher.run(...)` to fetch and switch."""
    model = settings.detector_model
    if model is None:
        return DetectorSlot(load_detector(settings))
    if not isinstance(model, HubModel):
        try:
            return DetectorSlot(load_detector(settings))
        except Exception as err:  # a folder cut short (a copy interrupted, a full disk): as a Hub model's
            reason = _cannot_load(f"HSI_DETECTOR_MODEL={model} is there", err)
            return DetectorSlot(load_detector(settings, default_choice(reason)))
    fetcher = HubFetcher(model, settings.models_dir)
    cached = fetcher.cached()
    if cached is not None:
        try:
            return DetectorSlot(load_detector(settings, downloaded_choice(settings, model, cached)))
        except Exception as err:  # as when it was just downloaded: the default runs, the server starts
            reason = _cannot_load(f"{model} is downloaded", err)
            return DetectorSlot(load_detector(settings, default_choice(reason)))
    return DetectorSlot(load_detector(settings, default_choice(f"{model} is being downloaded")), fetcher)
