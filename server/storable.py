"""Text as PostgreSQL can store it, from sources that need not be valid UTF-8.

aiohttp decodes header bytes as UTF-8 with `surrogateescape` and Python decodes undecodable file names
the same way, so a `User-Agent` with a 0xFF byte or a Latin-1 folder name arrives as a `str` holding
lone surrogates. asyncpg cannot encode those (nor NUL, which PostgreSQL text refuses), and a failed
INSERT loses the row it was for: the audit row of a failed login, or a whole batch of log rows.
`storable` keeps what it can read and shows the rest as `\\xNN`, so the row says what was sent.
"""

from __future__ import annotations

import re
from typing import Any

#: NUL and lone surrogates (U+D800-U+DFFF): what a UTF-8 text column cannot hold.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    """`surrogateescape` put byte 0xNN at U+DCNN: show it as that byte; other surrogates by code."""
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code == 0 else f"\\u{code:04x}"


def storable(value: object, limit: int | None = None) -> str:
    """`value` as text PostgreSQL accepts: undecodable bytes as `\\xNN`, NUL as `\\x00`, cut at `limit`."""
    text = value if isinstance(value, str) else str(value)
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub(_escape, text)
    return text if limit is None else text[:limit]


def storable_or_none(value: object | None, limit: int | None = None) -> str | None:
    return None if value is None else storable(value, limit)


def storable_json(value: Any) -> Any:
    """A JSON-ready value (dicts, lists, scalars) with every string, keys included, made storable
    (jsonb refuses `\\u0000` and lone surrogates just as text does)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value
