"""ZigBee Cluster Library: the frame header and the profile-wide (foundation) commands.

Header::

    frame control (1) | [manufacturer code (2, LE)] | transaction sequence number (1) | command (1)

Frame control bits: 0-1 frame type (0 profile-wide, 1 cluster-specific), 2 manufacturer-specific,
3 direction (0 client to server, 1 server to client), 4 disable default response; 5-7 reserved.

Typed values: every ZCL data type this module knows has a fixed encoding; integers are
little-endian, strings are length-prefixed (1 byte). Values in the API are ``int`` for
integers, bitmaps, enums, booleans (0/1) and UTC time (seconds since 2000-01-01), ``float`` for
floating point, ``bytes`` for octet strings, ``str`` for character strings and ``bytes`` in
display order for EUI-64.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from construct import (
    BytesInteger,
    Error,
    Float16l,
    Float32l,
    GreedyBytes,
    GreedyRange,
    If,
    Int8sl,
    Int8ul,
    Int16sl,
    Int16ul,
    Int24sl,
    Int24ul,
    Int32sl,
    Int32ul,
    Int64ul,
    PascalString,
    Prefixed,
    Struct,
    Switch,
    Terminated,
    this,
)

from emulator.errors import MalformedFrame, WireError
from emulator.wire.codec_errors import CODEC_ERRORS, FAST_PATH_ERRORS

__all__ = [
    "Attribute",
    "ConfigureReporting",
    "ConfigureReportingResponse",
    "ConfigureReportingStatus",
    "DataType",
    "DefaultResponse",
    "Direction",
    "DiscoverAttributes",
    "DiscoverAttributesResponse",
    "FoundationCommand",
    "FoundationId",
    "ReadAttributeRecord",
    "ReadAttributes",
    "ReadAttributesResponse",
    "ReportAttributes",
    "ReportingConfig",
    "Status",
    "WriteAttributes",
    "WriteAttributesResponse",
    "WriteStatusRecord",
    "ZclFrameType",
    "ZclHeader",
    "ZclValue",
    "build_zcl",
    "decode_foundation",
    "encode_foundation",
    "is_analog",
    "parse_zcl",
    "zcl_foundation_frame",
]


class ZclFrameType(IntEnum):
    GLOBAL = 0  # profile-wide (foundation) command
    CLUSTER = 1  # cluster-specific command


class Direction(IntEnum):
    CLIENT_TO_SERVER = 0
    SERVER_TO_CLIENT = 1


class FoundationId(IntEnum):
    READ_ATTRIBUTES = 0x00
    READ_ATTRIBUTES_RESPONSE = 0x01
    WRITE_ATTRIBUTES = 0x02
    WRITE_ATTRIBUTES_UNDIVIDED = 0x03
    WRITE_ATTRIBUTES_RESPONSE = 0x04
    WRITE_ATTRIBUTES_NO_RESPONSE = 0x05
    CONFIGURE_REPORTING = 0x06
    CONFIGURE_REPORTING_RESPONSE = 0x07
    READ_REPORTING_CONFIGURATION = 0x08
    READ_REPORTING_CONFIGURATION_RESPONSE = 0x09
    REPORT_ATTRIBUTES = 0x0A
    DEFAULT_RESPONSE = 0x0B
    DISCOVER_ATTRIBUTES = 0x0C
    DISCOVER_ATTRIBUTES_RESPONSE = 0x0D


class Status(IntEnum):
    SUCCESS = 0x00
    FAILURE = 0x01
    NOT_AUTHORIZED = 0x7E
    RESERVED_FIELD_NOT_ZERO = 0x7F
    MALFORMED_COMMAND = 0x80
    UNSUP_CLUSTER_COMMAND = 0x81
    UNSUP_GENERAL_COMMAND = 0x82
    UNSUP_MANUF_CLUSTER_COMMAND = 0x83
    UNSUP_MANUF_GENERAL_COMMAND = 0x84
    INVALID_FIELD = 0x85
    UNSUPPORTED_ATTRIBUTE = 0x86
    INVALID_VALUE = 0x87
    READ_ONLY = 0x88
    INSUFFICIENT_SPACE = 0x89
    DUPLICATE_EXISTS = 0x8A
    NOT_FOUND = 0x8B
    UNREPORTABLE_ATTRIBUTE = 0x8C
    INVALID_DATA_TYPE = 0x8D
    INVALID_SELECTOR = 0x8E
    WRITE_ONLY = 0x8F
    INCONSISTENT_STARTUP_STATE = 0x90
    DEFINED_OUT_OF_BAND = 0x91
    INCONSISTENT = 0x92
    ACTION_DENIED = 0x93
    TIMEOUT = 0x94
    ABORT = 0x95
    INVALID_IMAGE = 0x96
    WAIT_FOR_DATA = 0x97
    NO_IMAGE_AVAILABLE = 0x98
    REQUIRE_MORE_IMAGE = 0x99
    NOTIFICATION_PENDING = 0x9A
    HARDWARE_FAILURE = 0xC0
    SOFTWARE_FAILURE = 0xC1
    CALIBRATION_ERROR = 0xC2
    UNSUPPORTED_CLUSTER = 0xC3


class DataType(IntEnum):
    BOOL = 0x10
    BITMAP8 = 0x18
    BITMAP16 = 0x19
    BITMAP32 = 0x1B
    UINT8 = 0x20
    UINT16 = 0x21
    UINT24 = 0x22
    UINT32 = 0x23
    UINT40 = 0x24
    UINT48 = 0x25
    UINT56 = 0x26
    UINT64 = 0x27
    INT8 = 0x28
    INT16 = 0x29
    INT24 = 0x2A
    INT32 = 0x2B
    ENUM8 = 0x30
    ENUM16 = 0x31
    SEMI_FLOAT = 0x38
    SINGLE_FLOAT = 0x39
    OCTET_STRING = 0x41
    CHAR_STRING = 0x42
    TIME_OF_DAY = 0xE0
    DATE = 0xE1
    UTC_TIME = 0xE2
    CLUSTER_ID = 0xE8
    ATTRIBUTE_ID = 0xE9
    EUI64 = 0xF0


ZclValue = int | float | bytes | str


def _uint(n: int) -> Any:
    return BytesInteger(n, swapped=True)


# Keys are plain ints: compiled construct writes the keys with repr().
_VALUE_TYPES: dict[int, Any] = {
    0x10: Int8ul,
    0x18: Int8ul,
    0x19: Int16ul,
    0x1B: Int32ul,
    0x20: Int8ul,
    0x21: Int16ul,
    0x22: Int24ul,
    0x23: Int32ul,
    0x24: _uint(5),
    0x25: _uint(6),
    0x26: _uint(7),
    0x27: Int64ul,
    0x28: Int8sl,
    0x29: Int16sl,
    0x2A: Int24sl,
    0x2B: Int32sl,
    0x30: Int8ul,
    0x31: Int16ul,
    0x38: Float16l,
    0x39: Float32l,
    0x41: Prefixed(Int8ul, GreedyBytes),
    0x42: PascalString(Int8ul, "utf8"),
    0xE0: Int32ul,
    0xE1: Int32ul,
    0xE2: Int32ul,
    0xE8: Int16ul,
    0xE9: Int16ul,
    0xF0: Int64ul,
}

# Analog types carry a reportable change in Configure Reporting; discrete types do not.
_ANALOG = {
    0x20,
    0x21,
    0x22,
    0x23,
    0x24,
    0x25,
    0x26,
    0x27,
    0x28,
    0x29,
    0x2A,
    0x2B,
    0x38,
    0x39,
    0xE0,
    0xE1,
    0xE2,
}
_ANALOG_TYPES = {k: v for k, v in _VALUE_TYPES.items() if k in _ANALOG}


def is_analog(data_type: int) -> bool:
    return data_type in _ANALOG


def _value(selector: Any) -> Any:
    return Switch(selector, _VALUE_TYPES, default=Error)


def _to_wire(data_type: int | None, value: ZclValue | None) -> Any:
    if data_type == DataType.EUI64 and isinstance(value, bytes):
        if len(value) != 8:
            raise MalformedFrame(f"an EUI-64 value is 8 bytes, got {len(value)}", "value")
        return int.from_bytes(value, "big")
    if data_type == DataType.BOOL and isinstance(value, bool):
        return int(value)
    return value


def _from_wire(data_type: int | None, value: Any) -> Any:
    if data_type == DataType.EUI64 and isinstance(value, int):
        return value.to_bytes(8, "big")
    return value



def _run_parse(fmt: Any, data: bytes, path: str) -> Any:
    try:
        return fmt.parse(data)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot parse {path}: {exc}", path) from exc


def _run_build(fmt: Any, obj: Any, path: str) -> bytes:
    try:
        out: bytes = fmt.build(obj)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build {path}: {exc}", path) from exc
    return out


# --- header --------------------------------------------------------------------------------

_HEADER = Struct(
    "fc" / Int8ul,
    "manufacturer_code" / If((this.fc & 0x04) != 0, Int16ul),
    "tsn" / Int8ul,
    "command_id" / Int8ul,
    "payload" / GreedyBytes,
).compile()


@dataclass(frozen=True, slots=True)
class ZclHeader:
    frame_type: ZclFrameType
    command_id: int
    tsn: int
    direction: Direction = Direction.CLIENT_TO_SERVER
    disable_default_response: bool = False
    manufacturer_code: int | None = None


_FRAME_TYPES = tuple(ZclFrameType)
_DIRECTIONS = tuple(Direction)


def build_zcl(header: ZclHeader, payload: bytes) -> bytes:
    return _build_zcl(header, payload, True)


def _build_zcl(header: ZclHeader, payload: bytes, fast: bool) -> bytes:
    fc = (
        (int(header.frame_type) & 3)
        | ((header.manufacturer_code is not None) << 2)
        | (int(header.direction) << 3)
        | (header.disable_default_response << 4)
    )
    if fast and header.manufacturer_code is None:
        try:
            return bytes((fc, header.tsn, header.command_id)) + payload
        except FAST_PATH_ERRORS:  # construct below decides, and words the error
            pass
    return _run_build(
        _HEADER,
        {
            "fc": fc,
            "manufacturer_code": header.manufacturer_code,
            "tsn": header.tsn,
            "command_id": header.command_id,
            "payload": payload,
        },
        "zcl",
    )


def parse_zcl(data: bytes) -> tuple[ZclHeader, bytes]:
    if len(data) >= 3:
        fc = data[0]
        if not fc & 0xE4 and fc & 3 < 2:  # no manufacturer code, no reserved bits: fast path
            header = ZclHeader(
                _FRAME_TYPES[fc & 3],
                data[2],
                data[1],
                _DIRECTIONS[(fc >> 3) & 1],
                bool(fc & 0x10),
                None,
            )
            return header, data[3:]
    return _parse_zcl(data)


def _parse_zcl(data: bytes) -> tuple[ZclHeader, bytes]:
    """The construct path of :func:`parse_zcl`."""
    c = _run_parse(_HEADER, data, "zcl")
    fc: int = c.fc
    if fc & 0xE0:
        raise MalformedFrame("reserved ZCL frame control bits set", "zcl.fc")
    if fc & 3 > 1:
        raise MalformedFrame(f"reserved ZCL frame type {fc & 3}", "zcl.fc")
    header = ZclHeader(
        frame_type=ZclFrameType(fc & 3),
        command_id=c.command_id,
        tsn=c.tsn,
        direction=Direction((fc >> 3) & 1),
        disable_default_response=bool(fc & 0x10),
        manufacturer_code=c.manufacturer_code,
    )
    return header, c.payload


# --- foundation command payloads -----------------------------------------------------------

_ATTR_IDS = Struct("ids" / GreedyRange(Int16ul), Terminated).compile()

_READ_RSP = Struct(
    "records"
    / GreedyRange(
        Struct(
            "attribute_id" / Int16ul,
            "status" / Int8ul,
            "data_type" / If(this.status == int(Status.SUCCESS), Int8ul),
            "value" / If(this.status == int(Status.SUCCESS), _value(this.data_type)),
        )
    ),
    Terminated,
).compile()

_ATTR_RECORDS = Struct(
    "records"
    / GreedyRange(
        Struct("attribute_id" / Int16ul, "data_type" / Int8ul, "value" / _value(this.data_type))
    ),
    Terminated,
).compile()

_WRITE_RSP = Struct(
    "records"
    / GreedyRange(
        Struct("status" / Int8ul, "attribute_id" / If(this.status != int(Status.SUCCESS), Int16ul))
    ),
    Terminated,
).compile()

_CONFIG = Struct(
    "records"
    / GreedyRange(
        Struct(
            "direction" / Int8ul,
            "attribute_id" / Int16ul,
            "data_type" / If(this.direction == 0, Int8ul),
            "min_interval" / If(this.direction == 0, Int16ul),
            "max_interval" / If(this.direction == 0, Int16ul),
            "reportable_change" / If(this.direction == 0, Switch(this.data_type, _ANALOG_TYPES)),
            "timeout" / If(this.direction == 1, Int16ul),
        )
    ),
    Terminated,
).compile()

_CONFIG_RSP = Struct(
    "records"
    / GreedyRange(
        Struct(
            "status" / Int8ul,
            "direction" / If(this.status != int(Status.SUCCESS), Int8ul),
            "attribute_id" / If(this.status != int(Status.SUCCESS), Int16ul),
        )
    ),
    Terminated,
).compile()

_DEFAULT_RSP = Struct("command_id" / Int8ul, "status" / Int8ul, Terminated).compile()
_DISCOVER = Struct("start" / Int16ul, "max_count" / Int8ul, Terminated).compile()
_DISCOVER_RSP = Struct(
    "complete" / Int8ul,
    "records" / GreedyRange(Struct("attribute_id" / Int16ul, "data_type" / Int8ul)),
    Terminated,
).compile()


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute id with its ZCL data type and value (Write / Report records)."""

    attribute_id: int
    data_type: int
    value: ZclValue


