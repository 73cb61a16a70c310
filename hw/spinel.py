"""An OpenThread RCP over a serial port as a radio (``spinel:///dev/ttyACM0?baudrate=460800``).

Spinel through aiospinel's :class:`~aiospinel.protocol.SpinelProtocol` (HDLC-lite framing,
transaction ids, property listeners) on a pyserial port (:mod:`hw.serial_port`); the value
encodings are :mod:`hw.spinel_codec`'s. On every (re)connection: RESET, then the checks a host
makes (protocol version, ``CAPS`` with MAC_RAW and CONFIG_RADIO, ``RADIO_CAPS`` with ack
timeout, retries and CSMA), then channel, PAN id, addresses, source match and the raw stream.

The RCP's MAC acknowledges, retries and does CSMA. One radio answers to one address pair; when
a process runs several devices on one RCP (``s1lab meters``), the RCP is put in promiscuous mode
and the host acknowledges for the others itself (fast enough through a virtual RCP on a pty;
with a real dongle run one device per radio).

A port that disappears, or an RCP that stops answering, is reported (``on_state``), and it is
reopened and set up again when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiospinel.protocol import SpinelProtocol
from aiospinel.types import CommandID, ResetReason

from emulator.errors import MalformedFrame, TransportError
from emulator.wire.ieee802154 import MacFrameType, build_mac, mac_ack, parse_mac
from hw import spinel_codec as sc
from hw.radio import AddressFilter, Radio, RxFrame, TxStatus
from hw.serial_port import SerialPort

TX_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 1.0


class _PortTransport(asyncio.Transport):
    """What aiospinel's protocol writes to: our serial port."""

    def __init__(self, port: SerialPort) -> None:
        super().__init__()
        self._port = port

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._port.write(bytes(data))

    def is_closing(self) -> bool:
        return not self._port.is_open

    def close(self) -> None:
        pass  # the port's lifetime is the radio's


