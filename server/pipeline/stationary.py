"""Stationary objects: each detection matched to its camera's recent ones, so a parked car is one event.

A camera that uploads every few seconds sees the same parked car in every picture; without memory each
upload would join the camera's open batch and the car would make an event per batch window, all day.
Here every detection is matched to the camera's tracks (same class; box overlap, or a centre close to the
track's, across consecutive uploads) and gets the track's id. A track remembers where it settled (its
anchor box) and since when; an object whose box has stayed on its anchor for `HSI_STATIONARY_SECONDS`
of upload time is *stationary*: its row is stored and marked (`detections.stationary`), and the batcher
leaves it out, so it neither opens nor extends an event, and raises no alert. When it moves (its box
leaves the anchor) it is an ordinary detection again, and the move is an event: a car that drives off.
Only a picture newer than the track's last one moves its anchor: an older one handled late (a slower
worker, an entry delivered again after a crash) is the past, and must not wake a car parked since.

Classes in `HSI_STATIONARY_EXEMPT_TYPES` (people, by default) are tracked, for the analyzer's dwell time
(`server.analyze.dwell`), but never marked: a person standing still at the door is loitering, which the
zones judge, not something to silence.

Why Redis and Lua: detect workers on several hosts handle one camera's uploads, and a restart must not
forget that the car in the driveway has been there since noon. Each camera's tracks are one small JSON
value (`hsi:tracks:<camera>`, at most `MAX_TRACKS`, forgotten after `HSI_STATIONARY_FORGET_SECONDS`
unseen); one script call per upload reads, matches and writes them atomically, so two workers never
interleave on a camera. The cost is bounded per camera (tracks × detections of one upload; see
bench/stationary.py for figures) and is one Redis round trip per upload.

Times are the uploads' own (`detected_at`, from the file's modification time), not the server's clock:
"stayed put for a minute" is about what the camera saw, whatever the queue's delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from server.config import Settings

TRACKS_PREFIX = "hsi:tracks:"
SEQUENCE_KEY = "hsi:tracks:sequence"
#: Tracks kept per camera (the most recently seen): a busy street view has a few dozen objects at most.
MAX_TRACKS = 64
#: Overlap (IoU) with a track's last box for a detection to be the same object.
MATCH_IOU = 0.3
#: ... or a centre within this share of the track's larger side (a small object that moved a little).
MATCH_CENTRE = 0.5
#: Overlap with where the object settled above which it has not moved (detector jitter stays above it).
STILL_IOU = 0.7
#: ... nor has one whose box grew or shrank around the same centre (at dusk a detector's box of a
#: parked car flickers between two sizes, overlapping 0.69): a centre within this share of the
#: anchor's larger side, an area within this factor of the anchor's.
STILL_CENTRE = 0.1
STILL_AREA = 1.5

# KEYS: the camera's tracks, the id sequence.
# ARGV: stationary seconds (0: never), forget seconds, match IoU, match centre share, still IoU,
#       max tracks, still centre share, still area factor, then one value per detection: "class|time (epoch s)|x|y|w|h|exempt (0|1)" (one
#       argument each: redis-py's cost grows with the number of arguments, not their length).
# Returns 3 values per detection, in order: track id, stationary (0|1), track's first time (string).
_TRACK_LUA = """
local key, seq = KEYS[1], KEYS[2]
local stationary_s, forget_s = tonumber(ARGV[1]), tonumber(ARGV[2])
local match_iou, match_centre, still_iou = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max_tracks = tonumber(ARGV[6])
local still_centre, still_area = tonumber(ARGV[7]), tonumber(ARGV[8])

local function iou(ax, ay, aw, ah, bx, by, bw, bh)
  local ix = math.min(ax + aw, bx + bw) - math.max(ax, bx)
  local iy = math.min(ay + ah, by + bh) - math.max(ay, by)
  if ix <= 0 or iy <= 0 then return 0 end
  local inter = ix * iy
  return inter / (aw * ah + bw * bh - inter)
end

local raw = redis.call('GET', key)
local tracks = {}
if raw then tracks = cjson.decode(raw) end

