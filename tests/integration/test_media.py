"""Media source and the authenticated, signable media proxy."""

from __future__ import annotations

from aiohttp import web
import pytest

from homeassistant.components import media_source
from homeassistant.components.media_source import Unresolvable
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.const import DOMAIN

from .fake_server import JPEG, MP4, FakeServer

ROOT = f"media-source://{DOMAIN}"


@pytest.fixture
async def media(hass: HomeAssistant) -> None:
    """The media_source component."""
    assert await async_setup_component(hass, "media_source", {})
    await hass.async_block_till_done()


async def test_browse(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, media: None
) -> None:
    """Servers → cameras → events (clip when there is one, else thumbnail)."""
    root = await media_source.async_browse_media(hass, ROOT)
    assert [c.identifier for c in root.children] == [loaded_entry.entry_id]
    cameras = await media_source.async_browse_media(hass, f"{ROOT}/{loaded_entry.entry_id}")
    assert [c.title for c in cameras.children] == ["Front door", "Garage"]
    events = await media_source.async_browse_media(hass, f"{ROOT}/{loaded_entry.entry_id}/front_door")
    by_id = {c.identifier: c for c in events.children}
    clip = by_id[f"{loaded_entry.entry_id}/clip/10"]
    assert clip.media_content_type == "video/mp4" and "high 72" in clip.title
    assert clip.thumbnail and "authSig=" in clip.thumbnail
    assert by_id[f"{loaded_entry.entry_id}/thumbnail/100"].media_content_type == "image/jpeg"
    # An event with neither clip nor thumbnail is not listed.
    server.events[11]["thumbnail_url"] = None
    events = await media_source.async_browse_media(hass, f"{ROOT}/{loaded_entry.entry_id}/front_door")
    assert len(events.children) == 1


async def test_browse_errors(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, server: FakeServer, media: None
) -> None:
    """Unknown servers, cameras and paths, and a failing server, are unresolvable."""
    entry_id = loaded_entry.entry_id
    for identifier in ("nope", f"{entry_id}/nocam", f"{entry_id}/a/b/c"):
        with pytest.raises(Unresolvable):
            await media_source.async_browse_media(hass, f"{ROOT}/{identifier}")
    server.fail[("GET", "/api/events")] = lambda: web.Response(status=503)
    with pytest.raises(Unresolvable):
        await media_source.async_browse_media(hass, f"{ROOT}/{entry_id}/front_door")


async def test_resolve_and_fetch_signed(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    media: None,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Resolved items are signed proxy URLs that work without a bearer token."""
    entry_id = loaded_entry.entry_id
    clip = await media_source.async_resolve_media(hass, f"{ROOT}/{entry_id}/clip/10", None)
    thumb = await media_source.async_resolve_media(hass, f"{ROOT}/{entry_id}/thumbnail/100", None)
    assert clip.mime_type == "video/mp4" and thumb.mime_type == "image/jpeg"
    client = await hass_client_no_auth()
    response = await client.get(clip.url)
    assert response.status == 200 and await response.read() == MP4
    response = await client.get(thumb.url)
    assert await response.read() == JPEG
    # Unsigned, the proxy refuses.
    response = await client.get(clip.url.split("?")[0])
    assert response.status == 401
    for bad in ("x/clip/1", f"{entry_id}/clip/abc", f"{entry_id}/other/1", entry_id):
        with pytest.raises(Unresolvable):
            await media_source.async_resolve_media(hass, f"{ROOT}/{bad}", None)


async def test_proxy_view(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    server: FakeServer,
    hass_client: ClientSessionGenerator,
) -> None:
    """The proxy serves media only: allowed paths, known loaded entries, 404 and 502 passed on."""
    client = await hass_client()
    base = f"/api/{DOMAIN}/{loaded_entry.entry_id}"
    response = await client.get(f"{base}/cameras/front_door/snapshot")
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert (await client.get(f"{base}/events/11/clip")).status == 404
    assert (await client.get(f"{base}/system/stats")).status == 404
    assert (await client.get(f"/api/{DOMAIN}/unknown/events/10/clip")).status == 404
    server.fail[("GET", "/api/events/10/clip")] = lambda: web.Response(status=503)
    assert (await client.get(f"{base}/events/10/clip")).status == 502
