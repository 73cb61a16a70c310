"""A virtual OpenThread RCP: the device side of Spinel on a serial port, in front of a radio.

Any RCP host (s1lab's ``spinel://`` backend, zigbee-on-host, zigbee-herdsman's ``zoh`` adapter)
talks to it as to an ``ot-rcp`` dongle; behind it is a :class:`hw.radio.Radio` on a medium
(usually a ZEP bus), whose soft MAC does what the RCP's hardware MAC would: address filter,
auto-ack with the frame-pending bit (always set while source matching is off, as OpenThread
does), retries. It answers as OpenThread's ``ncp_base`` does:

- RESET -> ``PROP_VALUE_IS LAST_STATUS RESET_POWER_ON`` (TID 0), raw stream and source match
  cleared; GET -> ``PROP_VALUE_IS``, unknown -> ``LAST_STATUS PROP_NOT_FOUND``; SET -> the new
  value; INSERT / REMOVE on the source-match tables -> INSERTED / REMOVED.
- STREAM_RAW SET transmits; transmissions are queued in order (hosts send several at once)
  and each gets its ``LAST_STATUS`` (status, frame pending, header updated) with the
  request's TID. Received frames go up as ``PROP_VALUE_IS STREAM_RAW`` with TID 0 while the
  raw stream is enabled.

Every frame is flagged at both ends and 0x11/0x13 are escaped (hosts open the tty with
XON/XOFF). See ../shared/notes/rcp-interop.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.errors import MalformedFrame
from emulator.wire.eui import eui_from_str
from emulator.wire.ieee802154 import build_mac, mac_ack
from hw import spinel_codec as sc
from hw.radio import AddressFilter, Radio, RxFrame, TxStatus
from hw.serial_port import SerialPort
from hw.softmac import wall_us

VERSION = "S1LAB-VRCP/0.1; VIRTUAL; 2026-12-01\x00"
DEFAULT_EUI = "00-1B-C5-0C-F0-00-00-01"


@dataclass(slots=True)
class RcpState:
    eui: bytes
    enabled: bool = False
    channel: int = 15
    tx_power: int = 5
    cca_threshold: int = -75
    pan_id: int = 0xFFFF
    short: int = 0xFFFE
    laddr: bytes = b"\x00" * 8
    raw_stream: bool = False
    promiscuous: int = 0
    rx_on_when_idle: bool = True
    src_match: bool = False
    src_shorts: list[int] = field(default_factory=list)
    src_extended: list[bytes] = field(default_factory=list)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class VirtualRcp:
    """Device-side Spinel on ``serial_path`` for ``radio``."""

    def __init__(self, serial_path: str, radio: Radio, *, eui: str = DEFAULT_EUI,
                 baudrate: int = 460800, log: Callable[[str], None] | None = None) -> None:
        self.radio = radio
        self.state = RcpState(eui_from_str(eui))
        self._log = log or _stderr
        self._port = SerialPort(serial_path, baudrate, self._data, self._opened, self._lost)
        self._deframer = sc.Deframer()
        self._tx_queue: asyncio.Queue[tuple[int, sc.TxRequest]] = asyncio.Queue()
        self._tx_task: asyncio.Task[None] | None = None
        self.frames_in = 0
        self.frames_out = 0
        radio.on_receive = self._radio_rx

    async def start(self) -> None:
        await self.radio.open()
        self._tx_task = asyncio.ensure_future(self._tx_loop())
        await self._port.open(wait=True)

    async def close(self) -> None:
        if self._tx_task is not None:
            self._tx_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tx_task
        await self._port.close()
        await self.radio.close()

    # ---- serial ------------------------------------------------------------------------------

    def _opened(self) -> None:
        self._log(f"s1lab rcp: serial {self._port.path} open")

    def _lost(self, why: str) -> None:
        self._log(f"s1lab rcp: error: serial lost: {why}; waiting for it to come back")

    def _send(self, frame: sc.Frame) -> None:
        self.frames_out += 1
        self._port.write(frame.encode())

    def _is(self, tid: int, prop: int, value: bytes) -> None:
        self._send(sc.Frame(tid, sc.Cmd.PROP_VALUE_IS, prop, value))

    def _status(self, tid: int, status: int) -> None:
        self._is(tid, sc.Prop.LAST_STATUS, sc.status_value(status))

    def _data(self, data: bytes) -> None:
        for frame in self._deframer.feed(data):
            self.frames_in += 1
            try:
                self._handle(frame)
            except (MalformedFrame, struct.error, IndexError, ValueError):
                self._status(frame.tid, sc.Status.INVALID_ARGUMENT)

    # ---- the dispatcher ------------------------------------------------------------------

    def _handle(self, f: sc.Frame) -> None:
        if f.cmd == sc.Cmd.NOOP:
            self._status(f.tid, sc.Status.OK)
        elif f.cmd == sc.Cmd.RESET:
            self._reset()
            self._status(0, sc.Status.RESET_POWER_ON)
        elif f.cmd == sc.Cmd.PROP_VALUE_GET and f.prop is not None:
            value = self._get(f.prop)
            if value is None:
                self._status(f.tid, sc.Status.PROP_NOT_FOUND)
            else:
                self._is(f.tid, f.prop, value)
        elif f.cmd == sc.Cmd.PROP_VALUE_SET and f.prop is not None:
            if f.prop == sc.Prop.STREAM_RAW:
                request = sc.decode_tx_request(f.value, self.state.channel)
                self._tx_queue.put_nowait((f.tid, request))
                return  # answered when the transmission is done
            status = self._set(f.prop, f.value)
            if status == sc.Status.OK:
                self._is(f.tid, f.prop, self._get(f.prop) or b"")
            else:
                self._status(f.tid, status)
        elif f.cmd in (sc.Cmd.PROP_VALUE_INSERT, sc.Cmd.PROP_VALUE_REMOVE) and f.prop is not None:
            self._insert_remove(f)
        else:
            self._status(f.tid, sc.Status.INVALID_COMMAND)

    def _reset(self) -> None:
        s = self.state
        s.raw_stream = False
        s.src_match = False
        s.src_shorts.clear()
        s.src_extended.clear()
        self._push_filter()

    def _get(self, prop: int) -> bytes | None:
        s = self.state
        P = sc.Prop
        values: dict[int, Callable[[], bytes]] = {
            P.PROTOCOL_VERSION: lambda: sc.uint(sc.PROTOCOL_VERSION[0])
            + sc.uint(sc.PROTOCOL_VERSION[1]),
            P.NCP_VERSION: lambda: VERSION.encode(),
            P.INTERFACE_TYPE: lambda: sc.uint(sc.INTERFACE_THREAD),
            P.CAPS: lambda: b"".join(sc.uint(c) for c in sc.Cap),
            P.HWADDR: lambda: s.eui,
            P.RCP_API_VERSION: lambda: sc.uint(sc.RCP_API_VERSION),
            P.RCP_MIN_HOST_API_VERSION: lambda: sc.uint(sc.RCP_MIN_HOST_API_VERSION),
            P.RADIO_CAPS: lambda: sc.uint(sc.RADIO_CAPS_REQUIRED | sc.RADIO_CAP_ENERGY_SCAN),
            P.PHY_ENABLED: lambda: sc.b(s.enabled),
            P.PHY_CHAN: lambda: sc.u8(s.channel),
            P.PHY_CCA_THRESHOLD: lambda: sc.s8(s.cca_threshold),
            P.PHY_TX_POWER: lambda: sc.s8(s.tx_power),
            P.PHY_RSSI: lambda: sc.s8(-100),
            P.PHY_RX_SENSITIVITY: lambda: sc.s8(-100),
            P.MAC_15_4_LADDR: lambda: s.laddr,
            P.MAC_15_4_SADDR: lambda: sc.u16(s.short),
            P.MAC_15_4_PANID: lambda: sc.u16(s.pan_id),
            P.MAC_RAW_STREAM_ENABLED: lambda: sc.b(s.raw_stream),
            P.MAC_PROMISCUOUS_MODE: lambda: sc.u8(s.promiscuous),
            P.MAC_RX_ON_WHEN_IDLE_MODE: lambda: sc.b(s.rx_on_when_idle),
            P.MAC_SRC_MATCH_ENABLED: lambda: sc.b(s.src_match),
            P.MAC_SRC_MATCH_SHORT_ADDRESSES: lambda: b"".join(sc.u16(a) for a in s.src_shorts),
            P.MAC_SRC_MATCH_EXTENDED_ADDRESSES: lambda: b"".join(s.src_extended),
        }
        fn = values.get(prop)
        return fn() if fn is not None else None

    def _set(self, prop: int, v: bytes) -> int:
        s = self.state
        P = sc.Prop
        if prop == P.PHY_ENABLED:
            s.enabled = bool(v[0])
        elif prop == P.PHY_CHAN:
            if not 11 <= v[0] <= 26:
                return sc.Status.INVALID_ARGUMENT
            s.channel = v[0]
        elif prop == P.PHY_TX_POWER:
            s.tx_power = struct.unpack("<b", v[:1])[0]
        elif prop == P.PHY_CCA_THRESHOLD:
            s.cca_threshold = struct.unpack("<b", v[:1])[0]
        elif prop == P.MAC_15_4_LADDR:
            if len(v) < 8:
                return sc.Status.INVALID_ARGUMENT
            s.laddr = bytes(v[:8])
        elif prop == P.MAC_15_4_SADDR:
            s.short = struct.unpack("<H", v[:2])[0]
        elif prop == P.MAC_15_4_PANID:
            s.pan_id = struct.unpack("<H", v[:2])[0]
        elif prop == P.MAC_RAW_STREAM_ENABLED:
            s.raw_stream = bool(v[0])
        elif prop == P.MAC_PROMISCUOUS_MODE:
            s.promiscuous = v[0]
        elif prop == P.MAC_RX_ON_WHEN_IDLE_MODE:
            s.rx_on_when_idle = bool(v[0])
        elif prop == P.MAC_SRC_MATCH_ENABLED:
            s.src_match = bool(v[0])
        elif prop == P.MAC_SRC_MATCH_SHORT_ADDRESSES:
            s.src_shorts = [struct.unpack_from("<H", v, i)[0] for i in range(0, len(v) - 1, 2)]
        elif prop == P.MAC_SRC_MATCH_EXTENDED_ADDRESSES:
            s.src_extended = [bytes(v[i:i + 8]) for i in range(0, len(v) - 7, 8)]
        else:
            return sc.Status.PROP_NOT_FOUND
        self._push_filter()
        return sc.Status.OK

    def _insert_remove(self, f: sc.Frame) -> None:
        s = self.state
        insert = f.cmd == sc.Cmd.PROP_VALUE_INSERT
        if f.prop == sc.Prop.MAC_SRC_MATCH_SHORT_ADDRESSES and len(f.value) >= 2:
            short = struct.unpack_from("<H", f.value)[0]
            if insert and short not in s.src_shorts:
                s.src_shorts.append(short)
            elif not insert and short in s.src_shorts:
                s.src_shorts.remove(short)
        elif f.prop == sc.Prop.MAC_SRC_MATCH_EXTENDED_ADDRESSES and len(f.value) >= 8:
            ext = bytes(f.value[:8])
            if insert and ext not in s.src_extended:
                s.src_extended.append(ext)
            elif not insert and ext in s.src_extended:
                s.src_extended.remove(ext)
        else:
            self._status(f.tid, sc.Status.PROP_NOT_FOUND)
            return
        self._push_filter()
        cmd = sc.Cmd.PROP_VALUE_INSERTED if insert else sc.Cmd.PROP_VALUE_REMOVED
        self._send(sc.Frame(f.tid, cmd, f.prop, f.value))

    def _push_filter(self) -> None:
        """The RCP's MAC settings onto the radio behind it."""
        s = self.state
        self.radio.config.channel = s.channel
        self.radio.config.filter = AddressFilter(
            pan_id=s.pan_id, shorts=frozenset({s.short}) if s.short < 0xFFFE else frozenset(),
            extended=frozenset({s.laddr}), promiscuous=bool(s.promiscuous),
            src_match=s.src_match, pending_shorts=frozenset(s.src_shorts),
            pending_extended=frozenset(s.src_extended))
        asyncio.ensure_future(self.radio.apply())  # noqa: RUF006 - apply is immediate here

    # ---- the radio side ------------------------------------------------------------------------

    async def _tx_loop(self) -> None:
        while True:
            tid, request = await self._tx_queue.get()
            if not self.state.enabled:
                self._is(tid, sc.Prop.LAST_STATUS, sc.tx_done(sc.Status.INVALID_STATE, False))
                continue
            if request.channel != self.state.channel and 11 <= request.channel <= 26:
                self.radio.config.channel = request.channel
            status = await self.radio.transmit(request.psdu,
                                               max_retries=request.max_frame_retries,
                                               csma=request.csma)
            self.radio.config.channel = self.state.channel
            wants_ack = bool(request.psdu[0] & 0x20)
            ack = None
            if status is TxStatus.OK and wants_ack:
                # The ack the peer sent (seq echoed); frame pending as the radio saw it.
                pending = self.radio.last_ack_pending
                ack = build_mac(mac_ack(request.psdu[2], frame_pending=pending))
            self._is(tid, sc.Prop.LAST_STATUS,
                     sc.tx_done(int(status), self.radio.last_ack_pending if ack else False, ack,
                                self.state.channel, wall_us()))

    def _radio_rx(self, frame: RxFrame) -> None:
        s = self.state
        if not (s.enabled and s.raw_stream) or not self._port.is_open:
            return
        flags = sc.RX_FLAG_ACKED_FP if frame.acked_with_pending else 0
        self._is(0, sc.Prop.STREAM_RAW,
                 sc.rx_frame(frame.psdu, rssi=frame.rssi, lqi=frame.lqi, channel=frame.channel,
                             timestamp_us=frame.timestamp_us, flags=flags))


__all__ = ["VirtualRcp"]