@dataclass(frozen=True, slots=True)
class ReadAttributeRecord:
    attribute_id: int
    status: int = Status.SUCCESS
    data_type: int | None = None
    value: ZclValue | None = None


@dataclass(frozen=True, slots=True)
class WriteStatusRecord:
    status: int
    attribute_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReportingConfig:
    """One Configure Reporting record. Direction 0 (the server reports) carries type, intervals
    and, for analog types, the reportable change; direction 1 carries the timeout."""

    attribute_id: int
    direction: int = 0
    data_type: int | None = None
    min_interval: int | None = None
    max_interval: int | None = None
    reportable_change: ZclValue | None = None
    timeout: int | None = None


@dataclass(frozen=True, slots=True)
class ConfigureReportingStatus:
    status: int
    direction: int | None = None
    attribute_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReadAttributes:
    command_id: ClassVar[int] = FoundationId.READ_ATTRIBUTES
    attribute_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ReadAttributesResponse:
    command_id: ClassVar[int] = FoundationId.READ_ATTRIBUTES_RESPONSE
    records: tuple[ReadAttributeRecord, ...]


@dataclass(frozen=True, slots=True)
class WriteAttributes:
    command_id: ClassVar[int] = FoundationId.WRITE_ATTRIBUTES
    records: tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class WriteAttributesResponse:
    """All written: a single ``WriteStatusRecord(SUCCESS)``; otherwise one record per failure."""

    command_id: ClassVar[int] = FoundationId.WRITE_ATTRIBUTES_RESPONSE
    records: tuple[WriteStatusRecord, ...]


