"""The card's side of the integration against a real server: its WebSocket commands (as a non-admin
user), the signed media they hand out, the live subscription, the zone flow the card's editor runs
over HTTP, and the bundle the integration serves."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import CLIENT_ID, MockConfigEntry, MockUser
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.home_security_intelligence.card import CARD_FILE, CARD_URL
from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import wait_for
from .hsi_server import HSIServer
from .test_services import event_with_alert

TIMEOUT = 60.0


async def access_token(hass: HomeAssistant, *, admin: bool) -> str:
    """An access token of a new user: an administrator, or a plain (non-admin) household member."""
    group = await hass.auth.async_get_group(GROUP_ID_ADMIN if admin else GROUP_ID_USER)
    assert group is not None
    user = MockUser(groups=[group], is_owner=False).add_to_hass(hass)
    assert user.is_admin is admin
    refresh_token = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    return hass.auth.async_create_access_token(refresh_token)


async def command(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Send one command and return its result message."""
    await client.send_json_auto_id(message)
    return dict(await client.receive_json())


async def fetch(hass_client_no_auth: ClientSessionGenerator, url: str) -> bytes:
    """GET a signed URL without any bearer token (as an <img> or <video> element does)."""
    client = await hass_client_no_auth()
    response = await client.get(url)
    assert response.status == 200, url
    return await response.read()


