"""The security card in a real browser, against a real Home Assistant and a real HSI server.

An admin adds the card from the dashboard's card picker (nothing else installed by hand) and sees
cameras and the timeline; the first page of 50 events is timed; an event's detail shows its
detections and a playable clip; acknowledging an alert changes it on the server; a zone drawn in
the card's editor is saved on the server and used by the alert engine; a non-admin household member
on a phone-sized screen sees and acts the same (without the zone editor); with the server stopped,
the card says so and still shows the cameras Home Assistant knows. Screenshots at desktop and phone
widths go to HSI_SCREENSHOTS (docs/ when refreshing them for the README).
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import time
from typing import Any

from tests.integration.hsi_server import eventually

from .conftest import Stack, signed_in

CARD = "home-security-intelligence-card"
DESKTOP = (1280, 900)
PHONE = (390, 844)
#: The issue's bound for a timeline page of 50 events after the card is opened.
FIRST_PAGE_BOUND_MS = 500.0
SCREENSHOTS = Path(os.environ.get("HSI_SCREENSHOTS", "/tmp/hsi-e2e-screenshots"))
TIMEOUT_MS = 60_000

#: Every thumbnail image of the card that has finished loading real pixels.
LOADED_THUMBNAILS = """card => [...card.shadowRoot.querySelectorAll('.event img')]
    .filter(img => img.complete && img.naturalWidth > 0).length"""


async def open_card(page: Any, url: str) -> Any:
    """Navigate to the dashboard and wait for the card's first timeline page and camera tiles
    (the card asks for both at once; either may come first)."""
    await page.goto(url)
    card = page.locator(CARD)
    await card.locator(".event").first.wait_for(timeout=TIMEOUT_MS)
    await card.locator(".camera").first.wait_for(timeout=TIMEOUT_MS)
    return card


async def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / name))


async def test_card_from_the_picker_shows_cameras_and_timeline(stack: Stack, browser: Any) -> None:
    """The integration alone makes the card available: an admin adds it from the card picker, and
    the dashboard shows its cameras and a first page of 50 events, timed."""
    context = await signed_in(browser, stack.admin, *DESKTOP)
    page = await context.new_page()
    await page.goto(f"{stack.dashboard}?edit=1")
    await page.wait_for_function(
        "() => (window.customCards || []).some(c => c.type === 'home-security-intelligence-card')",
        timeout=TIMEOUT_MS,
    )
    picker = page.locator("hui-card-picker")
    # Custom cards come last in the picker, which renders entries as they scroll into view. Ours is
    # the entry named so (a button card's preview of our rule switch also carries the words).
    header = page.locator(".card-header", has_text=re.compile(r"^\s*Home Security Intelligence\s*$"))
    ours = picker.locator(".card").filter(has=header).first
    try:
        await page.locator("ha-fab").first.click(timeout=TIMEOUT_MS)
        await picker.locator(".card").first.wait_for(timeout=TIMEOUT_MS)  # the built-in cards

        async def scrolled_to_ours() -> bool:
            await picker.locator(".card").last.scroll_into_view_if_needed()
            return await ours.count() > 0

        await eventually(scrolled_to_ours, 60, "the card's entry in the card picker")
        await ours.click(timeout=TIMEOUT_MS)
        dialog = page.locator("hui-dialog-edit-card")
        await dialog.locator(CARD).locator(".camera").first.wait_for(state="attached", timeout=TIMEOUT_MS)
        await dialog.get_by_role("button", name="Save").click()
        await dialog.wait_for(state="hidden", timeout=TIMEOUT_MS)
    except Exception:
        await shot(page, "failure-card-picker.png")
        raise

    # Opened afresh in a new tab, as a user opening the dashboard: time to the first page of 50,
    # measured by the card (from its first attachment) and, for scale, from the navigation (which
    # includes loading Home Assistant's frontend).
    await page.close()
    page = await context.new_page()
    started = time.monotonic()
    card = await open_card(page, stack.dashboard)
    navigation_ms = (time.monotonic() - started) * 1000
    measure = await page.evaluate(
        "() => performance.getEntriesByType('measure')"
        ".filter(e => e.name === 'hsi-card:time-to-first-page').map(e => e.duration)"
    )
    assert len(measure) == 1, f"the card measured its first page {len(measure)} times"
    print(f"\nfirst timeline page (50 events): {measure[0]:.0f} ms after the card opened "
          f"({navigation_ms:.0f} ms after navigating to the dashboard, frontend load included)")
    assert await card.locator(".event").count() == 50
    assert measure[0] <= FIRST_PAGE_BOUND_MS

    cameras = await card.locator(".camera").evaluate_all("tiles => tiles.map(t => t.dataset.camera)")
    assert sorted(cameras) == ["back_yard", "driveway", "front_door", "garage", "walkway"]
    await eventually(lambda: _loaded(card), 30, "a loaded thumbnail")
    assert await card.locator(".alert").count() >= 1
    await page.wait_for_timeout(1000)  # the other thumbnails in view finish loading
    await shot(page, "card-desktop.png")

    # Scrolling to the end of the timeline loads the next page (the server's cursor).
    await card.locator(".timeline").evaluate("timeline => { timeline.scrollTop = timeline.scrollHeight; }")
    await card.locator(".event").nth(50).wait_for(state="attached", timeout=TIMEOUT_MS)
    ids = await card.locator(".event").evaluate_all("rows => rows.map(r => Number(r.dataset.event))")
    assert len(ids) == len(set(ids)) > 50
    await context.close()


async def _loaded(card: Any) -> bool:
    return bool(await card.evaluate(LOADED_THUMBNAILS))


async def test_detail_clip_and_acknowledge(stack: Stack, browser: Any) -> None:
    """An event's detail shows its detections and a clip the browser can play; acknowledging the
    open alert on the card changes it on the server."""
    context = await signed_in(browser, stack.admin, *DESKTOP)
    page = await context.new_page()
    card = await open_card(page, stack.dashboard)

    await card.locator("select.camera-filter").select_option("walkway")
    await card.locator(f".event[data-event='{stack.clip_event['id']}']").click(timeout=TIMEOUT_MS)
    detail = card.locator(".detail")
    video = detail.locator("video.clip")
    await video.wait_for(timeout=TIMEOUT_MS)
    state = await video.evaluate(PLAYABLE)
    assert state["error"] is None and state["readyState"] >= 1, state
    assert state["duration"] > 1 and state["width"] > 0, state
    assert await detail.locator(".detections img").count() == len(stack.clip_event["detection_ids"])
    assert await detail.locator(".event-summary").text_content() == stack.clip_event["summary"]
    await detail.locator(".detections img").evaluate_all("imgs => Promise.all(imgs.map(i => i.decode()))")
    await shot(page, "card-detail-desktop.png")
    await detail.locator("button.close").click()

    alert = stack.front_door_alert
    await card.locator(f".alert[data-alert='{alert['id']}'] button.acknowledge").click()

    async def acknowledged() -> bool:
        stored = await stack.server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
        return bool(stored["status"] == "acknowledged")

    await eventually(acknowledged, 30, "the alert acknowledged on the server")
    # The card hears the change through the integration and drops the alert from the open ones.
    await card.locator(f".alert[data-alert='{alert['id']}']").wait_for(state="detached", timeout=TIMEOUT_MS)
    await context.close()


async def test_zone_drawn_in_the_editor_is_used_by_the_alert_engine(stack: Stack, browser: Any) -> None:
    """Two zones drawn on the front door's latest image (one over the path where people walk, one
    in an empty corner) are saved on the server; a rule on both zones then alerts on the next
    people photo for the path zone only."""
    context = await signed_in(browser, stack.admin, *DESKTOP)
    page = await context.new_page()
    card = await open_card(page, stack.dashboard)
    drawn = {
        "Path": [(0.3, 0.2), (0.95, 0.2), (0.95, 0.7), (0.3, 0.7)],
        "Corner": [(0.02, 0.85), (0.15, 0.85), (0.15, 0.98), (0.02, 0.98)],
    }
    for name, points in drawn.items():
        await card.locator(".camera[data-camera='front_door'] .zones-button").click()
        editor = card.locator("hsi-zone-editor")
        await editor.locator(".new-zone").click()
        image = editor.locator(".canvas img")
        await image.evaluate("img => img.decode()")
        await page.wait_for_timeout(300)  # the canvas takes the image's proportions
        await image.scroll_into_view_if_needed()
        box = await image.bounding_box()
        assert box["y"] + box["height"] <= DESKTOP[1], "the whole image is in view for drawing"
        at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])  # noqa: E731
        for x, y in points[:-1]:
            await page.mouse.click(*at(x, y))
        await page.mouse.click(*at(points[-1][0] + 0.05, points[-1][1] - 0.05))
        # Drag the last point to where it belongs.
        await page.mouse.move(*at(points[-1][0] + 0.05, points[-1][1] - 0.05))
        await page.mouse.down()
        await page.mouse.move(*at(*points[-1]), steps=5)
        await page.mouse.up()
        await editor.locator("input.zone-name").fill(name)
        await editor.locator(".save-zone").click()
        try:
            await editor.locator(".status.saved").wait_for(timeout=TIMEOUT_MS)
        except Exception:
            await shot(page, "failure-zone-editor.png")
            raise AssertionError(await editor.locator(".status").all_text_contents()) from None
        await editor.locator("button.close").click()

    zones = {zone["name"]: zone for zone in await stack.server.items("/api/cameras/front_door/zones")}
    assert set(zones) == {"Path", "Corner"}
    for name, points in drawn.items():
        for saved, wanted in zip(zones[name]["coordinates"], points, strict=True):
            assert abs(saved[0] - wanted[0]) < 0.01 and abs(saved[1] - wanted[1]) < 0.01, (name, saved)

    await stack.server.create_rule(
        name="People on the path", camera_ids=["front_door"],
        zone_ids=[zones["Path"]["id"], zones["Corner"]["id"]], cooldown_seconds=0,
    )
    event = await stack.server.upload_and_wait("Front Door", "front_door")

    async def alert() -> dict[str, Any] | None:
        found = await stack.server.items(f"/api/alerts?event_id={event['id']}")
        return next((a for a in found if a["metadata"].get("zone_ids")), None)

    raised = await eventually(alert, 60, "the zone rule's alert")
    assert raised["metadata"]["zone_ids"] == [zones["Path"]["id"]]
    await context.close()


async def test_non_admin_user_on_a_phone(stack: Stack, browser: Any) -> None:
    """A household member (not an administrator) on a phone-sized screen sees the cameras, the
    timeline with thumbnails and the open alerts, without the zone editor, and can acknowledge."""
    context = await signed_in(browser, stack.user, *PHONE)
    page = await context.new_page()
    card = await open_card(page, stack.dashboard)
    await eventually(lambda: _loaded(card), 30, "a loaded thumbnail")
    assert await card.locator(".camera").count() == 5
    assert await card.locator(".zones-button").count() == 0
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page scrolls sideways on a phone ({width} px)"
    assert (await card.bounding_box())["width"] <= PHONE[0]
    await page.wait_for_timeout(1000)
    await shot(page, "card-phone.png")

    (alert,) = await stack.server.items("/api/alerts?status=delivered") or await stack.server.items(
        "/api/alerts?status=pending"
    )
    await card.locator(f".alert[data-alert='{alert['id']}'] button.acknowledge").click()

    async def acknowledged() -> bool:
        stored = await stack.server.request("GET", f"/api/alerts/{alert['id']}", expect=200)
        return bool(stored["status"] == "acknowledged")

    await eventually(acknowledged, 30, "the alert acknowledged by the household member")

    await card.locator(".event").first.click()
    await card.locator(".detail").wait_for(timeout=TIMEOUT_MS)
    panel = await card.locator(".detail").bounding_box()
    assert panel["width"] <= PHONE[0]
    await card.locator(".detail .detections img").evaluate_all("imgs => Promise.all(imgs.map(i => i.decode()))")
    await shot(page, "card-detail-phone.png")
    await context.close()


#: What a video element knows once the browser has read its clip's metadata (or failed to).
PLAYABLE = """video => new Promise(resolve => {
  const done = () => resolve({readyState: video.readyState, duration: video.duration,
    width: video.videoWidth, error: video.error && video.error.code});
  if (video.readyState >= 1 || video.error) done();
  else { video.addEventListener('loadedmetadata', done); video.addEventListener('error', done);
         setTimeout(done, 30000); }
})"""


async def test_a_server_that_does_not_answer_is_said_so(stack: Stack, browser: Any) -> None:
    """The server stops: the card says that it does not answer, and why, above the cameras Home
    Assistant knows (the overview lists it with `error`; the card showed it as if it had no open
    alerts). Runs last: it stops the server, and starts it again for the teardown."""
    context = await signed_in(browser, stack.admin, *DESKTOP)
    page = await context.new_page()
    await stack.server.stop()
    try:
        await page.goto(stack.dashboard)
        card = page.locator(CARD)
        notice = card.locator(".status.error", has_text="does not answer")
        await notice.wait_for(timeout=TIMEOUT_MS)
        assert "open alerts are not shown" in await notice.inner_text()
        assert await card.locator(".camera").count() == 5
        assert await card.locator(".alert").count() == 0
    finally:
        await context.close()
        await stack.server.start()
