"""Webhook delivery to a real HTTP server on 127.0.0.1: signed, verifiable, failures raised clearly."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web

from server.alerts.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDeliveryError,
    deliver,
    sign,
    signature_headers,
    verify,
)

SECRET = "s3cret-s3cret-s3cret"
#: The receivers of these tests listen on 127.0.0.1, which webhooks reach only when allowed.
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@dataclass
class Receiver:
    """A tiny webhook receiver that records what it got and answers with a configurable status."""

    base_url: str = ""
    status: int = 204
    delay: float = 0.0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        await asyncio.sleep(self.delay)
        if self.status in (301, 302):
            raise web.HTTPFound(self.base_url + "/elsewhere")
        self.hosts.append(request.headers.get("Host", ""))
        return web.Response(status=self.status, text="" if self.status < 300 else "receiver says no")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    app.router.add_post("/elsewhere", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base_url = f"http://{host}:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


PAYLOAD = {
    "id": UUID("a1b2c3d4-e5f6-7890-abcd-ef1234567890"),
    "severity": "high",
    "created_at": datetime(2025, 1, 6, 3, 0, tzinfo=UTC),
    "metadata": {"object_types": ["person"], "zones": ["door"], "top_confidence": 0.92, "note": "Zürich"},
}


async def test_signed_post_is_received_and_verifies(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    await deliver(http, receiver.base_url + "/hook", SECRET, PAYLOAD, allowed_networks=LOOPBACK)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "severity": "high",
        "created_at": "2025-01-06T03:00:00+00:00",
        "metadata": {"object_types": ["person"], "zones": ["door"], "top_confidence": 0.92, "note": "Zürich"},
    }
    # Independent check of the documented scheme, with nothing but the standard library.
    timestamp = headers[TIMESTAMP_HEADER]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert verify(body, SECRET, timestamp, headers[SIGNATURE_HEADER])


def test_verify_rejects_tampering_wrong_secret_and_replays() -> None:
    body = b'{"a":1}'
    headers = signature_headers(body, SECRET, timestamp=1_700_000_000)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert verify(body, SECRET, ts, sig, now=1_700_000_100)
    assert not verify(b'{"a":2}', SECRET, ts, sig, now=1_700_000_100)  # body changed
    assert not verify(body, "another-secret-value", ts, sig, now=1_700_000_100)
    assert not verify(body, SECRET, "1700000001", sig, now=1_700_000_100)  # timestamp changed
    assert not verify(body, SECRET, ts, sig, now=1_700_000_000 + 301)  # too old: a replay
    assert not verify(body, SECRET, ts, sig.removeprefix("sha256="), now=1_700_000_100)
    assert not verify(body, SECRET, None, sig)
    assert not verify(body, SECRET, "yesterday", sig)
    assert sig == "sha256=" + sign(body, SECRET, 1_700_000_000)


@pytest.mark.parametrize("status", [400, 404, 500, 503])
async def test_non_2xx_raises_a_clear_error(
    receiver: Receiver, http: aiohttp.ClientSession, status: int
) -> None:
    receiver.status = status
    with pytest.raises(WebhookDeliveryError) as exc:
        await deliver(
            http, receiver.base_url + "/hook?token=hidden", SECRET, {"a": 1}, allowed_networks=LOOPBACK
        )
    message = str(exc.value)
    assert f"webhook {receiver.base_url}/hook answered {status}" in message
    assert "receiver says no" not in message  # finding: the answer body was copied into the logs
    assert "hidden" not in message  # query strings (often tokens) stay out of logs


async def test_redirects_are_not_followed(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    receiver.status = 302
    with pytest.raises(WebhookDeliveryError, match="answered 302 Found \\(redirects are not followed\\)"):
        await deliver(http, receiver.base_url + "/hook", SECRET, {"a": 1}, allowed_networks=LOOPBACK)
    assert len(receiver.requests) == 1  # /elsewhere never got the signed body


async def test_slow_receiver_times_out(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    receiver.delay = 2.0
    with pytest.raises(WebhookDeliveryError, match=r"did not answer within 0\.3 s"):
        await deliver(
            http, receiver.base_url + "/hook", SECRET, {"a": 1}, timeout_seconds=0.3, allowed_networks=LOOPBACK
        )


async def test_unreachable_receiver_raises(http: aiohttp.ClientSession) -> None:
    with pytest.raises(WebhookDeliveryError, match=r"webhook http://127\.0\.0\.1:1/hook unreachable"):
        await deliver(http, "http://127.0.0.1:1/hook", SECRET, {"a": 1}, allowed_networks=LOOPBACK)


async def test_payload_that_cannot_be_encoded_fails_before_sending(http: aiohttp.ClientSession) -> None:
    with pytest.raises(TypeError, match="cannot encode object in a webhook payload"):
        await deliver(http, "http://127.0.0.1:1/hook", SECRET, {"a": object()})


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",  # a name: refused after resolution
        "[::1]",
        "[::ffff:127.0.0.1]",
        "2130706433",  # 127.0.0.1 written as one number
        "0.0.0.0",
        "169.254.169.254",  # cloud metadata
        "10.1.2.3",
        "192.168.1.1",
        "172.16.0.1",
        "100.64.0.1",  # shared (carrier-grade NAT)
        "224.0.0.1",
        "[fe80::1]",
        "[fd00::1]",
    ],
)
async def test_non_public_targets_are_refused_unless_allowed(
    receiver: Receiver, http: aiohttp.ClientSession, host: str
) -> None:
    """Finding: rule webhooks could target loopback, link-local and LAN addresses."""
    port = receiver.base_url.rsplit(":", 1)[1]
    with pytest.raises(WebhookDeliveryError, match="not a public address"):
        await deliver(http, f"http://{host}:{port}/hook", SECRET, {"a": 1})
    assert receiver.requests == []


async def test_an_allowed_network_is_reached_under_its_name(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    port = receiver.base_url.rsplit(":", 1)[1]
    await deliver(http, f"http://localhost:{port}/hook", SECRET, {"a": 1}, allowed_networks=LOOPBACK)
    assert receiver.hosts == [f"localhost:{port}"]  # sent to the checked address, for that host
    other = (ipaddress.ip_network("192.168.0.0/16"),)
    with pytest.raises(WebhookDeliveryError, match="not a public address"):  # one network is not another
        await deliver(http, f"http://127.0.0.1:{port}/hook", SECRET, {"a": 1}, allowed_networks=other)
    for url in ("ftp://example.com/hook", "http:///hook", "file:///etc/passwd"):
        with pytest.raises(WebhookDeliveryError, match="only http"):
            await deliver(http, url, SECRET, {"a": 1}, allowed_networks=LOOPBACK)


def _resolving(names: dict[str, list[str]], delay: float = 0.0) -> Callable[..., list[tuple[Any, ...]]]:
    """`socket.getaddrinfo` answering `names` with their addresses after `delay` (no DNS here); other
    names as the real one does. asyncio runs it in a thread, as it runs the real one."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in names:
            return real(host, port, *args, **kwargs)
        time.sleep(delay)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port))) for a in names[host]]

    return getaddrinfo


