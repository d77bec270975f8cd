"""Hostile requests: undecodable header bytes, big and deep JSON bodies, aiohttp's own errors.

Each test sends what a scanner or a broken client sends, over a real socket to the real app, and
checks the answer is the documented 4xx JSON error shape — never a 500, never a dropped audit row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.models import AuditLog
from server.runtime import Runtime
from tests.server.api.conftest import error_of


async def raw_exchange(client: TestClient, request: bytes, *, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as raw bytes to the test server; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        return int(status_line.split()[1]), headers, body
    finally:
        writer.close()


def assert_error_shape(body: bytes) -> dict:
    payload = json.loads(body)
    assert set(payload) == {"error"} and {"code", "message", "details"} <= set(payload["error"]), payload
    return payload["error"]


async def test_wrong_key_with_undecodable_user_agent_is_401_after_the_delay_and_audited(
    runtime: Runtime, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding: a 0xFF byte in User-Agent made the audit insert fail (asyncpg cannot encode the
    surrogate aiohttp decodes it to): 500 at once, no delay, no audit row."""
    request = (
        b"GET /api/events HTTP/1.1\r\nHost: x\r\nX-API-Key: hsi_wrong\r\n"
        b"User-Agent: evil\xff\xfebot/1\r\nConnection: close\r\n\r\n"
    )
    caplog.set_level(logging.INFO, logger="server.api.access")
    started = time.perf_counter()
    status, headers, body = await raw_exchange(client, request)
    assert status == 401, body
    assert time.perf_counter() - started >= 0.001  # TEST_API_SETTINGS' failed-login delay
    assert assert_error_shape(body)["code"] == "unauthorized"
    async with runtime.database.sessions() as session:
        rows = list(await session.scalars(select(AuditLog).where(AuditLog.status == "failure")))
    assert len(rows) == 1
    assert rows[0].user_agent is not None and rows[0].user_agent.startswith("evil")
    assert "\ufffd" not in rows[0].user_agent or "\\x" in rows[0].user_agent

    [access] = [r.getMessage() for r in caplog.records if r.name == "server.api.access" and " 401 " in r.getMessage()]
    assert "evil" in access  # the process log's access line, its user agent printable


async def test_a_900_kb_json_body_is_read_to_its_end(client: TestClient) -> None:
    """Finding: the body was read from what happened to be buffered: `invalid_json` at ~600 KB."""
    body = json.dumps({"name": "Garage", "padding": "x" * 900_000}).encode()
    # The body is valid JSON: it must parse, so the answer is about its content (an unknown field),
    # not about broken JSON at some offset.
    response = await client.post("/api/cameras", data=body, headers={"Content-Type": "application/json"})
    error = await error_of(response, 422)
    assert error["code"] == "validation_error" and "padding" in json.dumps(error["details"])


async def test_a_slowly_sent_json_body_is_read_to_its_declared_length(client: TestClient) -> None:
    """Chunks arriving apart (a slow link): the whole declared body is parsed, never a prefix."""
    body = json.dumps({"name": "Slow camera", "x": "y" * 300_000}).encode()
    head = (
        f"POST /api/cameras HTTP/1.1\r\nHost: x\r\nX-API-Key: {client.session.headers['X-API-Key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head)
        for start in range(0, len(body), 65_536):
            writer.write(body[start : start + 65_536])
            await writer.drain()
            await asyncio.sleep(0.02)
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status = int(answer.split(b" ", 2)[1])
    error = assert_error_shape(answer.split(b"\r\n\r\n", 1)[1])
    assert status == 422 and error["code"] == "validation_error", error


async def test_deeply_nested_json_is_a_400(client: TestClient) -> None:
    """Finding: `[[[[…]]]]` deeper than the parser's recursion limit was a 500."""
    for depth in (100_000, 2_000):
        body = b"[" * depth + b"]" * depth
        response = await client.post("/api/cameras", data=body, headers={"Content-Type": "application/json"})
        error = await error_of(response, 400)
        assert error["code"] == "invalid_json" and "deep" in error["message"]
    nested = {"name": "x", "extra": json.loads("[" * 20 + "]" * 20)}
    response = await client.post("/api/cameras", json=nested)
    await error_of(response, 422)  # moderately nested is fine: an ordinary validation error


async def test_declared_length_over_the_cap_is_413_before_reading(client: TestClient) -> None:
    head = (
        f"POST /api/cameras HTTP/1.1\r\nHost: x\r\nX-API-Key: {client.session.headers['X-API-Key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _headers, body = await raw_exchange(client, head + b"{")
    assert status == 413
    assert assert_error_shape(body)["code"] == "payload_too_large"


async def test_aiohttps_own_errors_have_the_json_shape(client: TestClient) -> None:
    """Errors raised by aiohttp itself (the HTTP parser, the router) carry the documented shape."""
    key = client.session.headers["X-API-Key"]
    cases = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /api/events HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /api/events HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (f"PUT /api/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Length: 0\r\n\r\n".encode(), 405),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"POST /api/cameras HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 2\r\n\r\n{}", 417),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417),
        # Found by tests/server/api/test_raw_http_fuzz.py: aiohttp's own 417 text could not encode it (500).
        (b"DELETE /api/alert-rules/0 HTTP/1.1\r\nHost: x\r\nExpect: \xff\r\n\r\n", 417),
        (b"GET /api/events HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n", 400),
    ]
    for request, expected in cases:
        status, headers, body = await raw_exchange(client, request)
        assert status == expected, (request[:60], status, body[:200])
        assert headers.get("content-type", "").startswith("application/json"), (request[:60], headers, body[:200])
        assert_error_shape(body)
