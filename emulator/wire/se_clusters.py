"""Smart Energy (profile 0x0109) clusters for a SMETS1 HAN: ids, attributes and payload schemas.

Declarative tables in zigpy's spirit: each :class:`ClusterDef` lists its attributes (id, name,
ZCL type) and its cluster-specific commands (id, name, the direction the command travels, and
a compiled construct schema of the payload). :func:`encode_command` / :func:`decode_command`
turn a ``dict`` of fields into payload bytes and back.

Directions follow the SE specification, not zigpy's naming: a command "received by the server"
travels client to server. For Metering, the meter (server) *sends* Request Mirror and Remove
Mirror; the ESI (client) answers with Request Mirror Response and Mirror Removed.

Times are ZigBee UTC (seconds since 2000-01-01). EUI-64 fields are ``int`` here (as read
little-endian from the wire). Payload layouts follow SE 1.1 and were checked against
Wireshark 4.0's ``packet-zbee-zcl-se.c`` dissector (see tests/wire/test_se_clusters.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from construct import (
    Array,
    Bytes,
    Construct,
    Container,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int24ul,
    Int32ul,
    Int64ul,
    ListContainer,
    Prefixed,
    SizeofError,
    StreamError,
    Struct,
    Switch,
    Terminated,
    this,
)
from construct.core import stream_read, stream_write

from emulator.errors import MalformedFrame
from emulator.wire.codec_errors import CODEC_ERRORS
from emulator.wire.zcl import DataType, Direction, Status, ZclFrameType, ZclHeader, build_zcl

__all__ = [
    "CLUSTERS",
    "AttributeDef",
    "BasicAttr",
    "ClusterDef",
    "ClusterId",
    "CommandDef",
    "KeyEstablishmentAttr",
    "MeteringAttr",
    "MeteringDeviceType",
    "OtaAttr",
    "PrepaymentAttr",
    "TimeAttr",
    "TimeStatus",
    "cluster_command_frame",
    "decode_command",
    "encode_command",
]

C2S = Direction.CLIENT_TO_SERVER
S2C = Direction.SERVER_TO_CLIENT


class ClusterId(IntEnum):
    BASIC = 0x0000
    TIME = 0x000A
    OTA = 0x0019
    PRICE = 0x0700
    DRLC = 0x0701
    METERING = 0x0702
    MESSAGING = 0x0703
    TUNNELING = 0x0704
    PREPAYMENT = 0x0705
    KEY_ESTABLISHMENT = 0x0800


class BasicAttr(IntEnum):
    ZCL_VERSION = 0x0000
    APPLICATION_VERSION = 0x0001
    STACK_VERSION = 0x0002
    HW_VERSION = 0x0003
    MANUFACTURER_NAME = 0x0004
    MODEL_IDENTIFIER = 0x0005
    DATE_CODE = 0x0006
    POWER_SOURCE = 0x0007


class TimeAttr(IntEnum):
    TIME = 0x0000
    TIME_STATUS = 0x0001
    TIME_ZONE = 0x0002
    DST_START = 0x0003
    DST_END = 0x0004
    DST_SHIFT = 0x0005
    STANDARD_TIME = 0x0006
    LOCAL_TIME = 0x0007
    LAST_SET_TIME = 0x0008
    VALID_UNTIL_TIME = 0x0009


class TimeStatus(IntEnum):
    """Bits of the Time cluster's TimeStatus attribute."""

    MASTER = 0x01
    SYNCHRONIZED = 0x02
    MASTER_ZONE_DST = 0x04
    SUPERSEDING = 0x08


class OtaAttr(IntEnum):
    UPGRADE_SERVER_ID = 0x0000
    FILE_OFFSET = 0x0001
    CURRENT_FILE_VERSION = 0x0002
    CURRENT_ZIGBEE_STACK_VERSION = 0x0003
    DOWNLOADED_FILE_VERSION = 0x0004
    DOWNLOADED_ZIGBEE_STACK_VERSION = 0x0005
    IMAGE_UPGRADE_STATUS = 0x0006
    MANUFACTURER_ID = 0x0007
    IMAGE_TYPE_ID = 0x0008
    MINIMUM_BLOCK_PERIOD = 0x0009
    IMAGE_STAMP = 0x000A


