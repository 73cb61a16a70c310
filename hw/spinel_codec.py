"""Spinel as both ends of s1lab use it: ids, value encodings, the raw-stream structs.

HDLC-lite framing (flags, escapes, FCS) and the packed varint are aiospinel's
(:class:`aiospinel.protocol.HDLCLiteFrame`, :class:`aiospinel.types.PackedUInt21`); aiospinel
leaves values as bytes, so the encodings of the properties s1lab reads and writes, the
STREAM_RAW transmit request, transmit-done and received-frame metadata are declared here, once,
for the host backend (:mod:`hw.spinel`) and the virtual RCP (:mod:`hw.rcp`). Layouts follow
OpenThread's ``src/lib/spinel/spinel.h`` and ``src/ncp/ncp_base_radio.cpp``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from aiospinel.protocol import HDLCLiteFrame
from aiospinel.types import PackedUInt21

from emulator.errors import MalformedFrame

FLAG = 0x7E
HEADER_FLAG = 0x80  # header bits 7..6 = 0b10, NLI 0
PROTOCOL_VERSION = (4, 3)
RCP_API_VERSION = 11
RCP_MIN_HOST_API_VERSION = 4
INTERFACE_THREAD = 3
RESET_STACK = 2


class Cmd(IntEnum):
    NOOP = 0
    RESET = 1
    PROP_VALUE_GET = 2
    PROP_VALUE_SET = 3
    PROP_VALUE_INSERT = 4
    PROP_VALUE_REMOVE = 5
    PROP_VALUE_IS = 6
    PROP_VALUE_INSERTED = 7
    PROP_VALUE_REMOVED = 8


class Prop(IntEnum):
    LAST_STATUS = 0
    PROTOCOL_VERSION = 1
    NCP_VERSION = 2
    INTERFACE_TYPE = 3
    CAPS = 5
    HWADDR = 8
    PHY_ENABLED = 32
    PHY_CHAN = 33
    PHY_CCA_THRESHOLD = 36
    PHY_TX_POWER = 37
    PHY_RSSI = 38
    PHY_RX_SENSITIVITY = 39
    MAC_SCAN_STATE = 48  # aiospinel has 38 (a bug: that is PHY_RSSI)
    MAC_SCAN_MASK = 49
    MAC_SCAN_PERIOD = 50
    MAC_15_4_LADDR = 52
    MAC_15_4_SADDR = 53
    MAC_15_4_PANID = 54
    MAC_RAW_STREAM_ENABLED = 55
    MAC_PROMISCUOUS_MODE = 56
    MAC_RX_ON_WHEN_IDLE_MODE = 59
    STREAM_RAW = 113
    RCP_API_VERSION = 176
    RCP_MIN_HOST_API_VERSION = 177
    RADIO_CAPS = 4619
    MAC_SRC_MATCH_ENABLED = 4867
    MAC_SRC_MATCH_SHORT_ADDRESSES = 4868
    MAC_SRC_MATCH_EXTENDED_ADDRESSES = 4869


class Status(IntEnum):
    OK = 0
    FAILURE = 1
    INVALID_ARGUMENT = 3
    INVALID_STATE = 4
    INVALID_COMMAND = 5
    PROP_NOT_FOUND = 13
    NO_ACK = 17
    CCA_FAILURE = 18
    RESET_POWER_ON = 112


class Cap(IntEnum):
    """CAPS entries an RCP lists."""

    FREQ_2_4_GHZ = 24  # SPINEL_CAP_802_15_4_2450MHZ_OQPSK
    CONFIG_RADIO = 34
    RCP_API_VERSION = 64
    MAC_RAW = 513


#: RADIO_CAPS bits.
RADIO_CAP_ACK_TIMEOUT = 1
RADIO_CAP_ENERGY_SCAN = 2
RADIO_CAP_TRANSMIT_RETRIES = 4
RADIO_CAP_CSMA_BACKOFF = 8
RADIO_CAPS_REQUIRED = RADIO_CAP_ACK_TIMEOUT | RADIO_CAP_TRANSMIT_RETRIES | RADIO_CAP_CSMA_BACKOFF

#: STREAM_RAW receive flags.
RX_FLAG_ACKED_FP = 0x0010
NOISE_UNKNOWN = -128


def uint(value: int) -> bytes:
    """Spinel ``i``: the packed varint."""
    return bytes(PackedUInt21(value).serialize())


def read_uint(data: bytes) -> tuple[int, bytes]:
    try:
        value, rest = PackedUInt21.deserialize(data)
    except (ValueError, IndexError) as exc:
        raise MalformedFrame(f"bad Spinel packed integer: {exc}", "spinel") from exc
    return int(value), bytes(rest)


@dataclass(frozen=True, slots=True)
class Frame:
    tid: int
    cmd: int
    prop: int | None  # for PROP_VALUE_* commands
    value: bytes  # after the property id (or after the command, without one)

    def encode(self) -> bytes:
        body = bytes((HEADER_FLAG | (self.tid & 0x0F),)) + uint(self.cmd)
        if self.prop is not None:
            body += uint(self.prop)
        return bytes(HDLCLiteFrame(data=body + self.value).serialize())


def decode_frame(hdlc_chunk: bytes) -> Frame:
    """One frame between flags (escaped, FCS checked)."""
    try:
        data = HDLCLiteFrame.from_bytes(hdlc_chunk).data
    except (ValueError, IndexError) as exc:
        raise MalformedFrame(f"bad HDLC frame: {exc}", "spinel.hdlc") from exc
    if not data or data[0] & 0xC0 != HEADER_FLAG:
        raise MalformedFrame("bad Spinel header", "spinel.header")
    cmd, rest = read_uint(data[1:])
    prop: int | None = None
    if Cmd.PROP_VALUE_GET <= cmd <= Cmd.PROP_VALUE_REMOVED:
        prop, rest = read_uint(rest)
    return Frame(data[0] & 0x0F, cmd, prop, rest)


class Deframer:
    """Splits a byte stream into Spinel frames, skipping bad ones."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.bad = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        out: list[Frame] = []
        while True:
            at = self._buffer.find(FLAG)
            if at < 0:
                break
            chunk = bytes(self._buffer[:at])
            del self._buffer[:at + 1]
            if not chunk:
                continue
            try:
                out.append(decode_frame(chunk))
            except MalformedFrame:
                self.bad += 1
        return out


