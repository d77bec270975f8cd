"""`GET /api/openapi.json`: the OpenAPI 3.1 document, rendered from the route declarations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server import __version__
from server.api.declare import ENDPOINTS, Call, Routes
from server.api.openapi import openapi_document

routes = Routes("meta")


@dataclass
class DocumentCache:
    """The app's OpenAPI document, rendered on its first request."""

    document: dict[str, Any] | None = None


OPENAPI = web.AppKey("openapi", DocumentCache)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message", "details"}}`."""

    error: ErrorDetail


class OpenApiDocument(BaseModel):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@routes.get("/api/openapi.json", summary="This API's OpenAPI 3.1 document", response=OpenApiDocument)
async def openapi(call: Call) -> dict[str, Any]:
    """Built once per app (it only depends on the code) and cached."""
    cache = call.request.app[OPENAPI]
    if cache.document is None:
        endpoints = list(call.request.app[ENDPOINTS].values())
        cache.document = openapi_document(endpoints, version=__version__, error_model=ErrorBody)
    return cache.document
