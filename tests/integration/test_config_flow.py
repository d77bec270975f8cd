"""Config flow against a real server: user step and each error, reauth, reconfigure, Supervisor discovery.

Every condition is produced for real: a wrong key is refused by the server, a revoked key is a
key the server issued and then revoked, "unreachable" is a port nobody listens on, and "not an
HSI server" is some other HTTP device answering on the health path. ``async_setup_entry`` is
patched out because these tests are about the flow, not about loading the entry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
import json
from pathlib import Path
import subprocess
from unittest.mock import patch

from aiohttp import web
import pytest
import pytest_socket

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import REPO, SERVER_PYTHON, HSIServer, free_port

SETUP = "custom_components.home_security_intelligence.async_setup_entry"


@asynccontextmanager
async def other_device() -> AsyncGenerator[int]:
    """Some other HTTP device on 127.0.0.1 that answers /api/system/health with its own JSON."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "uptime": 1234, "device": "printer"})

    app = web.Application()
    app.router.add_get("/api/system/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def revoked_key(server: HSIServer) -> str:
    """A key the server issued and then revoked: the server now answers it with 401."""
    created = await server.request("POST", "/api/keys", json_body={"name": "old phone"}, expect=201)
    await server.request("DELETE", f"/api/keys/{created['id']}", expect=200)
    return str(created["key"])


async def test_user_flow_creates_entry(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """Valid details create an entry keyed by the server's instance id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {}
    with patch(SETUP, return_value=True) as setup:
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home Security Intelligence"
    assert result["data"] == hsi_server.entry_data
    assert result["result"].unique_id == hsi_server.instance_id
    assert len(setup.mock_calls) == 1


async def test_user_flow_ipv6_host(
    hass: HomeAssistant, socket_enabled: None, tmp_path: Path, server_template: tuple[Path, str]
) -> None:
    """A server on IPv6, its address typed as people type it (no brackets): the client brackets it in
    its URLs (it built `http://::1:PORT`, which no URL parser takes, and the form said only
    "cannot connect")."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"])  # the harness allows IPv4 loopback only
    template, api_key = server_template
    server = HSIServer(tmp_path / "hsi", template, api_key, HSI_HOST="::1")
    server.host = "[::1]"  # the helper's own requests
    await server.start()
    try:
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        with patch(SETUP, return_value=True):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {"host": "::1", "port": server.port, "ssl": False, "api_key": api_key}
            )
            await hass.async_block_till_done()
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
        assert result["result"].unique_id == server.instance_id
    finally:
        await server.stop()


def _server_says(*args: str) -> str:
    """What a command of the server (run in its venv) prints."""
    return subprocess.run(
        [str(SERVER_PYTHON), *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout


async def test_api_key_hint_matches_the_server(hass: HomeAssistant) -> None:
    """The form's hint on where to get a key is what the server does: it writes its first key to
    a file of that name in its data folder, and its `keys create` command needs a name."""
    translations = await async_get_translations(hass, "en", "config", {DOMAIN})
    hint = translations[f"component.{DOMAIN}.config.step.user.data_description.api_key"]
    key_file = _server_says("-c", "from server.apikeys import KEY_FILE_NAME; print(KEY_FILE_NAME)").strip()
    assert f"`{key_file}` in its data folder" in hint
    assert "usage: python -m server keys create [-h] name\n" in _server_says(
        "-m", "server", "keys", "create", "-h"
    )
    assert "`python -m server keys create <name>`" in hint
    assert "printed" not in hint


@pytest.mark.parametrize("problem", ["wrong_key", "revoked_key", "nobody_listens", "other_device"])
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, hsi_server: HSIServer, problem: str
) -> None:
    """Each failure shows its error; fixing the input then creates the entry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    data = dict(hsi_server.entry_data)
    async with other_device() as other_port:
        if problem == "wrong_key":
            data["api_key"], error = "hsi_not-a-key-this-server-issued", "invalid_auth"
        elif problem == "revoked_key":
            data["api_key"], error = await revoked_key(hsi_server), "invalid_auth"
        elif problem == "nobody_listens":
            data["port"], error = free_port(), "cannot_connect"
        else:
            data["port"], error = other_port, "not_hsi"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert not hass.config_entries.async_entries(DOMAIN)
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == hsi_server.instance_id


async def test_user_flow_unknown_error(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """An unexpected exception becomes the `unknown` error, not a crash; a retry then works."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    # Last resort: no real server or network condition makes the client raise anything but
    # its own HSIError subclasses, so the flow's catch-all branch is reached by patching.
    with patch(
        "custom_components.home_security_intelligence.api.HSIClient.health",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_already_configured_updates_address(
    hass: HomeAssistant, hsi_server: HSIServer
) -> None:
    """The same server found at a new address aborts, taking the new address (not the key)."""
    old_port = free_port()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "host": "localhost", "port": old_port},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data["host"] == "127.0.0.1"
    assert entry.data["port"] == hsi_server.port
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_reauth(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """The entry's key was revoked: reauth refuses it again, then stores a working one."""
    old_key = await revoked_key(hsi_server)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "api_key": old_key},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["host"] == "127.0.0.1"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"api_key": old_key})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert entry.data["api_key"] == old_key
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": hsi_server.api_key}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["api_key"] == hsi_server.api_key


async def test_reauth_wrong_server(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """A key that works, but at an address now answered by another server, is not saved."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="instance-of-the-server-this-entry-was-made-for",
        data={**hsi_server.entry_data, "api_key": "the-old-key"},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_key": hsi_server.api_key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    assert entry.data["api_key"] == "the-old-key"


async def test_reconfigure(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """Reconfigure refuses an address nobody answers on, then updates the entry."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "host": "localhost", "port": free_port()},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**hsi_server.entry_data, "port": free_port()}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == hsi_server.entry_data


async def test_reconfigure_wrong_server(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """Reconfigure cannot point an entry at a different server."""
    original = {**hsi_server.entry_data, "host": "localhost", "port": free_port()}
    entry = MockConfigEntry(domain=DOMAIN, unique_id="instance-of-another-server", data=original)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], hsi_server.entry_data)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    assert entry.data == original


