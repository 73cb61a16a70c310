"""The test PKI: certificate shape, determinism, validity on the run's clock, the folder, and
real mutual TLS with Python's ssl module over MemoryBIO."""

from __future__ import annotations

import ssl
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from emulator.core.timebase import DAY, HOUR, SECOND, from_datetime
from emulator.errors import CertificateError, PkiError
from emulator.keystore import derive_chf_keys
from emulator.pki import (
    OPENSSL_NO_CHECK_TIME,
    Credential,
    PkiFolder,
    Role,
    check_validity,
    cn_of,
    derive_key,
    derive_serial,
    eui_of_chf_cert,
    init_folder,
    load_pem_cert,
    load_pem_key,
    mint_authorities,
    mint_ca,
    mint_chf,
    mint_leaf,
)

NOW = from_datetime(datetime(2026, 1, 5, tzinfo=UTC))
SEED = 1234
EUI = "00-1B-C5-0C-00-00-00-01"


def _public(cred: Credential) -> bytes:
    return cred.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki-shared") / "pki"
    init_folder(directory, chfs=3, now=NOW, seed=SEED)
    return directory


# --------------------------------------------------------------------------- minting


def test_ca_shape() -> None:
    ca = mint_ca("Test CA", "Org", NOW, 10, SEED)
    cert = ca.cert
    assert cert.version == x509.Version.v3
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ca.subject_cn == "Test CA"
    assert 0 < cert.serial_number < 2**159


def test_leaf_shape_and_chain() -> None:
    ca = mint_ca("Test CA", "Org", NOW, 10, SEED)
    other = mint_ca("Other CA", "Org", NOW, 10, SEED)
    client = mint_leaf(ca, "he.example", "Org", "client", NOW, 5, SEED)
    client.cert.verify_directly_issued_by(ca.cert)
    with pytest.raises(ValueError, match="[Ii]ssuer"):
        client.cert.verify_directly_issued_by(other.cert)
    ext = client.cert.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_agreement and not ku.key_cert_sign
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["he.example"]
    start = from_datetime(client.cert.not_valid_before_utc)
    end = from_datetime(client.cert.not_valid_after_utc)
    assert start == NOW - HOUR
    assert end == NOW + 5 * DAY


def test_chf_cert() -> None:
    ca = mint_ca("Device CA", "Org", NOW, 10, SEED)
    chf = mint_chf(ca, "00:1b:c5:0c:00:00:00:01", NOW, 10, SEED)
    chf.cert.verify_directly_issued_by(ca.cert)
    assert chf.subject_cn == EUI
    assert cn_of(chf.cert) == EUI
    assert eui_of_chf_cert(chf.cert) == EUI
    eku = chf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = chf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [EUI.lower()]
    with pytest.raises(PkiError, match="is not a CHF EUI-64"):
        eui_of_chf_cert(ca.cert)
    with pytest.raises(PkiError, match="CN is its EUI"):
        mint_leaf(ca, "not-the-eui", "Org", "server", NOW, 10, SEED, eui=EUI)
    with pytest.raises(PkiError, match="not an EUI-64"):
        mint_chf(ca, "00-1B", NOW, 10, SEED)


def test_deterministic_keys() -> None:
    a = mint_authorities(NOW, SEED)
    b = mint_authorities(NOW + DAY, SEED)
    c = mint_authorities(NOW, SEED + 1)
    for name in ("smso", "s1sp", "device"):
        assert _public(a.ca(name)) == _public(b.ca(name))
        assert _public(a.ca(name)) != _public(c.ca(name))
        assert a.ca(name).cert.serial_number == b.ca(name).cert.serial_number
    assert _public(a.headend_smso) == _public(b.headend_smso)
    assert _public(a.headend_smso) != _public(a.headend_s1sp)
    chf_a = mint_chf(a.device_ca, EUI, NOW, 10, SEED)
    chf_b = mint_chf(b.device_ca, EUI, NOW, 10, SEED)
    assert _public(chf_a) == _public(chf_b)
    assert _public(chf_a) != _public(mint_chf(a.device_ca, EUI, NOW, 10, SEED + 1))
    chf_2 = mint_chf(a.device_ca, "00-1B-C5-0C-00-00-00-02", NOW, 10, SEED)
    assert _public(chf_a) != _public(chf_2)
    assert derive_key(1, "x").private_numbers() == derive_key(1, "x").private_numbers()
    assert derive_key(1, "x").private_numbers() != derive_key(1, "y").private_numbers()
    assert 0 < derive_serial(1, "x") < 2**159