async def test_card_commands_for_a_non_admin_user(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_ws_client: Any,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A non-admin user reads cameras, open alerts, event pages and an event's detail, every media
    link signed for their session and serving the server's very bytes."""
    event, alert = await event_with_alert(hsi_server)
    older = (await hsi_server.events("front_door"))[1]
    await wait_for(lambda: "front_door" in loaded_entry.runtime_data.data.cameras)
    client = await hass_ws_client(hass, await access_token(hass, admin=False))

    overview = await command(client, {"type": f"{DOMAIN}/overview"})
    assert overview["success"], overview
    (server,) = overview["result"]["servers"]
    assert server["entry_id"] == loaded_entry.entry_id
    (camera,) = server["cameras"]
    assert (camera["id"], camera["name"], camera["status"]) == ("front_door", "Front Door", "online")
    assert await fetch(hass_client_no_auth, camera["snapshot_url"]) == await hsi_server.request_bytes(
        "/api/cameras/front_door/snapshot"
    )
    assert camera["detection_url"].startswith(f"/api/{DOMAIN}/{loaded_entry.entry_id}/detections/")
    # The match-all rule's alert (the server's default rules may add their own).
    card_alert = next(a for a in server["alerts"] if a["id"] == alert["id"])
    assert card_alert["event_id"] == event["id"] and card_alert["camera_id"] == "front_door"
    assert card_alert["status"] in ("pending", "delivered")
    assert await fetch(hass_client_no_auth, card_alert["thumbnail_url"])

    # Without an entry id: the only server's (the card asks before the overview has answered).
    page = await command(client, {"type": f"{DOMAIN}/events", "limit": 1})
    assert page["success"], page
    assert page["result"]["entry_id"] == loaded_entry.entry_id
    (newest,) = page["result"]["events"]
    assert newest["id"] == event["id"] and newest["summary"] == event["summary"]
    assert await fetch(hass_client_no_auth, newest["thumbnail_url"]) == await hsi_server.request_bytes(
        f"/api/events/{event['id']}/thumbnail"
    )
    following = await command(
        client,
        {"type": f"{DOMAIN}/events", "entry_id": loaded_entry.entry_id, "limit": 1,
         "cursor": page["result"]["next_cursor"]},
    )
    assert [e["id"] for e in following["result"]["events"]] == [older["id"]]
    filtered = await command(
        client,
        {"type": f"{DOMAIN}/events", "entry_id": loaded_entry.entry_id, "camera_id": "garage"},
    )
    assert filtered["result"] == {"entry_id": loaded_entry.entry_id, "events": [], "next_cursor": None}

    detail = await command(
        client, {"type": f"{DOMAIN}/event", "entry_id": loaded_entry.entry_id, "event_id": event["id"]}
    )
    assert detail["success"], detail
    result = detail["result"]
    assert result["event"]["id"] == event["id"]
    assert sorted(d["id"] for d in result["detections"]) == sorted(event["detection_ids"])
    assert all(d["bbox"] and d["object_type"] == "person" for d in result["detections"])
    assert await fetch(hass_client_no_auth, result["detections"][0]["thumbnail_url"])
    assert alert["id"] in [a["id"] for a in result["alerts"]]
    assert result["zones"] == []


async def test_card_command_errors(
    hass: HomeAssistant, hsi_server: HSIServer, loaded_entry: MockConfigEntry, hass_ws_client: Any
) -> None:
    """Unknown servers and events are `not_found`; a stopped server is `cannot_connect` (the overview
    lists it with the reason instead)."""
    client = await hass_ws_client(hass)
    unknown_entry = await command(client, {"type": f"{DOMAIN}/events", "entry_id": "nope"})
    assert unknown_entry["error"]["code"] == "not_found"
    unknown_event = await command(
        client, {"type": f"{DOMAIN}/event", "entry_id": "nope", "event_id": 1}
    )
    assert unknown_event["error"]["code"] == "not_found"
    missing = await command(
        client, {"type": f"{DOMAIN}/event", "entry_id": loaded_entry.entry_id, "event_id": 999999}
    )
    assert missing["error"]["code"] == "not_found"
    # The finding (a review, then tried): input the server refuses (a camera's name for its id, an
    # id past PostgreSQL's integers) was `cannot_connect`, the card saying the server was down.
    for message in (
        {"type": f"{DOMAIN}/events", "entry_id": loaded_entry.entry_id, "camera_id": "Front Door"},
        {"type": f"{DOMAIN}/event", "entry_id": loaded_entry.entry_id, "event_id": 2**31},
        {"type": f"{DOMAIN}/event", "entry_id": loaded_entry.entry_id, "event_id": 0},
    ):
        answer = await command(client, message)
        assert answer["error"]["code"] == "invalid_format", (message, answer)

    await hsi_server.stop()
    # The overview lists a server that does not answer with what HA knows of it, saying why.
    overview = await command(client, {"type": f"{DOMAIN}/overview"})
    (server,) = overview["result"]["servers"]
    assert server["alerts"] == [] and server["error"]
    for message in (
        {"type": f"{DOMAIN}/events", "entry_id": loaded_entry.entry_id},
        {"type": f"{DOMAIN}/event", "entry_id": loaded_entry.entry_id, "event_id": 1},
    ):
        answer = await command(client, message)
        assert answer["error"]["code"] == "cannot_connect", message


async def test_subscription_follows_events_and_alerts(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_ws_client: Any,
) -> None:
    """A non-admin user's subscription carries new events and alerts as the card shows them, and
    the alert's change after they acknowledge it through the integration's action."""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    client = await hass_ws_client(hass, await access_token(hass, admin=False))
    subscribed = await command(client, {"type": f"{DOMAIN}/subscribe"})
    assert subscribed["success"]
    subscription = subscribed["id"]

    await hsi_server.create_rule()
    hsi_server.upload("Front Door")
    seen: dict[str, dict[str, Any]] = {}
    while "alert" not in seen or "event" not in seen:
        message = await client.receive_json()
        assert message["id"] == subscription and message["type"] == "event"
        live = message["event"]
        assert live["entry_id"] == loaded_entry.entry_id
        seen.setdefault(live["kind"], live)
    assert seen["event"]["action"] == "created"
    assert seen["event"]["event"]["thumbnail_url"].startswith(f"/api/{DOMAIN}/")
    alert = seen["alert"]["alert"]
    assert alert["camera_id"] == "front_door"

    await client.send_json_auto_id(
        {"type": "call_service", "domain": DOMAIN, "service": "acknowledge_alert",
         "service_data": {"alert_id": alert["id"]}}
    )
    while True:
        message = await client.receive_json()
        if message.get("type") == "event" and message["event"]["kind"] == "alert":
            if message["event"]["alert"]["status"] == "acknowledged":
                break
        elif message.get("type") == "result":
            assert message["success"], message
    stored = await hsi_server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
    assert stored["status"] == "acknowledged"

    await client.send_json_auto_id({"type": "unsubscribe_events", "subscription": subscription})
    assert (await client.receive_json())["success"]


async def test_zone_flow_over_http_as_the_card_runs_it(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The card's editor saves zones through the zone subentry flow's HTTP API: an admin creates
    and reconfigures a zone on the server; a non-admin user is refused."""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await wait_for(lambda: "front_door" in loaded_entry.runtime_data.data.cameras)
    assert await async_setup_component(hass, "config", {})
    admin = await hass_client()
    base = "/api/config/config_entries/subentries/flow"

    async def run_flow(start: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        response = await admin.post(base, json=start)
        assert response.status == 200, await response.text()
        form = await response.json()
        assert form["type"] == "form"
        response = await admin.post(f"{base}/{form['flow_id']}", json=values)
        assert response.status == 200, await response.text()
        return dict(await response.json())

    values = {
        "name": "Path", "zone_type": "sidewalk", "coordinates": "0.3,0.2 0.95,0.2 0.95,0.7 0.3,0.7",
        "shape": "polygon", "color": [59, 130, 246], "enabled": True, "priority": 0,
    }
    created = await run_flow(
        {"handler": [loaded_entry.entry_id, "zone"]}, {"camera_id": "front_door", **values}
    )
    assert created["type"] == "create_entry", created
    (zone,) = await hsi_server.items("/api/cameras/front_door/zones")
    assert zone["name"] == "Path" and zone["coordinates"] == [[0.3, 0.2], [0.95, 0.2], [0.95, 0.7], [0.3, 0.7]]
    (subentry,) = [s for s in loaded_entry.subentries.values() if s.subentry_type == "zone"]

    changed = await run_flow(
        {"handler": [loaded_entry.entry_id, "zone"], "subentry_id": subentry.subentry_id},
        {**values, "coordinates": "0.1,0.1 0.5,0.1 0.5,0.5"},
    )
    assert changed == {**changed, "type": "abort", "reason": "reconfigure_successful"}
    (zone,) = await hsi_server.items("/api/cameras/front_door/zones")
    assert zone["coordinates"] == [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]

    user = await hass_client(await access_token(hass, admin=False))
    refused = await user.post(base, json={"handler": [loaded_entry.entry_id, "zone"]})
    assert refused.status == 401


async def test_card_bundle_is_served(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """The integration serves its built card (the browser test shows the frontend loading it)."""
    client = await hass_client()
    response = await client.get(CARD_URL)
    assert response.status == 200
    body = await response.read()
    assert body == CARD_FILE.read_bytes()
    assert b"home-security-intelligence-card" in body


async def test_card_loads_on_every_dashboard(hass: HomeAssistant) -> None:
    """With the frontend set up (as default_config does), setting up the integration adds the card
    to the modules every dashboard loads, under a URL carrying the bundle's hash."""
    assert await async_setup_component(hass, "frontend", {})
    assert await async_setup_component(hass, DOMAIN, {})
    digest = hashlib.sha256(CARD_FILE.read_bytes()).hexdigest()[:12]
    assert f"{CARD_URL}?v={digest}" in hass.data[DATA_EXTRA_MODULE_URL].urls


async def test_one_server_down_leaves_the_others_on_the_card(
    hass: HomeAssistant,
    hsi_server: HSIServer,
    loaded_entry: MockConfigEntry,
    server_template: tuple[Path, str],
    tmp_path: Path,
    hass_ws_client: Any,
) -> None:
    """A review's finding: `overview` read every server's open alerts and failed as a whole when one
    did not answer, so a card showed nothing but an error while another server was down. Now the
    server that does not answer is listed with what Home Assistant knows of it and why it has no
    alerts; the others are listed as ever."""
    template, api_key = server_template
    other = HSIServer(tmp_path / "second", template, api_key)
    await other.start()
    second = MockConfigEntry(
        domain=DOMAIN, title="Garden shed", unique_id=other.instance_id, data=other.entry_data
    )
    second.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(second.entry_id)
        await wait_for(lambda: second.runtime_data.push.connected)
        client = await hass_ws_client(hass, await access_token(hass, admin=False))
        await other.stop()  # the shed's server is down; the house's answers as ever
        await wait_for(lambda: not second.runtime_data.push.connected, 30)
        overview = await command(client, {"type": f"{DOMAIN}/overview"})
        assert overview["success"], overview.get("error")
        servers = {server["entry_id"]: server for server in overview["result"]["servers"]}
        assert servers[loaded_entry.entry_id]["error"] is None
        assert servers[second.entry_id]["alerts"] == []
        assert servers[second.entry_id]["error"]  # why (the connection refused)
    finally:
        if second.state.recoverable:
            await hass.config_entries.async_unload(second.entry_id)
        await other.stop()

