"""A TCP connection as a :class:`~emulator.drivers.link.LinkEnd` (plain TCP; TLS runs above it).

asyncio's SSL transport is not used (see ``tls.py``); TLS bytes travel over this plain protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from emulator.drivers.link import OnClosed, OnData
from emulator.errors import TransportError


class TcpLinkEnd(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._on_data: OnData | None = None
        self._on_closed: OnClosed | None = None
        self._pending: list[bytes] = []
        self._closed = False
        self._closed_reason: str | None = None
        self._peer = "tcp:?"
        self.connected = asyncio.get_running_loop().create_future()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._peer = f"tcp:{peer[0]}:{peer[1]}"
        if not self.connected.done():
            self.connected.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._on_data is None:
            self._pending.append(data)
        else:
            self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        reason = f"connection lost: {exc}" if exc else "closed by peer"
        if self._on_closed is None:
            self._closed_reason = reason
        else:
            self._on_closed(reason)

    # LinkEnd
    def attach(self, on_data: OnData, on_closed: OnClosed) -> None:
        self._on_data = on_data
        self._on_closed = on_closed
        for chunk in self._pending:
            on_data(chunk)
        self._pending.clear()
        if self._closed_reason is not None:
            on_closed(self._closed_reason)

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed and data:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def peer_name(self) -> str:
        return self._peer

    @property
    def addresses(self) -> tuple[object, object]:
        """The socket's (local, peer) addresses as the socket module gives them (for captures)."""
        if self._transport is None:
            return None, None
        return (self._transport.get_extra_info("sockname"),
                self._transport.get_extra_info("peername"))


async def tcp_connect(host: str, port: int) -> TcpLinkEnd:
    loop = asyncio.get_running_loop()
    try:
        _, proto = await loop.create_connection(TcpLinkEnd, host, port)
    except OSError as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    return proto


async def tcp_listen(
    host: str, port: int, on_link: Callable[[TcpLinkEnd], object]
) -> asyncio.Server:
    """Listen; each accepted connection is handed to ``on_link`` once it is made."""
    loop = asyncio.get_running_loop()

    def factory() -> TcpLinkEnd:
        end = TcpLinkEnd()
        end.connected.add_done_callback(lambda _f: on_link(end))
        return end

    try:
        return await loop.create_server(factory, host, port)
    except OSError as exc:
        raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) to a tuple; TransportError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TransportError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)