# ---- value encodings ------------------------------------------------------------------------

def b(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def u8(value: int) -> bytes:
    return struct.pack("<B", value & 0xFF)


def s8(value: int) -> bytes:
    return struct.pack("<b", max(-128, min(127, value)))


def u16(value: int) -> bytes:
    return struct.pack("<H", value & 0xFFFF)


def status_value(status: int) -> bytes:
    return uint(status)


@dataclass(frozen=True, slots=True)
class TxRequest:
    """A STREAM_RAW SET: the PSDU (FCS included) and how to send it."""

    psdu: bytes
    channel: int
    max_csma_backoffs: int = 4
    max_frame_retries: int = 3
    csma: bool = True

    def encode(self) -> bytes:
        # d (u16 length + PSDU), channel C, backoffs C, retries C, csma b, header updated b,
        # is a retx b, security processed b, tx delay L, tx delay base L, rx channel after C.
        return (u16(len(self.psdu)) + self.psdu
                + struct.pack("<BBB????IIB", self.channel, self.max_csma_backoffs,
                              self.max_frame_retries, self.csma, False, False, False, 0, 0,
                              self.channel))


def decode_tx_request(value: bytes, default_channel: int) -> TxRequest:
    if len(value) < 2:
        raise MalformedFrame("STREAM_RAW without a frame", "spinel.stream_raw")
    (n,) = struct.unpack_from("<H", value)
    psdu = value[2:2 + n]
    if len(psdu) != n or not 5 <= n <= 127:
        raise MalformedFrame(f"STREAM_RAW frame of {n} bytes", "spinel.stream_raw")
    meta = value[2 + n:]
    channel = meta[0] if len(meta) >= 1 else default_channel
    backoffs = meta[1] if len(meta) >= 2 else 4
    retries = meta[2] if len(meta) >= 3 else 3
    csma = bool(meta[3]) if len(meta) >= 4 else True
    return TxRequest(psdu, channel, backoffs, retries, csma)


def rx_frame(psdu: bytes, *, rssi: int, lqi: int, channel: int, timestamp_us: int,
             flags: int = 0) -> bytes:
    """A STREAM_RAW value as an RCP reports a received frame (26 bytes of metadata)."""
    phy = struct.pack("<BBQ", channel, lqi, timestamp_us & 0xFFFFFFFFFFFFFFFF)
    vendor = uint(0)
    mac = struct.pack("<BI", 0, 0)
    return (u16(len(psdu)) + psdu + s8(rssi) + s8(NOISE_UNKNOWN) + u16(flags)
            + u16(len(phy)) + phy + u16(len(vendor)) + vendor + u16(len(mac)) + mac)


@dataclass(frozen=True, slots=True)
class RxInfo:
    psdu: bytes
    rssi: int
    flags: int
    channel: int | None
    lqi: int | None
    timestamp_us: int | None


def decode_rx_frame(value: bytes) -> RxInfo:
    if len(value) < 2:
        raise MalformedFrame("STREAM_RAW without a frame", "spinel.stream_raw")
    (n,) = struct.unpack_from("<H", value)
    psdu = value[2:2 + n]
    if len(psdu) != n:
        raise MalformedFrame("STREAM_RAW frame cut short", "spinel.stream_raw")
    meta = value[2 + n:]
    rssi = struct.unpack_from("<b", meta)[0] if len(meta) >= 1 else 0
    flags = struct.unpack_from("<H", meta, 2)[0] if len(meta) >= 4 else 0
    channel = lqi = ts = None
    if len(meta) >= 6:
        (plen,) = struct.unpack_from("<H", meta, 4)
        if plen >= 10 and len(meta) >= 6 + plen:
            channel, lqi, ts = struct.unpack_from("<BBQ", meta, 6)
    return RxInfo(psdu, rssi, flags, channel, lqi, ts)


def tx_done(status: int, frame_pending: bool, ack_psdu: bytes | None = None,
            channel: int = 0, timestamp_us: int = 0) -> bytes:
    """LAST_STATUS for a finished transmission: status, framePending, headerUpdated, then
    (OK only) the ack received as a radio frame (length 0 when none was asked for)."""
    out = status_value(status) + b(frame_pending) + b(False)
    if status == Status.OK:
        if ack_psdu:
            out += rx_frame(ack_psdu, rssi=-40, lqi=255, channel=channel,
                            timestamp_us=timestamp_us)
        else:
            out += u16(0)
    return out


def decode_tx_done(value: bytes) -> tuple[int, bool]:
    status, rest = read_uint(value)
    return status, bool(rest[0]) if rest else False


__all__ = [
    "Cap",
    "Cmd",
    "Deframer",
    "Frame",
    "Prop",
    "RxInfo",
    "Status",
    "TxRequest",
    "decode_frame",
    "decode_rx_frame",
    "decode_tx_done",
    "decode_tx_request",
    "rx_frame",
    "tx_done",
]
