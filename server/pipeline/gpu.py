"""GPU samples into `gpu_stats` (pynvml): utilisation, memory, temperature, power, inference FPS.

Without an NVIDIA GPU (or driver), `nvmlInit` raises `NVMLError`: the sampler then reports
"unavailable" on the health endpoint and does nothing else. Detection carries on, on the CPU.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from server.models import GPUStats
from server.runtime import Runtime

_LOGGER = logging.getLogger("hsi.gpu")

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GPUSample:
    gpu_name: str | None
    gpu_utilization: float | None
    memory_used: int | None  # MiB
    memory_total: int | None  # MiB
    temperature: float | None  # °C
    power_usage: float | None  # W


def _optional(read: Callable[[], Any]) -> Any:
    """NVML raises NVMLError_NotSupported for metrics a GPU does not report; those become NULL."""
    import pynvml

    try:
        return read()
    except pynvml.NVMLError:
        return None


class GPUSampler:
    """Opens NVML once; `sample()` reads device `index` (blocking: call it in a thread)."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.available = False
        self.reason: str | None = None
        self._handle: Any = None

    def open(self) -> bool:
        import pynvml

        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        except pynvml.NVMLError as err:
            self.reason = f"no NVIDIA GPU available ({err})"
            return False
        self.available = True
        return True

    def close(self) -> None:
        import pynvml

        if self.available:
            self.available = False
            _optional(pynvml.nvmlShutdown)

    def sample(self) -> GPUSample:
        import pynvml

        handle = self._handle
        name = _optional(lambda: pynvml.nvmlDeviceGetName(handle))
        utilisation = _optional(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        memory = _optional(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
        temperature = _optional(
            lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
        )
        power = _optional(lambda: pynvml.nvmlDeviceGetPowerUsage(handle))
        return GPUSample(
            gpu_name=name.decode() if isinstance(name, bytes) else name,
            gpu_utilization=None if utilisation is None else float(utilisation),
            memory_used=None if memory is None else int(memory.used // _MIB),
            memory_total=None if memory is None else int(memory.total // _MIB),
            temperature=None if temperature is None else float(temperature),
            power_usage=None if power is None else power / 1000.0,
        )


async def write_sample(runtime: Runtime, sample: GPUSample, inference_fps: float | None) -> None:
    async with runtime.database.sessions() as session, session.begin():
        await session.execute(
            insert(GPUStats).values(
                gpu_name=sample.gpu_name,
                gpu_utilization=sample.gpu_utilization,
                memory_used=sample.memory_used,
                memory_total=sample.memory_total,
                temperature=sample.temperature,
                power_usage=sample.power_usage,
                inference_fps=inference_fps,
            )
        )


async def run_gpu_sampler(
    runtime: Runtime,
    sampler: GPUSampler,
    stop: asyncio.Event,
    inference_fps: Callable[[], float | None],
) -> None:
    """Write one row every `HSI_GPU_STATS_INTERVAL_SECONDS` until `stop` (only if NVML opened)."""
    interval = runtime.settings.gpu_stats_interval_seconds
    while not stop.is_set():
        try:
            sample = await asyncio.to_thread(sampler.sample)
            await write_sample(runtime, sample, inference_fps())
        except Exception as err:  # a driver hiccup or a database restart: skip this sample
            _LOGGER.warning("GPU sample failed: %s", err, extra={"component": "gpu"})
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


def gpu_probe(sampler: GPUSampler) -> Callable[[], Any]:
    async def probe() -> dict[str, Any]:
        if not sampler.available:
            return {"status": "unavailable", "reason": sampler.reason or "GPU sampling not started"}
        sample = await asyncio.to_thread(sampler.sample)
        return {"status": "healthy", "name": sample.gpu_name, "memory_used_mib": sample.memory_used}

    return probe
