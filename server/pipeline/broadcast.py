"""Live updates on Redis pub/sub: any process publishes, every API process relays to its WebSockets.

Pub/sub (not a stream) on purpose: a live view needs only what happens while it is connected; the
durable record is the database, which clients read when they (re)connect. Several messages about one
thing (a file's detections and its camera) travel as one `batch` publication, which the relay unpacks:
clients see the same messages, the pipeline pays one PUBLISH.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

CHANNEL = "hsi:broadcast"

_LOGGER = logging.getLogger("hsi.broadcast")


def encode(message_type: str, data: dict[str, Any]) -> str:
    """The wire form `{"type": ..., "data": ...}`; datetimes and paths become strings."""
    return json.dumps({"type": message_type, "data": data}, default=str, separators=(",", ":"))


#: The envelope of several messages published together (never sent to clients as such).
BATCH = "batch"


def queue_many(pipe: Pipeline, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Add one publication carrying `messages` to a pipeline the caller executes."""
    if len(messages) == 1:
        pipe.publish(CHANNEL, encode(*messages[0]))
        return
    envelope = {"type": BATCH, "data": [{"type": kind, "data": data} for kind, data in messages]}
    pipe.publish(CHANNEL, json.dumps(envelope, default=str, separators=(",", ":")))


async def publish(redis: aioredis.Redis, message_type: str, data: dict[str, Any]) -> None:
    """Publish one message; a Redis hiccup is logged, never raised (the rows are already committed)."""
    try:
        await redis.publish(CHANNEL, encode(message_type, data))
    except Exception as err:  # a lost live update must not undo or retry committed work
        _LOGGER.warning("could not publish %s: %s", message_type, err, extra={"component": "broadcast"})
