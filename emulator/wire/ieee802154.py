"""IEEE 802.15.4 MAC frames (2.4 GHz, 2003/2006 frame versions) as ZigBee uses them.

Layout (all multi-byte fields little-endian on air)::

    FCF (2) | seq (1) | dst PAN (0/2) | dst addr (0/2/8) | src PAN (0/2) | src addr (0/2/8)
    | payload | FCS (2)

Frame control bits: 0-2 frame type, 3 security, 4 frame pending, 5 ack request, 6 PAN-ID
compression, 10-11 destination addressing mode, 12-13 frame version, 14-15 source addressing
mode (0 none, 2 short, 3 extended). The FCS is the ITU-T CRC-16 as 802.15.4 uses it
(CRC-16/KERMIT: reflected polynomial 0x1021, init 0, no final xor), appended little-endian.

Addresses in the API: a short address is an ``int``; an extended address is 8 ``bytes`` in
display order (most significant byte first, as :mod:`emulator.wire.eui` prints it). On air the
extended address is reversed (little-endian).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from construct import (
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int64ul,
    Struct,
    Switch,
    this,
)

from emulator.errors import MalformedFrame
from emulator.wire.codec_errors import CODEC_ERRORS

__all__ = [
    "BROADCAST_PAN",
    "BROADCAST_SHORT",
    "MAX_PSDU",
    "AssociationResponse",
    "MacCommand",
    "MacFrame",
    "MacFrameType",
    "association_request_payload",
    "build_mac",
    "build_mac_frame",
    "crc16_kermit",
    "mac_ack",
    "mac_data",
    "mac_data_request",
    "parse_association_response",
    "parse_mac",
    "split_mac",
]

#: Largest PSDU (PHY payload, FCS included) 802.15.4 allows.
MAX_PSDU = 127
BROADCAST_SHORT = 0xFFFF
BROADCAST_PAN = 0xFFFF


class MacFrameType(IntEnum):
    BEACON = 0
    DATA = 1
    ACK = 2
    COMMAND = 3


class MacCommand(IntEnum):
    ASSOCIATION_REQUEST = 0x01
    ASSOCIATION_RESPONSE = 0x02
    DISASSOCIATION_NOTIFICATION = 0x03
    DATA_REQUEST = 0x04
    PAN_ID_CONFLICT = 0x05
    ORPHAN_NOTIFICATION = 0x06
    BEACON_REQUEST = 0x07
    COORDINATOR_REALIGNMENT = 0x08


# --- CRC ------------------------------------------------------------------------------------

# Bit-reversal of every byte value. A reflected CRC equals the mirrored non-reflected one, so the
# C-speed binascii.crc_hqx (CRC-CCITT, MSB first) computes the reflected variants when fed
# bit-reversed bytes and its result is bit-reversed back.
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _rev16(value: int) -> int:
    return (_REV8[value & 0xFF] << 8) | _REV8[value >> 8]


def crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT (the 802.15.4 FCS). Check value for ``b"123456789"`` is 0x2189."""
    return _rev16(binascii.crc_hqx(data.translate(_REV8), 0))


# --- the frame ------------------------------------------------------------------------------

_ADDR_NONE, _ADDR_SHORT, _ADDR_EXT = 0, 2, 3

_HEADER = Struct(
    "fcf" / Int16ul,
    "seq" / Int8ul,
    "dst_pan" / If(((this.fcf >> 10) & 3) != 0, Int16ul),
    "dst_addr" / Switch((this.fcf >> 10) & 3, {2: Int16ul, 3: Int64ul}),
    "src_pan" / If((((this.fcf >> 14) & 3) != 0) & ((this.fcf & 0x40) == 0), Int16ul),
    "src_addr" / Switch((this.fcf >> 14) & 3, {2: Int16ul, 3: Int64ul}),
    "payload" / GreedyBytes,
).compile()

Address = int | bytes


