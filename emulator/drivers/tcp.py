"""A TCP connection as a :class:`~emulator.drivers.link.LinkEnd` (plain TCP; TLS runs above it).

asyncio's SSL transport is not used (see ``tls.py``); TLS bytes travel over this plain link.
Neither is asyncio's socket transport: a fleet accepts and serves thousands of connections in
a reconnect storm, and the transport's layers (a task per accepted connection, a protocol
object, a future per connection, buffering, callbacks scheduled for each step) cost as much
CPU as a good part of the handshake. The link here is the bare non-blocking socket, driven by
the event loop's reader and writer callbacks: ``recv`` when readable, ``send`` at once (what
does not fit waits for the writer callback), and the acceptor accepts a burst per wakeup.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable

from emulator.drivers.link import OnClosed, OnData
from emulator.errors import TransportError

#: Bytes asked of one ``recv``: more than a TLS record (16 KiB + overhead).
RECV_SIZE = 65536
#: Connections accepted per wakeup of a listening socket.
ACCEPT_BURST = 128
#: When the process is out of file descriptors, listening pauses this long (as asyncio does).
ACCEPT_PAUSE_S = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class TcpLinkEnd:
    """One connected, non-blocking TCP socket. Reading starts at once; what arrives before
    :meth:`attach` is kept and delivered then."""

    __slots__ = ("_closed", "_closed_reason", "_fd", "_flushing", "_loop", "_on_closed",
                 "_on_data", "_out", "_peer", "_pending", "_sock")

    def __init__(self, sock: socket.socket, peer: object = None) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # Nagle would hold back each TLS flight
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = asyncio.get_running_loop()
        self._on_data: OnData | None = None
        self._on_closed: OnClosed | None = None
        self._pending: list[bytes] = []
        self._out = bytearray()
        self._closed = False
        self._flushing = False  # closed locally, still sending what was written
        self._closed_reason: str | None = None
        self._peer = peer
        self._loop.add_reader(self._fd, self._readable)

    # ---- the event loop's callbacks --------------------------------------------------------

    def _readable(self) -> None:
        try:
            data = self._sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(f"connection lost: {exc}")
            return
        if not data:
            self._lost("closed by peer")
        elif self._on_data is None:
            self._pending.append(data)
        else:
            self._on_data(data)

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._out.clear()
            self._lost(f"connection lost: {exc}")
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._flushing:
                self._flushing = False
                self._release()

    def _lost(self, reason: str) -> None:
        """The connection ended under us: release it and say why (once)."""
        was_closed = self._closed
        self._closed = True
        self._flushing = False
        self._release()
        if was_closed:
            return
        on_closed = self._on_closed
        if on_closed is None:
            self._closed_reason = reason
        else:
            self._forget()
            on_closed(reason)

    def _forget(self) -> None:
        # The receiver holds this link and this link its receiver: let go, so a closed
        # session is freed by reference counting rather than left to the cyclic collector.
        self._on_data = None
        self._on_closed = None

    def _release(self) -> None:
        if self._sock.fileno() < 0:
            return
        self._loop.remove_reader(self._fd)
        if self._out:
            self._loop.remove_writer(self._fd)
            self._out.clear()
        self._sock.close()

    def _closed_here(self) -> None:
        # As an asyncio transport does after a local close, tell the receiver the
        # connection is over (a capture records the peer's FIN from it).
        on_closed = self._on_closed
        if on_closed is not None:
            self._forget()
            on_closed("closed by peer")

    # ---- LinkEnd -------------------------------------------------------------------------

    def attach(self, on_data: OnData, on_closed: OnClosed) -> None:
        self._on_data = on_data
        self._on_closed = on_closed
        for chunk in self._pending:
            on_data(chunk)
        self._pending.clear()
        if self._closed_reason is not None:
            on_closed(self._closed_reason)

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            # Reported from the loop, not from inside the caller's own write.
            self._closed = True
            reason = f"connection lost: {exc}"
            self._release()
            if self._on_closed is None:
                self._closed_reason = reason
            else:
                self._loop.call_soon(self._on_closed, reason)
                self._forget()
            return
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._out:
            self._flushing = True  # the writer callback closes the socket once it is sent
            self._loop.remove_reader(self._fd)
        else:
            self._release()
        self._loop.call_soon(self._closed_here)

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def peer_name(self) -> str:
        peer = self._peer
        if isinstance(peer, tuple):
            return f"tcp:{peer[0]}:{peer[1]}"
        return "tcp:?"

    @property
    def local_address(self) -> str:
        """The local IP address the connection arrived at (which CHF was dialled)."""
        with contextlib.suppress(OSError):
            return str(self._sock.getsockname()[0])
        return ""

    @property
    def addresses(self) -> tuple[object, object]:
        """The socket's (local, peer) addresses as the socket module gives them (for captures)."""
        local: object = None
        with contextlib.suppress(OSError):
            local = self._sock.getsockname()
        return local, self._peer


def _numeric(host: str) -> int | None:
    """The address family of a literal IP address, None for a name to look up."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


async def tcp_connect(host: str, port: int,
                      local_addr: tuple[str, int] | None = None) -> TcpLinkEnd:
    """Connect to ``host:port`` (from ``local_addr`` when given); TransportError if it fails."""
    loop = asyncio.get_running_loop()
    family = _numeric(host)
    try:
        if family is not None:
            targets: list[tuple[int, tuple[object, ...]]] = [(family, (host, port))]
        else:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            targets = [(info[0], info[4]) for info in infos]
        last: OSError | None = None
        for family, address in targets:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                if local_addr is not None:
                    sock.bind(local_addr)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            except asyncio.CancelledError:  # the dial was cancelled: leave no socket open
                sock.close()
                raise
            return TcpLinkEnd(sock, address)
        raise last or OSError(f"no address for {host}")
    except OSError as exc:
        raise TransportError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


class TcpServer:
    """Listening sockets; each accepted connection goes to ``on_link`` as a :class:`TcpLinkEnd`."""

    def __init__(self, socks: list[socket.socket], on_link: Callable[[TcpLinkEnd], object]) -> None:
        self.sockets = socks
        self._on_link = on_link
        self._loop = asyncio.get_running_loop()
        self._closed = False
        for sock in socks:
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                conn, peer = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:  # wait for descriptors to be freed
                    self._loop.remove_reader(sock.fileno())
                    self._loop.call_later(ACCEPT_PAUSE_S, self._resume, sock)
                    return
                continue  # the connection was aborted before we took it
            self._on_link(TcpLinkEnd(conn, peer))

    def _resume(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    async def wait_closed(self) -> None:
        """For symmetry with asyncio.Server: closing is immediate."""


async def tcp_listen(
    host: str, port: int, on_link: Callable[[TcpLinkEnd], object]
) -> TcpServer:
    """Listen; each accepted connection is handed to ``on_link``."""
    loop = asyncio.get_running_loop()
    socks: list[socket.socket] = []
    try:
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in {(i[0], i[1], i[2], "", i[4]) for i in infos}:
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        for sock in socks:
            sock.close()
        raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return TcpServer(socks, on_link)


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) to a tuple; TransportError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TransportError(f"not HOST:PORT: {text!r}")
    return host.strip("[]"), int(port)