def test_minting_is_fast() -> None:
    auth = mint_authorities(NOW, SEED)
    start = time.perf_counter()
    for i in range(200):
        mint_chf(auth.device_ca, f"00-1B-C5-0C-00-00-{i >> 8:02X}-{i & 0xFF:02X}", NOW, 10, SEED)
    assert time.perf_counter() - start < 3.0  # 1,000 take about 0.2 s here


def test_check_validity() -> None:
    ca = mint_ca("Window CA", "Org", NOW, 2, SEED)
    check_validity(ca.cert, NOW)
    check_validity(ca.cert, NOW - HOUR)
    check_validity(ca.cert, NOW + 2 * DAY)
    with pytest.raises(CertificateError, match=r"'Window CA' is not yet valid at 2026-01-04T22"):
        check_validity(ca.cert, NOW - 2 * HOUR)
    expired = r"'Window CA' is expired .*valid from 2026-01-04T23:00"
    with pytest.raises(CertificateError, match=expired):
        check_validity(ca.cert, NOW + 2 * DAY + SECOND)


def test_pem_loading_errors() -> None:
    ca = mint_ca("CA", "Org", NOW, 2, SEED)
    assert load_pem_cert(ca.cert_pem(), "x") == ca.cert
    assert load_pem_key(ca.key_pem(), "x").private_numbers() == ca.key.private_numbers()
    assert load_pem_cert(ca.bundle_pem(), "b") == ca.cert
    with pytest.raises(PkiError, match="^ca.pem: not a PEM certificate$"):
        load_pem_cert(b"garbage", "ca.pem")
    with pytest.raises(PkiError, match="^ca.key: not a PEM private key$"):
        load_pem_key(ca.cert_pem(), "ca.key")
    encrypted = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(PkiError, match="ca.key: encrypted"):
        load_pem_key(encrypted, "ca.key")


# --------------------------------------------------------------------------- the folder


def test_init_folder_round_trip(pki_dir: Path) -> None:
    folder = PkiFolder.load(pki_dir)
    assert folder.directory == pki_dir
    euis = ["00-1B-C5-0C-00-00-00-01", "00-1B-C5-0C-00-00-00-02", "00-1B-C5-0C-00-00-00-03"]
    assert folder.chf_euis() == euis
    assert (pki_dir / "README.txt").read_text().startswith("s1lab test PKI")
    for eui in euis:
        chf = folder.chf(eui.lower())
        chf.cert.verify_directly_issued_by(folder.device_ca.cert)
        assert chf.subject_cn == eui
        assert folder.chf_bundle_path(eui) == pki_dir / "chf" / eui / "chf-bundle.pem"
        assert folder.keystore.get(eui) == derive_chf_keys(SEED, eui)
    assert len(folder.keystore) == 3
    folder.headend("smso").cert.verify_directly_issued_by(folder.smso_ca.cert)
    folder.headend("s1sp").cert.verify_directly_issued_by(folder.s1sp_ca.cert)
    assert folder.headend_paths("s1sp") == (
        pki_dir / "headend-s1sp.pem",
        pki_dir / "headend-s1sp.key",
    )
    assert folder.ca_path("device") == pki_dir / "device-ca.pem"
    # Same seed, same keys as the in-memory minting the fleet uses.
    auth = mint_authorities(NOW, SEED)
    assert _public(folder.smso_ca) == _public(auth.smso_ca)
    assert _public(folder.chf(EUI)) == _public(mint_chf(auth.device_ca, EUI, NOW, 3650, SEED))
    with pytest.raises(PkiError, match="no certificate for CHF 00-1B-C5-0C-00-00-00-09"):
        folder.chf("00-1B-C5-0C-00-00-00-09")
    with pytest.raises(PkiError, match="unknown head-end role"):
        folder.headend("dcc")  # type: ignore[arg-type]