@dataclass(frozen=True, slots=True)
class MacFrame:
    """One MAC frame. ``command`` is the MAC command id for command frames (``payload`` then
    holds the command's own fields, without the id byte).

    With ``pan_id_compression`` the source PAN is not sent; parsing fills ``src_pan`` with the
    destination PAN so that both PANs are always known to the caller.
    """

    frame_type: MacFrameType
    seq: int
    dst_pan: int | None = None
    dst_addr: Address | None = None
    src_pan: int | None = None
    src_addr: Address | None = None
    payload: bytes = b""
    command: int | None = None
    ack_request: bool = False
    frame_pending: bool = False
    pan_id_compression: bool = False
    security: bool = False
    frame_version: int = 0


def _mode(addr: Address | None, what: str) -> int:
    if addr is None:
        return _ADDR_NONE
    if isinstance(addr, bytes):
        if len(addr) != 8:
            raise MalformedFrame(f"an extended address is 8 bytes, got {len(addr)}", what)
        return _ADDR_EXT
    if not 0 <= addr <= 0xFFFF:
        raise MalformedFrame(f"short address out of range: {addr}", what)
    return _ADDR_SHORT


def _to_air(addr: Address | None) -> int | None:
    if isinstance(addr, bytes):
        return int.from_bytes(addr, "big")
    return addr


def _from_air(mode: int, value: int | None) -> Address | None:
    if mode == _ADDR_EXT and value is not None:
        return value.to_bytes(8, "big")
    return value


# Fast path: one precomputed struct.Struct per addressing shape (destination mode, source
# mode, PAN-ID compression: the FCF bits in _SHAPE_MASK) replaces the construct interpreter for
# the header. _HEADER stays the declaration of the format; tests/core/test_han_fastpath.py
# checks both paths give the same bytes and frames. Anything the fast path does not expect
# (short input, out-of-range values, reserved modes) goes through construct, so errors are
# unchanged.
_SHAPE_MASK = 0xCC40
_AIR = {_ADDR_SHORT: "H", _ADDR_EXT: "Q"}


def _shape(dst_mode: int, src_mode: int, compress: bool) -> tuple[struct.Struct, tuple[int, ...]]:
    fmt = "<HB"
    index = [-1, -1, -1, -1]  # positions of dst_pan, dst_addr, src_pan, src_addr (-1: absent)
    if dst_mode:
        index[0], index[1] = len(fmt) - 1, len(fmt)
        fmt += "H" + _AIR[dst_mode]
    if src_mode:
        if not compress:
            index[2] = len(fmt) - 1
            fmt += "H"
        index[3] = len(fmt) - 1
        fmt += _AIR[src_mode]
    return struct.Struct(fmt), tuple(index)


_SHAPES: dict[int, tuple[struct.Struct, tuple[int, ...]]] = {
    (dst << 10) | (src << 14) | (0x40 if compress else 0): _shape(dst, src, compress)
    for dst in (_ADDR_NONE, _ADDR_SHORT, _ADDR_EXT)
    for src in (_ADDR_NONE, _ADDR_SHORT, _ADDR_EXT)
    for compress in (False, True)
    if not compress or (dst and src)
}
_NONE1: tuple[None] = (None,)
_FRAME_TYPES = tuple(MacFrameType)


def build_mac(frame: MacFrame, *, with_fcs: bool = True) -> bytes:
    """Encode ``frame``; append the FCS unless ``with_fcs`` is false."""
    return _encode(frame, frame.payload, with_fcs, True)


def build_mac_frame(frame: MacFrame, payload: bytes, *, with_fcs: bool = True) -> bytes:
    """:func:`build_mac` with ``payload`` in place of ``frame.payload`` (no copy of the frame)."""
    return _encode(frame, payload, with_fcs, True)