async def test_a_resolver_that_hangs_is_bounded_by_the_delivery_timeout(
    receiver: Receiver, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review's finding: the timeout covered the POST only, so a stuck resolver held the delivery
    (and the lock against a second delivery, which lasts 60 s) as long as it liked."""
    monkeypatch.setattr(socket, "getaddrinfo", _resolving({"slow-dns.test": ["127.0.0.1"]}, delay=3.0))
    port = receiver.base_url.rsplit(":", 1)[1]
    started = time.monotonic()
    with pytest.raises(WebhookDeliveryError, match=r"did not answer within 0\.5 s"):
        await deliver(
            http, f"http://slow-dns.test:{port}/hook", SECRET, {"a": 1}, timeout_seconds=0.5, allowed_networks=LOOPBACK
        )
    assert time.monotonic() - started < 1.5  # 3 s without the change
    assert receiver.requests == []


async def test_a_host_whose_first_address_refuses_is_reached_at_its_next(
    receiver: Receiver, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review's finding: only the first address was tried (a dual-stack host whose IPv6 does not
    route was never reached). 127.0.0.2 is loopback too, but nothing listens there on this port."""
    port = int(receiver.base_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.2", port)) != 0
    monkeypatch.setattr(
        socket, "getaddrinfo", _resolving({"dual.test": ["127.0.0.2", "127.0.0.1"], "down.test": ["127.0.0.2"]})
    )
    await deliver(http, f"http://dual.test:{port}/hook", SECRET, {"a": 1}, timeout_seconds=3, allowed_networks=LOOPBACK)
    assert receiver.hosts == [f"dual.test:{port}"]  # once, at the address that answered, under its name
    with pytest.raises(WebhookDeliveryError, match=r"webhook http://down\.test:\d+/hook unreachable"):
        await deliver(http, f"http://down.test:{port}/hook", SECRET, {"a": 1}, allowed_networks=LOOPBACK)
    assert len(receiver.requests) == 1
