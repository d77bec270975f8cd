"""Counters of the detect worker: inference speed (for gpu_stats and health) and per-stage latency.

Stages of one file: watch→queue (watcher saw it → entry added), queue→detector (entry added →
inference starts), detector (its share of the micro-batch, wall time), commit (rows written).
"""

from __future__ import annotations

import collections
import statistics
import time
from dataclasses import dataclass, field

STAGES = ("watch_to_queue", "queue_to_detector", "detector", "commit")


@dataclass
class DetectStats:
    """Rolling counters; everything is in-process and bounded."""

    window_seconds: float = 60.0
    files: int = 0
    images: int = 0
    detections: int = 0
    rejected: int = 0
    last_inference_ms: float | None = None
    _inferences: collections.deque[tuple[float, int, float]] = field(
        default_factory=lambda: collections.deque(maxlen=10_000)
    )
    stages: collections.deque[dict[str, float]] = field(
        default_factory=lambda: collections.deque(maxlen=10_000)
    )

    def record_inference(self, images: int, seconds: float) -> None:
        self.images += images
        self.last_inference_ms = seconds * 1000.0
        self._inferences.append((time.monotonic(), images, seconds))

    def record_file(self, stage_seconds: dict[str, float], detections: int) -> None:
        self.files += 1
        self.detections += detections
        self.stages.append(stage_seconds)

    def inference_fps(self) -> float | None:
        """Images per second of inference over the last window (None before the first inference)."""
        horizon = time.monotonic() - self.window_seconds
        recent = [(images, seconds) for at, images, seconds in self._inferences if at >= horizon]
        busy = sum(seconds for _, seconds in recent)
        if not recent or busy <= 0:
            return None
        return sum(images for images, _ in recent) / busy

    def stage_summary(self) -> dict[str, dict[str, float]]:
        """Median and 95th percentile of each stage in milliseconds, over the recorded files."""
        summary: dict[str, dict[str, float]] = {}
        for stage in STAGES:
            values = sorted(s[stage] * 1000.0 for s in self.stages if stage in s)
            if not values:
                continue
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
            summary[stage] = {"p50_ms": statistics.median(values), "p95_ms": p95, "n": len(values)}
        return summary
