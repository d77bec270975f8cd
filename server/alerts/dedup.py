"""Deduplication keys and the cooldown that stops one situation from raising a stream of alerts.

The cooldown lives in Redis, not in the `alerts` table, because several analyze workers may evaluate
events of the same camera at the same moment: a "SELECT last alert, then INSERT" check races, while
`SET key NX EX` is a single atomic step — exactly one caller wins the key, and the key expires by
itself when the cooldown ends (no clean-up job, nothing to get stuck).
"""

from __future__ import annotations

import hashlib
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


#: Delete KEYS[1] only while it still holds ARGV[1]: a claim or lock is only ever given back by its holder.
RELEASE_IF_HOLDER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Cooldown:
    """Atomic per-dedup-key cooldown shared by every worker using the same Redis."""

    def __init__(self, redis: Redis, prefix: str = "hsi:cooldown:") -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, dedup_key: str) -> str:
        return self._prefix + dedup_key

    async def acquire(self, dedup_key: str, cooldown_seconds: int, holder: str = "1") -> bool:
        """True for exactly one caller per key per cooldown; a cooldown of 0 never suppresses.

        `holder` (e.g. the event id) is stored so that `release` can undo only its own claim.
        """
        if cooldown_seconds < 0 or cooldown_seconds > MAX_COOLDOWN_SECONDS:
            raise ValueError(f"cooldown_seconds must be 0..{MAX_COOLDOWN_SECONDS}, got {cooldown_seconds}")
        if cooldown_seconds == 0:
            return True
        won = await self._redis.set(self._key(dedup_key), holder, nx=True, ex=cooldown_seconds)
        return bool(won)

    async def release(self, dedup_key: str, holder: str = "1") -> bool:
        """Give a claim back (the alert could not be stored), but only if `holder` still owns it.

        Without this, a failed insert after a won `acquire` would silence the rule for a whole cooldown.
        """
        deleted = await self._redis.eval(RELEASE_IF_HOLDER, 1, self._key(dedup_key), holder)
        return bool(deleted)

    async def remaining(self, dedup_key: str) -> float:
        """Seconds left on a key's cooldown (0.0 when free); lets "test rule" say an alert would be held."""
        ttl_ms = await self._redis.pttl(self._key(dedup_key))
        return max(ttl_ms, 0) / 1000.0
