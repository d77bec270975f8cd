"""OpenCV's HOG people detector: needs no weights at all, and runs only when asked for by name.

It finds upright, mostly whole people (Dalal-Triggs, 64x128 window) and nothing else, at a few frames
per second on one core. The packaged SSD-MobileNet-V2 finds far more (every security class, and the
people HOG misses in the field's best-known photos), so HOG is the default of nothing; it remains for
machines where even that model is not wanted (`HSI_DETECTOR=hog`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np
from PIL import Image

from server.detect.base import BaseDetector, RawBox

#: Every frame is scaled so its longest side is this long. HOG's window is 128 px tall, so a person
#: shorter than that on the scaled image is invisible: a 768x576 camera frame is enlarged (people of
#: ~80 px then fill the window; measured on a real street scene this finds 4 walkers instead of 1),
#: and a 4K frame is shrunk, since the cost grows with the pixel count (~0.3-0.5 s per frame on a core).
HOG_TARGET_SIDE = 1280
#: Limit of the enlargement, so a thumbnail-sized upload is not blown up into mush.
HOG_MAX_UPSCALE = 2.0
#: Boxes overlapping more than this (IoU) are the same person; the stronger one is kept.
HOG_NMS_IOU = 0.4
#: SVM margin at which the confidence is 0.5, and how steeply it rises around it (see `hog_confidence`).
HOG_MARGIN_AT_HALF = 1.0
HOG_MARGIN_SLOPE = 2.0


def hog_confidence(margin: float) -> float:
    """Map the SVM margin (unbounded, typically 0..3) to 0..1 with a logistic curve.

    Monotonic, so ranking is preserved. Centred on margin 1.0: on real street photos true pedestrians
    score 1.3 to 2+, while the usual false alarms (tree trunks, poles, animal silhouettes) stay
    below 1.0, so the default cut of 0.5 keeps the former and drops most of the latter. A margin of 2.1
    is needed for 0.9, so HOG alone rarely triggers the fast path, which is right for so weak a detector.
    """
    return 1.0 / (1.0 + math.exp(-HOG_MARGIN_SLOPE * (margin - HOG_MARGIN_AT_HALF)))


class HogPeopleDetector(BaseDetector):
    """HOG + linear SVM pedestrian detector; reports `person` only."""

    name = "hog"

    def __init__(self, *, classes: Iterable[str], confidence: float) -> None:
        super().__init__(
            classes=classes, confidence=confidence, device="cpu", model="opencv-hog-default-people"
        )
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))

    def _detect_one(self, image: Image.Image) -> list[RawBox]:
        width, height = image.size
        scale = min(HOG_TARGET_SIDE / max(width, height), HOG_MAX_UPSCALE)
        pixels = np.asarray(image)
        if abs(scale - 1.0) > 1e-3:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            pixels = cv2.resize(pixels, size, interpolation=interpolation)
        gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        if gray.shape[0] < 128 or gray.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(
            gray, hitThreshold=0.0, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        if len(rects) == 0:
            return []
        scores = [hog_confidence(float(w)) for w in np.ravel(weights)]
        boxes = [[int(v) for v in rect] for rect in rects]
        keep = cv2.dnn.NMSBoxes(boxes, scores, score_threshold=0.0, nms_threshold=HOG_NMS_IOU)
        found: list[RawBox] = []
        for index in np.ravel(keep):
            x, y, w, h = boxes[int(index)]
            found.append(
                RawBox(
                    "person",
                    scores[int(index)],
                    x / scale,
                    y / scale,
                    (x + w) / scale,
                    (y + h) / scale,
                )
            )
        return found

    def _detect_raw(self, images: Sequence[Image.Image]) -> list[list[RawBox]]:
        return [self._detect_one(image) for image in images]
