"""s1lab WAN application protocol v1: head-end <-> Communications Hub, carried inside mutual TLS.

The byte layout, the receiver's order of checks and worked test vectors are in
docs/wan-protocol.md. This module only declares the formats (construct, compiled once at import)
and converts between bytes and frozen dataclasses; it holds no keys, counters or state.

Errors:

* bytes that do not decode, and values that do not fit the wire format when encoding, raise
  :class:`~emulator.errors.MalformedFrame` whose ``path`` names the field (``frame.length``,
  ``payload.entries[2].version``); construct's own exceptions never escape;
* a MAC that does not verify raises :class:`~emulator.errors.BadMac`;
* a message type with no payload layout raises :class:`~emulator.errors.RemoteProtocolError`
  with ``code=ErrorCode.UNSUPPORTED_COMMAND``;
* misuse of the API (a body of the wrong class, a key that is not AES-128) raises
  :class:`~emulator.errors.LocalProtocolError`.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from construct import (
    Const,
    Int8ub,
    Int16ub,
    Int32sb,
    Int32ub,
    Int64sb,
    Int64ub,
    Struct,
    Terminated,
    this,
)
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from emulator.errors import (
    BadMac,
    DeclarationError,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
)
from emulator.wire.codec_errors import FAST_PATH_ERRORS
from emulator.wire.vocabulary import (
    RESPONSE_BIT,
    DeviceLogAction,
    DeviceLogState,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
    EventCode,
    FirmwareTransferState,
    MessageType,
    PaymentMode,
    Role,
    SupplyAction,
    SupplyState,
    TopUpStatus,
)
from emulator.wire.wan_construct import (
    BOOL,
    EUI,
    INTS,
    UTF8,
    Blob16,
    Codec,
    Counted,
    Exact,
    Prefixed,
    Shape,
    build_with,
    items,
    lenient_enum,
    parse_with,
    strict_enum,
)

__all__ = [
    "FRAME_FORMAT",
    "FRAME_VERSION",
    "HEADER_FORMAT",
    "HEADER_SIZE",
    "INSTALL_CODE_SIZES",
    "MAC_SIZE",
    "MAX_DETAIL",
    "MAX_MPXN",
    "MAX_SETTABLE_UTC",
    "MAX_TEXT",
    "MAX_VERSION",
    "METERING_ONLY",
    "MAX_PAYLOAD",
    "MAX_RECORD",
    "MESSAGES",
    "DeviceLogUpdated",
    "ErrorPayload",
    "EsmeInstantaneous",
    "EsmeMetering",
    "EventLog",
    "EventLogEntry",
    "EventLogRequest",
    "ActivateFirmware",
    "DistributeFirmware",
    "FirmwareEntry",
    "FirmwareSegment",
    "FirmwareSegmentAck",
    "FirmwareTransfer",
    "FirmwareVersions",
    "Frame",
    "GsmeInstantaneous",
    "GsmeMetering",
    "Header",
    "Inventory",
    "InventoryEntry",
    "KeyUse",
    "MessageSpec",
    "PaymentState",
    "RecordReader",
    "SetPaymentMode",
    "SetSupply",
    "SetTime",
    "SetTimeResult",
    "SupplyResult",
    "TimeValue",
    "TopUpRequest",
    "TopUpResult",
    "UpdateDeviceLog",
    "RotateKeys",
    "Rollback",
    "SwapCertificate",
    "MoveSim",
    "SecurityState",
    "MASTER_KEY_ID",
    "WRAPPED_KEYS_SIZE",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "mac",
    "parse_frame",
    "record",
    "response_type",
    "seal",
    "seal_fields",
    "verify_mac",
]

FRAME_VERSION: Final = 1
MAX_RECORD: Final = 2048  # largest frame a record may carry
MAC_SIZE: Final = 16
HEADER_SIZE: Final = 28
MAX_PAYLOAD: Final = MAX_RECORD - HEADER_SIZE - MAC_SIZE  # 2004
MAX_DETAIL: Final = 200  # ERROR detail text, UTF-8 bytes
MAX_MPXN: Final = 32  # UPDATE_HAN_DEVICE_LOG MPAN/MPRN, UTF-8 bytes
MAX_TEXT: Final = 255  # any u8-counted UTF-8 text (APN, service profile, ICCID), bytes
MAX_VERSION: Final = 32  # a firmware version, UTF-8 bytes (so READ_FIRMWARE_VERSIONS fits a frame)
#: The latest SET_TIME ``utc`` a device accepts: ten years short of the u32 field's end, so a
#: clock set there still reads back in a u32 for ten years of running.
MAX_SETTABLE_UTC: Final = 0xFFFF_FFFF - 10 * 366 * 86_400
#: Sizes of an UPDATE_HAN_DEVICE_LOG ADD install code: a 6, 8, 12 or 16-byte code and its CRC-16.
INSTALL_CODE_SIZES: Final = frozenset((8, 10, 14, 18))
KEY_SIZE: Final = 16  # AES-128
_ZERO_MAC: Final = bytes(MAC_SIZE)
_UTRN_SIZE: Final = 20



# ---- frame ---------------------------------------------------------------------------------

_HEADER_FIELDS = (
    "magic" / Const(b"S1"),
    "version" / Int8ub,
    "msg_type" / Int8ub,
    "txn_id" / Int32ub,
    "target" / EUI,
    "role" / Int8ub,
    "key_id" / Int8ub,
    "counter" / Int64ub,
    "length" / Int16ub,
)
#: The 28-byte header alone: all that is parsed of a frame whose version is not 1.
HEADER_FORMAT: Final = Struct(*_HEADER_FIELDS)
#: A whole version-1 frame: header, payload, MAC, and nothing after it.
FRAME_FORMAT: Final = Struct(
    *_HEADER_FIELDS,
    "payload" / Exact(this.length),
    "mac" / Exact(MAC_SIZE),
    Terminated,
)
_HEADER_FAST: Final = HEADER_FORMAT.compile()
_FRAME_FAST: Final = FRAME_FORMAT.compile()
#: The same 28 bytes for ``struct``: the fast path of a well-formed version-1 frame (anything
#: else takes construct's path, which decides and words the error).
_HEADER_STRUCT: Final = struct.Struct(">2sBBI8sBBQH")
_MAGIC: Final = b"S1"


@dataclass(frozen=True, slots=True, init=False)
class Header:
    version: int
    msg_type: int  # MessageType value, | RESPONSE_BIT in responses; unknown values parse too
    txn_id: int
    target: bytes  # EUI-64
    role: int  # Role value
    key_id: int  # 0 = unauthenticated (ERROR frames only, all-zero MAC)
    counter: int

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, version: int, msg_type: int, txn_id: int, target: bytes, role: int, key_id: int,
        counter: int
    ) -> None:
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "msg_type", msg_type)
        object.__setattr__(self, "txn_id", txn_id)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "key_id", key_id)
        object.__setattr__(self, "counter", counter)


@dataclass(frozen=True, slots=True, init=False)
class Frame:
    header: Header
    payload: bytes
    mac: bytes
    signed: bytes  # the bytes the MAC covers: header and payload

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(self, header: Header, payload: bytes, mac: bytes, signed: bytes) -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "mac", mac)
        object.__setattr__(self, "signed", signed)


#: CMAC states kept keyed (a key schedule costs ten times a MAC of a frame): the keys of a
#: few thousand sessions, both ends (about 0.9 KiB each; beyond, the oldest are made again).
_CMAC_KEPT: Final = 8192


@lru_cache(maxsize=_CMAC_KEPT)
def _keyed(key: bytes) -> CMAC:
    return CMAC(algorithms.AES(key))


def mac(key: bytes, data: bytes) -> bytes:
    """AES-128-CMAC, full 16 bytes."""
    if len(key) != KEY_SIZE:
        raise LocalProtocolError(f"WAN keys are AES-128 (16 bytes), got {len(key)} bytes")
    c = _keyed(bytes(key)).copy()
    c.update(data)
    return c.finalize()


def verify_mac(frame: Frame, key: bytes) -> None:
    """Raise BadMac unless the frame's MAC is right under ``key`` (constant-time compare)."""
    if frame.header.version != FRAME_VERSION:
        raise BadMac(f"a version {frame.header.version} frame carries no v1 MAC")
    if len(key) == KEY_SIZE:  # mac(key, frame.signed), inline: two per WAN read
        c = _keyed(bytes(key)).copy()
        c.update(frame.signed)
        tag = c.finalize()
    else:
        tag = mac(key, frame.signed)  # which raises
    if not hmac.compare_digest(tag, frame.mac):
        raise BadMac("WAN frame MAC does not verify")


