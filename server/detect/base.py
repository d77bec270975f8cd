"""What every detector backend shares: the result type, the protocol, COCO names, and the filtering.

Backends differ in how they find boxes; they must not differ in which boxes they keep. So the label
normalisation, the class filter and the confidence cut live here, once, and every backend hands its raw
boxes to `BaseDetector`, which applies them and times the call.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from server.config import DEFAULT_SECURITY_CLASSES as _CONFIGURED_DEFAULTS
from server.vocabulary import normalize_label

logger = logging.getLogger(__name__)

#: The nine classes kept by default. The one list lives in server.config, so
#: the settings default and the detectors can never disagree; it is re-exported here as a tuple.
DEFAULT_SECURITY_CLASSES: tuple[str, ...] = tuple(_CONFIGURED_DEFAULTS)

#: The 80 COCO detection classes in the contiguous order (0..79) that RT-DETR, YOLO and the
#: transformers checkpoints use. Spelled out so a model saved with generic `LABEL_n` names (a randomly
#: initialised test model, or a checkpoint exported without its label map) still maps to real names.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

class DetectorUnavailable(RuntimeError):
    """The configured backend cannot run here (no weights, missing package); the message says what to set."""


@dataclass(frozen=True, slots=True)
class DetectedObject:
    """One object in one image: a class name, a 0..1 confidence, a box in pixels (top-left + size)."""

    object_type: str
    confidence: float
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class RawBox:
    """A backend's box before filtering: float pixel corners and whatever label the model printed."""

    label: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float


@runtime_checkable
class Detector(Protocol):
    """What the detect worker needs. `detect` is synchronous and batched; it runs in a worker thread."""

    name: str
    device: str
    #: True when this is not the model the settings asked for (it is standing in for that one).
    fallback: bool
    #: Why this backend and model run (set by the factory; shown in the log and health).
    reason: str
    last_inference_ms: float | None

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]: ...

    def warmup(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    """What the health endpoint reports about the loaded detector."""

    backend: str
    device: str
    model: str | None
    fallback: bool
    reason: str
    classes: tuple[str, ...]
    confidence: float
    last_inference_ms: float | None


def coco_name(index: int) -> str:
    """COCO class name of a contiguous class index; unknown indices keep a stable placeholder."""
    if 0 <= index < len(COCO_CLASSES):
        return COCO_CLASSES[index]
    return f"class_{index}"


def resolve_label(label_id: int, id2label: dict[int, str] | None) -> str:
    """Name of a model's class id: its own label map when it has real names, COCO order otherwise.

    transformers fills `id2label` with `LABEL_0..LABEL_n` when a config has no names; those say nothing,
    so the id is read as a COCO index (every RT-DETR checkpoint is trained on COCO's 80 classes).
    """
    name = (id2label or {}).get(label_id)
    if name is None or name.upper().startswith("LABEL_"):
        return coco_name(label_id)
    return normalize_label(name)


def to_pixel_box(raw: RawBox, image_width: int, image_height: int) -> tuple[int, int, int, int] | None:
    """Float corners to an integer (x, y, width, height) inside the image; None when nothing is left."""
    x0 = min(max(round(min(raw.x0, raw.x1)), 0), image_width)
    y0 = min(max(round(min(raw.y0, raw.y1)), 0), image_height)
    x1 = min(max(round(max(raw.x0, raw.x1)), 0), image_width)
    y1 = min(max(round(max(raw.y0, raw.y1)), 0), image_height)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1 - x0, y1 - y0


#: Two boxes of different classes overlapping this much (IoU) are one object the model could not
#: name with certainty (a van as car 0.51 and truck 0.50, a dog as dog 0.88 and cat 0.48): the more
#: confident label is kept, so one object never counts twice. Same-class duplicates are the model's own
#: non-maximum suppression's business.
SAME_OBJECT_IOU = 0.7


def box_iou(a: DetectedObject, b: DetectedObject) -> float:
    """Intersection over union of two pixel boxes."""
    overlap_w = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    overlap_h = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    overlap = overlap_w * overlap_h
    return overlap / (a.width * a.height + b.width * b.height - overlap)


def filter_boxes(
    raw_boxes: Iterable[RawBox],
    image_size: tuple[int, int],
    classes: frozenset[str],
    confidence: float,
) -> list[DetectedObject]:
    """Keep boxes of wanted classes at or above the cut, clipped to the image, one label per object,
    best first. A box with a number that is not one (NaN or infinite: fp16 overflow on a GPU) is no
    object: a NaN score passes no cut, and a NaN corner would fail the whole micro-batch."""
    width, height = image_size
    candidates: list[DetectedObject] = []
    for raw in raw_boxes:
        label = normalize_label(raw.label)
        score = float(raw.confidence)
        if label not in classes or not score >= confidence:
            continue
        if not all(math.isfinite(value) for value in (raw.x0, raw.y0, raw.x1, raw.y1)):
            continue
        box = to_pixel_box(raw, width, height)
        if box is None:
            continue
        candidates.append(DetectedObject(label, round(min(max(score, 0.0), 1.0), 4), *box))
    candidates.sort(key=lambda obj: obj.confidence, reverse=True)
    kept: list[DetectedObject] = []
    for candidate in candidates:
        if not any(
            other.object_type != candidate.object_type and box_iou(other, candidate) >= SAME_OBJECT_IOU
            for other in kept
        ):
            kept.append(candidate)
    return kept


class BaseDetector(ABC):
    """Template for backends: they return raw boxes; this applies the shared filter and times the call."""

    name: str = "base"
    fallback: bool = False
    reason: str = ""

    def __init__(self, *, classes: Iterable[str], confidence: float, device: str, model: str | None) -> None:
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {confidence}")
        self.classes: frozenset[str] = frozenset(normalize_label(c) for c in classes)
        self.confidence = float(confidence)
        self.device = device
        self.model = model
        self.last_inference_ms: float | None = None

    @abstractmethod
    def _detect_raw(self, images: Sequence[Image.Image]) -> list[list[RawBox]]:
        """Backend inference on RGB images: one list of raw boxes per image, in input order."""

    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedObject]]:
        """Detect objects in a batch of images; one list per image, in the order given."""
        if not images:
            return []
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        started = time.perf_counter()
        raw = self._detect_raw(rgb)
        self.last_inference_ms = (time.perf_counter() - started) * 1000.0
        if len(raw) != len(rgb):
            raise RuntimeError(f"{self.name} returned {len(raw)} results for {len(rgb)} images")
        return [
            filter_boxes(boxes, image.size, self.classes, self.confidence)
            for boxes, image in zip(raw, rgb, strict=True)
        ]

    def warmup(self) -> None:
        """One inference on a blank frame, so the first camera upload does not pay for lazy init."""
        started = time.perf_counter()
        self._detect_raw([Image.new("RGB", (640, 480), (114, 114, 114))])
        logger.info(
            "detector %s warmed up on %s in %.0f ms",
            self.name,
            self.device,
            (time.perf_counter() - started) * 1000.0,
        )

    @property
    def info(self) -> DetectorInfo:
        """A snapshot for health and stats endpoints."""
        return DetectorInfo(
            backend=self.name,
            device=self.device,
            model=self.model,
            fallback=self.fallback,
            reason=self.reason,
            classes=tuple(sorted(self.classes)),
            confidence=self.confidence,
            last_inference_ms=self.last_inference_ms,
        )
