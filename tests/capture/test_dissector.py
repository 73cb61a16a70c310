"""The shipped Lua dissector decodes every WAN message type of docs/wan-protocol.md.

Each frame travels over real TLS (MemoryBIO, mutual auth, ALPN s1lab/1) on an in-memory link
recorded by the WAN capture; the pcapng gets the session secrets in a Decryption Secrets
Block; tshark with only ``-X lua_script:s1lab.lua`` must show every header and payload field
with the value that was encoded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import subprocess
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.capture.pcapng import merge_with_secrets
from emulator.drivers.capture import WanCapture
from emulator.drivers.clock import current_clock, run_virtual
from emulator.drivers.memory import MemoryLink
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import client_context, server_context
from emulator.drivers.wan_channel import WanChannel
from emulator.fleet import mint_fleet_pki
from emulator.pki import mint_chf
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
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
from emulator.wire.zcl import Status
from tests.capture.tshark import pdml, tshark_path
from wireshark import dissector_path

pytestmark = pytest.mark.io

CHF = "00-1B-C5-0C-00-00-00-01"
ESME = eui_from_str("00-1B-C5-0C-00-00-00-02")
GSME = eui_from_str("00-1B-C5-0C-00-00-00-03")
KEY = bytes(range(16))
M = MessageType

#: Every WAN request type, from the message table (ERROR is the only type that is not one).
REQUEST_TYPES: tuple[MessageType, ...] = tuple(MessageType(t) for t in wan.MESSAGES)

#: The dissector's field prefix for each payload (s1lab.<prefix>.<dataclass field>); the entries
#: of a list are under s1lab.<prefix>.entry.
PREFIX: dict[type, str] = {
    wan.EsmeInstantaneous: "esme", wan.GsmeInstantaneous: "gsme", wan.Inventory: "inventory",
    wan.EsmeMetering: "esme_metering", wan.GsmeMetering: "gsme_metering",
    wan.FirmwareVersions: "firmware", wan.EventLogRequest: "event_log_request",
    wan.EventLog: "event_log", wan.PaymentState: "payment",
    wan.SetPaymentMode: "set_payment_mode", wan.TopUpRequest: "top_up",
    wan.TopUpResult: "top_up_result", wan.TimeValue: "time", wan.SetTime: "set_time",
    wan.SetTimeResult: "set_time_result", wan.SetSupply: "set_supply",
    wan.SupplyResult: "supply_result", wan.UpdateDeviceLog: "device_log_update",
    wan.DeviceLogUpdated: "device_log_updated", wan.RotateKeys: "rotate_keys",
    wan.Rollback: "rollback", wan.SwapCertificate: "swap_certificate", wan.MoveSim: "move_sim",
    wan.SecurityState: "security_state", wan.ErrorPayload: "error",
    wan.FirmwareSegment: "firmware_segment", wan.FirmwareSegmentAck: "firmware_segment_ack",
    wan.DistributeFirmware: "distribute_firmware", wan.ActivateFirmware: "activate_firmware",
    wan.FirmwareTransfer: "firmware_transfer",
}


def payload_classes() -> set[type]:
    """Every payload dataclass of the message table, and ERROR's."""
    out: set[type] = {wan.ErrorPayload}
    for spec in wan.MESSAGES.values():
        if spec.request_body is not None:
            out.add(spec.request_body)
        out.update(spec.response_bodies)
    return out

_STATE = wan.SecurityState(owner=Role.S1SP, key_id=2, anchor=Role.SMSO, apn="dcc.apn",
                           service_profile="DCC-SMETS1-CSP", previous_apn="smso.apn",
                           can_roll_back=True)
_PAYMENT = wan.PaymentState(PaymentMode.PREPAYMENT, -250, 1000, 750, True, 1234,
                            SupplyState.ARMED)
