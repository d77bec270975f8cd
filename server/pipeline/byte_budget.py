"""A budget of bytes shared by concurrent tasks: the memory bound next to a count of tasks in flight.

A worker that keeps a window of entries in flight bounds them by count; what each holds varies a
thousandfold (a 640×480 snapshot against thirty pictures of a 4K recording), so the count alone does not
bound memory. Each task holds its estimated bytes while it works; a task whose bytes do not fit waits
until enough are returned. Waiters are served in arrival order, so a large file is not overtaken forever
by small ones; one that alone exceeds the whole budget runs when nothing else holds any (it has to run
some time, and alone is the least it can cost).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ByteBudget:
    """At most `limit` bytes held at once, except by a single holder larger than the limit."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.held = 0
        #: The most bytes held at once since the start (for tests and stats).
        self.peak = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        """Hold `size` bytes for the duration of the block (waiting for them first if need be)."""
        size = max(0, size)
        await self._acquire(size)
        try:
            yield
        finally:
            self._release(size)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    def _take(self, size: int) -> None:
        self.held += size
        self.peak = max(self.peak, self.held)

    async def _acquire(self, size: int) -> None:
        if not self._waiters and self._fits(size):
            self._take(size)
            return
        granted = asyncio.get_running_loop().create_future()
        waiter = (size, granted)
        self._waiters.append(waiter)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(size)  # granted as it was cancelled: give the bytes back
            else:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                self._grant()  # the head may have changed
            raise

    def _release(self, size: int) -> None:
        self.held -= size
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0]):
            size, granted = self._waiters.popleft()
            if granted.done():  # cancelled while queued
                continue
            self._take(size)
            granted.set_result(None)
