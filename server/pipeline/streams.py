"""Redis Streams work queues with consumer groups: the one distribution engine between processes.

Semantics every stream in HSI shares (`hsi:detect`, `hsi:analyze`, `hsi:refine`, `hsi:clips`):

- **ack after commit**: an entry is XACKed (and XDELed, so `XLEN` is the outstanding work) only after
  its handler returned, i.e. after the handler committed its rows;
- **retries with backoff**: a handler that raises leaves its entry pending; the same consumer tries
  again after `backoff_base * 2**(n-1)` seconds (capped), counting failures in `<name>:failures`;
- **transient failures never dead-letter**: an error of what the pipeline stands on (the database or
  Redis unreachable, the disk full: `server.pipeline.faults.is_transient`) is not the entry's fault. The
  entry is retried with capped backoff for as long as it takes, counted nowhere, and the stream says
  what it is waiting for (`server.pipeline.progress`, read by the health report);
- **dead letter**: after `max_retries` failures of the entry itself (or deliveries that never came
  back, i.e. a worker that died on it repeatedly) the entry moves to `dead_letter_name` with the error,
  and is acknowledged, with an ERROR log row; `/api/system/dead-letters` lists, replays and drops them;
- **reclaim**: entries idle for `claim_idle_ms` in any consumer (a crashed worker) are taken over with
  XAUTOCLAIM; a restarted consumer with the same name resumes its own pending entries at once. A live
  consumer keeps the entries it works on (or will retry) from looking idle, however long a handler
  runs (a refinement behind a slow model, a long clip): XAUTOCLAIM takes the caller's own entries too;
- **cap**: `add` refuses with `QueueFull` at `max_len` outstanding entries (checked atomically in Lua)
  and logs a backpressure warning from 80 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from server.pipeline import progress
from server.pipeline.faults import describe, is_transient

_LOGGER = logging.getLogger("hsi.streams")

DETECT_STREAM = "hsi:detect"
DETECT_GROUP = "detectors"
ANALYZE_STREAM = "hsi:analyze"
ANALYZE_GROUP = "analyzers"
REFINE_STREAM = "hsi:refine"
REFINE_GROUP = "refiners"
CLIP_STREAM = "hsi:clips"
CLIP_GROUP = "clippers"

Handler = Callable[[str, dict[str, str]], Awaitable[None]]

#: XADD only below the cap, atomically (a check-then-add in Python could overshoot under load).
_CAPPED_XADD = """
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[1]) then return false end
return {redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2)), depth + 1}
"""

_BACKPRESSURE_RATIO = 0.8
_WARN_EVERY_SECONDS = 30.0
#: While entries are in flight, how often the consumer looks for more work (it never blocks then).
_BUSY_POLL_SECONDS = 0.05


#: When each stream last warned of backpressure in this process.
_last_warnings: dict[str, float] = {}


def note_depth(name: str, depth: int, cap: int) -> None:
    """Warn (at most every 30 s per stream and process) once a stream holds 80 % of its cap."""
    now = time.monotonic()
    if depth >= _BACKPRESSURE_RATIO * cap and now - _last_warnings.get(name, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
        _last_warnings[name] = now
        _LOGGER.warning(
            "backpressure: %s holds %d of %d entries; workers are not keeping up",
            name,
            depth,
            cap,
            extra={"component": "streams", "data": {"stream": name, "depth": depth}},
        )


class QueueFull(Exception):
    """The stream holds `max_len` outstanding entries; the producer must keep the item and retry later."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode_fields(fields: dict[bytes, bytes] | None) -> dict[str, str] | None:
    if fields is None:
        return None
    return {_text(key): _text(value) for key, value in fields.items()}