class MeteringAttr(IntEnum):
    CURRENT_SUMMATION_DELIVERED = 0x0000
    CURRENT_SUMMATION_RECEIVED = 0x0001
    READING_SNAPSHOT_TIME = 0x0007  # UTC time of the last update of the reported values
    STATUS = 0x0200
    UNIT_OF_MEASURE = 0x0300
    MULTIPLIER = 0x0301
    DIVISOR = 0x0302
    SUMMATION_FORMATTING = 0x0303
    DEMAND_FORMATTING = 0x0304
    HISTORICAL_CONSUMPTION_FORMATTING = 0x0305
    METERING_DEVICE_TYPE = 0x0306
    INSTANTANEOUS_DEMAND = 0x0400
    CURRENT_DAY_CONSUMPTION_DELIVERED = 0x0401
    PREVIOUS_DAY_CONSUMPTION_DELIVERED = 0x0403


class MeteringDeviceType(IntEnum):
    """MeteringDeviceType values; SE 1.1 numbers the mirrored types from 128 (verify against
    the SE 1.1 specification before relying on the mirrored values)."""

    ELECTRIC = 0
    GAS = 1
    WATER = 2
    THERMAL = 3
    PRESSURE = 4
    HEAT = 5
    COOLING = 6
    MIRRORED_GAS = 128
    MIRRORED_WATER = 129
    MIRRORED_THERMAL = 130
    MIRRORED_PRESSURE = 131
    MIRRORED_HEAT = 132
    MIRRORED_COOLING = 133


class PrepaymentAttr(IntEnum):
    """Ids as Wireshark 4.0 names them (``zbee_zcl_se.pp.attr_id``)."""

    PAYMENT_CONTROL = 0x0000
    CREDIT_REMAINING = 0x0001
    EMERGENCY_CREDIT_REMAINING = 0x0002
    CREDIT_STATUS = 0x0003
    CREDIT_REMAINING_TIMESTAMP = 0x0004
    ACCUMULATED_DEBT = 0x0005
    OVERALL_DEBT_CAP = 0x0006
    EMERGENCY_CREDIT_LIMIT = 0x0010
    EMERGENCY_CREDIT_THRESHOLD = 0x0011


class KeyEstablishmentAttr(IntEnum):
    KEY_ESTABLISHMENT_SUITE = 0x0000


@dataclass(frozen=True, slots=True)
class AttributeDef:
    id: int
    name: str
    data_type: DataType
    writable: bool = False
    reportable: bool = False


@dataclass(frozen=True, slots=True)
class CommandDef:
    """A cluster-specific command. ``direction`` is the way it travels; ``schema`` is the
    compiled payload format (``None`` for an empty payload)."""

    id: int
    name: str
    direction: Direction
    schema: Any = None


@dataclass(frozen=True)
class ClusterDef:
    id: int
    name: str
    attributes: Mapping[int, AttributeDef]
    commands: tuple[CommandDef, ...]
    _by_key: dict[tuple[int, Direction], CommandDef] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, CommandDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {(c.id, c.direction): c for c in self.commands})
        object.__setattr__(self, "_by_name", {c.name: c for c in self.commands})

    def command(self, command_id: int, direction: Direction) -> CommandDef:
        try:
            return self._by_key[(command_id, direction)]
        except KeyError:
            raise MalformedFrame(
                f"{self.name} has no command 0x{command_id:02X} travelling {direction.name}",
                f"{self.name}.command",
            ) from None

    def command_named(self, name: str) -> CommandDef:
        try:
            return self._by_name[name]
        except KeyError:
            raise MalformedFrame(f"{self.name} has no command {name!r}", self.name) from None

    def attribute_named(self, name: str) -> AttributeDef:
        for a in self.attributes.values():
            if a.name == name:
                return a
        raise MalformedFrame(f"{self.name} has no attribute {name!r}", self.name)


def _attrs(*defs: AttributeDef) -> dict[int, AttributeDef]:
    return {a.id: a for a in defs}


def _s(*fields: Any) -> Any:
    """A compiled payload struct that must consume the whole payload."""
    return Struct(*fields, Terminated).compile()


_OCTETS = Prefixed(Int8ul, GreedyBytes)
_ZCL_CHARS_HELPERS = """
def s1lab_zcl_chars_parse(io):
    head = io.read(1)
    if len(head) != 1:
        raise StreamError("character string: no length octet")
    data = io.read(head[0])
    if len(data) != head[0]:
        raise StreamError("character string: %d octets announced, %d present"
                          % (head[0], len(data)))
    return data.decode("utf-8", "surrogateescape")

def s1lab_zcl_chars_build(io, obj):
    data = obj.encode("utf-8", "surrogateescape")
    if len(data) > 254:
        raise StreamError("character string longer than 254 octets")
    io.write(bytes((len(data),)) + data)
    return obj
"""


