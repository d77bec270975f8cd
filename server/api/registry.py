"""Routes declared once: the same declaration validates requests and writes the OpenAPI 3.1 document.

Each resource module owns a `Routes` table and decorates its handlers with the models of the path
parameters, query string, JSON body and response. The wrapper that `register` installs parses
and validates all of them before the handler runs (so a handler only ever sees valid input), and
`openapi_document` renders the very same declarations, so the document cannot drift from the code.

A handler takes one `Call` and returns either a `web.StreamResponse` (media, streams) or a JSON-ready
value of the declared response model (usually a dict from `server.serialize`).
"""

from __future__ import annotations

import functools
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

from server.api.errors import ApiError, from_validation_error
from server.api.state import RUNTIME, SETTINGS
from server.runtime import Runtime

#: Largest JSON body accepted (rules, zones, previews are small; media goes through /api/ingest).
MAX_JSON_BODY = 1024 * 1024
#: Deepest nesting of lists and objects in a JSON body; the deepest the models need is 4 (zone points).
MAX_JSON_DEPTH = 32


@dataclass
class Call:
    """One validated request, as handlers see it."""

    request: web.Request
    path: Any = None
    query: Any = None
    body: Any = None

    @property
    def runtime(self) -> Runtime:
        return self.request.app[RUNTIME]


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """Everything the wrapper and the OpenAPI writer need to know about one route."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    description: str | None = None
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    #: Content types of a binary (non-JSON) response, e.g. ("image/jpeg",).
    media: tuple[str, ...] = ()
    #: Schemas of structured media among `media` (e.g. an export's `application/json`).
    media_models: dict[str, Any] = field(default_factory=dict)
    #: Content types of a raw request body read by the handler itself (ingest).
    raw_body: tuple[str, ...] = ()
    auth: bool = True
    errors: tuple[int, ...] = ()
    #: Other success/status codes answered with the same JSON schema (e.g. health's 503).
    also: tuple[int, ...] = ()
    websocket: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass
class Routes:
    """The routes of one resource module."""

    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            description = options.pop("description", None) or (handler.__doc__ or "").strip() or None
            self.endpoints.append(
                Endpoint(method, path, handler, summary, self.tag, description=description, **options)
            )
            return handler

        return decorate

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


# --- request parsing -------------------------------------------------------------------------------


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


@functools.cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
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
    lists = _list_fields(model)
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


class ResponseMismatch(RuntimeError):
    """A handler returned something its declared response model does not allow (tests only)."""


def _adapter(response: Any) -> TypeAdapter[Any] | None:
    return None if response is None else TypeAdapter(response)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of a handler result (orjson: datetimes as ISO 8601, UUIDs as text; str() for any
    other stray value). A page of 500 events is encoded in well under a millisecond."""
    return orjson.dumps(value, default=str)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=dumps(value), status=status, content_type="application/json", charset="utf-8"
    )


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = _adapter(endpoint.response)

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
        if adapter is not None and request.app[SETTINGS].validate_responses:
            try:
                adapter.validate_python(result)
            except ValidationError as err:  # our bug, not the client's: must surface as a 500
                raise ResponseMismatch(f"{endpoint.operation_id}: response breaks its model: {err}") from None
        return json_response(result, endpoint.status)

    handle.__name__ = endpoint.operation_id
    handle.__doc__ = endpoint.summary
    return handle


def register(app: web.Application, tables: Iterable[Routes]) -> list[Endpoint]:
    """Add every endpoint to the router; returns them (the auth middleware and OpenAPI read this)."""
    endpoints: list[Endpoint] = []
    for table in tables:
        for endpoint in table.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint), name=endpoint.operation_id)
            endpoints.append(endpoint)
    return endpoints


# --- OpenAPI ----------------------------------------------------------------------------------------

REF_TEMPLATE = "#/components/schemas/{model}"


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is absent, not null: drop `null` from `anyOf` for parameters."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            merged = {key: value for key, value in schema.items() if key != "anyOf"}
            merged.update(kept[0])
            return merged
        if kept:
            return {**schema, "anyOf": kept}
    return schema


