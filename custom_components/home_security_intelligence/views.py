"""Authenticated proxy for the server's media, and signed URLs to it.

The server's media needs its API key, which must never reach a browser or a phone. HA serves
the media instead, under its own auth, streamed (a clip is never held whole in memory) with
``Range`` and the validators passed through, so players can seek. Mobile notifications cannot
send HA's bearer token with an attachment URL, so they get a signed path (``authSig``), valid
for ``SIGNED_URL_TTL`` and only for that one path, made on demand (the ``get_media_url``
action): bus events and entity attributes carry the unsigned path only, because whatever is on
the bus ends up in the recorder's database, where a signature would outlive its purpose.
"""

from __future__ import annotations

from datetime import timedelta
import re
from aiohttp import hdrs, web

from homeassistant.components.http.auth import async_sign_path
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView

from .api import HSIClient, HSIError
from .const import DOMAIN, SIGNED_URL_TTL

PROXY_PREFIX = f"/api/{DOMAIN}"
# Only these server paths can be reached through the proxy: media, nothing else. Camera ids are
# the server's (``[a-z0-9_]``, at most 100): no dots, so no ``..``.
ALLOWED_MEDIA = re.compile(
    r"^(detections/\d+/thumbnail|events/\d+/(?:clip|thumbnail)|cameras/[a-z0-9_]{1,100}/snapshot)$"
)
# Request headers passed on to the server, and answer headers passed back.
FORWARDED_REQUEST = (hdrs.RANGE, hdrs.IF_RANGE, hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE)
FORWARDED_ANSWER = (
    hdrs.CONTENT_TYPE,
    hdrs.CONTENT_LENGTH,
    hdrs.CONTENT_RANGE,
    hdrs.ACCEPT_RANGES,
    hdrs.ETAG,
    hdrs.LAST_MODIFIED,
)
CHUNK_BYTES = 64 * 1024


def media_of_proxy_path(path: str) -> tuple[str, str] | None:
    """(entry id, media path under ``/api``) of an HA proxy path; None if it is not one."""
    entry_id, _, media = path.removeprefix(PROXY_PREFIX + "/").partition("/")
    if not path.startswith(PROXY_PREFIX + "/") or not entry_id or not ALLOWED_MEDIA.match(media):
        return None
    return entry_id, media


def proxy_path(entry_id: str, server_path: str) -> str | None:
    """The HA path proxying a server media path (``/api/...``), or None if not media."""
    relative = server_path.removeprefix("/api/")
    if not ALLOWED_MEDIA.match(relative):
        return None
    return f"{PROXY_PREFIX}/{entry_id}/{relative}"


def signed_media_url(
    hass: HomeAssistant,
    entry_id: str,
    server_path: str | None,
    *,
    expiration: timedelta = SIGNED_URL_TTL,
    refresh_token_id: str | None = None,
) -> str | None:
    """Signed proxy path for a server media path, or None when there is no media.

    Signed for HA's content user (notifications, which have no session) unless a refresh token
    is given: the card's URLs are signed for the signed-in user's session, so they die with it.
    """
    if not server_path or (path := proxy_path(entry_id, server_path)) is None:
        return None
    if refresh_token_id is not None:
        return async_sign_path(hass, path, expiration, refresh_token_id=refresh_token_id)
    return async_sign_path(hass, path, expiration, use_content_user=True)


class HSIMediaProxyView(HomeAssistantView):
    """Serve thumbnails, clips and snapshots of a configured server to authenticated users."""

    url = PROXY_PREFIX + "/{entry_id}/{path:.+}"
    name = f"api:{DOMAIN}:media"
    requires_auth = True

    async def get(self, request: web.Request, entry_id: str, path: str) -> web.StreamResponse:
        """Stream the media from the server with the entry's key."""
        hass: HomeAssistant = request.app["hass"]
        entry = hass.config_entries.async_get_entry(entry_id)
        if (
            entry is None
            or entry.domain != DOMAIN
            or entry.state is not ConfigEntryState.LOADED
            or not ALLOWED_MEDIA.match(path)
        ):
            raise web.HTTPNotFound
        # The entry's runtime data is the coordinator; the proxy needs only its client (and importing
        # the coordinator here would tie the two modules in a cycle: it signs URLs with this one).
        client: HSIClient = entry.runtime_data.client
        forwarded = {
            str(name): request.headers[name] for name in FORWARDED_REQUEST if name in request.headers
        }
        response = web.StreamResponse()
        try:
            async with client.media_stream(f"/api/{path}", forwarded) as upstream:
                if upstream.status == 404:
                    raise web.HTTPNotFound
                response.set_status(upstream.status)
                for name in FORWARDED_ANSWER:
                    if name in upstream.headers:
                        response.headers[name] = upstream.headers[name]
                response.headers[hdrs.CACHE_CONTROL] = "private, max-age=300"
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                    await response.write(chunk)
        except HSIError as err:
            if response.prepared:  # cut off half-way (either side): nothing left to answer
                response.force_close()
                return response
            raise web.HTTPBadGateway(text=str(err)) from err
        await response.write_eof()
        return response
