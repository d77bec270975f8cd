"""The one error shape of the API: `{"error": {"code", "message", "details"}}` with a 4xx/5xx status.

Handlers raise `ApiError` (or one of the helpers below); the error middleware turns it, aiohttp's own
`HTTPException`s and pydantic `ValidationError`s into that shape, so a client never has to parse an HTML
error page, and bad input never surfaces as a 500.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError


class ApiError(Exception):
    """An error answered to the client; `details` is JSON (for 422: `[{"field", "message", "in"}]`)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str, key: object) -> ApiError:
    """404 for an id that does not exist (or is not visible), naming the resource."""
    return ApiError(404, "not_found", f"{what} {key!s} not found")


def conflict(message: str, details: Any = None) -> ApiError:
    return ApiError(409, "conflict", message, details)


def invalid(field: str, message: str, *, location: str = "body") -> ApiError:
    """422 for one field, in the same shape pydantic's errors produce."""
    return ApiError(422, "validation_error", message, [{"field": field, "message": message, "in": location}])


def from_validation_error(err: ValidationError, location: str) -> ApiError:
    """422 listing every problem: `field` is the dotted path inside the body/query/path."""
    details = []
    for problem in err.errors(include_url=False):
        loc = [str(part) for part in problem.get("loc", ())]
        details.append(
            {
                "field": ".".join(loc) if loc else location,
                "message": str(problem.get("msg", "invalid")).removeprefix("Value error, "),
                "in": location,
            }
        )
    first = details[0] if details else {"field": location, "message": "invalid input"}
    message = f"invalid {location}: {first['field']}: {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return ApiError(422, "validation_error", message, details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(error_body(code, message, details), default=str),
        content_type="application/json",
        charset="utf-8",
    )


#: aiohttp's own error statuses (router, body readers, HTTP parser) mapped to stable codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def from_http_exception(err: web.HTTPException) -> web.StreamResponse:
    """Keep aiohttp's status, but give it the JSON body (redirects and 304s pass through untouched)."""
    if err.status < 400:
        return err
    code = HTTP_CODES.get(err.status, "http_error")
    response = error_response(err.status, code, err.reason or code.replace("_", " "))
    for name in ("Allow", "Content-Range"):
        if name in err.headers:
            response.headers[name] = err.headers[name]
    return response
