"""`load_detector(settings)`: the one place that decides which backend runs, and says why."""

from __future__ import annotations

import logging
from pathlib import Path

from server.config import Settings
from server.detect.base import BaseDetector, DetectorUnavailable
from server.detect.hog import HogPeopleDetector
from server.detect.rtdetr import RTDetrDetector, is_transformers_model_dir
from server.detect.ultralytics_backend import (
    ULTRALYTICS_SUFFIXES,
    UltralyticsDetector,
    ultralytics_importable,
)

logger = logging.getLogger(__name__)


def _is_ultralytics_file(path: Path | None) -> bool:
    return path is not None and path.is_file() and path.suffix.lower() in ULTRALYTICS_SUFFIXES


def choose_backend(settings: Settings) -> str:
    """The backend `HSI_DETECTOR` names, or for `auto` the best one the configured files allow."""
    if settings.detector != "auto":
        return settings.detector
    model = settings.detector_model
    if is_transformers_model_dir(model):
        return "rtdetr"
    if _is_ultralytics_file(model) and ultralytics_importable():
        return "ultralytics"
    return "hog"


def load_detector(settings: Settings) -> BaseDetector:
    """Build the configured detector; DetectorUnavailable (naming the variable to fix) if it cannot run."""
    backend = choose_backend(settings)
    classes, confidence = settings.detection_classes, settings.detection_confidence
    model = settings.detector_model

    if backend == "rtdetr":
        if not is_transformers_model_dir(model):
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model or '(unset)'}: HSI_DETECTOR=rtdetr needs a folder with "
                "config.json (RT-DETRv2 saved with save_pretrained)"
            )
        assert model is not None
        return RTDetrDetector(model, classes=classes, confidence=confidence, device=settings.detector_device)

    if backend == "ultralytics":
        if not _is_ultralytics_file(model):
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model or '(unset)'}: HSI_DETECTOR=ultralytics needs a .pt or "
                ".engine weights file"
            )
        assert model is not None
        return UltralyticsDetector(
            model, classes=classes, confidence=confidence, device=settings.detector_device
        )

    is_fallback = settings.detector == "auto"
    detector = HogPeopleDetector(classes=classes, confidence=confidence, fallback=is_fallback)
    if is_fallback:
        if model is None:
            reason = "HSI_DETECTOR_MODEL is not set"
        elif _is_ultralytics_file(model):
            reason = f"HSI_DETECTOR_MODEL={model} needs the `ultralytics` package, which is not installed"
        else:
            reason = f"HSI_DETECTOR_MODEL={model} is neither a model folder with config.json nor weights"
        logger.warning(
            "%s: using the CPU HOG people detector as a fallback (person only, far less accurate "
            "than RT-DETRv2); point HSI_DETECTOR_MODEL at RT-DETRv2 weights",
            reason,
        )
    return detector
