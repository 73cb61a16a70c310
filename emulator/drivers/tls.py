"""TLS run sans-IO over memory BIOs: OpenSSL does the protocol, we move the bytes.

The same :class:`TlsEndpoint` runs over an in-memory link on the virtual clock and over a TCP
socket in real time. asyncio's own SSL transport is avoided on purpose: it reserves ~256 KiB per
connection, where a memory-BIO session costs ~26 KiB a side.

A head-end (the TLS client) uses an ``ssl.SSLContext`` over ``ssl.MemoryBIO``. A CHF (the TLS
server) is a :class:`ServerTls`: its own certificate and key, set per session on one OpenSSL
context shared by every CHF that trusts the same CAs (:mod:`emulator.drivers.libssl`), because a
context of Python's ssl holds one certificate and costs ~25 KiB, which a fleet paid per CHF.

OpenSSL checks certificate validity against the machine's clock; s1lab judges validity by the
*run's* clock instead. Contexts made here switch OpenSSL's time check off
(X509_V_FLAG_NO_CHECK_TIME) and the endpoint checks the peer's certificate against ``now``
after the handshake (:func:`emulator.pki.check_validity`).

Both sides offer the ALPN name ``s1lab/1`` (:data:`ALPN`): it names the WAN protocol inside the
TLS session, and it is how Wireshark's s1lab dissector finds decrypted WAN traffic. A peer that
offers no ALPN (``openssl s_client`` without ``-alpn``) is still served.

Key logs (NSS format, :mod:`emulator.capture.keylog`): a head-end context logs to the file it
is given, else to ``$SSLKEYLOGFILE``. A CHF logs only to a file it is given: the head-end side
already logs every session of a fleet.
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulator.capture.keylog import enable_keylog, keylog_path
from emulator.drivers.libssl import ServerKeys, Session, TlsContext
from emulator.drivers.tls_endpoint import TlsEndpoint as TlsEndpoint
from emulator.drivers.tls_endpoint import TlsOutput as TlsOutput
from emulator.errors import CertificateError, TransportError
from emulator.pki import OPENSSL_NO_CHECK_TIME

#: The ALPN protocol name of WAN protocol v1 (docs/wan-protocol.md).
ALPN = "s1lab/1"
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_TLS12_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"


def _configure(ctx: ssl.SSLContext, min_version: str, max_version: str) -> None:
    try:
        ctx.minimum_version = TLS_VERSIONS[min_version]
        ctx.maximum_version = TLS_VERSIONS[max_version]
    except KeyError as exc:
        raise TransportError(f"unknown TLS version {exc.args[0]!r} (use 1.2 or 1.3)") from None
    ctx.set_ciphers(_TLS12_CIPHERS)
    ctx.set_ecdh_curve("prime256v1")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags = ssl.VerifyFlags(int(ctx.verify_flags) | OPENSSL_NO_CHECK_TIME)
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.set_alpn_protocols([ALPN])


#: TLS 1.3 session tickets a CHF sends: one, on purpose. It is the CHF's only message after it
#: has checked the head-end's certificate, so the head-end waits for it to know it was accepted
#: (see :meth:`TlsEndpoint._peer_accepted`).
NUM_TICKETS = 1

_shared: weakref.WeakValueDictionary[tuple[object, ...], TlsContext] = (
    weakref.WeakValueDictionary())


def _shared_context(trusted_der: tuple[bytes, ...], min_version: str, max_version: str,
                    keylog: Path | None) -> TlsContext:
    """The one server context of this trust set, TLS versions and key log (made on first use,
    gone when no CHF holds it)."""
    key = (trusted_der, min_version, max_version, keylog)
    ctx = _shared.get(key)
    if ctx is None:
        ctx = TlsContext(server=True, trusted_der=trusted_der, min_version=min_version,
                         max_version=max_version, ciphers=_TLS12_CIPHERS, alpn=ALPN,
                         num_tickets=NUM_TICKETS, keylog=keylog)
        _shared[key] = ctx
    return ctx


class ServerTls:
    """A CHF's side of TLS: its certificate and key (parsed once), on the shared server context
    of the CAs it trusts. :meth:`with_trust` gives the same CHF trusting other CAs."""

    __slots__ = ("_context", "_keys", "_versions")

    def __init__(self, keys: ServerKeys, context: TlsContext,
                 versions: tuple[str, str]) -> None:
        self._keys = keys
        self._context = context
        self._versions = versions

    @property
    def shared_context(self) -> TlsContext:
        return self._context

    def session(self) -> Session:
        return self._context.session(self._keys)

    def with_trust(self, trusted_ca_pem: Sequence[bytes], keylog: Path | None = None
                   ) -> ServerTls:
        return ServerTls(self._keys, _shared_context(_ders(trusted_ca_pem), *self._versions,
                                                     keylog), self._versions)


def _ders(pems: Sequence[bytes]) -> tuple[bytes, ...]:
    try:
        return tuple(x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER)
                     for p in pems)
    except ValueError as exc:
        raise CertificateError(f"cannot load a trusted CA certificate: {exc}") from None


def server_tls(cert_der: bytes, key_der: bytes, trusted_ca_pem: Sequence[bytes],
               min_version: str = "1.2", max_version: str = "1.3",
               keylog: Path | None = None) -> ServerTls:
    """A CHF's TLS server side from its certificate and PKCS#8 key (DER), trusting the
    head-end CA(s) given; session secrets go to ``keylog`` when one is given."""
    if min_version not in TLS_VERSIONS or max_version not in TLS_VERSIONS:
        bad = min_version if min_version not in TLS_VERSIONS else max_version
        raise TransportError(f"unknown TLS version {bad!r} (use 1.2 or 1.3)")
    return ServerTls(ServerKeys(cert_der, key_der),
                     _shared_context(_ders(trusted_ca_pem), min_version, max_version, keylog),
                     (min_version, max_version))


def server_context(
    bundle: Path,
    trusted_ca_pem: bytes | Sequence[bytes],
    min_version: str = "1.2",
    max_version: str = "1.3",
    keylog: Path | None = None,
) -> ServerTls:
    """A CHF's TLS server side from its certificate+key bundle (PEM), trusting the head-end
    CA(s) given; session secrets go to ``keylog`` when one is given."""
    try:
        pem = bundle.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"{bundle}: cannot load TLS credentials: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(f"{bundle}: cannot load TLS credentials: the key does not "
                               "match the certificate")
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pems = [trusted_ca_pem] if isinstance(trusted_ca_pem, bytes) else list(trusted_ca_pem)
    return server_tls(cert.public_bytes(serialization.Encoding.DER), key_der, pems,
                      min_version, max_version, keylog)


class ClientTls(ssl.SSLContext):
    """A head-end's context: an ``ssl.SSLContext`` (for whatever wraps a socket or BIOs with
    it) that also holds the same identity as a :class:`~emulator.drivers.libssl.TlsContext`,
    on which :class:`TlsEndpoint` runs its sessions: there a session's read buffer can be
    given back once the CHF's ticket is read (~17 KiB a session until its first reply)."""

    tls: TlsContext


