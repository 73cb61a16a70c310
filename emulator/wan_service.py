"""An installation's WAN service: the CHF as TLS server to head-ends on links.

It accepts head-end connections (the CHF is the TLS server whoever opened TCP), hands each
frame to the CHF core, sends the reply, flushes the replies that waited on the HAN to the
sessions that asked, and moves its TLS side to the shared server context of its new
trust anchor when the CHF swaps (or restores) it, so that new sessions use the new one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from emulator.core.chf import Chf
from emulator.core.installation import InstallationCore
from emulator.core.trace_sink import Emit
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.tls import ServerTls, server_context
from emulator.drivers.wan_channel import WanChannel
from emulator.pki import issued_by
from emulator.profiles import ResolvedDmc
from emulator.wire.vocabulary import Role

_sessions: Final = itertools.count(1)


def _unhooked(_: object) -> None:
    """What an ended session's channel calls instead of its installation."""


class WanService:
    """Serves head-ends for one installation's CHF.

    ``rearm`` is called after each frame the CHF handled, so the installation's next deadline
    is kept armed.
    """

    def __init__(
        self,
        *,
        core: InstallationCore,
        dmc: ResolvedDmc,
        chf_bundle: Path,
        trust: dict[Role, x509.Certificate],
        clock: Clock,
        emit: Emit,
        rearm: Callable[[], None],
        server_ctx: ServerTls | None = None,
        keylog: Path | None = None,
    ) -> None:
        self._core = core
        self._keylog = keylog  # the CHF's TLS secrets (serve; fleets log at the head-end)
        self._dmc = dmc
        self._bundle = chf_bundle
        self._clock = clock
        self._emit = emit
        self._rearm = rearm
        self.trust = dict(trust)
        self._ctx = server_ctx or self._server_context()
        self._anchor_der = self.chf.anchor_der
        self.channels: list[WanChannel] = []
        self._by_session: dict[int, WanChannel] = {}
        self.sessions_opened = 0
        self.frames_served = 0

    @property
    def chf(self) -> Chf:
        return self._core.devices.chf

    @property
    def tls(self) -> ServerTls:
        """The CHF's TLS side: its certificate on the shared server context of its trust."""
        return self._ctx

    def _server_context(self) -> ServerTls:
        return server_context(
            self._bundle,
            self._trusted_pems(),
            self._dmc.chf.tls_min_version,
            self._dmc.chf.tls_max_version,
            keylog=self._keylog,
        )

    def _trusted_pems(self) -> list[bytes]:
        return [c.public_bytes(Encoding.PEM) for c in self.trust.values()]

    def after_security_change(self) -> None:
        """The CHF swapped (or restored) its trust anchor: new TLS sessions use the new one."""
        chf = self.chf
        if chf.anchor_der != self._anchor_der:
            self._anchor_der = chf.anchor_der
            self.trust = {chf.anchor: x509.load_der_x509_certificate(chf.anchor_der)}
            self._ctx = self._ctx.with_trust(self._trusted_pems(), self._keylog)
        if chf.drop_sessions:
            chf.drop_sessions = False
            for channel in list(self.channels):
                channel.close("CHF lost its WAN session (SIM move or restart)")

    def wan_available(self, now: int) -> bool:
        return self.chf.wan_up(now)

    def flush(self) -> None:
        """Send the replies that waited on the HAN to the sessions that asked."""
        for session, frame in self.chf.take_outgoing():
            channel = self._by_session.get(session)
            if channel is not None and channel.established:
                channel.send_frame(frame)

    def role_of(self, cert: x509.Certificate) -> Role | None:
        for role, ca in self.trust.items():
            if issued_by(cert, ca):
                return role
        return None

    def accept(self, link: LinkEnd) -> WanChannel:
        """A head-end connection arrived on ``link``: serve it (the CHF is the TLS server)."""
        channel = WanChannel(link, self._ctx, server_side=True, clock=self._clock)
        chf = self.chf
        if not self.wan_available(self._clock.now_us()):
            link.close()  # no WAN: the SIM is reattaching after a move
            return channel
        role: list[Role | None] = [None]
        session = next(_sessions)
        self._by_session[session] = channel

        def established(cert: x509.Certificate) -> None:
            role[0] = self.role_of(cert)
            self.sessions_opened += 1
            self._emit(self._clock.now_us(), chf.eui, "WanSessionOpened",
                       {"peer": role[0].name if role[0] else None,
                        "tls": channel.tls_version})

        def frame(data: bytes) -> None:
            now = self._clock.now_us()
            reply = chf.handle_frame(data, now, role[0], session)
            self.frames_served += 1
            self._core.after_command(now)
            self._rearm()
            if reply is not None and channel.established:
                channel.send_frame(reply)
            if chf.drop_sessions or chf.anchor_der != self._anchor_der:
                self.after_security_change()

        def closed(reason: str) -> None:
            self._emit(self._clock.now_us(), chf.eui, "WanSessionClosed", {"reason": reason})
            if channel in self.channels:
                self.channels.remove(channel)
            self._by_session.pop(session, None)
            # The channel holds these callbacks and they hold the channel: unhook them so
            # the ended session is freed at once, not by the cyclic collector.
            channel.on_established = _unhooked
            channel.on_frame = _unhooked
            channel.on_closed = _unhooked

        channel.on_established = established
        channel.on_frame = frame
        channel.on_closed = closed
        self.channels.append(channel)
        return channel

    def close(self) -> None:
        for channel in list(self.channels):
            channel.close("installation stopped")
