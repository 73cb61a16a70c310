"""Command tests without TLS or an event loop: an installation's cores paired in memory with a
head-end core (:class:`emulator.core.pairing.WanPair`), on explicit time."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.core.chf import Chf, OperationalKeys, Sim
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import Han
from emulator.core.headend import HeadEndCore
from emulator.core.ihd import Ihd
from emulator.core.installation import Devices, InstallationCore, device_eui
from emulator.core.pairing import WanPair
from emulator.core.ppmid import Ppmid
from emulator.core.rng import SplitMix64
from emulator.core.timebase import from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.drivers.clock import DEFAULT_START
from emulator.errors import LocalProtocolError
from emulator.fleet import FIRST_EUI
from emulator.keystore import ChfKeys, RoleKeys, derive_chf_keys
from emulator.profiles import ResolvedDmc, default_dmc
from emulator.wire.vocabulary import DeviceType, Role

#: The virtual loop's start (the TLS tests' first instant), so both kinds see the same dates.
T0 = from_datetime(DEFAULT_START)

__all__ = ["T0", "Paired", "installation_core", "paired"]


def _digits(rng: SplitMix64, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def installation_core(dmc: ResolvedDmc, seed: int, keys: ChfKeys, now: int, emit: Recorder,
                      *, installation_id: str = "i00001", zigbee: bool = True) -> InstallationCore:
    """The cores of one installation, as ``emulator.installation.Installation`` builds them
    (same seeds, so the same devices), without its WAN service. TODO(issue 7 item 4): call the
    installation's pure core builder instead once it exists."""
    rng = SplitMix64.derive(seed, installation_id, "installation")
    sim = Sim(iccid="8944" + _digits(rng, 15), imsi="234" + _digits(rng, 12),
              apn=dmc.chf.apn, service_profile=dmc.chf.service_profile)
    roles = {Role[name.upper()]: OperationalKeys(rk.key_id, rk.command_key, rk.response_key)
             for name, rk in keys.roles.items()}
    chf = Chf(keys.eui, dmc.chf.firmware_version, sim, roles, emit, now,
              master_key=keys.master_key, anchor=(Role.SMSO, b""),
              reconnect_delay_us=dmc.chf.reconnect_delay_s * 1_000_000, fault_seed=seed)

    def sub(name: str) -> SplitMix64:
        return SplitMix64.derive(seed, installation_id, name)

    eui = keys.eui
    esme = Esme(device_eui(eui, DeviceType.ESME), dmc.esme, sub("esme"), emit, now,
                keys.prepayment_key)
    gsme = (Gsme(device_eui(eui, DeviceType.GSME), dmc.gsme, sub("gsme"), emit, now,
                 keys.prepayment_key) if dmc.gsme is not None else None)
    ppmid = (Ppmid(device_eui(eui, DeviceType.PPMID), dmc.ppmid, emit, now)
             if dmc.ppmid is not None else None)
    ihd = Ihd(device_eui(eui, DeviceType.IHD), dmc.ihd, emit, now) if dmc.ihd else None
    han = None
    if zigbee:
        han_rng = sub("han")
        han = Han(eui, han_rng.randbytes(16), han_rng, emit)
    return InstallationCore(installation_id, Devices(chf, esme, gsme, ppmid, ihd),
                            sub("consumer"), now, han=han)


@dataclass
class Paired:
    """An installation's cores and a head-end core, paired; ``trace`` records both sides."""

    pair: WanPair
    core: InstallationCore
    keys: ChfKeys
    trace: Recorder
    utrn_counter: int = 0

    @property
    def chf(self) -> Chf:
        return self.core.devices.chf

    @property
    def esme(self) -> Esme:
        return self.core.devices.esme

    @property
    def gsme(self) -> Gsme | None:
        return self.core.devices.gsme

    @property
    def han(self) -> Han | None:
        return self.core.app.han if self.core.app is not None else None

    def named(self, event: str) -> list[dict[str, object]]:
        return [f for _, _, e, f in self.trace.events if e == event]

    def make_utrn(self, meter_eui: str, amount_pence: int) -> str:
        """A UTRN as the head-end generates one (``harness.headend.HeadEnd.make_utrn``)."""
        self.utrn_counter += 1
        return generate_utrn(self.keys.prepayment_key, meter_eui, self.utrn_counter,
                             amount_pence)


def paired(dmc: ResolvedDmc | None = None, seed: int = 3, *, role: Role = Role.SMSO,
           zigbee: bool = True, now: int = T0) -> Paired:
    """The first installation of a ``Fleet(dmc, 1, seed)`` paired with a ``role`` head-end."""
    dmc = dmc or default_dmc()
    keys = derive_chf_keys(seed, FIRST_EUI)
    trace = Recorder()
    core = installation_core(dmc, seed, keys, now, trace, zigbee=zigbee)

    def role_keys(eui: str) -> RoleKeys:
        rk = keys.roles.get(role.name.lower())
        if rk is None or eui != keys.eui:
            raise LocalProtocolError(f"the {role.name} holds no keys for CHF {eui}")
        return rk

    headend = HeadEndCore(role, role_keys)
    pair = WanPair(core.devices.chf, headend, now, installation=core, emit=trace)
    return Paired(pair, core, keys, trace)