_IMAGE_SIZE = 4714
#: As much image as one FIRMWARE_SEGMENT carries: a 2048-byte frame, the largest a record holds.
_SEGMENT = bytes(i * 7 % 256 for i in range(wan.MAX_PAYLOAD - 10))
#: (request type, request body, response body) for every v1 request; then ERROR.
EXCHANGES: list[tuple[MessageType, object | None, object]] = [
    (M.READ_INSTANTANEOUS, None, wan.EsmeInstantaneous(
        820888200, 1234567, (800000, 434567), -1520, PaymentMode.PREPAYMENT, 1250, 1000, 1000,
        False, SupplyState.ENABLED)),
    (M.READ_INSTANTANEOUS, None, wan.GsmeInstantaneous(
        820888201, 98765, 321, PaymentMode.CREDIT, -5, SupplyState.DISABLED, 1800)),
    (M.READ_INSTANTANEOUS, None, wan.EsmeMetering(1234567, -1520, 0x01)),  # on a radio
    (M.READ_INSTANTANEOUS, None, wan.GsmeMetering(98765, 321, 1800)),
    (M.READ_INVENTORY, None, wan.Inventory("smso.apn", "smso-standard", "8944000000000000001",
                                           820888000, (
        wan.InventoryEntry(ESME, DeviceType.ESME, DeviceLogState.JOINED, 820887000),
        wan.InventoryEntry(GSME, DeviceType.GSME, DeviceLogState.WHITELISTED, 0)))),
    (M.READ_FIRMWARE_VERSIONS, None, wan.FirmwareVersions((
        wan.FirmwareEntry(ESME, DeviceType.ESME, "3.1.0"),
        wan.FirmwareEntry(GSME, DeviceType.GSME, "1.2.5-β")))),
    # 200 entries: a 2032-byte frame, two TCP segments (TLS and TCP reassembly).
    (M.READ_EVENT_LOG, wan.EventLogRequest(0), wan.EventLog((
        wan.EventLogEntry(820880000, EventCode.TOP_UP_ACCEPTED, 1500),
        wan.EventLogEntry(820880001, 0x7777, -3),
        *(wan.EventLogEntry(820880002 + i, EventCode.LOW_CREDIT, i) for i in range(198))))),
    (M.READ_PAYMENT_MODE, None, _PAYMENT),
    (M.SET_PAYMENT_MODE, wan.SetPaymentMode(PaymentMode.CREDIT), _PAYMENT),
    (M.TOP_UP, wan.TopUpRequest("55120038467291035846"),
     wan.TopUpResult(TopUpStatus.ALREADY_USED, 0, 1250)),
    (M.READ_TIME, None, wan.TimeValue(820888200)),
    (M.SET_TIME, wan.SetTime(820888300), wan.SetTimeResult(820888200, 820888300)),
    (M.SET_SUPPLY, wan.SetSupply(SupplyAction.ARM), wan.SupplyResult(SupplyState.ARMED)),
    (M.UPDATE_HAN_DEVICE_LOG, wan.UpdateDeviceLog(
        DeviceLogAction.ADD, GSME, DeviceType.GSME, b"0123456789ABCDEF\xf5\x96", 90,
        "1234567890"), wan.DeviceLogUpdated(DeviceLogStatus.DONE, 5)),
    (M.ROTATE_KEYS, wan.RotateKeys(Role.S1SP, 2, bytes(range(40))), _STATE),
    (M.ROLLBACK, wan.Rollback("", "smso-standard"), _STATE),
    (M.READ_SECURITY_STATE, None, _STATE),
    (M.SWAP_CERTIFICATE, wan.SwapCertificate(Role.S1SP, bytes(range(200)) * 3), _STATE),
    (M.MOVE_SIM, wan.MoveSim("dcc.apn", "DCC-SMETS1-CSP"), _STATE),
    (M.FIRMWARE_SEGMENT, wan.FirmwareSegment(0, _IMAGE_SIZE, _SEGMENT),
     wan.FirmwareSegmentAck(len(_SEGMENT), _IMAGE_SIZE)),
    (M.DISTRIBUTE_FIRMWARE, wan.DistributeFirmware(0xFFFFFFFF, hashlib.sha256(_SEGMENT).digest()),
     wan.FirmwareTransfer(FirmwareTransferState.OFFERED, Status.SUCCESS, "3.2.0", "3.1.0", 0,
                          _IMAGE_SIZE, "")),
    (M.READ_FIRMWARE_TRANSFER, None, wan.FirmwareTransfer(
        FirmwareTransferState.REFUSED, Status.INVALID_IMAGE, "3.2.0-β", "3.1.0", 1994,
        _IMAGE_SIZE, "signature does not verify")),
    (M.ACTIVATE_FIRMWARE, wan.ActivateFirmware(820890000), wan.FirmwareTransfer(
        FirmwareTransferState.ACTIVATION_SCHEDULED, Status.SUCCESS, "3.2.0", "3.1.0",
        _IMAGE_SIZE, _IMAGE_SIZE, "")),
]
ERROR = wan.ErrorPayload(ErrorCode.BAD_MAC, M.READ_INSTANTANEOUS, "MAC does not verify")