if TYPE_CHECKING:
    _StrConstruct = Construct[str, str]
else:
    _StrConstruct = Construct  # construct's classes are generic only in the stubs


class _ZclChars(_StrConstruct):
    """A ZCL character string: a length octet, then exactly that many octets (UTF-8; other
    octets survive as surrogate escapes). Strict in both forms: construct's compiled
    PascalString accepts a length that overruns the data."""

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        n = stream_read(stream, 1, path)[0]
        return bytes(stream_read(stream, n, path)).decode("utf-8", "surrogateescape")

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        data = str(obj).encode("utf-8", "surrogateescape")
        if len(data) > 254:
            raise StreamError("character string longer than 254 octets", path=path)
        stream_write(stream, bytes((len(data),)) + data, len(data) + 1, path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        code.append(_ZCL_CHARS_HELPERS)
        return "s1lab_zcl_chars_parse(io)"

    def _emitbuild(self, code: Any) -> str:
        code.append(_ZCL_CHARS_HELPERS)
        return "s1lab_zcl_chars_build(io, obj)"


_CHARS = _ZclChars()
_UTC = Int32ul

# --- Basic / Time ----------------------------------------------------------------------------

BASIC = ClusterDef(
    ClusterId.BASIC,
    "Basic",
    _attrs(
        AttributeDef(BasicAttr.ZCL_VERSION, "ZCLVersion", DataType.UINT8),
        AttributeDef(BasicAttr.APPLICATION_VERSION, "ApplicationVersion", DataType.UINT8),
        AttributeDef(BasicAttr.STACK_VERSION, "StackVersion", DataType.UINT8),
        AttributeDef(BasicAttr.HW_VERSION, "HWVersion", DataType.UINT8),
        AttributeDef(BasicAttr.MANUFACTURER_NAME, "ManufacturerName", DataType.CHAR_STRING),
        AttributeDef(BasicAttr.MODEL_IDENTIFIER, "ModelIdentifier", DataType.CHAR_STRING),
        AttributeDef(BasicAttr.DATE_CODE, "DateCode", DataType.CHAR_STRING),
        AttributeDef(BasicAttr.POWER_SOURCE, "PowerSource", DataType.ENUM8),
    ),
    (CommandDef(0x00, "ResetToFactoryDefaults", C2S),),
)

TIME = ClusterDef(
    ClusterId.TIME,
    "Time",
    _attrs(
        AttributeDef(TimeAttr.TIME, "Time", DataType.UTC_TIME, writable=True),
        AttributeDef(TimeAttr.TIME_STATUS, "TimeStatus", DataType.BITMAP8, writable=True),
        AttributeDef(TimeAttr.TIME_ZONE, "TimeZone", DataType.INT32, writable=True),
        AttributeDef(TimeAttr.DST_START, "DstStart", DataType.UINT32, writable=True),
        AttributeDef(TimeAttr.DST_END, "DstEnd", DataType.UINT32, writable=True),
        AttributeDef(TimeAttr.DST_SHIFT, "DstShift", DataType.INT32, writable=True),
        AttributeDef(TimeAttr.STANDARD_TIME, "StandardTime", DataType.UINT32),
        AttributeDef(TimeAttr.LOCAL_TIME, "LocalTime", DataType.UINT32),
        AttributeDef(TimeAttr.LAST_SET_TIME, "LastSetTime", DataType.UTC_TIME),
        AttributeDef(TimeAttr.VALID_UNTIL_TIME, "ValidUntilTime", DataType.UTC_TIME, writable=True),
    ),
    (),
)

# --- OTA Upgrade (ZigBee OTA Upgrade cluster specification) ---------------------------------

_IMAGE_ID = ("manufacturer_code" / Int16ul, "image_type" / Int16ul, "file_version" / Int32ul)

OTA = ClusterDef(
    ClusterId.OTA,
    "OTA",
    _attrs(
        AttributeDef(OtaAttr.UPGRADE_SERVER_ID, "UpgradeServerID", DataType.EUI64),
        AttributeDef(OtaAttr.FILE_OFFSET, "FileOffset", DataType.UINT32),
        AttributeDef(OtaAttr.CURRENT_FILE_VERSION, "CurrentFileVersion", DataType.UINT32),
        AttributeDef(
            OtaAttr.CURRENT_ZIGBEE_STACK_VERSION, "CurrentZigBeeStackVersion", DataType.UINT16
        ),
        AttributeDef(OtaAttr.DOWNLOADED_FILE_VERSION, "DownloadedFileVersion", DataType.UINT32),
        AttributeDef(
            OtaAttr.DOWNLOADED_ZIGBEE_STACK_VERSION,
            "DownloadedZigBeeStackVersion",
            DataType.UINT16,
        ),
        AttributeDef(OtaAttr.IMAGE_UPGRADE_STATUS, "ImageUpgradeStatus", DataType.ENUM8),
        AttributeDef(OtaAttr.MANUFACTURER_ID, "ManufacturerID", DataType.UINT16),
        AttributeDef(OtaAttr.IMAGE_TYPE_ID, "ImageTypeID", DataType.UINT16),
        AttributeDef(OtaAttr.MINIMUM_BLOCK_PERIOD, "MinimumBlockPeriod", DataType.UINT16),
        AttributeDef(OtaAttr.IMAGE_STAMP, "ImageStamp", DataType.UINT32),
    ),
    (
        CommandDef(
            0x00,
            "ImageNotify",
            S2C,
            _s(
                "payload_type" / Int8ul,
                "query_jitter" / Int8ul,
                "manufacturer_code" / If(this.payload_type >= 1, Int16ul),
                "image_type" / If(this.payload_type >= 2, Int16ul),
                "file_version" / If(this.payload_type >= 3, Int32ul),
            ),
        ),
        CommandDef(
            0x01,
            "QueryNextImageRequest",
            C2S,
            _s(
                "field_control" / Int8ul,
                "manufacturer_code" / Int16ul,
                "image_type" / Int16ul,
                "current_file_version" / Int32ul,
                "hardware_version" / If((this.field_control & 1) != 0, Int16ul),
            ),
        ),
        CommandDef(
            0x02,
            "QueryNextImageResponse",
            S2C,
            _s(
                "status" / Int8ul,
                "manufacturer_code" / If(this.status == int(Status.SUCCESS), Int16ul),
                "image_type" / If(this.status == int(Status.SUCCESS), Int16ul),
                "file_version" / If(this.status == int(Status.SUCCESS), Int32ul),
                "image_size" / If(this.status == int(Status.SUCCESS), Int32ul),
            ),
        ),
        CommandDef(
            0x03,
            "ImageBlockRequest",
            C2S,
            _s(
                "field_control" / Int8ul,
                *_IMAGE_ID,
                "file_offset" / Int32ul,
                "max_data_size" / Int8ul,
                "request_node_address" / If((this.field_control & 1) != 0, Int64ul),
                "minimum_block_period" / If((this.field_control & 2) != 0, Int16ul),
            ),
        ),
        CommandDef(
            0x04,
            "ImagePageRequest",
            C2S,
            _s(
                "field_control" / Int8ul,
                *_IMAGE_ID,
                "file_offset" / Int32ul,
                "max_data_size" / Int8ul,
                "page_size" / Int16ul,
                "response_spacing" / Int16ul,
                "request_node_address" / If((this.field_control & 1) != 0, Int64ul),
            ),
        ),
        CommandDef(
            0x05,
            "ImageBlockResponse",
            S2C,
            _s(
                "status" / Int8ul,
                "manufacturer_code" / If(this.status == int(Status.SUCCESS), Int16ul),
                "image_type" / If(this.status == int(Status.SUCCESS), Int16ul),
                "file_version" / If(this.status == int(Status.SUCCESS), Int32ul),
                "file_offset" / If(this.status == int(Status.SUCCESS), Int32ul),
                "data" / If(this.status == int(Status.SUCCESS), _OCTETS),
                "current_time" / If(this.status == int(Status.WAIT_FOR_DATA), _UTC),
                "request_time" / If(this.status == int(Status.WAIT_FOR_DATA), _UTC),
            ),
        ),
        CommandDef(0x06, "UpgradeEndRequest", C2S, _s("status" / Int8ul, *_IMAGE_ID)),
        CommandDef(
            0x07,
            "UpgradeEndResponse",
            S2C,
            _s(*_IMAGE_ID, "current_time" / _UTC, "upgrade_time" / _UTC),
        ),
        CommandDef(
            0x08,
            "QuerySpecificFileRequest",
            C2S,
            _s("request_node_address" / Int64ul, *_IMAGE_ID, "zigbee_stack_version" / Int16ul),
        ),
        CommandDef(
            0x09,
            "QuerySpecificFileResponse",
            S2C,
            _s(
                "status" / Int8ul,
                "manufacturer_code" / If(this.status == int(Status.SUCCESS), Int16ul),
                "image_type" / If(this.status == int(Status.SUCCESS), Int16ul),
                "file_version" / If(this.status == int(Status.SUCCESS), Int32ul),
                "image_size" / If(this.status == int(Status.SUCCESS), Int32ul),
            ),
        ),
    ),
)

# --- Price -----------------------------------------------------------------------------------

PRICE = ClusterDef(
    ClusterId.PRICE,
    "Price",
    {},
    (
        CommandDef(0x00, "GetCurrentPrice", C2S, _s("command_options" / Int8ul)),
        CommandDef(
            0x01,
            "GetScheduledPrices",
            C2S,
            _s("start_time" / _UTC, "number_of_events" / Int8ul),
        ),
        CommandDef(
            0x02,
            "PriceAcknowledgement",
            C2S,
            _s(
                "provider_id" / Int32ul,
                "issuer_event_id" / Int32ul,
                "price_ack_time" / _UTC,
                "control" / Int8ul,
            ),
        ),
        # SE 1.1 Publish Price (the fields up to Price Control); SE 1.2 appends more.
        CommandDef(
            0x00,
            "PublishPrice",
            S2C,
            _s(
                "provider_id" / Int32ul,
                "rate_label" / _OCTETS,
                "issuer_event_id" / Int32ul,
                "current_time" / _UTC,
                "unit_of_measure" / Int8ul,
                "currency" / Int16ul,
                "trailing_digit_and_price_tier" / Int8ul,
                "number_of_price_tiers_and_register_tier" / Int8ul,
                "start_time" / _UTC,
                "duration_in_minutes" / Int16ul,
                "price" / Int32ul,
                "price_ratio" / Int8ul,
                "generation_price" / Int32ul,
                "generation_price_ratio" / Int8ul,
                "alternate_cost_delivered" / Int32ul,
                "alternate_cost_unit" / Int8ul,
                "alternate_cost_trailing_digit" / Int8ul,
                "number_of_block_thresholds" / Int8ul,
                "price_control" / Int8ul,
            ),
        ),
    ),
)

# --- Metering --------------------------------------------------------------------------------

METERING = ClusterDef(
    ClusterId.METERING,
    "Metering",
    _attrs(
        AttributeDef(
            MeteringAttr.CURRENT_SUMMATION_DELIVERED,
            "CurrentSummationDelivered",
            DataType.UINT48,
            reportable=True,
        ),
        AttributeDef(
            MeteringAttr.CURRENT_SUMMATION_RECEIVED, "CurrentSummationReceived", DataType.UINT48
        ),
        AttributeDef(MeteringAttr.READING_SNAPSHOT_TIME, "ReadingSnapShotTime", DataType.UTC_TIME),
        AttributeDef(MeteringAttr.STATUS, "Status", DataType.BITMAP8, reportable=True),
        AttributeDef(MeteringAttr.UNIT_OF_MEASURE, "UnitOfMeasure", DataType.ENUM8),
        AttributeDef(MeteringAttr.MULTIPLIER, "Multiplier", DataType.UINT24),
        AttributeDef(MeteringAttr.DIVISOR, "Divisor", DataType.UINT24),
        AttributeDef(MeteringAttr.SUMMATION_FORMATTING, "SummationFormatting", DataType.BITMAP8),
        AttributeDef(MeteringAttr.DEMAND_FORMATTING, "DemandFormatting", DataType.BITMAP8),
        AttributeDef(
            MeteringAttr.HISTORICAL_CONSUMPTION_FORMATTING,
            "HistoricalConsumptionFormatting",
            DataType.BITMAP8,
        ),
        AttributeDef(MeteringAttr.METERING_DEVICE_TYPE, "MeteringDeviceType", DataType.BITMAP8),
        AttributeDef(
            MeteringAttr.INSTANTANEOUS_DEMAND,
            "InstantaneousDemand",
            DataType.INT24,
            reportable=True,
        ),
        AttributeDef(
            MeteringAttr.CURRENT_DAY_CONSUMPTION_DELIVERED,
            "CurrentDayConsumptionDelivered",
            DataType.UINT24,
        ),
        AttributeDef(
            MeteringAttr.PREVIOUS_DAY_CONSUMPTION_DELIVERED,
            "PreviousDayConsumptionDelivered",
            DataType.UINT24,
        ),
    ),
    (
        CommandDef(
            0x00,
            "GetProfile",
            C2S,
            _s("interval_channel" / Int8ul, "end_time" / _UTC, "number_of_periods" / Int8ul),
        ),
        CommandDef(
            0x00,
            "GetProfileResponse",
            S2C,
            _s(
                "end_time" / _UTC,
                "status" / Int8ul,
                "profile_interval_period" / Int8ul,
                "number_of_periods_delivered" / Int8ul,
                "intervals" / Array(this.number_of_periods_delivered, Int24ul),
            ),
        ),
        CommandDef(0x01, "RequestMirror", S2C),
        CommandDef(0x01, "RequestMirrorResponse", C2S, _s("endpoint_id" / Int16ul)),
        CommandDef(0x02, "RemoveMirror", S2C),
        CommandDef(0x02, "MirrorRemoved", C2S, _s("endpoint_id" / Int16ul)),
        CommandDef(
            0x03,
            "RequestFastPollMode",
            C2S,
            _s("fast_poll_update_period" / Int8ul, "duration" / Int8ul),
        ),
        CommandDef(
            0x03,
            "RequestFastPollModeResponse",
            S2C,
            _s("applied_update_period" / Int8ul, "fast_poll_end_time" / _UTC),
        ),
    ),
)

# --- Messaging -------------------------------------------------------------------------------

MESSAGING = ClusterDef(
    ClusterId.MESSAGING,
    "Messaging",
    {},
    (
        CommandDef(
            0x00,
            "DisplayMessage",
            S2C,
            _s(
                "message_id" / Int32ul,
                "message_control" / Int8ul,
                "start_time" / _UTC,
                "duration_in_minutes" / Int16ul,
                "message" / _CHARS,
            ),
        ),
        CommandDef(
            0x01,
            "CancelMessage",
            S2C,
            _s("message_id" / Int32ul, "message_control" / Int8ul),
        ),
        CommandDef(0x00, "GetLastMessage", C2S),
        CommandDef(
            0x01,
            "MessageConfirmation",
            C2S,
            _s("message_id" / Int32ul, "confirmation_time" / _UTC),
        ),
    ),
)

# --- Prepayment ------------------------------------------------------------------------------

PREPAYMENT = ClusterDef(
    ClusterId.PREPAYMENT,
    "Prepayment",
    _attrs(
        AttributeDef(PrepaymentAttr.PAYMENT_CONTROL, "PaymentControl", DataType.BITMAP8),
        AttributeDef(
            PrepaymentAttr.CREDIT_REMAINING, "CreditRemaining", DataType.INT32, reportable=True
        ),
        AttributeDef(
            PrepaymentAttr.EMERGENCY_CREDIT_REMAINING,
            "EmergencyCreditRemaining",
            DataType.INT32,
            reportable=True,
        ),
        AttributeDef(
            PrepaymentAttr.CREDIT_STATUS, "CreditStatus", DataType.BITMAP8, reportable=True
        ),
        AttributeDef(
            PrepaymentAttr.CREDIT_REMAINING_TIMESTAMP,
            "CreditRemainingTimestamp",
            DataType.UTC_TIME,
        ),
        AttributeDef(PrepaymentAttr.ACCUMULATED_DEBT, "AccumulatedDebt", DataType.INT32),
        AttributeDef(PrepaymentAttr.OVERALL_DEBT_CAP, "OverallDebtCap", DataType.INT32),
        AttributeDef(
            PrepaymentAttr.EMERGENCY_CREDIT_LIMIT, "EmergencyCreditLimit", DataType.UINT32
        ),
        AttributeDef(
            PrepaymentAttr.EMERGENCY_CREDIT_THRESHOLD,
            "EmergencyCreditThreshold",
            DataType.UINT32,
        ),
    ),
    (
        # SE 1.1 layout with Site ID and Meter Serial Number; SE 1.2 (and Wireshark 4.0)
        # stop after the originating device.
        CommandDef(
            0x00,
            "SelectAvailableEmergencyCredit",
            C2S,
            _s(
                "command_date_time" / _UTC,
                "originating_device" / Int8ul,
                "site_id" / _OCTETS,
                "meter_serial_number" / _OCTETS,
            ),
        ),
    ),
)

# --- Key Establishment (suite 1: 48-byte certificate, 22-byte ephemeral data) ---------------

_IDENTITY = Switch(this.suite, {1: Bytes(48), 2: Bytes(74)}, default=GreedyBytes)
_INITIATE = _s(
    "suite" / Int16ul,
    "ephemeral_data_generate_time" / Int8ul,
    "confirm_key_generate_time" / Int8ul,
    "identity" / _IDENTITY,
)
_TERMINATE = _s("status_code" / Int8ul, "wait_time" / Int8ul, "suite" / Int16ul)

KEY_ESTABLISHMENT = ClusterDef(
    ClusterId.KEY_ESTABLISHMENT,
    "KeyEstablishment",
    _attrs(
        AttributeDef(
            KeyEstablishmentAttr.KEY_ESTABLISHMENT_SUITE,
            "KeyEstablishmentSuite",
            DataType.ENUM16,
        ),
    ),
    (
        CommandDef(0x00, "InitiateKeyEstablishmentRequest", C2S, _INITIATE),
        CommandDef(0x00, "InitiateKeyEstablishmentResponse", S2C, _INITIATE),
        CommandDef(0x01, "EphemeralDataRequest", C2S, _s("ephemeral_data" / Bytes(22))),
        CommandDef(0x01, "EphemeralDataResponse", S2C, _s("ephemeral_data" / Bytes(22))),
        CommandDef(0x02, "ConfirmKeyDataRequest", C2S, _s("mac" / Bytes(16))),
        CommandDef(0x02, "ConfirmKeyDataResponse", S2C, _s("mac" / Bytes(16))),
        CommandDef(0x03, "TerminateKeyEstablishment", C2S, _TERMINATE),
        CommandDef(0x03, "TerminateKeyEstablishmentFromServer", S2C, _TERMINATE),
    ),
)

CLUSTERS: dict[int, ClusterDef] = {
    c.id: c for c in (BASIC, TIME, OTA, PRICE, METERING, MESSAGING, PREPAYMENT, KEY_ESTABLISHMENT)
}

_EMPTY = _s()


class _Fields(dict[str, Any]):
    """Fields of a payload; an absent optional field reads as None."""

    def __missing__(self, key: str) -> None:
        return None


def _cluster(cluster_id: int) -> ClusterDef:
    try:
        return CLUSTERS[cluster_id]
    except KeyError:
        raise MalformedFrame(f"unknown cluster 0x{cluster_id:04X}", "cluster") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Container):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, ListContainer):
        return [_plain(v) for v in value]
    return value