def test_key_files_are_private(pki_dir: Path) -> None:
    secret = [*pki_dir.glob("*.key"), *pki_dir.glob("chf/*/chf.key"),
              *pki_dir.glob("chf/*/chf-bundle.pem"), pki_dir / "keystore.json"]
    assert len(secret) == 5 + 3 * 2 + 1
    for path in secret:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in pki_dir.glob("*.pem"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 != 0o077


def test_init_folder_refuses_non_empty(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(PkiError, match="not empty"):
        init_folder(tmp_path, 1, NOW, SEED)
    assert (tmp_path / "x.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = init_folder(empty, 0, NOW, SEED, first_eui="00-00-00-00-00-00-00-10")
    assert folder.chf_euis() == []
    nested = init_folder(tmp_path / "a" / "b", 2, NOW, SEED, first_eui="00-00-00-00-00-00-00-FF")
    assert nested.chf_euis() == ["00-00-00-00-00-00-00-FF", "00-00-00-00-00-00-01-00"]


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True)
        else:
            target.write_bytes(path.read_bytes())
    return dst


def test_missing_file(pki_dir: Path, tmp_path: Path) -> None:
    copy = _copy(pki_dir, tmp_path / "pki")
    (copy / "smso-ca.pem").unlink()
    with pytest.raises(PkiError, match=r"pki/smso-ca\.pem: missing \(run `s1lab pki init .*pki`\)"):
        PkiFolder.load(copy)
    with pytest.raises(PkiError, match="no PKI folder"):
        PkiFolder.load(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "s1sp-ca.key").write_bytes(b"junk"), r"s1sp-ca\.key: not a PEM private"),
        (lambda d: (d / "device-ca.pem").write_text("junk"), r"device-ca\.pem: not a PEM cert"),
        (lambda d: (d / "headend-smso.key").write_bytes((d / "headend-s1sp.key").read_bytes()),
         r"headend-smso\.key: does not match the public key in .*headend-smso\.pem"),
        (lambda d: [(d / f"headend-smso.{x}").write_bytes((d / f"headend-s1sp.{x}").read_bytes())
                    for x in ("pem", "key")],
         r"headend-smso\.pem: not issued by smso-ca\.pem"),
        (lambda d: (d / "chf" / EUI / "chf.pem").unlink(), rf"chf/{EUI}/chf\.pem: missing"),
        (lambda d: (d / "chf" / EUI / "chf-bundle.pem").write_bytes(b""),
         rf"chf/{EUI}/chf-bundle\.pem: not a PEM cert"),
        (lambda d: (d / "chf" / "rubbish").mkdir(), r"chf/rubbish: not a CHF folder"),
        (lambda d: (d / "keystore.json").write_text("{"), r"keystore\.json: not JSON"),
        (lambda d: (d / "keystore.json").unlink(), r"keystore\.json: missing"),
    ],
)
def test_broken_folder(
    pki_dir: Path, tmp_path: Path, damage: Callable[[Path], object], message: str
) -> None:
    copy = _copy(pki_dir, tmp_path / "pki")
    damage(copy)
    with pytest.raises(PkiError, match=message):
        PkiFolder.load(copy)


