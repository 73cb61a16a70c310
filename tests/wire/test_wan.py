"""WAN application protocol v1 (emulator/wire/wan.py, docs/wan-protocol.md)."""

from __future__ import annotations

import contextlib
import re
import struct
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errors import (
    BadMac,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
)
from emulator.wire import wan
from emulator.wire.vocabulary import (
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

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "wan"
DOC = ROOT / "docs" / "wan-protocol.md"

# The fixed test keys stated in docs/wan-protocol.md (never real device keys).
SMSO_COMMAND_KEY = bytes(range(0x10))
CHF_RESPONSE_KEY = bytes(range(0x10, 0x20))
MASTER_KEY = bytes(range(0x20, 0x30))
S1SP_NEW_KEYS = bytes(range(0x30, 0x50))  # command key || response key, key id 2
KEYS: dict[tuple[int, int], bytes | None] = {
    (Role.SMSO, 1): SMSO_COMMAND_KEY,
    (Role.CHF, 1): CHF_RESPONSE_KEY,
    (Role.CHF, 0): None,
    (Role.SMSO, wan.MASTER_KEY_ID): MASTER_KEY,  # any role: key id 0xFF is the Master Key
    (Role.S1SP, wan.MASTER_KEY_ID): MASTER_KEY,
    (Role.CHF, wan.MASTER_KEY_ID): MASTER_KEY,
}

CHF = bytes.fromhex("001bc50c00000001")
ESME = bytes.fromhex("001bc50c00000002")
GSME = bytes.fromhex("001bc50c00000003")


def header(**kw: Any) -> wan.Header:
    base = wan.Header(
        version=1,
        msg_type=MessageType.READ_TIME,
        txn_id=7,
        target=ESME,
        role=Role.SMSO,
        key_id=1,
        counter=42,
    )
    return replace(base, **kw)


# ---- round trips -------------------------------------------------------------------------


def common(
    encode: Any, decode: Any, msg_type: int, body: object, size: int, codec: Any = None
) -> None:
    """encode -> decode -> encode gives the same object and bytes, of the expected size; when a
    codec is given, its declarative and compiled forms agree on parse and build."""
    data = encode(msg_type, body)
    assert len(data) == size
    back = decode(msg_type if encode is wan.encode_request else wan.response_type(msg_type), data)
    assert back == body
    assert encode(msg_type, back) == data
    if codec is not None:
        slow, fast = codec.fmt.parse(data), codec.fast.parse(data)
        assert {k: v for k, v in slow.items() if k != "_io"} == {
            k: v for k, v in fast.items() if k != "_io"
        }
        assert codec.fmt.build(slow) == codec.fast.build(slow) == data


ESME_READING = wan.EsmeInstantaneous(
    meter_time=820_888_200,
    import_wh=1_234_567,
    tou_wh=(800_000, 434_567),
    demand_w=-1520,
    payment_mode=PaymentMode.PREPAYMENT,
    balance_pence=-250,
    emergency_credit_limit_pence=1000,
    emergency_credit_available_pence=400,
    emergency_credit_in_use=True,
    supply_state=SupplyState.ARMED,
)
GSME_READING = wan.GsmeInstantaneous(
    meter_time=820_888_200,
    volume_dm3=2**40,
    flow_dm3_per_h=1200,
    payment_mode=PaymentMode.CREDIT,
    balance_pence=0,
    supply_state=SupplyState.DISABLED,
    data_age_s=1800,
)
INVENTORY = wan.Inventory(
    apn="s1lab.apn",
    service_profile="profile-α",
    iccid="8944000000000000001",
    last_wan_contact=0,
    entries=(
        wan.InventoryEntry(ESME, DeviceType.ESME, DeviceLogState.JOINED, 820_888_000),
        wan.InventoryEntry(GSME, DeviceType.GSME, DeviceLogState.WHITELISTED, 0),
    ),
)
FIRMWARE = wan.FirmwareVersions(
    entries=(
        wan.FirmwareEntry(CHF, DeviceType.CHF, "1.2.3"),
        wan.FirmwareEntry(ESME, DeviceType.ESME, ""),
    )
)
EVENT_LOG = wan.EventLog(
    entries=(
        wan.EventLogEntry(1, EventCode.POWER_ON, 0),
        wan.EventLogEntry(2, 0xBEEF, -5),  # unknown codes stay plain ints
    )
)
PAYMENT = wan.PaymentState(
    payment_mode=PaymentMode.PREPAYMENT,
    balance_pence=2**40,
    emergency_credit_limit_pence=500,
    emergency_credit_available_pence=500,
    emergency_credit_in_use=False,
    debt_pence=1234,
    supply_state=SupplyState.ENABLED,
)

INSTALL_CODE = b"0123456789ABCDEF" + bytes.fromhex("f596")  # 16-byte code + its CRC-16
ADD_GSME = wan.UpdateDeviceLog(
    action=DeviceLogAction.ADD,
    eui=GSME,
    device_type=DeviceType.GSME,
    install_code=INSTALL_CODE,
    join_window_s=90,
    mpxn="1234567890",
)
REMOVE_GSME = replace(ADD_GSME, action=DeviceLogAction.REMOVE, install_code=b"", join_window_s=0)

SECURITY_STATE = wan.SecurityState(Role.S1SP, 2, Role.S1SP, "dcc", "P", "smso", True)

FIRMWARE_TRANSFER = wan.FirmwareTransfer(FirmwareTransferState.REFUSED, 0x96, "3.2.0", "3.1.0",
                                         0, 4714, "bad")

RESPONSES = [
    (
        MessageType.READ_INSTANTANEOUS,
        ESME_READING,
        1 + 4 + 8 + 1 + 16 + 4 + 1 + 8 + 4 + 4 + 1 + 1,
        wan._ESME,
    ),
    (MessageType.READ_INSTANTANEOUS, GSME_READING, 1 + 4 + 8 + 4 + 1 + 8 + 1 + 4, wan._GSME),
    (MessageType.READ_INVENTORY, INVENTORY, 10 + 11 + 20 + 4 + 1 + 2 * 14, wan._INVENTORY),
    (MessageType.READ_FIRMWARE_VERSIONS, FIRMWARE, 1 + 15 + 10, wan._FIRMWARE),
    (MessageType.READ_EVENT_LOG, EVENT_LOG, 2 + 2 * 10, wan._EVENT_LOG),
    (MessageType.READ_EVENT_LOG, wan.EventLog(entries=()), 2, wan._EVENT_LOG),
    (MessageType.READ_PAYMENT_MODE, PAYMENT, 23, wan._PAYMENT_STATE),
    (MessageType.SET_PAYMENT_MODE, PAYMENT, 23, wan._PAYMENT_STATE),
    (MessageType.TOP_UP, wan.TopUpResult(TopUpStatus.ALREADY_USED, 0, -1), 13, wan._TOP_UP_RESULT),
    (MessageType.READ_TIME, wan.TimeValue(utc=2**32 - 1), 4, wan._TIME_VALUE),
    (MessageType.SET_TIME, wan.SetTimeResult(previous_utc=5, utc=6), 8, wan._SET_TIME_RESULT),
    (MessageType.SET_SUPPLY, wan.SupplyResult(SupplyState.ENABLED), 1, wan._SUPPLY_RESULT),
    (
        MessageType.UPDATE_HAN_DEVICE_LOG,
        wan.DeviceLogUpdated(DeviceLogStatus.DONE, 3),
        2,
        wan._DEVICE_LOG_UPDATED,
    ),
    (
        MessageType.UPDATE_HAN_DEVICE_LOG,
        wan.DeviceLogUpdated(DeviceLogStatus.NOT_ALLOWED, 255),
        2,
        wan._DEVICE_LOG_UPDATED,
    ),
    (
        MessageType.ERROR,
        wan.ErrorPayload(ErrorCode.UNSUPPORTED_COMMAND, 0x55, "type 0x55"),
        12,
        wan._ERROR,
    ),
    (MessageType.ERROR, wan.ErrorPayload(ErrorCode.MALFORMED, 0), 3, wan._ERROR),
    (MessageType.FIRMWARE_SEGMENT, wan.FirmwareSegmentAck(1994, 4714), 8,
     wan._FIRMWARE_SEGMENT_ACK),
    *[
        (m, FIRMWARE_TRANSFER, 13 + 5 + 5 + 3, wan._FIRMWARE_TRANSFER)
        for m in (MessageType.DISTRIBUTE_FIRMWARE, MessageType.READ_FIRMWARE_TRANSFER,
                  MessageType.ACTIVATE_FIRMWARE)
    ],
    *[
        (m, SECURITY_STATE, 15, wan._SECURITY_STATE)
        for m in (MessageType.ROTATE_KEYS, MessageType.ROLLBACK, MessageType.READ_SECURITY_STATE,
                  MessageType.SWAP_CERTIFICATE, MessageType.MOVE_SIM)
    ],
]

REQUESTS = [
    (MessageType.READ_INSTANTANEOUS, None, 0, None),
    (MessageType.READ_INVENTORY, None, 0, None),
    (MessageType.READ_FIRMWARE_VERSIONS, None, 0, None),
    (MessageType.READ_EVENT_LOG, wan.EventLogRequest(max_entries=0), 1, wan._EVENT_LOG_REQUEST),
    (MessageType.READ_PAYMENT_MODE, None, 0, None),
    (
        MessageType.SET_PAYMENT_MODE,
        wan.SetPaymentMode(PaymentMode.CREDIT),
        1,
        wan._SET_PAYMENT_MODE,
    ),
    (MessageType.TOP_UP, wan.TopUpRequest("12345678901234567890"), 20, wan._TOP_UP),
    (MessageType.TOP_UP, wan.TopUpRequest("not digits, still ok"), 20, wan._TOP_UP),
    (MessageType.READ_TIME, None, 0, None),
    (MessageType.SET_TIME, wan.SetTime(utc=820_888_200), 4, wan._SET_TIME),
    (MessageType.SET_SUPPLY, wan.SetSupply(SupplyAction.ARM), 1, wan._SET_SUPPLY),
    (MessageType.UPDATE_HAN_DEVICE_LOG, ADD_GSME, 14 + 18 + 10, wan._UPDATE_DEVICE_LOG),
    (MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_GSME, 14 + 10, wan._UPDATE_DEVICE_LOG),
    (
        MessageType.UPDATE_HAN_DEVICE_LOG,
        replace(ADD_GSME, install_code=bytes(8), join_window_s=0xFFFF, mpxn=""),
        14 + 8,
        wan._UPDATE_DEVICE_LOG,
    ),
    (
        MessageType.UPDATE_HAN_DEVICE_LOG,
        replace(ADD_GSME, device_type=DeviceType.ESME, install_code=bytes(14), mpxn="9" * 32),
        14 + 14 + 32,
        wan._UPDATE_DEVICE_LOG,
    ),
    (MessageType.ROTATE_KEYS, wan.RotateKeys(Role.S1SP, 2, bytes(range(40))), 42,
     wan._ROTATE_KEYS),
    (MessageType.ROLLBACK, wan.Rollback("smso.apn", "SP1"), 13, wan._ROLLBACK),
    (MessageType.READ_SECURITY_STATE, None, 0, None),
    (MessageType.SWAP_CERTIFICATE, wan.SwapCertificate(Role.S1SP, b"x" * 500), 503,
     wan._SWAP_CERTIFICATE),
    (MessageType.MOVE_SIM, wan.MoveSim("dcc.apn", "P"), 10, wan._MOVE_SIM),
    (MessageType.FIRMWARE_SEGMENT, wan.FirmwareSegment(0, 4714, bytes(1994)), 10 + 1994,
     wan._FIRMWARE_SEGMENT),
    (MessageType.DISTRIBUTE_FIRMWARE, wan.DistributeFirmware(0, bytes(32)), 36,
     wan._DISTRIBUTE_FIRMWARE),
    (MessageType.READ_FIRMWARE_TRANSFER, None, 0, None),
    (MessageType.ACTIVATE_FIRMWARE, wan.ActivateFirmware(820_888_200), 4, wan._ACTIVATE_FIRMWARE),
]


@pytest.mark.parametrize(("msg_type", "body", "size", "codec"), REQUESTS)
def test_request_round_trip(msg_type: MessageType, body: object, size: int, codec: Any) -> None:
    common(wan.encode_request, wan.decode_request, msg_type, body, size, codec)


@pytest.mark.parametrize(("msg_type", "body", "size", "codec"), RESPONSES)
def test_response_round_trip(msg_type: MessageType, body: object, size: int, codec: Any) -> None:
    common(wan.encode_response, wan.decode_response, msg_type, body, size, codec)


def test_every_message_type_is_covered() -> None:
    requests = {m for m, *_ in REQUESTS}
    responses = {m for m, *_ in RESPONSES}
    assert requests == set(MessageType) - {MessageType.ERROR}
    assert responses == set(MessageType)


def test_decoded_values_are_enums_and_tuples() -> None:
    data = wan.encode_response(MessageType.READ_INVENTORY, INVENTORY)
    inv = wan.decode_response(0x82, data)
    assert isinstance(inv, wan.Inventory)
    assert isinstance(inv.entries, tuple)
    assert type(inv.entries[0].device_type) is DeviceType
    assert type(inv.entries[0].state) is DeviceLogState
    log = wan.decode_response(0x84, wan.encode_response(MessageType.READ_EVENT_LOG, EVENT_LOG))
    assert isinstance(log, wan.EventLog)
    assert type(log.entries[0].code) is EventCode
    assert type(log.entries[1].code) is int
    err = wan.decode_response(
        0x7F,
        wan.encode_response(
            MessageType.ERROR, wan.ErrorPayload(ErrorCode.BAD_MAC, MessageType.TOP_UP)
        ),
    )
    assert isinstance(err, wan.ErrorPayload)
    assert err.request_msg_type is MessageType.TOP_UP


def test_device_log_update_layout() -> None:
    data = wan.encode_request(MessageType.UPDATE_HAN_DEVICE_LOG, ADD_GSME)
    assert data == (
        b"\x00" + GSME + b"\x03" + b"\x12" + INSTALL_CODE + b"\x00\x5a" + b"\x0a1234567890"
    )
    body = wan.decode_request(MessageType.UPDATE_HAN_DEVICE_LOG, data)
    assert isinstance(body, wan.UpdateDeviceLog)
    assert type(body.action) is DeviceLogAction
    assert type(body.device_type) is DeviceType
    result = wan.decode_response(0x8B, b"\x04\x20")
    assert result == wan.DeviceLogUpdated(DeviceLogStatus.LOG_FULL, 32)
    assert isinstance(result, wan.DeviceLogUpdated)
    assert type(result.status) is DeviceLogStatus


def test_payloads_are_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        ESME_READING.import_wh = 0  # type: ignore[misc]


def test_error_detail_is_cut_to_200_bytes_on_a_character_boundary() -> None:
    long = "é" * 150  # 300 bytes of UTF-8
    data = wan.encode_response(MessageType.ERROR, wan.ErrorPayload(ErrorCode.MALFORMED, 1, long))
    err = wan.decode_response(0x7F, data)
    assert isinstance(err, wan.ErrorPayload)
    assert err.detail == "é" * 100
    odd = "x" + "é" * 150  # the cut falls inside a character, which is dropped
    data = wan.encode_response(MessageType.ERROR, wan.ErrorPayload(ErrorCode.MALFORMED, 1, odd))
    err = wan.decode_response(0x7F, data)
    assert isinstance(err, wan.ErrorPayload)
    assert err.detail == "x" + "é" * 99
    too_long = bytes((5, 1, 201)) + b"a" * 201
    with pytest.raises(MalformedFrame) as exc:
        wan.decode_response(0x7F, too_long)
    assert exc.value.path == "payload.detail"


# ---- payload errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "payload", "path"),
    [
        (0x85, bytes([7]) + bytes(22), "payload.payment_mode"),  # unknown payment mode
        (0x85, bytes(17) + b"\x02" + bytes(5), "payload.emergency_credit_in_use"),  # not 0/1
        (0x85, bytes(22), "payload.supply_state"),  # cut short
        (0x85, bytes(24), "payload.end"),  # one byte too many
        (0x81, b"", "payload.device_type"),
        (0x81, bytes([DeviceType.IHD]), "payload.device_type"),
        (0x81, bytes([DeviceType.GSME]) + bytes(26), "payload.data_age_s"),
        (
            0x81,
            bytes([DeviceType.ESME, 0, 0, 0, 0]) + bytes(8) + b"\x03" + bytes(8),
            "payload.tou_wh[1]",
        ),
        (0x82, b"\x03apn", "payload.service_profile"),
        (0x82, b"\x02\xff\xfe", "payload.apn"),  # not UTF-8
        (
            0x82,
            b"\x00\x00\x00" + bytes(4) + b"\x01" + bytes(8) + b"\x09" + bytes(5),
            "payload.entries[0].device_type",
        ),
        (0x83, b"\x01" + bytes(8) + b"\x01\x05abc", "payload.entries[0].version"),
        (0x84, b"\x00\x02" + bytes(10) + bytes(9), "payload.entries[1].value"),
        (0x87, b"\x09" + bytes(12), "payload.status"),
        (0x8A, b"\x03", "payload.supply_state"),
        (0x8B, b"\x06\x00", "payload.status"),  # unknown device log status
        (0x8B, b"\x00", "payload.entries"),
        (0x8B, b"\x00\x00\x00", "payload.end"),
        (0x7F, b"\x00\x01\x00", "payload.error_code"),
    ],
)
def test_bad_response_payload(msg_type: int, payload: bytes, path: str) -> None:
    with pytest.raises(MalformedFrame) as exc:
        wan.decode_response(msg_type, payload)
    assert exc.value.path == path


