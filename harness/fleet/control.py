"""Fleet commands: what the MQTT control plane asks of installations, without the MQTT.

A command is a JSON object ``{"id": ..., "op": ..., ...}`` aimed at a target: an installation
id (``i00042``), ``all``, or a shard (``shard-2``). :meth:`Controller.handle` answers each one
with a reply object and never raises: a payload that is not a command, an unknown operation, a
bad fault spec or an installation of no shard all get ``{"ok": false, "error": {...}}``.
docs/mqtt.md is the reference; docs/schemas/mqtt/ holds a JSON Schema per message.

Operations: ``fault`` (a ``--fault`` spec, applied from now), ``clear`` (a fault kind, on one
device or all), ``supply`` (enable, disable, arm a meter's supply as the head-end would),
``topup`` (the consumer keys in a UTRN: given, or minted for ``pence`` with the meter's key),
``read`` (the installation's state), ``ping``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator import Installation, Scheduler
from emulator.core.prepayment import PrepaymentMeter
from emulator.core.timebase import isoformat
from emulator.core.utrn import generate_utrn
from emulator.drivers.scheduler import Slot
from emulator.errors import FleetError, S1labError
from emulator.faults import OTA_FAULTS
from emulator.wire.vocabulary import SupplyAction
from harness.faults import KINDS, Fault, check_target, fault_action, parse_fault
from harness.fleet.plan import FleetPlan, installation_id
from harness.jsonable import jsonable

OPS = ("fault", "clear", "supply", "topup", "read", "ping")
GROUP_ALL = "all"
#: UTRNs the control plane mints count from here, clear of a head-end's own sequence.
CONTROL_UTRN_BASE = 1 << 23
_DEVICES = ("esme", "gsme", "ppmid", "ihd")


Reply = dict[str, object]
Emit = Callable[[int, str, str, str, dict[str, object]], None]


@dataclass
class _Faults:
    """What the control plane has armed on one installation (so it can clear it)."""

    pending: list[tuple[Fault, Slot]] = field(default_factory=list)
    utrn_counter: int = CONTROL_UTRN_BASE


class Controller:
    """Carries out commands on this shard's installations."""

    def __init__(self, plan: FleetPlan, installations: Mapping[str, Installation],
                 scheduler: Scheduler, emit: Emit) -> None:
        self.plan = plan
        self.installations = installations
        self.scheduler = scheduler
        self._emit = emit
        self._faults: dict[str, _Faults] = {}
        self.handled = 0
        self.errors = 0

    # ---- entry point -------------------------------------------------------------------

    def handle(self, target: str, payload: bytes) -> list[Reply]:
        """Replies to one command on ``target`` (none when another shard owns the target)."""
        self.handled += 1
        kind = self._classify(target)
        if kind == "other":
            return []
        base: Reply = {"id": None, "target": target, "shard": str(self.plan.shard)}
        try:
            command = _parse(payload)
        except FleetError as exc:
            self.errors += 1
            return [{**base, "ok": False, "error": {"code": exc.code, "message": str(exc)}}]
        base["id"] = command.get("id")
        base["op"] = command.get("op")
        if kind == "group":
            results = [self._one(inst_id, command) for inst_id in self.installations]
            ok = all(r["ok"] for r in results)
            self.errors += not ok
            return [{**base, "ok": ok, "results": results}]
        if kind == "unknown":
            self.errors += 1
            return [{**base, "ok": False, "installation": target, "error": {
                "code": "unknown-installation",
                "message": f"no installation or group {target!r} in this fleet (installations "
                           f"i00001..{installation_id(self.plan.total)}, groups all, "
                           f"shard-1..shard-{self.plan.shard.count})"}}]
        reply = self._one(target, command)
        self.errors += not reply["ok"]
        return [{**base, **reply}]

    def _classify(self, target: str) -> str:
        """``mine`` (an installation of this shard), ``group`` (all, this shard), ``other``
        (another shard answers), ``unknown`` (nobody's: shard 1 answers, once)."""
        number = self.plan.number_of(target)
        if number is not None:
            return "mine" if self.plan.owns(number) else "other"
        if target in (GROUP_ALL, f"shard-{self.plan.shard.index}"):
            return "group"
        if target.startswith("shard-") and target[6:].isdigit() and (
                1 <= int(target[6:]) <= self.plan.shard.count) and target[6] != "0":
            return "other"
        return "unknown" if self.plan.shard.index == 1 else "other"

    def _one(self, inst_id: str, command: dict[str, Any]) -> Reply:
        inst = self.installations[inst_id]
        try:
            result = self._run(inst, command)
        except FleetError as exc:
            return {"installation": inst_id, "ok": False,
                    "error": {"code": exc.code, "message": str(exc)}}
        except S1labError as exc:  # e.g. no such device on this HAN, a bad fault spec
            return {"installation": inst_id, "ok": False,
                    "error": {"code": "failed", "message": str(exc)}}
        return {"installation": inst_id, "ok": True, "result": result}

    # ---- operations --------------------------------------------------------------------

    def _run(self, inst: Installation, command: dict[str, Any]) -> dict[str, object]:
        op = command["op"]
        now = self.scheduler.clock.now_us()
        if op == "ping":
            return {"now": isoformat(now)}
        if op == "read":
            return self.state(inst)
        if op == "fault":
            return self._fault(inst, _text(command, "spec"), now)
        if op == "clear":
            return self._clear(inst, _text(command, "kind"), command.get("device"), now)
        if op == "supply":
            meter = _meter(inst, command.get("device", "esme"))
            action = _text(command, "action").upper()
            if action not in SupplyAction.__members__:
                raise _error("bad-argument", f"supply action {action.lower()!r}: "
                                   "enable, disable or arm")
            state = meter.set_supply(SupplyAction[action], now)
            inst.core.after_command(now)
            inst.sync_timer()
            return {"device": meter.eui, "supply_state": state.name}
        if op == "topup":
            return self._topup(inst, command, now)
        raise _error("unknown-op", f"unknown op {op!r} (one of {', '.join(OPS)})")

    def _fault(self, inst: Installation, spec: str, now: int) -> dict[str, object]:
        try:
            fault = parse_fault(spec)
        except S1labError as exc:
            raise _error("bad-fault", str(exc)) from None
        if fault.installation is not None:
            raise _error("bad-fault", f"{spec!r}: the topic names the installation; "
                               "drop the #N")
        start = now + fault.start_us
        if fault.kind == "link-down":
            inst.link_down(fault.device, start, start + fault.duration_us)
            inst.sync_timer()
            return {"fault": fault.kind, "device": fault.device, "start": isoformat(start),
                    "end": isoformat(start + fault.duration_us)}
        if fault.kind == "battery-flat" and inst.gsme is None:
            raise _error("failed", "this installation has no GSME")
        check_target(fault, inst)  # a bad device fails now, not later
        slot = self.scheduler.call_at(start, fault_action(fault, inst))
        state = self._faults.setdefault(inst.id, _Faults())
        state.pending = [(f, s) for f, s in state.pending if s.deadline is not None]
        state.pending.append((fault, slot))
        return {"fault": fault.kind, "device": fault.device, "start": isoformat(start)}

    def _clear(self, inst: Installation, kind: str, device: object,
               now: int) -> dict[str, object]:
        if kind not in KINDS:
            raise _error("bad-argument", f"fault kind {kind!r}: one of {', '.join(KINDS)}")
        if device is not None and not isinstance(device, str):
            raise _error("malformed", "device is a string (esme, gsme, ...)")
        names = [device] if device else [d for d in _DEVICES if _has(inst, d)]
        cancelled = 0
        state = self._faults.get(inst.id)
        if state is not None:
            keep = []
            for fault, slot in state.pending:
                if slot.deadline is None:
                    continue  # it has fired: what it did is undone below
                if fault.kind == kind and (device is None or fault.device == device):
                    slot.cancel()
                    cancelled += 1
                else:
                    keep.append((fault, slot))
            state.pending = keep
        undone: list[str] = []
        if kind == "link-down":
            for name in names:
                if inst.han is None:
                    eui = _device(inst, name).eui
                    if inst.core.direct_outages.pop(eui, None):
                        undone.append(name)
                elif name != "chf":
                    link = inst.han_node(name).link
                    if link.outages:
                        link.outages.clear()
                        undone.append(name)
        elif kind == "loss" and inst.han is not None:
            for name in names:
                link = inst.han_node(name).link
                if link.loss:
                    link.loss = 0.0
                    undone.append(name)
        elif kind == "battery-flat" and inst.gsme is not None and inst.gsme.battery_flat:
            inst.gsme.battery_flat = False
            undone.append("gsme")
        elif kind in OTA_FAULTS and inst.ota is not None:
            for name, eui in _ota_devices(inst):
                if device in (None, name, eui) and inst.ota.imposed(eui) == OTA_FAULTS[kind]:
                    inst.ota_failure(name, None)
                    undone.append(name)
        elif kind == "clock-skew" and not cancelled:
            for name in names:
                if name in ("esme", "gsme"):
                    meter = _meter(inst, name)
                    if meter.meter_time(now) != now:
                        meter.set_time(now, now)
                        undone.append(name)
        inst.sync_timer()
        self._emit(now, inst.id, inst.chf.eui, "FaultCleared",
                   {"fault": kind, "devices": undone, "cancelled": cancelled})
        return {"fault": kind, "cleared": undone, "cancelled_pending": cancelled}

    def _topup(self, inst: Installation, command: dict[str, Any], now: int) -> dict[str, object]:
        meter = _meter(inst, command.get("device", "esme"))
        utrn = command.get("utrn")
        if utrn is None:
            pence = command.get("pence")
            if not isinstance(pence, int) or isinstance(pence, bool) or not 0 < pence < 1 << 20:
                raise _error("bad-argument", "topup needs utrn (20 digits) or pence "
                                   "(a whole number, 1..1048575)")
            state = self._faults.setdefault(inst.id, _Faults())
            state.utrn_counter += 1
            utrn = generate_utrn(inst.keys.prepayment_key, meter.eui, state.utrn_counter, pence)
        if not isinstance(utrn, str):
            raise _error("malformed", "utrn is a string of 20 digits")
        outcome = meter.top_up(utrn, now)
        inst.core.after_command(now)
        inst.sync_timer()
        return {"device": meter.eui, "utrn": utrn, **_plain(jsonable(outcome))}

    def state(self, inst: Installation) -> dict[str, object]:
        now = self.scheduler.clock.now_us()
        state: dict[str, object] = {
            "installation": inst.id,
            "chf_eui": inst.chf.eui,
            "time": isoformat(now),
            "wan_available": inst.wan_available(now),
            "sessions_open": len(inst.channels),
            "sessions_opened": inst.sessions_opened,
            "frames_served": inst.frames_served,
            "esme": _plain(jsonable(inst.esme.registers(now))),
        }
        if inst.gsme is not None:
            gas = _plain(jsonable(inst.gsme.registers(now)))
            gas["battery_flat"] = inst.gsme.battery_flat
            state["gsme"] = gas
        han: dict[str, object] = {}
        if inst.han is not None:
            for name in _DEVICES:
                if _has(inst, name):
                    link = inst.han_node(name).link
                    han[name] = {"loss": link.loss, "down_now": link.down_at(now),
                                 "outages": [[isoformat(s), isoformat(e)]
                                             for s, e in link.outages]}
        state["han"] = han
        if inst.ota is not None:
            imposed = {name: inst.ota.imposed(eui) for name, eui in _ota_devices(inst)}
            state["ota_faults"] = {name: mode for name, mode in imposed.items() if mode}
        pending = self._faults.get(inst.id)
        state["pending_faults"] = [
            {"fault": f.kind, "device": f.device, "at": isoformat(s.deadline)}
            for f, s in (pending.pending if pending else []) if s.deadline is not None]
        return state


