"""TLS run sans-IO over ``ssl.MemoryBIO``: OpenSSL does the protocol, we move the bytes.

The same :class:`TlsEndpoint` runs over an in-memory link on the virtual clock and over a TCP
socket in real time. asyncio's own SSL transport is avoided on purpose: it reserves ~256 KiB per
connection, where a MemoryBIO pair costs ~27 KiB a side.

OpenSSL checks certificate validity against the machine's clock; s1lab judges validity by the
*run's* clock instead. Contexts made here switch OpenSSL's time check off
(X509_V_FLAG_NO_CHECK_TIME) and the endpoint checks the peer's certificate against ``now``
after the handshake (:func:`emulator.pki.check_validity`).

Both sides offer the ALPN name ``s1lab/1`` (:data:`ALPN`): it names the WAN protocol inside the
TLS session, and it is how Wireshark's s1lab dissector finds decrypted WAN traffic. A peer that
offers no ALPN (``openssl s_client`` without ``-alpn``) is still served.

Key logs (NSS format, :mod:`emulator.capture.keylog`): a head-end context logs to the file it
is given, else to ``$SSLKEYLOGFILE``. A CHF context logs only to a file it is given: a fleet
has one server context per CHF and each would hold the file open, where the head-end side has
one context for all of them and already logs every session.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from emulator.capture.keylog import enable_keylog, keylog_path
from emulator.drivers.peer_certs import certificate
from emulator.errors import CertificateError, TransportError
from emulator.pki import OPENSSL_NO_CHECK_TIME

#: The ALPN protocol name of WAN protocol v1 (docs/wan-protocol.md).
ALPN = "s1lab/1"
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_TLS12_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"


def _base_context(
    purpose: ssl.Purpose, min_version: str, max_version: str
) -> ssl.SSLContext:
    server = purpose is ssl.Purpose.CLIENT_AUTH
    side = ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT
    ctx = ssl.SSLContext(side)
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
    return ctx


def server_context(
    bundle: Path,
    trusted_ca_pem: bytes | Sequence[bytes],
    min_version: str = "1.2",
    max_version: str = "1.3",
    keylog: Path | None = None,
) -> ssl.SSLContext:
    """A CHF's context: its own certificate+key bundle, trusting the head-end CA(s) given;
    session secrets go to ``keylog`` when one is given."""
    ctx = _base_context(ssl.Purpose.CLIENT_AUTH, min_version, max_version)
    try:
        ctx.load_cert_chain(str(bundle))
        for pem in [trusted_ca_pem] if isinstance(trusted_ca_pem, bytes) else trusted_ca_pem:
            ctx.load_verify_locations(cadata=pem.decode())
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise CertificateError(f"{bundle}: cannot load TLS credentials: {exc}") from None
    # One TLS 1.3 ticket: it is the CHF's only message after it has checked the head-end's
    # certificate, so the head-end waits for it to know it was accepted (see TlsEndpoint).
    ctx.num_tickets = 1
    if keylog is not None:
        enable_keylog(ctx, keylog)
    return ctx


def client_context(
    cert: Path,
    key: Path,
    trusted_ca_pem: bytes,
    min_version: str = "1.2",
    max_version: str = "1.3",
    keylog: Path | None = None,
) -> ssl.SSLContext:
    """A head-end's context: its client certificate, trusting the CHF device CA; session
    secrets go to ``keylog``, else to ``$SSLKEYLOGFILE`` when that is set."""
    ctx = _base_context(ssl.Purpose.SERVER_AUTH, min_version, max_version)
    ctx.check_hostname = False  # CHFs are named by EUI-64 in the certificate, checked by caller
    try:
        ctx.load_cert_chain(str(cert), str(key))
        ctx.load_verify_locations(cadata=trusted_ca_pem.decode())
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise CertificateError(f"{cert}: cannot load TLS credentials: {exc}") from None
    path = keylog_path(keylog)
    if path is not None:
        enable_keylog(ctx, path)
    return ctx


@dataclass(slots=True)
class TlsOutput:
    """What one input produced: bytes for the network, plaintext for the application."""

    to_network: bytes = b""
    plaintext: list[bytes] = field(default_factory=list)
    handshake_completed: bool = False
    closed: bool = False
    error: str | None = None


class TlsEndpoint:
    """One side of a TLS session over a pair of memory BIOs."""

    __slots__ = ("_confirmed", "_done", "_header", "_in", "_left", "_obj", "_out", "_records",
                 "_server", "closed", "error")

    def __init__(self, ctx: ssl.SSLContext, server_side: bool) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_side=server_side)
        self._server = server_side
        self._done = False  # our side of the handshake is finished
        self._confirmed = False  # ... and the peer has accepted us (reported once)
        # TLS 1.3 client: whole records received after the handshake (see _peer_accepted),
        # the bytes of a record header so far and the bytes left of the record being read.
        self._records = 0
        self._header = b""
        self._left = 0
        self.closed = False
        self.error: str | None = None

    @property
    def established(self) -> bool:
        return self._confirmed

    @property
    def version(self) -> str | None:
        return self._obj.version()

    def peer_certificate(self) -> x509.Certificate:
        der = self._obj.getpeercert(binary_form=True)
        if not der:
            raise CertificateError("peer sent no certificate")
        return certificate(der)  # parsed once per certificate (see peer_certs)

    def start(self) -> TlsOutput:
        """Begin the handshake (the client's first flight; nothing for a server)."""
        out = TlsOutput()
        self._step(out)
        return out

    def receive(self, data: bytes) -> TlsOutput:
        """Feed bytes from the network."""
        out = TlsOutput()
        if self.closed:
            return out
        if data:
            if self._done and not self._confirmed and not self._server:
                self._count_records(data)
            self._in.write(data)
        else:
            self._in.write_eof()
        self._step(out)
        return out

    def send(self, plaintext: bytes) -> bytes:
        """Encrypt application bytes; returns what to put on the network."""
        if not self._done or self.closed:
            raise TransportError("TLS session is not established")
        try:
            self._obj.write(plaintext)
        except ssl.SSLError as exc:
            raise TransportError(f"TLS write failed: {exc}") from None
        return self._out.read()

    def close(self) -> bytes:
        """Send close_notify; returns the bytes to put on the network."""
        if self.closed:
            return b""
        self.closed = True
        if self._done:
            with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
                self._obj.unwrap()
        return self._out.read()

    def _count_records(self, data: bytes) -> None:
        """Follow the TLS record framing (5-byte header, 2-byte length) of ``data``."""
        i, n = 0, len(data)
        while i < n:
            if self._left:
                take = min(self._left, n - i)
                self._left -= take
                i += take
                if not self._left:
                    self._records += 1
                continue
            need = 5 - len(self._header)
            self._header += data[i:i + need]
            i += need
            if len(self._header) == 5:
                self._left = int.from_bytes(self._header[3:5], "big")
                self._header = b""
                if not self._left:
                    self._records += 1

    def _peer_accepted(self) -> bool:
        # A server, and a TLS 1.2 client (the server's Finished follows its check of our
        # certificate), know at once. A TLS 1.3 client finishes before the server has judged
        # its certificate: the first whole record after the handshake that OpenSSL takes
        # without an alert (the CHF's session ticket, sent once it has accepted us) is the
        # sign. Not ``SSLObject.session.has_ticket``: each ``session`` copies the session and,
        # with this Python and OpenSSL, keeps about 5 KiB per call (measured), which a fleet
        # pays per CHF.
        if self._server or self._obj.version() != "TLSv1.3":
            return True
        return self._records > 0

    def _step(self, out: TlsOutput) -> None:
        try:
            if not self._done:
                try:
                    self._obj.do_handshake()
                except ssl.SSLWantReadError:
                    out.to_network = self._out.read()
                    return
                self._done = True
            while True:
                try:
                    chunk = self._obj.read(16384)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    self.closed = True
                    out.closed = True
                    break
                if not chunk:
                    self.closed = True
                    out.closed = True
                    break
                out.plaintext.append(chunk)
            if not self._confirmed and not self.closed and self._peer_accepted():
                self._confirmed = True
                out.handshake_completed = True
        except ssl.SSLError as exc:
            self.closed = True
            out.closed = True
            self.error = out.error = exc.reason or str(exc)
        out.to_network = self._out.read()