ADD_BYTES = wan.encode_request(MessageType.UPDATE_HAN_DEVICE_LOG, ADD_GSME)
REMOVE_BYTES = wan.encode_request(MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_GSME)


@pytest.mark.parametrize(
    ("msg_type", "payload", "path"),
    [
        (MessageType.READ_TIME, b"\x00", "payload"),  # empty requests must be empty
        (MessageType.SET_PAYMENT_MODE, b"\x02", "payload.payment_mode"),
        (MessageType.SET_SUPPLY, b"\x03", "payload.action"),
        (MessageType.TOP_UP, b"1" * 19, "payload.utrn"),
        (MessageType.TOP_UP, b"1" * 21, "payload.end"),
        (MessageType.TOP_UP, b"\xff" * 20, "payload.utrn"),
        (MessageType.SET_TIME, b"\x00\x00\x00", "payload.utc"),
        (MessageType.READ_EVENT_LOG, b"", "payload.max_entries"),
        # UPDATE_HAN_DEVICE_LOG: the ADD of the GSME is b"\x00" + GSME + b"\x03\x12" + ...
        (MessageType.UPDATE_HAN_DEVICE_LOG, b"\x02" + ADD_BYTES[1:], "payload.action"),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            ADD_BYTES[:9] + b"\x06" + ADD_BYTES[10:],
            "payload.device_type",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, ADD_BYTES[:5], "payload.eui"),
        # the install code's byte count runs past the end of the payload
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            ADD_BYTES[:10] + b"\xff" + ADD_BYTES[11:],
            "payload.install_code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            ADD_BYTES[:10] + b"\x12" + INSTALL_CODE[:5],
            "payload.install_code",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, ADD_BYTES[:10], "payload.install_code"),
        # a byte count that fits the payload but not the action
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            ADD_BYTES[:10] + b"\x11" + ADD_BYTES[11:28] + ADD_BYTES[29:],
            "payload.install_code",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, b"\x01" + ADD_BYTES[1:], "payload.install_code"),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            REMOVE_BYTES[:-11] + b"\x21" + b"9" * 33,
            "payload.mpxn",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_BYTES[:-11] + b"\x02\xff\xfe", "payload.mpxn"),
        (MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_BYTES[:-11], "payload.mpxn"),
        (MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_BYTES[:-12], "payload.join_window_s"),
        (MessageType.UPDATE_HAN_DEVICE_LOG, REMOVE_BYTES + b"\x00", "payload.end"),
    ],
)
def test_bad_request_payload(msg_type: int, payload: bytes, path: str) -> None:
    with pytest.raises(MalformedFrame) as exc:
        wan.decode_request(msg_type, payload)
    assert exc.value.path == path


