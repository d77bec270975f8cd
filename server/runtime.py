"""What every part of a running server shares: settings, database, Redis and the instance's identity.

Only infrastructure lives here. What the roles build on top of it (the detection sink, the analyzer)
is wired by `server.application`, health reporting is `server.health`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import redis.asyncio as aioredis

from server.config import Settings
from server.db import Database


def instance_id(data_dir: Path) -> str:
    """A UUID kept in the data directory: Home Assistant uses it as the config entry's unique id."""
    path = data_dir / "instance_id"
    if path.is_file():
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    value = str(uuid.uuid4())
    path.write_text(value + "\n", encoding="utf-8")
    return value


@dataclass
class Runtime:
    """Handed to the API and the workers: the stores and settings every part of one process shares."""

    settings: Settings
    database: Database
    redis: aioredis.Redis
    instance_id: str
    #: When this process's runtime was made (`time.monotonic()`): health's start-up grace counts from it.
    started_at: float = field(default_factory=time.monotonic)

    def with_database(self, database: Database) -> Runtime:
        """The same runtime on another connection pool (the API's own, so that slow downloads cannot
        take the connections the pipeline needs); settings and Redis stay one."""
        return replace(self, database=database)
