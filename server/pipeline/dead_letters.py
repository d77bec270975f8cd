"""The dead letters of every work queue: listed, replayed into their queue, or dropped — by a person.

A dead letter is an entry its handler failed on `stream_max_retries` times for a reason of its own (a
transient fault never dead-letters, see `server.pipeline.streams`). Its fields are the entry's own plus
`error`, `entry_id` (its id in the work queue), `stream` and `attempts`. Nothing reads these streams by
itself: `/api/system/dead-letters` shows them, and Home Assistant raises a repair issue with their count.
Replaying puts the entry's own fields back on its work queue (a fresh entry, its failures forgotten);
dropping deletes it (its log row stays).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from server.alerts.delivery import DELIVERY_STREAM
from server.pipeline.streams import ANALYZE_STREAM, CLIP_STREAM, DETECT_STREAM, REFINE_STREAM, QueueFull, RedisStream

#: Short name -> work queue; each queue's dead letters are the stream `<queue>:dead`.
QUEUES: dict[str, str] = {
    "detect": DETECT_STREAM,
    "analyze": ANALYZE_STREAM,
    "refine": REFINE_STREAM,
    "clips": CLIP_STREAM,
    "alerts": DELIVERY_STREAM,
}
#: Fields the dead-lettering adds to the entry's own.
ADDED_FIELDS = ("error", "entry_id", "stream", "attempts")


def dead_letter_stream(queue: str) -> str:
    return f"{QUEUES[queue]}:dead"


def dead_letter_streams() -> dict[str, str]:
    return {queue: dead_letter_stream(queue) for queue in QUEUES}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    id: str
    dead_at: datetime
    error: str
    attempts: int
    original_id: str | None
    fields: dict[str, str]


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _letter(queue: str, entry_id: bytes | str, raw: dict[bytes | str, bytes | str]) -> DeadLetter:
    fields = {_text(key): _text(value) for key, value in raw.items()}
    letter_id = _text(entry_id)
    try:
        attempts = int(fields.get("attempts", "0"))
    except ValueError:
        attempts = 0
    return DeadLetter(
        queue=queue,
        id=letter_id,
        dead_at=datetime.fromtimestamp(int(letter_id.split("-", 1)[0]) / 1000, tz=UTC),
        error=fields.get("error", ""),
        attempts=attempts,
        original_id=fields.get("entry_id"),
        fields={key: value for key, value in fields.items() if key not in ADDED_FIELDS},
    )


async def counts(redis: aioredis.Redis) -> dict[str, int]:
    """Dead letters per queue."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream in dead_letter_streams().values():
            pipe.xlen(stream)
        found = await pipe.execute()
    return {queue: int(count) for queue, count in zip(QUEUES, found, strict=True)}


async def listed(
    redis: aioredis.Redis, queues: list[str], *, after: str | None, limit: int
) -> tuple[list[DeadLetter], str | None]:
    """Oldest first across `queues`, `limit` at most after the cursor `<queue>/<id>` (exclusive)."""
    letters: list[DeadLetter] = []
    for queue in queues:
        start = "-"
        if after is not None:
            after_queue, _, after_id = after.partition("/")
            if after_queue in QUEUES and list(QUEUES).index(queue) < list(QUEUES).index(after_queue):
                continue
            if queue == after_queue:
                start = f"({after_id}"
        for entry_id, raw in await redis.xrange(dead_letter_stream(queue), min=start, count=limit + 1):
            letters.append(_letter(queue, entry_id, raw))
        if len(letters) > limit:
            break
    page = letters[:limit]
    cursor = f"{page[-1].queue}/{page[-1].id}" if len(letters) > limit else None
    return page, cursor


async def find(redis: aioredis.Redis, queue: str, letter_id: str) -> DeadLetter | None:
    found = await redis.xrange(dead_letter_stream(queue), min=letter_id, max=letter_id)
    return _letter(queue, found[0][0], found[0][1]) if found else None


#: How long one decision may hold a letter at most (a replay or a drop takes milliseconds; a request
#: that died holding it frees it then).
DECISION_MS = 30_000


@asynccontextmanager
async def deciding(redis: aioredis.Redis, queue: str, letter_id: str) -> AsyncIterator[DeadLetter | None]:
    """The letter, held while one request replays or drops it; None when there is none or another
    request holds it. Two decisions at once (a double click, two dashboards) would otherwise both find
    it: its entry queued twice, or queued and dropped."""
    hold = f"{dead_letter_stream(queue)}:deciding:{letter_id}"
    if not await redis.set(hold, "1", nx=True, px=DECISION_MS):
        yield None
        return
    try:
        yield await find(redis, queue, letter_id)
    finally:
        await redis.delete(hold)


async def replay(redis: aioredis.Redis, letter: DeadLetter, *, max_len: int) -> str:
    """Put the letter's entry back on its queue (capped like any producer) and delete the letter;
    returns the new entry's id. Raises `QueueFull` (the letter stays) when the queue is at its cap."""
    queue = RedisStream(redis, QUEUES[letter.queue], "", max_len=max_len)
    entry_id = await queue.add(letter.fields)
    await redis.xdel(dead_letter_stream(letter.queue), letter.id)
    return entry_id


async def drop(redis: aioredis.Redis, letter: DeadLetter) -> None:
    await redis.xdel(dead_letter_stream(letter.queue), letter.id)


__all__ = ["QUEUES", "DeadLetter", "QueueFull", "counts", "deciding", "drop", "find", "listed", "replay"]