@pytest.mark.parametrize("msg_type", [0x00, 0x0C, 0x23, 0x81, 0x7F, 0xFF])
def test_unknown_request_type_is_unsupported_command(msg_type: int) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        wan.decode_request(msg_type, b"")
    assert exc.value.code == ErrorCode.UNSUPPORTED_COMMAND


@pytest.mark.parametrize("msg_type", [0x01, 0x8C, 0xA3, 0xFF])
def test_unknown_response_type_is_unsupported_command(msg_type: int) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        wan.decode_response(msg_type, b"")
    assert exc.value.code == ErrorCode.UNSUPPORTED_COMMAND


@pytest.mark.parametrize(
    ("msg_type", "body", "path"),
    [
        (MessageType.TOP_UP, wan.TopUpRequest("123"), "payload.utrn"),
        (MessageType.TOP_UP, wan.TopUpRequest("1234567890123456789é"), "payload.utrn"),
        (MessageType.SET_TIME, wan.SetTime(utc=2**32), "payload.utc"),
        (MessageType.SET_TIME, wan.SetTime(utc=-1), "payload.utc"),
        (MessageType.SET_SUPPLY, wan.SetSupply(7), "payload.action"),  # type: ignore[arg-type]
        (MessageType.READ_EVENT_LOG, wan.EventLogRequest(256), "payload.max_entries"),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, action=2),  # type: ignore[arg-type]
            "payload.action",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, device_type=0),  # type: ignore[arg-type]
            "payload.device_type",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, replace(ADD_GSME, eui=GSME[:7]), "payload.eui"),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, install_code=INSTALL_CODE[:-1]),
            "payload.install_code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, install_code=b""),
            "payload.install_code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(REMOVE_GSME, install_code=INSTALL_CODE),
            "payload.install_code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, install_code="0123456789"),  # type: ignore[arg-type]
            "payload.install_code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, join_window_s=0x10000),
            "payload.join_window_s",
        ),
        (MessageType.UPDATE_HAN_DEVICE_LOG, replace(ADD_GSME, mpxn="9" * 33), "payload.mpxn"),
        (MessageType.UPDATE_HAN_DEVICE_LOG, replace(ADD_GSME, mpxn="é" * 17), "payload.mpxn"),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            replace(ADD_GSME, mpxn=1234567890),  # type: ignore[arg-type]
            "payload.mpxn",
        ),
    ],
)
def test_values_that_do_not_fit_raise_malformed(
    msg_type: MessageType, body: object, path: str
) -> None:
    with pytest.raises(MalformedFrame) as exc:
        wan.encode_request(msg_type, body)
    assert exc.value.path == path


