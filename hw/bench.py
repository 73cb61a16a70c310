"""Bench runs on a radio, in real time: a CHF whose meters are on the air (``s1lab serve
--radio``), and the meters of an installation joining a CHF on the air (``s1lab meters``).

Both sides build the same installation from the PKI folder, profile and seed (as ``s1lab
serve`` does), so the meters hold the install codes the CHF has whitelisted; everything else
(short addresses, the network key) they learn by joining over the radio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from emulator.core.chf.records import LogEntry
from emulator.core.han import HanNode
from emulator.core.installation import OPEN_JOIN_WINDOW_US, HanRole
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import current_clock
from emulator.drivers.scheduler import Scheduler
from emulator.errors import LocalProtocolError, PkiError
from emulator.installation import Installation
from emulator.pki import PkiFolder
from emulator.profiles import ResolvedDmc
from emulator.trace import Trace
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import DeviceLogState, DeviceType, Role
from hw.air import RadioAir
from hw.lab import Lab
from hw.radio import open_radio

#: ``s1lab serve`` names its one installation so; the meters derive the same keys from it.
SERVE_INSTALLATION_ID = "serve"


def radio_attacher(url: str, *, lab: Lab | None = None, command: str = "s1lab serve"
                   ) -> Callable[[Installation], Awaitable[Callable[[], Awaitable[None]]]]:
    """For ``emulator.serve.serve(radio=...)``: open the radio (a URL, or a radio's name in
    ``lab``), put the CHF's HAN on it; the lab's physical meters are whitelisted too."""
    pan_id = None
    if lab is not None and "://" not in url:
        pan_id = lab.radio(url).pan_id  # the PAN the lab's meters are set to join
        url = lab.radio(url).url
    radio = open_radio(url)  # a bad URL fails before anything starts

    async def attach(inst: Installation) -> Callable[[], Awaitable[None]]:
        if pan_id is not None and inst.han is not None:
            inst.han.pan_id = pan_id
        if lab is not None:
            whitelist_physical(inst, lab)
        air = RadioAir(inst, radio, emit=inst.emit, command=command)
        await air.start()
        return air.stop

    return attach


def physical_devices(lab: Lab) -> dict[DeviceType, tuple[str, bytes]]:
    """For ``serve(on_air=...)``: the lab's first physical device of each meter type (not
    CHFs), by EUI-64 and install code; they stand in for the installation's own."""
    out: dict[DeviceType, tuple[str, bytes]] = {}
    for device in lab.devices:
        kind = DeviceType[device.type]
        if kind is not DeviceType.CHF and kind not in out and device.install_code:
            out[kind] = (device.eui, bytes.fromhex(device.install_code))
    return out


def whitelist_physical(inst: Installation, lab: Lab) -> list[str]:
    """Put the lab's physical devices (not CHFs) on the CHF's whitelist with their install
    codes and an open join window, as an installer's commissioning would."""
    now = inst.scheduler_clock.now_us()
    added = []
    for device in lab.devices:
        key = device.link_key
        if device.type == "CHF" or key is None:
            continue
        inst.chf.log[device.eui] = LogEntry(DeviceType[device.type], DeviceLogState.WHITELISTED,
                                            None, key, now + OPEN_JOIN_WINDOW_US)
        inst.emit(now, inst.chf.eui, "HanDeviceLogAdded",
                  {"eui": device.eui, "type": device.type, "lab_name": device.name})
        added.append(device.eui)
    return added


def build_installation(pki_dir: Path, dmc: ResolvedDmc, seed: int, chf_eui: str | None,
                       scheduler: Scheduler, trace: Trace, role: HanRole,
                       capture: HanCapture | None = None) -> Installation:
    pki = PkiFolder.load(pki_dir)
    euis = pki.chf_euis()
    if not euis:
        raise PkiError(f"{pki_dir}: holds no CHF certificates (run `s1lab pki init --chfs 1`)")
    eui = normalise(chf_eui) if chf_eui else euis[0]
    if eui not in euis:
        raise PkiError(f"{pki_dir}: no certificate for CHF {eui}")
    return Installation(
        installation_id=SERVE_INSTALLATION_ID, dmc=dmc, chf_eui=eui,
        chf_bundle=pki.chf_bundle_path(eui), trust={Role.SMSO: pki.smso_ca.cert},
        keys=pki.keystore.get(eui), seed=seed, scheduler=scheduler,
        emit=trace.emitter(SERVE_INSTALLATION_ID), capture=capture, han_role=role)


async def run_meters(*, pki_dir: Path, dmc: ResolvedDmc, seed: int, radio_url: str,
                     stop: asyncio.Event, chf_eui: str | None = None,
                     trace_sink: TextIO | None = None,
                     announce: Callable[[str], None] = print,
                     capture: HanCapture | None = None, pan_id: int | None = None,
                     only: tuple[str, ...] = ()) -> None:
    """Run an installation's meters (ESME, GSME, IHD, PPMID; or ``only`` those named) on a
    radio until ``stop``; ``pan_id`` joins a PAN other than the served CHF's."""
    radio = open_radio(radio_url)
    scheduler = Scheduler(current_clock())
    trace = Trace(trace_sink)
    inst = build_installation(pki_dir, dmc, seed, chf_eui, scheduler, trace, "devices",
                              capture)
    air = RadioAir(inst, radio, emit=inst.emit, command="s1lab meters")
    joined: list[str] = []
    han = inst.han
    assert han is not None
    if pan_id is not None:
        han.pan_id = pan_id
    if only:
        named = {kind: eui for eui, kind in _device_kinds(inst).items()}
        unknown = [k for k in only if k not in named]
        if unknown:
            raise LocalProtocolError(f"this installation has no {', '.join(unknown)} "
                                     f"(it has {', '.join(sorted(named))})")
        han.local = {named[k] for k in only}
    previous = han.on_local_joined

    def on_joined(node: HanNode, now: int) -> None:
        if previous is not None:
            previous(node, now)
        joined.append(node.name)
        announce(f"joined: {node.name} as 0x{node.short:04X}")

    han.on_local_joined = on_joined
    try:
        await air.start()
        devices = ", ".join(sorted(han.local))
        announce(f"meters of CHF {inst.chf.eui} on {radio.url} (PAN 0x{han.pan_id:04X}): "
                 f"{devices}")
        for eui in sorted(han.local):  # as printed on the device's label
            announce(f"install code {eui}: {inst.core.install_codes[eui].hex().upper()}")
        inst.core.join(inst.scheduler_clock.now_us())
        inst.sync_timer()
        await stop.wait()
    finally:
        await air.stop()
        inst.close()
        scheduler.close()


def _device_kinds(inst: Installation) -> dict[str, str]:
    d = inst.core.devices
    return {dev.eui: kind for dev, kind in ((d.esme, "esme"), (d.gsme, "gsme"),
                                            (d.ppmid, "ppmid"), (d.ihd, "ihd"))
            if dev is not None}


__all__ = ["SERVE_INSTALLATION_ID", "build_installation", "physical_devices", "radio_attacher",
           "run_meters"]
