"""API keys: create (plaintext shown once), list, revoke, authenticate, and the first-start key.

Shared by the API (`/api/keys`, the auth middleware) and the CLI (`python -m server keys ...`), so
both apply the same rules. Only SHA-256 hashes are stored; a lookup hashes the presented key and then
compares digests with `hmac.compare_digest`, so neither the database index nor Python's string
comparison leaks how much of a guessed key was right.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import StringConstraints

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models import APIKey, AuditAction, AuditLog, AuditStatus, hash_api_key

_LOGGER = logging.getLogger("hsi.apikeys")

#: A key's name, wherever a key is made (the API, the CLI): a control character would forge lines and
#: columns in `keys list` and in the audit trail.
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: Ids an `api_keys` row can have (a 32-bit serial column).
KEY_ID_MAX = 2**31 - 1

#: Prefix of generated keys: recognisable in a config file or a leaked-secret scanner.
KEY_PREFIX = "hsi_"
#: Name of the file the first-start key is written to, in the data directory.
KEY_FILE_NAME = "api_key.txt"
#: Advisory lock id so two API processes starting together do not both create a first key.
_BOOTSTRAP_LOCK = 0x4853494B  # "HSIK"
#: Advisory lock id serialising revocations (the last-active-key rule needs a count nobody changes).
_REVOKE_LOCK = 0x48534952  # "HSIR"


def generate_key() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyFacts(Protocol):
    """What authentication needs of a key: the row, or the API's in-memory copy of it."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def is_active(self) -> bool: ...


@dataclass(frozen=True)
class KeyCheck:
    """Outcome of presenting a key: the row (or its cached copy) if it exists, and whether it may be used."""

    key: KeyFacts | None
    reason: str | None  # None when valid; "missing" | "invalid" | "revoked"

    @property
    def ok(self) -> bool:
        return self.reason is None


async def authenticate(session: AsyncSession, presented: str | None) -> KeyCheck:
    """Look a presented key up by its hash; constant-time comparison of the digests."""
    if not presented:
        return KeyCheck(None, "missing")
    digest = hash_api_key(presented)
    row = (await session.execute(select(APIKey).where(APIKey.key_hash == digest))).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash.encode(), digest.encode()):
        return KeyCheck(None, "invalid")
    if not row.is_active:
        return KeyCheck(row, "revoked")
    return KeyCheck(row, None)


async def create_key(session: AsyncSession, name: str) -> tuple[APIKey, str]:
    """Add a key (caller commits); returns the row and the plaintext, which is never stored."""
    plaintext = generate_key()
    row = APIKey(name=name, key_hash=hash_api_key(plaintext), is_active=True)
    session.add(row)
    await session.flush()
    return row, plaintext


async def list_keys(session: AsyncSession) -> list[APIKey]:
    return list((await session.execute(select(APIKey).order_by(APIKey.id))).scalars())


async def active_key_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).where(APIKey.is_active.is_(True)))).scalar_one())


class LastActiveKey(Exception):
    """Revoking this key would leave no active key: nobody could use the API any more."""


async def revoke_key(
    session: AsyncSession, key_id: int, *, keep_last: bool = False
) -> tuple[APIKey, bool] | None:
    """Mark a key revoked (the row stays, for the audit trail): the row and whether this call revoked
    it (False: it already was, and nothing changed: no audit row, no cache to empty); None if there is
    no such key.

    With `keep_last`, raise `LastActiveKey` instead of revoking the last active key. Revocations take
    one transaction-scoped lock first, so two at once cannot both count "two left" and revoke both.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _REVOKE_LOCK})
    row = await session.get(APIKey, key_id, populate_existing=True)
    if row is None:
        return None
    if not row.is_active:
        return row, False
    if keep_last and await active_key_count(session) <= 1:
        raise LastActiveKey(f"key {key_id} is the last active key")
    row.is_active = False
    await session.flush()
    return row, True


def forget_key_file(data_dir: Path, revoked: APIKey) -> bool:
    """Delete `<data_dir>/api_key.txt` if it holds `revoked` (call after the revocation committed):
    a revoked key must not sit on disk, nor be announced to Home Assistant by the add-on."""
    path = data_dir / KEY_FILE_NAME
    try:
        held = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not held or not hmac.compare_digest(hash_api_key(held), revoked.key_hash):
        return False
    path.unlink(missing_ok=True)
    _LOGGER.warning("Key %s (%s) was revoked: removed %s, which held it", revoked.id, revoked.name, path)
    return True


def write_key_file(path: Path, plaintext: str) -> None:
    """Write the key readable by the owner only (0600), also when the file already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, (plaintext + "\n").encode())
    finally:
        os.close(descriptor)


async def ensure_initial_key(sessions: async_sessionmaker[AsyncSession], data_dir: Path) -> Path | None:
    """On a server with no key at all, create one and write it to `<data_dir>/api_key.txt` (0600).

    Returns the file's path when a key was created, None when keys already existed (revoked ones
    count: an operator who revoked every key meant it, and a new key should not appear by itself).
    """
    async with sessions() as session, session.begin():
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _BOOTSTRAP_LOCK})
        existing = (await session.execute(select(func.count()).select_from(APIKey))).scalar_one()
        if existing:
            return None
        row, plaintext = await create_key(session, "initial")
        path = data_dir / KEY_FILE_NAME
        write_key_file(path, plaintext)
        session.add(
            AuditLog(
                action=AuditAction.API_KEY_CREATED.value,
                resource_type="api_key",
                resource_id=str(row.id),
                actor="system",
                details={"name": row.name, "reason": "first start without any API key", "file": str(path)},
                status=AuditStatus.SUCCESS.value,
            )
        )
    _LOGGER.warning("No API key existed: created one and wrote it to %s (readable by this user only)", path)
    return path
