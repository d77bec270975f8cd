"""Media source and the authenticated, signable media proxy, serving a real server's thumbnails and clips."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
import subprocess
from typing import Any

import pytest

from homeassistant.components import media_source
from homeassistant.components.media_source import Unresolvable
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence import media_source as hsi_media_source
from custom_components.home_security_intelligence.const import DOMAIN
from custom_components.home_security_intelligence.media_source import short_time
from custom_components.home_security_intelligence.views import ALLOWED_MEDIA

from .hsi_server import PEOPLE_PHOTO, REPO, SERVER_PYTHON, HSIServer, eventually

ROOT = f"media-source://{DOMAIN}"
TIMEOUT = 60.0
LoadEntry = Callable[[], Awaitable[MockConfigEntry]]

# PyAV lives in the server's venv only: the clip is made there, like tests/support/media.py's
# write_h264_clip, but of the people photo so that the detector finds people in its frames.
_CLIP_SCRIPT = """
import sys
import av
import numpy as np
from PIL import Image

frame = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
height, width = frame.shape[:2]
with av.open(sys.argv[2], mode="w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    for index in range(30):
        picture = frame.copy()
        picture[0, index] = 255  # frames differ a little, as a camera's do
        video_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        video_frame.pts = index
        container.mux(stream.encode(video_frame))
    container.mux(stream.encode(None))
"""


@pytest.fixture(scope="module")
def people_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 3 s H.264 mp4 of the people photo."""
    path = tmp_path_factory.mktemp("clip") / "people.mp4"
    subprocess.run(
        [str(SERVER_PYTHON), "-c", _CLIP_SCRIPT, str(PEOPLE_PHOTO), str(path)],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    return path.read_bytes()


@pytest.fixture
async def media(hass: HomeAssistant) -> None:
    """The media_source component."""
    assert await async_setup_component(hass, "media_source", {})
    await hass.async_block_till_done()


async def clip_event(server: HSIServer, clip: bytes) -> dict[str, Any]:
    """A driveway camera's event made from a video upload: it has a clip."""
    server.upload("Driveway", clip, "motion.mp4")

    async def event_with_clip() -> dict[str, Any] | None:
        cameras = {camera["id"] for camera in await server.items("/api/cameras")}
        if "driveway" not in cameras:
            return None
        events = [event for event in await server.events("driveway") if event["has_clip"]]
        return events[0] if events else None

    return await eventually(event_with_clip, TIMEOUT, f"an event with a clip\n{server.log_tail()}")


async def test_browse(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, media: None, people_clip: bytes
) -> None:
    """One server: its cameras at the top (no server level), then events: a clip when the event has
    one, else its thumbnail, titled with the time, the server's own risk level and score, and the
    summary; cameras without events are empty."""
    photo_event = await hsi_server.upload_and_wait("Front Door", "front_door")
    video_event = await clip_event(hsi_server, people_clip)
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Attic"}, expect=201)
    entry = await load_entry()

    for identifier in (ROOT, f"{ROOT}/{entry.entry_id}"):  # the root, and the server's own folder
        cameras = await media_source.async_browse_media(hass, identifier)
        assert [c.title for c in cameras.children] == ["Attic", "Driveway", "Front Door"]
        assert [c.identifier for c in cameras.children] == [
            f"{entry.entry_id}/attic", f"{entry.entry_id}/driveway", f"{entry.entry_id}/front_door",
        ]

    front = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}/front_door")
    (item,) = front.children
    assert item.identifier == f"{entry.entry_id}/thumbnail/{photo_event['id']}"
    assert front.children_media_class == "image"  # a camera of snapshots: pictures ("video" before)
    # "14:22 · Low risk (12) · <summary>": the event's start in Home Assistant's time zone (the
    # server's times are UTC), its risk level and score as the calendar says them, its summary.
    assert hass.config.time_zone != "UTC"
    started = dt_util.as_local(dt_util.parse_datetime(photo_event["started_at"], raise_on_error=True))
    when, risk, summary = item.title.split(" · ", 2)
    assert when.endswith(f"{started:%H:%M}")
    assert risk == f"{photo_event['risk_level'].capitalize()} risk ({photo_event['risk_score']})"
    assert summary == photo_event["summary"] and summary
    assert item.media_content_type == "image/jpeg" and item.can_play
    assert item.thumbnail and "authSig=" in item.thumbnail

    driveway = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}/driveway")
    clips = [c for c in driveway.children if c.identifier == f"{entry.entry_id}/clip/{video_event['id']}"]
    assert len(clips) == 1
    assert clips[0].media_content_type == "video/mp4"
    assert f"{video_event['risk_level'].capitalize()} risk ({video_event['risk_score']})" in clips[0].title
    assert clips[0].thumbnail and "authSig=" in clips[0].thumbnail

    attic = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}/attic")
    assert attic.children == []