def _pem_identity(cert: Path, key: Path) -> ServerKeys:
    """A certificate and key from PEM files, parsed by OpenSSL."""
    c = x509.load_pem_x509_certificate(cert.read_bytes())
    k = serialization.load_pem_private_key(key.read_bytes(), None)
    return ServerKeys(c.public_bytes(serialization.Encoding.DER),
                      k.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def client_context(
    cert: Path,
    key: Path,
    trusted_ca_pem: bytes,
    min_version: str = "1.2",
    max_version: str = "1.3",
    keylog: Path | None = None,
) -> ClientTls:
    """A head-end's context: its client certificate, trusting the CHF device CA; session
    secrets go to ``keylog``, else to ``$SSLKEYLOGFILE`` when that is set."""
    ctx = ClientTls(ssl.PROTOCOL_TLS_CLIENT)
    _configure(ctx, min_version, max_version)
    ctx.check_hostname = False  # CHFs are named by EUI-64 in the certificate, checked by caller
    try:
        ctx.load_cert_chain(str(cert), str(key))
        ctx.load_verify_locations(cadata=trusted_ca_pem.decode())
        identity = _pem_identity(cert, key)
    except (ssl.SSLError, OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"{cert}: cannot load TLS credentials: {exc}") from None
    path = keylog_path(keylog)
    if path is not None:
        enable_keylog(ctx, path)
    ctx.tls = TlsContext(server=False, trusted_der=_ders([trusted_ca_pem]),
                         min_version=min_version, max_version=max_version,
                         ciphers=_TLS12_CIPHERS, alpn=ALPN, keylog=path, own=identity)
    return ctx
