"""Subscribing on `/api/ws` the way a client must: until the server's `subscribed` answer arrives, the
socket is subscribed to everything (the protocol's default), so broadcasts relayed in that moment
(a `camera.updated` of a camera created just before, a periodic `system.status`) may come first."""

from __future__ import annotations

import aiohttp

from server.api.ws import MESSAGE_TYPES


async def subscribe(ws: aiohttp.ClientWebSocketResponse, **data: object) -> None:
    """Send the filter and wait for its acknowledgement, passing over earlier broadcasts (and only
    them: an error answer fails)."""
    await ws.send_json({"type": "subscribe", "data": data})
    while True:
        answer = await ws.receive_json(timeout=10)
        if answer["type"] == "subscribed":
            return
        assert answer["type"] in MESSAGE_TYPES, answer