@dataclass(frozen=True, slots=True)
class ConfigureReporting:
    command_id: ClassVar[int] = FoundationId.CONFIGURE_REPORTING
    records: tuple[ReportingConfig, ...]


@dataclass(frozen=True, slots=True)
class ConfigureReportingResponse:
    """All configured: a single ``ConfigureReportingStatus(SUCCESS)``; otherwise failures."""

    command_id: ClassVar[int] = FoundationId.CONFIGURE_REPORTING_RESPONSE
    records: tuple[ConfigureReportingStatus, ...]


@dataclass(frozen=True, slots=True)
class ReportAttributes:
    command_id: ClassVar[int] = FoundationId.REPORT_ATTRIBUTES
    reports: tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class DefaultResponse:
    command_id: ClassVar[int] = FoundationId.DEFAULT_RESPONSE
    response_to: int
    status: int


@dataclass(frozen=True, slots=True)
class DiscoverAttributes:
    command_id: ClassVar[int] = FoundationId.DISCOVER_ATTRIBUTES
    start: int
    max_count: int


@dataclass(frozen=True, slots=True)
class DiscoverAttributesResponse:
    command_id: ClassVar[int] = FoundationId.DISCOVER_ATTRIBUTES_RESPONSE
    complete: bool
    attributes: tuple[tuple[int, int], ...]  # (attribute id, data type)


