"""BatchAggregator: groups each camera's detections into batches, in Redis, and queues closed batches.

Why Redis and Lua: detect workers on several hosts feed the same camera's batch, and the analyze role's
closer may run in more than one process. Every state change (open or append, close) is one Lua script,
so it is atomic in Redis: a batch is opened once, and closing it — deleting its hash and adding its
`hsi:analyze` entry — happens in the same script, so two closers racing on one batch produce exactly
one entry, and a crash can never leave a batch closed but not queued (or queued twice).

State, per camera:

* `hsi:batch:camera:<camera>` — hash: `batch_id`, `camera_id`, `started`, `last_seen` (Redis clock, seconds),
  `count`, `ids` ("12,13,…"), `first_at`, `last_at` (the detections' own times, epoch seconds). (Each
  detection's image size, which zones need, is on its row.)
* `hsi:batch:camera:<camera>:late` — the same, for a backlog: a file whose detections are all more than a
  window old (handled late: a restart's catch-up, a detect backlog, an FTP client back online) joins
  the camera's late batch, never its live one, so live uploads interleaved with a backlog split
  neither. (A camera whose clock runs more than a window behind has all its files there: the same
  rules close it.)
* `hsi:batch:deadlines` — sorted set slot (the camera, or `<camera>:late`) → the moment its batch is
  due: `min(started + window, last_seen + idle)`. The closer task scans it.
* `hsi:batch:fast:<camera>` — fast-path gate (SET NX PX window).
* `hsi:batch:seen:<smallest detection id>:<file>` — a file's rows were batched (the detect worker may
  hand the same rows on again after a crash; they must not make a second event). The file (a digest of
  its path and first detection time) is part of it: ids start again at 1 after a database reset, and
  a kept Redis must not take new files for ones it saw.
* `hsi:batch:held:<stream>` — list of closed batches the full analyze queue could not take yet (each
  its entry's fields, JSON), oldest first.

Cameras have a namespace of their own (`camera:`): camera ids are `[a-z0-9_]`, so a folder named
"Deadlines" or "Fast" is a camera, whose keys must never be the batcher's own. (Before 2026-12 they
were `hsi:batch:<camera>`: the scripts take such an open batch over, `_LEGACY_TAKEOVER`.)

Times come from the Redis server's clock (`TIME` inside the scripts), so hosts with skewed clocks agree
on when a batch is due.

Closing rules: after `batch_window_seconds` since the batch opened, after `batch_idle_timeout_seconds`
without a new detection, or at `batch_max_detections`. A detection arriving for a batch that is already
due closes that batch first and opens a new one, so a slow closer never stretches a window. So does one
that would make the batch's detections span more than a window (`apart`): a camera catching up on an
old upload after newer ones (its FTP client back online), whose picture would otherwise stretch the
current event back by hours ("lingering 7205 s" for one person), or a backlog of uploads minutes
apart handled within a second (after a restart, an outage), which live were several events.

Fast path (decision): a detection with confidence ≥ `fast_path_confidence` of a type in
`fast_path_object_types` closes the camera's open batch *at once*, including that detection and
whatever the batch already held (context such as "a car arrived, then a person"), with
`is_fast_path = 1`. So every detection belongs to exactly one event (no duplicate events for one
sighting, baselines and event counts stay honest). To keep one person standing at the door for a minute
from raising an event per frame, the fast path fires at most once per camera per batch window (the
gate key); later qualifying detections in that window join a normal batch, which closes by the usual
rules and summarises the continuing presence.

Backpressure: like `RedisStream.add`, a close adds nothing at `queue_max_len` entries: the batch is
closed all the same, as it would have been (its reason, its fast path), and held in Redis (nothing is
dropped) until the analyze queue has room; the closer queues held batches first, oldest first, and no
batch is queued past one held before it. New detections open a new batch meanwhile: an outage of the
analyze role does not make everything a camera sees for hours one event.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as aioredis
from PIL import Image
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.config import Settings
from server.pipeline.streams import ANALYZE_STREAM

_LOGGER = logging.getLogger("hsi.batcher")

BATCH_KEY_PREFIX = "hsi:batch:camera:"
#: Where a camera's batch was kept before 2026-12, beside the batcher's own keys (module docstring).
LEGACY_BATCH_KEY_PREFIX = "hsi:batch:"
#: The deadlines member (and key suffix) of a camera's late batch (module docstring).
LATE_SUFFIX = ":late"
DEADLINES_KEY = "hsi:batch:deadlines"
FAST_GATE_PREFIX = "hsi:batch:fast:"
SEEN_PREFIX = "hsi:batch:seen:"
HELD_PREFIX = "hsi:batch:held:"
#: How long a handed-on file's detections are remembered (the detect worker's redelivery comes sooner).
SEEN_TTL_SECONDS = 24 * 3600

#: How often the closer looks for due batches at most; it sleeps less when a deadline is nearer.
MAX_CLOSER_SLEEP_SECONDS = 1.0
MIN_CLOSER_SLEEP_SECONDS = 0.05
OVERDUE_RETRY_SECONDS = 0.2

# Shared Lua: the clock, the deadline, and the atomic close (XADD + DEL + ZREM).
_LUA_COMMON = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function deadline(key, window, idle)
  local v = redis.call('HMGET', key, 'started', 'last_seen')
  return math.min(tonumber(v[1]) + window, tonumber(v[2]) + idle)
end

-- Closes the batch: returns its new stream entry id, or false when it is held instead (the stream at
-- its cap, or batches held before it: they go first). Either way the batch takes no more detections.
local function close(key, slot, zset, stream, held, maxlen, reason, fast, t)
  local v = redis.call('HMGET', key, 'batch_id', 'camera_id', 'started', 'last_seen', 'ids', 'count')
  local fields = {
    'batch_id', v[1], 'camera_id', v[2], 'detection_ids', '[' .. v[5] .. ']',
    'detection_count', v[6], 'is_fast_path', fast,
    'opened_at', v[3], 'last_seen_at', v[4], 'closed_at', string.format('%.6f', t),
    'close_reason', reason}
  redis.call('DEL', key)
  redis.call('ZREM', zset, slot)
  if (maxlen > 0 and redis.call('XLEN', stream) >= maxlen) or redis.call('LLEN', held) > 0 then
    redis.call('RPUSH', held, cjson.encode(fields))
    return false
  end
  return redis.call('XADD', stream, '*', unpack(fields))
end

-- _LEGACY_TAKEOVER: an open batch of `camera` kept where releases before 2026-12 kept it becomes this
-- one (its camera named in it: a legacy key may be another camera's key of today).
local function take_over(legacy, key, camera)
  if redis.call('EXISTS', key) == 0 and redis.call('TYPE', legacy).ok == 'hash'
      and redis.call('HGET', legacy, 'camera_id') == camera then
    redis.call('RENAME', legacy, key)
  end
end
"""