def seal(header: Header, payload: bytes, key: bytes | None) -> bytes:
    """Frame bytes with the MAC under ``key``; ``key=None`` gives the all-zero MAC, key id 0."""
    if (key is None) != (header.key_id == 0):
        raise LocalProtocolError("key id 0 goes with key=None (zero MAC), and only with it")
    if len(payload) > MAX_PAYLOAD:
        raise MalformedFrame(f"{len(payload)} bytes, at most {MAX_PAYLOAD} fit", "frame.payload")
    target = header.target
    if isinstance(target, bytes) and len(target) == 8:
        try:
            signed = _HEADER_STRUCT.pack(
                _MAGIC, header.version, header.msg_type, header.txn_id, target, header.role,
                header.key_id, header.counter, len(payload)) + payload
        except FAST_PATH_ERRORS:  # construct below decides, and words the error
            pass
        else:
            return signed + (_ZERO_MAC if key is None else mac(key, signed))
    fields = {
        "version": header.version,
        "msg_type": header.msg_type,
        "txn_id": header.txn_id,
        "target": header.target,
        "role": header.role,
        "key_id": header.key_id,
        "counter": header.counter,
        "length": len(payload),
    }
    signed = build_with(_HEADER_FAST, HEADER_FORMAT, fields, "frame") + payload
    return signed + (_ZERO_MAC if key is None else mac(key, signed))


def seal_fields(msg_type: int, txn_id: int, target: bytes, role: int, key_id: int,
                counter: int, payload: bytes, key: bytes | None) -> bytes:
    """``seal(Header(FRAME_VERSION, msg_type, ...), payload, key)`` without making the
    Header first (the common case: the same bytes; anything else goes through :func:`seal`,
    which decides and words the errors)."""
    if key is not None and key_id != 0 and len(payload) <= MAX_PAYLOAD and \
            isinstance(target, bytes) and len(target) == 8:
        try:
            signed = _HEADER_STRUCT.pack(_MAGIC, FRAME_VERSION, msg_type, txn_id, target, role,
                                         key_id, counter, len(payload)) + payload
        except FAST_PATH_ERRORS:
            pass
        else:
            if len(key) == KEY_SIZE:  # mac(key, signed), inline: two per WAN read
                c = _keyed(bytes(key)).copy()
                c.update(signed)
                return signed + c.finalize()
            return signed + mac(key, signed)
    return seal(Header(FRAME_VERSION, msg_type, txn_id, target, role, key_id, counter), payload,
                key)