FoundationCommand = (
    ReadAttributes
    | ReadAttributesResponse
    | WriteAttributes
    | WriteAttributesResponse
    | ConfigureReporting
    | ConfigureReportingResponse
    | ReportAttributes
    | DefaultResponse
    | DiscoverAttributes
    | DiscoverAttributesResponse
)


# --- fast paths ------------------------------------------------------------------------------
# The construct formats in this module are the declarations. The hot ones (the header and the
# attribute records of Report / Write Attributes, Read Attributes and its response) also have a
# hand-written path for the fixed-size types; anything else (strings, unknown types, values out
# of range, truncated input) goes through construct, so results and errors are unchanged.
# tests/core/test_han_fastpath.py checks both paths agree on random inputs.

# data type -> (size, signed) for the integer-valued types, and the struct of the float ones.
_INT_CODECS: dict[int, tuple[int, bool]] = {
    0x10: (1, False),
    0x18: (1, False),
    0x19: (2, False),
    0x1B: (4, False),
    0x20: (1, False),
    0x21: (2, False),
    0x22: (3, False),
    0x23: (4, False),
    0x24: (5, False),
    0x25: (6, False),
    0x26: (7, False),
    0x27: (8, False),
    0x28: (1, True),
    0x29: (2, True),
    0x2A: (3, True),
    0x2B: (4, True),
    0x30: (1, False),
    0x31: (2, False),
    0xE0: (4, False),
    0xE1: (4, False),
    0xE2: (4, False),
    0xE8: (2, False),
    0xE9: (2, False),
}
_FLOAT_CODECS = {0x38: struct.Struct("<e"), 0x39: struct.Struct("<f")}
_ID_TYPE = struct.Struct("<HB")
_ID_STATUS_TYPE = struct.Struct("<HBB")
_U16 = struct.Struct("<H")


