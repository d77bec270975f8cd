"""Deduplication keys and the cooldown that stops one situation from raising a stream of alerts.

The cooldown lives in Redis, not in the `alerts` table, because several analyze workers may evaluate
events of the same camera at the same moment: a "SELECT last alert, then INSERT" check races, while a
script is a single atomic step: exactly one caller wins the key.

A key holds who claimed it and when the claiming event happened. A later event wins it when it happened
at least the rule's cooldown (as set now) after or before that: events an hour apart are two situations
even when a backlog has them analysed in the same second, and a cooldown lowered from a day to a minute
takes effect for the next event. Keys expire by themselves after the longest cooldown.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from string import Formatter

from redis.asyncio import Redis

from server.alerts.errors import invalid

PLACEHOLDERS: frozenset[str] = frozenset({"camera_id", "rule_id", "object_type", "zone_id"})
DEFAULT_TEMPLATE = "{camera_id}:{rule_id}"
MAX_KEY_LENGTH = 255  # alerts.dedup_key is STRING(255)
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600
MISSING = "-"
"""Rendered for a placeholder with no value (e.g. {zone_id} for a detection in no zone)."""


def template_placeholders(template: str) -> set[str]:
    """Placeholders used by a dedup template; raise with a clear message for anything unsupported.

    Only bare `{name}` fields from `PLACEHOLDERS` are allowed: no positional `{}`, no attribute or
    index access, no `!conversion` or `:format` — the template is user input and must not reach
    anything but these four strings.
    """
    allowed = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise invalid(
            "dedup_template_braces",
            f"dedup_key_template has unbalanced braces ({exc}); write literal braces as '{{{{' and '}}}}'",
        ) from None
    used: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            raise invalid(
                "dedup_template_placeholder",
                f"dedup_key_template uses unknown placeholder '{{{field}}}'; allowed: {allowed}",
            )
        if spec or conversion:
            raise invalid(
                "dedup_template_format",
                f"dedup_key_template placeholder '{{{field}}}' must be plain, without '!' or ':' parts",
            )
        used.add(field)
    return used


def render_dedup_key(
    template: str, camera_id: str, rule_id: str, object_type: str | None, zone_id: str | None
) -> str:
    """Fill a (validated) template. Keys longer than the column are cut and made unique by a hash."""
    key = template.format(
        camera_id=camera_id,
        rule_id=rule_id,
        object_type=object_type or MISSING,
        zone_id=zone_id or MISSING,
    )
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY_LENGTH - 17]}#{digest}"


#: Delete KEYS[1] only while its holder is ARGV[1]: a claim is only ever given back by its holder.
RELEASE_IF_HOLDER = """
local holder
if redis.call('TYPE', KEYS[1]).ok == 'string' then
    holder = redis.call('GET', KEYS[1])
else
    holder = redis.call('HGET', KEYS[1], 'holder')
end
if holder == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Claim KEYS[1] for holder ARGV[1], whose event happened at ARGV[2] (epoch seconds), under a cooldown
#: of ARGV[3] seconds; 1 when won (or already this holder's), 0 when an event within the cooldown holds
#: it. The time kept is the later of the two, so an event analysed late cannot reopen what a newer holds.
#: A key of the earlier format (a string: the holder) is honoured until it expires.
_CLAIM = """
if redis.call('TYPE', KEYS[1]).ok == 'string' then
    -- A claim of a release before 2026-12-05 (the holder, expiring with its cooldown): held until then.
    return redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0
end
local held = redis.call('HMGET', KEYS[1], 'holder', 'at')
local at = tonumber(ARGV[2])
if held[1] then
    if held[1] == ARGV[1] then
        return 1
    end
    local since = tonumber(held[2]) or at
    if math.abs(at - since) < tonumber(ARGV[3]) then
        return 0
    end
    at = math.max(at, since)
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class Cooldown:
    """Atomic per-dedup-key cooldown shared by every worker using the same Redis."""

    def __init__(self, redis: Redis, prefix: str = "hsi:cooldown:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, dedup_key: str) -> str:
        return self._prefix + dedup_key

    async def acquire(
        self, dedup_key: str, cooldown_seconds: int, holder: str = "1", at: datetime | None = None
    ) -> bool:
        """True for exactly one caller per key per cooldown (and again for that holder: a job delivered
        twice); a cooldown of 0 never suppresses. `at` is when the event happened (default now)."""
        if cooldown_seconds < 0 or cooldown_seconds > MAX_COOLDOWN_SECONDS:
            raise ValueError(f"cooldown_seconds must be 0..{MAX_COOLDOWN_SECONDS}, got {cooldown_seconds}")
        if cooldown_seconds == 0:
            return True
        moment = (at or datetime.now(UTC)).timestamp()
        won = await self._redis.eval(
            _CLAIM, 1, self._key(dedup_key), holder, repr(moment), cooldown_seconds, MAX_COOLDOWN_SECONDS
        )
        return bool(won)

    async def release(self, dedup_key: str, holder: str = "1") -> bool:
        """Give a claim back (the alert could not be stored), but only if `holder` still owns it.

        Without this, a failed insert after a won `acquire` would silence the rule for a whole cooldown.
        """
        deleted = await self._redis.eval(RELEASE_IF_HOLDER, 1, self._key(dedup_key), holder)
        return bool(deleted)

    async def remaining(self, dedup_key: str, cooldown_seconds: int) -> float:
        """Seconds until an event happening now may claim the key (0.0 when it may now)."""
        since = await self._redis.hget(self._key(dedup_key), "at")
        if since is None:
            return 0.0
        return max(0.0, float(since) + cooldown_seconds - datetime.now(UTC).timestamp())
