"""Fault specs for the command line and scenarios.

    link-down:DEVICE@START+DURATION     the device's HAN link is down for DURATION from START
    loss:DEVICE=P                        each HAN transmission to/from DEVICE is lost with P
    battery-flat[@START]                 the GSME's battery is flat from START (it stops polling)
    counter-reset:DEVICE@START           DEVICE resets its NWK frame counter at START
    clock-skew:DEVICE=SECONDS[@START]    DEVICE's clock jumps by SECONDS at START
    ota-stall:DEVICE[@START]             DEVICE's OTA downloads stall (at stall_at_percent)
    ota-verify-fails:DEVICE[@START]      DEVICE refuses each image it downloads (verification)
    ota-activation-fails:DEVICE[@START]  DEVICE fails to activate a new image, runs its old one

DEVICE is esme, gsme, ppmid, ihd (or an EUI-64), and for the ota- faults also chf; the ota-
faults need the ZigBee HAN (OTA is not modelled on the direct link). START and DURATION are
durations from the start of the run: 90s, 30m, 73h, 2d (a bare number is seconds). Append #N
to aim at installation N only (1-based); without it the fault applies to every installation.
Example: ``--fault link-down:gsme@1h+73h#2 --fault loss:esme=0.2``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from emulator import Installation, Scheduler
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND
from emulator.errors import FaultSpecError
from emulator.faults import OTA_FAULTS

KINDS = ("link-down", "loss", "battery-flat", "counter-reset", "clock-skew", *OTA_FAULTS)
_UNITS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY}
_SPEC = re.compile(
    r"^(?P<kind>[a-z-]+)(?::(?P<device>[\w:-]+?))?(?:=(?P<value>[-+]?[\d.]+))?"
    r"(?:@(?P<start>[\d.]+[smhd]?))?(?:\+(?P<duration>[\d.]+[smhd]?))?(?:#(?P<inst>\d+))?$"
)


#: The largest start, duration or clock skew a fault may name: ten years (a longer one is a
#: typo, and would carry clocks past what the wire's fields hold).
MAX_FAULT_S = 10 * 366 * 86_400


def parse_duration(text: str) -> int:
    unit = _UNITS.get(text[-1])
    number = text[:-1] if unit is not None else text
    try:
        us = float(number) * (unit or SECOND)
    except ValueError:
        raise FaultSpecError(f"not a duration: {text!r} (use 90s, 30m, 73h, 2d)") from None
    if not 0 <= us <= MAX_FAULT_S * SECOND:  # NaN fails this too
        raise FaultSpecError(f"duration {text!r} is not between 0 and 10 years")
    return round(us)


@dataclass(frozen=True)
class Fault:
    kind: str
    device: str = ""
    value: float = 0.0
    start_us: int = 0
    duration_us: int = 0
    installation: int | None = None  # 1-based; None = all

    def describe(self) -> str:
        """The fault in words for a summary (``link-down:gsme``, ``loss:esme=0.2``)."""
        text = self.kind + (f":{self.device}" if self.device else "")
        return text + (f"={self.value:g}" if self.kind in ("loss", "clock-skew") else "")

    def applies_to(self, index: int) -> bool:
        return self.installation is None or self.installation == index + 1


def parse_fault(spec: str) -> Fault:
    m = _SPEC.match(spec.strip())
    if m is None or m["kind"] not in KINDS:
        raise FaultSpecError(
            f"bad fault {spec!r}: expected one of {', '.join(KINDS)}, e.g. link-down:gsme@1h+73h")
    kind, device = m["kind"], (m["device"] or "")
    if kind in ("link-down", "loss", "counter-reset", "clock-skew", *OTA_FAULTS) and not device:
        raise FaultSpecError(f"bad fault {spec!r}: {kind} needs a device (esme, gsme, ...)")
    if kind == "link-down" and not m["duration"]:
        raise FaultSpecError(f"bad fault {spec!r}: link-down needs +DURATION")
    if kind in ("loss", "clock-skew") and m["value"] is None:
        raise FaultSpecError(f"bad fault {spec!r}: {kind} needs =VALUE")
    if kind not in ("loss", "clock-skew") and m["value"] is not None:
        raise FaultSpecError(f"bad fault {spec!r}: {kind} takes no =VALUE")
    value = float(m["value"]) if m["value"] is not None else 0.0
    if kind == "loss" and not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"bad fault {spec!r}: a loss rate is between 0 and 1")
    if kind == "clock-skew" and not -MAX_FAULT_S <= value <= MAX_FAULT_S:
        raise FaultSpecError(f"bad fault {spec!r}: a clock skew is at most 10 years "
                             f"({MAX_FAULT_S} s) either way")
    if m["inst"] is not None and int(m["inst"]) < 1:
        raise FaultSpecError(f"bad fault {spec!r}: installations are numbered from #1")
    return Fault(
        kind=kind, device=device if kind != "battery-flat" else "gsme", value=value,
        start_us=parse_duration(m["start"]) if m["start"] else 0,
        duration_us=parse_duration(m["duration"]) if m["duration"] else 0,
        installation=int(m["inst"]) if m["inst"] else None,
    )


def apply_faults(faults: list[Fault], installations: list[Installation],
                 scheduler: Scheduler) -> None:
    """Arm every fault on the installations it targets, relative to the current run time."""
    t0 = scheduler.clock.now_us()
    for fault in faults:
        if fault.installation is not None and fault.installation > len(installations):
            raise FaultSpecError(f"fault aims at installation {fault.installation}, "
                                 f"but the run has {len(installations)}")
        for i, inst in enumerate(installations):
            if not fault.applies_to(i):
                continue
            start = t0 + fault.start_us
            if fault.kind == "link-down":
                inst.link_down(fault.device, start, start + fault.duration_us)
                inst.han_node(fault.device)  # fail now, not later, on a bad device
                continue
            check_target(fault, inst)  # fail now, not later, on a bad device
            scheduler.call_at(start, fault_action(fault, inst))


def check_target(fault: Fault, inst: Installation) -> None:
    """Raise now (a typed error) if ``fault`` cannot act on ``inst``: a device it lacks or
    whose link the fault needs (a timed fault would otherwise fail when it fires)."""
    if fault.kind in OTA_FAULTS:
        inst.ota_target(fault.device)
    elif fault.kind != "battery-flat":
        inst.han_node(fault.device)


def fault_action(fault: Fault, inst: Installation) -> Callable[[int], None]:
    """The timer callback that applies a timed (non-window) fault to ``inst``."""
    def run(now: int) -> None:
        if fault.kind == "loss":
            inst.set_loss(fault.device, fault.value)
        elif fault.kind == "battery-flat":
            inst.battery_flat()
        elif fault.kind == "counter-reset":
            inst.reset_frame_counter(fault.device)
        elif fault.kind == "clock-skew":
            inst.clock_skew(fault.device, round(fault.value))
        elif fault.kind in OTA_FAULTS:
            inst.ota_failure(fault.device, fault.kind)
        inst.sync_timer()

    return run
