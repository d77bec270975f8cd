"""What every benchmark prints first: the machine it ran on, so figures are never read without it."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(*packages: str) -> dict[str, Any]:
    """CPU model and count, memory, Python, platform, the versions of `packages` that matter, and the
    load average (1, 5, 15 min) when called: other work on the machine slows every figure."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        **{name: package_version(name) for name in packages},
    }


def print_result(result: dict[str, Any], output: Path | None) -> None:
    """The benchmark's result as JSON on stdout, and in `output` (`--output`) when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n", encoding="utf-8")
