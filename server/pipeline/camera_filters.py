"""The detect worker's copy of each camera's object filters and masks, read at most every few seconds.

Intake and the detect worker make no database look-up per upload; the filters are one small JSONB value
per camera, read again once `REFRESH_SECONDS` have passed since this worker last read them. An edit
through the API therefore takes effect within that time on every worker, with no message to deliver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.alerts.object_filters import ObjectFilters, parse
from server.db import Database
from server.models import Camera

_LOGGER = logging.getLogger("hsi.detector")

REFRESH_SECONDS = 10.0


class CameraFilters:
    """Camera id → its `ObjectFilters` (None: keeps everything), cached for `REFRESH_SECONDS`."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._database = database
        self._clock = clock
        self._cache: dict[str, tuple[float, ObjectFilters | None]] = {}

    async def of(self, camera_id: str) -> ObjectFilters | None:
        now = self._clock()
        cached = self._cache.get(camera_id)
        if cached is not None and now - cached[0] < REFRESH_SECONDS:
            return cached[1]

        async def read(connection: AsyncConnection) -> object:
            result = await connection.execute(select(Camera.object_filters).where(Camera.id == camera_id))
            return result.scalar_one_or_none()

        raw = await self._database.read(read)
        try:
            filters = parse(raw) if isinstance(raw, dict) else None
        except ValueError as err:  # written by hand into the database; the API never stores one
            _LOGGER.warning("camera %s: object filters ignored (%s)", camera_id, err)
            filters = None
        self._cache[camera_id] = (now, filters)
        return filters
