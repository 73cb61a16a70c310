"""The Python API of a test case: a lab on the virtual clock.

A :class:`Lab` holds installations of one DMC (a fleet with its own PKI), a head-end in each
role, the DCC side for migration (Requesting Party files, the DCO, the S1SP, the TMAD rules),
fault injection and the actions of docs/scenarios.md. Every action returns an
:class:`ActionResult` and records it, so expectations (``harness.scenario.expect``) can check
outcomes, registers, trace events and deadlines against what really happened.

Create it inside a virtual-time loop::

    async def main() -> None:
        async with Lab.open("default", seed=7) as lab:
            r = await lab.top_up("esme", amount_pence=1000)
            assert r.status == "ACCEPTED"

    run_virtual(main())

(``harness.pytest_plugin`` wraps the same object for synchronous tests.)
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from emulator.core.han import HanNode
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.rng import SplitMix64
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND, WEEK, to_datetime
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import current_clock, sleep_until, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import client_context
from emulator.errors import (
    LocalProtocolError,
    MalformedFrame,
    ReleaseRefused,
    RemoteProtocolError,
    S1labError,
    SecurityError,
    TransportError,
)
from emulator.fleet import Fleet
from emulator.installation import Installation
from emulator.keystore import ChfKeys
from emulator.pki import derive_key, mint_ca, mint_leaf
from emulator.profiles import ResolvedDmc, load_dmc
from emulator.trace import Trace
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str, normalise
from emulator.wire.ieee802154 import parse_mac
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceType,
    ErrorCode,
    MessageType,
    PaymentMode,
    Role,
)
from harness.headend import HeadEnd, HeadEndSession, connect
from harness.migration.dco import Dco
from harness.migration.history import FailedOutcome, History, OtherOutcome
from harness.migration.inventory import (
    DeviceRecord,
    InstallationRecord,
    MeterState,
    SupplierStatus,
)
from harness.migration.mgf import build_mgf, parse_mgf
from harness.migration.outcome import Outcome
from harness.migration.reasons import Reason
from harness.migration.rules import Action, evaluate, validate_record
from harness.migration.s1sp import DCC_APN, S1sp
from harness.migration.tmad import Epcl, TmadVersion, load_epcl, load_tmad
from harness.scenario import model

ROLES = {"smso": Role.SMSO, "s1sp": Role.S1SP}
#: WAN answer field -> register name (``register`` expectations) for a physical meter.
_AIR_REGISTERS = {"import_wh": "import_wh", "volume_dm3": "volume_dm3",
                  "balance_pence": "balance_pence", "payment_mode": "payment_mode",
                  "supply_state": "supply", "debt_pence": "debt_pence",
                  "emergency_credit_available_pence": "emergency_credit_pence"}
#: Migration outcomes that end a series of weekly attempts.
TERMINAL = frozenset({"migrated", "partial", "excluded", "not-eligible"})


@dataclass(frozen=True)
class LabEvent:
    """One trace event as the lab saw it."""

    us: int
    installation: str
    device: str
    event: str
    fields: dict[str, object]


@dataclass
class ActionResult:
    """What one action did. ``status`` is the action's outcome word: ``ok``/``refused`` for a
    connection, the top-up status (``ACCEPTED``, ``ALREADY_USED``...), the migration status
    (``migrated``, ``partial``, ``rolled-back``, ``failed``, ``excluded``, ``not-eligible``),
    ``error`` when the CHF answered with an error (``reason`` = its ErrorCode name)."""

    kind: str
    name: str
    started_us: int
    ended_us: int = 0
    status: str = "ok"
    reason: str = ""
    step: str = ""
    category: str = ""
    clause: str = ""
    attempts: int = 0
    detail: str = ""
    fields: dict[str, object] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [self.status]
        for label, value in (("reason", self.reason), ("step", self.step),
                             ("category", self.category), ("clause", self.clause)):
            if value:
                parts.append(f"{label} {value}")
        return ", ".join(parts)


@dataclass
class _Joiner:
    eui: str
    code: bytes  # with CRC
    node: HanNode | None = None


class Lab:
    """One test bench: installations of a DMC on the running virtual clock."""

    def __init__(self, dmc: ResolvedDmc, *, seed: int = 1, start: model.Start | None = None,
                 installations: int = 1, capture: HanCapture | None = None, tmad: str | None = None,
                 trace_sink: Any = None, fleet_options: dict[str, Any] | None = None,
                 physical: dict[str, tuple[str, bytes]] | None = None) -> None:
        """``physical``: device roles played by physical devices on a radio (role -> EUI-64
        and install code; a bench run, :mod:`harness.scenario.bench`): not emulated, and
        their registers are what the WAN reads of them returned."""
        self.dmc = dmc
        self.seed = seed
        self.start = start or model.Start()
        self.group_id = self.start.group_id or dmc.group_id
        self.clock = current_clock()
        self.scheduler = Scheduler(self.clock)
        self.trace = Trace(trace_sink)
        self.events: list[LabEvent] = []
        self.trace.subscribe(self._record_event)
        self.capture = capture
        self.physical = dict(physical or {})
        #: role -> register name -> value, as last read over the WAN (physical roles only)
        self.air_registers: dict[str, dict[str, object]] = {}
        on_air = {DeviceType[role.upper()]: device for role, device in self.physical.items()}
        self.fleet = Fleet(dmc, installations, seed, self.scheduler, self.trace,
                           han=self.start.han, capture=capture, on_air=on_air or None,
                           **(fleet_options or {}))
        self.t0 = self.clock.now_us()
        self.emit = self.trace.emitter("harness")
        tmad = tmad or self.start.tmad
        self.tmad: TmadVersion = load_tmad(tmad) if tmad else load_tmad()
        self.epcl: Epcl = load_epcl()
        self.s1sp = S1sp(self.fleet, self.trace.emitter("dcc"), seed)
        dco_key = derive_key(seed, "dco")
        assert isinstance(dco_key, ec.EllipticCurvePrivateKey)
        self.dco = Dco(dco_key, self.fleet.pki.authorities.device_ca.cert)
        self.results: dict[str, ActionResult] = {}
        self.order: list[ActionResult] = []
        self.snapshots: dict[str, dict[str, object]] = {}
        self.histories = {inst.id: History(inst.id) for inst in self.fleet.installations}
        self.records = {inst.id: self._record(inst, i)
                        for i, inst in enumerate(self.fleet.installations)}
        self.mgf_keys: dict[str, ChfKeys] = dict(self.fleet.keys)
        self._headends = {"smso": HeadEnd(Role.SMSO, self.fleet.headend_context(Role.SMSO),
                                          self.fleet.keys_for,
                                          emit=self.trace.emitter("headend"))}
        self._sessions: dict[str, HeadEndSession] = {}
        self._joiners: dict[str, _Joiner] = {}
        self._last_utrn: dict[str, str] = {}
        self._secured_frames: list[bytes] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="s1lab-lab-")
        self._counter = 0
        self._migrated_key: bytes | None = None
        for inst in self.fleet.installations:
            self._apply_start(inst)
            if inst.han is not None:
                self._tap(inst)

    # ---- construction -------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(cls, dmc: str | ResolvedDmc, *, seed: int = 1,
                   start: model.Start | None = None, **kw: Any) -> AsyncIterator[Lab]:
        """A lab for ``dmc`` (a profile name or a loaded DMC); closed on exit."""
        lab = cls(load_dmc(dmc) if isinstance(dmc, str) else dmc, seed=seed, start=start, **kw)
        try:
            if lab.start.settle:
                await sleep_us(lab.start.settle)
            lab.t0 = lab.clock.now_us()
            lab.snapshots["start"] = lab.registers()
            yield lab
        finally:
            await lab.aclose()

    def _record(self, inst: Installation, index: int) -> InstallationRecord:
        s = self.start
        esme_state = MeterState.ACTIVE if s.state in ("active", "mixed") else MeterState.DORMANT
        gsme_state = MeterState.ACTIVE if s.state == "active" else MeterState.DORMANT
        devices = [DeviceRecord(inst.chf.eui, DeviceType.CHF, inst.chf.firmware_version)]
        mode = {k: PaymentMode[v.upper()] for k, v in s.payment_mode.items()}
        devices.append(DeviceRecord(
            inst.esme.eui, DeviceType.ESME, inst.esme.firmware_version,
            mpxn=f"19{index:011d}", state=esme_state,
            payment_mode=mode.get("esme", inst.esme.payment_mode), supplier=s.supplier))
        if inst.gsme is not None:
            devices.append(DeviceRecord(
                inst.gsme.eui, DeviceType.GSME, inst.gsme.firmware_version,
                mpxn=f"{9_000_000 + index:010d}", state=gsme_state,
                payment_mode=mode.get("gsme", inst.gsme.payment_mode), supplier=s.supplier))
        return InstallationRecord(
            installation_id=inst.id, group_id=self.group_id, dmc=self.dmc.name,
            chf_eui=inst.chf.eui, devices=tuple(devices), supplier=s.supplier,
            supplier_status=SupplierStatus(s.supplier_status), previous_apn=inst.chf.sim.apn,
            installed_at_us=self.clock.now_us() - (400 - index) * DAY)

    def _apply_start(self, inst: Installation) -> None:
        now = self.clock.now_us()
        for meter, mode in self.start.payment_mode.items():
            core = inst.esme if meter == "esme" else inst.gsme
            if core is None:
                raise LocalProtocolError(f"start.payment_mode: the DMC {self.dmc.name} has "
                                         f"no {meter}")
            core.set_payment_mode(PaymentMode[mode.upper()], now)
        inst.sync_timer()

    def _tap(self, inst: Installation) -> None:
        """Keep the latest secured HAN frames sent to the CHF (for replay and old-key
        injection at the CHF)."""
        han = inst.han
        assert han is not None
        prev = han.capture

        def tap(frame: bytes, now: int) -> None:
            if len(frame) > 40:
                try:
                    to_chf = parse_mac(frame).dst_addr == han.chf.short
                except MalformedFrame:
                    to_chf = False
                if to_chf:
                    self._secured_frames.append(frame)
                    del self._secured_frames[:-8]
            if prev is not None:
                prev(frame, now)

        han.capture = tap

    def _record_event(self, now: int, installation: str, device: str, event: str,
                      fields: dict[str, object]) -> None:
        self.events.append(LabEvent(now, installation, device, event, dict(fields)))

    async def aclose(self) -> None:
        for session in list(self._sessions.values()):
            await session.close()
        self._sessions.clear()
        self.fleet.close()
        self.scheduler.close()
        self._tmp.cleanup()

    # ---- what tests read ----------------------------------------------------------------

    @property
    def installation(self) -> Installation:
        return self.fleet.installations[0]

    @property
    def now(self) -> int:
        return self.clock.now_us()

    @property
    def elapsed_us(self) -> int:
        return self.now - self.t0

    def device_eui(self, device: str) -> str:
        """The EUI of esme, gsme, ppmid, ihd, a device added by name, or an EUI itself."""
        inst = self.installation
        d = inst.core.devices
        named = {"esme": inst.esme.eui, "gsme": inst.gsme.eui if inst.gsme else None,
                 "ppmid": d.ppmid.eui if d.ppmid else None, "ihd": d.ihd.eui if d.ihd else None,
                 "chf": inst.chf.eui}
        if device in self._joiners:
            return self._joiners[device].eui
        if device in named:
            eui = named[device]
            if eui is None:
                raise LocalProtocolError(f"the DMC {self.dmc.name} has no {device}")
            return eui
        return normalise(device)

    def registers(self, inst: Installation | None = None) -> dict[str, object]:
        """The meters' registers now, read from the device cores (the truth); for a physical
        meter, what the WAN reads of it last returned (only what came over the air)."""
        inst = inst or self.installation
        now = self.now
        out: dict[str, object] = {}
        for name, values in self.air_registers.items():
            out.update({f"{name}.{key}": value for key, value in values.items()})
        for name in ("esme", "gsme"):
            core = inst.esme if name == "esme" else inst.gsme
            if core is None or name in self.physical:
                continue
            pay = core.payment(now)
            out[f"{name}.payment_mode"] = pay.payment_mode.name.lower()
            out[f"{name}.balance_pence"] = pay.balance_pence
            out[f"{name}.supply"] = pay.supply_state.name.lower()
            out[f"{name}.debt_pence"] = pay.debt_pence
            out[f"{name}.emergency_credit_pence"] = pay.emergency_credit_available_pence
        if "esme" not in self.physical:
            out["esme.import_wh"] = inst.esme.registers(now).import_wh
        if inst.gsme is not None and "gsme" not in self.physical:
            out["gsme.volume_dm3"] = inst.gsme.registers(now).volume_dm3
        return out

    def _heard(self, device: str, fields: dict[str, object]) -> None:
        """A WAN answer about a physical meter: keep the registers it carried."""
        if device not in self.physical:
            return
        values = self.air_registers.setdefault(device, {})
        for wire, register in _AIR_REGISTERS.items():
            value = fields.get(wire)
            if value is not None:
                values[register] = value.lower() if isinstance(value, str) else value

    def security_state(self) -> dict[str, object]:
        inst = self.installation
        snap = inst.chf.snapshot()
        return {"owner": snap.owner.name.lower(), "anchor": snap.anchor.name.lower(),
                "apn": "dcc" if inst.chf.sim.apn == DCC_APN else (
                    "smso" if inst.chf.sim.apn == self.dmc.chf.apn else inst.chf.sim.apn),
                "network_key_seq": inst.han.keys.current_seq if inst.han else None}

    def joined(self, name: str) -> bool:
        j = self._joiners.get(name)
        return j is not None and j.node is not None and j.node.joined

    # ---- head-ends ------------------------------------------------------------------------

    def headend(self, role: str) -> HeadEnd:
        """The head-end of ``role``: the SMSO's HES, or the S1SP (its keys once migrated)."""
        if role == "s1sp":
            return self.s1sp.s1sp_headend
        if role not in self._headends:
            raise LocalProtocolError(f"unknown role {role!r} (smso or s1sp)")
        return self._headends[role]

    async def _open(self, headend: HeadEnd) -> HeadEndSession:
        link = self.fleet.link_to(self.installation)
        return await connect(link.a, headend, self.clock, timeout_s=60, request_timeout_s=3600)

    async def session(self, role: str) -> HeadEndSession:
        """An open session of ``role`` to the CHF (reused while it stays open)."""
        s = self._sessions.get(role)
        if s is not None and s.is_open:
            return s
        s = await self._open(self.headend(role))
        self._sessions[role] = s
        return s

    async def can_connect(self, role: str) -> tuple[bool, str]:
        """Whether ``role`` can open TLS to the CHF *and* get a command answered, now."""
        try:
            s = await self._open(self.headend(role))
        except (TransportError, SecurityError) as exc:
            return False, f"TLS refused: {exc}"
        try:
            await s.request(MessageType.READ_SECURITY_STATE)
        except RemoteProtocolError as exc:
            return False, f"TLS up, command refused: {ErrorCode(exc.code).name}"
        except (LocalProtocolError, TransportError, SecurityError) as exc:
            return False, f"TLS up, command failed: {exc}"
        finally:
            await s.close()
        return True, "TLS up and a command answered"

    # ---- bookkeeping of actions --------------------------------------------------------------

    def _begin(self, kind: str, name: str | None) -> ActionResult:
        self._counter += 1
        r = ActionResult(kind, name or f"{kind}#{self._counter}", self.now)
        self.emit(self.now, "harness", "ActionStarted", {"action": kind, "name": r.name})
        return r

    def _end(self, r: ActionResult) -> ActionResult:
        r.ended_us = self.now
        self.results[r.name] = r
        self.order.append(r)
        self.snapshots[r.name] = self.registers()
        self.emit(self.now, "harness", "ActionEnded",
                  {"action": r.kind, "name": r.name, "status": r.status, "reason": r.reason})
        return r

    async def _command(self, kind: str, name: str | None, role: str, coro: Any) -> ActionResult:
        r = self._begin(kind, name)
        try:
            s = await self.session(role)
            await coro(s, r)
        except RemoteProtocolError as exc:
            r.status, r.reason, r.detail = "error", ErrorCode(exc.code).name, str(exc)
        except (TransportError, SecurityError) as exc:
            r.status, r.detail = "refused", str(exc)
        except LocalProtocolError as exc:
            r.status, r.detail = "refused", str(exc)
        return self._end(r)

    # ---- actions ------------------------------------------------------------------------------

    async def wait(self, duration_us: int, name: str | None = None) -> ActionResult:
        r = self._begin("wait", name)
        await sleep_us(duration_us)
        return self._end(r)

    async def wait_until(self, offset_us: int) -> None:
        """Sleep until ``offset_us`` after t=0 (no-op when already past)."""
        await sleep_until(self.t0 + offset_us)

    async def read(self, device: str = "esme", role: str = "smso",
                   name: str | None = None) -> ActionResult:
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            reading = await s.read_instantaneous(self.device_eui(device))
            r.fields = _fields(reading)
            self._heard(device, r.fields)

        return await self._command("read", name, role, go)

    async def inventory(self, role: str = "smso", name: str | None = None) -> ActionResult:
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            inv = await s.read_inventory()
            r.fields = {"devices": len(inv.entries)}

        return await self._command("inventory", name, role, go)

    async def payment_mode(self, device: str = "esme", set_to: str | None = None,
                           role: str = "smso", name: str | None = None) -> ActionResult:
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            eui = self.device_eui(device)
            if set_to is None:
                state = await s.read_payment_mode(eui)
            else:
                state = await s.set_payment_mode(eui, PaymentMode[set_to.upper()])
            r.fields = _fields(state)
            r.status = state.payment_mode.name.lower()
            self._heard(device, r.fields)

        return await self._command("payment_mode", name, role, go)

    async def top_up(self, device: str = "esme", amount_pence: int | None = None,
                     utrn: str | None = None, role: str = "smso",
                     name: str | None = None) -> ActionResult:
        """A top-up: the head-end generates the UTRN for ``amount_pence``; or ``utrn`` as
        given (``"replay"`` re-sends the last UTRN this lab sent to the device)."""
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            eui = self.device_eui(device)
            if utrn == "replay":
                code = self._last_utrn.get(eui)
                if code is None:
                    raise LocalProtocolError("no earlier UTRN to replay")
            elif utrn is not None:
                code = utrn
            else:
                assert amount_pence is not None
                code = s.headend.make_utrn(s.chf_eui, eui, amount_pence)
            self._last_utrn[eui] = code
            result = await s.top_up(eui, code)
            r.status = result.status.name
            r.fields = _fields(result)

        return await self._command("top_up", name, role, go)

    async def device_log_add(self, device: str, device_type: str = "gsme",
                             install_code: bytes | None = None, bad_crc: bool = False,
                             join_window_us: int = 90 * SECOND, role: str = "smso",
                             name: str | None = None) -> ActionResult:
        """SRV 8.11-style Add of a new device called ``device`` (its EUI is derived)."""
        eui = self._joiners[device].eui if device in self._joiners else self._new_eui(device)
        code = install_code or SplitMix64.derive(self.seed, "install-code", device).randbytes(16)
        crc = install_code_crc(code)
        self._joiners[device] = _Joiner(eui, code + crc)
        sent = code + (bytes(b ^ 0xFF for b in crc) if bad_crc else crc)

        async def go(s: HeadEndSession, r: ActionResult) -> None:
            result = await s.update_device_log(
                DeviceLogAction.ADD, eui, DeviceType[device_type.upper()], install_code=sent,
                join_window_s=max(1, join_window_us // SECOND))
            r.status = result.status.name
            r.fields = {"eui": eui}

        return await self._command("device_log", name, role, go)

    async def device_log_remove(self, device: str, role: str = "smso",
                                name: str | None = None) -> ActionResult:
        eui = self.device_eui(device)

        async def go(s: HeadEndSession, r: ActionResult) -> None:
            result = await s.update_device_log(DeviceLogAction.REMOVE, eui)
            r.status = result.status.name

        return await self._command("device_log", name, role, go)

    def _new_eui(self, device: str) -> str:
        digest = hashlib.sha256(f"{self.installation.chf.eui}/{device}".encode()).digest()
        return eui_to_str(bytes([0x00, 0x1B, 0xC5, 0x0D]) + digest[:4])

    async def join(self, device: str, install_code: str = "right",
                   name: str | None = None) -> ActionResult:
        """The device added as ``device`` asks to join, with the right or a wrong install code;
        ``status`` is ``joined`` or ``refused`` 20 s later."""
        r = self._begin("join", name)
        han = self.installation.han
        joiner = self._joiners.get(device)
        if han is None or joiner is None:
            r.status = "refused"
            r.detail = ("the direct HAN link has no joining" if han is None
                        else f"no device {device!r} was added with device_log")
            return self._end(r)
        code = joiner.code if install_code == "right" else bytes(16) + install_code_crc(bytes(16))
        node = HanNode(eui_from_str(joiner.eui), 0xFFFE, link_key=install_code_link_key(code))
        joiner.node = node
        han.request_join(node, self.now)
        self.installation.sync_timer()
        await sleep_us(20 * SECOND)
        r.status = "joined" if node.joined else "refused"
        return self._end(r)

    async def network_key_switch(self, name: str | None = None) -> ActionResult:
        """The Trust Centre rolls the network key; after the sleepiest device's poll
        interval it switches. ``fields.seq`` is the new key sequence number."""
        r = self._begin("network_key_switch", name)
        inst = self.installation
        try:
            seq = inst.rotate_network_key()
        except LocalProtocolError as exc:
            r.status, r.detail = "refused", str(exc)
            return self._end(r)
        wake = self.dmc.gsme.wake_interval_s * SECOND if self.dmc.gsme is not None else MINUTE
        await sleep_us(wake + 10 * MINUTE)
        inst.switch_network_key(seq)
        await sleep_us(MINUTE)
        r.fields = {"seq": seq}
        return self._end(r)

    async def han_replay(self, name: str | None = None) -> ActionResult:
        """Inject the latest secured HAN frame a device sent to the CHF again (a replay; after
        a key switch, a frame under the old network key). ``status`` is ``dropped`` or
        ``accepted``."""
        r = self._begin("han_replay", name)
        han = self.installation.han
        if han is None or not self._secured_frames:
            r.status, r.detail = "refused", "no secured HAN frame captured yet"
            return self._end(r)
        accepted = han.receive(self._secured_frames[-1], han.chf, self.now)
        r.status = "accepted" if accepted else "dropped"
        return self._end(r)

    async def connect(self, role: str = "smso", credential: str = "valid",
                      name: str | None = None) -> ActionResult:
        """Try a head-end connection with a ``valid``, ``wrong-ca`` or ``expired`` client
        certificate, or ``old-keys`` (the role's valid certificate with the operational keys
        the CHF held before any rotation); ``status`` ok or refused."""
        r = self._begin("connect", name)
        if credential == "valid":
            headend = self.headend(role)
        elif credential == "old-keys":
            headend = self._old_keys(role)
        else:
            headend = self._forged(role, credential)
        ok, detail = await self._try(headend)
        r.status, r.detail = ("ok" if ok else "refused"), detail
        return self._end(r)

    def _old_keys(self, role: str) -> HeadEnd:
        """``role``'s head-end (its valid TLS certificate) signing with the SMSO's
        pre-rotation operational keys, as handed over in the MGF: after key rotation the CHF
        must reject its commands."""
        base = self.headend(role)
        name = role if role in ROLES else "smso"

        def keys(eui: str) -> ChfKeys:
            old = self.fleet.keys[normalise(eui)]
            return old.with_role(name, old.role("smso"))

        return HeadEnd(base.role, base.ctx, keys, emit=self.trace.emitter("headend"))

    async def _try(self, headend: HeadEnd) -> tuple[bool, str]:
        try:
            s = await self._open(headend)
        except (TransportError, SecurityError) as exc:
            return False, f"TLS refused: {exc}"
        try:
            await s.request(MessageType.READ_SECURITY_STATE)
            return True, "TLS up and a command answered"
        except RemoteProtocolError as exc:
            return False, f"command refused: {ErrorCode(exc.code).name}"
        except (LocalProtocolError, TransportError, SecurityError) as exc:
            return False, f"command failed: {exc}"
        finally:
            await s.close()

    def _forged(self, role: str, credential: str) -> HeadEnd:
        """A head-end of ``role`` with a client certificate from a CA the CHF does not trust,
        or an expired one from the right CA."""
        auth = self.fleet.pki.authorities
        now = self.now
        if credential == "wrong-ca":
            issuer = mint_ca("Rogue head-end CA", "s1lab rogue", now - DAY, 3650, self.seed + 991)
            cred = mint_leaf(issuer, f"rogue-{role}.s1lab.test", "s1lab rogue", "client",
                             now - HOUR, 3650, self.seed + 992)
        else:
            issuer = auth.smso_ca if role == "smso" else auth.s1sp_ca
            cred = mint_leaf(issuer, f"expired-{role}.s1lab.test", "s1lab test", "client",
                             now - 400 * DAY, 30, self.seed + 993)
        folder = Path(self._tmp.name)
        cert, key = folder / f"{credential}-{role}.pem", folder / f"{credential}-{role}.key"
        cert.write_bytes(cred.cert_pem())
        key.write_bytes(cred.key_pem())
        ctx = client_context(cert, key, auth.device_ca.cert_pem(),
                             self.dmc.chf.tls_min_version, self.dmc.chf.tls_max_version,
                             keylog=self.fleet.keylog)
        base = self.headend(role)
        return HeadEnd(base.role, ctx, base.keys, emit=self.trace.emitter("headend"))

    async def replay(self, device: str = "esme", role: str = "smso",
                     name: str | None = None) -> ActionResult:
        """Send a read, then the same frame bytes again: ``status`` is ``error`` with reason
        REPLAYED_COUNTER when the CHF refuses the replay (``fields.first`` = the first
        reply)."""
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            txn, frame = s.build_frame(MessageType.READ_INSTANTANEOUS, self.device_eui(device))
            header, _ = await s.send_raw(frame, txn)
            r.fields = {"first": "error" if header.msg_type == MessageType.ERROR else "ok"}
            header, body = await s.send_raw(frame, txn)
            if header.msg_type == MessageType.ERROR:
                assert isinstance(body, wan.ErrorPayload)
                r.status, r.reason = "error", ErrorCode(body.error_code).name
            else:
                r.status = "accepted"

        return await self._command("replay", name, role, go)

    # ---- faults ------------------------------------------------------------------------------

    def inject(self, fault: model.Fault) -> None:
        """Arm ``fault`` at its time (offset from t=0) on every installation."""
        start = self.t0 + fault.at
        for inst in self.fleet.installations:
            self._arm(fault, inst, start)

    def _arm(self, f: model.Fault, inst: Installation, start: int) -> None:
        kind = f.kind
        end = start + (f.for_ or 0)
        detail: dict[str, object] = {"fault": kind, "installation": inst.id}
        if kind == "han-outage":
            assert f.device is not None
            self._check_device(inst, f.device)
            inst.link_down(f.device, start, end)
        elif kind == "slow-reconnect":
            inst.chf.reconnect_delay_us = f.for_ or 0
        elif kind == "master-key-wrong":
            keys = self.mgf_keys[inst.chf.eui]
            self.mgf_keys[inst.chf.eui] = replace(
                keys, master_key=bytes(b ^ 0x5A for b in keys.master_key))
        elif kind == "no-previous-apn":
            self.records[inst.id] = replace(self.records[inst.id], previous_apn=None)
        elif kind == "no-prepayment-key":
            self.records[inst.id] = replace(self.records[inst.id], prepayment_key_present=False)
        elif kind == "duplicate-guid":
            record = self.records[inst.id]
            devices = tuple(replace(d, eui=record.chf_eui) if d.device_type is DeviceType.ESME
                            else d for d in record.devices)
            self.records[inst.id] = replace(record, devices=devices)
        elif kind == "not-on-epcl":
            self.records[inst.id] = replace(self.records[inst.id], dmc=f"{self.dmc.name}-unlisted")
        elif kind == "fail-step":
            assert f.step is not None
            inst.fail_step(f.step)
        elif kind == "restart-during":
            assert f.step is not None
            inst.restart_during(f.step)
        elif kind == "master-key-missing":
            inst.lose_master_key()
        else:
            if f.device is not None:
                self._check_device(inst, f.device)
            if kind == "battery-flat" and inst.gsme is None:
                raise LocalProtocolError(f"battery-flat: the DMC {self.dmc.name} has no GSME")
            self.scheduler.call_at(max(start, self.now), self._later(f, inst, end))
            return
        self.emit(self.now, "harness", "FaultInjected", detail)

    def _check_device(self, inst: Installation, device: str) -> None:
        if device == "gsme" and inst.gsme is None or device in ("ppmid", "ihd") and getattr(
                inst.core.devices, device) is None:
            raise LocalProtocolError(f"fault on {device}: the DMC {self.dmc.name} has none")

    def _later(self, f: model.Fault, inst: Installation, end: int) -> Any:
        def run(now: int) -> None:
            if f.kind == "wan-outage":
                inst.wan_outage(end)
            elif f.kind == "loss":
                inst.set_loss(f.device or "", f.rate or 0.0)
            elif f.kind == "battery-flat":
                inst.battery_flat()
            elif f.kind == "counter-reset":
                inst.reset_frame_counter(f.device or "")
            elif f.kind == "clock-skew":
                inst.clock_skew(f.device or "", f.seconds or 0)
            elif f.kind == "change-of-supply":
                self.records[inst.id] = replace(self.records[inst.id],
                                                last_change_of_supply_us=now)
            self.emit(now, "harness", "FaultInjected", {"fault": f.kind, "installation": inst.id})
            inst.sync_timer()

        return run

    # ---- migration ------------------------------------------------------------------------------

    async def migrate(self, attempts: int = 1, name: str | None = None) -> ActionResult:
        """Migration attempts of the installation through the RP, DCO and S1SP, at most one per
        calendar week (the next at Monday 09:00), until one ends in a terminal outcome."""
        r = self._begin("migrate", name)
        inst = self.installation
        for n in range(attempts):
            if n:
                await sleep_until(_next_monday_9(self.now))
            await self._attempt(inst, r)
            r.attempts = n + 1
            if r.status in TERMINAL:
                break
        return self._end(r)

    async def _attempt(self, inst: Installation, r: ActionResult) -> None:
        now = self.now
        record = self.records[inst.id]
        history = self.histories[inst.id]
        r.reason = r.step = r.category = r.clause = r.detail = ""
        decision = evaluate(record, history, self.epcl)
        if decision.action is Action.EXCLUDE:
            assert decision.category is not None
            r.status, r.category, r.detail = "excluded", decision.category.name, decision.rule
            r.clause = self._clause(decision.category)
            self.emit(now, "dcc", "InstallationExcluded",
                      {"category": r.category, "clause": r.clause})
            return
        if decision.action is Action.NOT_ELIGIBLE:
            r.status, r.reason, r.step = "not-eligible", Reason.NOT_ON_EPCL.code, "eligibility"
            return
        issues = validate_record(record, list(self.records.values()), now)
        if issues:
            step, label = issues[0].check
            history.record(now, Outcome.FAILED, issues[0], step)
            r.status, r.reason, r.step = "failed", issues[0].code, label
            r.detail = issues[0].description
            self._attempt_ended(r)
            return
        mgf = parse_mgf(build_mgf(
            self.group_id, [record], {inst.chf.eui: self.fleet.chf_certificate(inst)},
            {inst.chf.eui: self.mgf_keys[inst.chf.eui]}, self.dco.public_key, now,
            rng=SplitMix64.derive(self.seed, now, "mgf").randbytes,
            utrn_counters=self._headends["smso"].utrn_counters), "mgf.xml")
        result = self.dco.validate(mgf, now)
        for failed in result.failed:
            failure = failed.failure
            assert failure is not None
            history.record(now, Outcome.FAILED, failure.reason, failure.step)
            r.status, r.step = "failed", failure.step
            r.reason, r.detail = failure.reason.code, failure.message
            self._attempt_ended(r)
            return
        partial = decision.action is Action.PARTIAL_ESME_ONLY
        check = await self.s1sp.preflight(inst, record)
        if check is not None and not (partial and check[0] is Reason.GT01):
            reason, detail = check
            history.record(now, Outcome.FAILED, reason, "pre-flight")
            r.status, r.reason, r.step, r.detail = "failed", reason.code, "pre-flight", detail
            self._attempt_ended(r)
            return
        try:
            master_key, _info = self.dco.release(inst.id, now)
        except ReleaseRefused as exc:
            r.status, r.step, r.detail = "failed", "secret-release", str(exc)
            self._attempt_ended(r)
            return
        outcome = await self.s1sp.install(
            inst, group_id=self.group_id, device_certificate=self.fleet.chf_certificate(inst),
            master_key=master_key, previous_apn=record.previous_apn or "", released_at=now,
            prepayment=self.dco.prepayment(inst.id))
        end = self.now
        self._sessions.clear()  # the WAN dropped or the owner changed
        if outcome.reason is None:
            done: OtherOutcome = Outcome.PARTIAL if partial else Outcome.MIGRATED
            history.record(end, done, None, "device-installation")
            r.status = done.value
            if partial and decision.category is not None:
                r.category = decision.category.name
                r.clause = self._clause(decision.category)
            if decision.notify_supplier:
                self.emit(end, "dcc", "SupplierNotified", {"supplier": record.supplier})
            self._migrated_key = master_key
        else:
            failed_as: FailedOutcome = (Outcome.ROLLED_BACK
                                        if outcome.status is Outcome.ROLLED_BACK
                                        else Outcome.FAILED)
            history.record(end, failed_as, outcome.reason, outcome.step)
            r.status = failed_as.value
            r.reason, r.step, r.detail = outcome.reason.code, outcome.step, outcome.detail[:300]
        r.fields = {"hours": round((end - now) / HOUR, 2)}
        self._attempt_ended(r)

    def _attempt_ended(self, r: ActionResult) -> None:
        self.emit(self.now, "dcc", "MigrationAttemptEnded",
                  {"status": r.status, "reason": r.reason, "step": r.step})

    def _clause(self, category: Any) -> str:
        try:
            return self.tmad.clause(category)
        except S1labError:
            return ""

    async def rollback(self, name: str | None = None) -> ActionResult:
        """The S1SP rolls a migrated installation back to its SMSO under the Master Key:
        keys, trust anchor and SIM (to the MGF's PreviousAPN) (TMAD 15.10.3)."""
        r = self._begin("rollback", name)
        inst = self.installation
        key = self._migrated_key
        previous = self.records[inst.id].previous_apn or ""
        if key is None:
            r.status, r.detail = "refused", "nothing to roll back: not migrated by this lab"
            return self._end(r)
        try:
            s = await self._open(self.s1sp.s1sp_headend)
        except (TransportError, SecurityError) as exc:
            r.status, r.detail = "refused", f"S1SP cannot reach the CHF: {exc}"
            return self._end(r)
        s.master_key = key
        try:
            await s.master_request(MessageType.ROLLBACK, wan.Rollback(previous, ""))
        except TransportError:
            pass  # the WAN drops as the SIM moves back
        except RemoteProtocolError as exc:
            r.status, r.reason = "error", ErrorCode(exc.code).name
            return self._end(r)
        self._sessions.clear()
        self.s1sp.keys.pop(inst.chf.eui, None)
        self._migrated_key = None
        self.emit(self.now, "s1sp", "RolledBack", {"installation": inst.id, "apn": previous})
        # The SIM reattaches to the SMSO APN after the CHF's reconnect delay.
        await sleep_us(inst.chf.reconnect_delay_us + MINUTE)
        r.status = "rolled-back"
        return self._end(r)


def _next_monday_9(now: int) -> int:
    """The next Monday 09:00 UTC strictly after the current calendar week."""
    d = to_datetime(now)
    day_start = now - (d.hour * HOUR + d.minute * MINUTE + d.second * SECOND + d.microsecond)
    monday = day_start - d.weekday() * DAY
    return monday + WEEK + 9 * HOUR


def _fields(obj: object) -> dict[str, object]:
    """A decoded WAN body as plain fields (enums by name)."""
    out: dict[str, object] = {}
    for key in getattr(obj, "__dataclass_fields__", {}) or getattr(obj, "_fields", ()):
        value = getattr(obj, key)
        if hasattr(value, "name") and not isinstance(value, str | bytes):
            value = value.name
        if isinstance(value, bytes):
            value = value.hex()
        if isinstance(value, list | tuple):
            value = list(value)
        out[key] = value
    return out


__all__ = ["ActionResult", "Lab", "LabEvent"]