# KEYS: the camera's live batch hash, its late batch hash, deadlines zset, analyze stream, fast gate,
#       seen marker of this file's detections, held batches, the live and late hashes' legacy keys.
# ARGV: camera_id, new batch id, window, idle, max detections, stream cap, ids csv,
#       number of detections, fast (0|1), seen marker TTL (s), the detections' first and last time.
# Returns {batch id the detections joined, entry id of a batch closed before (or ''),
#          entry id of this batch if it closed (or ''), close reason (or ''),
#          'full' if the cap blocked a close}.
_APPEND_LUA = (
    _LUA_COMMON
    + """
local zset, stream, gate, seen, held = KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local camera, new_id = ARGV[1], ARGV[2]
local window, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_count, maxlen = tonumber(ARGV[5]), tonumber(ARGV[6])
local ids, n, fast = ARGV[7], tonumber(ARGV[8]), ARGV[9]
local first_at, last_at = tonumber(ARGV[11]), tonumber(ARGV[12])
if redis.call('EXISTS', seen) == 1 then
  return {'', '', '', 'duplicate', ''}
end
-- Marked once the rows are in a batch (the last write: a script that fails on the way is not undone,
-- and its rows must not pass for batched when the detect worker hands them on again).
local function batched(result)
  redis.call('SET', seen, '1', 'EX', tonumber(ARGV[10]))
  return result
end
take_over(KEYS[8], KEYS[1], camera)
take_over(KEYS[9], KEYS[2], camera)
local t = now()
local previous, blocked = '', ''
-- How far, in the detections' own times, this file is from an open batch's (0: within its span).
local function gap(batch)
  local span = redis.call('HMGET', batch, 'first_at', 'last_at')
  if not span[1] then return nil end
  return math.max(0, first_at - tonumber(span[2]), tonumber(span[1]) - last_at)
end
-- A file that continues an open batch (within the idle time of its detections) joins it: one visit
-- handed on about a window late is not split between the late and the live batch. Otherwise a file
-- whose detections are all older than a window (a backlog) goes to the camera's late batch: live
-- uploads in between do not split it, nor it them.
local key, slot = KEYS[1], camera
local live_gap, late_gap = gap(KEYS[1]), gap(KEYS[2])
if live_gap and live_gap <= idle then
  key, slot = KEYS[1], camera
elseif late_gap and late_gap <= idle then
  key, slot = KEYS[2], camera .. ':late'
elseif last_at < t - window then
  key, slot = KEYS[2], camera .. ':late'
end

if redis.call('EXISTS', key) == 1 then
  local span = redis.call('HMGET', key, 'first_at', 'last_at')
  local reason = ''
  if t >= deadline(key, window, idle) then
    reason = 'window'
  elseif span[1]
      and math.max(last_at, tonumber(span[2])) - math.min(first_at, tonumber(span[1])) > window then
    reason = 'apart'
  end
  if reason ~= '' then
    local entry = close(key, slot, zset, stream, held, maxlen, reason, '0', t)
    if entry then previous = entry else blocked = 'full' end
  end
end

if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'batch_id', new_id, 'camera_id', camera, 'started', string.format('%.6f', t),
    'last_seen', string.format('%.6f', t), 'count', 0, 'ids', '',
    'first_at', string.format('%.6f', first_at), 'last_at', string.format('%.6f', last_at))
end
local span = redis.call('HMGET', key, 'first_at', 'last_at')
redis.call('HSET', key,
  'first_at', string.format('%.6f', math.min(first_at, tonumber(span[1]) or first_at)),
  'last_at', string.format('%.6f', math.max(last_at, tonumber(span[2]) or last_at)))

local old_ids = redis.call('HGET', key, 'ids')
if old_ids ~= '' then ids = old_ids .. ',' .. ids end
local count = redis.call('HINCRBY', key, 'count', n)
redis.call('HSET', key, 'ids', ids, 'last_seen', string.format('%.6f', t))
local batch_id = redis.call('HGET', key, 'batch_id')

local reason = ''
-- Only the live batch takes the fast path: an hours-old picture of a person is not urgent, and must not
-- take the gate from a person at the door now.
if fast == '1' and slot == camera and redis.call('SET', gate, batch_id, 'NX', 'PX', math.floor(window * 1000)) then
  reason = 'fast_path'
elseif count >= max_count then
  reason = 'max_detections'
end
if reason ~= '' then
  local entry = close(key, slot, zset, stream, held, maxlen, reason, reason == 'fast_path' and '1' or '0', t)
  if entry then
    return batched({batch_id, previous, entry, reason, blocked})
  end
  return batched({batch_id, previous, '', reason, 'full'})
end
redis.call('ZADD', zset, deadline(key, window, idle), slot)
return batched({batch_id, previous, '', '', blocked})
"""
)