def test_response_values_that_do_not_fit_raise_malformed() -> None:
    cases: list[tuple[MessageType, object, str]] = [
        (MessageType.READ_INVENTORY, replace(INVENTORY, apn="a" * 256), "payload.apn"),
        (
            MessageType.READ_INVENTORY,
            replace(INVENTORY, entries=(replace(INVENTORY.entries[0], eui=b"short"),)),
            "payload.entries[0].eui",
        ),
        (
            MessageType.READ_INVENTORY,
            replace(INVENTORY, entries=INVENTORY.entries * 128),
            "payload.entries",
        ),
        (
            MessageType.READ_INSTANTANEOUS,
            replace(ESME_READING, emergency_credit_in_use=2),  # type: ignore[arg-type]
            "payload.emergency_credit_in_use",
        ),
        (MessageType.READ_INSTANTANEOUS, replace(ESME_READING, tou_wh=(-1,)), "payload.tou_wh[0]"),
        (
            MessageType.READ_EVENT_LOG,
            wan.EventLog(entries=(wan.EventLogEntry(0, 0x10000, 0),)),
            "payload.entries[0].code",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            wan.DeviceLogUpdated(DeviceLogStatus.DONE, 256),
            "payload.entries",
        ),
        (
            MessageType.UPDATE_HAN_DEVICE_LOG,
            wan.DeviceLogUpdated(9, 1),  # type: ignore[arg-type]
            "payload.status",
        ),
    ]
    for msg_type, body, path in cases:
        with pytest.raises(MalformedFrame) as exc:
            wan.encode_response(msg_type, body)
        assert exc.value.path == path, body


