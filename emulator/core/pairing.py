"""A CHF core and a head-end core wired together in memory: no TLS, no event loop.

For command tests and scenarios that care about what a command does, not how it travels:
every call takes an explicit ``now`` (µs). A frame goes straight from the head-end core to
:meth:`Chf.handle_frame` and the reply straight back (no WAN latency). A reply that waits on the
HAN (ESME reads over ZigBee, anything for the sleepy GSME) is awaited by running the
installation core's own deadlines, in order, until it comes out of ``Chf.outgoing``; ``now`` is
then the time it came (:attr:`WanPair.now`).

What the TLS session adds is not here: certificates and trust anchors (who may connect), WAN
latency, and closing sessions after a SIM move or restart. Test those over TLS
(``harness.headend.connect``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from emulator.core.chf import Chf
from emulator.core.headend import Command, HeadEndCore, Reply, ReplyFailed
from emulator.core.installation import InstallationCore
from emulator.core.timebase import HOUR
from emulator.core.trace_sink import Emit, discard
from emulator.errors import LocalProtocolError, TransportError
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import MessageType, Role

T = TypeVar("T")

#: How long a deferred reply may take before the pair gives up (a sleepy GSME polls every
#: 30 minutes in the shipped profiles; the asyncio session waits as long).
DEFAULT_REPLY_TIMEOUT_US = HOUR


class WanPair:
    """``headend`` talking to ``chf`` (inside ``installation``, whose deadlines it runs).

    ``tls_role`` is who the CHF believes the peer is (default: the head-end's own role)."""

    def __init__(
        self, chf: Chf, headend: HeadEndCore, now: int, *,
        installation: InstallationCore | None = None, tls_role: Role | None = None,
        emit: Emit = discard, session: int = 0,
        reply_timeout_us: int = DEFAULT_REPLY_TIMEOUT_US,
    ) -> None:
        if installation is not None and installation.devices.chf is not chf:
            raise LocalProtocolError("the installation core holds another CHF")
        self.chf = chf
        self.headend = headend
        if not headend.chf_eui:
            headend.chf_eui = chf.eui
        self.installation = installation
        self.tls_role = headend.role if tls_role is None else tls_role
        self.now = now
        self.session = session
        self.reply_timeout_us = reply_timeout_us
        self._emit = emit
        self.requests = 0

    @property
    def name(self) -> str:
        return f"headend:{self.headend.role.name.lower()}"

    # ---- time ----------------------------------------------------------------------------

    def advance(self, until: int) -> None:
        """Run the installation's deadlines up to ``until``, then stand at ``until``."""
        if until < self.now:
            raise LocalProtocolError(f"time runs forward: {until} < now {self.now}")
        self._run_until(lambda: self._collect(None, []), until)
        self.now = until

    def _run_until(self, done: Callable[[], bool], until: int) -> bool:
        """Fire deadlines <= ``until`` in order until ``done()``; True if it came true."""
        inst = self.installation
        while not done():
            t = None if inst is None else inst.get_timer()
            if inst is None or t is None or t > until:
                return False
            self.now = max(t, self.now)
            inst.handle_timer(self.now)
        return True

    # ---- frames --------------------------------------------------------------------------

    def send(self, frame: bytes, txn: int, now: int | None = None) -> Reply:
        """Hand ``frame`` to the CHF at ``now`` and return the reply carrying ``txn``.

        A reply that fails the head-end's checks raises its error (BadMac, ReplayedCounter,
        MalformedFrame...); no reply within :attr:`reply_timeout_us` raises TransportError."""
        self.advance(self.now if now is None else now)
        if not self.chf.wan_up(self.now):
            raise TransportError(f"CHF {self.chf.eui} has no WAN until "
                                 f"{self.chf.next_wan_up(self.now)}")
        self.headend.expect(txn)
        self.requests += 1
        try:
            reply = self.chf.handle_frame(frame, self.now, self.tls_role, self.session)
            if self.installation is not None:
                self.installation.after_command(self.now)
            got: list[Reply] = []
            if reply is not None:
                self._deliver(reply, txn, got)
            elif not self._run_until(lambda: self._collect(txn, got),
                                     self.now + self.reply_timeout_us):
                raise TransportError(f"no response from CHF {self.chf.eui} in "
                                     f"{self.reply_timeout_us / 1e6:g} s")
            return got[0]
        finally:
            self.headend.forget(txn)

    def _collect(self, txn: int | None, got: list[Reply]) -> bool:
        """Take the CHF's deferred replies to this session; True once ``txn``'s is in."""
        for session, data in self.chf.take_outgoing():
            if session == self.session:
                self._deliver(data, txn, got)
        return bool(got)

    def _deliver(self, data: bytes, txn: int | None, got: list[Reply]) -> None:
        event = self.headend.receive(data)
        if event is None or event.txn != txn:
            return  # a late reply to a request nobody waits for
        if isinstance(event, ReplyFailed):
            raise event.error
        got.append(event)

    # ---- requests ------------------------------------------------------------------------

    def request(self, msg_type: MessageType, target: str | None = None,
                body: object | None = None, now: int | None = None) -> object:
        """One command; the decoded answer. An ERROR raises RemoteProtocolError (``code``)."""
        target = normalise(target) if target else self.chf.eui
        stamp = self.now if now is None else now
        txn, frame = self.headend.seal(msg_type, target, body, stamp)
        return self.headend.check_reply(msg_type, target, self.send(frame, txn, stamp))

    def master_request(self, msg_type: MessageType, body: object | None = None,
                       now: int | None = None) -> object:
        """A Master-Key command (set ``headend.master_key`` first)."""
        stamp = self.now if now is None else now
        txn, frame = self.headend.seal_master(msg_type, body, stamp)
        return self.headend.check_reply(msg_type, self.chf.eui, self.send(frame, txn, stamp))

    def run(self, command: Command[T], now: int | None = None) -> T:
        """Send ``command`` (see :mod:`emulator.core.headend_commands`); its checked answer."""
        stamp = self.now if now is None else now
        txn, frame = self.headend.seal_command(command, stamp)
        result = self.headend.result(command, self.send(frame, txn, stamp))
        if command.trace is not None:
            event, device, fields = command.trace(result)
            self._emit(self.now, self.name, event,
                       {"chf": self.chf.eui, "device": device, **fields})
        return result



__all__ = ["DEFAULT_REPLY_TIMEOUT_US", "WanPair"]