# KEYS: batch hash, deadlines zset, analyze stream, held batches, the hash's legacy key. ARGV: slot (the
# batch's member of the deadlines zset), window, idle, stream cap, camera.
# Returns the entry id if this call closed the batch, '' if it was not due or already closed, 'full'
# when it closed it but holds it.
_CLOSE_IF_DUE_LUA = (
    _LUA_COMMON
    + """
local key, zset, stream, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local slot = ARGV[1]
local window, idle, maxlen = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
take_over(KEYS[5], key, ARGV[5])
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', zset, slot)
  return ''
end
local t = now()
local due = deadline(key, window, idle)
if t < due then
  redis.call('ZADD', zset, due, slot)
  return ''
end
local v = redis.call('HMGET', key, 'started')
local reason = 'idle'
if t >= tonumber(v[1]) + window then reason = 'window' end
local entry = close(key, slot, zset, stream, held, maxlen, reason, '0', t)
if entry then return entry end
return 'full'
"""
)

# KEYS: held batches, analyze stream. ARGV: stream cap, most batches to queue.
# Queues held batches, oldest first, while the stream has room; returns {still held, entry ids...}.
_QUEUE_HELD_LUA = """
local held, stream = KEYS[1], KEYS[2]
local maxlen, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local queued = {0}
while #queued <= limit and not (maxlen > 0 and redis.call('XLEN', stream) >= maxlen) do
  local fields = redis.call('LPOP', held)
  if not fields then break end
  queued[#queued + 1] = redis.call('XADD', stream, '*', unpack(cjson.decode(fields)))
end
queued[1] = redis.call('LLEN', held)
return queued
"""


