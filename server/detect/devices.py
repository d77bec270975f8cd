"""Choosing the torch device for a detector: `auto` means the GPU when there is one."""

from __future__ import annotations


def resolve_torch_device(requested: str) -> str:
    """Turn HSI_DETECTOR_DEVICE (`auto`, `cpu`, `cuda`, `cuda:1`) into a device torch accepts.

    An explicit CUDA device on a machine without CUDA is an error rather than a silent CPU run: someone
    asked for the GPU and should learn at start-up that it is not there.
    """
    import torch

    value = requested.strip().lower() or "auto"
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            from server.detect.base import DetectorUnavailable

            raise DetectorUnavailable(
                f"HSI_DETECTOR_DEVICE={requested}: CUDA is not available on this machine"
            )
        return value
    if value == "cpu":
        return value
    raise ValueError(f"HSI_DETECTOR_DEVICE={requested}: expected auto, cpu, cuda or cuda:N")