def parse_frame(data: bytes) -> Frame:
    """Structure only: no MAC, counter, role or version check (a version other than 1 is
    returned with the rest of the bytes as ``payload`` and empty ``mac`` and ``signed``)."""
    if len(data) > MAX_RECORD:
        raise MalformedFrame(f"{len(data)} bytes, longer than a record", "frame")
    n = len(data)
    if n >= HEADER_SIZE + MAC_SIZE and isinstance(data, bytes) and data[2] == FRAME_VERSION:
        magic, version, msg_type, txn, target, role, key_id, counter, length = (
            _HEADER_STRUCT.unpack_from(data))
        end = HEADER_SIZE + length
        if magic == _MAGIC and n == end + MAC_SIZE:
            return Frame(Header(version, msg_type, txn, target, role, key_id, counter),
                         data[HEADER_SIZE:end], data[end:], data[:end])
    if len(data) > 2 and data[2] != FRAME_VERSION:
        c = parse_with(_HEADER_FAST, HEADER_FORMAT, data, "frame")
        return Frame(_header(c), data[HEADER_SIZE:], b"", b"")
    c = parse_with(_FRAME_FAST, FRAME_FORMAT, data, "frame")
    payload: bytes = c["payload"]
    return Frame(_header(c), payload, c["mac"], data[: HEADER_SIZE + len(payload)])


def _header(c: Mapping[str, Any]) -> Header:
    return Header(
        c["version"], c["msg_type"], c["txn_id"], c["target"], c["role"], c["key_id"],
        c["counter"],
    )


# ---- stream records ------------------------------------------------------------------------


def record(frame_bytes: bytes) -> bytes:
    """One frame as a stream record: u16 length, then the frame."""
    n = len(frame_bytes)
    if not 0 < n <= MAX_RECORD:
        raise MalformedFrame(f"record length {n} not in 1..{MAX_RECORD}", "record.length")
    return n.to_bytes(2, "big") + frame_bytes


class RecordReader:
    """Splits the TLS byte stream into frames. A bad record length means the stream is out of
    sync: ``feed`` raises MalformedFrame, and again on every later call (close the session)."""

    __slots__ = ("_broken", "_buf")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._broken: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held towards the next frame (non-zero at end of stream means a cut record)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise MalformedFrame(self._broken, "record.length")
        buf = self._buf
        if not buf and len(data) > 2 and (data[0] << 8 | data[1]) == len(data) - 2 <= MAX_RECORD:
            return [data[2:]]  # the common case: one whole record, nothing held before it
        buf += data
        frames: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            n = (buf[pos] << 8) | buf[pos + 1]
            if not 0 < n <= MAX_RECORD:
                self._broken = f"record length {n} not in 1..{MAX_RECORD}"
                raise MalformedFrame(self._broken, "record.length")
            if end - pos - 2 < n:
                break
            frames.append(bytes(buf[pos + 2 : pos + 2 + n]))
            pos += 2 + n
        del buf[:pos]
        return frames


# ---- payloads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, init=False)
class EsmeInstantaneous:
    meter_time: int  # ZigBee UTC
    import_wh: int
    tou_wh: tuple[int, ...]  # one per time-of-use register
    demand_w: int
    payment_mode: PaymentMode
    balance_pence: int
    emergency_credit_limit_pence: int
    emergency_credit_available_pence: int
    emergency_credit_in_use: bool
    supply_state: SupplyState

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, meter_time: int, import_wh: int, tou_wh: tuple[int, ...], demand_w: int,
        payment_mode: PaymentMode, balance_pence: int, emergency_credit_limit_pence: int,
        emergency_credit_available_pence: int, emergency_credit_in_use: bool,
        supply_state: SupplyState
    ) -> None:
        object.__setattr__(self, "meter_time", meter_time)
        object.__setattr__(self, "import_wh", import_wh)
        object.__setattr__(self, "tou_wh", tou_wh)
        object.__setattr__(self, "demand_w", demand_w)
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "emergency_credit_limit_pence", emergency_credit_limit_pence)
        object.__setattr__(self, "emergency_credit_available_pence",
                           emergency_credit_available_pence)
        object.__setattr__(self, "emergency_credit_in_use", emergency_credit_in_use)
        object.__setattr__(self, "supply_state", supply_state)

    @property
    def device_type(self) -> DeviceType:
        return DeviceType.ESME


@dataclass(frozen=True, slots=True, init=False)
class GsmeInstantaneous:
    meter_time: int
    volume_dm3: int
    flow_dm3_per_h: int
    payment_mode: PaymentMode
    balance_pence: int
    supply_state: SupplyState  # the valve
    data_age_s: int  # age of the CHF's mirror of the GSME's data

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, meter_time: int, volume_dm3: int, flow_dm3_per_h: int, payment_mode: PaymentMode,
        balance_pence: int, supply_state: SupplyState, data_age_s: int
    ) -> None:
        object.__setattr__(self, "meter_time", meter_time)
        object.__setattr__(self, "volume_dm3", volume_dm3)
        object.__setattr__(self, "flow_dm3_per_h", flow_dm3_per_h)
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "supply_state", supply_state)
        object.__setattr__(self, "data_age_s", data_age_s)

    @property
    def device_type(self) -> DeviceType:
        return DeviceType.GSME