async def test_browse_with_two_servers_starts_with_the_servers(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    media: None,
    server_template: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """With several servers the root lists them (each then lists its cameras)."""
    template, api_key = server_template
    other = HSIServer(tmp_path / "second", template, api_key)
    await other.start()
    try:
        entry = await load_entry()
        second = MockConfigEntry(domain=DOMAIN, title="Cabin", unique_id=other.instance_id, data=other.entry_data)
        second.add_to_hass(hass)
        assert await hass.config_entries.async_setup(second.entry_id)
        root = await media_source.async_browse_media(hass, ROOT)
        assert sorted((c.identifier, c.title) for c in root.children) == sorted(
            [(entry.entry_id, entry.title), (second.entry_id, "Cabin")]
        )
        assert all(c.can_expand for c in root.children)
        await hass.config_entries.async_unload(second.entry_id)
    finally:
        await other.stop()


async def test_browse_pages_past_the_first_events(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    media: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A camera's events come a page at a time, newest first, each page ending in "Older events"
    while there are more (pages of 50; 1 here, so that two events need two pages)."""
    monkeypatch.setattr(hsi_media_source, "EVENTS_PER_PAGE", 1)
    first = await hsi_server.upload_and_wait("Front Door", "front_door")
    second = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()

    newest = await media_source.async_browse_media(hass, f"{ROOT}/{entry.entry_id}/front_door")
    event_item, older = newest.children
    assert event_item.identifier == f"{entry.entry_id}/thumbnail/{second['id']}"
    assert (older.title, older.can_expand, older.can_play) == ("Older events", True, False)
    assert older.identifier.startswith(f"{entry.entry_id}/front_door/older/")

    page = await media_source.async_browse_media(hass, f"{ROOT}/{older.identifier}")
    assert page.identifier == older.identifier
    assert [c.identifier for c in page.children] == [f"{entry.entry_id}/thumbnail/{first['id']}"]


def test_short_times_say_when_in_as_few_characters_as_needed() -> None:
    now = datetime(2026, 12, 3, 18, 0)  # a Thursday
    assert short_time(datetime(2026, 12, 3, 14, 22), now) == "14:22"
    assert short_time(datetime(2026, 11, 30, 9, 5), now) == "Mon 09:05"
    assert short_time(datetime(2026, 11, 26, 9, 5), now) == "26 Nov 09:05"
    assert short_time(datetime(2025, 12, 24, 23, 59), now) == "24 Dec 2025 23:59"


async def test_browse_errors(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, media: None
) -> None:
    """Unknown servers, cameras and paths, and a stopped server, are unresolvable, with translated
    messages."""
    await hsi_server.request("POST", "/api/cameras", json_body={"name": "Front Door"}, expect=201)
    entry = await load_entry()
    entry_id = entry.entry_id
    for identifier, key, message in (
        ("nope", "media_unknown_server", "No loaded Home Security Intelligence server with entry id nope"),
        (f"{entry_id}/nocam", "media_unknown_camera", "The server has no camera nocam"),
        (f"{entry_id}/a/b/c", "media_not_browsable",
         f"Not a folder of Home Security Intelligence media: {entry_id}/a/b/c"),
    ):
        with pytest.raises(Unresolvable) as err:
            await media_source.async_browse_media(hass, f"{ROOT}/{identifier}")
        assert (err.value.translation_domain, err.value.translation_key) == (DOMAIN, key)
        assert str(err.value) == message
    assert (await media_source.async_browse_media(hass, f"{ROOT}/{entry_id}/front_door")).children == []

    await hsi_server.stop()
    with pytest.raises(Unresolvable, match="^Could not reach the server: ") as err:
        await media_source.async_browse_media(hass, f"{ROOT}/{entry_id}/front_door")
    assert err.value.translation_key == "cannot_connect"


async def test_resolve_and_fetch_signed(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    media: None,
    people_clip: bytes,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Resolved items are signed proxy URLs that serve the server's very bytes without a bearer token."""
    video_event = await clip_event(hsi_server, people_clip)
    photo_event = await hsi_server.upload_and_wait("Front Door", "front_door")
    # Event and detection ids differ, so a thumbnail of the wrong kind of id cannot pass.
    assert photo_event["id"] not in photo_event["detection_ids"]
    entry = await load_entry()
    entry_id = entry.entry_id

    clip = await media_source.async_resolve_media(hass, f"{ROOT}/{entry_id}/clip/{video_event['id']}", None)
    thumb = await media_source.async_resolve_media(
        hass, f"{ROOT}/{entry_id}/thumbnail/{photo_event['id']}", None
    )
    assert clip.mime_type == "video/mp4" and thumb.mime_type == "image/jpeg"
    client = await hass_client_no_auth()
    response = await client.get(clip.url)
    assert response.status == 200 and response.content_type == "video/mp4"
    body = await response.read()
    assert body[4:8] == b"ftyp"
    assert body == await hsi_server.request_bytes(f"/api/events/{video_event['id']}/clip")
    # Finding: the proxy read whole clips into memory and ignored Range: players could not seek.
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(body)
    part = await client.get(clip.url, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    beyond = await client.get(clip.url, headers={"Range": f"bytes={len(body)}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"
    cached = await client.get(clip.url, headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status == 304
    response = await client.get(thumb.url)
    assert response.status == 200 and response.content_type == "image/jpeg"
    body = await response.read()
    assert body[:2] == b"\xff\xd8"
    assert body == await hsi_server.request_bytes(f"/api/events/{photo_event['id']}/thumbnail")

    # Unsigned, or signed for another path, the proxy refuses.
    assert (await client.get(clip.url.split("?")[0])).status == 401
    query = clip.url.split("?")[1]
    other = f"/api/{DOMAIN}/{entry_id}/events/{photo_event['id']}/thumbnail?{query}"
    assert (await client.get(other)).status == 401
    for bad in (f"{entry_id}/clip/abc", f"{entry_id}/other/1", entry_id):
        with pytest.raises(Unresolvable, match=f"^Not a playable Home Security Intelligence media item: {bad}$"):
            await media_source.async_resolve_media(hass, f"{ROOT}/{bad}", None)
    with pytest.raises(Unresolvable) as err:
        await media_source.async_resolve_media(hass, f"{ROOT}/x/clip/1", None)
    assert err.value.translation_key == "media_unknown_server"


async def test_proxy_view(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    load_entry: LoadEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The proxy serves media only: allowed paths of known loaded entries, the server's 404s and a
    stopped server (502) passed on."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    client = await hass_client()
    base = f"/api/{DOMAIN}/{entry.entry_id}"

    response = await client.get(f"{base}/cameras/front_door/snapshot")
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert await response.read() == await hsi_server.request_bytes("/api/cameras/front_door/snapshot")
    (detection_id, *_) = event["detection_ids"]
    response = await client.get(f"{base}/detections/{detection_id}/thumbnail")
    assert response.status == 200
    assert await response.read() == await hsi_server.request_bytes(f"/api/detections/{detection_id}/thumbnail")
    assert response.headers["Cache-Control"].startswith("private")

    assert (await client.get(f"{base}/events/{event['id']}/clip")).status == 404  # a photo: no clip
    assert (await client.get(f"{base}/events/{event['id'] + 1000}/thumbnail")).status == 404
    assert (await client.get(f"{base}/system/stats")).status == 404  # not media: never proxied
    # Finding: the path pattern let `..` through as a camera id.
    assert ALLOWED_MEDIA.match("cameras/../snapshot") is None
    assert ALLOWED_MEDIA.match("cameras/front_door/snapshot") is not None
    assert (await client.get(f"{base}/cameras/%2E%2E/snapshot")).status == 404
    assert (await client.get(f"/api/{DOMAIN}/unknown/events/{event['id']}/thumbnail")).status == 404

    await hsi_server.stop()
    assert (await client.get(f"{base}/events/{event['id']}/thumbnail")).status == 502


async def test_media_browser_titles_unscored_events_readably(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """An event the server has not scored (risk_score/risk_level null, which the server allows)
    is titled 'Not scored' as the calendar does, not 'None None'."""
    event: dict[str, Any] = await hsi_server.upload_and_wait("Front Door", "front_door")
    entry = await load_entry()
    unscored = {**event, "risk_score": None, "risk_level": None}
    coordinator = entry.runtime_data
    item = hsi_media_source._event_item(coordinator, entry.entry_id, unscored, dt_util.now())  # type: ignore[arg-type]
    assert item is not None
    assert item.title.split(" · ")[1] == "Not scored", item.title  # 'None None' before
