"""The head-end core: sealing, counters and reply checks, against a CHF core in memory."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from emulator.core import headend_commands as cmds
from emulator.core.chf import Chf, OperationalKeys, Sim
from emulator.core.headend import HeadEndCore, Reply, ReplyFailed
from emulator.core.pairing import WanPair
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Recorder
from emulator.errors import (
    BadMac,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    ReplayedCounter,
    TransportError,
)
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
from emulator.wire.vocabulary import ErrorCode, MessageType, Role
from tests.pairing import T0, paired

EUI = "00-1B-C5-0C-00-00-00-01"
KEYS = OperationalKeys(1, bytes(range(16)), bytes(range(16, 32)))
MASTER = bytes(range(32, 48))


def _pair(role: Role = Role.SMSO, tls_role: Role | None = None) -> WanPair:
    chf = Chf(EUI, "1.0", Sim("8944", "234", "apn", "sp"), {Role.SMSO: KEYS}, Recorder(), T0,
              master_key=MASTER, anchor=(Role.SMSO, b"der"))
    return WanPair(chf, HeadEndCore(role, lambda eui: KEYS), T0, tls_role=tls_role)


def _chf_reply(txn: int, counter: int, key: bytes = KEYS.response_key,
               msg_type: int = MessageType.READ_TIME | 0x80, key_id: int = 1) -> bytes:
    header = wan.Header(version=1, msg_type=msg_type, txn_id=txn, target=eui_from_str(EUI),
                        role=int(Role.CHF), key_id=key_id, counter=counter)
    return wan.seal(header, wan.encode_response(MessageType.READ_TIME, wan.TimeValue(utc=5)), key)


def test_counters_are_at_least_now_strictly_increasing_and_kept_across_sessions() -> None:
    counters: dict[str, int] = {}
    core = HeadEndCore(Role.SMSO, lambda eui: KEYS, counters, chf_eui=EUI)
    seen = [wan.parse_frame(core.seal(MessageType.READ_TIME, EUI, None, T0)[1]).header
            for _ in range(3)]
    assert [h.counter for h in seen] == [T0, T0 + 1, T0 + 2]
    assert [h.txn_id for h in seen] == [1, 2, 3]
    assert all(h.role == Role.SMSO and h.key_id == 1 for h in seen)
    # A new session of the same head-end (counters kept) never goes back, even at an earlier now.
    again = HeadEndCore(Role.SMSO, lambda eui: KEYS, counters, chf_eui=EUI)
    _, frame = again.seal(MessageType.READ_TIME, EUI, None, T0 - SECOND)
    assert wan.parse_frame(frame).header.counter == T0 + 3
    _, frame = again.seal(MessageType.READ_TIME, EUI, None, T0 + SECOND)
    assert wan.parse_frame(frame).header.counter == T0 + SECOND


def test_reply_checks_mac_counter_and_transaction() -> None:
    core = HeadEndCore(Role.SMSO, lambda eui: KEYS, chf_eui=EUI)
    assert core.receive(_chf_reply(7, 1)) is None  # nobody waits for txn 7: dropped unchecked
    core.expect(7)
    ok = core.receive(_chf_reply(7, 1))
    assert isinstance(ok, Reply) and ok.body == wan.TimeValue(utc=5)
    assert core.check_reply(MessageType.READ_TIME, EUI, ok) == wan.TimeValue(utc=5)
    core.expect(8)
    bad = core.receive(_chf_reply(8, 2, key=bytes(16)))
    assert isinstance(bad, ReplyFailed) and isinstance(bad.error, BadMac)
    core.expect(9)
    replay = core.receive(_chf_reply(9, 1))
    assert isinstance(replay, ReplyFailed) and isinstance(replay.error, ReplayedCounter)
    core.expect(10)
    with pytest.raises(MalformedFrame):
        core.receive(b"S1" + bytes(10))
    core.expect(11)
    master = core.receive(_chf_reply(11, 3, key=MASTER, key_id=wan.MASTER_KEY_ID))
    assert isinstance(master, ReplyFailed) and isinstance(master.error, LocalProtocolError)


def test_a_reply_of_another_type_or_an_error_is_a_remote_protocol_error() -> None:
    core = HeadEndCore(Role.SMSO, lambda eui: KEYS, chf_eui=EUI)
    core.expect(1)
    reply = core.receive(_chf_reply(1, 1))
    assert isinstance(reply, Reply)
    with pytest.raises(RemoteProtocolError) as wrong:
        core.check_reply(MessageType.READ_INVENTORY, EUI, reply)
    assert f"0x{MessageType.READ_TIME | 0x80:02X}" in str(wrong.value)
    with pytest.raises(RemoteProtocolError) as info:
        _pair().run(cmds.read_instantaneous("00-00-00-00-00-00-00-42"))
    assert info.value.code == ErrorCode.UNKNOWN_DEVICE


def test_the_chf_refuses_forged_frames_from_the_paired_head_end() -> None:
    pair = _pair()
    he = pair.headend
    txn, frame = he.seal(MessageType.READ_TIME, EUI, None, T0, key=bytes(16))
    body = pair.send(frame, txn).body
    assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.BAD_MAC
    txn, frame = he.seal(MessageType.READ_TIME, EUI, None, T0)
    assert isinstance(pair.send(frame, txn).body, wan.TimeValue)
    body = pair.send(frame, txn).body  # the same bytes again
    assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.REPLAYED_COUNTER
    txn, frame = he.seal(MessageType.READ_TIME, EUI, None, T0, key_id=9)
    body = pair.send(frame, txn).body
    assert isinstance(body, wan.ErrorPayload) and body.error_code is ErrorCode.UNKNOWN_KEY
    assert pair.run(cmds.read_time()).utc > 0  # and it keeps serving
    # A head-end whose TLS identity is another role's is refused (unauthenticated error).
    spoof = _pair(tls_role=Role.S1SP)
    txn, frame = spoof.headend.seal(MessageType.READ_TIME, EUI, None, T0)
    reply = spoof.send(frame, txn)
    assert reply.header.key_id == 0 and isinstance(reply.body, wan.ErrorPayload)
    assert reply.body.error_code is ErrorCode.UNKNOWN_ROLE


def test_master_key_commands_rotate_the_role_keys() -> None:
    pair = _pair()
    with pytest.raises(LocalProtocolError, match="no Master Key"):
        pair.master_request(MessageType.READ_SECURITY_STATE)
    pair.headend.master_key = MASTER
    new = OperationalKeys(2, bytes(range(48, 64)), bytes(range(64, 80)))
    state = pair.master_request(MessageType.ROTATE_KEYS, wan.RotateKeys(
        Role.SMSO, 2, aes_key_wrap(MASTER, new.command_key + new.response_key)))
    assert isinstance(state, wan.SecurityState) and state.key_id == 2
    # The old key id is refused, with an error sealed under the new keys: the old holder
    # cannot even authenticate it.
    with pytest.raises(BadMac):
        pair.run(cmds.read_time())
    fresh = WanPair(pair.chf, HeadEndCore(Role.SMSO, lambda eui: new, pair.headend.counters),
                    pair.now)
    assert fresh.run(cmds.read_time()).utc > 0


def test_a_deferred_reply_is_awaited_on_the_installation_clock_or_times_out() -> None:
    p = paired()
    pair = p.pair
    start = pair.now
    reading = pair.run(cmds.read_instantaneous(p.esme.eui))  # over the ZigBee HAN
    assert isinstance(reading, wan.EsmeInstantaneous)
    assert pair.now > start  # the reply came later, on the installation's own deadlines
    pair.reply_timeout_us = 1
    with pytest.raises(TransportError, match="no response"):
        pair.run(cmds.read_instantaneous(p.esme.eui))
    pair.reply_timeout_us = 60 * SECOND
    pair.advance(pair.now + 10 * SECOND)  # the late reply surfaces and is dropped
    assert not pair.chf.outgoing
    assert isinstance(pair.run(cmds.read_payment_mode(p.esme.eui)), wan.PaymentState)
    with pytest.raises(LocalProtocolError, match="time runs forward"):
        pair.advance(start)


# ---- the value classes: what the frozen dataclasses they replaced gave ----------------------


def test_replies_and_commands_are_values_as_their_dataclasses_were() -> None:
    from dataclasses import dataclass

    from emulator.core.headend import Command

    @dataclass(frozen=True)
    class StockReply:
        txn: int
        header: wan.Header
        body: object

    header = wan.Header(1, 0x81, 5, bytes(8), 16, 1, 22)
    body = wan.TimeValue(utc=5)
    reply, stock = Reply(5, header, body), StockReply(5, header, body)
    assert repr(reply) == repr(stock).split("<locals>.")[1].replace("StockReply", "Reply")
    assert reply == Reply(5, header, wan.TimeValue(utc=5)) and hash(reply) == hash(
        Reply(5, header, wan.TimeValue(utc=5)))
    assert reply != Reply(6, header, body) and reply != stock
    error = BadMac("no")
    failed = ReplyFailed(5, error)
    assert failed == ReplyFailed(5, error) and failed != ReplyFailed(5, BadMac("no"))
    assert repr(failed) == f"ReplyFailed(txn=5, error={error!r})"
    read = cmds.read_instantaneous(EUI)
    assert read.trace is not None and cmds.read_inventory().trace is None
    same = Command(read.msg_type, read.target, read.body, read.result, read.trace)
    assert same == read and hash(same) == hash(read) and read != cmds.read_inventory()
    assert repr(read).startswith(
        f"Command(msg_type={MessageType.READ_INSTANTANEOUS!r}, target={EUI!r}, body=None, ")