def test_api_misuse_is_a_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError):
        wan.encode_request(MessageType.READ_TIME, wan.SetTime(utc=1))
    with pytest.raises(LocalProtocolError):
        wan.encode_request(MessageType.SET_TIME, wan.TimeValue(utc=1))
    with pytest.raises(LocalProtocolError):
        wan.encode_request(MessageType.ERROR, None)
    with pytest.raises(LocalProtocolError):
        wan.encode_response(MessageType.READ_INSTANTANEOUS, PAYMENT)
    with pytest.raises(LocalProtocolError):
        wan.encode_response(0x55, PAYMENT)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        wan.encode_response(MessageType.READ_INVENTORY, replace(INVENTORY, entries=(1,)))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        wan.seal(header(key_id=0), b"", SMSO_COMMAND_KEY)
    with pytest.raises(LocalProtocolError):
        wan.seal(header(key_id=1), b"", None)
    with pytest.raises(LocalProtocolError):
        wan.seal(header(), b"", bytes(32))  # AES-256 is not the protocol's cipher


def test_response_type() -> None:
    assert wan.response_type(MessageType.TOP_UP) == 0x87
    assert wan.response_type(MessageType.ERROR) == 0x7F


# ---- frames and MACs -----------------------------------------------------------------------


def test_cmac_matches_rfc_4493() -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert wan.mac(key, b"").hex() == "bb1d6929e95937287fa37d129b756746"
    msg = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert wan.mac(key, msg).hex() == "070a16b46b4d4144f79bdd9dd04a287c"


def test_seal_and_parse_frame() -> None:
    payload = wan.encode_request(MessageType.SET_TIME, wan.SetTime(utc=99))
    data = wan.seal(header(msg_type=MessageType.SET_TIME), payload, SMSO_COMMAND_KEY)
    assert len(data) == wan.HEADER_SIZE + len(payload) + wan.MAC_SIZE
    frame = wan.parse_frame(data)
    assert frame.header == header(msg_type=MessageType.SET_TIME)
    assert frame.payload == payload
    assert frame.signed == data[: -wan.MAC_SIZE]
    assert frame.mac == data[-wan.MAC_SIZE :]
    wan.verify_mac(frame, SMSO_COMMAND_KEY)
    # An independent reading of the header with the struct module.
    fields = struct.unpack(">2sBBI8sBBQH", data[: wan.HEADER_SIZE])
    assert fields == (b"S1", 1, 0x09, 7, ESME, 1, 1, 42, 4)


