"""Config flow: user step and each error, reauth, reconfigure, Supervisor discovery."""

from __future__ import annotations

from unittest.mock import patch

from aiohttp import web
import pytest

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .conftest import entry_data
from .fake_server import API_KEY, INSTANCE_ID, FakeServer

SETUP = "custom_components.home_security_intelligence.async_setup_entry"


async def test_user_flow_creates_entry(hass: HomeAssistant, server: FakeServer) -> None:
    """Valid details create an entry keyed by the server's instance id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {}
    with patch(SETUP, return_value=True) as setup:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(server)
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home Security Intelligence"
    assert result["data"] == entry_data(server)
    assert result["result"].unique_id == INSTANCE_ID
    assert len(setup.mock_calls) == 1
    # The key was proven against an authenticated endpoint.
    assert server.calls("GET", "/api/system/stats")


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda s, d: d.update(api_key="wrong"), "invalid_auth"),
        (lambda s, d: d.update(port=1), "cannot_connect"),
        (
            lambda s, d: s.fail.__setitem__(
                ("GET", "/api/system/health"), web.json_response({"hello": "world"})
            ),
            "not_hsi",
        ),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, server: FakeServer, mutate: object, error: str
) -> None:
    """Each failure shows its error; fixing the input then creates the entry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    data = entry_data(server)
    mutate(server, data)  # type: ignore[operator]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    server.fail.clear()
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(server)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unknown_error(hass: HomeAssistant, server: FakeServer) -> None:
    """An unexpected exception becomes the `unknown` error, not a crash."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(
        "custom_components.home_security_intelligence.api.HSIClient.health",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(server)
        )
    assert result["errors"] == {"base": "unknown"}


async def test_user_flow_already_configured_updates_address(
    hass: HomeAssistant, server: FakeServer
) -> None:
    """The same server found again aborts, taking the new address."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=INSTANCE_ID, data=entry_data(server, host="old-host")
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(server)
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["host"] == "127.0.0.1"


async def test_reauth(hass: HomeAssistant, server: FakeServer) -> None:
    """Reauth rejects a bad key, then stores the good one."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=INSTANCE_ID, data=entry_data(server, api_key="old")
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": API_KEY}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["api_key"] == API_KEY


async def test_reauth_wrong_server(hass: HomeAssistant, server: FakeServer) -> None:
    """A key that works but on another server (other instance id) is refused."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id="other-instance", data=entry_data(server))
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": API_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"


async def test_reconfigure(hass: HomeAssistant, server: FakeServer) -> None:
    """Reconfigure validates, refuses errors, then updates the entry."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=INSTANCE_ID, data=entry_data(server, host="localhost")
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], entry_data(server, port=1)
    )
    assert result["errors"] == {"base": "cannot_connect"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], entry_data(server)
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["host"] == "127.0.0.1"


async def test_reconfigure_wrong_server(hass: HomeAssistant, server: FakeServer) -> None:
    """Reconfigure cannot point an entry at a different server."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id="other-instance", data=entry_data(server))
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], entry_data(server)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"


def _discovery(server: FakeServer, **config: object) -> HassioServiceInfo:
    return HassioServiceInfo(
        config={"host": "127.0.0.1", "port": server.port, "api_key": API_KEY, "ssl": False, **config},
        name="HSI add-on",
        slug="hsi",
        uuid="1234",
    )


async def test_hassio_discovery_confirm(hass: HomeAssistant, server: FakeServer) -> None:
    """The add-on announces itself; one confirmation creates the entry with its key."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(server)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "HSI add-on"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HSI add-on"
    assert result["data"]["api_key"] == API_KEY
    assert result["result"].unique_id == INSTANCE_ID


async def test_hassio_discovery_confirm_error(hass: HomeAssistant, server: FakeServer) -> None:
    """A discovered key the server refuses shows an error on the confirm step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(server, api_key="bad")
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}


async def test_hassio_discovery_unreachable(hass: HomeAssistant, server: FakeServer) -> None:
    """Discovery of an add-on that does not answer aborts."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(server, port=1)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_hassio_discovery_updates_existing(hass: HomeAssistant, server: FakeServer) -> None:
    """Discovery of a configured server updates its address and key (discovery-update-info)."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=INSTANCE_ID, data=entry_data(server, host="old", api_key="old")
    )
    entry.add_to_hass(hass)
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(server)
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["host"] == "127.0.0.1"
    assert entry.data["api_key"] == API_KEY
