"""aiohttp's own error answers in the API's JSON error shape.

A request the HTTP parser refuses (a malformed request line, a bad header, a smuggling attempt with
both `Content-Length` and `Transfer-Encoding`) never reaches the app or its middlewares: aiohttp's
connection handler answers it itself, as `text/plain`. `ApiRunner` (an `AppRunner`) gives every
connection a handler whose error answers are `{"error": {"code", "message", "details"}}` like the
rest of the API; the status, logging and connection closing stay aiohttp's.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from server.api.errors import HTTP_CODES, error_response


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


class ApiRunner(web.AppRunner):
    """An `AppRunner` whose connections answer malformed requests in the JSON error shape."""

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
