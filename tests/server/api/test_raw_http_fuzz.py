"""Raw-HTTP fuzzing: malformed request lines, headers, bodies and encodings over a real socket.

The real app runs in its own thread on 127.0.0.1 behind the production runner (`ApiRunner`), on the
test's database and Redis, seeded with a small home. Hypothesis builds whole requests as bytes —
methods, targets, versions, header names and values (control characters, undecodable bytes, smuggling
pairs such as `Content-Length` with `Transfer-Encoding`), bodies (truncated, chunked wrongly, claimed
gzip, deep JSON) — sends each on a fresh connection, closes its side and reads what comes back.
Whatever the request, no answer may be a 5xx, every 4xx must be the documented JSON error shape, and
the server must still answer normally at the end.

`HSI_FUZZ_EXAMPLES` sets the number of requests (CI: 600; bench/fuzz.py runs 20 000).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from server.api.app import ROUTE_TABLES
from server.runtime import Runtime
from tests.server.api.conftest import Seeded
from tests.server.api.test_fuzz import ThreadedApp, fuzz_settings

EXAMPLES = int(os.environ.get("HSI_FUZZ_EXAMPLES", "600"))
#: How long a connection may stay quiet before the request counts as unanswered (incomplete).
WAIT_SECONDS = 1.0
_STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3})", re.MULTILINE)


def _paths() -> list[bytes]:
    """Every route with plausible, odd and hostile path parameters."""
    samples = ["1", "0", "-1", "99999999999999999999", "front_door", "%00", "..", "%2e%2e%2f", "é", "a" * 300]
    paths = []
    for table in ROUTE_TABLES:
        for endpoint in table.endpoints:
            for value in samples[:4] if "{" in endpoint.path else [""]:
                paths.append(re.sub(r"\{\w+(:[^}]+)?\}", value, endpoint.path).encode())
    return sorted(set(paths)) + [f"/api/cameras/{v}/zones".encode() for v in samples]


PATHS = _paths()
METHODS = [b"GET", b"POST", b"PATCH", b"DELETE", b"PUT", b"HEAD", b"OPTIONS", b"TRACE", b"CONNECT", b"PRI"]
HEADER_NAMES = [
    b"Host", b"Content-Length", b"Transfer-Encoding", b"Content-Type", b"Content-Encoding", b"X-API-Key",
    b"User-Agent", b"Range", b"If-None-Match", b"If-Range", b"Connection", b"Expect", b"Upgrade",
    b"X-Request-ID", b"Accept-Encoding", b"Sec-WebSocket-Key", b"Sec-WebSocket-Version", b"Cookie",
]
VALUES = [
    b"0", b"-1", b"1", b"10", b"99999999999999999999", b"chunked", b"gzip", b"deflate", b"br", b"identity",
    b"chunked, gzip", b"application/json", b"multipart/form-data; boundary=x", b"image/jpeg",
    b"bytes=0-1", b"bytes=-5", b"bytes=5-1", b"bytes=0-1,2-3", b"100-continue", b"websocket",
    b"keep-alive", b"close", b"\xff\xfe\xfd", b"a\x7fb", "é".encode(), b" ", b"",
]
BODIES = [
    b"", b"{}", b"[]", b"null", b'{"name": "x"}', b'{"name": "\\ud800"}', b'{"name": 1e999}',
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 100 + b"1" + b"}" * 100, b"\x1f\x8b\x08\x00garbage",
    b"5\r\nhello\r\n0\r\n\r\n", b"ffffffffffffffff\r\nx\r\n", b"3;ext=\nabc\r\n0\r\n\r\n",
    b"0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", b'{"name": "' + b"x" * 5000 + b'"}',
]


Bytes = st.SearchStrategy[bytes]
QUERY = b"?" + b"&".join([b"limit=-1", b"cursor=%ff", b"q=%00"])
ODD_TARGETS = [b"*", b"http://x/api/events", b"/" + b"a" * 9000, b"", b"//", b"/api/../api/keys"]
ODD_VERSIONS = [b"HTTP/1.0", b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.1x", b""]


def _mostly(draw: st.DrawFn, usual: Bytes, odd: Bytes, odds: int = 5) -> bytes:
    """`odd` one time in `odds`, else `usual`: most requests must get past the parser to the app."""
    # sampled_from draws about uniformly (integers lean towards their bounds), shrinking to "usual"
    return draw(odd if draw(st.sampled_from([False] * (odds - 1) + [True])) else usual)


@st.composite
def raw_requests(draw: st.DrawFn, key: bytes) -> bytes:
    odd_method = st.sampled_from(METHODS) | st.binary(min_size=1, max_size=12)
    method = _mostly(draw, st.sampled_from(METHODS[:6]), odd_method)
    target = _mostly(
        draw,
        st.sampled_from(PATHS) | st.sampled_from(PATHS).map(lambda path: path + QUERY),
        st.binary(max_size=64).map(lambda raw: b"/api/" + raw) | st.sampled_from(ODD_TARGETS),
    )
    version = _mostly(draw, st.just(b"HTTP/1.1"), st.sampled_from(ODD_VERSIONS))
    eol = _mostly(draw, st.just(b"\r\n"), st.sampled_from([b"\n", b"\r"]), odds=10)
    headers = [b"Host: test"]
    if draw(st.sampled_from([True, True, True, False])):
        headers.append(b"X-API-Key: " + key)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        name = _mostly(draw, st.sampled_from(HEADER_NAMES), st.binary(min_size=1, max_size=16), odds=6)
        headers.append(name + b": " + _mostly(draw, st.sampled_from(VALUES), st.binary(max_size=48)))
    body = draw(st.sampled_from(BODIES) | st.binary(max_size=512))
    if draw(st.sampled_from([True, True, True, False])):  # a truthful length: the body reaches handlers
        headers.append(b"Content-Length: " + str(len(body)).encode())
    return method + b" " + target + b" " + version + eol + eol.join(headers) + eol + eol + body


def _complete(answer: bytes, head_request: bool) -> bool:
    """Has `answer` a final (non-100) response with all of its `Content-Length` body?"""
    for match in re.finditer(rb"^HTTP/\d\.\d (\d{3})[^\n]*\n(.*?)\r\n\r\n", answer, re.MULTILINE | re.DOTALL):
        if match.group(1) == b"100":
            continue
        length = re.search(rb"(?im)^content-length: (\d+)", match.group(2))
        body = 0 if head_request or length is None else int(length.group(1))
        return len(answer) - match.end() >= body
    return False


def exchange(port: int, request: bytes, *, wait: float = WAIT_SECONDS) -> bytes:
    """Send `request` on a fresh connection and read until a whole final response has come, the
    server closes, or it has been quiet for `wait` seconds (it waits for bytes the request promised).

    The client never half-closes: aiohttp drops a connection whose peer sent EOF, answer unwritten.
    """
    head_request = request.startswith(b"HEAD ")
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        try:
            conn.sendall(request)
        except OSError:  # the server closed first: what it said is still readable
            pass
        answer = b""
        try:
            while not _complete(answer, head_request) and (chunk := conn.recv(65536)):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def check_answer(answer: bytes) -> list[int]:
    """The statuses of every response in `answer`; each 4xx/5xx must be the JSON error shape."""
    statuses = [int(code) for code in _STATUS.findall(answer)]
    for response in re.split(rb"(?=^HTTP/\d\.\d \d{3})", answer, flags=re.MULTILINE):
        match = _STATUS.match(response)
        if not match or int(match.group(1)) < 400:
            continue
        head, _, body = response.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower(), response[:400]
        if not body:
            continue  # the answer to a HEAD request: the headers only
        length = re.search(rb"(?i)^content-length: (\d+)", head, re.MULTILINE)
        error = json.loads(body[: int(length.group(1))] if length else body)
        assert set(error) == {"error"} and {"code", "message", "details"} <= set(error["error"]), error
    return statuses


@pytest.fixture
def live_app(runtime: Runtime, seeded: Seeded, db_url: str, redis_url: str) -> Iterator[ThreadedApp]:
    with ThreadedApp(runtime.settings, db_url, redis_url) as app:
        yield app


def test_raw_http_fuzz_never_gets_a_5xx(live_app: ThreadedApp, runtime: Runtime) -> None:
    key = (Path(runtime.settings.data_dir) / "api_key.txt").read_text().strip().encode()
    statuses: Counter[int | str] = Counter()

    @hypothesis.given(request=raw_requests(key))
    @fuzz_settings(EXAMPLES)
    def run(request: bytes) -> None:
        answer = exchange(live_app.port, request)
        try:
            codes = check_answer(answer)
        except (AssertionError, ValueError) as err:
            raise AssertionError(f"{err}\nrequest: {request[:300]!r}\nanswer: {answer[:600]!r}") from None
        statuses.update(codes or ["no answer"])
        assert all(code < 500 for code in codes), (request[:300], answer[:600])

    started = time.monotonic()
    run()
    print(f"\nraw HTTP fuzz: {sum(statuses.values())} answers to {EXAMPLES} requests in "
          f"{time.monotonic() - started:.0f} s: {dict(sorted(statuses.items(), key=str))}")
    assert sum(count for code, count in statuses.items() if isinstance(code, int) and code >= 500) == 0
    healthy = exchange(live_app.port, b"GET /api/system/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert check_answer(healthy) == [200]