def _encode(frame: MacFrame, payload: bytes, with_fcs: bool, fast: bool) -> bytes:
    dst_mode = _mode(frame.dst_addr, "dst_addr")
    src_mode = _mode(frame.src_addr, "src_addr")
    if (dst_mode != _ADDR_NONE) != (frame.dst_pan is not None):
        raise MalformedFrame("dst_pan and dst_addr go together", "dst_pan")
    compress = frame.pan_id_compression
    if compress:
        if dst_mode == _ADDR_NONE or src_mode == _ADDR_NONE:
            raise MalformedFrame("PAN-ID compression needs both addresses", "pan_id_compression")
        if frame.src_pan is not None and frame.src_pan != frame.dst_pan:
            raise MalformedFrame("PAN-ID compression with two different PANs", "src_pan")
        src_pan = None
    else:
        src_pan = frame.src_pan
        if (src_mode != _ADDR_NONE) != (src_pan is not None):
            raise MalformedFrame("src_pan and src_addr go together", "src_pan")
    fcf = (
        (int(frame.frame_type) & 7)
        | (frame.security << 3)
        | (frame.frame_pending << 4)
        | (frame.ack_request << 5)
        | (compress << 6)
        | (dst_mode << 10)
        | ((frame.frame_version & 3) << 12)
        | (src_mode << 14)
    )
    if frame.frame_type == MacFrameType.COMMAND:
        if frame.command is None:
            raise MalformedFrame("a MAC command frame needs a command id", "command")
        payload = bytes((frame.command,)) + payload
    data: bytes | None = None
    if fast:
        values: list[Any] = [fcf, frame.seq]
        if dst_mode:
            values.append(frame.dst_pan)
            values.append(_to_air(frame.dst_addr))
        if src_mode:
            if not compress:
                values.append(src_pan)
            values.append(_to_air(frame.src_addr))
        try:
            data = _SHAPES[fcf & _SHAPE_MASK][0].pack(*values) + payload
        except (struct.error, TypeError):
            data = None  # let construct decide (and word the error)
    if data is None:
        try:
            data = _HEADER.build(
                {
                    "fcf": fcf,
                    "seq": frame.seq,
                    "dst_pan": frame.dst_pan,
                    "dst_addr": _to_air(frame.dst_addr),
                    "src_pan": src_pan,
                    "src_addr": _to_air(frame.src_addr),
                    "payload": payload,
                }
            )
        except CODEC_ERRORS as exc:
            raise MalformedFrame(f"cannot build MAC frame: {exc}", "mac") from exc
    if with_fcs:
        data += crc16_kermit(data).to_bytes(2, "little")
    if len(data) > MAX_PSDU + (0 if with_fcs else -2):
        raise MalformedFrame(f"PSDU of {len(data)} bytes exceeds {MAX_PSDU}", "payload")
    return data


def parse_mac(data: bytes, with_fcs: bool = True) -> MacFrame:
    """Decode one MAC frame; with ``with_fcs`` the last two bytes are checked as the FCS."""
    return _decode(data, with_fcs, True, True)[0]


def split_mac(data: bytes, with_fcs: bool = True) -> tuple[MacFrame, bytes]:
    """:func:`parse_mac`, but the frame comes back with an empty ``payload`` and the payload
    (the command's fields for command frames) separately."""
    return _decode(data, with_fcs, True, False)


