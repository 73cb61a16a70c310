"""ZEP, the ZigBee Encapsulation Protocol (Exegin), as sniffers send 802.15.4 frames over UDP.

Version 2 data header (32 bytes, multi-byte fields big-endian)::

    "EX" | version (1) = 2 | type (1) = 1 data | channel (1) | device id (2) | LQI/CRC mode (1)
    | LQI (1) | timestamp (8, NTP: seconds since 1900, 2**-32 fractions) | sequence (4)
    | reserved (10) | length (1)

then the 802.15.4 frame. Wireshark (packet-zep.c) reads a non-zero LQI/CRC mode byte as "CRC":
the last two bytes are a real FCS, handed to the plain 802.15.4 dissector. Mode 0 means the
last two bytes are CC24xx metadata (RSSI, LQI) instead. We always send real FCS bytes and mode 1.
(scapy's ZEP2 reads this byte the other way round; see design.md §10.)

Version 2 ack: "EX" | 2 | type 2 | sequence (4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import (
    Bytes,
    Const,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Struct,
)

from emulator.errors import MalformedFrame
from emulator.wire.codec_errors import CODEC_ERRORS

__all__ = ["ZEP_PORT", "ZepAck", "ZepPacket", "parse_zep", "zep_v2", "zep_v2_ack"]

ZEP_PORT = 17754
_NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_V2 = Struct(
    Const(b"EX"),
    "version" / Int8ub,
    "type" / Int8ub,
    "channel" / Int8ub,
    "device_id" / Int16ub,
    "lqi_mode" / Int8ub,
    "lqi" / Int8ub,
    "ntp_seconds" / Int32ub,
    "ntp_fraction" / Int32ub,
    "seq" / Int32ub,
    "reserved" / Bytes(10),
    "length" / Int8ub,
    "frame" / GreedyBytes,
).compile()

_ACK = Struct(Const(b"EX"), "version" / Int8ub, "type" / Int8ub, "seq" / Int32ub).compile()


def _ntp(timestamp_us: int) -> tuple[int, int]:
    seconds, micros = divmod(timestamp_us, 1_000_000)
    # Rounded up, so that readers truncating to nanoseconds (Wireshark) show whole microseconds.
    return (seconds + _NTP_UNIX_OFFSET) & 0xFFFFFFFF, ((micros << 32) + 999_999) // 1_000_000


def zep_v2(
    frame: bytes,
    channel: int,
    device_id: int,
    seq: int,
    timestamp_us: int,
    *,
    lqi: int = 255,
) -> bytes:
    """A ZEP v2 data packet carrying ``frame`` (an 802.15.4 frame *with* its FCS)."""
    if len(frame) > 127:
        raise MalformedFrame(f"802.15.4 frame of {len(frame)} bytes exceeds 127", "zep.length")
    seconds, fraction = _ntp(timestamp_us)
    try:
        out: bytes = _V2.build(
            {
                "version": 2,
                "type": 1,
                "channel": channel,
                "device_id": device_id,
                "lqi_mode": 1,
                "lqi": lqi,
                "ntp_seconds": seconds,
                "ntp_fraction": fraction,
                "seq": seq & 0xFFFFFFFF,
                "reserved": bytes(10),
                "length": len(frame),
                "frame": frame,
            }
        )
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build ZEP packet: {exc}", "zep") from exc
    return out


def zep_v2_ack(seq: int) -> bytes:
    out: bytes = _ACK.build({"version": 2, "type": 2, "seq": seq & 0xFFFFFFFF})
    return out


@dataclass(frozen=True, slots=True)
class ZepPacket:
    channel: int
    device_id: int
    seq: int
    timestamp_us: int
    lqi_mode: int
    lqi: int
    frame: bytes


@dataclass(frozen=True, slots=True)
class ZepAck:
    seq: int


def parse_zep(data: bytes) -> ZepPacket | ZepAck:
    """Decode a ZEP v2 data or ack packet (v1 is not produced here and is rejected)."""
    try:
        if len(data) >= 4 and data[2] == 2 and data[3] == 2:
            a: Any = _ACK.parse(data)
            if len(data) != 8:
                raise MalformedFrame("trailing bytes after ZEP ack", "zep")
            return ZepAck(a.seq)
        c: Any = _V2.parse(data)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"not a ZEP v2 packet: {exc}", "zep") from exc
    if c.version != 2 or c.type != 1:
        raise MalformedFrame(f"unsupported ZEP version {c.version} type {c.type}", "zep.version")
    if c.length != len(c.frame):
        raise MalformedFrame(f"ZEP length {c.length} but {len(c.frame)} bytes follow", "zep.length")
    micros = (c.ntp_fraction * 1_000_000 + (1 << 31)) >> 32
    timestamp_us = (c.ntp_seconds - _NTP_UNIX_OFFSET) * 1_000_000 + micros
    return ZepPacket(c.channel, c.device_id, c.seq, timestamp_us, c.lqi_mode, c.lqi, c.frame)