def _parameters(
    model: type[BaseModel], location: str, definitions: dict[str, Any], lists: frozenset[str]
) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        definitions.setdefault(name, definition)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": location,
            "required": location == "path" or name in required,
            "schema": prop,
        }
        if name in lists:
            parameter["style"] = "form"
            parameter["explode"] = True
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


ERROR_DESCRIPTIONS = {
    400: "Malformed request (not JSON, bad cursor)",
    401: "Missing, wrong or revoked API key",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Validation error (details lists each field)",
    503: "A component the request needs is unavailable",
}


def openapi_document(
    endpoints: list[Endpoint], *, version: str, error_model: type[BaseModel]
) -> dict[str, Any]:
    """OpenAPI 3.1 for every registered endpoint; JSON Schema 2020-12 straight from pydantic."""
    body_models = {e.body for e in endpoints if e.body is not None}
    response_types = {e.response for e in endpoints if e.response is not None}
    response_types |= {model for e in endpoints for model in e.media_models.values()}
    entries: list[tuple[Any, Any]] = [(model, "validation") for model in body_models]
    adapters: dict[Any, Any] = {}
    for response in response_types:
        if isinstance(response, type) and issubclass(response, BaseModel):
            entries.append((response, "serialization"))
        else:
            adapters[response] = TypeAdapter(response)
    entries.append((error_model, "serialization"))
    keys, schema = models_json_schema(entries, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    definitions: dict[str, Any] = dict(schema.get("$defs", {}))

    def response_schema(response: Any) -> dict[str, Any]:
        if response in adapters:
            inline = adapters[response].json_schema(ref_template=REF_TEMPLATE, mode="serialization")
            for name, definition in inline.pop("$defs", {}).items():
                definitions.setdefault(name, definition)
            return inline
        return keys[(response, "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": endpoint.operation_id,
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
        }
        if endpoint.description:
            operation["description"] = endpoint.description
        parameters: list[dict[str, Any]] = []
        if endpoint.path_params is not None:
            parameters += _parameters(endpoint.path_params, "path", definitions, frozenset())
        if endpoint.query is not None:
            parameters += _parameters(endpoint.query, "query", definitions, _list_fields(endpoint.query))
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(endpoint.body, "validation")]}},
            }
        elif endpoint.raw_body:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}} for media in endpoint.raw_body
                },
            }
        responses: dict[str, Any] = {}
        if endpoint.websocket:
            responses["101"] = {"description": "Switching to the WebSocket protocol"}
        elif endpoint.media:
            responses[str(endpoint.status)] = {
                "description": "Media bytes",
                "content": {
                    media: {
                        "schema": response_schema(endpoint.media_models[media])
                        if media in endpoint.media_models
                        else {"type": "string", "format": "binary"}
                    }
                    for media in endpoint.media
                },
            }
            if "video/mp4" in endpoint.media:
                responses["206"] = {
                    "description": "Partial content (HTTP Range)",
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                }
        elif endpoint.response is None:
            responses["204" if endpoint.status == 200 else str(endpoint.status)] = {"description": "Done"}
        else:
            for code in (endpoint.status, *endpoint.also):
                responses[str(code)] = {
                    "description": "Success" if code < 400 else ERROR_DESCRIPTIONS.get(code, "Error"),
                    "content": {"application/json": {"schema": response_schema(endpoint.response)}},
                }
        codes = set(endpoint.errors) | {400, 413}
        if endpoint.auth:
            codes.add(401)
        if endpoint.path_params is not None:
            codes.add(404)
        if endpoint.path_params or endpoint.query or endpoint.body:
            codes.add(422)
        error_ref = keys[(error_model, "serialization")]
        for code in sorted(codes - set(endpoint.also)):
            responses[str(code)] = {
                "description": ERROR_DESCRIPTIONS.get(code, "Error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        operation["responses"] = responses
        if endpoint.auth:
            operation["security"] = [{"ApiKey": []}]
        else:
            operation["security"] = []
        template = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", endpoint.path)  # aiohttp regex → OpenAPI
        paths.setdefault(template, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Home Security Intelligence API",
            "version": version,
            "description": (
                "Local AI security server for Home Assistant. Every route except "
                "`/api/system/health` needs the `X-API-Key` header. Lists return "
                '`{"items": [...], "next_cursor": str|null}`; pass `cursor` to get the next page.'
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
