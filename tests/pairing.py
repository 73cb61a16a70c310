"""Command tests without TLS or an event loop: an installation's cores paired in memory with a
head-end core (:class:`emulator.core.pairing.WanPair`), on explicit time."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.build import build_cores
from emulator.core.chf import Chf
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import Han
from emulator.core.headend import HeadEndCore
from emulator.core.installation import InstallationCore
from emulator.core.pairing import WanPair
from emulator.core.timebase import from_datetime
from emulator.core.trace_sink import Recorder
from emulator.core.utrn import generate_utrn
from emulator.drivers.clock import DEFAULT_START
from emulator.errors import LocalProtocolError
from emulator.fleet import FIRST_EUI
from emulator.keystore import ChfKeys, RoleKeys, derive_chf_keys
from emulator.profiles import ResolvedDmc, default_dmc
from emulator.wire.vocabulary import Role

#: The virtual loop's start (the TLS tests' first instant), so both kinds see the same dates.
T0 = from_datetime(DEFAULT_START)

__all__ = ["T0", "Paired", "installation_core", "paired"]


def installation_core(dmc: ResolvedDmc, seed: int, keys: ChfKeys, now: int, emit: Recorder,
                      *, installation_id: str = "i00001", zigbee: bool = True) -> InstallationCore:
    """The cores of one installation, from the builder ``emulator.installation.Installation``
    uses (same seeds, so the same devices), without its WAN service. The trust anchor is a
    placeholder: no TLS here."""
    return build_cores(installation_id=installation_id, dmc=dmc, chf_eui=keys.eui,
                       anchor=(Role.SMSO, b""), keys=keys, seed=seed, now=now, emit=emit,
                       han="zigbee" if zigbee else "direct").core


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