#: Layout byte of a reading with only what the Metering cluster carried over the air: the
#: device type | 0x80 (the CHF read a device on a radio, so it knows nothing else of it).
METERING_ONLY: Final = 0x80


@dataclass(frozen=True, slots=True, init=False)
class EsmeMetering:
    """An ESME on a radio: only the Metering attributes the CHF read over the HAN."""

    import_wh: int  # CurrentSummationDelivered
    demand_w: int  # InstantaneousDemand
    status: int  # the Metering Status bitmap

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(self, import_wh: int, demand_w: int, status: int) -> None:
        object.__setattr__(self, "import_wh", import_wh)
        object.__setattr__(self, "demand_w", demand_w)
        object.__setattr__(self, "status", status)

    @property
    def device_type(self) -> DeviceType:
        return DeviceType.ESME


@dataclass(frozen=True, slots=True, init=False)
class GsmeMetering:
    """A GSME on a radio: only what its Metering report into the mirror carried."""

    volume_dm3: int  # CurrentSummationDelivered
    flow_dm3_per_h: int  # InstantaneousDemand
    data_age_s: int

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(self, volume_dm3: int, flow_dm3_per_h: int, data_age_s: int) -> None:
        object.__setattr__(self, "volume_dm3", volume_dm3)
        object.__setattr__(self, "flow_dm3_per_h", flow_dm3_per_h)
        object.__setattr__(self, "data_age_s", data_age_s)

    @property
    def device_type(self) -> DeviceType:
        return DeviceType.GSME


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    eui: bytes
    device_type: DeviceType
    state: DeviceLogState
    last_heard: int  # ZigBee UTC, 0 = never


@dataclass(frozen=True, slots=True)
class Inventory:
    apn: str
    service_profile: str
    iccid: str
    last_wan_contact: int  # ZigBee UTC, 0 = never
    entries: tuple[InventoryEntry, ...]


@dataclass(frozen=True, slots=True)
class FirmwareEntry:
    eui: bytes
    device_type: DeviceType
    version: str


@dataclass(frozen=True, slots=True)
class FirmwareVersions:
    entries: tuple[FirmwareEntry, ...]


@dataclass(frozen=True, slots=True)
class FirmwareSegment:
    offset: int  # where ``data`` goes in the image; 0 starts a new image
    total_size: int  # of the whole image
    data: bytes


@dataclass(frozen=True, slots=True)
class FirmwareSegmentAck:
    received: int  # bytes of the image the CHF holds, in order
    total_size: int


@dataclass(frozen=True, slots=True)
class DistributeFirmware:
    activate_at: int  # ZigBee UTC on the CHF's clock; 0: on arrival; 0xFFFFFFFF: on command
    sha256: bytes  # of the whole image, checked against what the segments delivered


@dataclass(frozen=True, slots=True)
class ActivateFirmware:
    at: int  # ZigBee UTC on the CHF's clock; 0: now


@dataclass(frozen=True, slots=True)
class FirmwareTransfer:
    state: FirmwareTransferState
    ota_status: int  # the ZigBee OTA status of the last exchange (0x96 INVALID_IMAGE...)
    version: str  # the image's
    running: str  # what the device runs (as it last reported)
    offset: int  # bytes the device has taken
    size: int  # of the image
    reason: str


@dataclass(frozen=True, slots=True)
class EventLogRequest:
    max_entries: int  # 0 = all that fit in one frame


@dataclass(frozen=True, slots=True)
class EventLogEntry:
    time: int  # ZigBee UTC
    code: EventCode | int  # unknown codes stay plain ints
    value: int


@dataclass(frozen=True, slots=True)
class EventLog:
    entries: tuple[EventLogEntry, ...]


@dataclass(frozen=True, slots=True, init=False)
class PaymentState:
    payment_mode: PaymentMode
    balance_pence: int
    emergency_credit_limit_pence: int
    emergency_credit_available_pence: int
    emergency_credit_in_use: bool
    debt_pence: int
    supply_state: SupplyState

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(
        self, payment_mode: PaymentMode, balance_pence: int, emergency_credit_limit_pence: int,
        emergency_credit_available_pence: int, emergency_credit_in_use: bool, debt_pence: int,
        supply_state: SupplyState
    ) -> None:
        object.__setattr__(self, "payment_mode", payment_mode)
        object.__setattr__(self, "balance_pence", balance_pence)
        object.__setattr__(self, "emergency_credit_limit_pence", emergency_credit_limit_pence)
        object.__setattr__(self, "emergency_credit_available_pence",
                           emergency_credit_available_pence)
        object.__setattr__(self, "emergency_credit_in_use", emergency_credit_in_use)
        object.__setattr__(self, "debt_pence", debt_pence)
        object.__setattr__(self, "supply_state", supply_state)


@dataclass(frozen=True, slots=True)
class SetPaymentMode:
    payment_mode: PaymentMode


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    utrn: str  # 20 ASCII characters; whether they are digits is the meter's business


@dataclass(frozen=True, slots=True)
class TopUpResult:
    status: TopUpStatus
    amount_pence: int
    balance_pence: int


@dataclass(frozen=True, slots=True)
class TimeValue:
    utc: int  # ZigBee UTC


@dataclass(frozen=True, slots=True)
class SetTime:
    utc: int


@dataclass(frozen=True, slots=True)
class SetTimeResult:
    previous_utc: int
    utc: int


