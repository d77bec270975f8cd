"""The product's ultralytics backend on real photos, run in `.venv-ultralytics`; prints its results as JSON.

`ultralytics` needs torchvision, which must stay out of the server venv (transformers would import it;
see the Makefile). So tests/server/test_detect.py runs this script in its own venv, which
sees the server venv's packages (the pinned CPU torch, `server`) through a `.pth` file.

Nothing can download weights here, so the script builds random-init models from ultralytics' own
yaml files, saves them as `.pt` files like users' checkpoints, and loads them through the product's
`load_detector`, exactly as `HSI_DETECTOR=ultralytics HSI_DETECTOR_MODEL=<file>.pt` does.

Usage: python -m tests.support.ultralytics_check CONFIDENCE CLASS[,CLASS...]  (HSI_DETECTION_* values)
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy
import torch

#: (file name the product sees, ultralytics yaml it is built from, whether to give it COCO names).
#: The file name picks the loader (RTDETR when it says "rtdetr"). A model built from a yaml names its
#: classes "0".."79"; published checkpoints carry their real names, so one model gets them.
MODELS: tuple[tuple[str, str, bool], ...] = (
    ("rtdetr-l.pt", "rtdetr-l.yaml", False),
    ("yolo11n.pt", "yolo11n.yaml", True),
)

#: The input size the checkpoints say they were trained at; ultralytics predicts at it. Half of the usual
#: 640 keeps CPU runs fast, and a random YOLO's 2100 anchors (all alike, so all reach NMS) in time for
#: ultralytics' NMS time limit.
IMAGE_SIZE = 320

# Kept alive for the whole run: dropping a Library object takes its registrations with it.
_TORCHVISION_OPS = torch.library.Library("torchvision", "DEF")


def _nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision's greedy NMS in plain torch: kept indices, best score first.

    A random YOLO scores all its anchors alike, so all of them (2100 at 320 px) reach NMS; the IoU test
    is vectorised (in row blocks, to bound memory) and only the greedy pass loops, or ultralytics'
    NMS time limit would cut the batch short.
    """
    order = scores.argsort(descending=True)
    boxes = dets[order].float()
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    overlapping = torch.zeros((len(boxes), len(boxes)), dtype=torch.bool)
    for start in range(0, len(boxes), 256):
        block = boxes[start : start + 256]
        top_left = torch.maximum(block[:, None, :2], boxes[None, :, :2])
        bottom_right = torch.minimum(block[:, None, 2:], boxes[None, :, 2:])
        inter = (bottom_right - top_left).clamp(min=0).prod(2)
        union = areas[start : start + 256, None] + areas[None, :] - inter
        overlapping[start : start + 256] = inter / union > iou_threshold
    rows = overlapping.numpy()
    suppressed = numpy.zeros(len(rows), dtype=bool)
    keep: list[int] = []
    for i in range(len(rows)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= rows[i]
    return order[torch.tensor(keep, dtype=torch.long)]


def register_cpu_torchvision_ops() -> None:
    """Make the registry's CUDA torchvision wheel importable next to CPU torch.

    Its C++ ops do not load against CPU torch, and `import torchvision` then fails on
    `register_fake("torchvision::nms")` (the operator does not exist). Defining nms/qnms with a
    pure-torch CPU kernel first lets it import; `torchvision.ops.nms` (YOLO's NMS once torchvision is
    imported) also checks that the C++ ops loaded, so that check is told they did.
    """
    for op in ("nms", "qnms"):
        _TORCHVISION_OPS.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_OPS.impl(op, _nms, "CPU")
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True


def wake(model: torch.nn.Module) -> None:
    """Random weights that still say something different for each box.

    PyTorch's default init fades the signal to nothing through 100+ layers, so every query or anchor
    would answer with the same box, class and score; He init keeps it alive. YOLO also starts its class
    logits at a prior of ~1e-4, under the backend's 0.001 candidate floor; those biases start at 0.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        for branch in getattr(model.model[-1], "cv3", ()):  # YOLO's class branches; RT-DETR has none
            branch[-1].bias.zero_()


def main(confidence: float, classes: list[str], workdir: Path) -> dict[str, object]:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(workdir / "config")
    register_cpu_torchvision_ops()
    import ultralytics
    from PIL import Image

    from server.config import Settings
    from server.detect import COCO_CLASSES, load_detector
    from server.detect.ultralytics_backend import UltralyticsDetector
    from tests.support.real_media import media_path

    photos = [Image.open(media_path("bus.jpg")), Image.open(media_path("people_walking.jpg"))]
    models: dict[str, object] = {}
    for file_name, yaml, coco_names in MODELS:
        torch.manual_seed(0)
        built = ultralytics.RTDETR(yaml) if "rtdetr" in file_name else ultralytics.YOLO(yaml)
        wake(built.model)
        if coco_names:
            built.model.names = dict(enumerate(COCO_CLASSES))
        built.ckpt = {"train_args": {"imgsz": IMAGE_SIZE}}  # what a checkpoint trained at that size carries
        weights = workdir / file_name
        built.save(weights)
        detector = load_detector(
            Settings(
                detector="ultralytics",
                detector_model=weights,
                detection_confidence=confidence,
                detection_classes=classes,
            )
        )
        assert isinstance(detector, UltralyticsDetector)
        batch = detector.detect(photos)
        alone = detector.detect(photos[1:])
        models[file_name] = {
            "backend": detector.name,
            "loader": type(detector._model).__name__,
            "device": detector.device,
            "classes": sorted(detector.classes),
            "last_inference_ms": detector.last_inference_ms,
            "batch": [[dataclasses.asdict(obj) for obj in objects] for objects in batch],
            "alone": [[dataclasses.asdict(obj) for obj in objects] for objects in alone],
        }
    return {"images": [list(photo.size) for photo in photos], "models": models}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="hsi-ultralytics-") as tmp:
        print(json.dumps(main(float(sys.argv[1]), sys.argv[2].split(","), Path(tmp))))
