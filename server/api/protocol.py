"""aiohttp's own error answers in the API's JSON error shape.

A request the HTTP parser refuses (a malformed request line, a bad header, a smuggling attempt with
both `Content-Length` and `Transfer-Encoding`) never reaches the app or its middlewares, and an
`Expect` header aiohttp does not know is refused before them: aiohttp's connection handler answers
these itself, as `text/plain`. `ApiRunner` (an `AppRunner`) gives every connection a handler whose
error answers are `{"error": {"code", "message", "details"}}` like the rest of the API; the status,
logging and connection closing stay aiohttp's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web

from server.api.errors import HTTP_CODES, error_response, from_http_exception
from server.api.state import SETTINGS
from server.storable import storable


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering its own errors as JSON (same slots: no new state)."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if bytes were already sent
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
        code = HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
        # The parser's message quotes the offending bytes; 5xx details stay in the server log.
        text = phrase if status >= 500 or not message else f"{phrase}: {message.splitlines()[0][:200]}"
        response = error_response(status, code, text)
        response.force_close()
        return response

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """An HTTP error that escaped the app (its `Expect` check) goes out as JSON too."""
        if isinstance(resp, web.HTTPException):
            resp = from_http_exception(resp)
        return await super().finish_response(request, resp, start_time)


def _refuse_expectation(request: web.BaseRequest, body_limit: int) -> web.StreamResponse | None:
    """The answer to an `Expect` the app must not see, before it: 417 for one other than `100-continue`
    (aiohttp's own check builds its text answer from the header, and an undecodable byte there made
    that a 500); 413 for a `100-continue` whose body no route takes (aiohttp would answer "100 Continue"
    as the route matched, and the client send the 10 GB it is refused after)."""
    expect = request.headers.get(hdrs.EXPECT)
    if not expect:
        return None
    if expect.strip().lower() != "100-continue":
        response = error_response(
            417, "expectation_failed", f"unknown expectation '{storable(expect, 100)}': only 100-continue"
        )
    elif request.content_length is not None and request.content_length > body_limit:
        response = error_response(413, "payload_too_large", f"bodies are limited to {body_limit} bytes")
    else:
        return None
    response.force_close()
    return response


class ApiRunner(web.AppRunner):
    """An `AppRunner` whose connections answer malformed requests in the JSON error shape."""

    async def setup(self) -> None:
        await super().setup()
        server = super().server
        assert server is not None
        app_handler = server.request_handler
        body_limit = self.app[SETTINGS].max_ingest_bytes  # the app's client_max_size: the largest body

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            return _refuse_expectation(request, body_limit) or await app_handler(request)

        server.request_handler = handle

    @property
    def server(self) -> Any:
        """The protocol factory sites listen with: aiohttp's, with the JSON error handler class."""
        inner = super().server
        if inner is None:
            return None

        def protocol() -> web.RequestHandler:
            handler = inner()
            handler.__class__ = JsonErrorRequestHandler
            return handler

        return protocol