@dataclass(frozen=True, slots=True)
class SetSupply:
    action: SupplyAction


@dataclass(frozen=True, slots=True)
class SupplyResult:
    supply_state: SupplyState


@dataclass(frozen=True, slots=True)
class UpdateDeviceLog:
    """DUIS SRV 8.11 Update HAN Device Log: add a device to the CHF whitelist, or remove it."""

    action: DeviceLogAction
    eui: bytes  # EUI-64 of the device added or removed
    device_type: DeviceType
    install_code: bytes  # ADD: code + CRC-16, a size in INSTALL_CODE_SIZES; REMOVE: empty
    join_window_s: int  # DUIS JoinTimePeriod: how long the CHF lets the device join
    mpxn: str  # MPAN/MPRN, at most MAX_MPXN bytes of UTF-8, may be empty


@dataclass(frozen=True, slots=True)
class DeviceLogUpdated:
    status: DeviceLogStatus
    entries: int  # size of the device log after the update


#: Key id of frames authenticated by the CHF's Master Key rather than a role's operational key.
MASTER_KEY_ID: Final = 0xFF
WRAPPED_KEYS_SIZE: Final = 40  # AES key wrap (RFC 3394) of command key || response key


@dataclass(frozen=True, slots=True)
class RotateKeys:
    """Master-Key authorised: make ``new_owner`` the CHF's head-end role with new keys."""

    new_owner: Role
    key_id: int  # 1..254: the new keys' id
    wrapped_keys: bytes  # AES-KW under the Master Key of command_key || response_key (40 bytes)


@dataclass(frozen=True, slots=True)
class Rollback:
    """Master-Key authorised: reinstate the previous owner's keys and trust anchor, and put the
    SIM back on ``apn`` / ``service_profile`` (the MGF's PreviousAPN)."""

    apn: str
    service_profile: str


@dataclass(frozen=True, slots=True)
class SwapCertificate:
    """Master-Key authorised: trust head-ends certified by this CA (DER) for ``role``."""

    role: Role
    ca_certificate: bytes


@dataclass(frozen=True, slots=True)
class MoveSim:
    apn: str
    service_profile: str


@dataclass(frozen=True, slots=True)
class SecurityState:
    """Who owns the CHF now: its operational key holder, trusted anchor and SIM."""

    owner: Role
    key_id: int
    anchor: Role
    apn: str
    service_profile: str
    previous_apn: str  # what a rollback would restore ("" before any SIM move)
    can_roll_back: bool


@dataclass(frozen=True, slots=True, init=False)
class ErrorPayload:
    error_code: ErrorCode
    request_msg_type: int  # the rejected request's type (MessageType when known), 0 if unknown
    detail: str = ""  # at most MAX_DETAIL bytes of UTF-8; longer text is cut when encoding

    # Written out, not the dataclass's: a compiled build runs this one natively (the generated
    # one stays interpreted, about ten times the cost); tests/core/test_written_inits.py
    # checks it against the fields.
    def __init__(self, error_code: ErrorCode, request_msg_type: int, detail: str = "") -> None:
        object.__setattr__(self, "error_code", error_code)
        object.__setattr__(self, "request_msg_type", request_msg_type)
        object.__setattr__(self, "detail", detail)


def _dec_utrn(v: Any, path: str) -> str:
    try:
        text: str = v.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedFrame("UTRN is not ASCII", path) from None
    return text


def _enc_utrn(v: Any, path: str) -> bytes:
    try:
        data: bytes = v.encode("ascii")
    except (AttributeError, UnicodeEncodeError):
        raise MalformedFrame(f"UTRN {v!r} is not ASCII text", path) from None
    if len(data) != _UTRN_SIZE:
        raise MalformedFrame(f"UTRN is {len(data)} characters, not {_UTRN_SIZE}", path)
    return data


def _dec_detail(v: Any, path: str) -> str:
    if len(v.encode("utf-8")) > MAX_DETAIL:
        raise MalformedFrame(f"detail longer than {MAX_DETAIL} bytes", path)
    return str(v)


def _enc_detail(v: Any, path: str) -> Any:
    if not isinstance(v, str):
        return v  # the builder reports it
    # Cut at MAX_DETAIL bytes, dropping a character split by the cut.
    return v.encode("utf-8")[:MAX_DETAIL].decode("utf-8", "ignore")


def _dec_mpxn(v: Any, path: str) -> str:
    if len(v.encode("utf-8")) > MAX_MPXN:
        raise MalformedFrame(f"MPxN longer than {MAX_MPXN} bytes", path)
    return str(v)


def _enc_mpxn(v: Any, path: str) -> Any:
    if isinstance(v, str) and len(v.encode("utf-8")) > MAX_MPXN:
        raise MalformedFrame(f"MPxN longer than {MAX_MPXN} bytes", path)
    return v  # the builder reports a non-str


def _check_install_code(obj: Any, path: str) -> None:
    """REMOVE carries no install code; ADD carries one of INSTALL_CODE_SIZES bytes. The CRC is
    the CHF's business."""
    code = obj.install_code
    if not isinstance(code, bytes):
        return  # the builder reports it
    path = f"{path}.install_code"
    if obj.action == DeviceLogAction.REMOVE:
        if code:
            raise MalformedFrame(f"REMOVE carries no install code, got {len(code)} bytes", path)
    elif len(code) not in INSTALL_CODE_SIZES:
        raise MalformedFrame(
            f"install code with CRC is {len(code)} bytes, not 8, 10, 14 or 18", path
        )




