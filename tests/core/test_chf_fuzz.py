"""The CHF answers anything: arbitrary bytes and damaged frames get an ERROR reply, never an
exception, and a good frame afterwards is still served."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.core.chf import DEVICE_LOG_SIZE, Chf, OperationalKeys, Sim
from emulator.core.chf import commands as chf_commands
from emulator.core.han_crypto import install_code_crc
from emulator.core.trace_sink import Recorder
from emulator.errors import MalformedFrame
from emulator.fleet import FIRST_EUI
from emulator.keystore import derive_chf_keys
from emulator.profiles import default_dmc
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
    EventCode,
    MessageType,
    PaymentMode,
    Role,
    SupplyAction,
)
from tests.pairing import T0 as PAIRED_T0
from tests.pairing import installation_core

EUI = "00-1B-C5-0C-00-00-00-01"
KEYS = OperationalKeys(1, bytes(range(16)), bytes(range(16, 32)))
T0 = 1_767_571_200_000_000


def make_chf() -> Chf:
    return Chf(EUI, "1.0", Sim("8944", "234", "apn", "sp"), {Role.SMSO: KEYS}, Recorder(), T0,
               master_key=bytes(range(32, 48)), anchor=(Role.SMSO, b"der"))


def good_frame(counter: int, msg: MessageType = MessageType.READ_TIME) -> bytes:
    header = wan.Header(version=1, msg_type=int(msg), txn_id=7, target=eui_from_str(EUI),
                        role=int(Role.SMSO), key_id=1, counter=counter)
    body = wan.EventLogRequest(0) if msg is MessageType.READ_EVENT_LOG else None
    return wan.seal(header, wan.encode_request(msg, body), KEYS.command_key)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_get_an_error_reply(data: bytes) -> None:
    chf = make_chf()
    reply = chf.handle_frame(data, T0, Role.SMSO)
    assert reply is not None
    frame = wan.parse_frame(reply)
    assert frame.header.role == Role.CHF


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 255), st.sampled_from([
    MessageType.READ_TIME, MessageType.READ_INVENTORY, MessageType.READ_FIRMWARE_VERSIONS,
    MessageType.READ_INSTANTANEOUS, MessageType.READ_PAYMENT_MODE,
    MessageType.READ_SECURITY_STATE]))
def test_a_damaged_good_frame_is_refused_and_service_continues(
        index: int, flip: int, msg: MessageType) -> None:
    chf = make_chf()
    frame = bytearray(good_frame(10, msg))
    if index < len(frame) and flip:
        frame[index] ^= flip
    reply = chf.handle_frame(bytes(frame), T0, Role.SMSO)
    assert reply is not None
    ok = chf.handle_frame(good_frame(11), T0, Role.SMSO)
    assert ok is not None
    header = wan.parse_frame(ok).header
    assert header.msg_type == MessageType.READ_TIME | 0x80


# ---- authenticated random commands (issue 8, item 10) ----------------------------------------
# Every frame below carries a valid MAC and a fresh counter, so it passes authentication and
# reaches a handler. The CHF must answer each one with a frame that parses, never raise, and
# never need its INTERNAL_ERROR safety net (which would mean a handler failed).

_FUZZ_SEED = 3


def _u(bits: int) -> st.SearchStrategy[int]:
    top = 2**bits - 1
    return st.one_of(st.integers(0, top), st.sampled_from([0, 1, top, top - 1]))


def _request_bodies(msg: MessageType) -> st.SearchStrategy[bytes]:
    """Payloads for ``msg``: mostly valid encodings with edge values, sometimes random bytes."""
    body = {
        MessageType.READ_EVENT_LOG: st.builds(wan.EventLogRequest, _u(8)),
        MessageType.SET_PAYMENT_MODE: st.builds(wan.SetPaymentMode, st.sampled_from(PaymentMode)),
        MessageType.TOP_UP: st.builds(wan.TopUpRequest, st.text("0123456789", min_size=20,
                                                                max_size=20)),
        MessageType.SET_TIME: st.builds(wan.SetTime, _u(32) | st.sampled_from(
            [wan.MAX_SETTABLE_UTC, wan.MAX_SETTABLE_UTC + 1])),
        MessageType.SET_SUPPLY: st.builds(wan.SetSupply, st.sampled_from(SupplyAction)),
        MessageType.UPDATE_HAN_DEVICE_LOG: st.builds(
            wan.UpdateDeviceLog, st.just(DeviceLogAction.ADD), st.binary(min_size=8, max_size=8),
            st.sampled_from(DeviceType), st.sampled_from([bytes(8), bytes(10), bytes(18)]),
            _u(16), st.text(max_size=8)) | st.builds(
            wan.UpdateDeviceLog, st.just(DeviceLogAction.REMOVE),
            st.binary(min_size=8, max_size=8), st.sampled_from(DeviceType), st.just(b""),
            st.just(0), st.just("")),
        MessageType.ROTATE_KEYS: st.builds(
            wan.RotateKeys, st.sampled_from([Role.SMSO, Role.S1SP]), _u(8),
            st.binary(min_size=40, max_size=40)),
        MessageType.ROLLBACK: st.builds(wan.Rollback, st.text(max_size=60),
                                        st.text(max_size=60)),
        MessageType.SWAP_CERTIFICATE: st.builds(
            wan.SwapCertificate, st.sampled_from([Role.SMSO, Role.S1SP]), st.binary(max_size=64)),
        MessageType.MOVE_SIM: st.builds(wan.MoveSim, st.text(max_size=255),
                                        st.text(max_size=255)),
    }.get(msg)
    valid = (st.just(b"") if body is None
             else body.map(lambda b: _encode_or_empty(msg, b)))
    return st.one_of(valid, valid, valid, st.binary(max_size=40))


def _encode_or_empty(msg: MessageType, body: object) -> bytes:
    try:
        return wan.encode_request(msg, body)
    except MalformedFrame:
        return b"\xff"  # a body the encoder refuses (text too long): send junk instead


_COMMANDS = st.lists(
    st.tuples(st.sampled_from(sorted(wan.MESSAGES)).map(MessageType), st.integers(0, 8),
              st.integers(0, 3600)).flatmap(
        lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]),
                            _request_bodies(t[0]))),
    min_size=1, max_size=40)


@pytest.mark.parametrize("zigbee", [False, True], ids=["direct", "zigbee"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=_COMMANDS)
def test_authenticated_random_commands_never_break_the_chf(
        zigbee: bool, commands: list[tuple[MessageType, int, int, bytes]]) -> None:
    keys = derive_chf_keys(_FUZZ_SEED, FIRST_EUI)
    trace = Recorder()
    core = installation_core(default_dmc(), _FUZZ_SEED, keys, PAIRED_T0, trace, zigbee=zigbee)
    chf = core.devices.chf
    targets = [chf.eui, *chf.log, "00-00-00-00-00-00-00-09"]
    now = PAIRED_T0
    # After the random commands, read everything back from every target: what the commands
    # left behind must still encode.
    sweep = [(m, i, 0, _encode_or_empty(m, wan.EventLogRequest(0)) if m is
              MessageType.READ_EVENT_LOG else b"")
             for m in (MessageType.READ_EVENT_LOG, MessageType.READ_TIME,
                       MessageType.READ_INVENTORY, MessageType.READ_FIRMWARE_VERSIONS,
                       MessageType.READ_INSTANTANEOUS, MessageType.READ_SECURITY_STATE)
             for i in range(len(targets))]
    for counter, (msg, target_index, step_s, payload) in enumerate([*commands, *sweep], 1):
        now += step_s * 1_000_000
        (owner, op), = chf.operational_keys().items()
        master = wan.MESSAGES[msg].key is wan.KeyUse.MASTER
        key_id, key = ((wan.MASTER_KEY_ID, keys.master_key) if master
                       else (op.key_id, op.command_key))
        target = eui_from_str(targets[target_index % len(targets)])
        header = wan.Header(version=1, msg_type=int(msg), txn_id=counter, target=target,
                            role=int(owner), key_id=key_id, counter=counter)
        reply = chf.handle_frame(wan.seal(header, payload, key), now, owner)
        replies = ([] if reply is None else [reply]) + [r for _, r in chf.take_outgoing()]
        for raw in replies:
            answer = wan.parse_frame(raw)
            if answer.header.msg_type != MessageType.ERROR:
                wan.decode_response(answer.header.msg_type, answer.payload)
    failed = [f for _, _, e, f in trace.events if e == "WanHandlerFailed"]
    assert failed == []


def test_an_error_in_a_handler_is_an_internal_error_reply_and_service_continues(
        monkeypatch: pytest.MonkeyPatch) -> None:
    chf = make_chf()

    def broken(*args: object) -> object:
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(chf_commands._HANDLERS, MessageType.READ_INVENTORY, broken)
    reply = wan.parse_frame(chf.handle_frame(good_frame(10, MessageType.READ_INVENTORY), T0,
                                             Role.SMSO) or b"")
    wan.verify_mac(reply, KEYS.response_key)  # sealed: the request was authenticated
    error = wan.decode_response(reply.header.msg_type, reply.payload)
    assert isinstance(error, wan.ErrorPayload)
    assert error.error_code is ErrorCode.INTERNAL_ERROR and "ZeroDivisionError" in error.detail
    assert wan.parse_frame(chf.handle_frame(good_frame(11), T0, Role.SMSO) or b"") \
        .header.msg_type == MessageType.READ_TIME | 0x80


def test_set_time_past_the_settable_range_is_refused() -> None:
    chf = make_chf()
    header = wan.Header(version=1, msg_type=int(MessageType.SET_TIME), txn_id=1,
                        target=eui_from_str(EUI), role=int(Role.SMSO), key_id=1, counter=5)
    late = wan.encode_request(MessageType.SET_TIME, wan.SetTime(wan.MAX_SETTABLE_UTC + 1))
    reply = wan.parse_frame(chf.handle_frame(wan.seal(header, late, KEYS.command_key), T0,
                                             Role.SMSO) or b"")
    error = wan.decode_response(reply.header.msg_type, reply.payload)
    assert isinstance(error, wan.ErrorPayload) and error.error_code is ErrorCode.INVALID_ARGUMENT
    assert chf.clock(T0) == T0  # unchanged


def test_the_device_log_is_capped_and_the_inventory_fits_a_frame() -> None:
    chf = make_chf()
    code = bytes(range(16)) + install_code_crc(bytes(range(16)))
    statuses = []
    for i in range(DEVICE_LOG_SIZE + 3):
        header = wan.Header(version=1, msg_type=int(MessageType.UPDATE_HAN_DEVICE_LOG),
                            txn_id=i, target=eui_from_str(EUI), role=int(Role.SMSO), key_id=1,
                            counter=100 + i)
        body = wan.encode_request(MessageType.UPDATE_HAN_DEVICE_LOG, wan.UpdateDeviceLog(
            DeviceLogAction.ADD, (0x1000 + i).to_bytes(8, "big"), DeviceType.IHD, code, 60,
            "x" * wan.MAX_MPXN))
        reply = wan.parse_frame(chf.handle_frame(wan.seal(header, body, KEYS.command_key), T0,
                                                 Role.SMSO) or b"")
        result = wan.decode_response(reply.header.msg_type, reply.payload)
        assert isinstance(result, wan.DeviceLogUpdated)
        statuses.append(result.status)
    assert statuses[:DEVICE_LOG_SIZE] == [DeviceLogStatus.DONE] * DEVICE_LOG_SIZE
    assert statuses[DEVICE_LOG_SIZE:] == [DeviceLogStatus.LOG_FULL] * 3
    assert len(chf.log) == DEVICE_LOG_SIZE
    chf.sim.apn = chf.sim.service_profile = chf.sim.iccid = "a" * wan.MAX_TEXT
    inventory = wan.parse_frame(chf.handle_frame(good_frame(999, MessageType.READ_INVENTORY),
                                                 T0, Role.SMSO) or b"")
    assert inventory.header.msg_type == MessageType.READ_INVENTORY | 0x80
    assert len(wan.decode_response(inventory.header.msg_type, inventory.payload).entries) == 32


def test_a_clock_jump_beyond_i32_seconds_reads_back_saturated() -> None:
    chf = make_chf()
    chf.log_event(T0, EventCode.CLOCK_ADJUSTED, 2**40)
    reply = wan.parse_frame(chf.handle_frame(good_frame(10, MessageType.READ_EVENT_LOG), T0,
                                             Role.SMSO) or b"")
    log = wan.decode_response(reply.header.msg_type, reply.payload)
    assert isinstance(log, wan.EventLog) and log.entries[-1].value == 2**31 - 1
