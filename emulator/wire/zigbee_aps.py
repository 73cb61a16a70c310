"""ZigBee APS frames: data, command and ack, with the APS commands a Trust Center uses.

APS header (little-endian)::

    frame control (1) | [dst endpoint (1)] | [group (2)] | [cluster (2) | profile (2) |
    src endpoint (1)] | APS counter (1) | [extended header] | [auxiliary security header] | payload

Frame control bits: 0-1 frame type (0 data, 1 command, 2 ack, 3 inter-PAN), 2-3 delivery mode
(0 unicast, 1 indirect, 2 broadcast, 3 group), 4 ack format (1 = ack of a command: no addressing
fields), 5 security, 6 ack request, 7 extended header present.

Data frames carry the endpoints, cluster and profile (group delivery replaces the destination
endpoint by the group address); command frames carry only the counter, and their payload starts
with the APS command id. EUI-64 values in the API are display-order bytes, reversed on air.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from construct import (
    Bytes,
    Computed,
    Construct,
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
from emulator.wire.codec_errors import CODEC_ERRORS, FAST_PATH_ERRORS
from emulator.wire.zigbee_nwk import (
    AUX_HEADER,
    SecurityHeader,
    _aux_fast,
    _aux_parse_fast,
    aux_from_container,
    aux_to_container,
    eui_from_air,
    eui_to_air,
)

__all__ = [
    "SE_PROFILE",
    "ApsCommandId",
    "ApsFrameType",
    "ApsHeader",
    "ConfirmKey",
    "DeliveryMode",
    "KeyType",
    "RemoveDevice",
    "RequestKey",
    "SwitchKey",
    "TransportKey",
    "UpdateDevice",
    "VerifyKey",
    "aps_command",
    "aps_data",
    "build_aps",
    "decode_aps_command",
    "encode_aps_command",
    "parse_aps",
    "parse_aps_split",
]

#: The ZigBee Smart Energy application profile id.
SE_PROFILE = 0x0109


class ApsFrameType(IntEnum):
    DATA = 0
    COMMAND = 1
    ACK = 2
    INTER_PAN = 3


class DeliveryMode(IntEnum):
    UNICAST = 0
    INDIRECT = 1
    BROADCAST = 2
    GROUP = 3


class ApsCommandId(IntEnum):
    TRANSPORT_KEY = 0x05
    UPDATE_DEVICE = 0x06
    REMOVE_DEVICE = 0x07
    REQUEST_KEY = 0x08
    SWITCH_KEY = 0x09
    TUNNEL = 0x0E
    VERIFY_KEY = 0x0F
    CONFIRM_KEY = 0x10


class KeyType(IntEnum):
    """Key types of Transport Key / Request Key (ZigBee PRO 2007 numbering)."""

    TC_MASTER = 0x00
    STANDARD_NETWORK = 0x01
    APP_MASTER = 0x02
    APP_LINK = 0x03
    TC_LINK = 0x04
    HIGH_SECURITY_NETWORK = 0x05


_HDR = Struct(
    "fcf" / Int8ul,
    "addressed"
    / Computed(((this.fcf & 3) == 0) | (((this.fcf & 3) == 2) & ((this.fcf & 0x10) == 0))),
    "dst_endpoint" / If(this.addressed & (((this.fcf >> 2) & 3) != 3), Int8ul),
    "group" / If(this.addressed & (((this.fcf >> 2) & 3) == 3), Int16ul),
    "cluster" / If(this.addressed, Int16ul),
    "profile" / If(this.addressed, Int16ul),
    "src_endpoint" / If(this.addressed, Int8ul),
    "counter" / Int8ul,
    "ext"
    / If(
        (this.fcf & 0x80) != 0,
        Struct(
            "control" / Int8ul,
            "block_number" / If((this.control & 3) != 0, Int8ul),
            "ack_bitfield" / If(((this.control & 3) != 0) & ((this._.fcf & 3) == 2), Int8ul),
        ),
    ),
    "aux" / If((this.fcf & 0x20) != 0, AUX_HEADER),
    "payload" / GreedyBytes,
).compile()


@dataclass(frozen=True, slots=True)
class ApsHeader:
    """An APS header; ``aux`` present means the security bit is set.

    ``fragmentation`` (with ``block_number`` and, on acks, ``ack_bitfield``) is the extended
    header; ``None`` means no extended header.
    """

    frame_type: ApsFrameType
    counter: int
    delivery_mode: DeliveryMode = DeliveryMode.UNICAST
    dst_endpoint: int | None = None
    group: int | None = None
    cluster: int | None = None
    profile: int | None = None
    src_endpoint: int | None = None
    ack_request: bool = False
    command_ack: bool = False
    fragmentation: int | None = None
    block_number: int | None = None
    ack_bitfield: int | None = None
    aux: SecurityHeader | None = None


def aps_data(
    counter: int,
    cluster: int,
    *,
    dst_endpoint: int = 1,
    src_endpoint: int = 1,
    profile: int = SE_PROFILE,
    ack_request: bool = True,
    aux: SecurityHeader | None = None,
) -> ApsHeader:
    """A unicast data header (Smart Energy profile by default)."""
    return ApsHeader(
        ApsFrameType.DATA,
        counter,
        dst_endpoint=dst_endpoint,
        cluster=cluster,
        profile=profile,
        src_endpoint=src_endpoint,
        ack_request=ack_request,
        aux=aux,
    )


def aps_command(counter: int, *, aux: SecurityHeader | None = None) -> ApsHeader:
    return ApsHeader(ApsFrameType.COMMAND, counter, aux=aux)


# Fast paths for the shapes without an extended header: fixed fields through one precomputed
# struct.Struct, the auxiliary header by hand. _HDR stays the declaration; the construct path
# runs whenever the fast path does not apply or meets something odd (so errors are unchanged),
# and tests/core/test_han_fastpath.py checks both agree on random inputs.
_DATA_UNICAST = struct.Struct("<BBHHBB")  # fcf, dst endpoint, cluster, profile, src ep, counter
_DATA_GROUP = struct.Struct("<BHHHBB")  # fcf, group, cluster, profile, src endpoint, counter
_UNADDRESSED = struct.Struct("<BB")  # fcf, counter
_FRAME_TYPES = tuple(ApsFrameType)
_DELIVERY_MODES = tuple(DeliveryMode)


def build_aps(header: ApsHeader, payload: bytes) -> bytes:
    return _encode(header, payload, True)


def _encode(header: ApsHeader, payload: bytes, fast: bool) -> bytes:
    addressed = header.frame_type == ApsFrameType.DATA or (
        header.frame_type == ApsFrameType.ACK and not header.command_ack
    )
    group_mode = header.delivery_mode == DeliveryMode.GROUP
    if addressed:
        missing = [
            name
            for name, value in (
                ("cluster", header.cluster),
                ("profile", header.profile),
                ("src_endpoint", header.src_endpoint),
                (
                    "group" if group_mode else "dst_endpoint",
                    header.group if group_mode else header.dst_endpoint,
                ),
            )
            if value is None
        ]
        if missing:
            raise MalformedFrame(f"APS header needs {', '.join(missing)}", f"aps.{missing[0]}")
    fcf = (
        (int(header.frame_type) & 3)
        | ((int(header.delivery_mode) & 3) << 2)
        | (header.command_ack << 4)
        | ((header.aux is not None) << 5)
        | (header.ack_request << 6)
        | ((header.fragmentation is not None) << 7)
    )
    if fast and header.fragmentation is None:
        try:
            if not addressed:
                out = _UNADDRESSED.pack(fcf, header.counter)
            elif group_mode:
                out = _DATA_GROUP.pack(
                    fcf,
                    header.group,
                    header.cluster,
                    header.profile,
                    header.src_endpoint,
                    header.counter,
                )
            else:
                out = _DATA_UNICAST.pack(
                    fcf,
                    header.dst_endpoint,
                    header.cluster,
                    header.profile,
                    header.src_endpoint,
                    header.counter,
                )
            if header.aux is not None:
                out += _aux_fast(header.aux)
            return out + payload
        except FAST_PATH_ERRORS:  # construct below decides, and words the error
            pass
    ext = None
    if header.fragmentation is not None:
        ext = {
            "control": header.fragmentation & 3,
            "block_number": header.block_number,
            "ack_bitfield": header.ack_bitfield,
        }
    try:
        out = _HDR.build(
            {
                "fcf": fcf,
                "dst_endpoint": header.dst_endpoint if addressed and not group_mode else None,
                "group": header.group if addressed and group_mode else None,
                "cluster": header.cluster if addressed else None,
                "profile": header.profile if addressed else None,
                "src_endpoint": header.src_endpoint if addressed else None,
                "counter": header.counter,
                "ext": ext,
                "aux": None if header.aux is None else aux_to_container(header.aux),
                "payload": payload,
            }
        )
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build APS frame: {exc}", "aps") from exc
    return out


def parse_aps_split(data: bytes, *, level: int | None = None) -> tuple[ApsHeader, int]:
    """Decode the header; also return the offset where the payload starts.

    With ``level`` the auxiliary header's ``level`` is set to it (a receiver's configured
    security level) instead of the value on air."""
    if data and not data[0] & 0x80:  # no extended header: the fast path
        parsed = _split_fast(data, level)
        if parsed is not None:
            return parsed
    return _split(data, level)


def _split_fast(data: bytes, level: int | None) -> tuple[ApsHeader, int] | None:
    fcf = data[0]
    frame_type = fcf & 3
    mode = (fcf >> 2) & 3
    dst_endpoint = group = cluster = profile = src_endpoint = None
    if frame_type == 0 or (frame_type == 2 and not fcf & 0x10):
        if mode == 3:
            if len(data) < 9:
                return None
            _, group, cluster, profile, src_endpoint, counter = _DATA_GROUP.unpack_from(data)
            off = 9
        else:
            if len(data) < 8:
                return None
            _, dst_endpoint, cluster, profile, src_endpoint, counter = _DATA_UNICAST.unpack_from(
                data
            )
            off = 8
    else:
        if len(data) < 2:
            return None
        counter = data[1]
        off = 2
    aux = None
    if fcf & 0x20:
        parsed = _aux_parse_fast(data, off, level)
        if parsed is None:
            return None
        aux, off = parsed
    header = ApsHeader(
        _FRAME_TYPES[frame_type],
        counter,
        _DELIVERY_MODES[mode],
        dst_endpoint,
        group,
        cluster,
        profile,
        src_endpoint,
        bool(fcf & 0x40),
        bool(fcf & 0x10),
        None,
        None,
        None,
        aux,
    )
    return header, off


def _split(data: bytes, level: int | None = None) -> tuple[ApsHeader, int]:
    """The construct path of :func:`parse_aps_split`."""
    try:
        c: Any = _HDR.parse(data)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"truncated APS header: {exc}", "aps") from exc
    fcf: int = c.fcf
    ext = c.ext
    aux = None
    if c.aux is not None:
        aux = aux_from_container(c.aux)
        if level is not None:
            aux = SecurityHeader(aux.key_id, aux.frame_counter, aux.source, aux.key_seq, level)
    header = ApsHeader(
        frame_type=ApsFrameType(fcf & 3),
        counter=c.counter,
        delivery_mode=DeliveryMode((fcf >> 2) & 3),
        dst_endpoint=c.dst_endpoint,
        group=c.group,
        cluster=c.cluster,
        profile=c.profile,
        src_endpoint=c.src_endpoint,
        ack_request=bool(fcf & 0x40),
        command_ack=bool(fcf & 0x10),
        fragmentation=None if ext is None else ext.control & 3,
        block_number=None if ext is None else ext.block_number,
        ack_bitfield=None if ext is None else ext.ack_bitfield,
        aux=aux,
    )
    if ext is not None and ext.control & 0xFC:
        raise MalformedFrame("reserved extended frame control bits", "aps.ext")
    return header, len(data) - len(c.payload)


def parse_aps(data: bytes) -> tuple[ApsHeader, bytes]:
    header, offset = parse_aps_split(data)
    return header, data[offset:]


# --- APS commands ----------------------------------------------------------------------------

_EUI = Int64ul

_TRANSPORT_KEY_BODY: dict[int, Construct[Any, Any]] = {
    int(KeyType.STANDARD_NETWORK): Struct(
        "key" / Bytes(16), "key_seq" / Int8ul, "dst" / _EUI, "src" / _EUI
    ),
    int(KeyType.HIGH_SECURITY_NETWORK): Struct(
        "key" / Bytes(16), "key_seq" / Int8ul, "dst" / _EUI, "src" / _EUI
    ),
    int(KeyType.TC_LINK): Struct("key" / Bytes(16), "dst" / _EUI, "src" / _EUI),
    int(KeyType.TC_MASTER): Struct("key" / Bytes(16), "dst" / _EUI, "src" / _EUI),
    int(KeyType.APP_LINK): Struct("key" / Bytes(16), "partner" / _EUI, "initiator" / Int8ul),
    int(KeyType.APP_MASTER): Struct("key" / Bytes(16), "partner" / _EUI, "initiator" / Int8ul),
}

_CMD_BODIES: dict[int, Construct[Any, Any]] = {
    int(ApsCommandId.TRANSPORT_KEY): Struct(
        "key_type" / Int8ul,
        "fields" / Switch(this.key_type, _TRANSPORT_KEY_BODY),
    ),
    int(ApsCommandId.UPDATE_DEVICE): Struct("device" / _EUI, "short" / Int16ul, "status" / Int8ul),
    int(ApsCommandId.REMOVE_DEVICE): Struct("target" / _EUI),
    int(ApsCommandId.REQUEST_KEY): Struct(
        "key_type" / Int8ul,
        "partner" / If(this.key_type == int(KeyType.APP_LINK), _EUI),
    ),
    int(ApsCommandId.SWITCH_KEY): Struct("key_seq" / Int8ul),
    int(ApsCommandId.VERIFY_KEY): Struct("key_type" / Int8ul, "source" / _EUI, "hash" / Bytes(16)),
    int(ApsCommandId.CONFIRM_KEY): Struct("status" / Int8ul, "key_type" / Int8ul, "dst" / _EUI),
}

_CMD = Struct(
    "command_id" / Int8ul,
    "body" / Switch(this.command_id, _CMD_BODIES),
    "rest" / GreedyBytes,
).compile()


@dataclass(frozen=True, slots=True)
class TransportKey:
    """Transport Key (0x05). ``key_seq`` for network keys; ``dst``/``src`` for network and TC
    keys; ``partner``/``initiator`` for application keys."""

    key_type: KeyType
    key: bytes
    key_seq: int | None = None
    dst: bytes | None = None
    src: bytes | None = None
    partner: bytes | None = None
    initiator: bool | None = None


@dataclass(frozen=True, slots=True)
class UpdateDevice:
    device: bytes
    short: int
    status: int  # 0 secured rejoin, 1 unsecured join, 2 left, 3 TC rejoin


@dataclass(frozen=True, slots=True)
class RemoveDevice:
    target: bytes


@dataclass(frozen=True, slots=True)
class RequestKey:
    key_type: KeyType
    partner: bytes | None = None


@dataclass(frozen=True, slots=True)
class SwitchKey:
    key_seq: int


@dataclass(frozen=True, slots=True)
class VerifyKey:
    key_type: KeyType
    source: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class ConfirmKey:
    status: int
    key_type: KeyType
    dst: bytes


ApsCommand = (
    TransportKey | UpdateDevice | RemoveDevice | RequestKey | SwitchKey | VerifyKey | ConfirmKey
)


def _eui_or_none(value: bytes | None) -> int | None:
    return None if value is None else eui_to_air(value)


def encode_aps_command(cmd: ApsCommand) -> bytes:
    """The APS command payload: command id then its fields."""
    body: dict[str, Any]
    match cmd:
        case TransportKey():
            if len(cmd.key) != 16:
                raise MalformedFrame("a key is 16 bytes", "aps.transport_key.key")
            if cmd.key_type in (KeyType.APP_LINK, KeyType.APP_MASTER):
                fields = {
                    "key": cmd.key,
                    "partner": _eui_or_none(cmd.partner),
                    "initiator": int(bool(cmd.initiator)),
                }
            else:
                fields = {
                    "key": cmd.key,
                    "key_seq": cmd.key_seq,
                    "dst": _eui_or_none(cmd.dst),
                    "src": _eui_or_none(cmd.src),
                }
            cid, body = ApsCommandId.TRANSPORT_KEY, {"key_type": cmd.key_type, "fields": fields}
        case UpdateDevice():
            cid = ApsCommandId.UPDATE_DEVICE
            body = {"device": eui_to_air(cmd.device), "short": cmd.short, "status": cmd.status}
        case RemoveDevice():
            cid, body = ApsCommandId.REMOVE_DEVICE, {"target": eui_to_air(cmd.target)}
        case RequestKey():
            cid = ApsCommandId.REQUEST_KEY
            body = {"key_type": cmd.key_type, "partner": _eui_or_none(cmd.partner)}
        case SwitchKey():
            cid, body = ApsCommandId.SWITCH_KEY, {"key_seq": cmd.key_seq}
        case VerifyKey():
            cid = ApsCommandId.VERIFY_KEY
            body = {"key_type": cmd.key_type, "source": eui_to_air(cmd.source), "hash": cmd.hash}
        case ConfirmKey():
            cid = ApsCommandId.CONFIRM_KEY
            body = {"status": cmd.status, "key_type": cmd.key_type, "dst": eui_to_air(cmd.dst)}
    try:
        out: bytes = _CMD.build({"command_id": cid, "body": body, "rest": b""})
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build APS command: {exc}", f"aps.{cid.name.lower()}") from exc
    return out


def decode_aps_command(payload: bytes) -> ApsCommand:
    try:
        c: Any = _CMD.parse(payload)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"truncated APS command: {exc}", "aps.command") from exc
    b = c.body
    if b is None:
        raise MalformedFrame(f"unknown APS command 0x{c.command_id:02X}", "aps.command_id")
    if c.rest:
        raise MalformedFrame("trailing bytes after APS command", "aps.command")
    try:
        match c.command_id:
            case ApsCommandId.TRANSPORT_KEY:
                f = b.fields
                if f is None:
                    raise MalformedFrame(f"unknown key type {b.key_type}", "aps.key_type")
                kt = KeyType(b.key_type)
                if kt in (KeyType.APP_LINK, KeyType.APP_MASTER):
                    return TransportKey(
                        kt, f.key, partner=eui_from_air(f.partner), initiator=bool(f.initiator)
                    )
                return TransportKey(
                    kt,
                    f.key,
                    key_seq=f.get("key_seq"),
                    dst=eui_from_air(f.dst),
                    src=eui_from_air(f.src),
                )
            case ApsCommandId.UPDATE_DEVICE:
                return UpdateDevice(eui_from_air(b.device), b.short, b.status)
            case ApsCommandId.REMOVE_DEVICE:
                return RemoveDevice(eui_from_air(b.target))
            case ApsCommandId.REQUEST_KEY:
                return RequestKey(
                    KeyType(b.key_type), None if b.partner is None else eui_from_air(b.partner)
                )
            case ApsCommandId.SWITCH_KEY:
                return SwitchKey(b.key_seq)
            case ApsCommandId.VERIFY_KEY:
                return VerifyKey(KeyType(b.key_type), eui_from_air(b.source), b.hash)
            case _:
                return ConfirmKey(b.status, KeyType(b.key_type), eui_from_air(b.dst))
    except ValueError as exc:
        raise MalformedFrame(f"bad APS command field: {exc}", "aps.command") from exc
