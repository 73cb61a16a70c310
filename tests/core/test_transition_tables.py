"""The three transition tables (CHF security lifecycle, emergency credit, supply), each checked
over every state x event against a reference model written from the rules in prose, over
sequences of events, and (security) against the CHF answering real WAN frames."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.core.chf import (
    HANDLERS,
    LIFECYCLE,
    Chf,
    OperationalKeys,
    SecurityEvent,
    SecurityPhase,
    Sim,
)
from emulator.core.chf.commands import check_complete
from emulator.core.chf.security import HOLDS_ROLLBACK_POINT
from emulator.core.meter_states import (
    EMERGENCY_CREDIT,
    SUPPLY,
    EmergencyCredit,
    EmergencyCreditEvent,
    SupplyEvent,
)
from emulator.core.trace_sink import Recorder
from emulator.core.transitions import TransitionTable
from emulator.errors import DeclarationError, IllegalTransition
from emulator.pki import mint_ca
from emulator.wire import wan
from emulator.wire.eui import eui_from_str
from emulator.wire.vocabulary import ErrorCode, MessageType, Role, SupplyState

P, E = SecurityPhase, SecurityEvent
_MIGRATING = {P.KEYS_ROTATED, P.ANCHOR_SWAPPED, P.SIM_MOVED, P.MIGRATED}


def security_ref(state: SecurityPhase, event: SecurityEvent) -> SecurityPhase | None:
    """The lifecycle in rules: a rollback needs a rollback point, which a rotation takes;
    swap and SIM move only advance the phase while migrating."""
    migrating = state in _MIGRATING
    if event is E.ROLLBACK:
        return P.ROLLED_BACK if migrating else None
    if event is E.ROTATE:
        return state if migrating else P.KEYS_ROTATED
    if not migrating:
        return state
    anchor = state in (P.ANCHOR_SWAPPED, P.MIGRATED) or event is E.SWAP
    sim = state in (P.SIM_MOVED, P.MIGRATED) or event is E.MOVE_SIM
    if anchor and sim:
        return P.MIGRATED
    return P.ANCHOR_SWAPPED if anchor else P.SIM_MOVED


C, CE = EmergencyCredit, EmergencyCreditEvent


def credit_ref(state: EmergencyCredit, event: EmergencyCreditEvent) -> EmergencyCredit | None:
    """Offered when there is none; selected when offered; used up when in use; any offered,
    in-use or exhausted emergency credit is cleared by a top-up."""
    if event is CE.OFFERED:
        return C.AVAILABLE if state is C.NONE else None
    if event is CE.SELECTED:
        return C.IN_USE if state is C.AVAILABLE else None
    if event is CE.USED_UP:
        return C.EXHAUSTED if state is C.IN_USE else None
    return C.NONE if state is not C.NONE else None


S, SE = SupplyState, SupplyEvent


def supply_ref(state: SupplyState, event: SupplyEvent) -> SupplyState | None:
    """Remote enable/disable from anywhere; remote arm arms only a disabled supply (no-op
    otherwise); credit cuts an enabled supply, credit restored arms a disabled one; the button
    enables an armed one; credit mode re-enables a cut (disabled or armed) one."""
    match event:
        case SE.REMOTE_ENABLE:
            return S.ENABLED
        case SE.REMOTE_DISABLE:
            return S.DISABLED
        case SE.REMOTE_ARM:
            return S.ARMED if state is S.DISABLED else state
        case SE.CREDIT_CUT:
            return S.DISABLED if state is S.ENABLED else None
        case SE.CREDIT_RESTORED:
            return S.ARMED if state is S.DISABLED else None
        case SE.CONSUMER_ENABLE:
            return S.ENABLED if state is S.ARMED else None
        case SE.CREDIT_MODE:
            return S.ENABLED if state is not S.ENABLED else None
    raise AssertionError(event)


TABLES: list[tuple[TransitionTable[Any, Any], Any, type[Enum], type[Enum], Enum]] = [
    (LIFECYCLE, security_ref, SecurityPhase, SecurityEvent, P.SMSO_OWNED),
    (EMERGENCY_CREDIT, credit_ref, EmergencyCredit, EmergencyCreditEvent, C.NONE),
    (SUPPLY, supply_ref, SupplyState, SupplyEvent, S.ENABLED),
]
IDS = ["security", "emergency-credit", "supply"]


@pytest.mark.parametrize(("table", "ref", "states", "events", "initial"), TABLES, ids=IDS)
@given(data=st.data())
def test_every_state_x_event_follows_the_reference(
        table: TransitionTable[Any, Any], ref: Any, states: type[Enum], events: type[Enum],
        initial: Enum, data: st.DataObject) -> None:
    state = data.draw(st.sampled_from(list(states)))
    event = data.draw(st.sampled_from(list(events)))
    expected = ref(state, event)
    assert table.allows(state, event) is (expected is not None)
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            table.next(state, event)
        assert (err.value.table, err.value.state, err.value.event) == (table.name, state, event)
    else:
        assert table.next(state, event) is expected


@pytest.mark.parametrize(("table", "ref", "states", "events", "initial"), TABLES, ids=IDS)
def test_every_pair_is_covered(
        table: TransitionTable[Any, Any], ref: Any, states: type[Enum], events: type[Enum],
        initial: Enum) -> None:
    """Exhaustive as well as sampled: the allowed pairs are exactly the reference's."""
    allowed = {(s, e): n for s, e, n in table.transitions()}
    assert allowed == {(s, e): ref(s, e) for s in states for e in events
                       if ref(s, e) is not None}


