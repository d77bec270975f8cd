"""Authenticated proxy for the server's media, and signed URLs to it.

The server's media needs its API key, which must never reach a browser or a phone. HA serves
the media instead, under its own auth; mobile notifications cannot send HA's bearer token with
an attachment URL, so they get a signed path (``authSig``), valid for a limited time and only
for that one path.
"""

from __future__ import annotations

from datetime import timedelta
import re
from typing import TYPE_CHECKING

from aiohttp import web

from homeassistant.components.http.auth import async_sign_path
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView

from .api import HSIError
from .const import DOMAIN, SIGNED_URL_TTL

if TYPE_CHECKING:
    from .coordinator import HSICoordinator

PROXY_PREFIX = f"/api/{DOMAIN}"
# Only these server paths can be reached through the proxy: media, nothing else.
ALLOWED_MEDIA = re.compile(
    r"^(detections/\d+/thumbnail|events/\d+/(?:clip|thumbnail)|cameras/[A-Za-z0-9_.-]+/snapshot)$"
)


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

    async def get(self, request: web.Request, entry_id: str, path: str) -> web.Response:
        """Fetch the media from the server with the entry's key and pass it on."""
        hass: HomeAssistant = request.app["hass"]
        entry = hass.config_entries.async_get_entry(entry_id)
        if (
            entry is None
            or entry.domain != DOMAIN
            or entry.state is not ConfigEntryState.LOADED
            or not ALLOWED_MEDIA.match(path)
        ):
            raise web.HTTPNotFound
        coordinator: HSICoordinator = entry.runtime_data
        try:
            result = await coordinator.client.media(f"/api/{path}")
        except HSIError as err:
            raise web.HTTPBadGateway(text=str(err)) from err
        if result is None:
            raise web.HTTPNotFound
        body, content_type = result
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"Cache-Control": "private, max-age=300"},
        )
