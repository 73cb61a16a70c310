"""The CHF answers anything: arbitrary bytes and damaged frames get an ERROR reply, never an
exception, and a good frame afterwards is still served."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core.chf import Chf, OperationalKeys, Sim
from emulator.core.trace_sink import Recorder
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
from emulator.wire.vocabulary import MessageType, Role

EUI = "00-1B-C5-0C-00-00-00-01"
KEYS = OperationalKeys(1, bytes(range(16)), bytes(range(16, 32)))
T0 = 1_767_571_200_000_000


def make_chf() -> Chf:
    return Chf(EUI, "1.0", Sim("8944", "234", "apn", "sp"), {Role.SMSO: KEYS}, Recorder(), T0,
               master_key=bytes(range(32, 48)), anchor=(Role.SMSO, b"der"))


def good_frame(counter: int, msg: MessageType = MessageType.READ_TIME) -> bytes:
    header = wan.Header(version=1, msg_type=int(msg), txn_id=7, target=eui_from_str(EUI),
                        role=int(Role.SMSO), key_id=1, counter=counter)
    return wan.seal(header, wan.encode_request(msg, None), KEYS.command_key)


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
