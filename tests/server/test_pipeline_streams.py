"""Stream semantics on a real Redis: ack after the handler, retries, dead letter, reclaim, the cap."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from server.pipeline import progress
from server.pipeline.streams import QueueFull, RedisStream
from tests.support.pipeline import eventually


def _stream(redis: aioredis.Redis, **options: object) -> RedisStream:
    defaults: dict[str, object] = {"max_len": 100, "max_retries": 3, "claim_idle_ms": 60_000,
                                   "backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05}
    defaults.update(options)
    return RedisStream(redis, "test:jobs", "workers", **defaults)  # type: ignore[arg-type]


async def _consume_until(
    stream: RedisStream,
    handler: Callable[[str, dict[str, str]], Awaitable[None]],
    done: Callable[[], Awaitable[bool]],
    consumer: str = "c1",
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume(consumer, handler, stop=stop, count=5, block_ms=50))
    try:
        await eventually(done, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_entries_are_acked_only_after_the_handler_returns(redis: aioredis.Redis) -> None:
    stream = _stream(redis)
    await stream.ensure_group()
    ids = [await stream.add({"n": str(n)}) for n in range(3)]
    seen: list[str] = []
    pending_during_handler: list[int] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        info = await redis.xpending(stream.name, stream.group)
        pending_during_handler.append(info["pending"])
        seen.append(fields["n"])

    async def all_done() -> bool:
        return len(seen) == 3 and await stream.depth() == 0

    await _consume_until(stream, handler, all_done)
    assert sorted(seen) == ["0", "1", "2"]
    assert all(count >= 1 for count in pending_during_handler)  # still unacknowledged while handled
    assert (await redis.xpending(stream.name, stream.group))["pending"] == 0
    assert len(ids) == 3


async def test_a_failing_entry_is_retried_with_backoff_then_succeeds(redis: aioredis.Redis) -> None:
    stream = _stream(redis, backoff_base_seconds=0.1, backoff_cap_seconds=1.0)
    await stream.add({"job": "flaky"})
    attempts: list[float] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise RuntimeError("database briefly away")

    async def done() -> bool:
        return len(attempts) == 3 and await stream.depth() == 0

    await _consume_until(stream, handler, done)
    assert await redis.xlen(stream.dead_letter_name) == 0
    # Backoff grows: the retries wait at least 0.1 s, then 0.2 s (lower bounds only: a busy machine
    # adds scheduling delay to both, so comparing the two gaps with each other would be flaky).
    assert attempts[1] - attempts[0] >= 0.1 and attempts[2] - attempts[1] >= 0.2


async def test_dead_letter_after_max_retries(redis: aioredis.Redis) -> None:
    stream = _stream(redis, max_retries=3)
    await stream.add({"job": "poison", "file_path": "/x.jpg"})
    await stream.add({"job": "fine"})
    handled: list[str] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        if fields["job"] == "poison":
            raise ValueError("cannot ever work")
        handled.append(fields["job"])

    async def done() -> bool:
        return await redis.xlen(stream.dead_letter_name) == 1 and await stream.depth() == 0

    await _consume_until(stream, handler, done)
    assert handled == ["fine"]
    [(_, dead)] = await redis.xrange(stream.dead_letter_name)
    assert dead[b"job"] == b"poison" and dead[b"file_path"] == b"/x.jpg"
    assert b"cannot ever work" in dead[b"error"] and dead[b"attempts"] == b"3"


@pytest.mark.parametrize(
    "fault",
    [
        lambda: OperationalError("INSERT", {}, ConnectionRefusedError(111, "Connection refused")),
        lambda: RedisConnectionError("Error 111 connecting to localhost:6379. Connection refused."),
        lambda: OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["database", "redis", "disk-full"],
)
async def test_transient_failures_are_retried_past_max_retries_never_dead_lettered(
    redis: aioredis.Redis, fault: Callable[[], Exception], caplog: pytest.LogCaptureFixture
) -> None:
    """A store or the disk failing is not the entry's fault: ten failures with `max_retries=3` and the
    entry is still retried (backoff capped), then handled once the fault is gone; the stream's waiting
    note says why meanwhile."""
    stream = _stream(redis, max_retries=3, transient_cap_seconds=0.05)
    await stream.add({"job": "upload"})
    attempts: list[str] = []
    notes: list[bytes | None] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        attempts.append(entry_id)
        if len(attempts) <= 10:
            notes.append(await redis.get(progress.waiting_key(stream.name)))
            raise fault()

    async def done() -> bool:
        return len(attempts) == 11 and await stream.depth() == 0

    with caplog.at_level(logging.WARNING, logger="hsi.streams"):
        await _consume_until(stream, handler, done)
    assert await redis.xlen(stream.dead_letter_name) == 0
    assert await redis.hlen(f"{stream.name}:failures") == 0  # never counted toward the dead letter
    note = json.loads(next(n for n in notes if n is not None))
    assert note["reason"].startswith(type(fault()).__name__)
    waiting = [r for r in caplog.records if "never dead-lettered" in r.getMessage()]
    assert len(waiting) == 1  # one line for the outage, not one per attempt


async def test_entries_of_a_dead_consumer_are_reclaimed(redis: aioredis.Redis) -> None:
    stream = _stream(redis, claim_idle_ms=100)
    await stream.ensure_group()
    await stream.add({"job": "orphan"})
    # A consumer takes the entry and dies without acknowledging it.
    taken = await redis.xreadgroup(stream.group, "dead-worker", {stream.name: ">"}, count=1)
    assert taken
    handled: list[str] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        handled.append(fields["job"])

    async def done() -> bool:
        return handled == ["orphan"] and await stream.depth() == 0

    await _consume_until(stream, handler, done, consumer="survivor")


async def test_an_entry_a_live_consumer_works_on_longer_than_the_idle_limit_is_not_taken_over(
    redis: aioredis.Redis,
) -> None:
    """The finding (a review, then tried): nothing refreshed a running entry's idle time, and XAUTOCLAIM
    takes the caller's own entries too, so a handler running longer than `claim_idle_ms` (a refinement
    behind a slow model, a long clip) was started again, by its own consumer or another, while the first
    run went on; each time counted as a delivery, towards the dead letters."""
    stream = _stream(redis, claim_idle_ms=500)
    await stream.add({"n": "1"})
    started: list[str] = []

    async def slow(entry_id: str, fields: dict[str, str]) -> None:
        started.append(entry_id)
        await asyncio.sleep(2.0)  # four times the idle limit

    stops = [asyncio.Event(), asyncio.Event()]
    consumers = [
        asyncio.create_task(stream.consume(name, slow, stop=stop, count=2, block_ms=50))
        for name, stop in zip(("c1", "c2"), stops, strict=True)
    ]
    await eventually(lambda: _acked(redis), timeout=10)
    for stop in stops:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*consumers), 10)
    assert len(started) == 1, started


async def _acked(redis: aioredis.Redis) -> bool:
    return await redis.xlen("test:jobs") == 0


async def test_a_restarted_consumer_resumes_its_own_pending_entries_at_once(redis: aioredis.Redis) -> None:
    stream = _stream(redis)  # claim_idle_ms 60 s: only the own-history read can explain a quick pickup
    await stream.ensure_group()
    for n in range(7):
        await stream.add({"n": str(n)})
    await redis.xreadgroup(stream.group, "host-a", {stream.name: ">"}, count=7)
    handled: list[str] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        handled.append(fields["n"])

    async def done() -> bool:
        return len(handled) == 7 and await stream.depth() == 0

    await _consume_until(stream, handler, done, consumer="host-a")
    assert sorted(handled) == [str(n) for n in range(7)]


async def test_an_entry_that_keeps_killing_workers_is_dead_lettered(redis: aioredis.Redis) -> None:
    stream = _stream(redis, claim_idle_ms=50, max_retries=2)
    await stream.ensure_group()
    entry_id = await stream.add({"job": "crashes the decoder"})
    await redis.xreadgroup(stream.group, "w1", {stream.name: ">"}, count=1)
    for consumer in ("w2", "w3"):  # then two more workers took it over and died too
        await redis.xclaim(stream.name, stream.group, consumer, min_idle_time=0, message_ids=[entry_id])
    await asyncio.sleep(0.1)
    handled: list[str] = []

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        handled.append(fields["job"])

    async def done() -> bool:
        return await redis.xlen(stream.dead_letter_name) == 1

    await _consume_until(stream, handler, done, consumer="w4")
    assert handled == []
    [(_, dead)] = await redis.xrange(stream.dead_letter_name)
    assert b"without an acknowledgement" in dead[b"error"]


async def test_queue_full_at_the_cap_with_a_backpressure_warning(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream = _stream(redis, max_len=10)
    with caplog.at_level(logging.WARNING, logger="hsi.streams"):
        for n in range(10):
            await stream.add({"n": str(n)})
        with pytest.raises(QueueFull):
            await stream.add({"n": "overflow"})
    assert await stream.depth() == 10
    assert any("backpressure" in record.getMessage() for record in caplog.records)


async def test_a_busy_window_is_refilled_a_batch_at_a_time_and_acked_with_it(redis: aioredis.Redis) -> None:
    """count=6, refill=3: entries finishing one by one are not replaced one read at a time; once three
    have finished, three new ones start and the three finished are acknowledged. Nothing is lost."""
    stream = _stream(redis)
    await stream.ensure_group()
    for n in range(12):
        await stream.add({"n": str(n)})
    started: list[str] = []
    release: dict[str, asyncio.Event] = {}

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        started.append(fields["n"])
        release[fields["n"]] = event = asyncio.Event()
        await event.wait()

    async def pending() -> int:
        return int((await redis.xpending(stream.name, stream.group))["pending"])

    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume("c1", handler, stop=stop, count=6, refill=3, block_ms=50))
    try:
        await eventually(lambda: _true(len(started) == 6), timeout=5)
        for n in ("0", "1"):
            release[n].set()
        await asyncio.sleep(0.3)  # several of the consumer's polls
        assert started == [str(n) for n in range(6)] and await pending() == 6  # two finished: no read, no ack
        release["2"].set()
        await eventually(lambda: _true(len(started) == 9), timeout=5)
        assert await pending() == 6  # 0-2 acknowledged, 6-8 taken
        for n in [str(n) for n in range(3, 12)]:
            await eventually(lambda n=n: _true(n in release), timeout=5)
            release[n].set()
        await eventually(lambda: _true(len(started) == 12), timeout=5)
        await eventually(lambda: _drained(stream, pending), timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert sorted(started, key=int) == [str(n) for n in range(12)]


async def _true(value: bool) -> bool:
    return value


async def _drained(stream: RedisStream, pending: Callable[[], Awaitable[int]]) -> bool:
    return await stream.depth() == 0 and await pending() == 0


async def test_a_restart_after_dead_lettering_its_history_handles_a_new_entry_once(
    redis: aioredis.Redis,
) -> None:
    """A review's finding, tried: a consumer restarted under its old name whose whole first history page
    was dead-lettered (the entry that kept killing it) read new entries at once, and the history's next
    page, from the same consumer's pending list, handed the one in flight to a second handler."""
    stream = RedisStream(
        redis, "t:hist", "workers", max_retries=3, claim_idle_ms=60_000,
        backoff_base_seconds=0.01, backoff_cap_seconds=0.05,
    )  # fmt: skip
    await stream.ensure_group()
    poison = await stream.add({"n": "poison"})
    # The poison entry was delivered to consumer "w" four times (the worker died on it each time).
    await redis.xreadgroup(stream.group, "w", {stream.name: ">"}, count=1)
    for _ in range(3):
        await redis.xreadgroup(stream.group, "w", {stream.name: "0"}, count=1)
    fresh = await stream.add({"n": "fresh"})

    calls: Counter[str] = Counter()

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        calls[entry_id] += 1
        await asyncio.sleep(0.5)  # a real handler takes a while (decode, detect, commit)

    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume("w", handler, stop=stop, count=5, block_ms=50))
    try:
        async def finished() -> bool:
            return await stream.depth() == 0 and await redis.xlen(stream.dead_letter_name) == 1
        await eventually(finished, timeout=10)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    dead = await redis.xrange(stream.dead_letter_name)
    assert [fields[b"entry_id"].decode() for _, fields in dead] == [poison]
    assert calls[fresh] == 1, f"the fresh entry was handled {calls[fresh]} times"


