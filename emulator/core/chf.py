"""The Communications Hub Function (CHF), sans-IO.

The CHF terminates the WAN application protocol: it checks every frame in a fixed order (record,
header, version, role, key id, MAC, counter, target device, command: docs/wan-protocol.md),
answers with a sealed response or an ERROR frame, traces every rejection, and keeps serving.
Behind it sits the HAN: in this module a direct link to the meter cores (``HanDirectory``); the
ZigBee HAN replaces the direct calls with frames later without changing the WAN side.

State kept small on purpose (a fleet holds thousands): SIM/APN, device log, last WAN contact,
per-role operational keys and counters, the GSME mirror, a bounded event log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from emulator.core.han_crypto import InstallCodeError, install_code_link_key
from emulator.core.rng import SplitMix64
from emulator.core.timebase import SECOND, from_zigbee_utc, zigbee_utc
from emulator.core.trace_sink import Emit
from emulator.errors import BadMac, MalformedFrame
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import (
    RESPONSE_BIT,
    DeviceLogAction,
    DeviceLogState,
    DeviceLogStatus,
    DeviceType,
    ErrorCode,
    EventCode,
    MessageType,
    Role,
    SupplyAction,
    TopUpStatus,
)

EVENT_LOG_SIZE = 100
MAX_LOG_ENTRIES_PER_FRAME = 200  # docs/wan-protocol.md: READ_EVENT_LOG


@dataclass(frozen=True, slots=True)
class OperationalKeys:
    """One head-end role's keys on this CHF: it MACs requests with ``command_key``, the CHF
    MACs its responses to that role with ``response_key``."""

    key_id: int
    command_key: bytes
    response_key: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The CHF's security configuration as one value: a step replaces it whole (atomic: a CHF
    restarted mid-step holds the old or the new one, never a mixture)."""

    owner: Role
    keys: OperationalKeys
    anchor: Role
    anchor_der: bytes
    apn: str
    service_profile: str


#: Master-Key frames keep their counters under this pseudo-role.
_MASTER_SLOT = Role.CHF
_MASTER_COMMANDS = frozenset({MessageType.ROTATE_KEYS, MessageType.ROLLBACK,
                              MessageType.SWAP_CERTIFICATE, MessageType.READ_SECURITY_STATE})


@dataclass(slots=True)
class Sim:
    iccid: str
    imsi: str
    apn: str
    service_profile: str


class Meter(Protocol):
    """What the CHF needs of an ESME or GSME core over the direct HAN link."""

    eui: str
    firmware_version: str

    def payment(self, now: int) -> object: ...
    def set_payment_mode(self, mode: object, now: int) -> object: ...
    def top_up(self, utrn: str, now: int) -> object: ...
    def set_supply(self, action: SupplyAction, now: int) -> object: ...
    def meter_time(self, now: int) -> int: ...
    def set_time(self, utc_us: int, now: int) -> tuple[int, int]: ...
    def event_log(self) -> list[object]: ...


Complete = Callable[[object, int], None]  # (response body, now)
Fail = Callable[[ErrorCode, str, int], None]  # (error code, detail, now)


class Deferred:
    """A handler's answer that is not ready yet (it waits on the HAN): ``start`` is called with
    the two continuations, one of which runs later."""

    __slots__ = ("start",)

    def __init__(self, start: Callable[[Complete, Fail], None]) -> None:
        self.start = start


class HanPort(Protocol):
    """What the CHF asks of the ZigBee HAN (``emulator.core.se_app.SmartEnergyApp``)."""

    def read_esme(self, now: int, done: Callable[[object, int], None],
                  failed: Callable[[str, int], None]) -> None: ...

    def gsme_command(self, payload: bytes, command_id: int, now: int,
                     done: Callable[[bytes, int], None],
                     failed: Callable[[str, int], None]) -> None: ...

    def forget_device(self, eui: str) -> None: ...


class _Restarted:
    """A handler's answer when a fault restarted the CHF mid-step: no reply is sent."""


