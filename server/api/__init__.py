"""The HTTP + WebSocket API (aiohttp): the one contract between the server and its clients."""