def _show(value: object) -> str:
    """A value as tshark's PDML ``show`` gives it."""
    if isinstance(value, bytes):
        return ":".join(f"{b:02x}" for b in value)
    if isinstance(value, bool | enum.IntEnum):
        return str(int(value))
    return str(value)


_FRAMING = ("s1lab.record_length", "s1lab.magic", "s1lab.version", "s1lab.length", "s1lab.mac")
_OCTETS = ("s1lab.device", ".eui", ".wrapped_keys", ".ca_certificate", ".install_code",
           ".data", ".sha256")


def _normal(item: tuple[str, str]) -> tuple[str, str]:
    """Numbers as decimal (tshark shows enums in hex); octets and text as they are."""
    name, text = item
    if name.endswith(_OCTETS):
        return item
    try:
        return name, str(int(text, 0))
    except ValueError:
        return item


def expected_fields(body: object, prefix: str | None = None) -> list[tuple[str, str]]:
    """The dissector's fields for a payload, in wire order: ``s1lab.<prefix>.<field>``."""
    prefix = prefix or "s1lab." + PREFIX[type(body)]
    out: list[tuple[str, str]] = []
    if isinstance(body, wan.EsmeInstantaneous | wan.GsmeInstantaneous):
        out.append((f"{prefix}.device_type", _show(body.device_type)))
    elif isinstance(body, wan.EsmeMetering | wan.GsmeMetering):  # the layout byte
        out.append((f"{prefix}.device_type", str(wan.METERING_ONLY | int(body.device_type))))
    assert dataclasses.is_dataclass(body)
    for f in dataclasses.fields(body):
        value = getattr(body, f.name)
        name = f"{prefix}.{f.name}"
        if f.name == "entries" and isinstance(value, tuple):
            out.append((f"{prefix}.entry_count", str(len(value))))
            for entry in value:
                out += expected_fields(entry, f"{prefix}.entry")
        elif isinstance(value, tuple):  # time-of-use registers
            out.append((f"{name}_count", str(len(value))))
            out += [(name, str(v)) for v in value]
        else:
            out.append((name, _show(value)))
    return out


def _header_fields(frame: bytes) -> list[tuple[str, str]]:
    h = wan.parse_frame(frame).header
    return [("s1lab.type", str(h.msg_type)), ("s1lab.txn", str(h.txn_id)),
            ("s1lab.device", _show(h.target)), ("s1lab.role", str(h.role)),
            ("s1lab.key_id", str(h.key_id)), ("s1lab.counter", str(h.counter))]


def _frame(msg_type: int, txn: int, role: Role, counter: int, payload: bytes,
           target: bytes = ESME) -> bytes:
    spec = wan.MESSAGES.get(msg_type & ~RESPONSE_BIT)
    master = spec is not None and spec.key is wan.KeyUse.MASTER
    key_id = wan.MASTER_KEY_ID if master else 1
    header = wan.Header(wan.FRAME_VERSION, msg_type, txn, target, role, key_id, counter)
    return wan.seal(header, payload, KEY)


def _all_frames() -> list[tuple[bool, bytes, object | None]]:
    """(from the head-end?, frame, body) for every exchange, then an ERROR, then a frame whose
    payload is cut short."""
    frames: list[tuple[bool, bytes, object | None]] = []
    for txn, (msg_type, request, response) in enumerate(EXCHANGES, start=1):
        frames.append((True, _frame(msg_type, txn, Role.SMSO, 1000 + txn,
                                    wan.encode_request(msg_type, request)), request))
        frames.append((False, _frame(wan.response_type(msg_type), txn, Role.CHF, txn,
                                     wan.encode_response(msg_type, response)), response))
    frames.append((False, _frame(M.ERROR, 99, Role.CHF, 99,
                                 wan.encode_response(M.ERROR, ERROR)), ERROR))
    return frames