class RedisStream:
    """One stream + one consumer group; see the module docstring for the guarantees."""

    def __init__(
        self,
        redis: aioredis.Redis,
        name: str,
        group: str,
        *,
        max_len: int = 10_000,
        max_retries: int = 5,
        dead_letter_name: str | None = None,
        claim_idle_ms: int = 60_000,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        transient_cap_seconds: float = 5.0,
    ) -> None:
        self.redis = redis
        self.name = name
        self.group = group
        self.max_len = max_len
        self.max_retries = max_retries
        self.dead_letter_name = dead_letter_name or f"{name}:dead"
        self.claim_idle_ms = claim_idle_ms
        self.backoff_base = backoff_base_seconds
        self.backoff_cap = backoff_cap_seconds
        self.transient_cap = transient_cap_seconds
        #: Consecutive transient failures per entry in flight here (for the backoff only; never counted
        #: toward the dead letter).
        self._waiting: dict[str, int] = {}
        self._waiting_logged = -_WARN_EVERY_SECONDS
        self._failures_key = f"{name}:failures"
        self._capped_xadd = redis.register_script(_CAPPED_XADD)

    # -- producing ---------------------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the group reading from the start (entries added before any worker ran are not lost)."""
        try:
            await self.redis.xgroup_create(self.name, self.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def depth(self) -> int:
        """Outstanding entries: not yet delivered plus delivered but not acknowledged."""
        return int(await self.redis.xlen(self.name))

    async def add(self, fields: dict[str, str]) -> str:
        args: list[str | int] = [self.max_len]
        for key, value in fields.items():
            args += [key, str(value)]
        added = await self._capped_xadd(keys=[self.name], args=args)
        if added is None:
            raise QueueFull(f"{self.name} holds {self.max_len} entries (HSI_QUEUE_MAX_LEN)")
        entry_id, depth = added
        note_depth(self.name, int(depth), self.max_len)
        return _text(entry_id)

    # -- consuming ---------------------------------------------------------------------------------

    async def consume(
        self,
        consumer: str,
        handler: Handler,
        *,
        stop: asyncio.Event,
        count: int = 10,
        refill: int = 1,
        block_ms: int = 1000,
    ) -> None:
        """Hand entries to `handler` until `stop` is set, keeping up to `count` of them in flight.

        New entries are read as soon as `refill` have finished, not when all in flight have, so the
        stages of consecutive entries overlap (some decode while others are in the detector and others
        commit); the entries that finished meanwhile are acknowledged together, in one round trip, before
        the read. `refill` > 1 saves those round trips under load (a detect worker refills a detector
        batch at a time); with fewer than `refill` in flight, new entries are read at once.
        """
        await self.ensure_group()
        retry_at: dict[str, float] = {}
        running: set[asyncio.Task[None]] = set()
        done: list[str] = []
        freed = asyncio.Event()  # an entry finished: there is room, and maybe acks to send

        held: dict[asyncio.Task[None], str] = {}  # the entry each running handler works on

        def on_finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            held.pop(task, None)
            freed.set()

        next_claim = 0.0
        claim_every = min(max(self.claim_idle_ms / 2000, 1.0), 30.0)
        keep_every = self.claim_idle_ms / 3000
        next_keep = time.monotonic() + keep_every
        # A restarted consumer of the same name first finishes what it had been given ("0" = own
        # pending history, paged by id so entries that fail again are not re-read in a loop).
        history: str | None = "0"
        try:
            while not stop.is_set():
                room = count - len(running)
                # Entries waiting out a retry are held too: while a store is down, one consumer must not
                # take the whole backlog (kept from the others by `_keep`) and then work it off alone.
                new_room = room - len(retry_at)
                batch: list[tuple[str, dict[str, str]]] = []
                if room >= refill or len(running) < refill:
                    now = time.monotonic()
                    if history is not None:
                        page = await self._read(consumer, history, room, block_ms=None)
                        history = page[-1][0] if page else None
                        batch = await self._screen(page)
                        if page and not batch:
                            # All of it dead-lettered: the history's next page, before any new entry
                            # (a new one read now would come back in that page, to be handled twice).
                            continue
                    if not batch:
                        batch = await self._due_retries(consumer, retry_at, now, room)
                    if not batch and new_room > 0 and now >= next_claim:
                        next_claim = now + claim_every
                        batch = await self._reclaim(consumer, new_room)
                    if not batch:
                        wait_ms = block_ms if not running else None  # busy: never block the acks
                        if retry_at and wait_ms is not None:
                            wait_ms = max(1, min(wait_ms, int((min(retry_at.values()) - now) * 1000)))
                        if new_room > 0:
                            batch = await self._read(consumer, ">", new_room, block_ms=wait_ms)
                        elif wait_ms is not None:  # every slot waits out a retry: until the first is due
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), wait_ms / 1000)
                for entry_id, fields in batch:
                    task = asyncio.create_task(self._run(handler, entry_id, fields, retry_at, done))
                    running.add(task)
                    held[task] = entry_id
                    task.add_done_callback(on_finished)
                if time.monotonic() >= next_keep:
                    next_keep = time.monotonic() + keep_every
                    # Finished ones too: their ack waits for a batch's worth of room, and meanwhile they
                    # must not look idle to another worker (which would handle them again).
                    await self._keep(consumer, [*held.values(), *retry_at, *done])
                if running and (not batch or len(running) >= count):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_BUSY_POLL_SECONDS):
                            await freed.wait()
                    freed.clear()
                if done and (count - len(running) >= refill or len(running) < refill):  # reading next
                    finished, done[:] = list(done), []
                    await self._ack(*finished)
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            if done:
                await self._ack(*done)

    async def _read(
        self, consumer: str, start: str, count: int, *, block_ms: int | None
    ) -> list[tuple[str, dict[str, str]]]:
        response = await self.redis.xreadgroup(
            self.group, consumer, {self.name: start}, count=count, block=block_ms
        )
        entries: list[tuple[str, dict[str, str]]] = []
        for _stream, items in response or []:
            for entry_id, fields in items:
                decoded = _decode_fields(fields)
                if decoded is None:  # deleted while pending: nothing left to do but forget it
                    await self._ack(_text(entry_id))
                    continue
                entries.append((_text(entry_id), decoded))
        return entries

    async def _due_retries(
        self, consumer: str, retry_at: dict[str, float], now: float, limit: int
    ) -> list[tuple[str, dict[str, str]]]:
        due = [entry_id for entry_id, at in retry_at.items() if at <= now][:limit]
        entries: list[tuple[str, dict[str, str]]] = []
        for entry_id in due:
            del retry_at[entry_id]
            # JUSTID: reset the idle time (no other consumer reclaims it meanwhile), keep the count.
            claimed = await self.redis.xclaim(
                self.name, self.group, consumer, min_idle_time=0, message_ids=[entry_id], justid=True
            )
            if not claimed:
                continue
            found = await self.redis.xrange(self.name, min=entry_id, max=entry_id)
            if found:
                entries.append((entry_id, _decode_fields(found[0][1]) or {}))
        return entries

    async def _keep(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries this consumer is still working on, will retry or has finished
        but not acknowledged yet (JUSTID: the delivery count stays), so that no consumer takes them over
        as a dead one's."""
        if entry_ids:
            await self.redis.xclaim(
                self.name, self.group, consumer, min_idle_time=0, message_ids=entry_ids, justid=True
            )

    async def _reclaim(self, consumer: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """Take over entries idle in other (dead) consumers; dead-letter those that keep killing workers."""
        response = await self.redis.xautoclaim(
            self.name, self.group, consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=count
        )
        claimed = response[1] if response else []
        entries: list[tuple[str, dict[str, str]]] = []
        for entry_id, fields in claimed:
            decoded = _decode_fields(fields)
            if decoded is None:
                await self._ack(_text(entry_id))
                continue
            entries.append((_text(entry_id), decoded))
        for entry_id, _fields in entries:
            _LOGGER.info(
                "reclaimed %s from a silent consumer",
                entry_id,
                extra={"component": "streams", "data": {"stream": self.name, "entry_id": entry_id}},
            )
        return await self._screen(entries)

    async def _screen(self, entries: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
        """Dead-letter redelivered entries that never came back: they keep killing their workers."""
        kept: list[tuple[str, dict[str, str]]] = []
        for entry_id, fields in entries:
            deliveries = await self._deliveries(entry_id)
            if deliveries > self.max_retries:
                await self._dead_letter(
                    entry_id, fields, f"delivered {deliveries} times without an acknowledgement", deliveries
                )
            else:
                kept.append((entry_id, fields))
        return kept

    async def _deliveries(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(self.name, self.group, min=entry_id, max=entry_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _run(
        self,
        handler: Handler,
        entry_id: str,
        fields: dict[str, str],
        retry_at: dict[str, float],
        done: list[str],
    ) -> None:
        try:
            await handler(entry_id, fields)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if is_transient(err):
                await self._wait_out(entry_id, err, retry_at)
                return
            self._waiting.pop(entry_id, None)
            failures = int(await self.redis.hincrby(self._failures_key, entry_id, 1))
            reason = describe(err)
            if failures >= self.max_retries:
                await self._dead_letter(entry_id, fields, reason, failures)
                return
            delay = min(self.backoff_base * 2 ** (failures - 1), self.backoff_cap)
            retry_at[entry_id] = time.monotonic() + delay
            _LOGGER.warning(
                "%s entry %s failed (%d of %d), retrying in %.1f s: %s",
                self.name,
                entry_id,
                failures,
                self.max_retries,
                delay,
                reason,
                extra={"component": "streams", **_subject(fields), "data": {"entry_id": entry_id, **fields}},
            )
        else:
            self._waiting.pop(entry_id, None)
            done.append(entry_id)

    async def _wait_out(self, entry_id: str, err: BaseException, retry_at: dict[str, float]) -> None:
        """A store or the disk failed, not the entry: retry it with capped backoff, however long it takes.

        One warning per stream and process every 30 s says what the work waits for (not one per entry
        and attempt: an outage with thousands queued must not flood the log), and the stream's waiting
        note (for the health report) is renewed, when Redis takes it."""
        attempt = self._waiting.get(entry_id, 0) + 1
        self._waiting[entry_id] = attempt
        delay = min(self.backoff_base * 2 ** (attempt - 1), self.transient_cap)
        retry_at[entry_id] = time.monotonic() + delay
        reason = describe(err)
        now = time.monotonic()
        if now - self._waiting_logged >= _WARN_EVERY_SECONDS:
            self._waiting_logged = now
            _LOGGER.warning(
                "%s: %d entries wait for a store or the disk (retrying every %.0f s at most, never "
                "dead-lettered): %s",
                self.name,
                len(self._waiting),
                self.transient_cap,
                reason,
                extra={"component": "streams", "data": {"stream": self.name, "reason": reason}},
            )
        with contextlib.suppress(Exception):  # Redis may be what is down
            await progress.note_waiting(self.redis, self.name, reason, len(self._waiting))

    async def _ack(self, *entry_ids: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.name, self.group, *entry_ids)
            pipe.xdel(self.name, *entry_ids)
            pipe.hdel(self._failures_key, *entry_ids)
            progress.queue_finished(pipe, self.name)
            await pipe.execute()

    async def _dead_letter(self, entry_id: str, fields: dict[str, str], reason: str, attempts: int) -> None:
        self._waiting.pop(entry_id, None)
        await self.redis.xadd(
            self.dead_letter_name,
            {**fields, "error": reason, "entry_id": entry_id, "stream": self.name, "attempts": str(attempts)},
        )
        await self._ack(entry_id)
        _LOGGER.error(
            "%s entry %s moved to %s after %d attempts: %s",
            self.name,
            entry_id,
            self.dead_letter_name,
            attempts,
            reason,
            extra={
                "component": "streams",
                **_subject(fields),
                "data": {"entry_id": entry_id, "reason": reason, **fields},
            },
        )


def _subject(fields: dict[str, str]) -> dict[str, str]:
    """The camera and event an entry is about, for its log rows' columns: an operator filtering the
    logs by camera must find the retries and the dead letter of that camera's upload."""
    subject = {"camera_id": fields["camera_id"]} if fields.get("camera_id") else {}
    if fields.get("event_id", "").isdigit():
        subject["event_id"] = fields["event_id"]
    return subject


def detect_stream(redis: aioredis.Redis, *, max_len: int, max_retries: int) -> RedisStream:
    """`hsi:detect` as producers (intake) and consumers (detect workers) both see it."""
    return RedisStream(
        redis,
        DETECT_STREAM,
        DETECT_GROUP,
        max_len=max_len,
        max_retries=max_retries,
        dead_letter_name=f"{DETECT_STREAM}:dead",
    )
