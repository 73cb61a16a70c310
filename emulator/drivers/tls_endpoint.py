"""A TLS endpoint run sans-IO over two memory BIOs: :class:`TlsEndpoint` (one side of a session)
and :class:`TlsOutput` (what one input produced). See :mod:`emulator.drivers.tls`, which makes
the contexts and re-exports both.

This is the data path of every WAN frame (each read: a record sealed and one received on each
side), so it is a module of its own, compiled with the rest of the core
(scripts/compile_core.py), apart from ``tls.py``, whose ``ClientTls`` subclasses
``ssl.SSLContext`` (which mypyc cannot compile).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Protocol

from cryptography import x509

from emulator.drivers.libssl import MemBio, Session, TlsContext
from emulator.drivers.peer_certs import certificate
from emulator.errors import CertificateError, TransportError


class ServerSide(Protocol):
    """A CHF's TLS side (:class:`emulator.drivers.tls.ServerTls`): a new session each time."""

    def session(self) -> Session: ...


class TlsOutput:
    """What one input produced: bytes for the network, plaintext for the application.

    A plain class, not a dataclass: a compiled dataclass with a ``default_factory`` is made
    through the ``__init__`` that :mod:`dataclasses` generates (interpreted, arguments in a
    tuple and a dict), which cost as much as the TLS calls around it; two are made per read."""

    __slots__ = ("closed", "error", "handshake_completed", "plaintext", "to_network")

    def __init__(self) -> None:
        self.to_network = b""
        self.plaintext: list[bytes] = []
        self.handshake_completed = False
        self.closed = False
        self.error: str | None = None


class _Session(Protocol):
    """What an endpoint needs of a TLS session (``ssl.SSLObject`` and
    :class:`~emulator.drivers.libssl.Session`)."""

    def do_handshake(self) -> None: ...

    def read(self, size: int) -> bytes: ...

    def write(self, data: bytes) -> int: ...

    def unwrap(self) -> object: ...

    def version(self) -> str | None: ...

    def getpeercert(self, binary_form: bool) -> object: ...


class TlsEndpoint:
    """One side of a TLS session over a pair of memory BIOs: a head-end's (client, an
    ``ssl.SSLContext``) or a CHF's (server, a :class:`~emulator.drivers.tls.ServerTls`).

    A head-end's :class:`~emulator.drivers.tls.ClientTls` and a CHF's ``ServerTls`` run s1lab's
    own sessions (:class:`~emulator.drivers.libssl.Session`); any other ``ssl.SSLContext`` runs
    an ``ssl.SSLObject``."""

    __slots__ = ("_done", "_header", "_in", "_left", "_obj", "_out", "_records", "_server",
                 "_session", "closed", "error", "established")

    def __init__(self, ctx: ssl.SSLContext | ServerSide, server_side: bool) -> None:
        self._in: ssl.MemoryBIO | MemBio
        self._out: ssl.MemoryBIO | MemBio
        self._obj: _Session
        session: Session | None = None
        if not isinstance(ctx, ssl.SSLContext):  # a CHF's ServerTls
            if not server_side:
                raise TransportError("a CHF's TLS side is the server")
            session = ctx.session()
        elif not server_side:
            # A ClientTls: its OpenSSL context of s1lab's own (emulator.drivers.tls), which
            # this module cannot import (tls.py imports it).
            own = getattr(ctx, "tls", None)
            if isinstance(own, TlsContext):
                session = own.session()
        if session is not None:
            self._obj, self._in, self._out = session, session.incoming, session.outgoing
        else:
            assert isinstance(ctx, ssl.SSLContext)
            self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._obj = ctx.wrap_bio(self._in, self._out, server_side=server_side)
        self._session = session
        self._server = server_side
        self._done = False  # our side of the handshake is finished
        #: ... and the peer has accepted us (reported once; an attribute, not a property:
        #: the data path asks it per frame).
        self.established = False
        # TLS 1.3 client: whole records received after the handshake (see _peer_accepted),
        # the bytes of a record header so far and the bytes left of the record being read.
        self._records = 0
        self._header = b""
        self._left = 0
        self.closed = False
        self.error: str | None = None

    @property
    def version(self) -> str | None:
        return self._obj.version()

    def peer_certificate(self) -> x509.Certificate:
        der = self._obj.getpeercert(binary_form=True)
        if not isinstance(der, bytes) or not der:
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
            if self._done and not self.established and not self._server:
                self._count_records(data)
            if self.established and self._session is not None:
                self._read_records(self._session, data, out)
                return out
            self._in.write(data)
        else:
            self._in.write_eof()
        self._step(out)
        return out

    def _read_records(self, session: Session, data: bytes, out: TlsOutput) -> None:
        """The data path of an established session of s1lab's own: what writing ``data``
        (bytes, not an EOF) on the incoming BIO and :meth:`_step` do once the handshake is
        done and confirmed."""
        try:
            if session.receive(data, out.plaintext):
                return  # one application record read: nothing for the network
        except ssl.SSLZeroReturnError:
            self.closed = True
            out.closed = True
        except ssl.SSLError as exc:
            self.closed = True
            out.closed = True
            self.error = out.error = exc.reason or str(exc)
        out.to_network = session.outgoing.read()

    def send(self, plaintext: bytes) -> bytes:
        """Encrypt application bytes; returns what to put on the network."""
        if not self._done or self.closed:
            raise TransportError("TLS session is not established")
        session = self._session
        if session is not None:
            try:
                return session.seal(plaintext)
            except ssl.SSLError as exc:
                raise TransportError(f"TLS write failed: {exc}") from None
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
            read = True
            if not self._done:
                obj = self._obj
                if type(obj) is Session:  # s1lab's own sessions: no exception per flight
                    if not obj.handshake_step():
                        out.to_network = self._out.read()
                        return
                    # Nothing came after the peer's last flight: no read to fail.
                    read = obj.input_pending()
                else:
                    try:
                        obj.do_handshake()
                    except ssl.SSLWantReadError:
                        out.to_network = self._out.read()
                        return
                self._done = True
            while read:
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
            if not self.established and not self.closed and self._peer_accepted():
                self.established = True
                out.handshake_completed = True
                if not self._server and isinstance(self._obj, Session):
                    # OpenSSL keeps its 17 KiB read buffer after the ticket (a post-handshake
                    # message) until the first application record: give it back now.
                    self._obj.release_buffers()
        except ssl.SSLError as exc:
            self.closed = True
            out.closed = True
            self.error = out.error = exc.reason or str(exc)
        out.to_network = self._out.read()