def test_unauthenticated_frame_has_a_zero_mac() -> None:
    data = wan.seal(header(key_id=0, msg_type=MessageType.ERROR), b"", None)
    frame = wan.parse_frame(data)
    assert frame.mac == bytes(16)
    with pytest.raises(BadMac):
        wan.verify_mac(frame, SMSO_COMMAND_KEY)


def test_tampered_byte_fails_mac() -> None:
    data = wan.seal(header(), b"", SMSO_COMMAND_KEY)
    for i in range(len(data)):
        if i in (0, 1, 2, 26, 27):  # magic, version and length fail earlier
            continue
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(BadMac):
            wan.verify_mac(wan.parse_frame(bytes(bad)), SMSO_COMMAND_KEY)


def test_wrong_key_fails_mac() -> None:
    frame = wan.parse_frame(wan.seal(header(), b"", SMSO_COMMAND_KEY))
    with pytest.raises(BadMac):
        wan.verify_mac(frame, CHF_RESPONSE_KEY)


def test_other_versions_parse_the_header_only() -> None:
    data = bytearray(wan.seal(header(), b"", SMSO_COMMAND_KEY))
    data[2] = 2
    frame = wan.parse_frame(bytes(data[:28]))
    assert frame.header.version == 2
    assert frame.header.txn_id == 7
    assert (frame.payload, frame.mac, frame.signed) == (b"", b"", b"")
    assert wan.parse_frame(bytes(data) + b"anything").payload == bytes(data[28:]) + b"anything"
    with pytest.raises(BadMac):
        wan.verify_mac(frame, SMSO_COMMAND_KEY)
    with pytest.raises(MalformedFrame) as exc:
        wan.parse_frame(bytes(data[:27]))
    assert exc.value.path == "frame.length"


def test_unknown_message_type_parses_at_frame_level() -> None:
    data = wan.seal(header(msg_type=0x55), b"\x01\x02\x03", SMSO_COMMAND_KEY)
    frame = wan.parse_frame(data)
    assert frame.header.msg_type == 0x55
    assert frame.payload == b"\x01\x02\x03"
    wan.verify_mac(frame, SMSO_COMMAND_KEY)
    with pytest.raises(RemoteProtocolError):
        wan.decode_request(frame.header.msg_type, frame.payload)


GOOD = wan.seal(header(), b"\xaa\xbb", SMSO_COMMAND_KEY)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"", "frame.magic"),
        (b"S", "frame.magic"),
        (b"S1", "frame.version"),
        (b"X1" + GOOD[2:], "frame.magic"),
        (GOOD[:10], "frame.target"),
        (GOOD[:27], "frame.length"),
        (GOOD[:28], "frame.payload"),
        (GOOD[:29], "frame.payload"),
        (GOOD[:-1], "frame.mac"),
        (GOOD + b"\x00", "frame.end"),
        (GOOD[:26] + b"\x00\x01" + GOOD[28:], "frame.end"),  # length says less than is there
        (GOOD[:26] + b"\x00\x03" + GOOD[28:], "frame.mac"),  # length says more
        (GOOD + bytes(2048), "frame"),  # longer than any record
    ],
)
def test_malformed_frames(data: bytes, path: str) -> None:
    with pytest.raises(MalformedFrame) as exc:
        wan.parse_frame(data)
    assert exc.value.path == path


def test_seal_refuses_what_does_not_fit() -> None:
    with pytest.raises(MalformedFrame) as exc:
        wan.seal(header(), bytes(wan.MAX_PAYLOAD + 1), SMSO_COMMAND_KEY)
    assert exc.value.path == "frame.payload"
    assert len(wan.seal(header(), bytes(wan.MAX_PAYLOAD), SMSO_COMMAND_KEY)) == wan.MAX_RECORD
    for field, value in [("txn_id", 2**32), ("counter", -1), ("role", 256), ("target", b"1")]:
        with pytest.raises(MalformedFrame) as exc:
            wan.seal(header(**{field: value}), b"", SMSO_COMMAND_KEY)
        assert exc.value.path == f"frame.{field}"


# ---- records -------------------------------------------------------------------------------


def test_record_prefix() -> None:
    assert wan.record(b"abc") == b"\x00\x03abc"
    for bad in (b"", bytes(wan.MAX_RECORD + 1)):
        with pytest.raises(MalformedFrame) as exc:
            wan.record(bad)
        assert exc.value.path == "record.length"


def test_record_reader_one_byte_at_a_time() -> None:
    frames = [wan.seal(header(counter=i), bytes(i), SMSO_COMMAND_KEY) for i in range(1, 4)]
    stream = b"".join(wan.record(f) for f in frames)
    reader = wan.RecordReader()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += reader.feed(stream[i : i + 1])
    assert out == frames
    assert reader.buffered == 0


def test_record_reader_many_records_in_one_feed() -> None:
    frames = [wan.seal(header(counter=i), b"", SMSO_COMMAND_KEY) for i in range(1, 6)]
    stream = b"".join(wan.record(f) for f in frames)
    reader = wan.RecordReader()
    assert reader.feed(stream + stream[:5]) == frames
    assert reader.buffered == 5
    assert reader.feed(stream[5:]) == frames
    assert reader.feed(b"") == []


def test_record_of_the_largest_size() -> None:
    big = bytes(wan.MAX_RECORD)
    assert wan.RecordReader().feed(wan.record(big)) == [big]


@pytest.mark.parametrize("prefix", [b"\x00\x00", b"\x08\x01", b"\xff\xff"])
def test_bad_record_length_is_unrecoverable(prefix: bytes) -> None:
    reader = wan.RecordReader()
    assert reader.feed(wan.record(b"ok")) == [b"ok"]
    with pytest.raises(MalformedFrame) as exc:
        reader.feed(prefix + b"rest")
    assert exc.value.path == "record.length"
    with pytest.raises(MalformedFrame):  # and stays so: the session must close
        reader.feed(wan.record(b"ok"))