def test_every_v1_message_type_is_covered() -> None:
    """A type added to wan.MESSAGES fails here until it has an exchange (and the tshark test
    below then fails until wireshark/s1lab.lua decodes it)."""
    assert {m for m in MessageType if m is not M.ERROR} == set(REQUEST_TYPES)
    covered = {m for m, _, _ in EXCHANGES}
    missing = [m.name for m in REQUEST_TYPES if m not in covered]
    assert not missing, (f"no EXCHANGES case for {missing}: add one here, and its layouts to "
                         "wireshark/s1lab.lua")
    for msg_type, request, response in EXCHANGES:
        spec = wan.MESSAGES[msg_type]
        assert (None if request is None else type(request)) is spec.request_body, msg_type.name
        assert type(response) in spec.response_bodies, msg_type.name
    bodies = {type(b) for _, r, s in EXCHANGES for b in (r, s) if b is not None} | {type(ERROR)}
    unexercised = sorted(c.__name__ for c in payload_classes() - bodies)
    assert not unexercised, f"payloads no exchange sends: {unexercised}"
    no_prefix = sorted(c.__name__ for c in payload_classes() - set(PREFIX))
    assert not no_prefix, f"payloads with no dissector prefix in PREFIX: {no_prefix}"


def _enum_of(hint: object) -> type[enum.IntEnum] | None:
    """The IntEnum a field's type names (``EventCode | int`` included), if any."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    found = [o for o in options if isinstance(o, type) and issubclass(o, enum.IntEnum)]
    return found[0] if found else None


def _named_fields(cls: type, prefix: str) -> Iterator[tuple[str, dict[int, str]]]:
    """(field, value names) for every field of a payload that the dissector shows by name: its
    enums and booleans, also inside list entries."""
    if cls in (wan.EsmeInstantaneous, wan.GsmeInstantaneous):
        yield f"{prefix}.device_type", {int(m): m.name for m in DeviceType}
    elif cls in (wan.EsmeMetering, wan.GsmeMetering):
        yield f"{prefix}.device_type", {wan.METERING_ONLY | int(m): m.name
                                        for m in (DeviceType.ESME, DeviceType.GSME)}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is tuple and args and dataclasses.is_dataclass(args[0]):
            yield from _named_fields(typing.cast(type, args[0]), f"{prefix}.entry")
        elif (values := _enum_of(hint)) is not None:
            yield f"{prefix}.{name}", {int(m): m.name for m in values}
        elif hint is bool:
            yield f"{prefix}.{name}", {0: "false", 1: "true"}


def _message_type_names() -> dict[int, str]:
    names = {int(M.ERROR): M.ERROR.name}
    for m in REQUEST_TYPES:
        names[int(m)] = m.name
        names[wan.response_type(m)] = f"{m.name}_RESPONSE"
    return names


def _dissector_value_names() -> dict[str, dict[int, str]]:
    """tshark's value strings of every s1lab field (``tshark -G values``)."""
    done = subprocess.run([tshark_path(), "-G", "values", "-X",
                           f"lua_script:{dissector_path()}"],
                          capture_output=True, text=True, timeout=300, check=True)
    assert "Lua: Error" not in done.stderr, done.stderr
    out: dict[str, dict[int, str]] = {}
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "V" and parts[1].startswith("s1lab."):
            out.setdefault(parts[1], {})[int(parts[2], 0)] = parts[3]
    return out


def test_the_dissector_names_every_enum_value() -> None:
    """Every enum value of every header and payload field, by the name vocabulary.py gives it:
    a value added to an enum, or an enum field added to a payload, fails here until the
    dissector knows it."""
    want: dict[str, dict[int, str]] = {
        "s1lab.type": _message_type_names(),
        "s1lab.role": {int(r): r.name for r in Role},
        "s1lab.error.request_msg_type": _message_type_names(),
        # Plain ints on the wire, with documented values (docs/wan-protocol.md §7.9).
        "s1lab.firmware_transfer.ota_status": {
            int(s): s.name for s in (Status.SUCCESS, Status.ABORT, Status.INVALID_IMAGE,
                                     Status.NO_IMAGE_AVAILABLE)},
        "s1lab.distribute_firmware.activate_at": {0: "on arrival",
                                                  0xFFFFFFFF: "on ACTIVATE_FIRMWARE"},
        "s1lab.activate_firmware.at": {0: "now"},
    }
    for cls in payload_classes():
        want.update(_named_fields(cls, "s1lab." + PREFIX[cls]))
    got = _dissector_value_names()
    assert {name: got.get(name) for name in want} == want
    assert sorted(set(got) - set(want)) == []  # no stale value table