class _Slow(WireError):
    """The fast path does not handle this input: use construct (never leaves this module)."""


_FAST_FAILURES: tuple[type[Exception], ...] = (_Slow, *FAST_PATH_ERRORS)


def _value_fast(data_type: int, value: Any) -> bytes:
    codec = _INT_CODECS.get(data_type)
    if codec is not None and type(value) is int:
        out: bytes = value.to_bytes(codec[0], "little", signed=codec[1])
        return out
    if data_type == DataType.EUI64 and type(value) is bytes and len(value) == 8:
        return value[::-1]
    fmt = _FLOAT_CODECS.get(data_type)
    if fmt is not None and type(value) is float:
        return fmt.pack(value)
    raise _Slow


def _value_parse_fast(data_type: int, data: bytes, off: int) -> tuple[ZclValue, int]:
    codec = _INT_CODECS.get(data_type)
    if codec is not None:
        end = off + codec[0]
        if end > len(data):
            raise _Slow
        return int.from_bytes(data[off:end], "little", signed=codec[1]), end
    if data_type == DataType.EUI64:
        if off + 8 > len(data):
            raise _Slow
        return data[off + 7 : off - 1 if off else None : -1], off + 8
    fmt = _FLOAT_CODECS.get(data_type)
    if fmt is not None:
        if off + fmt.size > len(data):
            raise _Slow
        value: float = fmt.unpack_from(data, off)[0]
        return value, off + fmt.size
    raise _Slow


