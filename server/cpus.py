"""How many CPUs this process may use: what sizes the work a process runs side by side."""

from __future__ import annotations

import os


def usable() -> int:
    """The CPUs this process may run on (a container's cpuset, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