async def test_entries_waiting_out_an_outage_are_not_all_taken_by_one_consumer(redis: aioredis.Redis) -> None:
    """A review's finding, tried: an entry waiting out a transient fault (the database away) did not
    count toward `count`, so within seconds of an outage one worker held the whole backlog (kept from
    the others by `_keep`), and once the store was back the others sat idle while it worked alone."""
    stream = RedisStream(
        redis, "t:outage", "workers", max_retries=3, claim_idle_ms=60_000,
        backoff_base_seconds=0.5, transient_cap_seconds=5.0,
    )  # fmt: skip
    await stream.ensure_group()
    for n in range(30):
        await stream.add({"n": str(n)})

    async def handler(entry_id: str, fields: dict[str, str]) -> None:
        raise OperationalError("INSERT", {}, ConnectionRefusedError(111, "Connection refused"))

    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume("c1", handler, stop=stop, count=3, block_ms=50))
    try:
        await asyncio.sleep(1.5)
        consumers = await redis.xinfo_consumers(stream.name, stream.group)
        held = {c["name"].decode(): int(c["pending"]) for c in consumers}
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert held["c1"] == 3  # of 30, with count=3 (all 30 before)


async def test_an_entry_a_live_detect_worker_finished_is_not_taken_over_as_a_dead_consumers(
    redis: aioredis.Redis,
) -> None:
    """A review's finding: detect worker A (a window of 4, refilled 2 at a time, as `DetectWorker`
    consumes) finished entry 1 while entries 2-4 (recordings) took longer than the claim idle time: its
    ack waited for room, the entry looked idle, and worker B took it over "from a silent consumer" and
    detected the file again."""

    def stream() -> RedisStream:
        return RedisStream(redis, "test:jobs", "workers", claim_idle_ms=600)

    ids = [await stream().add({"n": str(n)}) for n in range(1, 5)]
    handled: list[tuple[str, str]] = []
    release = asyncio.Event()

    def handler(worker: str):  # type: ignore[no-untyped-def]
        async def handle(entry_id: str, fields: dict[str, str]) -> None:
            handled.append((worker, fields["n"]))
            if worker == "A" and fields["n"] != "1":
                await release.wait()  # long recordings

        return handle

    stop = asyncio.Event()
    a = asyncio.create_task(stream().consume("A", handler("A"), stop=stop, count=4, refill=2, block_ms=100))
    await asyncio.sleep(0.3)  # A holds all four, has finished entry 1
    b = asyncio.create_task(stream().consume("B", handler("B"), stop=stop, count=4, refill=1, block_ms=100))
    await asyncio.sleep(2.5)
    release.set()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(a, b)
    assert ("B", "1") not in handled, (
        f"entry {ids[0]} that live worker A had already finished was taken over by worker B as a dead "
        f"consumer's and handled again (the file decoded and detected twice): {handled}"
    )
