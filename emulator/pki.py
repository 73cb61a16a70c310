"""A real, test-only X.509 PKI for the WAN's mutual TLS (ECDSA P-256, SHA-256, X.509 v3).

Three CAs, each a trust anchor of its own (design §4, domain brief §2.2):

- the **SMSO CA** issues the supplier's head-end client certificate; CHFs trust it before migration
  (and again after a rollback);
- the **S1SP CA** (DCC) issues the S1SP head-end client certificate; CHFs trust it after migration;
- the **device CA** issues the CHFs' server certificates (the MGF ``DeviceCertificate``); head-ends
  trust it.

Keys and serial numbers are derived from the run seed, so the same seed gives the same public keys
(ECDSA signatures still differ from run to run). Validity is judged on the run's clock: TLS code
turns off OpenSSL's own time check (:data:`OPENSSL_NO_CHECK_TIME`) and calls
:func:`check_validity` with ``now`` after each handshake.

On disk (:func:`init_folder`, :class:`PkiFolder`)::

    DIR/README.txt
    DIR/smso-ca.pem, smso-ca.key          DIR/headend-smso.pem, headend-smso.key
    DIR/s1sp-ca.pem, s1sp-ca.key          DIR/headend-s1sp.pem, headend-s1sp.key
    DIR/device-ca.pem, device-ca.key      DIR/chf/<EUI>/chf.pem, chf.key, chf-bundle.pem
    DIR/keystore.json
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emulator.core.rng import derive_seed
from emulator.core.timebase import DAY, HOUR, SECOND, from_datetime, isoformat, to_datetime
from emulator.errors import CertificateError, OutputError, PkiError, WireError
from emulator.keystore import Keystore, derive_chf_keys
from emulator.outputs import make_private_dir
from emulator.wire.eui import eui_from_str, eui_to_str, normalise

#: Order of the P-256 group.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME. ``ctx.verify_flags |= OPENSSL_NO_CHECK_TIME`` makes an
#: ``ssl.SSLContext`` ignore the machine clock when verifying the peer; then call
#: :func:`check_validity` with the run's clock after the handshake.
OPENSSL_NO_CHECK_TIME = 0x200000

#: Certificates start being valid this long before ``now`` (clock tolerance between peers).
CLOCK_TOLERANCE = HOUR

_T = TypeVar("_T")

Role = Literal["smso", "s1sp"]
CaName = Literal["smso", "s1sp", "device"]
Usage = Literal["client", "server"]

ROLES: tuple[Role, ...] = ("smso", "s1sp")
CA_NAMES: tuple[CaName, ...] = ("smso", "s1sp", "device")

_DNS_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


# --------------------------------------------------------------------------- deterministic keys


def _expand(seed: int, label: tuple[object, ...], purpose: str, size: int) -> bytes:
    """``size`` bytes (<= 64) from the seed, the label and a purpose, stable across processes."""
    tag = derive_seed(seed, purpose, *label)
    text = "\x1f".join(str(p) for p in ("s1lab-pki", purpose, seed, tag, *label)).encode()
    return hashlib.blake2b(text, digest_size=size).digest()


def derive_key(seed: int, *label: object) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key determined by (seed, label...): same inputs, same key."""
    # 512 bits reduced mod n-1: the bias is negligible.
    material = int.from_bytes(_expand(seed, label, "key", 64), "big")
    scalar = material % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def derive_serial(seed: int, *label: object) -> int:
    """A positive certificate serial number below 2**159 determined by (seed, label...)."""
    value = int.from_bytes(_expand(seed, label, "serial", 20), "big") >> 1
    return value or 1


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def bundle_pem(self) -> bytes:
        """Certificate then key in one PEM, usable alone by ``SSLContext.load_cert_chain``."""
        return self.cert_pem() + self.key_pem()

    @property
    def subject_cn(self) -> str:
        return cn_of(self.cert)

    def matches(self) -> bool:
        """True when the key is the private half of the certificate's public key."""
        return self.cert.public_key() == self.key.public_key()


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ])


def _window(now: int, days: int) -> tuple[dt.datetime, dt.datetime]:
    if days <= 0:
        raise PkiError(f"certificate lifetime must be at least one day, got {days}")
    start = (now - CLOCK_TOLERANCE) // SECOND * SECOND
    end = (now + days * DAY) // SECOND * SECOND
    return to_datetime(start), to_datetime(end)


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def mint_ca(common_name: str, organisation: str, now: int, days: int, seed: int) -> Credential:
    """A self-signed CA that issues end-entity certificates only (path length 0)."""
    key = derive_key(seed, "ca", common_name, organisation)
    name = _name(common_name, organisation)
    start, end = _window(now, days)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(derive_serial(seed, "ca", common_name, organisation))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return Credential(cert=cert, key=key)