local dets = {}
local newest = 0
for i = 9, #ARGV do
  local c, t, x, y, w, h, e = string.match(ARGV[i], '^(.*)|([^|]+)|([^|]+)|([^|]+)|([^|]+)|([^|]+)|([01])$')
  local d = {c = c, t = tonumber(t), x = tonumber(x), y = tonumber(y), w = tonumber(w), h = tonumber(h),
             exempt = e == '1'}
  dets[#dets + 1] = d
  if d.t > newest then newest = d.t end
end

local kept = {}
for _, tr in ipairs(tracks) do
  if newest - tr.l <= forget_s then kept[#kept + 1] = tr end
end
tracks = kept

local out = {}
local used = {}
local used_at = nil
for _, d in ipairs(dets) do
  if used_at ~= d.t then used = {}; used_at = d.t end
  local best, best_score = nil, -1
  for index, tr in ipairs(tracks) do
    if tr.c == d.c and not used[index] then
      local overlap = iou(d.x, d.y, d.w, d.h, tr.x, tr.y, tr.w, tr.h)
      local dx = (d.x + d.w / 2) - (tr.x + tr.w / 2)
      local dy = (d.y + d.h / 2) - (tr.y + tr.h / 2)
      local near = math.sqrt(dx * dx + dy * dy) / math.max(tr.w, tr.h, 1)
      if (overlap >= match_iou or near <= match_centre) and overlap - near > best_score then
        best, best_score = index, overlap - near
      end
    end
  end
  local tr
  if best then
    tr = tracks[best]
    used[best] = true
    local on_anchor = iou(d.x, d.y, d.w, d.h, tr.ax, tr.ay, tr.aw, tr.ah) >= still_iou
    if not on_anchor then  -- the same place at another size (a box that flickers)
      local sx = (d.x + d.w / 2) - (tr.ax + tr.aw / 2)
      local sy = (d.y + d.h / 2) - (tr.ay + tr.ah / 2)
      local area = (d.w * d.h) / math.max(tr.aw * tr.ah, 1)
      on_anchor = math.sqrt(sx * sx + sy * sy) <= still_centre * math.max(tr.aw, tr.ah, 1)
        and area <= still_area and area >= 1 / still_area
    end
    if not on_anchor and d.t >= tr.l then
      tr.ax, tr.ay, tr.aw, tr.ah, tr.s = d.x, d.y, d.w, d.h, d.t
    elseif on_anchor and d.t < tr.s then
      tr.s = d.t
    end
    if d.t >= tr.l then tr.x, tr.y, tr.w, tr.h, tr.l = d.x, d.y, d.w, d.h, d.t end
    if d.t < tr.f then tr.f = d.t end
  else
    tr = {id = redis.call('INCR', seq), c = d.c, x = d.x, y = d.y, w = d.w, h = d.h,
          ax = d.x, ay = d.y, aw = d.w, ah = d.h, s = d.t, f = d.t, l = d.t}
    tracks[#tracks + 1] = tr
    used[#tracks] = true
  end
  local still = (not d.exempt) and stationary_s > 0 and d.t - tr.s >= stationary_s
  out[#out + 1] = tr.id
  out[#out + 1] = still and 1 or 0
  out[#out + 1] = string.format('%.6f', tr.f)
end

if #tracks > max_tracks then
  table.sort(tracks, function(a, b) return a.l > b.l end)
  for i = #tracks, max_tracks + 1, -1 do table.remove(tracks, i) end
end
redis.call('SET', key, cjson.encode(tracks), 'EX', math.ceil(forget_s) + 60)
return out
"""


class TrackedBox(Protocol):
    """What the tracker reads from a detection row, and the two fields it sets."""

    object_type: str | None
    detected_at: datetime
    bbox_x: int | None
    bbox_y: int | None
    bbox_width: int | None
    bbox_height: int | None
    track_id: int | None
    stationary: bool


def tracks_key(camera_id: str) -> str:
    return TRACKS_PREFIX + camera_id


class StationaryTracker:
    """Marks each detection of an upload with its track and whether it is stationary (see module doc)."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._script = redis.register_script(_TRACK_LUA)
        self._settings = settings
        self._exempt = {name.lower() for name in settings.stationary_exempt_types}

    def arguments(self, rows: Sequence[TrackedBox]) -> list[Any]:
        """The script's ARGV for `rows` (oldest first; within one moment, as the detector listed them)."""
        s = self._settings
        args: list[Any] = [
            s.stationary_seconds, s.stationary_forget_seconds, MATCH_IOU, MATCH_CENTRE, STILL_IOU, MAX_TRACKS,
            STILL_CENTRE, STILL_AREA,
        ]  # fmt: skip
        for row in rows:
            kind = (row.object_type or "").lower()
            args.append(
                f"{kind}|{row.detected_at.timestamp():.6f}|{row.bbox_x or 0}|{row.bbox_y or 0}"
                f"|{max(1, row.bbox_width or 1)}|{max(1, row.bbox_height or 1)}|{int(kind in self._exempt)}"
            )
        return args

    async def mark(self, camera_id: str, rows: Sequence[TrackedBox]) -> list[datetime]:
        """Set `track_id` and `stationary` on the rows with an object; returns each one's track start.

        One script call (one Redis round trip) for the whole upload; rows without an object are left
        as they are.
        """
        objects = sorted(
            (row for row in rows if row.object_type is not None and row.bbox_x is not None),
            key=lambda row: row.detected_at,
        )
        if not objects:
            return []
        raw = await self._script(keys=[tracks_key(camera_id), SEQUENCE_KEY], args=self.arguments(objects))
        firsts: list[datetime] = []
        for index, row in enumerate(objects):
            track_id, still, first = raw[3 * index : 3 * index + 3]
            row.track_id = int(track_id)
            row.stationary = int(still) == 1
            firsts.append(datetime.fromtimestamp(float(first), UTC))
        return firsts
