"""Giving freed memory back to the system: glibc's allocator, set for a server that decodes video.

Decoding a 4K recording and encoding its clip allocate and free buffers of megabytes per frame, in
worker threads. glibc serves a buffer from the heap of the calling thread's arena unless it is above the
mmap threshold, and raises that threshold to the size of each mapped buffer freed (up to 32 MiB), so
after the first frames every frame buffer comes from a heap; a heap gives memory back only from its top.
Measured with `python -m server run` and one 60 s 3840×2160 recording (bench/server_memory.py): the
process stayed at its peak after the clip was made (882 MiB against 352 idle). With a fixed threshold,
every buffer of 1 MiB or more is a mapping of its own, returned as soon as it is freed; `release()`
after a recording returns what the heaps still hold free.

That makes every decoded picture (a 768×576 snapshot is 1.7 MB in Pillow's layout) a fresh mapping,
which the kernel zero-fills page by page as the decoder first writes it: measured with the null
detector (bench/pipeline.py, 2 000 snapshots), 448 page faults per image in the detect process and
about a fifth of its CPU. Pillow can keep freed picture buffers for the next picture (its block cache,
off by default): with `PICTURE_BUFFERS` kept, 20 faults per image are left. What they hold is given
back with the rest: `release()`, or `release_pictures()` alone once a worker has been idle a moment.

Other C libraries (musl) have no such knobs: there the glibc functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

from PIL import Image

_LOGGER = logging.getLogger("hsi.allocator")

#: glibc's `mallopt` parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
#: Buffers from this size up are mapped on their own: a 1080p frame is 3 MB, a 4K one 12 MB; a
#: Python object or a row is far below (mapping costs a system call per buffer).
MMAP_THRESHOLD_BYTES = 1024 * 1024
#: Freed picture buffers Pillow keeps for reuse: a detect worker's window of entries in flight (3
#: batches of 8), the pictures of one batch freed together while the next ones decode. Measured (null
#: detector, 2 000 snapshots): page faults of the detect process 896 k with none kept, 400 k with 8,
#: 91-109 k with 16, 41 k with 24 (as with 32 or 64). At most ~24 × 5 MB (a 5 MP camera's picture,
#: decoded at half size) while busy; `release_pictures()` frees them.
PICTURE_BUFFERS = 24


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
    """Keep freed picture buffers for reuse and fix the mmap threshold (once, at start); whether the C
    library took the threshold."""
    Image.core.set_blocks_max(PICTURE_BUFFERS)
    libc = _glibc()
    if libc is None:
        return False
    taken = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not taken:
        _LOGGER.warning("glibc refused an mmap threshold of %d bytes", MMAP_THRESHOLD_BYTES)
    return taken


def release_pictures() -> None:
    """Free the picture buffers kept for reuse (microseconds: a few mappings)."""
    Image.core.clear_cache()


def release() -> None:
    """Return the free memory of every heap and the kept picture buffers to the system (after a
    recording or a clip: milliseconds)."""
    release_pictures()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
