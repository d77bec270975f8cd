"""`GET /api/openapi.json`: the OpenAPI 3.1 document, rendered from the route declarations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server import __version__
from server.api.declare import ENDPOINTS, Call, Endpoint, Routes
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


def build_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The document of these endpoints: the app's, or every route table's (scripts/ha/gen_api_types.py
    renders the integration's wire types from it)."""
    return openapi_document(list(endpoints), version=__version__, error_model=ErrorBody)


@routes.get("/api/openapi.json", summary="This API's OpenAPI 3.1 document", response=OpenApiDocument)
async def openapi(call: Call) -> dict[str, Any]:
    """Built once per app (it only depends on the code) and cached."""
    cache = call.request.app[OPENAPI]
    if cache.document is None:
        cache.document = build_document(call.request.app[ENDPOINTS].values())
    return cache.document
