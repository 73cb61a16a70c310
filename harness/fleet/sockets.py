"""The fleet's TCP side: shared listeners that tell which CHF was dialled, and paced dialling.

Listen mode. A real CHF is reached at its SIM's address; here each CHF has its own loopback
address on one port. A listening socket per CHF plus a connection per CHF does not fit 10,000
CHFs in the 20,000 open files a process may hold, so one socket listens for all of them: bound
to the wildcard address but to the loopback *device* (SO_BINDTODEVICE "lo"), it accepts
connections to any 127.x address and to nothing beyond the machine. The accepted socket's local
address (getsockname) names the CHF. Where the device binding is refused, it falls back to one
socket per CHF address.

Connect mode. Each CHF dials the head-end in a paced ramp (a rate, each start jittered), binds
its source to its own address when both are loopback (so the head-end sees one source per CHF
and the 28k-connections-per-source-address limit is not hit), and re-dials with exponential,
jittered backoff when a dial fails or a session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

from emulator.drivers.tcp import TcpLinkEnd, TcpServer, tcp_connect
from emulator.errors import TransportError

BACKLOG = 4096
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def _listening_socket(host: str, port: int, device: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if device is not None:
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, device.encode() + b"\0")
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class SharedListener:
    """Listening sockets for many CHF addresses on one port; ``route`` picks the CHF."""

    route: Callable[[str], Callable[[TcpLinkEnd], object] | None]
    server: TcpServer | None = None
    port: int = 0
    mode: str = ""
    refused: int = 0  # connections to an address that is no CHF of this shard

    def _accepted(self, link: TcpLinkEnd) -> None:
        target = self.route(link.local_address)
        if target is None:
            self.refused += 1
            link.close()
        else:
            target(link)

    async def start(self, host: str, port: int, addresses: list[str], loopback: bool) -> None:
        """Listen for ``addresses`` on ``port`` (0: pick one). ``host`` 0.0.0.0 listens on every
        interface (asked for); a loopback ``host`` keeps to the loopback device."""
        socks: list[socket.socket] = []
        try:
            if host == "0.0.0.0":
                socks.append(_listening_socket("0.0.0.0", port, None))
                self.mode = "one socket on every interface (0.0.0.0)"
            elif loopback:
                try:
                    socks.append(_listening_socket("0.0.0.0", port, "lo"))
                    self.mode = "one socket on the loopback device"
                except PermissionError:
                    socks = []
            if not socks:
                for address in addresses:
                    socks.append(_listening_socket(address, port, None))
                    port = port or socks[0].getsockname()[1]
                self.mode = f"{len(socks)} sockets, one per CHF address"
        except OSError as exc:
            for s in socks:
                s.close()
            raise TransportError(f"cannot listen on port {port}: {exc.strerror or exc}") from None
        self.port = socks[0].getsockname()[1]
        self.server = TcpServer(socks, self._accepted)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@dataclass
class DialStats:
    attempts: int = 0
    failures: int = 0
    connected: int = 0


#: Hands a dialled link to its CHF, with what to call when that session ends (True when it
#: had been established, so the backoff starts again from the bottom).
OnDialled = Callable[[TcpLinkEnd, Callable[[bool], None]], None]


class Dialler:
    """Dials the head-end for every CHF in a paced ramp; re-dials each with backoff."""

    def __init__(self, target: tuple[str, int], rate_per_s: float, rng: random.Random,
                 backoff_s: float = 1.0, backoff_cap_s: float = 60.0) -> None:
        self._target = target
        self._rate = rate_per_s
        self._rng = rng
        self._base = backoff_s
        self._cap = backoff_cap_s
        self._loop = asyncio.get_running_loop()
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures: dict[str, int] = {}
        self._stopped = False
        self.stats = DialStats()

    def ramp(self, chfs: list[tuple[str, str | None, OnDialled]]) -> None:
        """``(key, source address or None, on_dialled)`` per CHF: dial each once, paced, the
        i-th at (i + U[0,1)) / rate seconds."""
        for i, (key, source, on_dialled) in enumerate(chfs):
            delay = (i + self._rng.random()) / self._rate if self._rate > 0 else 0.0
            self._schedule(key, source, on_dialled, delay)

    def _schedule(self, key: str, source: str | None, on_dialled: OnDialled,
                  delay: float) -> None:
        if self._stopped:
            return

        def go() -> None:
            self._handles.pop(key, None)
            task = asyncio.ensure_future(self._dial(key, source, on_dialled))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._handles[key] = self._loop.call_later(delay, go)

    def _backoff(self, key: str) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return float(min(self._cap, self._base * 2 ** n) * (0.5 + self._rng.random()))

    async def _dial(self, key: str, source: str | None, on_dialled: OnDialled) -> None:
        self.stats.attempts += 1
        host, port = self._target
        try:
            link = await tcp_connect(host, port, (source, 0) if source else None)
        except TransportError:
            self.stats.failures += 1
            self._schedule(key, source, on_dialled, self._backoff(key))
            return
        self.stats.connected += 1

        def ended(established: bool) -> None:
            if established:
                self._failures.pop(key, None)
            self._schedule(key, source, on_dialled, self._backoff(key))

        on_dialled(link, ended)

    async def close(self) -> None:
        self._stopped = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
