"""A fleet of emulated installations of one DMC on one clock, with its own test PKI.

Everything is derived from the run seed: CHF EUIs are consecutive, keys and certificates come
from (seed, EUI), each installation's behaviour from (seed, installation id). Certificates are
written to a private working folder because Python's ``ssl`` loads certificate chains from files
only; the folder goes away with the fleet.
"""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from emulator.core.installation import HanStart
from emulator.core.timebase import HOUR
from emulator.drivers.capture import HanCapture, WanCapture
from emulator.drivers.memory import MemoryLink
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import client_context, server_tls
from emulator.installation import HanMode, Installation
from emulator.keystore import ChfKeys, derive_chf_keys
from emulator.outputs import SECRET, write_atomic
from emulator.pki import Authorities, Credential, mint_authorities, mint_chf
from emulator.profiles import ResolvedDmc
from emulator.trace import Trace
from emulator.wire.eui import eui_from_str, eui_to_str
from emulator.wire.vocabulary import DeviceType, Role

FIRST_EUI = "00-1B-C5-0C-00-00-00-01"
CERT_DAYS = 3650


def nth_eui(first: str, n: int) -> str:
    return eui_to_str((int.from_bytes(eui_from_str(first), "big") + n).to_bytes(8, "big"))


@dataclass(frozen=True)
class FleetPki:
    """The fleet's authorities; head-end credentials are written where ``ssl`` can load them."""

    authorities: Authorities
    folder: Path

    def headend_paths(self, role: Role) -> tuple[Path, Path]:
        name = role.name.lower()
        return self.folder / f"headend-{name}.pem", self.folder / f"headend-{name}.key"

    @property
    def device_ca(self) -> Credential:
        return self.authorities.device_ca

    @property
    def anchors(self) -> dict[Role, x509.Certificate]:
        return {Role.SMSO: self.authorities.smso_ca.cert, Role.S1SP: self.authorities.s1sp_ca.cert}


def mint_fleet_pki(folder: Path, seed: int, now: int) -> FleetPki:
    pki = FleetPki(mint_authorities(now - HOUR, seed, CERT_DAYS), folder)
    for role in (Role.SMSO, Role.S1SP):
        cred = pki.authorities.headend("smso" if role is Role.SMSO else "s1sp")
        cert_path, key_path = pki.headend_paths(role)
        write_atomic(cert_path, cred.cert_pem())
        write_atomic(key_path, cred.key_pem(), mode=SECRET)
    return pki


class Fleet:
    """N installations of ``dmc``; head-ends reach them over in-memory links."""

    def __init__(
        self,
        dmc: ResolvedDmc,
        count: int,
        seed: int,
        scheduler: Scheduler,
        trace: Trace,
        first_eui: str = FIRST_EUI,
        han: HanMode = "zigbee",
        capture: HanCapture | None = None,
        wan_capture: WanCapture | None = None,
        keylog: Path | None = None,
        start: HanStart = "commissioned",
        on_air: dict[DeviceType, tuple[str, bytes]] | None = None,
    ) -> None:
        """``start``: fleets start from the commissioned steady state (HANs formed); pass
        ``"joining"`` for every HAN to join at the first instant. ``on_air``: physical devices
        of the first installation (a bench run, see :func:`emulator.build.build_cores`)."""
        self.dmc = dmc
        self.wan_capture = wan_capture  # in-memory WAN links, recorded at the CHF
        self.keylog = keylog  # head-end contexts log their TLS secrets here
        self.seed = seed
        self.scheduler = scheduler
        self._tmp = tempfile.TemporaryDirectory(prefix="s1lab-fleet-")
        folder = Path(self._tmp.name)
        now = scheduler.clock.now_us()
        self.pki = mint_fleet_pki(folder, seed, now)
        self.keys: dict[str, ChfKeys] = {}
        self._certs: dict[str, bytes] = {}  # DER: a parsed certificate per CHF costs KiBs
        self.installations: list[Installation] = []
        smso_pem = self.pki.authorities.smso_ca.cert_pem()
        for i in range(count):
            eui = nth_eui(first_eui, i)
            inst_id = f"i{i + 1:05d}"
            cred = mint_chf(self.pki.device_ca, eui, now - HOUR, CERT_DAYS, seed)
            bundle = folder / f"chf-{i + 1:05d}.pem"
            write_atomic(bundle, cred.bundle_pem(), mode=SECRET)
            cert_der = self._certs[eui] = cred.cert.public_bytes(Encoding.DER)
            tls = server_tls(cert_der, cred.key.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                              NoEncryption()),
                             [smso_pem], dmc.chf.tls_min_version, dmc.chf.tls_max_version)
            keys = derive_chf_keys(seed, eui)
            self.keys[eui] = keys
            self.installations.append(Installation(
                installation_id=inst_id, dmc=dmc, chf_eui=eui, chf_bundle=bundle,
                trust={Role.SMSO: self.pki.authorities.smso_ca.cert}, keys=keys, seed=seed,
                scheduler=scheduler, emit=trace.emitter(inst_id), han=han, capture=capture,
                start=start, on_air=on_air if i == 0 else None, server_ctx=tls,
            ))

    def chf_certificate(self, installation: Installation) -> x509.Certificate:
        """The CHF's device certificate (the MGF's DeviceCertificate)."""
        return x509.load_der_x509_certificate(self._certs[installation.chf.eui])

    def keys_for(self, eui: str) -> ChfKeys:
        return self.keys[eui]

    def headend_context(self, role: Role) -> ssl.SSLContext:
        cert, key = self.pki.headend_paths(role)
        return client_context(cert, key, self.pki.device_ca.cert_pem(),
                              self.dmc.chf.tls_min_version, self.dmc.chf.tls_max_version,
                              keylog=self.keylog)

    def link_to(self, installation: Installation, via_apn: str | None = None,
                headend: str = "headend") -> MemoryLink:
        """A fresh in-memory WAN link to ``installation``'s CHF; returns it with the CHF side
        already accepted. Use ``link.a`` for the head-end. With ``via_apn``, the head-end sits
        on that APN: it reaches the CHF only while the CHF's SIM is there and attached.
        With a WAN capture, the link is recorded at the CHF; ``headend`` (smso, s1sp) picks
        the head-end's address there."""
        link = MemoryLink(self.scheduler, self.dmc.chf.wan_latency_ms * 1000,
                          name=installation.id)
        if via_apn is not None and not installation.reachable_via(via_apn):
            link.b.close()  # no route: the head-end's connection attempt fails
            return link
        if self.wan_capture is None:
            installation.accept(link.b)
        else:
            installation.accept(self.wan_capture.tap_chf(link.b, self.scheduler.clock,
                                                         installation.chf.eui, headend))
        return link

    def close(self) -> None:
        for inst in self.installations:
            inst.close()
        self._tmp.cleanup()