class SpinelRadio(Radio):
    def __init__(self, path: str, baudrate: int = 460800) -> None:
        super().__init__()
        self.path = path
        self.url = f"spinel://{path}"
        self._port = SerialPort(path, baudrate, self._data, self._opened, self._lost)
        self._protocol = SpinelProtocol()
        self._protocol.add_property_listener(sc.Prop.STREAM_RAW, self._stream_raw)
        self._tx_lock = asyncio.Lock()
        self._setup: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.ncp_version = ""
        self.hwaddr = b""
        self._own: AddressFilter = AddressFilter()  # what the RCP itself filters on
        self.host_acks = 0
        self._why = ""

    def _state(self, up: bool, why: str) -> None:
        self._why = why
        super()._state(up, why)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        await self._port.open(wait=False)  # a missing port at start is an error
        assert self._setup is not None
        await self._setup
        if not self._ready.is_set():
            await self._port.close()
            raise TransportError(self._why)

    async def close(self) -> None:
        if self._setup is not None and not self._setup.done():
            self._setup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._setup
        if self._port.is_open and self.up:
            with contextlib.suppress(TimeoutError, TransportError):
                await self._set(sc.Prop.MAC_RAW_STREAM_ENABLED, sc.b(False))
                await self._set(sc.Prop.PHY_ENABLED, sc.b(False))
        await self._port.close()
        self._state(False, "closed")

    def _opened(self) -> None:
        self._protocol.connection_made(_PortTransport(self._port))
        self._setup = asyncio.ensure_future(self._bring_up())

    def _lost(self, why: str) -> None:
        self._ready.clear()
        self._protocol.connection_lost(None)
        self._state(False, why)

    def _data(self, data: bytes) -> None:
        self._protocol.data_received(data)

    async def _bring_up(self) -> None:
        try:
            await self._protocol.reset(ResetReason.STACK)
            version = await self._get(sc.Prop.PROTOCOL_VERSION)
            major, _ = sc.read_uint(version)
            if major != sc.PROTOCOL_VERSION[0]:
                raise TransportError(f"{self.url}: Spinel protocol {major}, expected 4")
            self.ncp_version = (await self._get(sc.Prop.NCP_VERSION)).rstrip(b"\0").decode(
                "ascii", "replace")
            caps = _uints(await self._get(sc.Prop.CAPS))
            missing = {sc.Cap.MAC_RAW, sc.Cap.CONFIG_RADIO} - set(caps)
            if missing:
                raise TransportError(f"{self.url}: not an RCP (CAPS lacks "
                                     f"{', '.join(c.name for c in missing)})")
            radio_caps, _ = sc.read_uint(await self._get(sc.Prop.RADIO_CAPS))
            if radio_caps & sc.RADIO_CAPS_REQUIRED != sc.RADIO_CAPS_REQUIRED:
                raise TransportError(f"{self.url}: RCP lacks ack timeout, retries or CSMA "
                                     f"(RADIO_CAPS 0x{radio_caps:X})")
            self.hwaddr = await self._get(sc.Prop.HWADDR)
            await self._push()
        except (TimeoutError, MalformedFrame) as exc:
            self._state(False, f"{self.path}: the RCP does not answer ({type(exc).__name__})")
            return
        except TransportError as exc:
            self._state(False, str(exc))
            return
        self._ready.set()
        self._state(True, f"{self.ncp_version.split(';')[0]} on {self.path}")

    # ---- commands --------------------------------------------------------------------------

    async def _command(self, cmd: CommandID, prop: int, value: bytes = b"",
                       wait_s: float = COMMAND_TIMEOUT_S) -> tuple[int, bytes]:
        rsp = await self._protocol.send_command(cmd, sc.uint(prop) + value, retries=0,
                                                timeout=wait_s)
        got, rest = sc.read_uint(rsp.data)
        return got, rest

    async def _get(self, prop: int) -> bytes:
        got, value = await self._command(CommandID.PROP_VALUE_GET, prop)
        if got != prop:
            status, _ = sc.read_uint(value) if got == sc.Prop.LAST_STATUS else (-1, b"")
            raise TransportError(f"{self.url}: GET {sc.Prop(prop).name} failed (status {status})")
        return value

    async def _set(self, prop: int, value: bytes) -> None:
        got, rest = await self._command(CommandID.PROP_VALUE_SET, prop, value)
        if got == sc.Prop.LAST_STATUS:
            status, _ = sc.read_uint(rest)
            if status != sc.Status.OK:
                raise TransportError(f"{self.url}: SET {sc.Prop(prop).name} failed "
                                     f"(status {status})")

    async def _push(self) -> None:
        f = self.config.filter
        multi = len(f.extended) > 1
        ext = sorted(f.extended)[0] if f.extended else b"\0" * 8
        short = min(f.shorts) if f.shorts else 0xFFFE
        self._own = AddressFilter(pan_id=f.pan_id, shorts=frozenset({short}) if f.shorts
                                  else frozenset(), extended=frozenset({ext}))
        P = sc.Prop
        await self._set(P.PHY_ENABLED, sc.b(True))
        await self._set(P.PHY_CHAN, sc.u8(self.config.channel))
        await self._set(P.PHY_TX_POWER, sc.s8(self.config.tx_power_dbm))
        await self._set(P.MAC_15_4_LADDR, ext)
        await self._set(P.MAC_15_4_SADDR, sc.u16(short))
        await self._set(P.MAC_15_4_PANID, sc.u16(f.pan_id))
        await self._set(P.MAC_RX_ON_WHEN_IDLE_MODE, sc.b(True))
        await self._set(P.MAC_PROMISCUOUS_MODE, sc.u8(1 if (multi or f.promiscuous) else 0))
        await self._set(P.MAC_SRC_MATCH_ENABLED, sc.b(f.src_match))
        if f.src_match:
            await self._set(P.MAC_SRC_MATCH_SHORT_ADDRESSES,
                            b"".join(sc.u16(a) for a in sorted(f.pending_shorts)))
            await self._set(P.MAC_SRC_MATCH_EXTENDED_ADDRESSES,
                            b"".join(sorted(f.pending_extended)))
        await self._set(P.MAC_RAW_STREAM_ENABLED, sc.b(True))

    async def apply(self) -> None:
        if self._ready.is_set():
            try:
                await self._push()
            except (TimeoutError, TransportError) as exc:
                self._state(False, f"{self.path}: configuring failed: {exc}")

    # ---- frames ------------------------------------------------------------------------------

    async def transmit(self, psdu: bytes, *, max_retries: int = 3, csma: bool = True
                       ) -> TxStatus:
        if not self._ready.is_set():
            return TxStatus.FAILURE
        request = sc.TxRequest(psdu, self.config.channel, max_frame_retries=max_retries,
                               csma=csma)
        async with self._tx_lock:  # one frame in the RCP at a time, as ot-rcp expects
            try:
                got, rest = await self._command(CommandID.PROP_VALUE_SET, sc.Prop.STREAM_RAW,
                                                request.encode(), wait_s=TX_TIMEOUT_S)
            except TimeoutError:
                if self._port.is_open:
                    self._ready.clear()
                    self._state(False, f"{self.path}: the RCP stopped answering")
                    self._setup = asyncio.ensure_future(self._bring_up())
                return TxStatus.FAILURE
        if got != sc.Prop.LAST_STATUS:
            return TxStatus.FAILURE
        status, pending = sc.decode_tx_done(rest)
        self.last_ack_pending = pending
        try:
            return TxStatus(status)
        except ValueError:
            return TxStatus.FAILURE

    def _stream_raw(self, value: bytes) -> None:
        try:
            rx = sc.decode_rx_frame(value)
            mac = parse_mac(rx.psdu)
        except MalformedFrame:
            return
        f = self.config.filter
        if mac.frame_type is MacFrameType.ACK:
            return
        mine = f.for_us(mac.dst_pan, mac.dst_addr)
        if not mine and not f.promiscuous:
            return  # promiscuous only to hear the other local devices
        if (mine and mac.ack_request and not self._own.for_us(mac.dst_pan, mac.dst_addr)
                and not (isinstance(mac.dst_addr, int) and mac.dst_addr == 0xFFFF)):
            self._host_ack(mac.seq)
        self._deliver(RxFrame(rx.psdu, rx.channel or self.config.channel, rx.rssi,
                              rx.lqi if rx.lqi is not None else 255,
                              rx.timestamp_us or 0,
                              bool(rx.flags & sc.RX_FLAG_ACKED_FP)))

    def _host_ack(self, seq: int) -> None:
        ack = build_mac(mac_ack(seq, frame_pending=True))
        request = sc.TxRequest(ack, self.config.channel, max_frame_retries=0, csma=False)
        self.host_acks += 1
        frame = sc.Frame(0, sc.Cmd.PROP_VALUE_SET, sc.Prop.STREAM_RAW, request.encode())
        self._port.write(frame.encode())  # TID 0: no answer awaited


def _uints(data: bytes) -> list[int]:
    out: list[int] = []
    while data:
        value, data = sc.read_uint(data)
        out.append(value)
    return out


__all__ = ["SpinelRadio"]
