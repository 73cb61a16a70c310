"""The radio interface the HAN plugs into, and how a radio URL picks its backend.

A radio transmits a raw 802.15.4 frame (PSDU with FCS) on its channel and reports how that
went (:class:`TxStatus`); it hands every frame it receives, with LQI, RSSI and a time stamp, to
``on_receive``. It is configured with a channel and an :class:`AddressFilter` (PAN id, the
short and extended addresses it answers to, the source-match table for frame-pending bits).

Which layer does what is in docs/architecture.md ("HAN on a radio"): on every backend the
radio's MAC does the acknowledgements (auto-ack, with the frame-pending bit), the MAC retries
and CSMA where there is a channel to sense; the HAN model above it keeps APS acks and
retries, indirect transmission for sleepy devices, joining and security.

URLs::

    zep://BIND_HOST:BIND_PORT?peer=HOST:PORT[&peer=...][&channel=N]
    spinel:///dev/ttyACM0?baudrate=460800[&channel=N]
    memory://BUS[?channel=N]            (radios of one process; tests and benchmarks)
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import parse_qs, urlsplit

from emulator.errors import TransportError

DEFAULT_CHANNEL = 15
BROADCAST_PAN = 0xFFFF
BROADCAST_SHORT = 0xFFFF


class TxStatus(IntEnum):
    """How a transmission ended (the numbers are Spinel's status codes)."""

    OK = 0
    FAILURE = 1  # the radio is gone or refused the frame
    NO_ACK = 17
    CCA_FAILURE = 18


@dataclass(frozen=True, slots=True)
class RxFrame:
    """A frame the radio received and passed through its address filter."""

    psdu: bytes  # with FCS
    channel: int
    rssi: int  # dBm
    lqi: int
    timestamp_us: int  # the radio's clock (for the virtual radios: the run's wall clock)
    acked_with_pending: bool = False


@dataclass(slots=True)
class AddressFilter:
    """What a radio listens to and acknowledges; extended addresses in s1lab's byte order
    (as :func:`emulator.wire.eui.eui_from_str` gives them)."""

    pan_id: int = BROADCAST_PAN
    shorts: frozenset[int] = frozenset()
    extended: frozenset[bytes] = frozenset()
    promiscuous: bool = False
    #: Source matching off (OpenThread's default): every Data Request is acked with pending=1.
    src_match: bool = False
    pending_shorts: frozenset[int] = frozenset()
    pending_extended: frozenset[bytes] = frozenset()

    def for_us(self, dst_pan: int | None, dst: int | bytes | None) -> bool:
        """Is a frame to (``dst_pan``, ``dst``) for this radio (broadcasts included)?"""
        if dst is None:  # no destination: frames to the PAN coordinator (us, if short 0)
            return 0x0000 in self.shorts
        if dst_pan not in (self.pan_id, BROADCAST_PAN):
            return False
        if isinstance(dst, int):
            return dst == BROADCAST_SHORT or dst in self.shorts
        return dst in self.extended

    def pending_for(self, src: int | bytes | None) -> bool:
        if not self.src_match:
            return True
        if isinstance(src, int):
            return src in self.pending_shorts
        return src in self.pending_extended if src is not None else False


@dataclass(slots=True)
class RadioConfig:
    channel: int = DEFAULT_CHANNEL
    filter: AddressFilter = field(default_factory=AddressFilter)
    tx_power_dbm: int = 5


ReceiveFn = Callable[[RxFrame], None]
StateFn = Callable[[bool, str], None]  # (up, why)


class Radio(abc.ABC):
    """One 802.15.4 radio. Subclasses are the backends."""

    url: str

    def __init__(self) -> None:
        self.config = RadioConfig()
        self.on_receive: ReceiveFn | None = None
        self.on_state: StateFn | None = None
        self.up = False
        #: The frame-pending bit of the ack to the last acknowledged transmission.
        self.last_ack_pending = False

    @abc.abstractmethod
    async def open(self) -> None:
        """Start (and, for a serial radio, keep reconnecting until :meth:`close`)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def apply(self) -> None:
        """Push :attr:`config` (channel, PAN id, addresses, source match, power) to the radio."""

    @abc.abstractmethod
    async def transmit(self, psdu: bytes, *, max_retries: int = 3, csma: bool = True
                       ) -> TxStatus:
        """Send ``psdu`` (with FCS); for an acknowledged frame wait for the ack, retrying."""

    async def configure(self, *, channel: int | None = None,
                        filter: AddressFilter | None = None) -> None:
        if channel is not None:
            if not 11 <= channel <= 26:
                raise TransportError(f"802.15.4 channel {channel} is not in 11..26")
            self.config.channel = channel
        if filter is not None:
            self.config.filter = filter
        await self.apply()

    def _deliver(self, frame: RxFrame) -> None:
        if self.on_receive is not None:
            self.on_receive(frame)

    def _state(self, up: bool, why: str) -> None:
        if up != self.up:
            self.up = up
            if self.on_state is not None:
                self.on_state(up, why)


def _hostport(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise TransportError(f"{what}: expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _channel(query: dict[str, list[str]], url: str) -> int:
    text = query.get("channel", [str(DEFAULT_CHANNEL)])[-1]
    if not text.isdigit() or not 11 <= int(text) <= 26:
        raise TransportError(f"{url}: channel must be 11..26, got {text!r}")
    return int(text)


def open_radio(url: str) -> Radio:
    """The backend a radio URL names (not yet opened)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "zep":
        from hw.zep import ZepRadio

        bind = _hostport(parts.netloc, f"{url}: bind address")
        peers = [_hostport(p, f"{url}: peer") for p in query.get("peer", [])]
        radio: Radio = ZepRadio(bind, peers)
    elif parts.scheme == "memory":
        from hw.memory import MemoryRadio

        if not parts.netloc:
            raise TransportError(f"{url}: name the bus (memory://NAME)")
        radio = MemoryRadio(parts.netloc)
    elif parts.scheme == "spinel":
        from hw.spinel import SpinelRadio

        if not parts.path:
            raise TransportError(f"{url}: no serial device path (spinel:///dev/ttyACM0)")
        baud = query.get("baudrate", ["460800"])[-1]
        if not baud.isdigit():
            raise TransportError(f"{url}: baudrate must be a number, got {baud!r}")
        radio = SpinelRadio(parts.path, int(baud))
    else:
        raise TransportError(f"{url}: unknown radio (use zep://HOST:PORT?peer=HOST:PORT or "
                             "spinel:///dev/PATH)")
    radio.url = url
    radio.config.channel = _channel(query, url)
    return radio


__all__ = ["AddressFilter", "Radio", "RadioConfig", "RxFrame", "TxStatus", "open_radio"]