@pytest.mark.parametrize(("table", "ref", "states", "events", "initial"), TABLES, ids=IDS)
@given(data=st.data())
def test_event_sequences_track_the_reference(
        table: TransitionTable[Any, Any], ref: Any, states: type[Enum], events: type[Enum],
        initial: Enum, data: st.DataObject) -> None:
    sequence = data.draw(st.lists(st.sampled_from(list(events)), max_size=30))
    state = model = initial
    for event in sequence:
        expected = ref(model, event)
        try:
            state = table.next(state, event)
        except IllegalTransition:
            assert expected is None  # refused: the state stays where it was
        else:
            assert expected is not None
            model = expected
        assert state is model


def test_a_table_missing_a_row_is_refused() -> None:
    with pytest.raises(DeclarationError):
        TransitionTable("partial", SupplyState, SupplyEvent, {S.ENABLED: {}})


def test_every_wan_message_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(wan.MESSAGES)
    partial = {k: v for k, v in HANDLERS.items() if k is not MessageType.MOVE_SIM}
    with pytest.raises(DeclarationError, match="MOVE_SIM"):
        check_complete(partial, wan.MESSAGES)


# ---- the CHF answering WAN frames follows the lifecycle -------------------------------------

EUI = "00-1B-C5-0C-00-00-00-01"
MASTER = bytes(range(32, 48))
T0 = 1_767_571_200_000_000
S1SP_CA_DER = mint_ca("s1lab S1SP CA", "test", T0, 30, 1).cert.public_bytes(Encoding.DER)


class _Head:
    """A minimal head-end: seals frames, tracks the owner's keys, reads replies."""

    def __init__(self) -> None:
        self.keys = OperationalKeys(1, bytes(range(16)), bytes(range(16, 32)))
        self.owner = Role.SMSO
        self.counter = 0
        self.chf = Chf(EUI, "1.0", Sim("8944", "234", "apn", "sp"), {Role.SMSO: self.keys},
                       Recorder(), T0, master_key=MASTER, anchor=(Role.SMSO, b"der"))

    def send(self, msg: MessageType, body: object | None, *, master: bool) -> object:
        self.counter += 1
        header = wan.Header(1, int(msg), self.counter, eui_from_str(EUI),
                            int(self.owner), wan.MASTER_KEY_ID if master else self.keys.key_id,
                            self.counter)
        key = MASTER if master else self.keys.command_key
        reply = self.chf.handle_frame(wan.seal(header, wan.encode_request(msg, body), key),
                                      T0 + self.counter, self.owner)
        assert reply is not None
        frame = wan.parse_frame(reply)
        return wan.decode_response(frame.header.msg_type, frame.payload)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.sampled_from(["rotate", "swap", "sim", "rollback"]), max_size=12),
       failing=st.sets(st.sampled_from(["rotate", "swap", "sim", "rollback"])))
