"""Peer certificates are judged once per certificate, but validity is judged at every
handshake on the run's clock, and a refused certificate stays refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.core.timebase import DAY
from emulator.drivers import peer_certs
from emulator.errors import CertificateError
from emulator.fleet import mint_fleet_pki
from emulator.pki import check_client_certificate, check_validity, issued_by
from emulator.wire.vocabulary import Role

NOW = 1_800_000_000 * 1_000_000


def _certs(tmp: Path) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    pki = mint_fleet_pki(tmp, 3, NOW)
    cert_path, _ = pki.headend_paths(Role.SMSO)
    client = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return client, pki.authorities.smso_ca.cert, pki.device_ca.cert


def test_a_kept_certificate_is_still_judged_by_the_clock_each_time(tmp_path: Path) -> None:
    client, smso_ca, device_ca = _certs(tmp_path)
    der = client.public_bytes(Encoding.DER)
    assert peer_certs.certificate(der) is peer_certs.certificate(der)  # parsed once
    cert = peer_certs.certificate(der)
    check_validity(cert, NOW)
    check_client_certificate(cert)
    with pytest.raises(CertificateError, match="expired"):
        check_validity(cert, NOW + 20_000 * DAY)
    check_validity(cert, NOW)  # and fine again at the right time
    assert issued_by(cert, smso_ca)
    assert not issued_by(cert, device_ca)
    # A CA certificate is no head-end client certificate, the second time as the first.
    for _ in range(2):
        with pytest.raises(CertificateError, match="client certificate"):
            check_client_certificate(device_ca)


def test_only_a_few_certificates_are_kept(tmp_path: Path) -> None:
    client, smso_ca, device_ca = _certs(tmp_path)
    ders = [c.public_bytes(Encoding.DER) for c in (client, smso_ca, device_ca)]
    for _ in range(peer_certs.KEEP):
        for der in ders:
            peer_certs.certificate(der)
    assert len(peer_certs._parsed) <= peer_certs.KEEP
