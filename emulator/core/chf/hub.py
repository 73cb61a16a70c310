"""The Communications Hub Function (CHF) core, sans-IO.

The CHF terminates the WAN application protocol: it checks every frame in a fixed order
(:mod:`~emulator.core.chf.auth`), dispatches it to the handler of its message type
(:mod:`~emulator.core.chf.commands`), answers with a sealed response or an ERROR frame, traces
every rejection, and keeps serving. Migration steps run through the security lifecycle
(:mod:`~emulator.core.chf.security`) under the device faults (:mod:`~emulator.core.chf.faults`).
Behind it sits the HAN: a direct link to the meter cores, or the ZigBee HAN (``han``).

State kept small on purpose (a fleet holds thousands): SIM/APN, device log, last WAN contact,
per-role operational keys and counters, the GSME mirror, a bounded event log.
"""

from __future__ import annotations

from typing import Final

from emulator.core.chf import security
from emulator.core.chf.auth import MASTER_SLOT, Reject, authenticate, parse
from emulator.core.chf.commands import HANDLERS
from emulator.core.chf.faults import DeviceFaults
from emulator.core.chf.records import (
    Complete,
    Deferred,
    Fail,
    HanPort,
    LogEntry,
    OperationalKeys,
    Restarted,
    Sim,
    Snapshot,
    WanSchedule,
)
from emulator.core.chf.security import SecurityPhase
from emulator.core.rng import SplitMix64
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Emit
from emulator.errors import MalformedFrame
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import (
    RESPONSE_BIT,
    DeviceLogState,
    DeviceType,
    ErrorCode,
    EventCode,
    MessageType,
    Role,
)

_JOINED: Final = DeviceLogState.JOINED  # read on every GSME wake (mirror_report)

#: The CHF keeps its newest EVENT_LOG_SIZE events (a ring: the oldest goes when one arrives).
EVENT_LOG_SIZE: Final = 100
#: What ``MessageType(value)`` looks up (without raising for a value that names none).
_MESSAGE_TYPES: Final[dict[int, MessageType]] = dict(MessageType._value2member_map_)
#: Each message type's name (``Enum.name`` is a property lookup, per served request).
_MESSAGE_NAMES: Final[dict[MessageType, str]] = {mt: mt.name for mt in MessageType}
#: The EUI-64 texts a CHF keeps of the targets it serves (its own, its devices'): at most.
_TARGETS_KEPT: Final = 16


