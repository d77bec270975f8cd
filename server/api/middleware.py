"""Middlewares, outermost first: request id + JSON errors + access log, then authentication.

The outer one wraps everything, so even a 401 or a router 404 gets a request id, the JSON error shape
and an access-log line. A store or the disk away (PostgreSQL stopped, Redis restarting: the errors
`server.pipeline.faults` calls transient) is a 503 `unavailable` from any route, which clients retry,
not a 500 with a traceback. A failure after a streamed response has started cannot be answered at
all: the connection is closed, so the client sees the transfer cut short.

The access log goes to the process log (logger `server.api.access`, outside the `hsi` tree whose
records the database handler stores): a row per request would make the `logs` table a copy of the
traffic, cost every request a write, and bury the application's own events.
Authentication reads keys from the process's `KeyCache`, not from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from server.api.audit import client_ip, record
from server.api.declare import ENDPOINTS, Endpoint
from server.api.errors import ApiError, error_response, from_http_exception, from_validation_error
from server.api.key_cache import API_KEYS, KeyCheck
from server.api.state import AUTH, REQUEST_ID, RUNTIME, SETTINGS, Principal
from server.logs import USER_AGENT_MAX
from server.models import AuditAction
from server.pipeline.faults import describe, is_transient
from server.storable import storable

_LOGGER = logging.getLogger("hsi.api")
_ACCESS = logging.getLogger("server.api.access")

API_KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-ID"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,36}$")

HandlerType = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _endpoint(request: web.Request) -> Endpoint | None:
    route = request.match_info.route
    name = getattr(route, "name", None)
    return request.app[ENDPOINTS].get(name) if name else None


@web.middleware
async def context_middleware(request: web.Request, handler: HandlerType) -> web.StreamResponse:
    """Request id in and out, every failure as the JSON error shape, one access-log row per request."""
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _CLIENT_REQUEST_ID.match(supplied) else str(uuid.uuid4())
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as err:
        response = error_response(err.status, err.code, err.message, err.details)
    except web.HTTPException as err:
        response = from_http_exception(err)
    except ValidationError as err:  # a model built inside a handler (e.g. ZoneSpec with the path's camera)
        converted = from_validation_error(err, "body")
        response = error_response(converted.status, converted.code, converted.message, converted.details)
    except sa_exc.DataError as err:
        # Input the models let through but PostgreSQL refuses (out-of-range numbers, bad encodings):
        # the client's fault, so a 422, but logged because a model should have caught it.
        _LOGGER.warning("database rejected input of %s %s: %s", request.method, request.path, err.orig)
        response = error_response(422, "invalid_value", "a value is out of the range the database accepts")
    except sa_exc.IntegrityError as err:
        _LOGGER.info("conflict on %s %s: %s", request.method, request.path, err.orig)
        response = error_response(409, "conflict", "the change conflicts with existing data")
    except asyncio.CancelledError:
        raise
    except Exception as err:
        if isinstance(err, ConnectionResetError) and _client_gone(request):
            raise  # nobody to answer; a store's reset (a PostgreSQL over TCP restarting) is answered 503
        if _response_started(request):
            # A streamed response (an export) is under way: a second response would be written into its
            # body. Re-raised, aiohttp closes the connection: the client sees the transfer cut short.
            _LOGGER.warning(
                "%s %s cut short after its response started (request %s): %s",
                request.method, request.path, request_id, describe(err),
            )
            raise
        if is_transient(err):  # a store or the disk away: not a defect, and the client's retry will do
            response = error_response(503, "unavailable", f"the server cannot answer now: {describe(err)}")
        else:
            _LOGGER.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
            response = error_response(500, "internal_error", f"internal error (request id {request_id})")
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    if request.app[SETTINGS].access_log:
        _access_log(request, response.status, time.perf_counter() - started)
    return response


def _response_started(request: web.Request) -> bool:
    """Bytes of the handler's own response have gone out (aiohttp's criterion for not answering again)."""
    return request.writer.output_size > 0


def _client_gone(request: web.Request) -> bool:
    """The client's connection is closed or closing: writing to it is what raised."""
    return request.transport is None or request.transport.is_closing()


