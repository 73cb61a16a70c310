"""An emulated installation on a clock: its cores, one scheduler slot, and its CHF's WAN service.

This is the glue between the sans-IO cores and the drivers. The cores come from the pure
builder (:mod:`emulator.build`); head-end connections are served by :mod:`emulator.wan_service`;
faults are :mod:`emulator.faults`. The installation's next deadline is kept armed in the shared
scheduler after every input. The same class serves a fleet on the virtual clock (memory links)
and ``s1lab serve`` in real time (TCP links).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.build import HanMode, build_cores
from emulator.core.chf import Chf
from emulator.core.esme import Esme
from emulator.core.gsme import Gsme
from emulator.core.han import Han
from emulator.core.han_crypto import install_code_link_key
from emulator.core.installation import HanRole, HanStart, InstallationCore
from emulator.core.ota_han import OtaHan, attach_ota
from emulator.core.trace_sink import Emit
from emulator.drivers.capture import HanCapture
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import ServerTls
from emulator.drivers.wan_channel import WanChannel
from emulator.faults import FaultApi
from emulator.firmware import ota_policies, trusted_signers
from emulator.keystore import ChfKeys
from emulator.profiles import ResolvedDmc
from emulator.wan_service import WanService
from emulator.wire.vocabulary import DeviceType, Role

__all__ = ["HanMode", "Installation"]


class Installation(FaultApi):
    """One emulated SMETS1 installation."""

    def __init__(
        self,
        *,
        installation_id: str,
        dmc: ResolvedDmc,
        chf_eui: str,
        chf_bundle: Path,
        trust: dict[Role, x509.Certificate],
        keys: ChfKeys,
        seed: int,
        scheduler: Scheduler,
        emit: Emit,
        server_ctx: ServerTls | None = None,
        han: HanMode = "zigbee",
        capture: HanCapture | None = None,
        keylog: Path | None = None,
        han_role: HanRole = "all",
        start: HanStart = "joining",
        on_air: dict[DeviceType, tuple[str, bytes]] | None = None,
    ) -> None:
        self.id = installation_id
        self.dmc = dmc
        self._scheduler = scheduler
        self._clock = scheduler.clock
        self._emit = emit
        self.keys = keys
        (anchor_role, anchor_cert), = trust.items()
        built = build_cores(
            installation_id=installation_id, dmc=dmc, chf_eui=chf_eui,
            anchor=(anchor_role, anchor_cert.public_bytes(Encoding.DER)), keys=keys, seed=seed,
            now=self._clock.now_us(), emit=emit, han=han,
            han_capture=capture.frame if capture is not None else None, han_role=han_role,
            start=start, on_air=on_air,
        )
        self.core = built.core
        # mypyc: the core and the WAN service again as this class's own attributes, native
        # fields in a build (``core`` and ``wan`` are FaultApi's, a Python class: a dict
        # lookup each), read by the per-fire paths. Both are set once, here.
        self._core: InstallationCore = built.core
        self.han: Han | None = built.han
        self._capture = capture
        # the OTA cluster's server (CHF) and clients (meters), with the test manufacturer trusted
        self.ota: OtaHan | None = attach_ota(self.core, ota_policies(dmc), trusted_signers())
        if capture is not None and self.han is not None:
            capture.add_network_key(self.han.keys.current_key, f"{installation_id} network key")
            for eui, code in self.core.install_codes.items():  # every HAN role knows them
                capture.add_link_key(install_code_link_key(code), eui,
                                     f"{installation_id} link key")
        self._slot = scheduler.slot(self._on_timer)
        self._slot.set(self.core.get_timer())
        self.wan = WanService(core=self.core, dmc=dmc, chf_bundle=chf_bundle, trust=trust,
                              clock=self._clock, emit=emit, rearm=self.sync_timer,
                              server_ctx=server_ctx, keylog=keylog)
        self._wan: WanService = self.wan

    @property
    def chf(self) -> Chf:
        return self._core.devices.chf

    @property
    def esme(self) -> Esme:
        return self._core.devices.esme

    @property
    def gsme(self) -> Gsme | None:
        return self._core.devices.gsme

    # ---- the WAN service, by its old names -----------------------------------------------

    @property
    def trust(self) -> dict[Role, x509.Certificate]:
        """The CAs the CHF trusts now (the SMSO CA, or the S1SP CA after a certificate swap)."""
        return self._wan.trust

    @property
    def channels(self) -> list[WanChannel]:
        return self._wan.channels

    @property
    def sessions_opened(self) -> int:
        return self._wan.sessions_opened

    @property
    def frames_served(self) -> int:
        return self._wan.frames_served

    @property
    def emit(self) -> Emit:
        return self._emit

    @property
    def scheduler_clock(self) -> Clock:
        """The clock this installation runs on (drivers that feed its cores read it)."""
        return self._clock

    def wan_available(self, now: int) -> bool:
        return self._wan.wan_available(now)

    def next_attach(self, apn: str) -> int | None:
        """When the SMETS1 CSP will report the CHF's SIM attached on ``apn`` (now if it is):
        None while the SIM is on another APN. Head-ends wait for this instead of polling."""
        if self.chf.sim.apn != apn:
            return None
        return self.chf.next_wan_up(self._clock.now_us())

    def reachable_via(self, apn: str) -> bool:
        """Can a head-end on ``apn`` reach this CHF now (its SIM's APN, attached)?"""
        return self.chf.sim.apn == apn and self.wan_available(self._clock.now_us())

    def role_of(self, cert: x509.Certificate) -> Role | None:
        return self._wan.role_of(cert)

    def accept(self, link: LinkEnd) -> WanChannel:
        """A head-end connection arrived on ``link``: serve it (the CHF is the TLS server)."""
        return self._wan.accept(link)

    def fit_gsme(self, gsme: Gsme, install_code: bytes) -> None:
        """An installer fits a new gas meter (:meth:`InstallationCore.fit_gsme`); a capture
        learns its install-code link key, so its join and its frames decrypt."""
        if self._capture is not None:
            self._capture.add_link_key(install_code_link_key(install_code), gsme.eui,
                                       f"{self.id} link key")
        self._core.fit_gsme(gsme, install_code, self._clock.now_us())
        self.sync_timer()

    # ---- the clock --------------------------------------------------------------------------

    def _on_timer(self, now: int) -> None:
        core = self._core
        self._slot.set(core.fire(now))
        if core.devices.chf.outgoing:
            self._wan.flush()

    def sync_timer(self) -> None:
        """Re-arm after anything (a command, a test poking a core) changed a deadline."""
        self._slot.set(self._core.get_timer())

    def close(self) -> None:
        self._wan.close()
        self._slot.cancel()