class BatchDetection(Protocol):
    """What the batcher reads from a committed `detections` row."""

    @property
    def id(self) -> int: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def file_path(self) -> str: ...
    @property
    def object_type(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def media_type(self) -> str | None: ...
    @property
    def video_width(self) -> int | None: ...
    @property
    def video_height(self) -> int | None: ...
    @property
    def image_width(self) -> int | None: ...
    @property
    def image_height(self) -> int | None: ...
    @property
    def stationary(self) -> bool: ...
    @property
    def detected_at(self) -> datetime: ...


@dataclass(frozen=True)
class AddResult:
    """What one `add_detections` call did (mostly for logs and tests)."""

    batch_id: str | None
    #: Stream entry ids added by this call (a due batch closed first, and/or this batch closed).
    enqueued: list[str] = field(default_factory=list)
    close_reason: str | None = None
    #: The analyze queue was at its cap: a closed batch was held (queued once it has room; nothing is lost).
    backpressure: bool = False


def batch_key(camera_id: str) -> str:
    return BATCH_KEY_PREFIX + camera_id


def _seen_key(detections: Sequence[BatchDetection]) -> str:
    """The marker of one file's rows: the smallest id (ids are unique) and the file itself (its path
    and first detection time), so ids handed out again after a database reset name other rows."""
    first = min(detections, key=lambda det: int(det.id))
    digest = hashlib.blake2b(f"{first.file_path}\0{first.detected_at.isoformat()}".encode(), digest_size=8)
    return f"{SEEN_PREFIX}{int(first.id)}:{digest.hexdigest()}"


def image_size_of(detection: BatchDetection) -> tuple[int, int] | None:
    """The upright size the box was measured on: stored with the row (since migration 0003), the
    video's frame size, or, for older image rows, the file's header (a file open, not a decode).
    None when none of them is known; zones are then not evaluated for that detection."""
    if detection.image_width and detection.image_height:
        return detection.image_width, detection.image_height
    if detection.media_type == "video" and detection.video_width and detection.video_height:
        return detection.video_width, detection.video_height
    try:
        with Image.open(Path(detection.file_path)) as image:
            return image.size
    except (OSError, ValueError) as err:
        _LOGGER.warning("cannot read image size of %s: %s", detection.file_path, err)
        return None


class BatchAggregator:
    """One open batch per camera, shared by every process through Redis; see the module docstring."""

    def __init__(
        self, redis: aioredis.Redis, settings: Settings, *, stream_name: str = ANALYZE_STREAM
    ) -> None:
        self._redis = redis
        self._settings = settings
        self._stream = stream_name
        self._append = redis.register_script(_APPEND_LUA)
        self._close_if_due = redis.register_script(_CLOSE_IF_DUE_LUA)
        self._queue_held = redis.register_script(_QUEUE_HELD_LUA)
        self._held = HELD_PREFIX + stream_name
        self._fast_types = {name.lower() for name in settings.fast_path_object_types}

    @property
    def stream_name(self) -> str:
        return self._stream

    def is_fast_path(self, detection: BatchDetection) -> bool:
        """High confidence and a type the user wants to hear about at once."""
        return (
            detection.object_type is not None
            and detection.object_type.lower() in self._fast_types
            and (detection.confidence or 0.0) >= self._settings.fast_path_confidence
        )

    async def add_detections(self, camera_id: str, detections: Sequence[BatchDetection]) -> AddResult:
        """The detection sink: append one file's committed detections to the camera's open batch.

        Rows without an object (a file in which nothing was found) have nothing to analyse, and rows of a
        stationary object (`server.pipeline.stationary`: a parked car) must not open or extend an event;
        both are skipped. At-least-once safe: the detect worker hands a file's rows on again after a crash, and rows
        already batched (remembered for a day) are ignored, so they never make a second event.
        """
        objects = [
            det for det in detections if det.object_type is not None and det.id is not None and not det.stationary
        ]
        if not objects:
            return AddResult(batch_id=None)
        fast = any(self.is_fast_path(det) for det in objects)
        s = self._settings
        raw = await self._append(
            keys=[
                batch_key(camera_id),
                batch_key(camera_id + LATE_SUFFIX),
                DEADLINES_KEY,
                self._stream,
                FAST_GATE_PREFIX + camera_id,
                _seen_key(objects),
                self._held,
                LEGACY_BATCH_KEY_PREFIX + camera_id,
                LEGACY_BATCH_KEY_PREFIX + camera_id + LATE_SUFFIX,
            ],
            args=[
                camera_id,
                uuid.uuid4().hex,
                s.batch_window_seconds,
                s.batch_idle_timeout_seconds,
                s.batch_max_detections,
                s.queue_max_len,
                ",".join(str(int(det.id)) for det in objects),
                len(objects),
                "1" if fast else "0",
                SEEN_TTL_SECONDS,
                min(det.detected_at for det in objects).timestamp(),
                max(det.detected_at for det in objects).timestamp(),
            ],
        )
        batch_id, previous, entry, reason, blocked = (_text(item) for item in raw)
        if reason == "duplicate":
            _LOGGER.debug("detections %s of %s were batched already", [d.id for d in objects], camera_id)
            return AddResult(batch_id=None)
        result = AddResult(
            batch_id=batch_id,
            enqueued=[item for item in (previous, entry) if item],
            close_reason=reason or None,
            backpressure=blocked == "full",
        )
        if result.backpressure:
            _LOGGER.warning(
                "analysis queue %s is full; a closed batch of %s is held until it drains",
                self._stream,
                camera_id,
            )
        if reason:
            _LOGGER.info("batch %s of %s closed (%s)", batch_id, camera_id, reason)
        return result

    async def close_due(self) -> list[str]:
        """Queue held batches the analyze queue has room for, then close every batch whose deadline has
        passed; returns the stream entry ids this call added."""
        added = await self.queue_held()
        seconds, micros = await self._redis.time()
        now = seconds + micros / 1_000_000
        slots = await self._redis.zrangebyscore(DEADLINES_KEY, "-inf", now, start=0, num=100)
        for slot in slots:
            added_id = await self.close_camera_if_due(_text(slot))
            if added_id:
                added.append(added_id)
        return added

    async def queue_held(self, limit: int = 100) -> list[str]:
        """Queue up to `limit` held batches, oldest first, while the analyze queue has room; returns
        their stream entry ids."""
        left, *queued = await self._queue_held(
            keys=[self._held, self._stream], args=[self._settings.queue_max_len, limit]
        )
        if queued:
            _LOGGER.info("%d held batches queued, %d still held", len(queued), left)
        return [_text(entry) for entry in queued]

    async def close_camera_if_due(self, slot: str) -> str | None:
        """Atomically close one batch if due, by its slot (a camera id: its live batch; with
        `LATE_SUFFIX`: its late one); None when not due, already closed or held (the queue full)."""
        s = self._settings
        result = _text(
            await self._close_if_due(
                keys=[
                    batch_key(slot),
                    DEADLINES_KEY,
                    self._stream,
                    self._held,
                    LEGACY_BATCH_KEY_PREFIX + slot,
                ],
                args=[
                    slot,
                    s.batch_window_seconds,
                    s.batch_idle_timeout_seconds,
                    s.queue_max_len,
                    slot.removesuffix(LATE_SUFFIX),
                ],
            )
        )
        if result == "full":
            _LOGGER.warning("analysis queue %s is full; the batch of %s is held", self._stream, slot)
            return None
        if result:
            _LOGGER.info("batch of %s closed by the closer (entry %s)", slot, result)
            return result
        return None

    async def seconds_to_next_deadline(self) -> float | None:
        """Seconds until the earliest open batch is due (≤ 0 when overdue); None when none is open."""
        first = await self._redis.zrange(DEADLINES_KEY, 0, 0, withscores=True)
        if not first:
            return None
        seconds, micros = await self._redis.time()
        return float(first[0][1]) - (seconds + micros / 1_000_000)

    async def run_closer(self, stop: asyncio.Event) -> None:
        """Close due batches until `stop` is set; sleeps until the next deadline (at most 1 s).

        Several closers (one per analyze process) may run: the close script makes that safe.
        """
        while not stop.is_set():
            try:
                await self.close_due()
                wait = await self.seconds_to_next_deadline()
                if await self._redis.llen(self._held):  # the full queue would not take them: soon again
                    wait = min(wait, 0.0) if wait is not None else 0.0
            except (RedisConnectionError, RedisTimeoutError) as err:
                _LOGGER.warning("batch closer: Redis unavailable (%s); retrying", err)
                wait = MAX_CLOSER_SLEEP_SECONDS
            if wait is None:
                sleep = MAX_CLOSER_SLEEP_SECONDS
            elif wait <= 0:
                # Just became due, or held batches the full queue would not take: look again soon.
                sleep = OVERDUE_RETRY_SECONDS
            else:
                sleep = min(max(wait, MIN_CLOSER_SLEEP_SECONDS), MAX_CLOSER_SLEEP_SECONDS)
            try:
                await asyncio.wait_for(stop.wait(), timeout=sleep)
            except TimeoutError:
                pass


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
