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
from emulator.pki import (
    check_client_certificate,
    check_validity,
    issued_by,
    mint_authorities,
    mint_chf,
)
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


def test_der_of_gives_the_bytes_a_kept_certificate_came_from(tmp_path: Path) -> None:
    client, smso_ca, _ = _certs(tmp_path)
    der = client.public_bytes(Encoding.DER)
    kept = peer_certs.certificate(der)
    assert peer_certs.der_of(kept) is der  # not encoded again
    # A certificate that is not kept is encoded as cryptography does.
    assert peer_certs.der_of(smso_ca) == smso_ca.public_bytes(Encoding.DER)
    # ... and one that was pushed out by newer ones too.
    issuer = mint_authorities(NOW, 5).device_ca
    for i in range(peer_certs.KEEP):
        other = mint_chf(issuer, f"00-1B-C5-0C-00-00-01-{i:02X}", NOW, 30, 5).cert
        peer_certs.certificate(other.public_bytes(Encoding.DER))
    assert id(kept) not in peer_certs._ders
    assert peer_certs.der_of(kept) == der


def test_the_kept_maps_stay_in_step(tmp_path: Path) -> None:
    client, smso_ca, device_ca = _certs(tmp_path)
    ders = [c.public_bytes(Encoding.DER) for c in (client, smso_ca, device_ca)]
    # Equal DER from fresh bytes objects, many more than are kept: both maps stay bounded.
    for i in range(3 * peer_certs.KEEP):
        peer_certs.certificate(bytes(ders[i % 3]) + b"")
    assert len(peer_certs._ders) == len(peer_certs._parsed) <= peer_certs.KEEP
    for der, cert in peer_certs._parsed.items():
        assert peer_certs.der_of(cert) == der


def test_verdicts_are_kept_per_certificate_object_not_shared_between_certificates(
        tmp_path: Path) -> None:
    client, smso_ca, device_ca = _certs(tmp_path)
    # Many distinct objects (more than are kept), judged in turn: each gets its own verdict.
    for _ in range(100):
        fresh = x509.load_der_x509_certificate(client.public_bytes(Encoding.DER))
        check_client_certificate(fresh)
        assert issued_by(fresh, smso_ca) and not issued_by(fresh, device_ca)
        with pytest.raises(CertificateError, match="client certificate"):
            check_client_certificate(x509.load_der_x509_certificate(
                device_ca.public_bytes(Encoding.DER)))
        with pytest.raises(CertificateError, match="not yet valid"):
            check_validity(fresh, NOW - 30 * DAY)