def _error(code: str, message: str) -> FleetError:
    return FleetError(message, code)


def _parse(payload: bytes) -> dict[str, Any]:
    try:
        command = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _error("malformed", f"not JSON: {exc}") from None
    if not isinstance(command, dict):
        raise _error("malformed", "a command is a JSON object")
    cid = command.get("id")
    if cid is not None and not isinstance(cid, str | int) or isinstance(cid, bool):
        raise _error("malformed", "id is a string or an integer")
    op = command.get("op")
    if not isinstance(op, str):
        raise _error("malformed", "a command has an op (string): "
                           + ", ".join(OPS))
    if op not in OPS:
        raise _error("unknown-op", f"unknown op {op!r} (one of {', '.join(OPS)})")
    return command


def _text(command: dict[str, Any], name: str) -> str:
    value = command.get(name)
    if not isinstance(value, str) or not value:
        raise _error("malformed", f"{command['op']} needs {name} (a string)")
    return value


def _ota_devices(inst: Installation) -> list[tuple[str, str]]:
    """(name, EUI) of the CHF and each device that takes OTA images on this installation."""
    assert inst.ota is not None
    named = [("chf", inst.chf.eui)] + [(n, _device(inst, n).eui) for n in _DEVICES if _has(inst, n)]
    return [(name, eui) for name, eui in named if inst.ota.takes_images(eui)]


def _has(inst: Installation, name: str) -> bool:
    devices = inst.core.devices
    return getattr(devices, name) is not None


def _device(inst: Installation, name: str) -> Any:
    if name not in _DEVICES or not _has(inst, name):
        raise _error("bad-argument", f"no device {name!r} in this installation")
    return getattr(inst.core.devices, name)


def _meter(inst: Installation, name: object) -> PrepaymentMeter:
    if name not in ("esme", "gsme"):
        raise _error("bad-argument", f"device {name!r}: a meter, esme or gsme")
    meter = _device(inst, str(name))
    assert isinstance(meter, PrepaymentMeter)
    return meter


def _plain(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


