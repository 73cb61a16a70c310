"""The pure builder: an installation's cores from its DMC, a seed and its keys.

No I/O and no clock: the caller passes ``now`` and the CHF's trust anchor as DER bytes, and gets
back the sans-IO :class:`~emulator.core.installation.InstallationCore` (and its HAN, when the
devices talk ZigBee). Every random choice comes from (seed, installation id), so the same
arguments build the same installation. :class:`emulator.installation.Installation` runs the
result on a clock and serves its WAN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulator.core.chf import Chf, OperationalKeys, Sim, WanSchedule
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import CaptureFn, Han
from emulator.core.ihd import Ihd
from emulator.core.installation import Devices, HanRole, HanStart, InstallationCore, device_eui
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Emit
from emulator.keystore import ChfKeys
from emulator.profiles import ResolvedDmc
from emulator.wire.vocabulary import DeviceType, Role

HanMode = Literal["zigbee", "direct"]
_ROLE_NAMES = {"smso": Role.SMSO, "s1sp": Role.S1SP}


@dataclass(frozen=True, slots=True)
class Cores:
    """What :func:`build_cores` made: the installation's core and its HAN (None: direct link)."""

    core: InstallationCore
    han: Han | None


def _digits(rng: SplitMix64, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def build_cores(
    *,
    installation_id: str,
    dmc: ResolvedDmc,
    chf_eui: str,
    anchor: tuple[Role, bytes],
    keys: ChfKeys,
    seed: int,
    now: int,
    emit: Emit,
    han: HanMode = "zigbee",
    han_capture: CaptureFn | None = None,
    han_role: HanRole = "all",
    start: HanStart = "joining",
    on_air: dict[DeviceType, tuple[str, bytes]] | None = None,
) -> Cores:
    """Build the CHF, the meters and the other devices of ``dmc`` and join them.

    ``anchor`` is the role and DER certificate the CHF trusts at first; ``han_capture``, when
    given, sees every HAN frame from the first join on. ``han_role`` other than "all" builds
    one side of a HAN on a radio (the CHF, or the devices that join it over the air).
    ``start="commissioned"`` builds the
    HAN as a join leaves it (no join traffic at the first instant; fleets start so).
    ``on_air`` names physical devices (type -> EUI-64 and install code with CRC): built with
    that EUI, whitelisted with that code, expected on a radio; the rest run in memory.
    """
    air = on_air or {}

    def eui_of(device_type: DeviceType) -> str:
        return air[device_type][0] if device_type in air else device_eui(chf_eui, device_type)

    rng = SplitMix64.derive(seed, installation_id, "installation")
    sim = Sim(
        iccid="8944" + _digits(rng, 15),
        imsi="234" + _digits(rng, 12),
        apn=dmc.chf.apn,
        service_profile=dmc.chf.service_profile,
    )
    role_keys = {
        _ROLE_NAMES[name]: OperationalKeys(rk.key_id, rk.command_key, rk.response_key)
        for name, rk in keys.roles.items()
    }
    chf = Chf(chf_eui, dmc.chf.firmware_version, sim, role_keys, emit, now,
              master_key=keys.master_key, anchor=anchor,
              reconnect_delay_us=dmc.chf.reconnect_delay_s * 1_000_000, fault_seed=seed)

    def sub(name: str) -> SplitMix64:
        return SplitMix64.derive(seed, installation_id, name)

    esme = Esme(eui_of(DeviceType.ESME), dmc.esme, sub("esme"), emit, now,
                keys.prepayment_key)
    gsme = (
        Gsme(eui_of(DeviceType.GSME), dmc.gsme, sub("gsme"), emit, now,
             keys.prepayment_key)
        if dmc.gsme is not None else None
    )
    ppmid = (Ppmid(eui_of(DeviceType.PPMID), dmc.ppmid, emit, now)
             if dmc.ppmid is not None else None)
    ihd = (Ihd(eui_of(DeviceType.IHD), dmc.ihd, emit, now)
           if dmc.ihd is not None else None)
    han_core: Han | None = None
    if han == "zigbee":
        han_rng = sub("han")
        han_core = Han(chf_eui, han_rng.randbytes(16), han_rng, emit)
        han_core.capture = han_capture
    if dmc.chf.wan_wake_interval_s:  # the CHF's WAN schedule, from its first instant
        chf.wan_schedule = WanSchedule(dmc.chf.wan_wake_interval_s * SECOND,
                                       dmc.chf.wan_awake_s * SECOND, now)
    model_faults = dmc.chf.faults  # device faults set by the CHF's profile
    for step in model_faults.fail_steps:
        chf.faults.fail_step(step)
    for step in model_faults.restart_during:
        chf.faults.restart_during(step)
    if model_faults.master_key_missing:
        chf.master_key = None
    core = InstallationCore(
        installation_id, Devices(chf, esme, gsme, ppmid, ihd), sub("consumer"), now,
        han=han_core, role=han_role, start=start,
        on_air=dict(air.values()),
    )
    return Cores(core, han_core)
