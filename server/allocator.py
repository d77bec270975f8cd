"""Giving freed memory back to the system: glibc's allocator, set for a server that decodes video.

Decoding a 4K recording and encoding its clip allocate and free buffers of megabytes per frame, in
worker threads. glibc serves a buffer from the heap of the calling thread's arena unless it is above the
mmap threshold, and raises that threshold to the size of each mapped buffer freed (up to 32 MiB), so
after the first frames every frame buffer comes from a heap; a heap gives memory back only from its top.
Measured with `python -m server run` and one 60 s 3840×2160 recording (bench/server_memory.py): the
process stayed at its peak after the clip was made (882 MiB against 352 idle). With a fixed threshold,
every buffer of 1 MiB or more is a mapping of its own, returned as soon as it is freed; `release()`
after a recording returns what the heaps still hold free.

Other C libraries (musl) have no such knobs: there both functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

_LOGGER = logging.getLogger("hsi.allocator")

#: glibc's `mallopt` parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
#: Buffers from this size up are mapped on their own: a 1080p frame is 3 MB, a 4K one 12 MB; a
#: Python object or a row is far below (mapping costs a system call per buffer).
MMAP_THRESHOLD_BYTES = 1024 * 1024


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    if not all(hasattr(libc, symbol) for symbol in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    return libc


def tune() -> bool:
    """Fix the mmap threshold (once, at start); whether the C library took it."""
    libc = _glibc()
    if libc is None:
        return False
    taken = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not taken:
        _LOGGER.warning("glibc refused an mmap threshold of %d bytes", MMAP_THRESHOLD_BYTES)
    return taken


def release() -> None:
    """Return the free memory of every heap to the system (after a recording or a clip: milliseconds)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