# ---- fuzz ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=120)
    | st.builds(lambda b, i: GOOD[:i] + b, st.binary(max_size=40), st.integers(0, len(GOOD)))
)
def test_fuzz_parse_frame_raises_only_malformed(data: bytes) -> None:
    try:
        frame = wan.parse_frame(data)
    except MalformedFrame as exc:
        assert exc.path.startswith("frame")
        return
    for decode in (wan.decode_request, wan.decode_response):
        with contextlib.suppress(MalformedFrame, RemoteProtocolError):
            decode(frame.header.msg_type, frame.payload)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFF), st.binary(max_size=80))
def test_fuzz_payload_decoders_raise_only_malformed(msg_type: int, payload: bytes) -> None:
    for decode in (wan.decode_request, wan.decode_response):
        with contextlib.suppress(MalformedFrame, RemoteProtocolError):
            decode(msg_type, payload)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_fuzz_record_reader_raises_only_malformed(chunks: list[bytes]) -> None:
    reader = wan.RecordReader()
    for chunk in chunks:
        try:
            reader.feed(chunk)
        except MalformedFrame:
            return


# ---- golden vectors ------------------------------------------------------------------------

VECTOR_FILES = sorted(VECTORS.glob("*.hex"))


def read_hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text(encoding="ascii"))


EXPECTED: dict[str, tuple[wan.Header, object]] = {
    "read_instantaneous_command": (wan.Header(1, 0x01, 1, ESME, Role.SMSO, 1, 1), None),
    "read_instantaneous_esme_response": (
        wan.Header(1, 0x81, 1, ESME, Role.CHF, 1, 1),
        wan.EsmeInstantaneous(
            820_888_200,
            1_234_567,
            (800_000, 434_567),
            1520,
            PaymentMode.PREPAYMENT,
            1250,
            1000,
            1000,
            False,
            SupplyState.ENABLED,
        ),
    ),
    "top_up_command": (
        wan.Header(1, 0x07, 2, ESME, Role.SMSO, 1, 2),
        wan.TopUpRequest("55120038467291035846"),
    ),
    "error_bad_mac_response": (
        wan.Header(1, 0x7F, 3, ESME, Role.CHF, 1, 2),
        wan.ErrorPayload(ErrorCode.BAD_MAC, MessageType.READ_INSTANTANEOUS, "MAC does not verify"),
    ),
    "error_unsupported_version_response": (
        wan.Header(1, 0x7F, 4, CHF, Role.CHF, 0, 0),
        wan.ErrorPayload(ErrorCode.UNSUPPORTED_VERSION, 0x01, "protocol version 2"),
    ),
    "update_han_device_log_command": (
        wan.Header(1, 0x0B, 5, CHF, Role.SMSO, 1, 3),
        ADD_GSME,
    ),
    "rotate_keys_command": (
        wan.Header(1, 0x20, 6, CHF, Role.SMSO, wan.MASTER_KEY_ID, 1),
        wan.RotateKeys(Role.S1SP, 2, aes_key_wrap(MASTER_KEY, S1SP_NEW_KEYS)),
    ),
    "distribute_firmware_command": (
        wan.Header(1, 0x51, 7, ESME, Role.SMSO, 1, 4),
        wan.DistributeFirmware(0xFFFFFFFF, bytes.fromhex(
            "0d42da256a0e9520ac7228d46a686de347bc858abf6ab8c96e19af51dbc22921")),
    ),
    "read_firmware_transfer_response": (
        wan.Header(1, 0xD2, 8, ESME, Role.CHF, 1, 5),
        wan.FirmwareTransfer(FirmwareTransferState.DOWNLOADED, 0, "3.2.0", "3.1.0", 4714, 4714,
                             ""),
    ),
}


def test_vector_folder_is_complete() -> None:
    assert {p.stem for p in VECTOR_FILES} == set(EXPECTED)
    assert (VECTORS / "README.md").is_file()


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    data = read_hex(path)
    frame = wan.parse_frame(data)
    h = frame.header
    key = KEYS[(h.role, h.key_id)]
    if key is None:
        assert frame.mac == bytes(wan.MAC_SIZE)
    else:
        wan.verify_mac(frame, key)
    if h.msg_type & 0x80 or h.msg_type == MessageType.ERROR:
        body = wan.decode_response(h.msg_type, frame.payload)
        request_type = MessageType(h.msg_type & 0x7F) if h.msg_type != 0x7F else MessageType.ERROR
        payload = wan.encode_response(request_type, body)
    else:
        body = wan.decode_request(h.msg_type, frame.payload)
        payload = wan.encode_request(MessageType(h.msg_type), body)
    assert (h, body) == EXPECTED[path.stem]
    assert wan.seal(h, payload, key) == data