def _decode(data: bytes, with_fcs: bool, fast: bool, keep: bool) -> tuple[MacFrame, bytes]:
    if with_fcs:
        if len(data) < 5:
            raise MalformedFrame(f"MAC frame of {len(data)} bytes is too short", "fcs")
        # KERMIT is reflected with no final xor: the CRC over data || FCS (LE) is 0 iff it fits.
        if binascii.crc_hqx(data.translate(_REV8), 0):
            raise MalformedFrame("FCS mismatch", "fcs")
        end = len(data) - 2
    else:
        end = len(data)
    fcf = -1
    shape = _SHAPES.get((data[0] | (data[1] << 8)) & _SHAPE_MASK) if fast and end >= 2 else None
    if shape is not None and end >= shape[0].size:
        fields = shape[0].unpack_from(data) + _NONE1
        fcf, seq = fields[0], fields[1]
        i_dpan, i_daddr, i_span, i_saddr = shape[1]
        dst_pan, dst_addr, src_pan, src_addr = (
            fields[i_dpan],
            fields[i_daddr],
            fields[i_span],
            fields[i_saddr],
        )
        payload = data[shape[0].size : end]
    else:
        try:
            c: Any = _HEADER.parse(data[:end])
        except CODEC_ERRORS as exc:
            raise MalformedFrame(f"truncated MAC header: {exc}", "mac") from exc
        fcf, seq = c.fcf, c.seq
        dst_pan, dst_addr, src_pan, src_addr = c.dst_pan, c.dst_addr, c.src_pan, c.src_addr
        payload = c.payload
    dst_mode, src_mode = (fcf >> 10) & 3, (fcf >> 14) & 3
    if dst_mode == 1 or src_mode == 1:
        raise MalformedFrame("reserved addressing mode 1", "fcf")
    frame_type = fcf & 7
    if frame_type > 3:
        raise MalformedFrame(f"reserved frame type {frame_type}", "fcf")
    if fcf & 0x0380:
        raise MalformedFrame("reserved frame control bits 7-9 set", "fcf")
    compress = bool(fcf & 0x40)
    if compress:
        if dst_mode == _ADDR_NONE or src_mode == _ADDR_NONE:
            raise MalformedFrame("PAN-ID compression without both addresses", "fcf")
        src_pan = dst_pan
    command = None
    if frame_type == MacFrameType.COMMAND:
        if not payload:
            raise MalformedFrame("MAC command frame without command id", "command")
        command, payload = payload[0], payload[1:]
    frame = MacFrame(
        _FRAME_TYPES[frame_type],
        seq,
        dst_pan,
        _from_air(dst_mode, dst_addr),
        src_pan,
        _from_air(src_mode, src_addr),
        payload if keep else b"",
        command,
        bool(fcf & 0x20),
        bool(fcf & 0x10),
        compress,
        bool(fcf & 0x08),
        (fcf >> 12) & 3,
    )
    return frame, payload


# --- convenience constructors ----------------------------------------------------------------


def mac_data(
    seq: int,
    pan: int,
    dst: Address,
    src: Address,
    payload: bytes,
    *,
    ack_request: bool | None = None,
    frame_pending: bool = False,
) -> MacFrame:
    """An intra-PAN data frame (PAN-ID compression on). Unicast asks for an ack by default."""
    if ack_request is None:
        ack_request = dst != BROADCAST_SHORT
    return MacFrame(
        MacFrameType.DATA,
        seq,
        dst_pan=pan,
        dst_addr=dst,
        src_pan=pan,
        src_addr=src,
        payload=payload,
        ack_request=ack_request,
        frame_pending=frame_pending,
        pan_id_compression=True,
    )


def mac_ack(seq: int, *, frame_pending: bool = False) -> MacFrame:
    """An immediate acknowledgement (5 bytes on air with the FCS)."""
    return MacFrame(MacFrameType.ACK, seq, frame_pending=frame_pending)


def mac_data_request(seq: int, pan: int, dst: Address, src: Address) -> MacFrame:
    """The poll a sleepy end device sends its parent (MAC command 0x04)."""
    return MacFrame(
        MacFrameType.COMMAND,
        seq,
        dst_pan=pan,
        dst_addr=dst,
        src_pan=pan,
        src_addr=src,
        command=MacCommand.DATA_REQUEST,
        ack_request=True,
        pan_id_compression=True,
    )


# Association Request capability information bits.
CAP_ALTERNATE_PAN_COORDINATOR = 0x01
CAP_FFD = 0x02
CAP_MAINS_POWERED = 0x04
CAP_RX_ON_WHEN_IDLE = 0x08
CAP_SECURITY = 0x40
CAP_ALLOCATE_ADDRESS = 0x80


def association_request_payload(capability: int) -> bytes:
    """The payload of an Association Request command (capability information, 1 byte)."""
    return bytes((capability & 0xFF,))


@dataclass(frozen=True, slots=True)
class AssociationResponse:
    short_address: int
    status: int  # 0 success, 1 PAN at capacity, 2 access denied

    def payload(self) -> bytes:
        return self.short_address.to_bytes(2, "little") + bytes((self.status,))


def parse_association_response(payload: bytes) -> AssociationResponse:
    if len(payload) != 3:
        raise MalformedFrame(f"association response payload of {len(payload)} bytes", "payload")
    return AssociationResponse(int.from_bytes(payload[:2], "little"), payload[2])