def _attr_records_fast(records: tuple[Attribute, ...]) -> bytes:
    return b"".join(
        [
            _ID_TYPE.pack(r.attribute_id, r.data_type) + _value_fast(r.data_type, r.value)
            for r in records
        ]
    )


def _attr_records_parse_fast(payload: bytes) -> tuple[Attribute, ...]:
    out = []
    off, end = 0, len(payload)
    while off < end:
        if off + 3 > end:
            raise _Slow
        attribute_id, data_type = _ID_TYPE.unpack_from(payload, off)
        value, off = _value_parse_fast(data_type, payload, off + 3)
        out.append(Attribute(attribute_id, data_type, value))
    return tuple(out)


def _read_rsp_fast(records: tuple[ReadAttributeRecord, ...]) -> bytes:
    parts = []
    for r in records:
        if r.status == Status.SUCCESS:
            if r.data_type is None:
                raise _Slow
            parts.append(_ID_STATUS_TYPE.pack(r.attribute_id, 0, r.data_type))
            parts.append(_value_fast(r.data_type, r.value))
        else:
            parts.append(_ID_TYPE.pack(r.attribute_id, r.status))
    return b"".join(parts)


def _read_rsp_parse_fast(payload: bytes) -> tuple[ReadAttributeRecord, ...]:
    out = []
    off, end = 0, len(payload)
    while off < end:
        if off + 3 > end:
            raise _Slow
        attribute_id, status = _ID_TYPE.unpack_from(payload, off)
        off += 3
        if status:
            out.append(ReadAttributeRecord(attribute_id, status, None, None))
            continue
        if off >= end:
            raise _Slow
        data_type = payload[off]
        value, off = _value_parse_fast(data_type, payload, off + 1)
        out.append(ReadAttributeRecord(attribute_id, status, data_type, value))
    return tuple(out)


def _encode_fast(cmd: FoundationCommand) -> bytes:
    match cmd:
        case ReportAttributes():
            return _attr_records_fast(cmd.reports)
        case WriteAttributes():
            return _attr_records_fast(cmd.records)
        case ReadAttributesResponse():
            return _read_rsp_fast(cmd.records)
        case ReadAttributes():
            return b"".join([_U16.pack(a) for a in cmd.attribute_ids])
    raise _Slow


def _decode_fast(command_id: int, payload: bytes) -> FoundationCommand:
    if command_id == FoundationId.REPORT_ATTRIBUTES:
        return ReportAttributes(_attr_records_parse_fast(payload))
    if command_id == FoundationId.WRITE_ATTRIBUTES:
        return WriteAttributes(_attr_records_parse_fast(payload))
    if command_id == FoundationId.READ_ATTRIBUTES_RESPONSE:
        return ReadAttributesResponse(_read_rsp_parse_fast(payload))
    if command_id == FoundationId.READ_ATTRIBUTES and not len(payload) & 1:
        return ReadAttributes(tuple(v for (v,) in _U16.iter_unpack(payload)))
    raise _Slow


