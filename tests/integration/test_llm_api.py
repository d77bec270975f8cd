"""Assist's tools answer from real events, through Home Assistant's own LLM helpers (what a
conversation agent calls): "did anyone come to the front door while I was out?" gets exactly the
events of that camera in that time range."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence import api
from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import HSIServer, eventually

LoadEntry = Callable[[], Awaitable[MockConfigEntry]]
CONTEXT = llm.LLMContext(
    platform="test", context=Context(), user_prompt=None, language="en", assistant="conversation",
    device_id=None,
)


async def tool(hass: HomeAssistant, name: str, **args: Any) -> dict[str, Any]:
    """Call one of the API's tools as a conversation agent does."""
    api = await llm.async_get_api(hass, DOMAIN, CONTEXT)
    return dict(await api.async_call_tool(llm.ToolInput(tool_name=name, tool_args=args)))


def local(timestamp: str, shift: timedelta = timedelta()) -> str:
    """A server time as the local, zone-less ISO time a user (or an LLM) would say."""
    moment = dt_util.as_local(dt_util.parse_datetime(timestamp, raise_on_error=True)) + shift
    return moment.replace(tzinfo=None).isoformat()


async def test_assist_answers_from_events_in_a_time_range(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Events before, during and after a time range on the front door, and one on the garage
    during it: the search returns the one front-door event inside the range."""
    before = await hsi_server.upload_and_wait("Front Door", "front_door")
    during = await hsi_server.upload_and_wait("Front Door", "front_door")
    garage = await hsi_server.upload_and_wait("Garage", "garage")
    after = await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()

    api = await llm.async_get_api(hass, DOMAIN, CONTEXT)
    assert "Front Door" in api.api_prompt and "Garage" in api.api_prompt
    assert {t.name for t in api.tools} == {
        "search_security_events", "summarize_camera_activity", "list_pending_alerts"
    }

    # "While I was out": from just after the first event's start to the last one's (ranges are
    # half-open: the end is not included).
    out = {"start": local(before["started_at"], timedelta(milliseconds=1)), "end": local(after["started_at"])}
    assert before["started_at"] < during["started_at"] <= garage["started_at"] < after["started_at"], (
        before["started_at"], during["started_at"], garage["started_at"], after["started_at"])
    answer = await tool(hass, "search_security_events", camera="front door", **out)
    assert [e["event_id"] for e in answer["events"]] == [during["id"]]
    found = answer["events"][0]
    assert (found["camera"], found["summary"], found["objects"]) == ("Front Door", during["summary"], ["person"])
    assert found["risk_score"] == during["risk_score"]

    everywhere = await tool(hass, "search_security_events", **out)
    assert [e["event_id"] for e in everywhere["events"]] == [garage["id"], during["id"]]
    assert (await tool(hass, "search_security_events", camera="Garage", object_type="dog"))["events"] == []
    # The two scores differ at night: the rules scorer halves night points where the hour is routine
    # for the camera (three front-door events), not on the garage's first one.
    riskiest = max((during, garage), key=lambda event: event["risk_score"])
    at_least = await tool(hass, "search_security_events", min_risk=riskiest["risk_score"], **out)
    assert riskiest["id"] in [e["event_id"] for e in at_least["events"]]
    strict = await tool(hass, "search_security_events", min_risk=riskiest["risk_score"] + 1, **out)
    assert strict["events"] == []
    words = await tool(hass, "search_security_events", query="person", camera="front_door", limit=2)
    assert words["count"] == 2 and words["more"] is True
    assert {e["event_id"] for e in words["events"]} <= {before["id"], during["id"], after["id"]}

    summary = await tool(hass, "summarize_camera_activity", camera="Front Door")
    assert summary["event_count"] == 3
    assert summary["objects"] == {"person": 3}
    assert summary["first_event"]["event_id"] == before["id"]
    assert summary["last_event"]["event_id"] == after["id"]
    assert summary["not_reviewed"] == 3
    assert sum(summary["by_risk_level"].values()) == 3
    assert (await tool(hass, "summarize_camera_activity", **out))["event_count"] == 2

    with pytest.raises(HomeAssistantError, match="No camera is named Back Yard"):
        await tool(hass, "search_security_events", camera="Back Yard")
    with pytest.raises(HomeAssistantError, match="not an ISO 8601"):
        await tool(hass, "search_security_events", start="yesterday-ish")
    with pytest.raises(HomeAssistantError, match="ends before it starts"):
        await tool(hass, "summarize_camera_activity", start=out["end"], end=out["start"])
    with pytest.raises(HomeAssistantError, match="Invalid arguments"):
        await tool(hass, "search_security_events", min_risk=101)


async def test_assist_lists_pending_alerts(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """Alerts nobody answered are listed with their camera and summary, and leave the list once
    acknowledged; a stopped server is a clear error, not an empty answer."""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()
    assert await tool(hass, "list_pending_alerts") == {"count": 0, "more": False, "alerts": []}
    await hsi_server.create_rule()
    event = await hsi_server.upload_and_wait("Front Door", "front_door")

    async def alert() -> dict[str, Any] | None:
        answer = await tool(hass, "list_pending_alerts", camera="Front Door")
        return next((a for a in answer["alerts"] if a["event_id"] == event["id"]), None)

    alert = await eventually(alert, 60, "the event's pending alert")
    assert (alert["camera"], alert["summary"]) == ("Front Door", event["summary"])
    for pending in (await tool(hass, "list_pending_alerts"))["alerts"]:
        await hsi_server.request("POST", f"/api/alerts/{pending['alert_id']}/acknowledge", expect=200)
    assert (await tool(hass, "list_pending_alerts"))["count"] == 0

    await hsi_server.stop()
    with pytest.raises(HomeAssistantError, match="Could not reach the server"):
        await tool(hass, "list_pending_alerts")


async def test_pending_alerts_say_when_more_are_open_than_listed(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding (a review, then tried): the tool lists a page of open alerts per server (100), and
    its `count` was that page's, nothing saying more were open: "you have 100 pending alerts" when 500
    were. Here with a page of one and two open alerts."""
    await hsi_server.create_rule()
    for _ in range(2):
        await hsi_server.upload_and_wait("Front Door", "front_door")

    async def two_open() -> bool:
        return len(await hsi_server.items("/api/alerts?limit=100")) >= 2

    await eventually(two_open, 60, "two open alerts")
    await load_entry()
    assert (await tool(hass, "list_pending_alerts"))["count"] == 2
    monkeypatch.setattr(api, "PAGE_LIMIT", 1)
    answer = await tool(hass, "list_pending_alerts")
    assert (answer["count"], answer["more"]) == (1, True)


async def test_empty_arguments_are_arguments_not_given(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The finding (a review, then tried): models, small local ones above all, fill every optional
    argument, with "" where they have nothing to say; an empty camera was "No camera is named .", an
    empty start "not an ISO 8601 date-time"."""
    event = await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()
    found = await tool(hass, "search_security_events", query="", camera="", start="", end="", object_type="")
    assert [e["event_id"] for e in found["events"]] == [event["id"]]
    assert (await tool(hass, "summarize_camera_activity", camera="", start=""))["event_count"] == 1
    assert (await tool(hass, "list_pending_alerts", camera=""))["count"] == 0


async def test_a_range_ending_in_year_one_is_a_translated_error(hass: HomeAssistant) -> None:
    """The finding (a review, then tried): a summary's range ends at `end` and starts a day before;
    an end in year 1 raised a bare OverflowError, which ends the conversation turn."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(HomeAssistantError, match="too far in the past"):
        await tool(hass, "summarize_camera_activity", end="0001-01-01T12:00:00")


async def test_assist_without_a_server(hass: HomeAssistant) -> None:
    """The API is there as soon as the integration is; with no server loaded its tools say so."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(HomeAssistantError, match="No Home Security Intelligence server"):
        await tool(hass, "list_pending_alerts")


@pytest.mark.parametrize(
    ("tool_name", "field", "value"),
    [
        ("search_security_events", "start", "2025-02-30T08:00:00"),
        ("summarize_camera_activity", "end", "2025-06-01T25:00:00"),
    ],
)
async def test_a_time_that_does_not_exist_is_a_translated_error(
    hass: HomeAssistant, tool_name: str, field: str, value: str
) -> None:
    """The finding (a review, then tried): a date-time in the right shape that does not exist (30
    February, hour 25: a model's slip) raised a bare ValueError, which ends the conversation turn;
    HA's chat log hands only HomeAssistantError back to the model to correct itself."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(HomeAssistantError, match="not an ISO 8601"):
        await tool(hass, tool_name, **{field: value})


async def test_an_argument_the_server_refuses_is_not_a_server_down(
    hass: HomeAssistant, hsi_server: HSIServer, load_entry: LoadEntry
) -> None:
    """The finding (a review, then tried): every server error, a refusal of the input included, was
    'Could not reach the server', so the model told the user their server was down while it answered.
    (An object type over the server's 64 characters: a model listing several in one string.)"""
    await hsi_server.upload_and_wait("Front Door", "front_door")
    await load_entry()
    with pytest.raises(HomeAssistantError, match="The server refused the request: .*object_type") as raised:
        await tool(hass, "search_security_events", object_type=", ".join(["person", "car", "truck"] * 8))
    assert "Could not reach the server" not in str(raised.value)
