"""Object detection behind one small protocol: RT-DETRv2 (transformers), ultralytics weights, or HOG.

Callers use `load_detector(settings)` and the `Detector` protocol; which backend runs is a setting.
"""

from server.detect.base import (
    COCO_CLASSES,
    DEFAULT_SECURITY_CLASSES,
    DetectedObject,
    Detector,
    DetectorInfo,
    DetectorUnavailable,
)
from server.detect.factory import choose_backend, load_detector

__all__ = [
    "COCO_CLASSES",
    "DEFAULT_SECURITY_CLASSES",
    "DetectedObject",
    "Detector",
    "DetectorInfo",
    "DetectorUnavailable",
    "choose_backend",
    "load_detector",
]