def _attr_records(records: tuple[Attribute, ...]) -> dict[str, Any]:
    return {
        "records": [
            {
                "attribute_id": r.attribute_id,
                "data_type": r.data_type,
                "value": _to_wire(r.data_type, r.value),
            }
            for r in records
        ]
    }


def encode_foundation(cmd: FoundationCommand) -> bytes:
    """The payload of a profile-wide command (the header is :func:`build_zcl`'s job)."""
    try:
        return _encode_fast(cmd)
    except _FAST_FAILURES:  # construct below decides, and words the error
        return _encode_foundation(cmd)


def _encode_foundation(cmd: FoundationCommand) -> bytes:
    """The construct path of :func:`encode_foundation`."""
    name = type(cmd).__name__
    match cmd:
        case ReadAttributes():
            return _run_build(_ATTR_IDS, {"ids": list(cmd.attribute_ids)}, name)
        case ReadAttributesResponse():
            recs = [
                {
                    "attribute_id": r.attribute_id,
                    "status": r.status,
                    "data_type": r.data_type if r.status == Status.SUCCESS else None,
                    "value": _to_wire(r.data_type, r.value) if r.status == Status.SUCCESS else None,
                }
                for r in cmd.records
            ]
            return _run_build(_READ_RSP, {"records": recs}, name)
        case WriteAttributes():
            return _run_build(_ATTR_RECORDS, _attr_records(cmd.records), name)
        case ReportAttributes():
            return _run_build(_ATTR_RECORDS, _attr_records(cmd.reports), name)
        case WriteAttributesResponse():
            recs = [
                {"status": r.status, "attribute_id": r.attribute_id if r.status else None}
                for r in cmd.records
            ]
            return _run_build(_WRITE_RSP, {"records": recs}, name)
        case ConfigureReporting():
            recs = []
            for r in cmd.records:
                reporting = r.direction == 0
                analog = r.data_type is not None and is_analog(r.data_type)
                if reporting and analog and r.reportable_change is None:
                    raise MalformedFrame("analog type needs a reportable change", name)
                recs.append(
                    {
                        "direction": r.direction,
                        "attribute_id": r.attribute_id,
                        "data_type": r.data_type if reporting else None,
                        "min_interval": r.min_interval if reporting else None,
                        "max_interval": r.max_interval if reporting else None,
                        "reportable_change": r.reportable_change if reporting else None,
                        "timeout": None if reporting else r.timeout,
                    }
                )
            return _run_build(_CONFIG, {"records": recs}, name)
        case ConfigureReportingResponse():
            recs = [
                {
                    "status": r.status,
                    "direction": r.direction if r.status else None,
                    "attribute_id": r.attribute_id if r.status else None,
                }
                for r in cmd.records
            ]
            return _run_build(_CONFIG_RSP, {"records": recs}, name)
        case DefaultResponse():
            return _run_build(
                _DEFAULT_RSP, {"command_id": cmd.response_to, "status": cmd.status}, name
            )
        case DiscoverAttributes():
            return _run_build(_DISCOVER, {"start": cmd.start, "max_count": cmd.max_count}, name)
        case DiscoverAttributesResponse():
            return _run_build(
                _DISCOVER_RSP,
                {
                    "complete": int(cmd.complete),
                    "records": [{"attribute_id": a, "data_type": t} for a, t in cmd.attributes],
                },
                name,
            )


def _check_types(records: Any, path: str) -> None:
    for r in records:
        if r.data_type is not None and r.data_type not in _VALUE_TYPES:
            raise MalformedFrame(f"unknown ZCL data type 0x{r.data_type:02X}", path)


def decode_foundation(command_id: int, payload: bytes) -> FoundationCommand:
    """Decode a profile-wide command payload; unknown command ids raise MalformedFrame."""
    try:
        return _decode_fast(command_id, payload)
    except _Slow:
        return _decode_foundation(command_id, payload)


