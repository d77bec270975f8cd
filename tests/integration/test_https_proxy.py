"""A server behind an HTTPS proxy whose certificate is self-signed (the usual case on a home network:
nginx or Caddy with its own certificate). The finding (a review, then tried): "Use HTTPS" always checked
the certificate, the form said "cannot connect", and none of its fields could change that. "Verify the
HTTPS certificate" (on by default) can be turned off, in the flow and for the entry it makes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
import ssl
import threading
import asyncio
import subprocess

import aiohttp
from aiohttp import web

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.home_security_intelligence.const import DOMAIN

from .hsi_server import HSIServer, free_port



@asynccontextmanager
async def https_proxy(target: str, tmp: Path) -> AsyncGenerator[int]:
    """An HTTPS reverse proxy with a self-signed certificate in front of the real server."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    session: aiohttp.ClientSession | None = None

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() == "x-api-key"}
        async with session.request(
            request.method, f"{target}{request.rel_url}", headers=headers, data=await request.read()
        ) as upstream:
            return web.Response(
                status=upstream.status, body=await upstream.read(),
                content_type=upstream.content_type,
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    port = free_port()
    # Its own loop in a thread: the rejected TLS handshakes it logs stay out of Home Assistant's loop.
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, _context: None)
    started = threading.Event()
    runner = web.AppRunner(app)

    async def start() -> None:
        nonlocal session
        session = aiohttp.ClientSession()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        started.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield port
    finally:
        async def stop() -> None:
            await runner.cleanup()
            await session.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def test_a_self_signed_proxy_is_reached_with_verification_off(
    hass: HomeAssistant, hsi_server: HSIServer, tmp_path: Path
) -> None:
    async with https_proxy(hsi_server.url, tmp_path) as port:
        data = {**hsi_server.entry_data, "port": port, "ssl": True}
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
        assert result["errors"] == {"base": "cannot_connect"}  # the certificate is checked by default
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {**data, "verify_ssl": False})
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
        entry = result["result"]
        assert entry.data["verify_ssl"] is False
        await hass.async_block_till_done()
        # The entry itself reads the server through the proxy (the push channel, which the proxy
        # does not carry, retries meanwhile).
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.data.health["instance_id"] == hsi_server.instance_id
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
