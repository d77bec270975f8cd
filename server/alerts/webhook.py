"""The `webhook` channel: POST the alert as JSON, signed so the receiver can trust and date it.

Signature scheme (documented for receivers in the add-on docs):

    X-HSI-Timestamp: <unix seconds>
    X-HSI-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed later with a fresh
timestamp; receivers reject timestamps older than a few minutes (`verify` does, default 300 s).
Redirects are not followed: a signed alert goes to the configured URL or nowhere.

Targets: anyone who may edit alert rules could otherwise make the server POST to itself, to the
router's admin page, to the cloud metadata address or to anything else on the LAN. The host is
resolved first and every address must be public (not loopback, link-local, private, shared,
multicast, reserved or unspecified) unless it lies in `HSI_WEBHOOK_ALLOWED_NETWORKS`; the request
then goes to an address that was checked (the URL's host stays in `Host` and in TLS verification),
so a DNS answer that changes between check and connect cannot steer it elsewhere. The addresses are
tried in the resolver's order, each with its share of the time left, until one accepts the connection
(a dual-stack host whose IPv6 does not route is reached over IPv4); nothing is sent twice, since only
a connection that was never made moves on to the next address. The timeout bounds the whole delivery,
resolving included. The receiver's answer body is never read into logs or errors: it is the
receiver's, and may echo secrets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Collection
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import aiohttp
from yarl import URL

SIGNATURE_HEADER = "X-HSI-Signature"
TIMESTAMP_HEADER = "X-HSI-Timestamp"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_TIMEOUT_SECONDS = 10.0


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookDeliveryError(Exception):
    """The receiver could not be reached or did not answer 2xx; the message says which and why."""


class WebhookTargetRefused(WebhookDeliveryError):
    """The URL leads to an address webhooks may not reach (not public and not allowed)."""


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) judged as the IPv4 address it is."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def target_allowed(address: IPAddress, allowed_networks: Collection[IPNetwork] = ()) -> bool:
    """Public unicast addresses always; any other only inside one of `allowed_networks`."""
    address = _plain(address)
    if any(address in network for network in allowed_networks):
        return True
    return address.is_global and not address.is_multicast


def webhook_target(url: str) -> URL:
    """`url` as delivery reads it; ValueError unless it can be delivered to: an absolute http:// or
    https:// URL with a host and a port in 1..65535 (the rule API refuses the rest with this check)."""
    target = URL(url)  # a port that is not a number, or out of range, raises here
    if target.scheme not in ("http", "https") or not target.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    if not target.port:
        raise ValueError("port 0 cannot be reached")
    _check_resolvable(target.host)
    return target


def _check_resolvable(host: str) -> None:
    """ValueError for a host name no resolver can be asked for (the resolver takes it in IDNA): an
    empty label (`cam..example.com`), or one over 63 characters."""
    try:
        host.encode("idna")
    except UnicodeError:
        raise ValueError(f"{host} is not a host name (an empty label, or one over 63 characters)") from None


async def resolve_target(target: URL, allowed_networks: Collection[IPNetwork] = ()) -> list[IPAddress]:
    """The addresses to send to, in the resolver's order: the URL's host resolved, refused unless every
    address it has is allowed."""
    host = target.host or ""
    try:
        _check_resolvable(host)
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except ValueError as err:  # a rule stored before its URL was checked for this
        raise WebhookTargetRefused(f"webhook {_where(target)} refused: {err}") from None
    except OSError as err:
        raise WebhookDeliveryError(f"webhook {_where(target)}: cannot resolve {host}: {err}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    refused = [address for address in addresses if not target_allowed(address, allowed_networks)]
    if refused or not addresses:
        raise WebhookTargetRefused(
            f"webhook {_where(target)} refused: {host} is {', '.join(map(str, refused or addresses))}, "
            "not a public address (allow it with HSI_WEBHOOK_ALLOWED_NETWORKS)"
        )
    return addresses


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


def _where(target: URL) -> str:
    """The URL without query or credentials, for error messages (tokens often hide in query strings)."""
    return str(target.with_user(None).with_query(None).with_fragment(None))


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    payload: Any,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    allowed_networks: Collection[IPNetwork] = (),
) -> None:
    """POST `payload` signed with `secret` to a checked address of `url`, all within `timeout_seconds`;
    raise `WebhookDeliveryError` (`WebhookTargetRefused` for a forbidden target) unless the answer is 2xx."""
    body = encode_payload(payload)
    try:  # checked when the rule was stored too (`AlertRuleSpec`); this function trusts no caller
        target = webhook_target(url)
    except ValueError as err:
        raise WebhookTargetRefused(f"webhook refused: only http:// and https:// URLs with a host and a port ({err})") from None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "HSI-webhook/1",
        "Host": target.host_port_subcomponent or "",
    }
    headers.update(signature_headers(body, secret))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    try:
        async with asyncio.timeout_at(deadline):
            addresses = await resolve_target(target, allowed_networks)
            for index, address in enumerate(addresses):
                # Each address left gets an equal share of the time left to connect.
                connect = (deadline - loop.time()) / (len(addresses) - index)
                try:
                    await _post(session, target, address, body, headers, connect)
                    return
                except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
                    if index == len(addresses) - 1:
                        raise  # nothing was sent to any address: the last one's reason is the answer
    except TimeoutError:
        raise WebhookDeliveryError(
            f"webhook {_where(target)} did not answer within {timeout_seconds:g} s"
        ) from None
    except aiohttp.ClientResponseError as exc:
        # Its text holds the URL, query and all, and the bytes of an answer that is not HTTP.
        raise WebhookDeliveryError(
            f"webhook {_where(target)} gave an answer that is not valid HTTP ({type(exc).__name__})"
        ) from None
    except aiohttp.ClientError as exc:
        raise WebhookDeliveryError(f"webhook {_where(target)} unreachable: {exc}") from exc


async def _post(
    session: aiohttp.ClientSession,
    target: URL,
    address: IPAddress,
    body: bytes,
    headers: dict[str, str],
    connect_seconds: float,
) -> None:
    """One POST to `address` (the deadline around it bounds the rest); raises unless the answer is 2xx."""
    async with session.post(
        target.with_host(str(address)),
        data=body,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_seconds),
        allow_redirects=False,
        server_hostname=target.raw_host if target.scheme == "https" else None,
    ) as response:
        if 200 <= response.status < 300:
            return
        redirect = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise WebhookDeliveryError(
            f"webhook {_where(target)} answered {response.status} {response.reason or ''}".rstrip() + redirect
        )
