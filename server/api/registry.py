"""Installs declared endpoints on the router: each request is parsed and validated (`server.api.parse`)
before its handler runs, so a handler only ever sees valid input; its result is validated against the
endpoint's declared response model and encoded from that (`server.wire`: rows become the resource's
shape there), so no response leaves in a shape the OpenAPI document does not declare.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from server.api.declare import Call, Endpoint, Routes
from server.api.errors import ApiError
from server.api.pagination import Page
from server.api.parse import parse_body, parse_path, parse_query
from server.wire import Wire, is_row


class ResponseMismatch(RuntimeError):
    """A handler returned something its declared response model does not allow: our bug, a 500."""


def _adapter(response: Any) -> TypeAdapter[Any] | None:
    return None if response is None else TypeAdapter(response)


def _rows_model(response: Any) -> type[Wire] | None:
    """The item model of a `Page` whose driver rows are written straight to JSON, or None."""
    metadata = getattr(response, "__pydantic_generic_metadata__", None)
    if metadata is None or metadata["origin"] is not Page:
        return None
    (item,) = metadata["args"]
    return item if isinstance(item, type) and issubclass(item, Wire) and item.rows_as_json else None


def _rows_page(model: type[Wire], result: Any, operation_id: str) -> bytes | None:
    """A page of driver rows as JSON (None when the items are not all rows)."""
    if type(result) is not dict or not all(is_row(row) for row in result["items"]):
        return None
    try:
        items = model.json_rows(result["items"])
    except KeyError as err:
        raise ResponseMismatch(f"{operation_id}: the rows lack the column {err}") from None
    try:
        page = {"items": items, "next_cursor": result["next_cursor"]}
        return orjson.dumps(page, default=_uuid_text, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError as err:
        raise ResponseMismatch(f"{operation_id}: {err}") from None


def _uuid_text(value: Any) -> str:
    """asyncpg's own UUIDs (a `uuid.UUID` subclass orjson does not take); any other type is a bug."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def json_response(value: Any, status: int = 200) -> web.Response:
    """A response of an undeclared shape (orjson: datetimes as ISO 8601, UUIDs as text)."""
    return _json(orjson.dumps(value, default=str), status)


def _json(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = _adapter(endpoint.response)
    rows_model = _rows_model(endpoint.response)

    async def handle(request: web.Request) -> web.StreamResponse:
        call = Call(request)
        if endpoint.path_params is not None:
            call.path = parse_path(endpoint.path_params, request)
        if endpoint.query is not None:
            call.query = parse_query(endpoint.query, request)
        elif request.query and not endpoint.websocket:
            unknown = sorted(request.query.keys())
            raise ApiError(
                422,
                "validation_error",
                f"unknown query parameter(s): {', '.join(unknown)}",
                [{"field": name, "message": "unknown query parameter", "in": "query"} for name in unknown],
            )
        if endpoint.body is not None:
            call.body = await parse_body(endpoint.body, request)
        result = await endpoint.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None and endpoint.response is None:
            return web.Response(status=204 if endpoint.status == 200 else endpoint.status)
        if adapter is None:
            return json_response(result, endpoint.status)
        body = None if rows_model is None else _rows_page(rows_model, result, endpoint.operation_id)
        if body is not None:
            return _json(body, endpoint.status)
        try:
            shaped = adapter.validate_python(result)
        except ValidationError as err:  # our bug, not the client's: must surface as a 500
            raise ResponseMismatch(f"{endpoint.operation_id}: response breaks its model: {err}") from None
        # Only what the handler gave: a stored document (a rule's schedule, a camera's filters) comes
        # back as it was written, not padded with its model's unset defaults.
        return _json(adapter.dump_json(shaped, exclude_unset=True), endpoint.status)

    handle.__name__ = endpoint.operation_id
    handle.__doc__ = endpoint.summary
    return handle


def register(app: web.Application, tables: Iterable[Routes]) -> list[Endpoint]:
    """Add every endpoint to the router; returns them (the auth middleware and OpenAPI read this)."""
    endpoints: list[Endpoint] = []
    for table in tables:
        for endpoint in table.endpoints:
            handler, name = _wrap(endpoint), endpoint.operation_id
            if endpoint.method == "GET":  # HEAD too (players probe a clip's size), on the same resource:
                app.router.add_get(endpoint.path, handler, name=name, allow_head=True)  # the same auth
            else:
                app.router.add_route(endpoint.method, endpoint.path, handler, name=name)
            endpoints.append(endpoint)
    return endpoints
