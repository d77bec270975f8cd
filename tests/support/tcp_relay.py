"""A TCP front for a store that listens on a Unix socket, which can be made to reset connections.

The embedded PostgreSQL listens on a Unix socket only; a user's PostgreSQL on another host or in
another container is reached over TCP, where a restart, a proxy or a container network dropping the
connection shows as a reset (RST) that the drivers raise as a bare `ConnectionResetError`. The relay
copies bytes both ways until `resetting` is set: then it resets every open connection and each new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from pathlib import Path
from types import TracebackType

#: SO_LINGER on with a zero timeout: closing the socket sends RST instead of FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    writer.transport.abort()


class TcpRelay:
    """`async with TcpRelay(unix_socket) as relay:` listens on 127.0.0.1:`relay.port`."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._resetting = False

    @property
    def resetting(self) -> bool:
        return self._resetting

    @resetting.setter
    def resetting(self, value: bool) -> None:
        self._resetting = value
        if value:
            for writer in list(self._clients):
                _reset(writer)

    async def __aenter__(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._resetting:
            _reset(client_writer)
            return
        try:
            store_reader, store_writer = await asyncio.open_unix_connection(str(self.target))
        except OSError:
            _reset(client_writer)
            return
        self._clients.add(client_writer)
        try:
            await asyncio.gather(
                self._copy(client_reader, store_writer), self._copy(store_reader, client_writer)
            )
        finally:
            self._clients.discard(client_writer)
            store_writer.transport.abort()
            client_writer.transport.abort()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
