"""`load_detector(settings)`: the one place that decides which backend runs, and says why.

`auto` runs the model the user configured (an RT-DETRv2 `save_pretrained` folder, ultralytics weights or
an SSD frozen graph) and otherwise the packaged SSD-MobileNet-V2 COCO model, which detects every
security class with no download. OpenCV's HOG people detector runs only when asked for by name
(`HSI_DETECTOR=hog`). The detector carries the reason for the choice (`reason`), which the start-up log
and the health report show, and `fallback` is true when it is not the model the settings asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from server.config import Settings
from server.detect.base import BaseDetector, DetectorUnavailable
from server.detect.hog import HogPeopleDetector
from server.detect.rtdetr import RTDETR_MODEL_TYPES, RTDetrDetector, is_transformers_model_dir, model_type
from server.detect.ssd_mobilenet import SsdMobileNetDetector, is_ssd_model
from server.detect.ultralytics_backend import (
    ULTRALYTICS_SUFFIXES,
    UltralyticsDetector,
    ultralytics_importable,
)

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "ssd_mobilenet"
_DEFAULT_MODEL = "the packaged SSD-MobileNet-V2 COCO model"


@dataclass(frozen=True, slots=True)
class Choice:
    """Which backend runs on which model file, why, and whether it stands in for another one."""

    backend: str
    model: Path | None
    reason: str
    fallback: bool = False


def _is_ultralytics_file(path: Path | None) -> bool:
    return path is not None and path.is_file() and path.suffix.lower() in ULTRALYTICS_SUFFIXES


def configured_path(settings: Settings) -> Path | None:
    """`HSI_DETECTOR_MODEL` when it is a local path (a Hub id is resolved by server.detect.provision)."""
    return settings.detector_model if isinstance(settings.detector_model, Path) else None


def choose(settings: Settings, model: Path | None) -> Choice:
    """The backend `HSI_DETECTOR` names, or for `auto` the best one `model` allows (see the docstring)."""
    if settings.detector != "auto":
        return Choice(settings.detector, model, f"HSI_DETECTOR={settings.detector}")
    if model is None:
        return Choice(DEFAULT_BACKEND, None, f"HSI_DETECTOR_MODEL is not set: {_DEFAULT_MODEL}")
    if is_transformers_model_dir(model):
        try:
            architecture = model_type(model)
        except DetectorUnavailable as err:
            return Choice(DEFAULT_BACKEND, None, f"{err}: {_DEFAULT_MODEL}", True)
        if architecture in RTDETR_MODEL_TYPES:
            return Choice("rtdetr", model, f"HSI_DETECTOR_MODEL={model} is an RT-DETRv2 model folder")
        problem = f"is a {architecture} model folder, not RT-DETR"
    elif _is_ultralytics_file(model):
        if ultralytics_importable():
            return Choice("ultralytics", model, f"HSI_DETECTOR_MODEL={model} is an ultralytics weights file")
        problem = "needs the `ultralytics` package, which is not installed"
    elif is_ssd_model(model):
        return Choice(DEFAULT_BACKEND, model, f"HSI_DETECTOR_MODEL={model} is an SSD frozen graph")
    elif not model.exists():
        problem = "does not exist"
    else:
        problem = "is neither a model folder with config.json nor a weights file"
    return Choice(DEFAULT_BACKEND, None, f"HSI_DETECTOR_MODEL={model} {problem}: {_DEFAULT_MODEL}", True)


def choose_backend(settings: Settings) -> str:
    """The backend that runs for these settings' local model (the default for a Hub id not fetched yet)."""
    return choose(settings, configured_path(settings)).backend


def default_choice(reason: str) -> Choice:
    """The packaged model standing in for a configured one (being downloaded, or unusable)."""
    return Choice(DEFAULT_BACKEND, None, f"{reason}: {_DEFAULT_MODEL}", fallback=True)


def load_detector(settings: Settings, choice: Choice | None = None) -> BaseDetector:
    """Build the chosen detector (by default: for the settings' local model); DetectorUnavailable,
    naming the variable to fix, if it cannot run."""
    choice = choice or choose(settings, configured_path(settings))
    classes, confidence, model = settings.detection_classes, settings.detection_confidence, choice.model
    detector: BaseDetector
    if choice.backend == "rtdetr":
        if not is_transformers_model_dir(model):
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model or '(unset)'}: HSI_DETECTOR=rtdetr needs a folder with "
                "config.json (RT-DETRv2 saved with save_pretrained)"
            )
        assert model is not None
        detector = RTDetrDetector(model, classes=classes, confidence=confidence, device=settings.detector_device)
    elif choice.backend == "ultralytics":
        if not _is_ultralytics_file(model):
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model or '(unset)'}: HSI_DETECTOR=ultralytics needs a .pt or "
                ".engine weights file"
            )
        assert model is not None
        detector = UltralyticsDetector(model, classes=classes, confidence=confidence, device=settings.detector_device)
    elif choice.backend == "hog":
        detector = HogPeopleDetector(classes=classes, confidence=confidence)
    elif choice.backend == DEFAULT_BACKEND:
        detector = SsdMobileNetDetector(model, classes=classes, confidence=confidence)
    else:  # Settings validates the name; a new backend must be added here
        raise DetectorUnavailable(f"HSI_DETECTOR={choice.backend}: no such backend")
    detector.reason, detector.fallback = choice.reason, choice.fallback
    logger.log(
        logging.WARNING if choice.fallback else logging.INFO,
        "detector %s on %s: %s",
        detector.name,
        detector.device,
        choice.reason,
        extra={"component": "detector"},
    )
    return detector