_PAYMENT_MODE = strict_enum(PaymentMode)
_SUPPLY_STATE = strict_enum(SupplyState)
_DEVICE_TYPE = strict_enum(DeviceType)

_ESME: Final = Codec(
    Shape(
        EsmeInstantaneous, tou_wh=INTS, payment_mode=_PAYMENT_MODE,
        emergency_credit_in_use=BOOL, supply_state=_SUPPLY_STATE,
    ),
    "device_type" / Const(int(DeviceType.ESME), Int8ub),
    "meter_time" / Int32ub,
    "import_wh" / Int64ub,
    "tou_wh" / Counted(Int8ub, Int64ub),
    "demand_w" / Int32sb,
    "payment_mode" / Int8ub,
    "balance_pence" / Int64sb,
    "emergency_credit_limit_pence" / Int32ub,
    "emergency_credit_available_pence" / Int32ub,
    "emergency_credit_in_use" / Int8ub,
    "supply_state" / Int8ub,
)
_GSME = Codec(
    Shape(GsmeInstantaneous, payment_mode=_PAYMENT_MODE, supply_state=_SUPPLY_STATE),
    "device_type" / Const(int(DeviceType.GSME), Int8ub),
    "meter_time" / Int32ub,
    "volume_dm3" / Int64ub,
    "flow_dm3_per_h" / Int32ub,
    "payment_mode" / Int8ub,
    "balance_pence" / Int64sb,
    "supply_state" / Int8ub,
    "data_age_s" / Int32ub,
)
_ESME_METERING = Codec(
    Shape(EsmeMetering),
    "device_type" / Const(METERING_ONLY | int(DeviceType.ESME), Int8ub),
    "import_wh" / Int64ub,
    "demand_w" / Int32sb,
    "status" / Int8ub,
)
_GSME_METERING = Codec(
    Shape(GsmeMetering),
    "device_type" / Const(METERING_ONLY | int(DeviceType.GSME), Int8ub),
    "volume_dm3" / Int64ub,
    "flow_dm3_per_h" / Int32ub,
    "data_age_s" / Int32ub,
)
_INVENTORY = Codec(
    Shape(
        Inventory,
        entries=items(
            Shape(InventoryEntry, device_type=_DEVICE_TYPE,
                   state=strict_enum(DeviceLogState))
        ),
    ),
    "apn" / UTF8,
    "service_profile" / UTF8,
    "iccid" / UTF8,
    "last_wan_contact" / Int32ub,
    "entries" / Counted(
        Int8ub,
        Struct(
            "eui" / EUI,
            "device_type" / Int8ub,
            "state" / Int8ub,
            "last_heard" / Int32ub,
        ),
    ),
)
_FIRMWARE = Codec(
    Shape(FirmwareVersions, entries=items(Shape(FirmwareEntry, device_type=_DEVICE_TYPE))),
    "entries" / Counted(
        Int8ub,
        Struct("eui" / EUI, "device_type" / Int8ub, "version" / UTF8),
    ),
)
_FIRMWARE_SEGMENT = Codec(
    Shape(FirmwareSegment),
    "offset" / Int32ub,
    "total_size" / Int32ub,
    "data" / Blob16(MAX_PAYLOAD - 10),
)
_FIRMWARE_SEGMENT_ACK = Codec(Shape(FirmwareSegmentAck), "received" / Int32ub,
                              "total_size" / Int32ub)
_DISTRIBUTE_FIRMWARE = Codec(Shape(DistributeFirmware), "activate_at" / Int32ub,
                             "sha256" / Exact(32))
