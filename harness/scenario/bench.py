"""A test case on a bench: some device roles played by physical devices on a lab radio.

``s1lab run CASE --lab LAB.yaml [--radio NAME] [--device esme=esme-lab-1]`` binds device roles
(esme, gsme, ppmid, ihd) to devices of the lab file (hw/lab.py), from the scenario's
``physical:`` mapping and the ``--device`` options (which win). :func:`plan_bench` checks the
bindings against the lab file, the DMC and the case, before anything runs: a name the lab
lacks, a device of the wrong type, an action or fault that cannot touch a physical device, or a
case that would run for hours of real time is one :class:`~emulator.errors.LabError`.

:func:`on_the_air` then runs the case's installation with the bound roles *not* emulated: the
emulated CHF (and the roles left emulated) are in memory as usual, the CHF's HAN is on the
lab's radio, and the physical devices are whitelisted with the lab's install codes and an open
join window. It waits, in real time and bounded, for each of them to join, then the case's
steps run on the real clock. What the expectations see of a physical device is what came over
the air (``Lab.registers`` reports its registers as last read over the WAN).
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulator.core.timebase import MINUTE, SECOND
from emulator.errors import LabError, TransportError
from emulator.profiles import ResolvedDmc
from emulator.wire.vocabulary import DeviceLogState, DeviceType
from harness.scenario import model
from harness.scenario.lab import Lab
from harness.scenario.result import PhysicalDevice
from hw.air import RadioAir
from hw.lab import Lab as LabFile
from hw.lab import LabDevice
from hw.radio import open_radio

#: Real time a bench run waits for its physical devices to join, by default.
JOIN_TIMEOUT_S = 60.0
#: The most scenario time a bench run may take (it is real time there), by default.
TIME_LIMIT_US = 10 * MINUTE
#: Actions that cannot run on a bench, and why.
_NOT_ON_BENCH = {
    "migrate": "a migration spans hours to weeks of scenario time",
    "rollback": "it follows a migration",
    "network_key_switch": "it waits the GSME's wake interval and more",
    "join": "it joins an emulated device added by name",
    "han_replay": "it injects captured frames into the in-memory HAN",
}
#: Faults that act on a device's model, so not on a physical device.
_DEVICE_FAULTS = frozenset({"han-outage", "loss", "counter-reset", "clock-skew", "ota-stall",
                            "ota-verify-fails", "ota-activation-fails"})


@dataclass(frozen=True)
class BenchPlan:
    """What a bench run will do: the lab radio and the roles bound to physical devices."""

    lab_path: Path
    lab: LabFile
    radio: str  # the radio's name in the lab file ("" when given as a URL)
    radio_url: str
    pan_id: int | None
    devices: tuple[PhysicalDevice, ...]
    install_codes: dict[str, bytes] = field(repr=False)  # role -> install code with CRC
    join_timeout_s: float = JOIN_TIMEOUT_S
    time_limit_us: int = TIME_LIMIT_US

    def on_air(self) -> dict[DeviceType, tuple[str, bytes]]:
        """For ``Fleet(on_air=...)``: each bound role's EUI and install code."""
        return {DeviceType[d.role.upper()]: (d.eui, self.install_codes[d.role])
                for d in self.devices}

    def repro(self, case: str, dmc: str, seed: int) -> str:
        parts = ["s1lab", "run", case, "--dmc", dmc, "--seed", str(seed), "--lab",
                 str(self.lab_path), "--radio", self.radio or self.radio_url]
        for d in self.devices:
            parts += ["--device", f"{d.role}={d.name}"]
        return shlex.join(parts)


def parse_device_option(text: str) -> tuple[str, str]:
    """``esme=esme-lab-1`` -> ("esme", "esme-lab-1"); LabError when it is not one."""
    role, sep, name = text.partition("=")
    role = role.strip().lower()
    if not sep or role not in ("esme", "gsme", "ppmid", "ihd") or not name.strip():
        raise LabError(f"--device {text!r}: write ROLE=NAME, ROLE one of esme, gsme, ppmid, "
                       "ihd and NAME a device of the lab file")
    return role, name.strip()


