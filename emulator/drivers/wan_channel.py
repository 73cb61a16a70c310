"""A WAN channel: TLS over a link, carrying length-prefixed WAN frames.

One class serves both ends (the CHF is always the TLS server, whichever side opened the
connection) and both transports (memory, TCP). After the handshake the peer's certificate is
judged against the run's clock and handed to ``on_established`` for the caller to decide who the
peer is (a CHF maps the issuing CA to a role; a head-end reads the CHF's EUI-64).

The server judges the client before it lets the handshake's last flight out: the bytes that
OpenSSL writes as it completes the handshake (a TLS 1.3 session ticket, a TLS 1.2 Finished) go
to the client only if its certificate is valid on the run's clock and is a head-end client
certificate (:func:`emulator.pki.check_client_certificate`). A refused client never receives
them, so it never looks connected.

:meth:`WanChannel.watch` closes a channel whose handshake does not finish in time or that
stays silent too long (TCP: half-open connections do not pile up).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from cryptography import x509

from emulator.core.timebase import SECOND
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.tls import ServerTls, TlsEndpoint, TlsOutput
from emulator.errors import MalformedFrame, S1labError, TransportError
from emulator.pki import check_client_certificate, check_validity
from emulator.wire.wan import RecordReader, record

OnFrame = Callable[[bytes], None]
OnEstablished = Callable[[x509.Certificate], None]
OnClosed = Callable[[str], None]


def _ignore_frame(frame: bytes) -> None:
    pass


def _ignore_cert(cert: x509.Certificate) -> None:
    pass


def _ignore_close(reason: str) -> None:
    pass


class WanChannel:
    __slots__ = (
        "_clock",
        "_last_heard",
        "_link",
        "_reader",
        "_server",
        "_tls",
        "_watched",
        "close_reason",
        "on_closed",
        "on_established",
        "on_frame",
    )

    def __init__(
        self,
        link: LinkEnd,
        ctx: ssl.SSLContext | ServerTls,
        server_side: bool,
        clock: Clock,
    ) -> None:
        self._link = link
        self._clock = clock
        self._tls = TlsEndpoint(ctx, server_side)
        self._server = server_side
        self._last_heard = clock.now_us()
        self._watched = False  # watch() was called: the time of each arrival is kept
        self._reader = RecordReader()
        self.on_frame: OnFrame = _ignore_frame
        self.on_established: OnEstablished = _ignore_cert
        self.on_closed: OnClosed = _ignore_close
        self.close_reason: str | None = None
        link.attach(self._on_data, self._on_link_closed)

    @property
    def established(self) -> bool:
        return self._tls.established and self.close_reason is None

    @property
    def tls_version(self) -> str | None:
        return self._tls.version

    @property
    def peer_name(self) -> str:
        return self._link.peer_name

    def start(self) -> None:
        """Client side: send the first handshake flight."""
        self._handle(self._tls.start())

    def send_frame(self, frame: bytes) -> None:
        if self.close_reason is not None or not self._tls.established:  # not self.established
            raise TransportError(f"WAN channel to {self.peer_name} is not open")
        self._link.write(self._tls.send(record(frame)))

    def close(self, reason: str = "closed locally") -> None:
        if self.close_reason is not None:
            return
        self._link.write(self._tls.close())
        self._link.close()
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self.on_closed(reason)

    def _on_link_closed(self, reason: str) -> None:
        self._tls.closed = True
        self._finish(self._tls.error and f"TLS: {self._tls.error}" or reason)

    def watch(self, handshake_s: float, idle_s: float) -> None:
        """Close this channel if its handshake is not done ``handshake_s`` after now, or when
        nothing arrives from the peer for ``idle_s`` (timers on the running loop's clock).
        Called as the channel is made (before anything arrives): the quiet time counts from
        then, or from the last arrival after the call."""
        loop = asyncio.get_running_loop()
        self._watched = True

        def handshake_due() -> None:
            if self.close_reason is None and not self._tls.established:
                self._drop(f"TLS handshake not completed within {handshake_s:g} s")

        def idle_due() -> None:
            if self.close_reason is not None:
                return
            quiet_s = (self._clock.now_us() - self._last_heard) / SECOND
            if quiet_s >= idle_s:
                self.close(f"idle for {idle_s:g} s")
            else:
                loop.call_later(idle_s - quiet_s, idle_due)

        loop.call_later(handshake_s, handshake_due)
        loop.call_later(idle_s, idle_due)

    def _drop(self, reason: str) -> None:
        """Close the link without a TLS goodbye (a refused or half-open peer)."""
        self._tls.closed = True
        self._link.close()
        self._finish(reason)

    def _on_data(self, data: bytes) -> None:
        if self.close_reason is None:
            if self._watched:  # only the idle watch reads it (a clock read per record)
                self._last_heard = self._clock.now_us()
            self._handle(self._tls.receive(data))

    def _handle(self, out: TlsOutput) -> None:
        cert: x509.Certificate | None = None
        if out.handshake_completed and self._server:
            # Judge the client before the handshake's last flight (its ticket) leaves.
            try:
                cert = self._tls.peer_certificate()
                check_validity(cert, self._clock.now_us())
                check_client_certificate(cert)
            except S1labError as exc:
                self._drop(str(exc))
                return
        if out.to_network:
            self._link.write(out.to_network)
        if out.error is not None:
            self._link.close()
            self._finish(f"TLS: {out.error}")
            return
        if out.handshake_completed:
            try:
                if cert is None:
                    cert = self._tls.peer_certificate()
                    check_validity(cert, self._clock.now_us())
                self.on_established(cert)  # not kept: ~1 KiB a side adds up in a fleet
            except S1labError as exc:
                self.close(str(exc))
                return
        for chunk in out.plaintext:
            try:
                frames = self._reader.feed(chunk)
            except MalformedFrame as exc:
                # The record stream is out of sync: nothing after this can be trusted.
                self.close(f"framing lost: {exc}")
                return
            for frame in frames:
                if self.close_reason is not None:
                    return
                self.on_frame(frame)
        if out.closed:
            self._link.close()
            self._finish("closed by peer")
