"""An installation's cores with the OTA cluster attached, run on explicit time (no event loop)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from emulator.core.installation import InstallationCore
from emulator.core.ota_han import OtaHan, attach_ota
from emulator.core.timebase import DAY
from emulator.core.trace_sink import Recorder
from emulator.firmware import CatalogueEntry, image_bytes, ota_policies, trusted_signers
from emulator.fleet import FIRST_EUI
from emulator.keystore import derive_chf_keys
from emulator.profiles import ResolvedDmc, default_dmc
from emulator.wire.vocabulary import DeviceType
from tests.pairing import T0, installation_core


@dataclass
class Rig:
    core: InstallationCore
    ota: OtaHan
    trace: Recorder
    now: int

    def eui(self, kind: DeviceType) -> str:
        d = self.core.devices
        euis = {DeviceType.CHF: d.chf.eui, DeviceType.ESME: d.esme.eui,
                DeviceType.GSME: d.gsme.eui if d.gsme else None,
                DeviceType.PPMID: d.ppmid.eui if d.ppmid else None,
                DeviceType.IHD: d.ihd.eui if d.ihd else None}
        eui = euis[kind]
        assert eui is not None
        return eui

    def run_until(self, done: Callable[[], bool], limit_us: int = 30 * DAY) -> int:
        """Step the cores' timers until ``done()``; returns the virtual time it took."""
        start, end = self.now, self.now + limit_us
        while not done():
            t = self.core.get_timer()
            assert t is not None and t <= end, "gave up waiting"
            self.now = max(self.now, t)
            self.core.handle_timer(self.now)
        return self.now - start

    def run_for(self, us: int) -> None:
        end = self.now + us
        while (t := self.core.get_timer()) is not None and t <= end:
            self.now = max(self.now, t)
            self.core.handle_timer(self.now)
        self.now = end

    def events(self, name: str) -> list[dict[str, object]]:
        return [f for _, _, n, f in self.trace.events if n == name]


def rig(dmc: ResolvedDmc | None = None, *, seed: int = 7) -> Rig:
    dmc = dmc or default_dmc()
    trace = Recorder()
    keys = derive_chf_keys(seed, FIRST_EUI)
    core = installation_core(dmc, seed, keys, T0, trace)
    ota = attach_ota(core, ota_policies(dmc), trusted_signers())
    assert ota is not None
    return Rig(core, ota, trace, T0)


def image(model: str, version: str, size: int = 4096, **kw: int) -> bytes:
    return image_bytes(CatalogueEntry(model, version, size, f"test {model} {version}", **kw))


def with_ota(dmc: ResolvedDmc, kind: DeviceType, **changes: object) -> ResolvedDmc:
    """The DMC with one device model's ``ota:`` fields changed (a profile variant)."""
    attr = kind.name.lower()
    model = getattr(dmc, attr)
    assert model.ota is not None
    return replace(dmc, **{attr: model.model_copy(update={
        "ota": model.ota.model_copy(update=changes)})})