def scenario_span_us(scenario: model.Scenario) -> int:
    """The scenario time the case's own timeline takes: settling, waits, ``at`` offsets and
    faults' ends (actions' own durations, such as a read's round trip, are not counted)."""
    t = 0
    for action in scenario.actions:
        if action.at is not None:
            t = max(t, action.at)
        if isinstance(action, model.Wait):
            t += action.wait
    ends = [f.at + (f.for_ or 0) for f in scenario.faults]
    return scenario.start.settle + max([t, *ends])


def plan_bench(scenario: model.Scenario, dmc: ResolvedDmc, lab: LabFile, lab_path: Path, *,
               radio: str | None = None, devices: tuple[tuple[str, str], ...] = (),
               join_timeout_s: float = JOIN_TIMEOUT_S,
               time_limit_us: int = TIME_LIMIT_US) -> BenchPlan:
    """Check a bench run of ``scenario`` on ``dmc`` with ``lab`` before it starts; one
    LabError saying what is wrong."""
    where = f"{lab_path}"
    bindings: dict[str, str] = {str(k): v for k, v in scenario.physical.items()}
    bindings.update(dict(devices))
    if not bindings:
        raise LabError(f"case {scenario.id} binds no device to the lab {where}: give it a "
                       "`physical:` mapping or --device ROLE=NAME")
    names = list(bindings.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LabError(f"lab device {', '.join(twice)} is bound to two roles")
    if scenario.start.han != "zigbee":
        raise LabError(f"case {scenario.id}: physical devices need the ZigBee HAN "
                       "(start.han: zigbee)")
    has = {"esme": True, "gsme": dmc.gsme is not None, "ppmid": dmc.ppmid is not None,
           "ihd": dmc.ihd is not None}
    chosen = []
    codes: dict[str, bytes] = {}
    for role, name in sorted(bindings.items()):
        try:
            device = lab.device(name)
        except LabError as exc:
            known = ", ".join(d.name for d in lab.devices) or "none"
            raise LabError(f"{where}: {exc} (bound to {role}; it has: {known})") from None
        if device.type != role.upper():
            article = "an" if device.type[0] in "AEIOU" else "a"
            raise LabError(f"{where}: device {name} is {article} {device.type}, so it cannot be "
                           f"the case's {role}")
        if not has[role]:
            raise LabError(f"the DMC {dmc.name} has no {role} for lab device {name} to play")
        chosen.append(device)
        codes[role] = bytes.fromhex(device.install_code)
    radio_name, url, pan_id = _radio(lab, where, radio, chosen)
    physical = set(bindings)
    _check_steps(scenario, physical)
    span = scenario_span_us(scenario)
    if span > time_limit_us:
        raise LabError(f"case {scenario.id} takes {_said(span)} of scenario time, which on a "
                       f"bench is real time: over the limit of {_said(time_limit_us)} "
                       "(raise it with --time-limit, or shorten the case's waits)")
    records = tuple(PhysicalDevice(role=role, name=d.name, eui=d.eui, model=d.model,
                                   radio=radio_name, radio_url=url)
                    for (role, _), d in zip(sorted(bindings.items()), chosen, strict=True))
    return BenchPlan(lab_path, lab, radio_name, url, pan_id, records, codes, join_timeout_s,
                     time_limit_us)


def _radio(lab: LabFile, where: str, radio: str | None,
           devices: list[LabDevice]) -> tuple[str, str, int | None]:
    if radio is not None and "://" in radio:
        open_radio(radio)  # a bad URL fails here (TransportError, one line)
        return "", radio, None
    if radio is None:
        named = sorted({d.radio for d in devices if d.radio is not None})
        if len(named) == 1:
            radio = named[0]
        elif len(lab.radios) == 1:
            radio = next(iter(lab.radios))
        else:
            known = ", ".join(sorted(lab.radios)) or "none"
            raise LabError(f"{where}: which radio does the emulated CHF use? give --radio NAME "
                           f"(the lab has: {known})")
    try:
        entry = lab.radio(radio)
    except LabError as exc:
        raise LabError(f"{where}: {exc}") from None
    return radio, entry.url, entry.pan_id


def _check_steps(scenario: model.Scenario, physical: set[str]) -> None:
    if scenario.start.settle:
        raise LabError(f"case {scenario.id}: start.settle is not supported on a bench run")
    bad_mode = sorted(set(scenario.start.payment_mode) & physical)
    if bad_mode:
        raise LabError(f"case {scenario.id}: start.payment_mode sets the {bad_mode[0]}'s model, "
                       "but that role is a physical device")
    for i, action in enumerate(scenario.actions):
        why = _NOT_ON_BENCH.get(action.KIND)
        if why is not None:
            raise LabError(f"case {scenario.id}: actions[{i}]: {action.KIND} does not run on a "
                           f"bench ({why})")
        if isinstance(action, model.Firmware) and action.firmware.device in physical:
            raise LabError(f"case {scenario.id}: actions[{i}]: firmware for the "
                           f"{action.firmware.device}, a physical device (the catalogue "
                           "images are for the emulated models)")
    for i, fault in enumerate(scenario.faults):
        if fault.kind in _DEVICE_FAULTS and fault.device in physical or (
                fault.kind == "battery-flat" and "gsme" in physical):
            raise LabError(f"case {scenario.id}: faults[{i}]: a {fault.kind} fault cannot be "
                           f"injected into a physical device ({fault.device or 'gsme'})")


def _said(us: int) -> str:
    s = us / SECOND
    return f"{s / 3600:g} h" if s >= 3600 else f"{s / 60:g} min" if s >= 60 else f"{s:g} s"


@dataclass
class OnAir:
    """A bench run in progress: its radio driver and when each physical device joined."""

    plan: BenchPlan
    joined_us: dict[str, int] = field(default_factory=dict)

    def devices(self) -> tuple[PhysicalDevice, ...]:
        return tuple(replace(d, joined_us=self.joined_us.get(d.role))
                     for d in self.plan.devices)


@asynccontextmanager
async def on_the_air(lab: Lab, state: OnAir,
                     announce: Callable[[str], None] | None = None) -> AsyncIterator[RadioAir]:
    """Put ``lab``'s CHF on the plan's radio, wait (bounded) for the physical devices to
    join, and restart the case's clock (t=0) then; TransportError when one never joins."""
    plan = state.plan
    inst = lab.installation
    han = inst.han
    assert han is not None
    if plan.pan_id is not None:
        han.pan_id = plan.pan_id
    air = RadioAir(inst, open_radio(plan.radio_url), emit=inst.emit, command="s1lab run")
    await air.start()
    try:
        say = announce
        waiting = ", ".join(f"{d.role} {d.name} ({d.eui})" for d in plan.devices)
        if say is not None:
            say(f"CHF {inst.chf.eui} on radio {plan.radio or plan.radio_url} "
                f"(PAN 0x{han.pan_id:04X}); waiting up to {plan.join_timeout_s:g} s for: "
                f"{waiting}")
        lab.emit(lab.now, "harness", "BenchWaiting",
                 {"radio": plan.radio_url, "pan_id": han.pan_id, "devices": waiting})
        await _wait_joined(lab, state, say)
        lab.t0 = lab.now
        lab.snapshots["start"] = lab.snapshot()
        yield air
    finally:
        await air.stop()


async def _wait_joined(lab: Lab, state: OnAir, say: Callable[[str], None] | None) -> None:
    plan = state.plan
    log = lab.installation.chf.log
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.join_timeout_s
    while True:
        for d in plan.devices:
            entry = log.get(d.eui)
            if d.role not in state.joined_us and entry is not None and \
                    entry.state is DeviceLogState.JOINED:
                state.joined_us[d.role] = lab.now
                lab.emit(lab.now, "harness", "BenchDeviceJoined",
                         {"role": d.role, "name": d.name, "eui": d.eui})
                if say is not None:
                    say(f"joined: {d.role} {d.name} ({d.eui})")
        missing = [d for d in plan.devices if d.role not in state.joined_us]
        if not missing:
            return
        if loop.time() >= deadline:
            names = ", ".join(f"{d.role} {d.name} ({d.eui})" for d in missing)
            lab.emit(lab.now, "harness", "BenchJoinTimeout", {"missing": names})
            pan = lab.installation.han.pan_id if lab.installation.han else 0
            raise TransportError(
                f"physical device(s) did not join within {plan.join_timeout_s:g} s on radio "
                f"{plan.radio or plan.radio_url} (PAN 0x{pan:04X}): {names}; are they powered, "
                "in range and set to join that PAN with the lab file's install code?")
        await asyncio.sleep(0.1)


__all__ = ["JOIN_TIMEOUT_S", "TIME_LIMIT_US", "BenchPlan", "OnAir", "on_the_air",
           "parse_device_option", "plan_bench", "scenario_span_us"]
