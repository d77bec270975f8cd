"""API keys: only the SHA-256 hex digest is stored, so a database leak does not leak usable keys."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


def hash_api_key(key: str) -> str:
    """The value stored in `api_keys.key_hash` for a plaintext key (64 lowercase hex characters).

    A header's bytes that are no UTF-8 reach us as surrogates (aiohttp decodes with surrogateescape):
    they are hashed as the bytes they were, a key no one holds, refused like any wrong key."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class APIKey(Base):
    """An API key (hash, display name, active/revoked); revoking keeps the row for the audit trail."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, server_default=func.now()
    )
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=text("true")
    )

    def __repr__(self) -> str:
        return f"<APIKey id={self.id} name={self.name!r} active={self.is_active}>"
