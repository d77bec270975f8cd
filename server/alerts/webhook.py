"""The `webhook` channel: POST the alert as JSON, signed so the receiver can trust and date it.

Signature scheme (documented for receivers in the add-on docs):

    X-HSI-Timestamp: <unix seconds>
    X-HSI-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed later with a fresh
timestamp; receivers reject timestamps older than a few minutes (`verify` does, default 300 s).
Redirects are not followed: a signed alert goes to the configured URL or nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp

SIGNATURE_HEADER = "X-HSI-Signature"
TIMESTAMP_HEADER = "X-HSI-Timestamp"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_TIMEOUT_SECONDS = 10.0


class WebhookDeliveryError(Exception):
    """The receiver could not be reached or did not answer 2xx; the message says which and why."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 over `"<timestamp>." + body`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers that authenticate `body`; `timestamp` defaults to now."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: SIGNATURE_PREFIX + sign(body, secret, ts)}


def verify(
    body: bytes,
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Receiver side: the signature matches (constant-time) and the timestamp is recent."""
    if not timestamp_header or not signature_header or not signature_header.startswith(SIGNATURE_PREFIX):
        return False
    try:
        ts = int(timestamp_header)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_seconds:
        return False
    expected = sign(body, secret, ts)
    return hmac.compare_digest(expected, signature_header[len(SIGNATURE_PREFIX) :])


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} in a webhook payload")


def encode_payload(payload: Any) -> bytes:
    """Compact UTF-8 JSON; the exact bytes sent are the bytes signed."""
    return json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode()


def _where(url: str) -> str:
    """URL without query or credentials, for error messages (tokens often hide in query strings)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    payload: Any,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """POST `payload` signed with `secret`; raise `WebhookDeliveryError` unless the answer is 2xx."""
    body = encode_payload(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "HSI-webhook/1"}
    headers.update(signature_headers(body, secret))
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            if 200 <= response.status < 300:
                return
            excerpt = (await response.text(errors="replace"))[:200]
            raise WebhookDeliveryError(
                f"webhook {_where(url)} answered {response.status} {response.reason or ''}".rstrip()
                + (f": {excerpt}" if excerpt else "")
            )
    except TimeoutError:
        raise WebhookDeliveryError(
            f"webhook {_where(url)} did not answer within {timeout_seconds:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        raise WebhookDeliveryError(f"webhook {_where(url)} unreachable: {exc}") from exc
