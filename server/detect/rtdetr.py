"""RT-DETRv2 through transformers: the primary detector, loaded from a local `save_pretrained` folder.

Nothing is fetched at run time: the folder holds `config.json`, the weights and
`preprocessor_config.json`, exactly as `save_pretrained` writes them for the published checkpoints and
for the tiny random model the tests build. On CUDA the model runs in fp16 (half the memory traffic,
the same boxes to the precision that matters); on CPU in fp32.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from server.detect.base import BaseDetector, DetectorUnavailable, RawBox, resolve_label
from server.detect.devices import resolve_torch_device

logger = logging.getLogger(__name__)


#: The `model_type`s `RTDetrV2ForObjectDetection` loads with every weight in place (v1 checkpoints too).
#: Another architecture's folder would load as well, every weight dropped and the model left random.
RTDETR_MODEL_TYPES = frozenset({"rt_detr_v2", "rt_detr"})


def is_transformers_model_dir(path: Path | None) -> bool:
    """True for a folder written by `save_pretrained` (it always holds config.json)."""
    return path is not None and path.is_dir() and (path / "config.json").is_file()


def model_type(model_dir: Path) -> str:
    """The architecture a `save_pretrained` folder's config.json names ('unknown' when it names none);
    DetectorUnavailable when the file cannot be read (cut short by a copy or a full disk: not a model
    of another kind, which would send the user looking for another model)."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DetectorUnavailable(
            f"HSI_DETECTOR_MODEL={model_dir}: its config.json cannot be read ({type(err).__name__}: {err})"
        ) from None
    return str(config.get("model_type") or "unknown") if isinstance(config, dict) else "unknown"


def _load_image_processor(model_dir: Path) -> Any:
    """The checkpoint's own image processor; the PIL one when the torchvision backend cannot load.

    transformers picks its torchvision-backed processor when torchvision is importable. A torchvision
    wheel built for another torch breaks at import, so that case falls back to the pure-PIL processor,
    which resizes and normalises identically.
    """
    from transformers import AutoImageProcessor

    if not (model_dir / "preprocessor_config.json").is_file():
        raise DetectorUnavailable(
            f"HSI_DETECTOR_MODEL={model_dir}: preprocessor_config.json is missing "
            "(save the image processor next to the model with save_pretrained)"
        )
    try:
        return AutoImageProcessor.from_pretrained(str(model_dir))
    except (OSError, ValueError) as err:  # a file cut short or not JSON: transformers' own words for it
        raise DetectorUnavailable(
            f"HSI_DETECTOR_MODEL={model_dir}: its image processor cannot be loaded ({type(err).__name__}: {err})"
        ) from None
    except (ImportError, RuntimeError) as err:
        from transformers.models.rt_detr import RTDetrImageProcessorPil

        logger.warning("fast image processor unavailable (%s); using the PIL one", err)
        return RTDetrImageProcessorPil.from_pretrained(str(model_dir))


class RTDetrDetector(BaseDetector):
    """RT-DETRv2 (`RTDetrV2ForObjectDetection`), batched over a list of PIL images."""

    name = "rtdetr"

    def __init__(
        self,
        model_dir: Path,
        *,
        classes: Iterable[str],
        confidence: float,
        device: str = "auto",
    ) -> None:
        if not is_transformers_model_dir(model_dir):
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model_dir}: not a model folder with config.json "
                "(RT-DETRv2 weights saved with save_pretrained)"
            )
        if (architecture := model_type(model_dir)) not in RTDETR_MODEL_TYPES:
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model_dir}: a {architecture} model, not RT-DETR "
                "(the model_type in its config.json)"
            )
        try:
            import torch
            from transformers import RTDetrV2ForObjectDetection
        except ImportError as err:
            raise DetectorUnavailable(
                f"HSI_DETECTOR=rtdetr needs torch and transformers (pip install 'hsi-server[detect]'): {err}"
            ) from err

        resolved = resolve_torch_device(device)
        super().__init__(classes=classes, confidence=confidence, device=resolved, model=str(model_dir))
        self._torch = torch
        self._dtype = torch.float16 if resolved.startswith("cuda") else torch.float32
        self.processor = _load_image_processor(model_dir)
        from safetensors import SafetensorError

        try:
            model = RTDetrV2ForObjectDetection.from_pretrained(str(model_dir), dtype=self._dtype)
        except (OSError, ValueError, SafetensorError) as err:  # weights missing, cut short, of another shape
            raise DetectorUnavailable(
                f"HSI_DETECTOR_MODEL={model_dir}: its weights cannot be loaded ({err})"
            ) from None
        self.model_obj = model.to(resolved).eval()
        self.id2label: dict[int, str] = {int(k): str(v) for k, v in (model.config.id2label or {}).items()}
        logger.info("RT-DETRv2 loaded from %s on %s (%s)", model_dir, resolved, self._dtype)

    def _detect_raw(self, images: Sequence[Image.Image]) -> list[list[RawBox]]:
        torch = self._torch
        inputs = self.processor(images=list(images), return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.device, dtype=self._dtype)
        with torch.inference_mode():
            outputs = self.model_obj(pixel_values=pixel_values)
        # Post-processing in fp32: sigmoid scores and box scaling lose nothing worth keeping in fp16,
        # but comparing against the cut in fp32 keeps results identical across devices.
        outputs.logits = outputs.logits.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        target_sizes = torch.tensor([(image.height, image.width) for image in images], device=self.device)
        # The backend-neutral cut is applied afterwards; here keep everything above zero so the shared
        # filter sees the same candidates as for any other backend.
        results = self.processor.post_process_object_detection(
            outputs, threshold=0.0, target_sizes=target_sizes
        )
        batch: list[list[RawBox]] = []
        for result in results:
            scores = result["scores"].tolist()
            labels = result["labels"].tolist()
            boxes = result["boxes"].tolist()
            batch.append(
                [
                    RawBox(resolve_label(int(label), self.id2label), float(score), *map(float, box))
                    for score, label, box in zip(scores, labels, boxes, strict=True)
                ]
            )
        return batch