def doc_vectors() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```hex (\w+)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return {name: bytes.fromhex(body) for name, body in blocks}


def test_doc_vectors_match_files() -> None:
    documented = doc_vectors()
    assert set(documented) == {p.stem for p in VECTOR_FILES}
    for path in VECTOR_FILES:
        assert documented[path.stem] == read_hex(path), path.stem


def test_doc_states_the_test_keys() -> None:
    text = DOC.read_text(encoding="utf-8").replace(" ", "").lower()
    assert SMSO_COMMAND_KEY.hex() in text
    assert CHF_RESPONSE_KEY.hex() in text
    assert MASTER_KEY.hex() in text
    assert S1SP_NEW_KEYS[:16].hex() in text
    assert S1SP_NEW_KEYS[16:].hex() in text


# ---- the struct fast paths agree with construct ------------------------------------------


def _construct_seal(header: wan.Header, payload: bytes, key: bytes | None) -> bytes:
    fields = {name: getattr(header, name) for name in
              ("version", "msg_type", "txn_id", "target", "role", "key_id", "counter")}
    signed = wan.HEADER_FORMAT.build({**fields, "length": len(payload)}) + payload
    return signed + (bytes(16) if key is None else wan.mac(key, signed))


@given(txn=st.integers(0, 2**32 - 1), counter=st.integers(0, 2**64 - 1),
       msg_type=st.integers(0, 255), payload=st.binary(max_size=64))
@settings(max_examples=60, deadline=None)
def test_header_fast_path_is_construct_bytes(txn: int, counter: int, msg_type: int,
                                             payload: bytes) -> None:
    header = wan.Header(1, msg_type, txn, ESME, int(Role.SMSO), 1, counter)
    frame = wan.seal(header, payload, SMSO_COMMAND_KEY)
    assert frame == _construct_seal(header, payload, SMSO_COMMAND_KEY)
    parsed = wan.parse_frame(frame)
    c = wan.FRAME_FORMAT.parse(frame)
    assert parsed.header == wan.Header(c.version, c.msg_type, c.txn_id, c.target, c.role,
                                       c.key_id, c.counter)
    assert (parsed.payload, parsed.mac) == (c.payload, c.mac)
    assert parsed.signed == frame[:-16]


@pytest.mark.parametrize("bad", [
    pytest.param(lambda f: f[:-1], id="short MAC"),
    pytest.param(lambda f: f + b"\x00", id="byte after the MAC"),
    pytest.param(lambda f: b"S2" + f[2:], id="magic"),
    pytest.param(lambda f: f[:26] + b"\x00\x09" + f[28:], id="length"),
])
def test_header_fast_path_leaves_bad_frames_to_construct(bad: Any) -> None:
    """A frame the struct path does not take gets construct's error (and path), as before."""
    header = wan.Header(1, MessageType.READ_INSTANTANEOUS, 7, ESME, int(Role.SMSO), 1, 9)
    frame = bad(wan.seal(header, b"\x01\x02\x03", SMSO_COMMAND_KEY))
    with pytest.raises(MalformedFrame) as fast:
        wan.parse_frame(frame)
    with pytest.raises(MalformedFrame) as slow:
        wan.parse_frame(bytearray(frame))  # not bytes: the construct path only
    assert (fast.value.path, str(fast.value)) == (slow.value.path, str(slow.value))


def test_a_target_of_the_wrong_size_is_refused_as_before() -> None:
    header = wan.Header(1, MessageType.READ_INSTANTANEOUS, 7, ESME[:7], int(Role.SMSO), 1, 9)
    with pytest.raises(MalformedFrame, match="8 bytes") as err:
        wan.seal(header, b"", SMSO_COMMAND_KEY)
    assert err.value.path.startswith("frame")


def test_fixed_layouts_encode_and_decode_as_construct() -> None:
    """Every response with a fixed layout: the struct path's bytes and values are the
    compiled construct's."""
    fixed = [(body, codec) for _, body, _, codec in RESPONSES if codec.fixed is not None]
    assert {wan._ESME, wan._GSME, wan._PAYMENT_STATE, wan._TOP_UP_RESULT} <= {
        c for _, c in fixed}
    for body, codec in fixed:
        values = codec.shape.encode(body, "payload")
        data = codec.encode(body)
        assert data == codec.fast.build(values)
        assert codec.fixed.decode(data) is not None
        assert codec.decode(data) == codec.shape.decode(codec.fast.parse(data), "payload")


@pytest.mark.parametrize("cut", [
    pytest.param(lambda p: p[:-1], id="short"),
    pytest.param(lambda p: p + b"\x00", id="long"),
    pytest.param(lambda p: b"\x09" + p[1:], id="device type"),
    pytest.param(lambda p: p[:13] + b"\x09" + p[14:], id="register count"),
])
def test_fixed_layouts_leave_bad_payloads_to_construct(cut: Any) -> None:
    codec = wan._ESME
    data = cut(codec.encode(ESME_READING))
    assert codec.fixed is not None and codec.fixed.decode(data) is None
    with pytest.raises(MalformedFrame) as err:
        codec.decode(data)
    with pytest.raises(MalformedFrame) as slow:
        codec.decode(bytearray(data))  # not bytes: the construct path only
    assert (err.value.path, str(err.value)) == (slow.value.path, str(slow.value))


def test_a_value_out_of_range_is_worded_by_construct() -> None:
    with pytest.raises(MalformedFrame) as err:
        wan._ESME.encode(replace(ESME_READING, demand_w=2**31))
    assert err.value.path == "payload.demand_w"


def test_mac_under_a_kept_key_state_is_fresh_each_time() -> None:
    """CMAC states are kept per key: each MAC starts from the key alone."""
    first = wan.mac(SMSO_COMMAND_KEY, b"one")
    wan.mac(SMSO_COMMAND_KEY, b"two")
    assert wan.mac(SMSO_COMMAND_KEY, b"one") == first
    assert wan.mac(bytearray(SMSO_COMMAND_KEY), b"one") == first
    assert wan.mac(CHF_RESPONSE_KEY, b"one") != first