class Chf:
    """The CHF core. Feed it WAN frames with :meth:`handle_frame`; it returns the reply."""

    __slots__ = (
        "_clock_offset",
        "_counters_in",
        "_counters_out",
        "_events",
        "_keys",
        "_targets",
        "devices",
        "eui",
        "eui_bytes",
        "firmware_version",
        "gsme_mirror",
        "anchor",
        "anchor_der",
        "drop_sessions",
        "emit",
        "faults",
        "han",
        "last_wan_contact",
        "master_key",
        "previous",
        "reconnect_delay_us",
        "wan_down_until",
        "wan_lost_at",
        "wan_schedule",
        "log",
        "outgoing",
        "phase",
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
        self._targets: dict[bytes, str] = {}  # EUI-64 bytes -> text, of the targets served
        self.firmware_version = firmware_version
        self.sim = sim
        self._keys = dict(keys)
        self._counters_in: dict[Role, int] = {}
        self._counters_out: dict[Role, int] = {}
        self.emit = emit
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
        self.wan_lost_at: int | None = None  # when that outage began
        self.wan_schedule: WanSchedule | None = None  # None: the modem is always attached
        self.drop_sessions = False  # set when the driver must close every WAN session
        self.phase = SecurityPhase.SMSO_OWNED  # where the security lifecycle stands
        #: Device faults set by profile or scenario, and the seeded RNG of restart outcomes.
        self.faults = DeviceFaults(SplitMix64.derive(fault_seed, eui, "faults"))
        self.log_event(now, EventCode.POWER_ON, 0)

    # ---- HAN side ---------------------------------------------------------------------------

    def attach_device(self, eui: str, device_type: DeviceType, core: object, now: int) -> None:
        """Whitelist and join a device on the direct HAN link (installation time)."""
        self.log[eui] = LogEntry(device_type, DeviceLogState.JOINED, now)
        self.devices[eui] = core
        self.emit(now, self.eui, "HanDeviceJoined", {"eui": eui, "type": device_type.name})
        self.log_event(now, EventCode.HAN_DEVICE_JOINED, int(device_type))

    def admit(self, eui: str, now: int) -> bytes | None:
        """Trust Centre decision for a joining device: its link key if it is whitelisted and
        its join window is open, else None."""
        entry = self.log.get(eui)
        if (entry is None or entry.state is not DeviceLogState.WHITELISTED
                or entry.link_key is None or entry.join_until is None or now >= entry.join_until):
            return None
        return entry.link_key

    def joined(self, eui: str, now: int, core: object | None = None) -> None:
        """A whitelisted device joined; ``core`` is the device itself (what WAN requests for it
        reach), when the installation models it."""
        entry = self.log.get(eui)
        if entry is not None:
            entry.state = DeviceLogState.JOINED
            entry.last_heard = now
            if core is not None:
                self.devices[eui] = core
            self.emit(now, self.eui, "HanDeviceJoined",
                       {"eui": eui, "type": entry.device_type.name})
            self.log_event(now, EventCode.HAN_DEVICE_JOINED, int(entry.device_type))

    def heard(self, eui: str, now: int) -> None:
        entry = self.log.get(eui)
        if entry is not None:
            entry.last_heard = now

    def mirror_report(self, eui: str, reading: object, now: int) -> None:
        """A GSME woke and reported into its mirror on the CHF (ignored from a GSME that is
        not, or no longer, a joined member of the device log)."""
        entry = self.log.get(eui)
        if entry is None or entry.state is not _JOINED:
            return
        self.gsme_mirror = (reading, now)
        entry.last_heard = now  # heard(), inlined

    @property
    def roles(self) -> list[Role]:
        return sorted(self._keys)

    def keys_for(self, role: Role) -> OperationalKeys | None:
        return self._keys.get(role)

    def operational_keys(self) -> dict[Role, OperationalKeys]:
        return dict(self._keys)

    def clock(self, now: int) -> int:
        return now + self._clock_offset

    def set_clock(self, utc_us: int, now: int) -> int:
        """Set the CHF's clock to ``utc_us`` at ``now``; returns the previous clock reading."""
        previous = self.clock(now)
        self._clock_offset = utc_us - now
        return previous

    # ---- WAN side ---------------------------------------------------------------------------

    def lose_wan(self, now: int, until: int) -> None:
        """The SIM detaches at ``now`` (a SIM move, a rollback, an outage) until ``until``;
        every WAN session drops."""
        self.wan_down_until, self.wan_lost_at = until, now
        self.drop_sessions = True

    def _in_outage(self, now: int) -> bool:
        return self.wan_down_until is not None and now < self.wan_down_until

    def wan_up(self, now: int) -> bool:
        """Whether the modem is attached now (no outage, awake on its schedule)."""
        schedule = self.wan_schedule
        return not self._in_outage(now) and (schedule is None or schedule.awake(now))

    def next_wan_up(self, now: int) -> int:
        """The first instant at or after ``now`` when the modem is attached (as things stand:
        what the SMETS1 CSP reports when the SIM attaches)."""
        until = self.wan_down_until
        t = until if until is not None and now < until else now
        return t if self.wan_schedule is None else self.wan_schedule.next_awake(t)

    def last_wan_attached(self, now: int) -> int | None:
        """The CHF's last WAN contact as the SMETS1 CSP saw it: now while attached, else the
        last instant its SIM was attached (the start of an outage, the end of its last awake
        window) or its last authenticated frame, whichever is later; None if never."""
        if self.wan_up(now):
            return now
        end = self.wan_lost_at if self._in_outage(now) else now
        seen: int | None = end
        if end is not None and self.wan_schedule is not None:
            seen = self.wan_schedule.last_awake(end)
        candidates = [t for t in (seen, self.last_wan_contact) if t is not None]
        return max(candidates) if candidates else None

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
            frame = parse(data)
            h = frame.header
            txn, msg_type, target = h.txn_id, h.msg_type, h.target
            auth = authenticate(self, frame, tls_role, now)
        except Reject as rej:
            return self._reject(rej, txn, msg_type, target, tls_role, now)
        keys, slot = auth.keys, auth.slot
        try:
            body = self._dispatch(h, frame.payload, keys, now)
            if isinstance(body, Deferred):
                self._defer(body, session, slot, keys, msg_type, txn, target)
                return None
            if isinstance(body, Restarted):
                return None  # the CHF restarted mid-step: no reply, sessions dropped
            return self._seal(slot, keys, msg_type | RESPONSE_BIT, txn, target, body)
        except Reject as rej:
            return self._reject(rej, txn, msg_type, target, tls_role, now)
        except Exception as exc:  # noqa: BLE001 - an authenticated request always gets a reply
            return self._reject(self._internal(exc, msg_type, now, keys), txn, msg_type, target,
                                tls_role, now)

    def _internal(self, exc: Exception, msg_type: int, now: int,
                  keys: OperationalKeys) -> Reject:
        """The INTERNAL_ERROR answer to a request whose handling failed; traced with its cause."""
        cause = f"{type(exc).__name__}: {exc}"
        self.emit(now, self.eui, "WanHandlerFailed", {"msg_type": msg_type, "cause": cause})
        return Reject(ErrorCode.INTERNAL_ERROR, f"internal error: {cause}", keys)

    def accept_counter(self, slot: Role, counter: int, keys: OperationalKeys) -> None:
        """Accept a frame's counter for ``slot``, or Reject it as a replay."""
        last = self._counters_in.get(slot, -1)
        if counter <= last:
            raise Reject(ErrorCode.REPLAYED_COUNTER, f"counter {counter} <= last {last}", keys)
        self._counters_in[slot] = counter

    def _defer(self, deferred: Deferred, session: int, role: Role, keys: OperationalKeys,
               msg_type: int, txn: int, target: bytes) -> None:
        mt = MessageType(msg_type)

        def complete(result: object, at: int) -> None:
            try:
                body = result if isinstance(result, bytes) else wan.encode_response(mt, result)
                reply = self._seal(role, keys, msg_type | RESPONSE_BIT, txn, target, body)
            except Exception as exc:  # noqa: BLE001 - the deferred answer still gets a reply
                reply = self._reject(self._internal(exc, msg_type, at, keys), txn, msg_type,
                                     target, role, at)
            self.outgoing.append((session, reply))

        def fail(code: ErrorCode, detail: str, at: int) -> None:
            self.outgoing.append((session, self._reject(Reject(code, detail, keys), txn,
                                                        msg_type, target, role, at)))

        deferred.start(complete, fail)

    def take_outgoing(self) -> list[tuple[int, bytes]]:
        out, self.outgoing = self.outgoing, []
        return out

    def _reject(
        self,
        rej: Reject,
        txn: int,
        msg_type: int,
        target: bytes,
        tls_role: Role | None,
        now: int,
    ) -> bytes:
        self.emit(
            now,
            self.eui,
            "WanFrameRejected",
            {"error": rej.error.name, "detail": rej.detail, "msg_type": msg_type, "txn": txn},
        )
        self.log_event(now, EventCode.WAN_FRAME_REJECTED, int(rej.error))
        body = wan.encode_response(
            MessageType.ERROR,
            wan.ErrorPayload(error_code=rej.error, request_msg_type=msg_type & 0x7F,
                             detail=rej.detail),
        )
        if rej.role_keys is not None and tls_role is not None:
            slot = (MASTER_SLOT if rej.role_keys.key_id == wan.MASTER_KEY_ID else tls_role)
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
        return wan.seal_fields(msg_type, txn, target, Role.CHF, keys.key_id, counter, body,
                               keys.response_key)

    # ---- commands -----------------------------------------------------------------------------

    def _dispatch(
        self, h: wan.Header, payload: bytes, keys: OperationalKeys, now: int
    ) -> bytes | Deferred | Restarted:
        mt = _MESSAGE_TYPES.get(h.msg_type)
        if mt is None:
            raise Reject(ErrorCode.UNSUPPORTED_COMMAND, f"message type 0x{h.msg_type:02X}", keys)
        if mt is MessageType.ERROR:
            raise Reject(ErrorCode.UNSUPPORTED_COMMAND, "ERROR is not a request", keys)
        target = self._targets.get(h.target)
        if target is None:
            target = eui_to_str(h.target)
            if len(self._targets) < _TARGETS_KEPT and (target == self.eui or target in self.log):
                self._targets[h.target] = target
        if target == self.eui:
            device_type = DeviceType.CHF
            core: object = self
        else:
            entry = self.log.get(target)
            if entry is None or entry.state is not DeviceLogState.JOINED:
                raise Reject(ErrorCode.UNKNOWN_DEVICE, f"{target} is not on this HAN", keys)
            device_type = entry.device_type
            found = self.devices.get(target)
            if found is None:  # joined on the HAN, but no device core behind it
                raise Reject(ErrorCode.DEVICE_UNREACHABLE,
                             f"{target} joined but does not answer", keys)
            core = found
        try:
            request = wan.decode_request(mt, payload)
        except MalformedFrame as exc:
            raise Reject(ErrorCode.MALFORMED, str(exc), keys) from None
        handler = HANDLERS.get(mt)
        if handler is None:
            raise Reject(ErrorCode.UNSUPPORTED_COMMAND, mt.name, keys)
        result: object
        if (device_type is DeviceType.GSME and self.han is not None
                and wan.MESSAGES[mt].waits_for_gsme):
            result = self._queue_for_gsme(mt, payload, now)
        elif (device_type is not DeviceType.CHF and self.han is not None
              and mt is not MessageType.READ_INSTANTANEOUS and self.han.on_air(target)):
            # a device on a radio: this CHF carries only Metering reads to it, and does not
            # answer for it from a model of the device
            raise Reject(ErrorCode.UNSUPPORTED_COMMAND,
                         f"{mt.name}: {target} is on a radio; only READ_INSTANTANEOUS reaches it",
                         keys)
        else:
            result = handler(self, device_type, core, request, now, keys)
        self.emit(now, self.eui, "WanRequestServed",
                   {"msg": _MESSAGE_NAMES[mt], "target": target, "txn": h.txn_id})
        if isinstance(result, (Deferred, Restarted)):
            return result
        if device_type is not DeviceType.CHF and self.han is None:
            self.heard(target, now)  # the direct link: the CHF just talked to the device
        return wan.encode_response(mt, result)

    # ---- security lifecycle (migration): emulator.core.chf.security ---------------------------

    def snapshot(self) -> Snapshot:
        return security.snapshot(self)

    def security_state(self) -> wan.SecurityState:
        return security.security_state(self)

    def install(self, new: Snapshot) -> None:
        """Install a security snapshot in one assignment per field group."""
        self._keys = {new.owner: new.keys}
        self.anchor, self.anchor_der = new.anchor, new.anchor_der
        self.sim.apn, self.sim.service_profile = new.apn, new.service_profile

    # ---- the sleepy GSME ------------------------------------------------------------------

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
            handler = HANDLERS[mt]
            request = wan.decode_request(mt, payload)
            body = handler(self, DeviceType.GSME, gsme, request, now, keys)
            return b"\x00" + wan.encode_response(mt, body)
        except Reject as rej:
            return bytes([1, int(rej.error)]) + rej.detail.encode()[:200]
        except (ValueError, KeyError, MalformedFrame) as exc:
            return bytes([1, int(ErrorCode.MALFORMED)]) + str(exc).encode()[:200]
        except Exception as exc:  # noqa: BLE001 - the GSME's answer is an ERROR, never a raise
            internal = self._internal(exc, msg_type, now, keys)
            return bytes([1, int(internal.error)]) + internal.detail.encode()[:200]

    def log_event(self, now: int, code: EventCode, value: int) -> None:
        events = self._events
        events.append((now, int(code), value))
        if len(events) > EVENT_LOG_SIZE:
            del events[: len(events) - EVENT_LOG_SIZE]

    def event_log(self) -> list[tuple[int, int, int]]:
        return list(self._events)


