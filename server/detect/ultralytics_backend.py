"""Ultralytics weights (`.pt`, or a TensorRT `.engine` built from them), for people who already have them.

The `ultralytics` package is optional and not a dependency (it pulls torchvision and much more); it is
imported only when this backend is chosen, and its absence is a clear start-up error, not a crash later.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from server.detect.base import BaseDetector, DetectorUnavailable, RawBox, resolve_label
from server.vocabulary import normalize_label
from server.detect.devices import resolve_torch_device

logger = logging.getLogger(__name__)

ULTRALYTICS_SUFFIXES = frozenset({".pt", ".engine"})


def ultralytics_importable() -> bool:
    """Whether the optional package is installed, without importing it (that takes seconds)."""
    return importlib.util.find_spec("ultralytics") is not None


def _half_precision() -> dict[str, Any]:
    """FP16 on CUDA. ultralytics 8.4 renamed `half=True` to `quantize=16` and warns on every call that
    still says `half`; older releases refuse `quantize`. CPU inference stays FP32 either way."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


class UltralyticsDetector(BaseDetector):
    """RT-DETR or YOLO weights through `ultralytics`; the file name decides which class loads them."""

    name = "ultralytics"

    def __init__(
        self, weights: Path, *, classes: Iterable[str], confidence: float, device: str = "auto"
    ) -> None:
        if not weights.is_file() or weights.suffix.lower() not in ULTRALYTICS_SUFFIXES:
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={weights}: HSI_DETECTOR=ultralytics needs a .pt or .engine file"
            )
        try:
            import ultralytics
        except ImportError as err:
            raise DetectorUnavailable(
                "HSI_DETECTOR=ultralytics needs the optional `ultralytics` package, which is not installed "
                f"({err}); use HSI_DETECTOR=rtdetr with a transformers model folder instead"
            ) from err
        resolved = resolve_torch_device(device)
        super().__init__(classes=classes, confidence=confidence, device=resolved, model=str(weights))
        loader = ultralytics.RTDETR if "rtdetr" in weights.name.lower() else ultralytics.YOLO
        self._model: Any = loader(str(weights))
        names = getattr(self._model, "names", None) or {}
        # Weights saved without a label map name their classes by index ("0".."79"); like transformers'
        # LABEL_n those say nothing, so such ids are left to resolve_label's COCO reading.
        self.id2label: dict[int, str] = {
            int(k): normalize_label(str(v)) for k, v in dict(names).items() if str(v) != str(k)
        }
        self._precision = _half_precision() if resolved.startswith("cuda") else {}
        logger.info("ultralytics %s loaded from %s on %s", loader.__name__, weights, resolved)

    def _detect_raw(self, images: Sequence[Image.Image]) -> list[list[RawBox]]:
        results = self._model.predict(
            list(images),
            conf=0.001,  # the shared filter applies the real cut; keep candidates like other backends
            device=self.device,
            verbose=False,
            **self._precision,
        )
        batch: list[list[RawBox]] = []
        for result in results:
            boxes = result.boxes
            corners = boxes.xyxy.float().cpu().tolist()
            scores = boxes.conf.float().cpu().tolist()
            labels = boxes.cls.int().cpu().tolist()
            batch.append(
                [
                    RawBox(resolve_label(int(label), self.id2label), float(score), *box)
                    for box, score, label in zip(corners, scores, labels, strict=True)
                ]
            )
        return batch