def _decode_foundation(command_id: int, payload: bytes) -> FoundationCommand:
    """The construct path of :func:`decode_foundation`."""
    match command_id:
        case FoundationId.READ_ATTRIBUTES:
            c = _run_parse(_ATTR_IDS, payload, "ReadAttributes")
            return ReadAttributes(tuple(c.ids))
        case FoundationId.READ_ATTRIBUTES_RESPONSE:
            c = _run_parse(_READ_RSP, payload, "ReadAttributesResponse")
            return ReadAttributesResponse(
                tuple(
                    ReadAttributeRecord(
                        r.attribute_id, r.status, r.data_type, _from_wire(r.data_type, r.value)
                    )
                    for r in c.records
                )
            )
        case FoundationId.WRITE_ATTRIBUTES | FoundationId.REPORT_ATTRIBUTES:
            c = _run_parse(_ATTR_RECORDS, payload, "attribute records")
            attrs = tuple(
                Attribute(r.attribute_id, r.data_type, _from_wire(r.data_type, r.value))
                for r in c.records
            )
            if command_id == FoundationId.WRITE_ATTRIBUTES:
                return WriteAttributes(attrs)
            return ReportAttributes(attrs)
        case FoundationId.WRITE_ATTRIBUTES_RESPONSE:
            c = _run_parse(_WRITE_RSP, payload, "WriteAttributesResponse")
            return WriteAttributesResponse(
                tuple(WriteStatusRecord(r.status, r.attribute_id) for r in c.records)
            )
        case FoundationId.CONFIGURE_REPORTING:
            c = _run_parse(_CONFIG, payload, "ConfigureReporting")
            for r in c.records:
                if r.direction > 1:
                    raise MalformedFrame("reporting direction above 1", "ConfigureReporting")
            _check_types(c.records, "ConfigureReporting")
            return ConfigureReporting(
                tuple(
                    ReportingConfig(
                        r.attribute_id,
                        r.direction,
                        r.data_type,
                        r.min_interval,
                        r.max_interval,
                        r.reportable_change,
                        r.timeout,
                    )
                    for r in c.records
                )
            )
        case FoundationId.CONFIGURE_REPORTING_RESPONSE:
            c = _run_parse(_CONFIG_RSP, payload, "ConfigureReportingResponse")
            return ConfigureReportingResponse(
                tuple(
                    ConfigureReportingStatus(r.status, r.direction, r.attribute_id)
                    for r in c.records
                )
            )
        case FoundationId.DEFAULT_RESPONSE:
            c = _run_parse(_DEFAULT_RSP, payload, "DefaultResponse")
            return DefaultResponse(c.command_id, c.status)
        case FoundationId.DISCOVER_ATTRIBUTES:
            c = _run_parse(_DISCOVER, payload, "DiscoverAttributes")
            return DiscoverAttributes(c.start, c.max_count)
        case FoundationId.DISCOVER_ATTRIBUTES_RESPONSE:
            c = _run_parse(_DISCOVER_RSP, payload, "DiscoverAttributesResponse")
            if c.complete > 1:
                raise MalformedFrame(
                    "discovery complete flag above 1", "DiscoverAttributesResponse"
                )
            return DiscoverAttributesResponse(
                bool(c.complete), tuple((r.attribute_id, r.data_type) for r in c.records)
            )
    raise MalformedFrame(f"unsupported ZCL foundation command 0x{command_id:02X}", "zcl.command")


def zcl_foundation_frame(
    cmd: FoundationCommand,
    tsn: int,
    *,
    direction: Direction = Direction.CLIENT_TO_SERVER,
    disable_default_response: bool = False,
    manufacturer_code: int | None = None,
) -> bytes:
    """Header plus payload of a profile-wide command, in one call."""
    header = ZclHeader(
        ZclFrameType.GLOBAL,
        cmd.command_id,
        tsn,
        direction,
        disable_default_response,
        manufacturer_code,
    )
    return build_zcl(header, encode_foundation(cmd))