def mint_leaf(
    issuer: Credential,
    common_name: str,
    organisation: str,
    usage: Usage,
    now: int,
    days: int,
    seed: int,
    eui: str | None = None,
) -> Credential:
    """An end-entity certificate for TLS ``usage`` ("client" or "server"), signed by ``issuer``.

    With ``eui`` (a CHF) the CN is the canonical EUI text and the SAN carries ``dNSName`` of the
    EUI in lower case; ``common_name`` must then be the same EUI in any spelling. Otherwise the CN
    is ``common_name``, also put in the SAN when it is a valid DNS name.
    """
    if usage not in ("client", "server"):
        raise PkiError(f"usage must be 'client' or 'server', got {usage!r}")
    if eui is not None:
        try:
            canonical = normalise(eui)
        except WireError as exc:
            raise PkiError(str(exc)) from None
        if common_name != canonical and _try_normalise(common_name) != canonical:
            raise PkiError(f"a CHF certificate's CN is its EUI {canonical}, not {common_name!r}")
        common_name = canonical
        san: list[x509.GeneralName] = [x509.DNSName(canonical.lower())]
    else:
        san = [x509.DNSName(common_name)] if _DNS_NAME.match(common_name) else []
    key = derive_key(seed, "leaf", issuer.subject_cn, common_name, usage)
    start, end = _window(now, days)
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if usage == "client" else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(derive_serial(seed, "leaf", issuer.subject_cn, common_name, usage))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer.cert)),
            critical=False,
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    return Credential(cert=cert, key=key)


def mint_chf(device_ca: Credential, eui: str, now: int, days: int, seed: int) -> Credential:
    """The TLS server certificate of CHF ``eui``, issued by the device CA."""
    return mint_leaf(device_ca, eui, "s1lab test CHF", "server", now, days, seed, eui=eui)


@dataclass(frozen=True)
class Authorities:
    """The three CAs and the two head-end client credentials of one test PKI."""

    smso_ca: Credential
    s1sp_ca: Credential
    device_ca: Credential
    headend_smso: Credential
    headend_s1sp: Credential

    def ca(self, name: CaName) -> Credential:
        if name == "smso":
            return self.smso_ca
        if name == "s1sp":
            return self.s1sp_ca
        if name == "device":
            return self.device_ca
        raise PkiError(f"unknown CA {name!r} (expected one of {', '.join(CA_NAMES)})")

    def headend(self, role: Role) -> Credential:
        if role == "smso":
            return self.headend_smso
        if role == "s1sp":
            return self.headend_s1sp
        raise PkiError(f"unknown head-end role {role!r} (expected smso or s1sp)")


def mint_authorities(now: int, seed: int, days: int = 3650) -> Authorities:
    """Mint the CAs and head-end credentials in memory (what :func:`init_folder` writes)."""
    smso_ca = mint_ca("s1lab SMSO CA", "s1lab test SMSO", now, days, seed)
    s1sp_ca = mint_ca("s1lab S1SP CA", "s1lab test S1SP (DCC)", now, days, seed)
    device_ca = mint_ca("s1lab device CA", "s1lab test CHF manufacturer", now, days, seed)
    return Authorities(
        smso_ca=smso_ca,
        s1sp_ca=s1sp_ca,
        device_ca=device_ca,
        headend_smso=mint_leaf(
            smso_ca, "smso-headend.s1lab.test", "s1lab test SMSO", "client", now, days, seed
        ),
        headend_s1sp=mint_leaf(
            s1sp_ca, "s1sp-headend.s1lab.test", "s1lab test S1SP (DCC)", "client", now, days, seed
        ),
    )


# --------------------------------------------------------------------------- inspection


def _try_normalise(text: str) -> str | None:
    try:
        return normalise(text)
    except WireError:
        return None