class _Reject(Exception):
    """Internal: abort handling of one frame with an ERROR response."""

    def __init__(self, code: ErrorCode, detail: str, role_keys: OperationalKeys | None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.role_keys = role_keys


@dataclass(slots=True)
class LogEntry:
    device_type: DeviceType
    state: DeviceLogState
    last_heard: int | None  # µs, run clock
    link_key: bytes | None = None  # from the install code (whitelisted, not yet joined)
    join_until: int | None = None  # end of the join window
    mpxn: str = ""


class Chf:
    """The CHF core. Feed it WAN frames with :meth:`handle_frame`; it returns the reply."""

    __slots__ = (
        "_clock_offset",
        "_counters_in",
        "_counters_out",
        "_emit",
        "_events",
        "_keys",
        "devices",
        "eui",
        "eui_bytes",
        "firmware_version",
        "gsme_mirror",
        "anchor",
        "anchor_der",
        "drop_sessions",
        "faults",
        "han",
        "last_wan_contact",
        "master_key",
        "previous",
        "reconnect_delay_us",
        "wan_down_until",
        "log",
        "outgoing",
        "sim",
    )

    def __init__(
        self,
        eui: str,
        firmware_version: str,
        sim: Sim,
        keys: dict[Role, OperationalKeys],
        emit: Emit,
        now: int,
        *,
        master_key: bytes | None = None,
        anchor: tuple[Role, bytes] = (Role.SMSO, b""),
        reconnect_delay_us: int = 600 * SECOND,
        fault_seed: int = 0,
    ) -> None:
        self.eui = eui
        self.eui_bytes = eui_from_str(eui)
        self.firmware_version = firmware_version
        self.sim = sim
        self._keys = dict(keys)
        self._counters_in: dict[Role, int] = {}
        self._counters_out: dict[Role, int] = {}
        self._emit = emit
        self._events: list[tuple[int, int, int]] = []
        self._clock_offset = 0
        self.last_wan_contact: int | None = None
        self.log: dict[str, LogEntry] = {}
        self.devices: dict[str, object] = {}  # the direct HAN link: EUI -> device core
        self.gsme_mirror: tuple[object, int] | None = None  # (GsmeReading, received at)
        self.han: HanPort | None = None  # None: the direct link of the cores
        self.outgoing: list[tuple[int, bytes]] = []  # deferred replies: (session, frame)
        self.master_key = master_key  # None: the device has none (a Master Key Error)
        self.anchor, self.anchor_der = anchor  # the head-end CA this CHF trusts now
        self.previous: Snapshot | None = None  # what ROLLBACK reinstates
        self.reconnect_delay_us = reconnect_delay_us
        self.wan_down_until: int | None = None  # after a SIM move, until it reattaches
        self.drop_sessions = False  # set when the driver must close every WAN session
        #: Device faults set by profile or scenario: {"fail": {"rotate", "swap", "sim"},
        #: "restart": {"rotate", ...}} and the seeded RNG that decides a restart's outcome.
        self.faults: dict[str, object] = {"fail": set(), "restart": set(),
                                          "rng": SplitMix64.derive(fault_seed, eui, "faults")}
        self._log_event(now, EventCode.POWER_ON, 0)

    # ---- HAN side ---------------------------------------------------------------------------

    def attach_device(self, eui: str, device_type: DeviceType, core: object, now: int) -> None:
        """Whitelist and join a device on the direct HAN link (installation time)."""
        self.log[eui] = LogEntry(device_type, DeviceLogState.JOINED, now)
        self.devices[eui] = core
        self._emit(now, self.eui, "HanDeviceJoined", {"eui": eui, "type": device_type.name})
        self._log_event(now, EventCode.HAN_DEVICE_JOINED, int(device_type))

    def admit(self, eui: str, now: int) -> bytes | None:
        """Trust Centre decision for a joining device: its link key if it is whitelisted and
        its join window is open, else None."""
        entry = self.log.get(eui)
        if (entry is None or entry.state is not DeviceLogState.WHITELISTED
                or entry.link_key is None or entry.join_until is None or now >= entry.join_until):
            return None
        return entry.link_key

    def joined(self, eui: str, now: int) -> None:
        entry = self.log.get(eui)
        if entry is not None:
            entry.state = DeviceLogState.JOINED
            entry.last_heard = now
            self._emit(now, self.eui, "HanDeviceJoined",
                       {"eui": eui, "type": entry.device_type.name})
            self._log_event(now, EventCode.HAN_DEVICE_JOINED, int(entry.device_type))

    def heard(self, eui: str, now: int) -> None:
        entry = self.log.get(eui)
        if entry is not None:
            entry.last_heard = now

    def mirror_report(self, eui: str, reading: object, now: int) -> None:
        """A GSME woke and reported into its mirror on the CHF."""
        self.gsme_mirror = (reading, now)
        self.heard(eui, now)

    @property
    def roles(self) -> list[Role]:
        return sorted(self._keys)

    def keys_for(self, role: Role) -> OperationalKeys | None:
        return self._keys.get(role)

    def clock(self, now: int) -> int:
        return now + self._clock_offset

    # ---- WAN side ---------------------------------------------------------------------------

    def handle_frame(
        self, data: bytes, now: int, tls_role: Role | None, session: int = 0
    ) -> bytes | None:
        """One WAN frame in (from a TLS peer authenticated as ``tls_role``), one frame out.

        None when the answer waits on the HAN: it appears later in :attr:`outgoing`, tagged
        with ``session``, for the driver to send (see :meth:`take_outgoing`)."""
        txn = 0
        msg_type = 0
        target = self.eui_bytes
        try:
            try:
                frame = wan.parse_frame(data)
            except MalformedFrame as exc:
                raise _Reject(ErrorCode.MALFORMED, str(exc), None) from None
            h = frame.header
            txn, msg_type, target = h.txn_id, h.msg_type, h.target
            if h.version != wan.FRAME_VERSION:
                raise _Reject(
                    ErrorCode.UNSUPPORTED_VERSION, f"protocol version {h.version}", None
                )
            master = h.key_id == wan.MASTER_KEY_ID
            if master:
                # Authorised by the CHF's Master Key (key rotation, certificate swap, rollback),
                # on a TLS session from any head-end the CHF trusts.
                if tls_role is None:
                    raise _Reject(ErrorCode.UNKNOWN_ROLE, "no authenticated TLS peer", None)
                if self.master_key is None:
                    raise _Reject(ErrorCode.UNKNOWN_KEY, "this CHF holds no Master Key", None)
                keys = OperationalKeys(wan.MASTER_KEY_ID, self.master_key, self.master_key)
                slot: Role = _MASTER_SLOT
            else:
                try:
                    role = Role(h.role)
                except ValueError:
                    raise _Reject(ErrorCode.UNKNOWN_ROLE, f"role 0x{h.role:02X}", None) from None
                found = self._keys.get(role)
                if found is None or role != tls_role:
                    why = "no keys for role" if found is None else "role differs from TLS identity"
                    raise _Reject(ErrorCode.UNKNOWN_ROLE, f"{role.name}: {why}", None)
                keys = found
                slot = role
                if h.key_id != keys.key_id:
                    raise _Reject(
                        ErrorCode.UNKNOWN_KEY, f"key id {h.key_id}, current {keys.key_id}", keys
                    )
            try:
                wan.verify_mac(frame, keys.command_key)
            except BadMac:
                # A wrong Master Key cannot read an error sealed under the right one: say it
                # unauthenticated.
                raise _Reject(ErrorCode.BAD_MAC, "MAC does not verify",
                              None if master else keys) from None
            last = self._counters_in.get(slot, -1)
            if h.counter <= last:
                raise _Reject(
                    ErrorCode.REPLAYED_COUNTER, f"counter {h.counter} <= last {last}", keys
                )
            self._counters_in[slot] = h.counter
            self.last_wan_contact = now
            try:
                mt_known = MessageType(h.msg_type)
            except ValueError:
                mt_known = None
            if master and mt_known not in _MASTER_COMMANDS:
                raise _Reject(ErrorCode.UNSUPPORTED_COMMAND,
                              "only key, certificate and rollback commands use the Master Key",
                              keys)
            if not master and mt_known in _MASTER_COMMANDS - {MessageType.READ_SECURITY_STATE}:
                raise _Reject(ErrorCode.UNKNOWN_KEY, f"{mt_known.name} needs the Master Key",
                              keys)
            body = self._dispatch(h, frame.payload, keys, now)
            if isinstance(body, Deferred):
                self._defer(body, session, slot, keys, msg_type, txn, target)
                return None
            if isinstance(body, _Restarted):
                return None  # the CHF restarted mid-step: no reply, sessions dropped
            return self._seal(slot, keys, msg_type | RESPONSE_BIT, txn, target, body)
        except _Reject as rej:
            return self._reject(rej, txn, msg_type, target, tls_role, now)

    def _defer(self, deferred: Deferred, session: int, role: Role, keys: OperationalKeys,
               msg_type: int, txn: int, target: bytes) -> None:
        mt = MessageType(msg_type)

        def complete(result: object, at: int) -> None:
            body = result if isinstance(result, bytes) else wan.encode_response(mt, result)
            self.outgoing.append(
                (session, self._seal(role, keys, msg_type | RESPONSE_BIT, txn, target, body)))

        def fail(code: ErrorCode, detail: str, at: int) -> None:
            self.outgoing.append((session, self._reject(_Reject(code, detail, keys), txn,
                                                        msg_type, target, role, at)))

        deferred.start(complete, fail)

    def take_outgoing(self) -> list[tuple[int, bytes]]:
        out, self.outgoing = self.outgoing, []
        return out

    def _reject(
        self,
        rej: _Reject,
        txn: int,
        msg_type: int,
        target: bytes,
        tls_role: Role | None,
        now: int,
    ) -> bytes:
        self._emit(
            now,
            self.eui,
            "WanFrameRejected",
            {"error": rej.code.name, "detail": rej.detail, "msg_type": msg_type, "txn": txn},
        )
        self._log_event(now, EventCode.WAN_FRAME_REJECTED, int(rej.code))
        body = wan.encode_response(
            MessageType.ERROR,
            wan.ErrorPayload(error_code=rej.code, request_msg_type=msg_type & 0x7F,
                             detail=rej.detail),
        )
        if rej.role_keys is not None and tls_role is not None:
            slot = (_MASTER_SLOT if rej.role_keys.key_id == wan.MASTER_KEY_ID else tls_role)
            return self._seal(slot, rej.role_keys, MessageType.ERROR, txn, target, body)
        header = wan.Header(
            version=wan.FRAME_VERSION, msg_type=MessageType.ERROR, txn_id=txn,
            target=target if len(target) == 8 else self.eui_bytes, role=Role.CHF, key_id=0,
            counter=0,
        )
        return wan.seal(header, body, None)

    def _seal(
        self, role: Role, keys: OperationalKeys, msg_type: int, txn: int, target: bytes,
        body: bytes,
    ) -> bytes:
        counter = self._counters_out.get(role, 0) + 1
        self._counters_out[role] = counter
        header = wan.Header(
            version=wan.FRAME_VERSION, msg_type=msg_type, txn_id=txn, target=target,
            role=Role.CHF, key_id=keys.key_id, counter=counter,
        )
        return wan.seal(header, body, keys.response_key)

    # ---- commands -----------------------------------------------------------------------------

    def _dispatch(
        self, h: wan.Header, payload: bytes, keys: OperationalKeys, now: int
    ) -> bytes | Deferred | _Restarted:
        try:
            mt = MessageType(h.msg_type)
        except ValueError:
            raise _Reject(
                ErrorCode.UNSUPPORTED_COMMAND, f"message type 0x{h.msg_type:02X}", keys
            ) from None
        if mt is MessageType.ERROR:
            raise _Reject(ErrorCode.UNSUPPORTED_COMMAND, "ERROR is not a request", keys)
        target = eui_to_str(h.target)
        if target == self.eui:
            device_type = DeviceType.CHF
            core: object = self
        else:
            entry = self.log.get(target)
            if entry is None or entry.state is not DeviceLogState.JOINED:
                raise _Reject(ErrorCode.UNKNOWN_DEVICE, f"{target} is not on this HAN", keys)
            device_type = entry.device_type
            core = self.devices[target]
        try:
            request = wan.decode_request(mt, payload)
        except MalformedFrame as exc:
            raise _Reject(ErrorCode.MALFORMED, str(exc), keys) from None
        handler = _HANDLERS.get(mt)
        if handler is None:
            raise _Reject(ErrorCode.UNSUPPORTED_COMMAND, mt.name, keys)
        result: object
        if device_type is DeviceType.GSME and self.han is not None and mt in _QUEUED_FOR_GSME:
            result = self._queue_for_gsme(mt, payload, now)
        else:
            result = handler(self, device_type, core, request, now, keys)
        self._emit(now, self.eui, "WanRequestServed",
                   {"msg": mt.name, "target": target, "txn": h.txn_id})
        if isinstance(result, Deferred | _Restarted):
            return result
        if device_type is not DeviceType.CHF and self.han is None:
            self.heard(target, now)  # the direct link: the CHF just talked to the device
        return wan.encode_response(mt, result)

    # ---- security lifecycle (migration) -----------------------------------------------------

    def snapshot(self) -> Snapshot:
        (owner, keys), = self._keys.items()
        return Snapshot(owner, keys, self.anchor, self.anchor_der, self.sim.apn,
                        self.sim.service_profile)

    def _commit(self, new: Snapshot, now: int, step: str) -> None:
        """Install ``new`` in one assignment per field group; traced."""
        # Counters are kept across owners: after a rollback the SMSO's old frames stay replays.
        self._keys = {new.owner: new.keys}
        self.anchor, self.anchor_der = new.anchor, new.anchor_der
        self.sim.apn, self.sim.service_profile = new.apn, new.service_profile
        self._emit(now, self.eui, "SecurityStepCommitted", {
            "step": step, "owner": new.owner.name, "key_id": new.keys.key_id,
            "anchor": new.anchor.name, "apn": new.apn})

    def security_state(self) -> wan.SecurityState:
        snap = self.snapshot()
        return wan.SecurityState(
            owner=snap.owner, key_id=snap.keys.key_id, anchor=snap.anchor, apn=snap.apn,
            service_profile=snap.service_profile,
            previous_apn=self.previous.apn if self.previous is not None else "",
            can_roll_back=self.previous is not None)

    def _step(
        self, step: str, new: Snapshot, now: int, keys: OperationalKeys | None = None
    ) -> wan.SecurityState | _Restarted:
        """Run one migration step under the configured faults."""
        fail = self.faults["fail"]
        restart = self.faults["restart"]
        assert isinstance(fail, set) and isinstance(restart, set)
        if step in fail:
            self._emit(now, self.eui, "SecurityStepFailed", {"step": step})
            raise _Reject(ErrorCode.OPERATION_FAILED, f"{step} failed on the device", keys)
        if step in restart:
            restart.discard(step)
            rng = self.faults["rng"]
            assert isinstance(rng, SplitMix64)
            committed = rng.random() < 0.5
            if committed:
                self._commit(new, now, step)
            self.drop_sessions = True
            self._emit(now, self.eui, "ChfRestarted", {"during": step, "committed": committed})
            return _Restarted()
        self._commit(new, now, step)
        return self.security_state()

    def _queue_for_gsme(self, mt: MessageType, payload: bytes, now: int) -> Deferred:
        """Commands for the sleepy GSME wait at the CHF until it polls (behaviour 20)."""
        han = self.han
        assert han is not None

        def start(complete: Complete, fail: Fail) -> None:
            def done(reply: bytes, at: int) -> None:
                if reply[:1] == b"\x00":
                    complete(reply[1:], at)
                else:
                    fail(ErrorCode(reply[1]), reply[2:].decode("utf-8", "replace"), at)

            han.gsme_command(payload, int(mt), now, done,
                             lambda why, at: fail(ErrorCode.DEVICE_UNREACHABLE, why, at))

        return Deferred(start)

    def apply_at_gsme(self, msg_type: int, payload: bytes, now: int) -> bytes:
        """What the GSME does with a command it collected: status byte, then the reply body
        (0x00) or the error code and detail."""
        gsme = next((d for eui, d in self.devices.items()
                     if self.log[eui].device_type is DeviceType.GSME), None)
        keys = OperationalKeys(0, b"", b"")
        try:
            mt = MessageType(msg_type)
            handler = _HANDLERS[mt]
            request = wan.decode_request(mt, payload)
            body = handler(self, DeviceType.GSME, gsme, request, now, keys)
            return b"\x00" + wan.encode_response(mt, body)
        except _Reject as rej:
            return bytes([1, int(rej.code)]) + rej.detail.encode()[:200]
        except (ValueError, KeyError, MalformedFrame) as exc:
            return bytes([1, int(ErrorCode.MALFORMED)]) + str(exc).encode()[:200]

    def _log_event(self, now: int, code: EventCode, value: int) -> None:
        events = self._events
        events.append((now, int(code), value))
        if len(events) > EVENT_LOG_SIZE:
            del events[: len(events) - EVENT_LOG_SIZE]

    def event_log(self) -> list[tuple[int, int, int]]:
        return list(self._events)


# Each handler returns the response body object for wan.encode_response.


def _not_for(device_type: DeviceType, what: str, keys: OperationalKeys) -> _Reject:
    return _Reject(ErrorCode.INVALID_ARGUMENT, f"{what} is not supported by a {device_type.name}",
                   keys)


def _meter(device_type: DeviceType, core: object, what: str, keys: OperationalKeys) -> Meter:
    if device_type not in (DeviceType.ESME, DeviceType.GSME):
        raise _not_for(device_type, what, keys)
    return core  # type: ignore[return-value]


def _read_instantaneous(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is DeviceType.ESME and chf.han is not None:
        han = chf.han

        def start(complete: Complete, fail: Fail) -> None:
            han.read_esme(now, lambda r, at: complete(_esme_body(r), at),
                          lambda why, at: fail(ErrorCode.DEVICE_UNREACHABLE, why, at))

        return Deferred(start)
    if device_type is DeviceType.ESME:
        return _esme_body(core.registers(now))  # type: ignore[attr-defined]
    if device_type is DeviceType.GSME:
        # A sleepy GSME is read from its mirror on the CHF, with the age of the data.
        if chf.gsme_mirror is None:
            raise _Reject(ErrorCode.DEVICE_UNREACHABLE, "no data from the GSME yet", keys)
        g, at = chf.gsme_mirror
        return wan.GsmeInstantaneous(
            meter_time=zigbee_utc(g.meter_time_us),  # type: ignore[attr-defined]
            volume_dm3=g.volume_dm3,  # type: ignore[attr-defined]
            flow_dm3_per_h=g.flow_dm3_per_h,  # type: ignore[attr-defined]
            payment_mode=g.payment_mode,  # type: ignore[attr-defined]
            balance_pence=g.balance_pence,  # type: ignore[attr-defined]
            supply_state=g.supply_state,  # type: ignore[attr-defined]
            data_age_s=(now - at) // SECOND,
        )
    raise _not_for(device_type, "READ_INSTANTANEOUS", keys)


def _esme_body(r: object) -> wan.EsmeInstantaneous:
    return wan.EsmeInstantaneous(
        meter_time=zigbee_utc(r.meter_time_us), import_wh=r.import_wh,  # type: ignore[attr-defined]
        tou_wh=tuple(r.tou_wh), demand_w=r.demand_w,  # type: ignore[attr-defined]
        payment_mode=r.payment_mode, balance_pence=r.balance_pence,  # type: ignore[attr-defined]
        emergency_credit_limit_pence=r.ec_limit_pence,  # type: ignore[attr-defined]
        emergency_credit_available_pence=r.ec_available_pence,  # type: ignore[attr-defined]
        emergency_credit_in_use=r.ec_in_use, supply_state=r.supply_state,  # type: ignore[attr-defined]
    )


def _read_inventory(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "READ_INVENTORY", keys)
    return wan.Inventory(
        apn=chf.sim.apn, service_profile=chf.sim.service_profile, iccid=chf.sim.iccid,
        last_wan_contact=_zutc(chf.last_wan_contact),
        entries=tuple(
            wan.InventoryEntry(eui=eui_from_str(eui), device_type=e.device_type, state=e.state,
                               last_heard=_zutc(e.last_heard))
            for eui, e in chf.log.items()
        ),
    )


def _zutc(at: int | None) -> int:
    return 0 if at is None else zigbee_utc(at)


def _read_firmware(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "READ_FIRMWARE_VERSIONS", keys)
    entries = [wan.FirmwareEntry(eui=chf.eui_bytes, device_type=DeviceType.CHF,
                                 version=chf.firmware_version)]
    for eui, e in chf.log.items():
        dev = chf.devices.get(eui)
        if dev is not None:
            entries.append(wan.FirmwareEntry(eui=eui_from_str(eui), device_type=e.device_type,
                                             version=dev.firmware_version))  # type: ignore[attr-defined]
    return wan.FirmwareVersions(entries=tuple(entries))


def _read_event_log(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.EventLogRequest)
    if device_type is DeviceType.CHF:
        raw = [(t, c, v) for t, c, v in chf.event_log()]
    elif device_type in (DeviceType.ESME, DeviceType.GSME):
        raw = [(e.time_us, e.code, e.value) for e in core.event_log()]  # type: ignore[attr-defined]
    else:
        raise _not_for(device_type, "READ_EVENT_LOG", keys)
    limit = min(request.max_entries or MAX_LOG_ENTRIES_PER_FRAME, MAX_LOG_ENTRIES_PER_FRAME)
    raw = raw[-limit:]  # the newest entries that fit one frame
    return wan.EventLog(entries=tuple(
        wan.EventLogEntry(time=zigbee_utc(t), code=c, value=v) for t, c, v in raw))


def _payment_body(p: object) -> wan.PaymentState:
    return wan.PaymentState(
        payment_mode=p.payment_mode, balance_pence=p.balance_pence,  # type: ignore[attr-defined]
        emergency_credit_limit_pence=p.ec_limit_pence,  # type: ignore[attr-defined]
        emergency_credit_available_pence=p.ec_available_pence,  # type: ignore[attr-defined]
        emergency_credit_in_use=p.ec_in_use,  # type: ignore[attr-defined]
        debt_pence=p.debt_pence, supply_state=p.supply_state,  # type: ignore[attr-defined]
    )


def _read_payment(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    return _payment_body(_meter(device_type, core, "READ_PAYMENT_MODE", keys).payment(now))


def _set_payment(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetPaymentMode)
    meter = _meter(device_type, core, "SET_PAYMENT_MODE", keys)
    return _payment_body(meter.set_payment_mode(request.payment_mode, now))


def _top_up(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.TopUpRequest)
    if device_type not in (DeviceType.ESME, DeviceType.GSME):
        return wan.TopUpResult(status=TopUpStatus.DEVICE_NOT_SUPPORTED, amount_pence=0,
                               balance_pence=0)
    outcome = _meter(device_type, core, "TOP_UP", keys).top_up(request.utrn, now)
    return wan.TopUpResult(status=outcome.status, amount_pence=outcome.amount_pence,  # type: ignore[attr-defined]
                           balance_pence=outcome.balance_pence)  # type: ignore[attr-defined]


def _read_time(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    if device_type is DeviceType.CHF:
        return wan.TimeValue(utc=zigbee_utc(chf.clock(now)))
    return wan.TimeValue(utc=zigbee_utc(_meter(device_type, core, "READ_TIME", keys)
                                        .meter_time(now)))


def _set_time(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetTime)
    target_us = from_zigbee_utc(request.utc)
    if device_type is DeviceType.CHF:
        previous = chf.clock(now)
        chf._clock_offset = target_us - now
        chf._emit(now, chf.eui, "ClockAdjusted",
                  {"previous": zigbee_utc(previous), "utc": request.utc})
        chf._log_event(now, EventCode.CLOCK_ADJUSTED, request.utc - zigbee_utc(previous))
        return wan.SetTimeResult(previous_utc=zigbee_utc(previous), utc=request.utc)
    prev, new = _meter(device_type, core, "SET_TIME", keys).set_time(target_us, now)
    return wan.SetTimeResult(previous_utc=zigbee_utc(prev), utc=zigbee_utc(new))


def _set_supply(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SetSupply)
    state = _meter(device_type, core, "SET_SUPPLY", keys).set_supply(request.action, now)
    return wan.SupplyResult(supply_state=state)  # type: ignore[arg-type]


def _update_device_log(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """SRV 8.11-style whitelist update: Add (install code, join window) or Remove."""
    assert isinstance(request, wan.UpdateDeviceLog)
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, "UPDATE_HAN_DEVICE_LOG", keys)
    eui = eui_to_str(request.eui)
    entry = chf.log.get(eui)
    status = DeviceLogStatus.DONE
    if request.action is DeviceLogAction.ADD:
        if entry is not None and entry.state is not DeviceLogState.REMOVED:
            status = DeviceLogStatus.ALREADY_PRESENT
        else:
            try:
                link_key = install_code_link_key(request.install_code)
            except InstallCodeError:
                status = DeviceLogStatus.INVALID_INSTALL_CODE
            else:
                chf.log[eui] = LogEntry(request.device_type, DeviceLogState.WHITELISTED, None,
                                        link_key, now + request.join_window_s * SECOND,
                                        request.mpxn)
                chf._emit(now, chf.eui, "HanDeviceLogAdded",
                          {"eui": eui, "type": request.device_type.name,
                           "join_window_s": request.join_window_s})
                chf._log_event(now, EventCode.HAN_DEVICE_ADDED, int(request.device_type))
    elif entry is None or entry.state is DeviceLogState.REMOVED:
        status = DeviceLogStatus.NOT_PRESENT
    else:
        del chf.log[eui]
        chf.devices.pop(eui, None)
        if chf.gsme_mirror is not None and entry.device_type is DeviceType.GSME:
            chf.gsme_mirror = None
        if chf.han is not None:
            chf.han.forget_device(eui)  # revokes its link key: its frames are dropped
        chf._emit(now, chf.eui, "HanDeviceLogRemoved", {"eui": eui})
        chf._log_event(now, EventCode.HAN_DEVICE_REMOVED, int(entry.device_type))
    return wan.DeviceLogUpdated(status=status, entries=len(chf.log))


def _chf_only(device_type: DeviceType, what: str, keys: OperationalKeys) -> None:
    if device_type is not DeviceType.CHF:
        raise _not_for(device_type, what, keys)


def _rotate_keys(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.RotateKeys) and chf.master_key is not None
    _chf_only(device_type, "ROTATE_KEYS", keys)
    try:
        plain = aes_key_unwrap(chf.master_key, request.wrapped_keys)
    except (InvalidUnwrap, ValueError):
        raise _Reject(ErrorCode.OPERATION_FAILED, "new keys do not unwrap under the Master Key",
                      keys) from None
    if not 1 <= request.key_id < wan.MASTER_KEY_ID or len(plain) != 32:
        raise _Reject(ErrorCode.INVALID_ARGUMENT, "bad key id or key length", keys)
    old = chf.snapshot()
    new = Snapshot(request.new_owner, OperationalKeys(request.key_id, plain[:16], plain[16:]),
                   old.anchor, old.anchor_der, old.apn, old.service_profile)
    if chf.previous is None and "rotate" not in chf.faults["fail"]:  # type: ignore[operator]
        chf.previous = old  # the pre-migration state that a rollback reinstates
    return chf._step("rotate", new, now, keys)


def _swap_certificate(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.SwapCertificate)
    _chf_only(device_type, "SWAP_CERTIFICATE", keys)
    if not request.ca_certificate:
        raise _Reject(ErrorCode.INVALID_ARGUMENT, "empty certificate", keys)
    old = chf.snapshot()
    new = Snapshot(old.owner, old.keys, request.role, request.ca_certificate, old.apn,
                   old.service_profile)
    return chf._step("swap", new, now, keys)


def _rollback(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    assert isinstance(request, wan.Rollback)
    _chf_only(device_type, "ROLLBACK", keys)
    if chf.previous is None:
        raise _Reject(ErrorCode.INVALID_ARGUMENT, "nothing to roll back", keys)
    prev = chf.previous
    restored = Snapshot(prev.owner, prev.keys, prev.anchor, prev.anchor_der,
                        request.apn or prev.apn, request.service_profile or prev.service_profile)
    moved_sim = restored.apn != chf.sim.apn
    result = chf._step("rollback", restored, now, keys)
    if not isinstance(result, _Restarted):
        chf.previous = None
        result = chf.security_state()
        if moved_sim:
            chf.wan_down_until = now + chf.reconnect_delay_us
            chf.drop_sessions = True
    return result


def _read_security_state(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    _chf_only(device_type, "READ_SECURITY_STATE", keys)
    return chf.security_state()


def _move_sim(
    chf: Chf, device_type: DeviceType, core: object, request: object, now: int,
    keys: OperationalKeys,
) -> object:
    """The SIM moves to another APN: the CHF answers, then loses the WAN until it reattaches
    (the profile's reconnect delay: up to 7 days for FOC)."""
    assert isinstance(request, wan.MoveSim)
    _chf_only(device_type, "MOVE_SIM", keys)
    old = chf.snapshot()
    new = Snapshot(old.owner, old.keys, old.anchor, old.anchor_der, request.apn,
                   request.service_profile)
    result = chf._step("sim", new, now, keys)
    if not isinstance(result, _Restarted):
        chf.wan_down_until = now + chf.reconnect_delay_us
        chf.drop_sessions = True
        chf._emit(now, chf.eui, "SimMoved", {"apn": request.apn,
                                             "reattach_at_us": chf.wan_down_until})
    return result


_QUEUED_FOR_GSME = frozenset({
    MessageType.READ_PAYMENT_MODE, MessageType.SET_PAYMENT_MODE, MessageType.TOP_UP,
    MessageType.SET_SUPPLY, MessageType.READ_TIME, MessageType.SET_TIME,
    MessageType.READ_EVENT_LOG,
})

_HANDLERS = {
    MessageType.READ_INSTANTANEOUS: _read_instantaneous,
    MessageType.READ_INVENTORY: _read_inventory,
    MessageType.READ_FIRMWARE_VERSIONS: _read_firmware,
    MessageType.READ_EVENT_LOG: _read_event_log,
    MessageType.READ_PAYMENT_MODE: _read_payment,
    MessageType.SET_PAYMENT_MODE: _set_payment,
    MessageType.TOP_UP: _top_up,
    MessageType.READ_TIME: _read_time,
    MessageType.SET_TIME: _set_time,
    MessageType.SET_SUPPLY: _set_supply,
    MessageType.UPDATE_HAN_DEVICE_LOG: _update_device_log,
    MessageType.ROTATE_KEYS: _rotate_keys,
    MessageType.ROLLBACK: _rollback,
    MessageType.READ_SECURITY_STATE: _read_security_state,
    MessageType.SWAP_CERTIFICATE: _swap_certificate,
    MessageType.MOVE_SIM: _move_sim,
}