_ACTIVATE_FIRMWARE = Codec(Shape(ActivateFirmware), "at" / Int32ub)
_FIRMWARE_TRANSFER = Codec(
    Shape(FirmwareTransfer, state=strict_enum(FirmwareTransferState)),
    "state" / Int8ub,
    "ota_status" / Int8ub,
    "version" / UTF8,
    "running" / UTF8,
    "offset" / Int32ub,
    "size" / Int32ub,
    "reason" / UTF8,
)
_EVENT_LOG_REQUEST = Codec(Shape(EventLogRequest), "max_entries" / Int8ub)
_EVENT_LOG = Codec(
    Shape(EventLog, entries=items(Shape(EventLogEntry, code=lenient_enum(EventCode)))),
    "entries" / Counted(
        Int16ub,
        Struct("time" / Int32ub, "code" / Int16ub, "value" / Int32sb),
    ),
)
_PAYMENT_STATE = Codec(
    Shape(
        PaymentState, payment_mode=_PAYMENT_MODE, emergency_credit_in_use=BOOL,
        supply_state=_SUPPLY_STATE,
    ),
    "payment_mode" / Int8ub,
    "balance_pence" / Int64sb,
    "emergency_credit_limit_pence" / Int32ub,
    "emergency_credit_available_pence" / Int32ub,
    "emergency_credit_in_use" / Int8ub,
    "debt_pence" / Int32ub,
    "supply_state" / Int8ub,
)
_SET_PAYMENT_MODE = Codec(
    Shape(SetPaymentMode, payment_mode=_PAYMENT_MODE), "payment_mode" / Int8ub
)
_TOP_UP = Codec(Shape(TopUpRequest, utrn=(_dec_utrn, _enc_utrn)), "utrn" / Exact(_UTRN_SIZE))
_TOP_UP_RESULT = Codec(
    Shape(TopUpResult, status=strict_enum(TopUpStatus)),
    "status" / Int8ub,
    "amount_pence" / Int32ub,
    "balance_pence" / Int64sb,
)
_TIME_VALUE = Codec(Shape(TimeValue), "utc" / Int32ub)
_SET_TIME = Codec(Shape(SetTime), "utc" / Int32ub)
_SET_TIME_RESULT = Codec(Shape(SetTimeResult), "previous_utc" / Int32ub, "utc" / Int32ub)
_SET_SUPPLY = Codec(Shape(SetSupply, action=strict_enum(SupplyAction)), "action" / Int8ub)
_SUPPLY_RESULT = Codec(Shape(SupplyResult, supply_state=_SUPPLY_STATE), "supply_state" / Int8ub)
_UPDATE_DEVICE_LOG = Codec(
    Shape(
        UpdateDeviceLog, check=_check_install_code, action=strict_enum(DeviceLogAction),
        device_type=_DEVICE_TYPE, mpxn=(_dec_mpxn, _enc_mpxn),
    ),
    "action" / Int8ub,
    "eui" / EUI,
    "device_type" / Int8ub,
    "install_code" / Prefixed(),
    "join_window_s" / Int16ub,
    "mpxn" / UTF8,
)
_DEVICE_LOG_UPDATED = Codec(
    Shape(DeviceLogUpdated, status=strict_enum(DeviceLogStatus)),
    "status" / Int8ub,
    "entries" / Int8ub,
)
_ROLE = strict_enum(Role)
_ROTATE_KEYS = Codec(
    Shape(RotateKeys, new_owner=_ROLE),
    "new_owner" / Int8ub,
    "key_id" / Int8ub,
    "wrapped_keys" / Exact(WRAPPED_KEYS_SIZE),
)
_ROLLBACK = Codec(Shape(Rollback), "apn" / UTF8, "service_profile" / UTF8)
_SWAP_CERTIFICATE = Codec(
    Shape(SwapCertificate, role=_ROLE), "role" / Int8ub, "ca_certificate" / Blob16(MAX_PAYLOAD - 8)
)
_MOVE_SIM = Codec(Shape(MoveSim), "apn" / UTF8, "service_profile" / UTF8)
_SECURITY_STATE = Codec(
    Shape(SecurityState, owner=_ROLE, anchor=_ROLE, can_roll_back=BOOL),
    "owner" / Int8ub,
    "key_id" / Int8ub,
    "anchor" / Int8ub,
    "apn" / UTF8,
    "service_profile" / UTF8,
    "previous_apn" / UTF8,
    "can_roll_back" / Int8ub,
)
_ERROR: Final = Codec(
    Shape(
        ErrorPayload,
        error_code=strict_enum(ErrorCode),
        request_msg_type=lenient_enum(MessageType),
        detail=(_dec_detail, _enc_detail),
    ),
    "error_code" / Int8ub,
    "request_msg_type" / Int8ub,
    "detail" / UTF8,
)

class KeyUse(Enum):
    """Which key may authenticate a request."""

    OPERATIONAL = "operational"  # the sending role's operational key only
    MASTER = "master"  # the CHF's Master Key only (key id MASTER_KEY_ID)
    EITHER = "either"  # either of them


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """Everything about one request type: its payload layouts and how the CHF treats it.

    The CHF binds one handler to each entry (``emulator.core.chf.commands``, checked complete at
    import); a new WAN command is one entry here and one handler there."""

    msg_type: MessageType
    request: Codec | None  # None: the request carries no payload
    responses: tuple[Codec, ...]  # the first is the default; READ_INSTANTANEOUS picks by device
    key: KeyUse = KeyUse.OPERATIONAL
    #: At a GSME on the ZigBee HAN, the command waits at the CHF until the sleepy GSME polls.
    waits_for_gsme: bool = False

    @property
    def request_body(self) -> type | None:
        return None if self.request is None else self.request.shape.cls

    @property
    def response_bodies(self) -> tuple[type, ...]:
        return tuple(c.shape.cls for c in self.responses)


def _table(*specs: MessageSpec) -> Mapping[int, MessageSpec]:
    table: dict[int, MessageSpec] = {spec.msg_type: spec for spec in specs}
    if len(table) != len(specs) or MessageType.ERROR in table:
        raise DeclarationError("the WAN message table lists a type twice, or lists ERROR")
    return MappingProxyType(table)