def _access_log(request: web.Request, status: int, seconds: float) -> None:
    """One line in the process log: INFO, WARNING for 4xx and 503 (a store away: the client retries, and
    an outage would otherwise write an ERROR per request), ERROR for other 5xx (the process's log level
    applies)."""
    if status >= 500 and status != 503:
        level = logging.ERROR
    else:
        level = logging.WARNING if status >= 400 else logging.INFO
    if not _ACCESS.isEnabledFor(level):
        return
    principal = request.get(AUTH)
    _ACCESS.log(
        level,
        '%s %s %s %.1fms client=%s actor="%s" request_id=%s user_agent="%s"',
        request.method,
        request.path,
        status,
        seconds * 1000,
        client_ip(request),
        principal.actor if principal is not None else "-",
        request.get(REQUEST_ID),
        storable(request.headers.get("User-Agent", ""), USER_AGENT_MAX),  # printable, bounded
    )


class AuthFailures:
    """Recent failed authentications per client address, to slow down key guessing.

    The delay doubles with each failure within `window` seconds (capped), so a client that mistyped
    its key once barely notices, while a guesser gets a few attempts per minute per address. An
    address's keys are checked one at a time (`turn`), and a failed check keeps the turn for its
    delay: guesses sent at once wait for each other as guesses sent one after another do, and the
    answer to any request of that address, a right key too, comes only after the delays before it
    (an answer that came sooner for a right key would tell a guesser which one it was).
    """

    def __init__(self, base_delay: float, *, cap: float = 8.0, window: float = 900.0) -> None:
        self.base_delay = base_delay
        self.cap = cap
        self.window = window
        self._failures: dict[str, tuple[int, float]] = {}
        #: Per address with a check under way: its turn, and how many requests hold or wait for it.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        """Hold the address's one turn to check a key (and, after a failure, to wait its delay)."""
        lock, users = self._turns.get(client, (asyncio.Lock(), 0))
        self._turns[client] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[client]
            if users == 1:
                del self._turns[client]
            else:
                self._turns[client] = (lock, users - 1)

    def delay_for(self, client: str) -> float:
        now = time.monotonic()
        count, last = self._failures.get(client, (0, now))
        count = 1 if now - last > self.window else count + 1
        self._failures[client] = (count, now)
        if len(self._failures) > 10_000:  # forget the oldest half rather than grow without bound
            for key, _ in sorted(self._failures.items(), key=lambda item: item[1][1])[:5_000]:
                del self._failures[key]
        return min(self.cap, self.base_delay * 2 ** (count - 1))

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)


def presented_key(request: web.Request) -> str | None:
    """The key from `X-API-Key` only: a key in a query string (once allowed on the WebSocket) ends up
    in proxy logs, browser history and `Referer` headers."""
    return request.headers.get(API_KEY_HEADER) or None


async def checked_key(request: web.Request) -> KeyCheck:
    """The request's key checked as every route checks one: one check at a time per address, and a
    failure audited (a failed LOGIN) and answered only after the address's growing delay, so that no
    route, the open health route included, lets keys be guessed at speed or unseen."""
    runtime = request.app[RUNTIME]
    failures = request.app[AUTH_FAILURES]
    client = client_ip(request) or "unknown"
    async with failures.turn(client):
        check = await request.app[API_KEYS].check(presented_key(request))
        if check.ok:
            failures.succeeded(client)
            return check
        async with runtime.database.sessions() as session:
            record(
                session,
                request,
                AuditAction.LOGIN,
                "api_key",
                check.key.id if check.key is not None else None,
                details={"reason": check.reason, "method": request.method, "path": request.path},
                success=False,
                actor=Principal(check.key.id, check.key.name).actor if check.key is not None else "anonymous",
            )
            await session.commit()
        await asyncio.sleep(failures.delay_for(client))
    return check


@web.middleware
async def auth_middleware(request: web.Request, handler: HandlerType) -> web.StreamResponse:
    """Every declared route needs a valid, active key unless it is declared open (`auth=False`)."""
    endpoint = _endpoint(request)
    runtime = request.app[RUNTIME]
    if endpoint is None or not endpoint.auth or not runtime.settings.api_key_enabled:
        if endpoint is not None and not runtime.settings.api_key_enabled:
            request[AUTH] = Principal(None, "anonymous")
        return await handler(request)
    check = await checked_key(request)
    if check.ok and check.key is not None:
        request[AUTH] = Principal(check.key.id, check.key.name)
    if not check.ok:
        messages = {
            "missing": f"an API key is required (header {API_KEY_HEADER})",
            "invalid": "the API key is not valid",
            "revoked": "the API key has been revoked",
        }
        raise ApiError(401, "unauthorized", messages[check.reason or "invalid"], {"reason": check.reason})
    return await handler(request)