def test_chf_without_keys(pki_dir: Path, tmp_path: Path) -> None:
    copy = _copy(pki_dir, tmp_path / "pki")
    other = init_folder(tmp_path / "other", 1, NOW, SEED, first_eui="00-1B-C5-0C-00-00-00-09")
    (copy / "keystore.json").write_bytes((other.directory / "keystore.json").read_bytes())
    with pytest.raises(PkiError, match=rf"keystore\.json: no keys for CHF {EUI}"):
        PkiFolder.load(copy)


# --------------------------------------------------------------------------- mutual TLS


def _pump(a: ssl.MemoryBIO, b: ssl.MemoryBIO) -> bool:
    data = a.read()
    if data:
        b.write(data)
    return bool(data)


def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a TLS handshake between two SSLObjects joined by MemoryBIOs; SSLError on failure."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    done = {"server": False, "client": False}
    for _ in range(50):
        for name, obj in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        moved = _pump(c_out, s_in) | _pump(s_out, c_in)
        if all(done.values()):
            # TLS 1.3 servers learn of a bad client certificate only after their handshake
            # "completes"; exchange one record each way so any alert surfaces as an SSLError.
            client.write(b"ping")
            _pump(c_out, s_in)
            assert server.read(4) == b"ping"
            server.write(b"pong")
            _pump(s_out, c_in)
            assert client.read(4) == b"pong"
            return server, client
        if not moved and not any(done.values()):
            break
    raise AssertionError("handshake stalled")


def _contexts(
    folder: PkiFolder, role: Role, version: ssl.TLSVersion, check_time: bool = False
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = server.maximum_version = version
    server.load_cert_chain(folder.chf_bundle_path(EUI))
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cadata=folder.smso_ca.cert_pem().decode())
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = client.maximum_version = version
    cert, key = folder.headend_paths(role)
    client.load_cert_chain(cert, key)
    client.load_verify_locations(folder.ca_path("device"))
    client.check_hostname = False
    if not check_time:
        for ctx in (server, client):
            ctx.verify_flags |= OPENSSL_NO_CHECK_TIME
    return server, client


VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
def test_mutual_tls_smso_headend_accepted(pki_dir: Path, version: ssl.TLSVersion) -> None:
    folder = PkiFolder.load(pki_dir)
    server, client = _handshake(*_contexts(folder, "smso", version))
    assert server.version() == ("TLSv1.2" if version is ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
    peer_of_server = x509.load_der_x509_certificate(server.getpeercert(binary_form=True) or b"")
    peer_of_client = x509.load_der_x509_certificate(client.getpeercert(binary_form=True) or b"")
    assert cn_of(peer_of_server) == "smso-headend.s1lab.test"
    assert eui_of_chf_cert(peer_of_client) == EUI
    check_validity(peer_of_server, NOW)
    check_validity(peer_of_client, NOW)


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
def test_mutual_tls_s1sp_headend_rejected(pki_dir: Path, version: ssl.TLSVersion) -> None:
    folder = PkiFolder.load(pki_dir)
    with pytest.raises(ssl.SSLError, match="unable to get local issuer certificate"):
        _handshake(*_contexts(folder, "s1sp", version))


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
def test_tls_judges_time_by_run_clock(tmp_path: Path, version: ssl.TLSVersion) -> None:
    """Certificates from 2001, valid one day: OpenSSL would call them expired by the machine's
    clock; with OPENSSL_NO_CHECK_TIME the handshake works and check_validity uses the run's."""
    then = from_datetime(datetime(2001, 1, 1, tzinfo=UTC))
    folder = init_folder(tmp_path / "pki", 1, then, SEED, days=1)
    server, client = _handshake(*_contexts(folder, "smso", version))
    peer = x509.load_der_x509_certificate(server.getpeercert(binary_form=True) or b"")
    check_validity(peer, then)
    with pytest.raises(CertificateError, match="expired"):
        check_validity(peer, then + 2 * DAY)
    with pytest.raises(ssl.SSLError, match="certificate has expired"):
        _handshake(*_contexts(folder, "smso", version, check_time=True))