def cn_of(cert: x509.Certificate) -> str:
    """The subject common name; PkiError if the certificate has none."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        raise PkiError(f"certificate {cert.subject.rfc4514_string()!r} has no common name")
    value = attrs[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(cert: x509.Certificate) -> str:
    try:
        return cn_of(cert)
    except PkiError:
        return cert.subject.rfc4514_string()


def eui_of_chf_cert(cert: x509.Certificate) -> str:
    """The canonical EUI of a CHF certificate (from its CN); PkiError if the CN is not an EUI."""
    cn = cn_of(cert)
    canonical = _try_normalise(cn)
    if canonical is None:
        raise PkiError(f"certificate CN {cn!r} is not a CHF EUI-64")
    return canonical


def validity_window(cert: x509.Certificate) -> tuple[int, int]:
    """``(not before, not after)`` in run-clock microseconds."""
    return from_datetime(cert.not_valid_before_utc), from_datetime(cert.not_valid_after_utc)


class _Judged(Generic[_T]):
    """What ``judge`` said of the last few certificate objects (FIFO), keyed by the objects
    themselves. A fleet meets the same parsed certificate object again and again (a CHF, its
    head-ends' certificates, which :mod:`emulator.drivers.peer_certs` parses once per DER):
    an ``lru_cache`` keyed by the certificate hashed the whole certificate at each look-up,
    which cost as much as the check it saved. Entries hold their objects, so an ``id`` cannot
    be reused while it is a key here."""

    __slots__ = ("_judge", "_keep", "_seen")

    def __init__(self, judge: Callable[..., _T], keep: int = 64) -> None:
        self._judge = judge
        self._keep = keep
        self._seen: dict[tuple[int, ...], tuple[tuple[x509.Certificate, ...], _T]] = {}

    def __call__(self, *certs: x509.Certificate) -> _T:
        key = tuple(map(id, certs))
        hit = self._seen.get(key)
        if hit is not None:
            return hit[1]
        value = self._judge(*certs)
        if len(self._seen) >= self._keep:
            del self._seen[next(iter(self._seen))]  # the oldest goes first
        self._seen[key] = (certs, value)
        return value


_validity_window = _Judged(validity_window)


def check_validity(cert: x509.Certificate, now: int) -> None:
    """CertificateError unless ``now`` (the run's clock) lies inside the validity window."""
    start, end = _validity_window(cert)
    if start <= now <= end:
        return
    state = "not yet valid" if now < start else "expired"
    raise CertificateError(
        f"certificate {_describe(cert)!r} is {state} at {isoformat(now)}: "
        f"valid from {isoformat(start)} to {isoformat(end)}"
    )


def check_client_certificate(cert: x509.Certificate) -> None:
    """CertificateError unless ``cert`` can be a head-end's TLS client certificate: an
    end-entity certificate (not CA:TRUE) with an ECDSA P-256 key and extendedKeyUsage
    clientAuth (the profile s1lab's PKI issues, as GBCS's device and access-control broker
    certificates are P-256)."""
    problem = _client_certificate_problem(cert)
    if problem is not None:
        raise CertificateError(f"client certificate {_describe(cert)!r} {problem}")


def _judge_client_certificate(cert: x509.Certificate) -> str | None:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return "has no ECDSA P-256 key"
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "is a CA certificate"
    except x509.ExtensionNotFound:
        pass
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "lacks extendedKeyUsage clientAuth"
    return None


# A fleet's CHFs meet the same few head-end certificates again and again: judge each once.
_client_certificate_problem = _Judged(_judge_client_certificate)


def _names_issuer(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    return cert.issuer == ca.subject


_issued_by = _Judged(_names_issuer, keep=256)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``cert`` names ``ca`` as its issuer (a head-end's role, from the CA that issued
    its certificate: checked once per certificate and CA)."""
    return _issued_by(cert, ca)


def load_pem_cert(data: bytes, source: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise PkiError(f"{source}: not a PEM certificate") from None


def load_pem_key(data: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PkiError(f"{source}: encrypted private key (s1lab needs it unencrypted)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise PkiError(f"{source}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(f"{source}: not an ECDSA P-256 private key")
    return key


# --------------------------------------------------------------------------- folder

_README = """\
s1lab test PKI. Generated by `s1lab pki init` for the emulator only.
{origin}

smso-ca.pem/.key is the
SMSO CA, the supplier head-end trust anchor that CHFs hold before migration (and again after a
rollback); s1sp-ca.pem/.key is the S1SP (DCC) CA that CHFs trust after migration;
device-ca.pem/.key issues the CHF device certificates, and head-ends trust it.
headend-smso.pem/.key and headend-s1sp.pem/.key are the head-ends' TLS client certificates,
issued by the SMSO and S1SP CAs. chf/<EUI>/chf.pem, chf.key and chf-bundle.pem (certificate and
key in one file) are each CHF's TLS server certificate, issued by the device CA. keystore.json
holds each CHF's symmetric keys (master, prepayment, and per head-end role the command and
response MAC keys). Files holding private or secret keys are readable by the owner only.
"""
_FROM_OS = ("Its keys were drawn from the operating system's random source; still, it is a "
            "test PKI, not one for production.")
_FROM_SEED = ("Its keys were DERIVED FROM SEED {seed} (`--seed`): anyone who knows the seed has "
              "them. For reproducible tests only; never use them for anything real.")
#: Bits of operating-system randomness behind the keys of a folder made without ``--seed``.
OS_SEED_BITS = 256


def _write(path: Path, data: bytes, secret: bool) -> None:
    mode = 0o600 if secret else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


def _write_credential(directory: Path, stem: str, cred: Credential) -> None:
    _write(directory / f"{stem}.pem", cred.cert_pem(), secret=False)
    _write(directory / f"{stem}.key", cred.key_pem(), secret=True)


def _next_euis(first: str, count: int) -> list[str]:
    try:
        base = int.from_bytes(eui_from_str(first), "big")
    except WireError as exc:
        raise PkiError(str(exc)) from None
    if base + count > 1 << 64:
        raise PkiError(f"{count} consecutive EUIs from {first} overflow 64 bits")
    return [eui_to_str((base + i).to_bytes(8, "big")) for i in range(count)]


def init_folder(
    directory: Path,
    chfs: int,
    now: int,
    seed: int | None,
    days: int = 3650,
    first_eui: str = "00-1B-C5-0C-00-00-00-01",
) -> PkiFolder:
    """Write a fresh test PKI for ``chfs`` CHFs into ``directory`` (absent or empty).

    ``seed`` None (the default of ``s1lab pki init``) draws every key from the operating system
    (a secret OS_SEED_BITS-bit seed, used once and never written down); a given seed derives the
    same keys every time, for tests only. Private keys and keystore.json are 0o600 and every
    folder 0o700, whatever the umask."""
    origin = _FROM_OS if seed is None else _FROM_SEED.format(seed=seed)
    if seed is None:
        seed = secrets.randbits(OS_SEED_BITS)
    if chfs < 0:
        raise PkiError(f"number of CHFs must be >= 0, got {chfs}")
    if directory.exists():
        if not directory.is_dir():
            raise PkiError(f"{directory}: exists and is not a directory")
        if any(directory.iterdir()):
            raise PkiError(f"{directory}: not empty; refusing to overwrite (choose a new folder)")
    euis = _next_euis(first_eui, chfs)
    try:
        make_private_dir(directory)
        auth = mint_authorities(now, seed, days)
        readme = _README.replace("{origin}", "\n".join(textwrap.wrap(origin, 95)))
        _write(directory / "README.txt", readme.encode(), secret=False)
        for name in CA_NAMES:
            _write_credential(directory, f"{name}-ca", auth.ca(name))
        for role in ROLES:
            _write_credential(directory, f"headend-{role}", auth.headend(role))
        keystore = Keystore(source=str(directory / "keystore.json"))
        chf_root = directory / "chf"
        make_private_dir(chf_root)
        for eui in euis:
            cred = mint_chf(auth.device_ca, eui, now, days, seed)
            folder = chf_root / eui
            make_private_dir(folder)
            _write_credential(folder, "chf", cred)
            _write(folder / "chf-bundle.pem", cred.bundle_pem(), secret=True)
            keystore.add(derive_chf_keys(seed, eui))
        keystore.save(directory / "keystore.json")
    except (OSError, OutputError) as exc:
        raise PkiError(f"{directory}: cannot write the PKI: {exc}") from None
    return PkiFolder.load(directory)


class PkiFolder:
    """A PKI folder written by :func:`init_folder`, fully loaded and checked."""

    def __init__(
        self,
        directory: Path,
        cas: dict[CaName, Credential],
        headends: dict[Role, Credential],
        chfs: dict[str, Credential],
        keystore: Keystore,
    ) -> None:
        self.directory = directory
        self._cas = cas
        self._headends = headends
        self._chfs = chfs
        self._keystore = keystore

    # ---- loading

    @staticmethod
    def _read(path: Path, directory: Path) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PkiError(f"{path}: missing (run `s1lab pki init {directory}`)") from None
        except OSError as exc:
            raise PkiError(f"{path}: cannot read: {exc.strerror or exc}") from None

    @classmethod
    def _load_credential(cls, directory: Path, folder: Path, stem: str) -> Credential:
        cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
        cert = load_pem_cert(cls._read(cert_path, directory), str(cert_path))
        key = load_pem_key(cls._read(key_path, directory), str(key_path))
        cred = Credential(cert=cert, key=key)
        if not cred.matches():
            raise PkiError(f"{key_path}: does not match the public key in {cert_path}")
        return cred

    @staticmethod
    def _check_issued(cred: Credential, path: Path, issuer: Credential, issuer_path: Path) -> None:
        try:
            cred.cert.verify_directly_issued_by(issuer.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise PkiError(f"{path}: not issued by {issuer_path.name}") from None

    @classmethod
    def load(cls, directory: Path) -> PkiFolder:
        if not directory.is_dir():
            raise PkiError(f"{directory}: no PKI folder (run `s1lab pki init {directory}`)")
        cas: dict[CaName, Credential] = {}
        for name in CA_NAMES:
            cred = cls._load_credential(directory, directory, f"{name}-ca")
            ca_path = directory / f"{name}-ca.pem"
            cls._check_issued(cred, ca_path, cred, ca_path)
            cas[name] = cred
        headends: dict[Role, Credential] = {}
        for role in ROLES:
            cred = cls._load_credential(directory, directory, f"headend-{role}")
            cls._check_issued(
                cred, directory / f"headend-{role}.pem", cas[role], directory / f"{role}-ca.pem"
            )
            headends[role] = cred
        keystore = Keystore.load(directory / "keystore.json")
        chfs: dict[str, Credential] = {}
        chf_root = directory / "chf"
        if not chf_root.is_dir():
            raise PkiError(f"{chf_root}: missing (run `s1lab pki init {directory}`)")
        for folder in sorted(chf_root.iterdir()):
            eui = _try_normalise(folder.name)
            if eui is None or eui != folder.name or not folder.is_dir():
                raise PkiError(f"{folder}: not a CHF folder (expected chf/<EUI>, e.g. "
                               "chf/00-1B-C5-0C-00-00-00-01)")
            cred = cls._load_credential(directory, folder, "chf")
            cls._check_issued(cred, folder / "chf.pem", cas["device"], directory / "device-ca.pem")
            if _try_normalise(cn_of(cred.cert)) != eui:
                raise PkiError(f"{folder / 'chf.pem'}: CN {cred.subject_cn!r} is not {eui}")
            bundle = folder / "chf-bundle.pem"
            data = cls._read(bundle, directory)
            if (load_pem_cert(data, str(bundle)) != cred.cert
                    or load_pem_key(data, str(bundle)).private_numbers()
                    != cred.key.private_numbers()):
                raise PkiError(f"{bundle}: does not hold chf.pem and chf.key")
            if eui not in keystore:
                raise PkiError(f"{keystore.source}: no keys for CHF {eui} (its folder: {folder})")
            chfs[eui] = cred
        return cls(directory, cas, headends, chfs, keystore)

    # ---- access

    def _ca(self, name: str) -> Credential:
        if name not in self._cas:
            raise PkiError(f"unknown CA {name!r} (expected one of {', '.join(CA_NAMES)})")
        return self._cas[name]

    @property
    def smso_ca(self) -> Credential:
        return self._cas["smso"]

    @property
    def s1sp_ca(self) -> Credential:
        return self._cas["s1sp"]

    @property
    def device_ca(self) -> Credential:
        return self._cas["device"]

    @property
    def keystore(self) -> Keystore:
        return self._keystore

    def ca_path(self, name: CaName) -> Path:
        """``smso-ca.pem``, ``s1sp-ca.pem`` or ``device-ca.pem`` (a trust anchor file)."""
        self._ca(name)
        return self.directory / f"{name}-ca.pem"

    def headend(self, role: Role) -> Credential:
        if role not in self._headends:
            raise PkiError(f"unknown head-end role {role!r} (expected smso or s1sp)")
        return self._headends[role]

    def headend_paths(self, role: Role) -> tuple[Path, Path]:
        """(certificate, key) files of the ``role`` head-end's client credential."""
        self.headend(role)
        return self.directory / f"headend-{role}.pem", self.directory / f"headend-{role}.key"

    def chf_euis(self) -> list[str]:
        return sorted(self._chfs)

    def _eui(self, eui: str) -> str:
        canonical = _try_normalise(eui)
        if canonical is None or canonical not in self._chfs:
            raise PkiError(f"no certificate for CHF {eui} in {self.directory / 'chf'}")
        return canonical

    def chf(self, eui: str) -> Credential:
        return self._chfs[self._eui(eui)]

    def chf_paths(self, eui: str) -> tuple[Path, Path]:
        """(certificate, key) files of CHF ``eui``."""
        folder = self.directory / "chf" / self._eui(eui)
        return folder / "chf.pem", folder / "chf.key"

    def chf_bundle_path(self, eui: str) -> Path:
        return self.directory / "chf" / self._eui(eui) / "chf-bundle.pem"