def _discovery(port: int, api_key: str | None) -> HassioServiceInfo:
    """What Supervisor hands over when the add-on announces itself: the add-on's own payload
    (`server.addon.discovery_payload`, run in the server's venv), so both sides agree on its shape."""
    announced = subprocess.run(
        [
            str(SERVER_PYTHON),
            "-c",
            "import json, sys; from server.addon import discovery_payload; "
            "print(json.dumps(discovery_payload(sys.argv[1], int(sys.argv[2]), sys.argv[3] or None)))",
            "127.0.0.1",
            str(port),
            api_key or "",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    payload = json.loads(announced.stdout)
    assert payload["service"] == DOMAIN  # the add-on's `discovery:` entry names this integration
    return HassioServiceInfo(config=payload["config"], name="HSI add-on", slug="hsi", uuid="1234")


async def test_hassio_discovery_confirm(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """The add-on announces itself; one confirmation creates the entry with its key."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=_discovery(hsi_server.port, hsi_server.api_key),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "HSI add-on"}
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HSI add-on"
    assert result["data"] == hsi_server.entry_data
    assert result["result"].unique_id == hsi_server.instance_id


async def test_hassio_discovery_confirm_error(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """A discovered key the server refuses shows an error on the confirm step and adds nothing; a
    server that is away when the user confirms is an error too, and confirming again once it is
    back adds the entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=_discovery(hsi_server.port, await revoked_key(hsi_server)),
    )
    assert result["step_id"] == "hassio_confirm"
    assert "api_key" in result["data_schema"].schema  # the announced key does not work: asks for one
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"api_key": "wrong"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert not hass.config_entries.async_entries(DOMAIN)
    hass.config_entries.flow.async_abort(result["flow_id"])  # the user dismisses it

    # The add-on announces itself again (with a good key), then restarts as the user confirms.
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=_discovery(hsi_server.port, hsi_server.api_key),
    )
    assert result["step_id"] == "hassio_confirm"
    await hsi_server.stop()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)

    await hsi_server.start()
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == hsi_server.entry_data
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert entry.unique_id == hsi_server.instance_id and entry.title == "HSI add-on"


async def test_hassio_discovery_without_a_key(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """The finding (a review, then tried): an add-on whose first key was revoked announces none (its
    `api_key.txt` is gone). The announcement put "" in place of the configured entry's working key, at
    every start of the add-on (a reauth each time); for an add-on not configured yet the confirm step
    had no key field, so confirming could only fail. The entry keeps its key; the new one is asked."""
    keyless = _discovery(hsi_server.port, None)
    entry = MockConfigEntry(domain=DOMAIN, unique_id=hsi_server.instance_id, data=hsi_server.entry_data)
    entry.add_to_hass(hass)
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=keyless
        )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    assert entry.data == hsi_server.entry_data
    await hass.config_entries.async_remove(entry.entry_id)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=keyless
    )
    assert result["step_id"] == "hassio_confirm" and "api_key" in result["data_schema"].schema
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"api_key": hsi_server.api_key}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == hsi_server.entry_data


@pytest.mark.parametrize(
    "typed", ["http://127.0.0.1", " 127.0.0.1 ", "127.0.0.1:{port}", "127.0.0.1/", "http://127.0.0.1:{port}/"]
)
async def test_a_host_as_people_paste_it(hass: HomeAssistant, hsi_server: HSIServer, typed: str) -> None:
    """The finding (a review, then tried): a host pasted with a scheme, a port, a slash or a space
    raised ValueError out of the flow ("Unknown error occurred", nothing saying what to change). It
    is taken for the host it names (a port in it wins over the port field, its scheme decides HTTPS)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**hsi_server.entry_data, "host": typed.format(port=hsi_server.port)}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert result["data"] == hsi_server.entry_data


@pytest.mark.parametrize(
    "typed", ["http://127.0.0.1/api", "ftp://127.0.0.1", "hsi:pw@127.0.0.1", "127.0.0.1?x=1", "my server"]
)
async def test_what_is_no_host_is_said_so(hass: HomeAssistant, hsi_server: HSIServer, typed: str) -> None:
    """A path, another scheme, credentials, a query or a space inside: the host field says so."""
    entry = MockConfigEntry(domain=DOMAIN, unique_id=hsi_server.instance_id, data=hsi_server.entry_data)
    entry.add_to_hass(hass)
    for result in (
        await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER}),
        await entry.start_reconfigure_flow(hass),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**hsi_server.entry_data, "host": typed}
        )
        assert (result["type"], result["errors"]) == (FlowResultType.FORM, {"host": "invalid_host"})


async def test_hassio_discovery_unreachable(hass: HomeAssistant, socket_enabled: None) -> None:
    """Discovery of an add-on that does not answer aborts (no server runs on that port)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=_discovery(free_port(), "some-key")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_hassio_discovery_updates_existing(hass: HomeAssistant, hsi_server: HSIServer) -> None:
    """Discovery of a configured server updates its address and key (discovery-update-info)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=hsi_server.instance_id,
        data={**hsi_server.entry_data, "host": "old-host", "port": 1, "api_key": "old"},
    )
    entry.add_to_hass(hass)
    with patch(SETUP, return_value=True):
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_HASSIO},
            data=_discovery(hsi_server.port, hsi_server.api_key),
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == hsi_server.entry_data