async def _record(tmp: Path, version: str, frames: list[tuple[bool, bytes, object | None]],
                  broken: bytes) -> tuple[Path, Path]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    now = clock.now_us()
    pki = mint_fleet_pki(tmp, 7, now)
    bundle = tmp / "chf.pem"
    bundle.write_bytes(mint_chf(pki.device_ca, CHF, now, 365, 7).bundle_pem())
    keylog = tmp / "keys.txt"
    cert, key = pki.headend_paths(Role.SMSO)
    cctx = client_context(cert, key, pki.device_ca.cert_pem(), version, version, keylog=keylog)
    sctx = server_context(bundle, pki.authorities.smso_ca.cert_pem(), version, version)
    capture = WanCapture(tmp / "wan.pcap")
    link = MemoryLink(scheduler, 20_000)
    server = WanChannel(capture.tap_chf(link.b, clock, CHF, "smso"), sctx, True, clock)
    client = WanChannel(link.a, cctx, False, clock)
    client.start()
    await asyncio.sleep(1)
    assert client.established and server.established
    assert client.tls_version == f"TLSv{version}"
    for from_headend, frame, _ in frames:
        (client if from_headend else server).send_frame(frame)
        await asyncio.sleep(1)
    client.send_frame(broken)
    await asyncio.sleep(1)
    client.close()
    await asyncio.sleep(1)
    scheduler.close()
    capture.close()
    return capture.path, keylog


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tshark_decodes_every_message_type_as_encoded(tmp_path: Path, version: str) -> None:
    frames = _all_frames()
    # A TOP_UP whose UTRN is cut to 5 bytes (the header's length says so): malformed payload.
    broken = _frame(M.TOP_UP, 100, Role.SMSO, 2000, b"55120")
    wan_pcap, keylog = run_virtual(_record(tmp_path, version, frames, broken))
    assert keylog.stat().st_mode & 0o777 == 0o600
    out = tmp_path / "capture.pcapng"
    merge_with_secrets(out, [wan_pcap], keylog)

    packets = pdml(out, "s1lab")
    assert len(packets) == len(frames) + 1
    names = _message_type_names()
    for (_, frame, body), packet in zip(frames, packets, strict=False):
        want = _header_fields(frame) + (expected_fields(body) if body is not None else [])
        got = [(n, v) for n, v in packet.fields if n not in _FRAMING]
        what = f"frame {packet.number}: {names[wan.parse_frame(frame).header.msg_type]}"
        assert [_normal(f) for f in got] == [_normal(f) for f in want], what
    # Message types by name, as in a display filter.
    assert len(pdml(out, 's1lab.type == "READ_INSTANTANEOUS_RESPONSE"')) == 4
    assert len(pdml(out, 's1lab.esme_metering.device_type == "ESME"')) == 1  # on a radio
    assert len(pdml(out, 's1lab.type == "ERROR"')) == 1
    assert len(pdml(out, 's1lab.type == "TOP_UP"')) == 2  # with the damaged one
    assert len(pdml(out, 's1lab.firmware_transfer.state == "REFUSED" and '
                         's1lab.firmware_transfer.ota_status == "INVALID_IMAGE"')) == 1
    assert pdml(out, "s1lab.type.unknown") == []  # every type has its layout
    # Only the damaged frame is malformed, and it is the only error.
    for display_filter in ("_ws.expert.severity == error", "_ws.malformed", "s1lab.malformed"):
        assert [p.number for p in pdml(out, display_filter)] == [packets[-1].number]
    assert pdml(out, "s1lab and tls.handshake.extensions_alpn_str") == []  # app data only
    assert len(pdml(out, 'tls.handshake.extensions_alpn_str == "s1lab/1"', prefixes=())) == 2
    assert pdml(out, "s1lab.event_log.entry_count == 200 and tcp.reassembled.length > 1460",
                prefixes=())