def test_the_chf_refuses_a_rollback_exactly_without_a_rollback_point(
        steps: list[str], failing: set[str]) -> None:
    head = _Head()
    for step in failing:
        head.chf.faults.fail_step(step)
    point = False  # the reference: a rotation not failed by a fault, since the last rollback
    for i, step in enumerate(steps):
        if step == "rotate":
            new = OperationalKeys(2 + i % 200, bytes([i] * 16), bytes([i + 1] * 16))
            owner = Role.S1SP if head.owner is Role.SMSO else Role.SMSO
            wrapped = aes_key_wrap(MASTER, new.command_key + new.response_key)
            answer = head.send(MessageType.ROTATE_KEYS,
                               wan.RotateKeys(owner, new.key_id, wrapped), master=True)
            if step not in failing:
                point = True
                head.keys, head.owner = new, owner
        elif step == "swap":
            answer = head.send(MessageType.SWAP_CERTIFICATE,
                               wan.SwapCertificate(Role.S1SP, S1SP_CA_DER), master=True)
        elif step == "sim":
            answer = head.send(MessageType.MOVE_SIM, wan.MoveSim(f"apn{i}", "sp"), master=False)
        else:
            before = head.chf.previous
            answer = head.send(MessageType.ROLLBACK, wan.Rollback("", ""), master=True)
            if not point:
                assert isinstance(answer, wan.ErrorPayload)
                assert answer.error_code is ErrorCode.INVALID_ARGUMENT
                continue
            if step not in failing:
                assert before is not None
                point = False
                head.owner, head.keys = before.owner, before.keys
        if step in failing:
            assert isinstance(answer, wan.ErrorPayload)
            assert answer.error_code is ErrorCode.OPERATION_FAILED
        else:
            assert isinstance(answer, wan.SecurityState)
            assert answer.can_roll_back is point
        assert (head.chf.phase in HOLDS_ROLLBACK_POINT) is point is (head.chf.previous is not None)


# ---- the new trust anchor is checked before it is committed (issue 8, item 12) --------------

def _self_signed_ca(key: Any, ca: bool = True) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd CA")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


def _bad_anchors() -> dict[str, bytes]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from emulator.pki import mint_leaf

    ca = mint_ca("s1lab S1SP CA", "test", T0, 30, 1)
    leaf = mint_leaf(ca, "s1sp-headend.s1lab.test", "test", "client", T0, 30, 1)
    return {
        "garbage": b"\x30\x03\x02\x01\x00",
        "end-entity": leaf.cert.public_bytes(Encoding.DER),
        "rsa": _self_signed_ca(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "p384": _self_signed_ca(ec.generate_private_key(ec.SECP384R1())),
        "p256 but CA:FALSE": _self_signed_ca(ec.generate_private_key(ec.SECP256R1()), ca=False),
    }


@pytest.mark.parametrize("kind", list(_bad_anchors()))
def test_a_swap_to_an_unusable_anchor_is_refused_and_changes_nothing(kind: str) -> None:
    head = _Head()
    before = (head.chf.anchor, head.chf.anchor_der, head.chf.phase)
    answer = head.send(MessageType.SWAP_CERTIFICATE,
                       wan.SwapCertificate(Role.S1SP, _bad_anchors()[kind]), master=True)
    assert isinstance(answer, wan.ErrorPayload)
    assert answer.error_code is ErrorCode.INVALID_ARGUMENT and "anchor refused" in answer.detail
    assert (head.chf.anchor, head.chf.anchor_der, head.chf.phase) == before


def test_a_good_anchor_is_committed_and_reported() -> None:
    head = _Head()
    answer = head.send(MessageType.SWAP_CERTIFICATE,
                       wan.SwapCertificate(Role.S1SP, S1SP_CA_DER), master=True)
    assert isinstance(answer, wan.SecurityState) and answer.anchor is Role.S1SP
    assert head.chf.anchor_der == S1SP_CA_DER
