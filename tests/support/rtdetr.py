"""Random-weight RT-DETRv2 models, saved like real weights, so tests and benchmarks load them through
the product loader.

Nothing can download the published checkpoints here; the detector's real code path (processor,
model, post-processing, label mapping) still runs end to end on random weights of the same
architecture (recipe: shared/reference/environment.md). Their boxes are noise; their shapes, and for
`build_rtdetr_r18` the work per image, are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The tiny model's input size. 320 keeps CPU tests fast; real checkpoints use 640.
TINY_INPUT_SIZE = 320
#: The published checkpoints' input size.
R18_INPUT_SIZE = 640


def build_tiny_rtdetr(directory: Path, *, seed: int = 0, input_size: int = TINY_INPUT_SIZE) -> Path:
    """Write config.json, model.safetensors and preprocessor_config.json into `directory`; return it.

    A 2 M-parameter model. The label map is left generic (`LABEL_0..79`) on purpose, like a checkpoint
    exported without names: the product must then read ids as COCO indices.
    """
    from transformers import RTDetrResNetConfig, RTDetrV2Config

    backbone = RTDetrResNetConfig(
        layer_type="basic",
        depths=[1, 1, 1, 1],
        hidden_sizes=[32, 64, 128, 256],
        embedding_size=32,
        out_features=["stage2", "stage3", "stage4"],
    )
    config = RTDetrV2Config(
        backbone_config=backbone,
        num_labels=80,
        d_model=64,
        encoder_hidden_dim=64,
        encoder_in_channels=[64, 128, 256],
        decoder_in_channels=[64, 64, 64],
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        decoder_layers=2,
        num_queries=50,
        decoder_attention_heads=4,
        encoder_attention_heads=4,
    )
    return _save(config, directory, seed=seed, input_size=input_size)


def build_rtdetr_r18(directory: Path, *, seed: int = 0) -> Path:
    """RT-DETRv2-S (ResNet-18 backbone, `PekingU/rtdetr_v2_r18vd`'s architecture: 20.2 M parameters,
    300 queries, 3 decoder layers, 640×640 input) with random weights, saved like `build_tiny_rtdetr`:
    the published model's cost per image, for benchmarks."""
    from transformers import RTDetrResNetConfig, RTDetrV2Config

    backbone = RTDetrResNetConfig(
        layer_type="basic",
        depths=[2, 2, 2, 2],
        hidden_sizes=[64, 128, 256, 512],
        embedding_size=64,
        out_features=["stage2", "stage3", "stage4"],
    )
    config = RTDetrV2Config(
        backbone_config=backbone,
        num_labels=80,
        d_model=256,
        encoder_hidden_dim=256,
        encoder_in_channels=[128, 256, 512],
        decoder_in_channels=[256, 256, 256],
        encoder_ffn_dim=1024,
        decoder_ffn_dim=1024,
        decoder_layers=3,
        hidden_expansion=0.5,
        num_queries=300,
    )
    return _save(config, directory, seed=seed, input_size=R18_INPUT_SIZE)


def _save(config: Any, directory: Path, *, seed: int, input_size: int) -> Path:
    import torch
    from transformers import RTDetrV2ForObjectDetection
    from transformers.models.rt_detr import RTDetrImageProcessorPil

    torch.manual_seed(seed)
    model = RTDetrV2ForObjectDetection(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    # Same preprocessing as the published RT-DETRv2 checkpoints (rescale to 0..1, no normalisation),
    # at a square input of `input_size`.
    processor = RTDetrImageProcessorPil(size={"height": input_size, "width": input_size})
    processor.save_pretrained(directory)
    return directory