_M, _E = KeyUse.MASTER, KeyUse.EITHER
#: The WAN request types by value, one entry each (ERROR is the only non-request type).
MESSAGES: Final[Mapping[int, MessageSpec]] = _table(
    MessageSpec(MessageType.READ_INSTANTANEOUS, None,
                (_ESME, _GSME, _ESME_METERING, _GSME_METERING)),
    MessageSpec(MessageType.READ_INVENTORY, None, (_INVENTORY,)),
    MessageSpec(MessageType.READ_FIRMWARE_VERSIONS, None, (_FIRMWARE,)),
    MessageSpec(MessageType.READ_EVENT_LOG, _EVENT_LOG_REQUEST, (_EVENT_LOG,),
                waits_for_gsme=True),
    MessageSpec(MessageType.READ_PAYMENT_MODE, None, (_PAYMENT_STATE,), waits_for_gsme=True),
    MessageSpec(MessageType.SET_PAYMENT_MODE, _SET_PAYMENT_MODE, (_PAYMENT_STATE,),
                waits_for_gsme=True),
    MessageSpec(MessageType.TOP_UP, _TOP_UP, (_TOP_UP_RESULT,), waits_for_gsme=True),
    MessageSpec(MessageType.READ_TIME, None, (_TIME_VALUE,), waits_for_gsme=True),
    MessageSpec(MessageType.SET_TIME, _SET_TIME, (_SET_TIME_RESULT,), waits_for_gsme=True),
    MessageSpec(MessageType.SET_SUPPLY, _SET_SUPPLY, (_SUPPLY_RESULT,), waits_for_gsme=True),
    MessageSpec(MessageType.UPDATE_HAN_DEVICE_LOG, _UPDATE_DEVICE_LOG, (_DEVICE_LOG_UPDATED,)),
    MessageSpec(MessageType.ROTATE_KEYS, _ROTATE_KEYS, (_SECURITY_STATE,), key=_M),
    MessageSpec(MessageType.ROLLBACK, _ROLLBACK, (_SECURITY_STATE,), key=_M),
    MessageSpec(MessageType.READ_SECURITY_STATE, None, (_SECURITY_STATE,), key=_E),
    MessageSpec(MessageType.SWAP_CERTIFICATE, _SWAP_CERTIFICATE, (_SECURITY_STATE,), key=_M),
    MessageSpec(MessageType.MOVE_SIM, _MOVE_SIM, (_SECURITY_STATE,)),
    MessageSpec(MessageType.FIRMWARE_SEGMENT, _FIRMWARE_SEGMENT, (_FIRMWARE_SEGMENT_ACK,)),
    MessageSpec(MessageType.DISTRIBUTE_FIRMWARE, _DISTRIBUTE_FIRMWARE, (_FIRMWARE_TRANSFER,)),
    MessageSpec(MessageType.READ_FIRMWARE_TRANSFER, None, (_FIRMWARE_TRANSFER,)),
    MessageSpec(MessageType.ACTIVATE_FIRMWARE, _ACTIVATE_FIRMWARE, (_FIRMWARE_TRANSFER,)),
)
_INSTANTANEOUS_BY_TYPE: Final = {int(DeviceType.ESME): _ESME, int(DeviceType.GSME): _GSME,
                                 METERING_ONLY | int(DeviceType.ESME): _ESME_METERING,
                                 METERING_ONLY | int(DeviceType.GSME): _GSME_METERING}


def _unsupported(msg_type: int, what: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"message type 0x{msg_type:02X} has no {what} layout", code=ErrorCode.UNSUPPORTED_COMMAND
    )


def response_type(msg_type: int) -> int:
    """The header msg_type of the answer to a request: ``msg_type | 0x80`` (ERROR stays 0x7F)."""
    return int(MessageType.ERROR) if msg_type == MessageType.ERROR else msg_type | RESPONSE_BIT


def encode_request(msg_type: MessageType, body: object | None) -> bytes:
    spec = MESSAGES.get(msg_type)
    if spec is None:
        raise LocalProtocolError(f"{msg_type!r} is not a request type")
    codec = spec.request
    if codec is None:
        if body is not None:
            raise LocalProtocolError(f"{MessageType(msg_type).name} requests carry no body")
        return b""
    return codec.encode(body)


def decode_request(msg_type: int, payload: bytes) -> object | None:
    """A request body (None for the empty ones). An unknown or non-request type raises
    RemoteProtocolError(code=UNSUPPORTED_COMMAND); a bad payload raises MalformedFrame."""
    spec = MESSAGES.get(msg_type)
    if spec is None:
        raise _unsupported(msg_type, "request")
    codec = spec.request
    if codec is None:
        if payload:
            raise MalformedFrame(f"{len(payload)} bytes where none belong", "payload")
        return None
    return codec.decode(payload)


def encode_response(msg_type: MessageType, body: object) -> bytes:
    """``msg_type`` is the request's type (MessageType.ERROR for an ERROR body)."""
    codecs: tuple[Codec, ...] | None = (_ERROR,)
    if msg_type != MessageType.ERROR:
        spec = MESSAGES.get(msg_type)
        codecs = None if spec is None else spec.responses
    if codecs is None:
        raise LocalProtocolError(f"{msg_type!r} has no response")
    for codec in codecs:
        if isinstance(body, codec.shape.cls):
            return codec.encode(body)
    names = " or ".join(c.shape.cls.__name__ for c in codecs)
    raise LocalProtocolError(f"expected a {names} body, got {type(body).__name__}")


def decode_response(msg_type: int, payload: bytes) -> object:
    """``msg_type`` as in the header: the request's type | 0x80, or 0x7F for ERROR."""
    if msg_type == MessageType.ERROR:
        return _ERROR.decode(payload)
    request = msg_type ^ RESPONSE_BIT
    # (ERROR is no request: not in MESSAGES, and refused below)
    spec = MESSAGES.get(request) if msg_type & RESPONSE_BIT else None
    codecs = None if spec is None else spec.responses
    if codecs is None or request == MessageType.ERROR:
        raise _unsupported(msg_type, "response")
    if codecs[0] is _ESME:
        if not payload:
            raise MalformedFrame("missing device type", "payload.device_type")
        codec = _INSTANTANEOUS_BY_TYPE.get(payload[0])
        if codec is None:
            raise MalformedFrame(
                f"device type {payload[0]} has no instantaneous layout", "payload.device_type"
            )
        return codec.decode(payload)
    return codecs[0].decode(payload)
