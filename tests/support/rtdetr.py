"""A tiny random-weight RT-DETRv2, saved like real weights, so tests load it through the product loader.

Nothing can download the published checkpoints here; the detector's real code path (processor,
model, post-processing, label mapping) still runs end to end on a 2 M-parameter model of the same
architecture (recipe: shared/reference/environment.md). Its boxes are noise; their shapes are not.
"""

from __future__ import annotations

from pathlib import Path

#: The processor's input size. 320 keeps CPU tests fast; real checkpoints use 640.
TINY_INPUT_SIZE = 320


def build_tiny_rtdetr(directory: Path, *, seed: int = 0, input_size: int = TINY_INPUT_SIZE) -> Path:
    """Write config.json, model.safetensors and preprocessor_config.json into `directory`; return it.

    The label map is left generic (`LABEL_0..79`) on purpose, like a checkpoint exported without
    names: the product must then read ids as COCO indices.
    """
    import torch
    from transformers import RTDetrResNetConfig, RTDetrV2Config, RTDetrV2ForObjectDetection
    from transformers.models.rt_detr import RTDetrImageProcessorPil

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
    torch.manual_seed(seed)
    model = RTDetrV2ForObjectDetection(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    # Same preprocessing as the published RT-DETRv2 checkpoints (rescale to 0..1, no normalisation),
    # at a smaller square input.
    processor = RTDetrImageProcessorPil(size={"height": input_size, "width": input_size})
    processor.save_pretrained(directory)
    return directory
