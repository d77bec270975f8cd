"""The OpenAPI 3.1 document, rendered from the declared endpoints (JSON Schema 2020-12 from pydantic)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from server.api.declare import Endpoint
from server.api.parse import list_fields

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
    503: "A component the request needs is unavailable (a store restarting): retry later",
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
            parameters += _parameters(endpoint.query, "query", definitions, list_fields(endpoint.query))
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
        codes = set(endpoint.errors) | {400, 413, 503}  # 503: a store away (the error middleware)
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
