"""Route declarations: each resource module's `Routes` table and the `Endpoint`s it declares.

A resource module decorates its handlers with the models of the path parameters, query string, JSON
body and response; that one declaration is what `server.api.registry` installs (parsing and validating
the request before the handler runs, with `server.api.parse`) and what `server.api.openapi` renders,
so the document cannot drift from the code.

A handler takes one `Call` and returns either a `web.StreamResponse` (media, streams) or a JSON-ready
value of the declared response model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.api.state import RUNTIME
from server.runtime import Runtime


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


#: Declared endpoints by operation id (= aiohttp route name): the auth middleware and OpenAPI read them.
ENDPOINTS = web.AppKey("endpoints", dict[str, Endpoint])
