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
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from emulator.core.han import HanNode
from emulator.core.han_crypto import install_code_crc, install_code_link_key
from emulator.core.headend_commands import ON_COMMAND
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
from emulator.faults import OTA_FAULTS
from emulator.firmware import manifest, shipped_image
from emulator.fleet import Fleet
from emulator.installation import Installation
from emulator.keystore import ChfKeys
from emulator.pki import derive_key, mint_ca, mint_leaf
from emulator.profiles import ResolvedDmc, load_dmc
from emulator.trace import Trace
from emulator.wire import wan
from emulator.wire.eui import eui_from_str, eui_to_str, normalise
from emulator.wire.ieee802154 import parse_mac
from emulator.wire.ota_image import Tag, parse_image, version_code
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceType,
    ErrorCode,
    FirmwareTransferState,
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
from harness.migration.prework import Prework
from harness.migration.reasons import Reason
from harness.migration.rules import (
    Action,
    Decision,
    communicating,
    evaluate,
    resolve_duplicate_mpxn,
    validate_record,
)
from harness.migration.run import (
    PRE_WORK_FAULTS,
    device_fault_problem,
    drive_prework,
    finish_prework,
    needs_prework,
    new_prework,
)
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
_FW_FINAL = frozenset({FirmwareTransferState.ACTIVATED, FirmwareTransferState.REFUSED,
                       FirmwareTransferState.FAILED})


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
                 installations: int | None = None, capture: HanCapture | None = None,
                 tmad: str | None = None,
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
        self.fleet = Fleet(dmc, installations or self.start.installations, seed, self.scheduler,
                           self.trace, han=self.start.han, capture=capture, on_air=on_air or None,
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
        #: action name -> installation number (1-based) -> its registers right after it
        self.snapshots: dict[str, dict[int, dict[str, object]]] = {}
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
        self._target = 0  # the installation actions address (index into the fleet)
        self._secured_frames: dict[str, list[bytes]] = {}
        self._prework_faults: dict[str, set[str]] = {
            inst.id: set() for inst in self.fleet.installations}
        self._prework_done: set[str] = (  # start.prework: done -> finished before t=0
            {inst.id for inst in self.fleet.installations} if self.start.prework == "done"
            else set())
        self._prework_decisions: dict[str, Decision] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="s1lab-lab-")
        self._counter = 0
        self._migrated_key: dict[str, bytes] = {}
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
            lab.snapshots["start"] = lab.snapshot()
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
                    kept = self._secured_frames.setdefault(inst.id, [])
                    kept.append(frame)
                    del kept[:-8]
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
        """The installation actions and expectations address now (1 unless :meth:`select`)."""
        return self.fleet.installations[self._target]

    @property
    def installation_number(self) -> int:
        return self._target + 1

    def select(self, number: int) -> None:
        """Address installation ``number`` (1-based) from now on."""
        if not 1 <= number <= len(self.fleet.installations):
            raise LocalProtocolError(f"installation {number}: the lab has "
                                     f"{len(self.fleet.installations)} (1-based)")
        self._target = number - 1

    @contextmanager
    def on(self, number: int) -> Iterator[Lab]:
        """``with lab.on(2): await lab.read()``: address installation ``number`` inside."""
        before = self._target
        self.select(number)
        try:
            yield self
        finally:
            self._target = before

    def snapshot(self) -> dict[int, dict[str, object]]:
        """Every installation's registers now, by installation number."""
        return {i + 1: self.registers(inst) for i, inst in enumerate(self.fleet.installations)}

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

    def firmware_versions(self) -> dict[str, str]:
        """The version each device of the installation runs now, read from its core."""
        inst = self.installation
        d = inst.core.devices
        out = {"chf": inst.chf.firmware_version, "esme": inst.esme.firmware_version}
        for key, core in (("gsme", inst.gsme), ("ppmid", d.ppmid), ("ihd", d.ihd)):
            if core is not None:
                out[key] = core.firmware_version
        return out

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
        """An open session of ``role`` to the addressed CHF (reused while it stays open)."""
        key = f"{self._target}:{role}"
        s = self._sessions.get(key)
        if s is not None and s.is_open:
            return s
        s = await self._open(self.headend(role))
        self._sessions[key] = s
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
        self.snapshots[r.name] = self.snapshot()
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
        frames = self._secured_frames.get(self.installation.id)
        if han is None or not frames:
            r.status, r.detail = "refused", "no secured HAN frame captured yet"
            return self._end(r)
        accepted = han.receive(frames[-1], han.chf, self.now)
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

    async def firmware(self, device: str = "esme", image: str = "newer",
                       tamper: str | None = None, allow_downgrade: bool = False,
                       within_us: int = 2 * DAY, poll_us: int = 15 * MINUTE,
                       role: str = "smso", name: str | None = None) -> ActionResult:
        """An OTA firmware update: the head-end checks the version the device runs, sends the
        image (``image``: see :class:`model.FirmwareArgs`) to the CHF, which offers it over
        the HAN; once the device has downloaded and verified it, the head-end activates it
        and reads the transfer every ``poll_us`` until it is over or ``within_us`` has passed.

        ``status``: ``activated``; ``rejected`` with ``reason`` DOWNGRADE, WRONG_MANUFACTURER,
        WRONG_IMAGE_TYPE, WRONG_HARDWARE, BAD_SIGNATURE, BAD_INTEGRITY or INVALID_IMAGE (``step``
        ``head-end``, ``chf`` or ``device``: who refused); ``failed`` with ACTIVATION_FAILED,
        DEVICE_UNREACHABLE (never took a block) or TIMEOUT. ``fields``: ``old_version``,
        ``new_version`` (what it runs after), ``image_version``, ``image``, ``bytes``."""
        async def go(s: HeadEndSession, r: ActionResult) -> None:
            inst = self.installation
            target = None if device == "chf" else self.device_eui(device)
            eui = inst.chf.eui if target is None else target
            old = await self._running(s, eui)
            file_name, raw, own = self._firmware_image(device, image, old)
            version = parse_image(raw).header.file_version
            r.fields = {"old_version": old, "new_version": old, "image": file_name,
                        "image_version": f"{version >> 24}.{version >> 16 & 0xFF}."
                                         f"{version >> 8 & 0xFF}", "bytes": 0}
            if own and old and version < version_code(old) and not allow_downgrade:
                r.status, r.reason, r.step = "rejected", "DOWNGRADE", "head-end"
                r.detail = f"the head-end sends no older image ({r.fields['image_version']} " \
                           f"< {old}) unless allow_downgrade"
                return
            raw = _tampered(raw, tamper)
            t = await s.distribute_firmware(target, raw, ON_COMMAND)
            deadline, activated = self.now + within_us, False
            while t.state not in _FW_FINAL:
                if t.state is FirmwareTransferState.DOWNLOADED and not activated:
                    t, activated = await s.activate_firmware(target, 0), True
                    continue
                if self.now >= deadline:
                    break
                await sleep_us(poll_us)
                s = await self.session(role)
                t = await s.read_firmware_transfer(target)
            r.fields["bytes"] = t.offset
            r.fields["new_version"] = await self._running(s, eui)
            r.fields["state"] = t.state.name.lower()
            r.detail = t.reason
            if t.state is FirmwareTransferState.ACTIVATED:
                r.status = "activated"
            elif t.state is FirmwareTransferState.REFUSED:
                said = "; ".join(x for x in (t.reason, *self._device_said(eui, r.started_us))
                                 if x)
                r.status, r.reason = "rejected", _firmware_reason(t.ota_status, said)
                # 0x98 NO_IMAGE_AVAILABLE: the CHF did not offer it; the CHF's own image: it
                r.step = "chf" if t.ota_status == 0x98 or target is None else "device"
                r.detail = said
            elif t.state is FirmwareTransferState.FAILED:
                r.status, r.reason, r.step = "failed", "ACTIVATION_FAILED", "activation"
            else:
                r.status, r.step = "failed", t.state.name.lower()
                r.reason = ("DEVICE_UNREACHABLE" if t.state is FirmwareTransferState.OFFERED
                            and t.offset == 0 else "TIMEOUT")

        return await self._command("firmware", name, role, go)

    async def _running(self, s: HeadEndSession, eui: str) -> str:
        fw = await s.read_firmware_versions()
        found = {eui_to_str(e.eui): e.version for e in fw.entries}
        return found.get(normalise(eui), "")

    def _device_said(self, eui: str, since: int) -> list[str]:
        """Why the device refused an image, from its trace since ``since``."""
        return [str(e.fields.get("reason", "")) for e in self.events
                if e.us >= since and e.device == eui and e.event == "OtaImageInvalid"]

    def _firmware_image(self, device: str, image: str, running: str,
                        ) -> tuple[str, bytes, bool]:
        """The catalogue image ``image`` names for ``device`` of this DMC (firmware_images/):
        its file name, bytes, and whether it is for the device's own model."""
        model_name = getattr(self.dmc.dmc, device, None)
        if model_name is None:
            raise LocalProtocolError(f"the DMC {self.dmc.name} has no {device}")
        rows = manifest()
        mine = [r for r in rows if r["target_model"] == model_name]
        code = version_code(running) if running else 0
        if image == "newer":
            pick = sorted((r for r in mine if version_code(r["version"]) > code),
                          key=lambda r: version_code(r["version"]))[:1]
        elif image == "older":
            pick = sorted((r for r in mine if version_code(r["version"]) < code),
                          key=lambda r: version_code(r["version"]))[-1:]
        elif image == "foreign":
            kind = mine[0]["device_kind"] if mine else device
            pick = sorted((r for r in rows if r["device_kind"] == kind
                           and r["target_model"] != model_name),
                          key=lambda r: (r["target_model"], version_code(r["version"])))[-1:]
        elif image.endswith(".ota"):
            pick = [r for r in rows if r["file"] == image]
        else:
            pick = [r for r in mine if r["version"] == image]
        if not pick:
            raise LocalProtocolError(f"firmware: no catalogue image {image!r} for the {device} "
                                     f"({model_name}, running {running or 'unknown'})")
        chosen = pick[0]
        return (chosen["file"], shipped_image(chosen["file"]),
                chosen["target_model"] == model_name)

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
        """Arm ``fault`` at its time (offset from t=0) on its installation (``installation``,
        1-based)."""
        number = fault.installation
        if not 1 <= number <= len(self.fleet.installations):
            raise LocalProtocolError(f"fault {fault.kind}: installation {number}, the lab has "
                                     f"{len(self.fleet.installations)}")
        self._arm(fault, self.fleet.installations[number - 1], self.t0 + fault.at)

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
        elif kind in PRE_WORK_FAULTS:
            problem = device_fault_problem(kind, inst, self.records[inst.id])
            if problem is not None:
                raise LocalProtocolError(f"{kind}: {problem}")
            self._prework_faults[inst.id].add(kind)
        elif kind == "duplicate-mpxn":
            self._share_mpxn(inst)
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
            if kind in OTA_FAULTS:
                inst.ota_target(f.device or "")  # a device that takes no images: fail now
            if kind == "battery-flat" and inst.gsme is None:
                raise LocalProtocolError(f"battery-flat: the DMC {self.dmc.name} has no GSME")
            self.scheduler.call_at(max(start, self.now), self._later(f, inst, end))
            return
        self.emit(self.now, "harness", "FaultInjected", detail)

    def _share_mpxn(self, inst: Installation) -> None:
        """The installation's ESME gets the MPAN of the installation before it (the first:
        of the second): a duplicate MPxN in the DCC inventory (TMAD 4.1C)."""
        installs = self.fleet.installations
        if len(installs) < 2:
            raise LocalProtocolError("duplicate-mpxn needs a second installation "
                                     "(start.installations: 2)")
        index = installs.index(inst)
        other = self.records[installs[index - 1 if index else 1].id].esme
        assert other is not None
        record = self.records[inst.id]
        devices = tuple(replace(d, mpxn=other.mpxn) if d.device_type is DeviceType.ESME else d
                        for d in record.devices)
        self.records[inst.id] = replace(record, devices=devices)

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
            elif f.kind in OTA_FAULTS:
                inst.ota_failure(f.device or "", f.kind)
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
        if needs_prework(self.records[inst.id]) and inst.id not in self._prework_done:
            await self._prework(inst, r)
        for n in range(attempts):
            if n:
                await sleep_until(_next_monday_9(self.now))
            await self._attempt(inst, r)
            r.attempts = n + 1
            if r.status in TERMINAL:
                break
        return self._end(r)

    async def _prework(self, inst: Installation, r: ActionResult) -> None:
        """The TMAD 4.26 dormant pre-work on the DCC's instruction, now (the migration run's
        own code: :mod:`harness.migration.prework`, :func:`harness.migration.run.drive_prework`);
        its failed instructions go into the history the rules read."""
        self._prework_done.add(inst.id)
        record = self.records[inst.id]
        pre: dict[str, Prework] = {inst.id: new_prework(record, self.now)}
        ended: list[Prework] = []

        def done(key: str, p: Prework) -> None:
            ended.append(p)
            decision = finish_prework(inst, self.records[key], p, self.histories[key],
                                      self.emit)
            if decision is not None:
                self._prework_decisions[key] = decision

        await drive_prework(pre, {inst.id: inst}, self._prework_faults, self.emit, done)
        p = ended[0]
        await sleep_until(max(self.now, p.ended_us))
        failed = [i for i in p.instructions if not i.ok]
        r.fields.update({
            "prework_attempts": len(p.attempts), "prework_failed_instructions": len(failed),
            "prework_esme_ok": p.ok(DeviceType.ESME),
            "prework_gsme_ok": record.gsme is None or p.ok(DeviceType.GSME),
            "prework_reason": failed[-1].reason.code if failed and failed[-1].reason else "",
            "prework_hours": round((p.ended_us - p.start_us) / HOUR, 2)})

    def _decide(self, inst: Installation, now: int) -> tuple[Decision, bool]:
        """As the migration run decides: the duplicate-MPxN sets (TMAD 4.1C, on each CHF's WAN
        contact now), then the pre-work's partial decision, then the rules; and whether the
        installation is in a duplicate set."""
        for other in self.fleet.installations:
            talks = communicating(other.chf.last_wan_attached(now), now)
            if self.records[other.id].communicating != talks:
                self.records[other.id] = replace(self.records[other.id], communicating=talks)
        duplicates = resolve_duplicate_mpxn(self.records.values())
        decision = (duplicates.get(inst.id) or self._prework_decisions.get(inst.id)
                    or evaluate(self.records[inst.id], self.histories[inst.id], self.epcl))
        return decision, inst.id in duplicates

    async def _attempt(self, inst: Installation, r: ActionResult) -> None:
        now = self.now
        history = self.histories[inst.id]
        r.reason = r.step = r.category = r.clause = r.detail = ""
        decision, duplicate = self._decide(inst, now)
        record = self.records[inst.id]
        if duplicate and decision.action is Action.RETRY:
            # 4.1C did not clear it and a meter is active: its supplier must clear the data
            history.record(now, Outcome.FAILED, Reason.DUPLICATE_MPXN, "4.1C")
            r.status, r.reason, r.step = "failed", Reason.DUPLICATE_MPXN.code, "4.1C"
            r.detail = decision.rule
            self._attempt_ended(r)
            return
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
        issues = [i for i in validate_record(record, list(self.records.values()), now)
                  if not (i is Reason.DUPLICATE_MPXN and duplicate)]
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
        excluded = tuple(d.eui for d in record.devices
                         if d.device_type in decision.excluded_devices) if partial else ()
        outcome = await self.s1sp.install(
            inst, group_id=self.group_id, device_certificate=self.fleet.chf_certificate(inst),
            master_key=master_key, previous_apn=record.previous_apn or "", released_at=now,
            deregister=excluded, prepayment=self.dco.prepayment(inst.id))
        end = self.now
        self._drop_sessions()  # the WAN dropped or the owner changed
        if outcome.reason is None:
            done: OtherOutcome = Outcome.PARTIAL if partial else Outcome.MIGRATED
            history.record(end, done, None, "device-installation")
            r.status = done.value
            if partial and decision.category is not None:
                r.category = decision.category.name
                r.clause = self._clause(decision.category)
            if decision.notify_supplier:
                self.emit(end, "dcc", "SupplierNotified", {"supplier": record.supplier})
            self._migrated_key[inst.id] = master_key
        else:
            failed_as: FailedOutcome = (Outcome.ROLLED_BACK
                                        if outcome.status is Outcome.ROLLED_BACK
                                        else Outcome.FAILED)
            history.record(end, failed_as, outcome.reason, outcome.step)
            r.status = failed_as.value
            r.reason, r.step, r.detail = outcome.reason.code, outcome.step, outcome.detail[:300]
        r.fields["hours"] = round((end - now) / HOUR, 2)
        self._attempt_ended(r)

    def _drop_sessions(self) -> None:
        """Forget the addressed installation's sessions (its WAN dropped or owner changed)."""
        for key in [k for k in self._sessions if k.startswith(f"{self._target}:")]:
            del self._sessions[key]

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
        key = self._migrated_key.get(inst.id)
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
        self._drop_sessions()
        self.s1sp.keys.pop(inst.chf.eui, None)
        self._migrated_key.pop(inst.id, None)
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


def _tampered(raw: bytes, how: str | None) -> bytes:
    """The image with one byte flipped: in its signature (``signature``) or in the upgrade
    image itself (``payload``: the integrity code no longer matches)."""
    if how is None:
        return raw
    image = parse_image(raw)
    element = image.element(Tag.S1LAB_P256_SIGNATURE if how == "signature"
                            else Tag.UPGRADE_IMAGE)
    if element is None:
        raise LocalProtocolError(f"firmware: the image has no element to tamper ({how})")
    at = element.offset + 6 + len(element.data) // 2  # past the tag and length
    return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1:]


def _firmware_reason(ota_status: int, said: str) -> str:
    """A refused transfer's reason word from its OTA status and what the CHF/device said."""
    text = said.lower()
    if ota_status == 0x95 or "downgrade" in text:
        return "DOWNGRADE"
    for words, reason in ((("manufacturer",), "WRONG_MANUFACTURER"),
                          (("image type",), "WRONG_IMAGE_TYPE"), (("hardware",), "WRONG_HARDWARE"),
                          (("signature", "signer"), "BAD_SIGNATURE"),
                          (("integrity",), "BAD_INTEGRITY")):
        if any(w in text for w in words):
            return reason
    return "INVALID_IMAGE"


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
