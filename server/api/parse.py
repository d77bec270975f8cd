"""Request parsing: path, query and JSON body validated against an endpoint's declared models.

Query strings and path parameters are text, validated laxly ("10" is a number there); a JSON body is
validated strictly ("5" is not a number, unknown fields are errors). Bodies are bounded in size and
nesting before anything recursive reads them, and NUL characters (which PostgreSQL text cannot hold)
are refused up front as a 422.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.api.errors import ApiError, from_validation_error

#: Largest JSON body accepted (rules, zones, previews are small; media goes through /api/ingest).
MAX_JSON_BODY = 1024 * 1024
#: Deepest nesting of lists and objects in a JSON body; the deepest the models need is 4 (zone points).
MAX_JSON_DEPTH = 32


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


@functools.cache
def list_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields that take repeated query keys (`?type=a&type=b`); computed once per model."""
    return frozenset(name for name, info in model.model_fields.items() if _is_list(info.annotation))


def reject_nul(value: Any, location: str, path: str = "") -> None:
    """PostgreSQL text cannot hold NUL characters: refuse them up front (a 422, not a database error)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ApiError(
                422,
                "validation_error",
                f"{path or location}: NUL characters are not allowed",
                [{"field": path or location, "message": "NUL characters are not allowed", "in": location}],
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, location, path)
            reject_nul(item, location, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_nul(item, location, f"{path}.{index}" if path else str(index))


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    """Query strings are text: lax validation converts "10"/"true"; list fields take repeated keys."""
    lists = list_fields(model)
    reject_nul(dict(request.query), "query")
    data: dict[str, Any] = {}
    for key in set(request.query.keys()):
        values = request.query.getall(key)
        data[key] = values if key in lists else values[-1] if len(values) == 1 else values
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise from_validation_error(err, "query") from None


def parse_path(model: type[BaseModel], request: web.Request) -> BaseModel:
    reject_nul(dict(request.match_info), "path")
    try:
        return model.model_validate(dict(request.match_info))
    except ValidationError as err:
        raise from_validation_error(err, "path") from None


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"JSON bodies are limited to {MAX_JSON_BODY} bytes")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body (to its declared length, or to the end of a chunked one), refusing more than
    `limit` bytes: 413 at once for a larger `Content-Length`, else as soon as the bytes pass it."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large()
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise _too_large()
    return bytes(body)


def _depth_within(value: Any, limit: int) -> bool:
    """No list or object in `value` nests deeper than `limit` (iterative: any depth is safe to ask)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def _too_deep() -> ApiError:
    return ApiError(400, "invalid_json", f"the JSON body is nested too deep (at most {MAX_JSON_DEPTH} levels)")


async def read_json(request: web.Request) -> Any:
    """The JSON body, with 413 past MAX_JSON_BODY and 400 for anything that is not JSON or nests
    deeper than MAX_JSON_DEPTH (recursive code further on — validation, the NUL check — stays safe)."""
    raw = await read_body(request, MAX_JSON_BODY)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "a JSON body is required")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {err}") from None
    if not _depth_within(data, MAX_JSON_DEPTH):
        raise _too_deep()
    return data


async def parse_body(model: type[BaseModel], request: web.Request) -> BaseModel:
    """Strict JSON validation: "5" is not a number and unknown fields are errors (models forbid extras)."""
    data = await read_json(request)
    reject_nul(data, "body")
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as err:
        raise from_validation_error(err, "body") from None
