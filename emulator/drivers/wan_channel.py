"""A WAN channel: TLS over a link, carrying length-prefixed WAN frames.

One class serves both ends (the CHF is always the TLS server, whichever side opened the
connection) and both transports (memory, TCP). After the handshake the peer's certificate is
judged against the run's clock and handed to ``on_established`` for the caller to decide who the
peer is (a CHF maps the issuing CA to a role; a head-end reads the CHF's EUI-64).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from cryptography import x509

from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.tls import TlsEndpoint, TlsOutput
from emulator.errors import MalformedFrame, S1labError, TransportError
from emulator.pki import check_validity
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
        "_link",
        "_reader",
        "_tls",
        "close_reason",
        "on_closed",
        "on_established",
        "on_frame",
    )

    def __init__(
        self,
        link: LinkEnd,
        ctx: ssl.SSLContext,
        server_side: bool,
        clock: Clock,
    ) -> None:
        self._link = link
        self._clock = clock
        self._tls = TlsEndpoint(ctx, server_side)
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
        if not self.established:
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

    def _on_data(self, data: bytes) -> None:
        if self.close_reason is None:
            self._handle(self._tls.receive(data))

    def _handle(self, out: TlsOutput) -> None:
        if out.to_network:
            self._link.write(out.to_network)
        if out.error is not None:
            self._link.close()
            self._finish(f"TLS: {out.error}")
            return
        if out.handshake_completed:
            try:
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