def encode_command(
    cluster_id: int, command_id: int, direction: Direction, fields: Mapping[str, Any]
) -> bytes:
    """Payload bytes of a cluster-specific command from a dict of its fields."""
    cmd = _cluster(cluster_id).command(command_id, direction)
    try:
        out: bytes = (cmd.schema or _EMPTY).build(_Fields(fields))
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot build {cmd.name}: {exc}", cmd.name) from exc
    return out


def decode_command(
    cluster_id: int, command_id: int, direction: Direction, payload: bytes
) -> dict[str, Any]:
    """The fields of a cluster-specific command payload (MalformedFrame if it does not fit)."""
    cmd = _cluster(cluster_id).command(command_id, direction)
    try:
        parsed = (cmd.schema or _EMPTY).parse(payload)
    except CODEC_ERRORS as exc:
        raise MalformedFrame(f"cannot parse {cmd.name}: {exc}", cmd.name) from exc
    out: dict[str, Any] = _plain(parsed)
    return out


def cluster_command_frame(
    cluster_id: int,
    name: str,
    tsn: int,
    fields: Mapping[str, Any] | None = None,
    *,
    disable_default_response: bool = False,
) -> bytes:
    """A whole ZCL frame (header + payload) for a cluster command looked up by name."""
    cmd = _cluster(cluster_id).command_named(name)
    payload = encode_command(cluster_id, cmd.id, cmd.direction, fields or {})
    header = ZclHeader(ZclFrameType.CLUSTER, cmd.id, tsn, cmd.direction, disable_default_response)
    return build_zcl(header, payload)
