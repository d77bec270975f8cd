"""Is the work moving? What each stream last finished and what it waits for, for the health report.

Every acknowledgement (`RedisStream._ack`) stamps `<stream>:finished-at` (ms); a consumer whose entries
fail for a transient reason (`server.pipeline.faults`) leaves `<stream>:waiting` (the reason, for
`WAITING_TTL_SECONDS`). From those and the stream itself — its length and its oldest entry, whose id
is the millisecond it was queued — any process can tell, without asking the workers:

- **stalled**: entries have been queued for longer than `pipeline_stall_seconds` and none finished in
  that time (a worker hung, or none consumes): the pipeline component is unhealthy;
- **waiting**: a store or the disk fails the work, which is retried, not given up (degraded);
- dead letters waiting for a decision (degraded, with the count).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

#: How long a waiting note outlives the last transient failure that renewed it.
WAITING_TTL_SECONDS = 30


def finished_key(stream: str) -> str:
    return f"{stream}:finished-at"


def waiting_key(stream: str) -> str:
    return f"{stream}:waiting"


#: SET KEYS[1] to Redis's own time, in ms.
_STAMP_LUA = """
local t = redis.call('TIME')
return redis.call('SET', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
"""


def queue_finished(pipe: Pipeline, stream: str) -> None:
    """Stamp "an entry of `stream` finished now" in a pipeline the caller runs (with its XACK), on
    Redis's clock: the API that reads it may run on a host whose clock differs from this worker's."""
    pipe.eval(_STAMP_LUA, 1, finished_key(stream))


async def redis_ms(redis: aioredis.Redis) -> int:
    """Now on Redis's clock, in ms: the one clock every process of a scaled-out server shares (stream
    ids are on it too)."""
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def note_waiting(redis: aioredis.Redis, stream: str, reason: str, entries: int) -> None:
    """Say, for `WAITING_TTL_SECONDS`, that `stream`'s work waits for a store or the disk."""
    note = json.dumps({"reason": reason, "entries": entries, "at": time.time()})
    await redis.set(waiting_key(stream), note, ex=WAITING_TTL_SECONDS)


def _entry_ms(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


async def pipeline_health(
    redis: aioredis.Redis, streams: Mapping[str, str], dead_letters: Mapping[str, str], stall_seconds: float
) -> dict[str, Any]:
    """The `pipeline` component of the health report: `streams` and `dead_letters` map a queue's short
    name to its Redis stream."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in streams.values():
            pipe.xlen(stream)
            pipe.xrange(stream, count=1)
            pipe.get(finished_key(stream))
            pipe.get(waiting_key(stream))
        for stream in dead_letters.values():
            pipe.xlen(stream)
        answers = await pipe.execute()
    now_ms = await redis_ms(redis)
    limit_ms = int(stall_seconds * 1000)
    queues: dict[str, Any] = {}
    stalled: list[str] = []
    waiting: list[str] = []
    for index, name in enumerate(streams):
        depth, oldest, finished, note = answers[4 * index : 4 * index + 4]
        oldest_age = (now_ms - _entry_ms(oldest[0][0])) / 1000 if oldest else None
        finished_age = (now_ms - int(finished)) / 1000 if finished is not None else None
        queue: dict[str, Any] = {
            "depth": int(depth),
            "oldest_seconds": None if oldest_age is None else round(oldest_age, 1),
            "finished_seconds_ago": None if finished_age is None else round(finished_age, 1),
        }
        if note is not None:
            queue["waiting_for"] = json.loads(note)["reason"]
            waiting.append(f"{name} waits for a store or the disk ({queue['waiting_for']})")
        if (
            int(depth) > 0
            and oldest_age is not None
            and oldest_age * 1000 > limit_ms
            and (finished_age is None or finished_age * 1000 > limit_ms)
        ):
            stalled.append(
                f"{name}: {int(depth)} queued, the oldest for {oldest_age:.0f} s, nothing finished "
                f"in {stall_seconds:g} s"
            )
        queues[name] = queue
    counts = answers[4 * len(streams) :]
    dead = {name: int(count) for name, count in zip(dead_letters, counts, strict=True)}
    part: dict[str, Any] = {"status": "healthy", "queues": queues, "dead_letters": dead}
    reasons = [*stalled, *waiting]
    if sum(dead.values()):
        reasons.append(f"{sum(dead.values())} dead letters wait for replay or drop (/api/system/dead-letters)")
    if stalled:
        part["status"] = "unhealthy"
    elif reasons:
        part["status"] = "degraded"
    if reasons:
        part["reason"] = "; ".join(reasons)
    return part
