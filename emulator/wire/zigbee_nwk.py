"""ZigBee (PRO) NWK header and the auxiliary security header shared by NWK and APS.

NWK header (little-endian)::

    frame control (2) | dst (2) | src (2) | radius (1) | seq (1) | [dst IEEE (8)] | [src IEEE (8)]
    | [multicast control (1)] | [source route: count (1), index (1), relays (2 each)]
    | [auxiliary security header] | payload

Frame control bits: 0-1 frame type (0 data, 1 command, 3 inter-PAN), 2-5 protocol version (2 for
ZigBee PRO), 6-7 discover route, 8 multicast, 9 security, 10 source route, 11 dst IEEE present,
12 src IEEE present, 13 end-device initiator.

Auxiliary security header::

    security control (1) | frame counter (4, LE) | [source EUI-64 (8)] | [key sequence number (1)]

Security control: bits 0-2 level (sent as 0; the receiver substitutes its configured level),
bits 3-4 key identifier (0 data/link, 1 network, 2 key-transport, 3 key-load), bit 5 extended
nonce (source EUI-64 present). The key sequence number is present when the key id is network.

EUI-64 values in the API are 8 bytes in display order; on air they are reversed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from construct import (
    Array,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Struct,
    this,
)

from emulator.errors import MalformedFrame
from emulator.wire.codec_errors import CODEC_ERRORS, FAST_PATH_ERRORS

__all__ = [
    "AUX_HEADER",
    "NWK_PROTOCOL_VERSION_PRO",
    "KeyId",
    "NwkCommand",
    "NwkFrameType",
    "NwkHeader",
    "SecurityHeader",
    "SecurityLevel",
    "aux_from_container",
    "aux_to_container",
    "build_aux",
    "build_nwk",
    "eui_from_air",
    "eui_to_air",
    "parse_aux",
    "parse_nwk",
    "parse_nwk_split",
]

NWK_PROTOCOL_VERSION_PRO = 2


class NwkFrameType(IntEnum):
    DATA = 0
    COMMAND = 1
    INTER_PAN = 3


class NwkCommand(IntEnum):
    ROUTE_REQUEST = 0x01
    ROUTE_REPLY = 0x02
    NETWORK_STATUS = 0x03
    LEAVE = 0x04
    ROUTE_RECORD = 0x05
    REJOIN_REQUEST = 0x06
    REJOIN_RESPONSE = 0x07
    LINK_STATUS = 0x08
    NETWORK_REPORT = 0x09
    NETWORK_UPDATE = 0x0A
    END_DEVICE_TIMEOUT_REQUEST = 0x0B
    END_DEVICE_TIMEOUT_RESPONSE = 0x0C


class KeyId(IntEnum):
    DATA = 0  # a link key
    NETWORK = 1
    KEY_TRANSPORT = 2
    KEY_LOAD = 3


class SecurityLevel(IntEnum):
    NONE = 0
    MIC_32 = 1
    MIC_64 = 2
    MIC_128 = 3
    ENC = 4
    ENC_MIC_32 = 5
    ENC_MIC_64 = 6
    ENC_MIC_128 = 7


def eui_to_air(eui: bytes) -> int:
    """Display-order EUI-64 bytes to the integer construct writes little-endian."""
    if len(eui) != 8:
        raise MalformedFrame(f"an EUI-64 is 8 bytes, got {len(eui)}", "eui")
    return int.from_bytes(eui, "big")


def eui_from_air(value: int) -> bytes:
    return value.to_bytes(8, "big")


AUX_HEADER = Struct(
    "control" / Int8ul,
    "counter" / Int32ul,
    "source" / If((this.control & 0x20) != 0, Int64ul),
    "key_seq" / If(((this.control >> 3) & 3) == 1, Int8ul),
)
_AUX = AUX_HEADER.compile()


@dataclass(frozen=True, slots=True)
class SecurityHeader:
    """The auxiliary security header. ``source`` given means the extended nonce bit is set."""

    key_id: KeyId
    frame_counter: int
    source: bytes | None = None
    key_seq: int | None = None
    level: int = 0  # as on air: ZigBee sends 0 here

    @property
    def size(self) -> int:
        return 5 + (8 if self.source is not None else 0) + (1 if self.key_seq is not None else 0)

    @property
    def control(self) -> int:
        return (self.level & 7) | ((int(self.key_id) & 3) << 3) | ((self.source is not None) << 5)


def aux_to_container(aux: SecurityHeader) -> dict[str, Any]:
    if (aux.key_id == KeyId.NETWORK) != (aux.key_seq is not None):
        raise MalformedFrame("key_seq is present exactly when key_id is NETWORK", "aux.key_seq")
    if not 0 <= aux.frame_counter <= 0xFFFFFFFF:
        raise MalformedFrame("frame counter out of range", "aux.frame_counter")
    return {
        "control": aux.control,
        "counter": aux.frame_counter,
        "source": None if aux.source is None else eui_to_air(aux.source),
        "key_seq": aux.key_seq,
    }


def aux_from_container(c: Any) -> SecurityHeader:
    control: int = c.control
    if control & 0xC0:
        raise MalformedFrame("reserved security control bits set", "aux.control")
    return SecurityHeader(
        key_id=KeyId((control >> 3) & 3),
        frame_counter=c.counter,
        source=None if c.source is None else eui_from_air(c.source),
        key_seq=c.key_seq,
        level=control & 7,
    )


def build_aux(aux: SecurityHeader) -> bytes:
    try:
        out: bytes = _AUX.build(aux_to_container(aux))
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build security header: {exc}", "aux") from exc
    return out


def parse_aux(data: bytes) -> SecurityHeader:
    """Parse an auxiliary security header at the start of ``data`` (extra bytes ignored)."""
    try:
        return aux_from_container(_AUX.parse(data))
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"truncated security header: {exc}", "aux") from exc


# --- fast paths -----------------------------------------------------------------------------
# Hand-written equivalents of the compiled construct formats for the shapes a HAN sends all the
# time. AUX_HEADER and _NWK stay the declarations; tests/core/test_han_fastpath.py checks that
# both paths agree on random inputs. When a fast path meets anything it does not expect it
# raises (or returns None) and the construct path runs instead, so the errors are unchanged.

_AUX_FIXED = struct.Struct("<BI")
_KEY_IDS = tuple(KeyId)


def _aux_fast(aux: SecurityHeader) -> bytes:
    """The auxiliary header bytes; raises (anything) where construct must decide."""
    if (aux.key_id == KeyId.NETWORK) != (aux.key_seq is not None):
        raise ValueError("key_seq")
    control = aux.control
    out = _AUX_FIXED.pack(control, aux.frame_counter)
    if control & 0x20:
        source = aux.source
        if source is None or len(source) != 8:
            raise ValueError("source")
        out += source[::-1]
    if (control >> 3) & 3 == 1:
        out += bytes((aux.key_seq,))  # type: ignore[arg-type]  # None: TypeError, fallback
    return out


def _aux_parse_fast(data: bytes, off: int, level: int | None) -> tuple[SecurityHeader, int] | None:
    """Parse an auxiliary header at ``off``: the header and the offset after it, or None
    (truncated, reserved bits) for the construct path to raise."""
    end = len(data)
    if off + 5 > end:
        return None
    control, counter = _AUX_FIXED.unpack_from(data, off)
    if control & 0xC0:
        return None
    off += 5
    source = None
    if control & 0x20:
        if off + 8 > end:
            return None
        source = data[off + 7 : off - 1 : -1]  # off >= 5 here
        off += 8
    key_seq = None
    key_id = (control >> 3) & 3
    if key_id == 1:
        if off >= end:
            return None
        key_seq = data[off]
        off += 1
    return (
        SecurityHeader(
            _KEY_IDS[key_id], counter, source, key_seq, control & 7 if level is None else level
        ),
        off,
    )


_NWK = Struct(
    "fcf" / Int16ul,
    "dst" / Int16ul,
    "src" / Int16ul,
    "radius" / Int8ul,
    "seq" / Int8ul,
    "dst_ieee" / If((this.fcf & 0x0800) != 0, Int64ul),
    "src_ieee" / If((this.fcf & 0x1000) != 0, Int64ul),
    "multicast_control" / If((this.fcf & 0x0100) != 0, Int8ul),
    "source_route"
    / If(
        (this.fcf & 0x0400) != 0,
        Struct(
            "relay_count" / Int8ul,
            "relay_index" / Int8ul,
            "relays" / Array(this.relay_count, Int16ul),
        ),
    ),
    "aux" / If((this.fcf & 0x0200) != 0, AUX_HEADER),
    "payload" / GreedyBytes,
).compile()


@dataclass(frozen=True, slots=True)
class NwkHeader:
    """A NWK header; ``aux`` present means the security bit is set."""

    frame_type: NwkFrameType
    dst: int
    src: int
    seq: int
    radius: int = 30
    protocol_version: int = NWK_PROTOCOL_VERSION_PRO
    discover_route: int = 0
    dst_ieee: bytes | None = None
    src_ieee: bytes | None = None
    multicast_control: int | None = None
    relay_index: int | None = None
    relays: tuple[int, ...] | None = None
    end_device_initiator: bool = False
    aux: SecurityHeader | None = None

    def with_aux(self, aux: SecurityHeader | None) -> NwkHeader:
        return NwkHeader(
            self.frame_type,
            self.dst,
            self.src,
            self.seq,
            self.radius,
            self.protocol_version,
            self.discover_route,
            self.dst_ieee,
            self.src_ieee,
            self.multicast_control,
            self.relay_index,
            self.relays,
            self.end_device_initiator,
            aux,
        )


_NWK_FIXED = struct.Struct("<HHHBB")
_NWK_TYPES = {0: NwkFrameType.DATA, 1: NwkFrameType.COMMAND, 3: NwkFrameType.INTER_PAN}


def build_nwk(header: NwkHeader, payload: bytes) -> bytes:
    """Encode the header (with its auxiliary header, if any) followed by ``payload``."""
    return _encode(header, payload, True)


def _encode(header: NwkHeader, payload: bytes, fast: bool) -> bytes:
    fcf = (
        (int(header.frame_type) & 3)
        | ((header.protocol_version & 0xF) << 2)
        | ((header.discover_route & 3) << 6)
        | ((header.multicast_control is not None) << 8)
        | ((header.aux is not None) << 9)
        | ((header.relays is not None) << 10)
        | ((header.dst_ieee is not None) << 11)
        | ((header.src_ieee is not None) << 12)
        | (header.end_device_initiator << 13)
    )
    if fast and header.relays is None:
        try:
            out = _NWK_FIXED.pack(fcf, header.dst, header.src, header.radius, header.seq)
            for eui in (header.dst_ieee, header.src_ieee):
                if eui is not None:
                    if len(eui) != 8:
                        raise ValueError("eui")
                    out += eui[::-1]
            if header.multicast_control is not None:
                out += bytes((header.multicast_control,))
            if header.aux is not None:
                out += _aux_fast(header.aux)
            return out + payload
        except FAST_PATH_ERRORS:  # construct below decides, and words the error
            pass
    source_route = None
    if header.relays is not None:
        source_route = {
            "relay_count": len(header.relays),
            "relay_index": header.relay_index or 0,
            "relays": list(header.relays),
        }
    try:
        built: bytes = _NWK.build(
            {
                "fcf": fcf,
                "dst": header.dst,
                "src": header.src,
                "radius": header.radius,
                "seq": header.seq,
                "dst_ieee": None if header.dst_ieee is None else eui_to_air(header.dst_ieee),
                "src_ieee": None if header.src_ieee is None else eui_to_air(header.src_ieee),
                "multicast_control": header.multicast_control,
                "source_route": source_route,
                "aux": None if header.aux is None else aux_to_container(header.aux),
                "payload": payload,
            }
        )
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build NWK frame: {exc}", "nwk") from exc
    return built


def parse_nwk_split(data: bytes, *, level: int | None = None) -> tuple[NwkHeader, int]:
    """Decode the header; also return the offset where the payload starts.

    With ``level`` the auxiliary header's ``level`` is set to it (a receiver's configured
    security level) instead of the value on air."""
    if len(data) >= 8 and not data[1] & 0x04:  # no source route: the fast path
        parsed = _split_fast(data, level)
        if parsed is not None:
            return parsed
    return _split(data, level)


def _split_fast(data: bytes, level: int | None) -> tuple[NwkHeader, int] | None:
    fcf, dst, src, radius, seq = _NWK_FIXED.unpack_from(data)
    if fcf & 0xC400 or (fcf & 3) == 2:
        return None
    end = len(data)
    off = 8
    dst_ieee = src_ieee = multicast = aux = None
    if fcf & 0x0800:
        if off + 8 > end:
            return None
        dst_ieee = data[off + 7 : off - 1 : -1]
        off += 8
    if fcf & 0x1000:
        if off + 8 > end:
            return None
        src_ieee = data[off + 7 : off - 1 : -1]
        off += 8
    if fcf & 0x0100:
        if off >= end:
            return None
        multicast = data[off]
        off += 1
    if fcf & 0x0200:
        parsed = _aux_parse_fast(data, off, level)
        if parsed is None:
            return None
        aux, off = parsed
    header = NwkHeader(
        _NWK_TYPES[fcf & 3],
        dst,
        src,
        seq,
        radius,
        (fcf >> 2) & 0xF,
        (fcf >> 6) & 3,
        dst_ieee,
        src_ieee,
        multicast,
        None,
        None,
        bool(fcf & 0x2000),
        aux,
    )
    return header, off


def _split(data: bytes, level: int | None = None) -> tuple[NwkHeader, int]:
    """The construct path of :func:`parse_nwk_split`."""
    try:
        c: Any = _NWK.parse(data)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"truncated NWK header: {exc}", "nwk") from exc
    fcf: int = c.fcf
    frame_type = fcf & 3
    if frame_type == 2:
        raise MalformedFrame("reserved NWK frame type 2", "nwk.fcf")
    if fcf & 0xC000:
        raise MalformedFrame("reserved NWK frame control bits set", "nwk.fcf")
    sr = c.source_route
    aux = None
    if c.aux is not None:
        aux = aux_from_container(c.aux)
        if level is not None:
            aux = SecurityHeader(aux.key_id, aux.frame_counter, aux.source, aux.key_seq, level)
    header = NwkHeader(
        frame_type=NwkFrameType(frame_type),
        dst=c.dst,
        src=c.src,
        seq=c.seq,
        radius=c.radius,
        protocol_version=(fcf >> 2) & 0xF,
        discover_route=(fcf >> 6) & 3,
        dst_ieee=None if c.dst_ieee is None else eui_from_air(c.dst_ieee),
        src_ieee=None if c.src_ieee is None else eui_from_air(c.src_ieee),
        multicast_control=c.multicast_control,
        relay_index=None if sr is None else sr.relay_index,
        relays=None if sr is None else tuple(sr.relays),
        end_device_initiator=bool(fcf & 0x2000),
        aux=aux,
    )
    return header, len(data) - len(c.payload)


def parse_nwk(data: bytes) -> tuple[NwkHeader, bytes]:
    """Decode ``data`` into the header and the payload (still encrypted if ``aux`` is set)."""
    header, offset = parse_nwk_split(data)
    return header, data[offset:]
