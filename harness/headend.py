"""A head-end: the SMSO's HES or the S1SP, talking the WAN protocol to CHFs over mutual TLS.

Connect with :func:`connect` over any link (memory or TCP); the returned :class:`HeadEndSession`
has an async method per command, and :meth:`HeadEndSession.submit` sends one without waiting
(its reply goes to a function). A :class:`Poller` reads meters on a schedule through the
scheduler's heap, as a head-end's scheduled reads do. The protocol itself (sealing under the
role's keys, counters, reply checks) is the sans-IO :class:`~emulator.core.headend.HeadEndCore`;
this module is its asyncio driver: the TLS channel, waiting for replies, timeouts, traces on the
run's clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, Literal, TypeVar

from cryptography import x509

from emulator.core import headend_commands as commands
from emulator.core.headend import Command, HeadEndCore, Reply, ReplyFailed
from emulator.core.rng import SplitMix64
from emulator.core.timebase import SECOND
from emulator.core.trace_sink import Emit, discard
from emulator.core.utrn import generate_utrn
from emulator.drivers.clock import Clock
from emulator.drivers.link import LinkEnd
from emulator.drivers.peer_certs import der_of
from emulator.drivers.scheduler import Scheduler
from emulator.drivers.tls import client_context
from emulator.drivers.wan_channel import WanChannel
from emulator.errors import LocalProtocolError, MalformedFrame, S1labError, TransportError
from emulator.keystore import ChfKeys, RoleKeys
from emulator.pki import PkiFolder, eui_of_chf_cert
from emulator.wire import wan
from emulator.wire.eui import normalise
from emulator.wire.vocabulary import (
    DeviceLogAction,
    DeviceType,
    MessageType,
    PaymentMode,
    Role,
    SupplyAction,
)

T = TypeVar("T")

DEFAULT_TIMEOUT_S: Final = 120.0
#: Replies from a sleepy GSME wait for its next poll (30 min in the shipped profiles).
DEFAULT_REQUEST_TIMEOUT_S: Final = 3600.0
#: The keystore's name of each role ("smso"), looked up on every frame.
_ROLE_NAMES: Final = {role: role.name.lower() for role in Role}


#: A head-end's name in the trace, by role.
_HEADEND_NAMES: Final[dict[Role, str]] = {
    role: f"headend:{name}" for role, name in _ROLE_NAMES.items()}


@dataclass
class HeadEnd:
    """What a head-end role holds: its TLS context and the keys of the CHFs it serves."""

    role: Role
    ctx: ssl.SSLContext
    keys: Callable[[str], ChfKeys]
    emit: Emit = discard
    #: Last request counter per CHF and next UTRN counter per meter; kept across sessions.
    counters: dict[str, int] = field(default_factory=dict)
    utrn_counters: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return _HEADEND_NAMES[self.role]  # f"headend:{role.name.lower()}", made once

    def role_keys(self, chf_eui: str) -> RoleKeys:
        keys = self.keys(chf_eui)
        rk = keys.roles.get(_ROLE_NAMES[self.role])
        if rk is None:
            raise LocalProtocolError(f"the {self.role.name} holds no keys for CHF {chf_eui}")
        return rk

    def make_utrn(self, chf_eui: str, meter_eui: str, amount_pence: int) -> str:
        """A 20-digit UTRN for ``meter_eui`` (head-ends generate UTRNs, consumers never do)."""
        counter = self.utrn_counters.get(meter_eui, 0) + 1
        self.utrn_counters[meter_eui] = counter
        return generate_utrn(self.keys(chf_eui).prepayment_key, meter_eui, counter, amount_pence)


def headend_from_pki(pki: PkiFolder, role: Literal["smso", "s1sp"],
                     keylog: Path | None = None) -> HeadEnd:
    """The head-end ``role`` of a ``s1lab pki init`` folder: its client certificate, trusting
    the CHF device CA, with the CHF keys from the folder's keystore. TLS secrets go to
    ``keylog`` (else ``$SSLKEYLOGFILE``)."""
    cert, key = pki.headend_paths(role)
    return HeadEnd(Role[role.upper()],
                   client_context(cert, key, pki.device_ca.cert_pem(), keylog=keylog),
                   pki.keystore.get)


async def connect(
    link: LinkEnd, headend: HeadEnd, clock: Clock, timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
) -> HeadEndSession:
    """Open a session over ``link``: TLS handshake (head-end is the TLS client), then ready.

    ``timeout_s`` bounds the handshake, ``request_timeout_s`` each command's reply."""
    channel = WanChannel(link, headend.ctx, server_side=False, clock=clock)
    session = HeadEndSession(channel, headend, clock, timeout_s, request_timeout_s)
    channel.start()
    await session.wait_established()
    return session


def _no_response(chf_eui: str, timeout_s: float) -> str:
    """What a request unanswered by its deadline fails with."""
    return f"no response from CHF {chf_eui} in {timeout_s:g} s"


class _RequestTimeouts:
    """Every session's request deadlines on one loop, behind one loop timer.

    A timer per request, cancelled when its reply comes (nearly always), cost a loop timer
    handle, a push on the loop's heap (comparisons in Python) and a cancelled handle left in
    it; a fleet reading each meter hourly paid that per read. Here a deadline is a tuple on
    this heap, and the loop timer stays armed at or before the earliest one whose request is
    still waiting: a request answered leaves its entry (its future is gone, the weak reference
    is dead), dropped when it reaches the top. The timer fires, and a request fails, at the
    loop time its timer would have had. An entry holds what the error says (the CHF, the
    timeout), not its session: a weak reference to one would need a ``__weakref__`` slot,
    which a class compiled by mypyc has not (scripts/compile_core.py compiles this module)."""

    __slots__ = ("_armed", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, weakref.ref[asyncio.Future[Reply]], str, float]] = []
        self._seq = itertools.count()
        self._armed: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> _RequestTimeouts:
        timeouts: _RequestTimeouts | None = getattr(loop, "_s1lab_request_timeouts", None)
        if timeouts is None:
            timeouts = _RequestTimeouts(loop)
            loop._s1lab_request_timeouts = timeouts  # type: ignore[attr-defined]
        return timeouts

    def add(self, when: float, fut: asyncio.Future[Reply], session: HeadEndSession) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), weakref.ref(fut), session.chf_eui,
                                    session.request_timeout))
        if self._armed is None or when < self._armed:
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self._loop.call_at(when, self._due)

    def _due(self) -> None:
        self._handle = self._armed = None
        heap = self._heap
        now = self._loop.time()
        while heap:
            when, _, fut_ref, chf_eui, timeout_s = heap[0]
            fut = fut_ref()
            waiting = fut is not None and not fut.done()
            if waiting and when > now:
                self._arm(when)
                return
            heapq.heappop(heap)
            if waiting and fut is not None:
                fut.set_exception(TransportError(_no_response(chf_eui, timeout_s)))


class _Submitted(Generic[T]):
    """A request sent with :meth:`HeadEndSession.submit`: its reply goes to ``done``."""

    __slots__ = ("command", "done")

    def __init__(self, command: Command[T], done: Callable[[T | S1labError], None]) -> None:
        self.command = command
        self.done = done


class HeadEndSession:
    """The asyncio driver of a :class:`~emulator.core.headend.HeadEndCore` over a TLS
    channel: it sends the core's frames, hands it what arrives, and waits (with timeouts)."""

    def __init__(
        self, channel: WanChannel, headend: HeadEnd, clock: Clock, timeout_s: float,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self._channel = channel
        self._headend = headend
        self._clock = clock
        self._timeout = timeout_s
        self.request_timeout = request_timeout_s
        self._loop = asyncio.get_running_loop()
        self.core = HeadEndCore(headend.role, headend.role_keys, headend.counters)
        # What waits for each transaction's reply: an awaiting caller's future, or a
        # submitted request's function.
        self._pending: dict[int, asyncio.Future[Reply] | _Submitted[Any]] = {}
        self._timeouts = _RequestTimeouts.of(self._loop)
        self._read: tuple[str, Command[commands.Instantaneous]] | None = None
        self._established: asyncio.Future[str] = self._loop.create_future()
        self.peer_fingerprint = b""  # SHA-256 of the CHF's certificate (pinning)
        self.requests = 0
        channel.on_established = self._on_established
        channel.on_frame = self._on_frame
        channel.on_closed = self._on_closed

    @property
    def chf_eui(self) -> str:
        return self.core.chf_eui

    @property
    def master_key(self) -> bytes | None:
        """The CHF's Master Key, set by an S1SP that obtained it from the DCO (TMAD 5.16)."""
        return self.core.master_key

    @master_key.setter
    def master_key(self, key: bytes | None) -> None:
        self.core.master_key = key

    # ---- plumbing ------------------------------------------------------------------------

    async def wait_established(self) -> str:
        handle = self._loop.call_later(self._timeout, self._timeout_handshake)
        try:
            return await self._established
        finally:
            handle.cancel()

    def _timeout_handshake(self) -> None:
        if not self._established.done():
            self._channel.close("handshake timed out")

    def _on_established(self, cert: x509.Certificate) -> None:
        try:
            self.core.chf_eui = eui_of_chf_cert(cert)
            self.peer_fingerprint = hashlib.sha256(der_of(cert)).digest()
        except Exception as exc:  # a certificate that does not name a CHF
            self._channel.close(str(exc))
            return
        self._headend.emit(self._clock.now_us(), self._headend.name, "WanSessionOpened",
                           {"chf": self.chf_eui, "tls": self._channel.tls_version})
        if not self._established.done():
            self._established.set_result(self.chf_eui)

    def _on_closed(self, reason: str) -> None:
        err = TransportError(f"WAN session to {self._channel.peer_name} closed: {reason}")
        if not self._established.done():
            self._established.set_exception(err)
        waiting = list(self._pending.values())
        self._pending.clear()
        for waiter in waiting:
            if isinstance(waiter, _Submitted):
                waiter.done(err)
            elif not waiter.done():
                waiter.set_exception(err)

    @property
    def headend(self) -> HeadEnd:
        """The role this session speaks for (its keys, counters and UTRN counters)."""
        return self._headend

    @property
    def is_open(self) -> bool:
        return self._channel.established

    @property
    def tls_version(self) -> str | None:
        return self._channel.tls_version

    async def close(self) -> None:
        self._channel.close("head-end closed the session")

    def _on_frame(self, data: bytes) -> None:
        try:
            event = self.core.receive(data)
        except MalformedFrame as exc:
            self._channel.close(f"CHF sent a malformed frame: {exc}")
            return
        if event is None:
            return  # late reply after a timeout
        waiter = self._pending.pop(event.txn, None)
        if waiter is None:
            return
        if isinstance(waiter, _Submitted):
            self._answer(waiter, event)
        elif waiter.done():
            return
        elif isinstance(event, ReplyFailed):
            waiter.set_exception(event.error)
        else:
            waiter.set_result(event)

    def _answer(self, submitted: _Submitted[T], event: Reply | ReplyFailed) -> None:
        """A submitted request's reply came (the core has stopped waiting for it)."""
        outcome: T | S1labError
        if isinstance(event, ReplyFailed):
            outcome = event.error
        else:
            try:
                outcome = self._result(submitted.command, event)
            except S1labError as exc:  # the CHF refused, or answered with another type
                outcome = exc
        submitted.done(outcome)

    def build_frame(
        self, msg_type: MessageType, target: str, body: object | None = None, *,
        txn: int | None = None, counter: int | None = None, key: bytes | None = None,
        key_id: int | None = None,
    ) -> tuple[int, bytes]:
        """A sealed request frame (tests use the keyword overrides to forge bad ones)."""
        return self.core.seal(msg_type, target, body, self._clock.now_us(), txn=txn,
                              counter=counter, key=key, key_id=key_id)

    async def send_raw(self, frame: bytes, txn: int) -> tuple[wan.Header, object]:
        """Send frame bytes as they are; wait for the reply carrying ``txn``."""
        reply = await self._exchange(frame, txn)
        return reply.header, reply.body

    async def _exchange(self, frame: bytes, txn: int) -> Reply:
        fut: asyncio.Future[Reply] = self._loop.create_future()
        self._pending[txn] = fut
        self.core.expect(txn)
        self.requests += 1
        self._channel.send_frame(frame)
        self._timeouts.add(self._loop.time() + self.request_timeout, fut, self)
        try:
            return await fut
        finally:
            self._pending.pop(txn, None)
            self.core.forget(txn)

    async def master_request(self, msg_type: MessageType, body: object | None = None) -> object:
        """A command authorised by the CHF's Master Key (key id 0xFF): key rotation,
        certificate swap, rollback. Needs :attr:`master_key`."""
        txn, frame = self.core.seal_master(msg_type, body, self._clock.now_us())
        return self.core.check_reply(msg_type, self.chf_eui, await self._exchange(frame, txn))

    async def request(
        self, msg_type: MessageType, target: str | None = None, body: object | None = None
    ) -> object:
        """Send one command and return the decoded response body.

        Raises RemoteProtocolError (``code`` = the ErrorCode) when the CHF answers ERROR.
        """
        target = normalise(target) if target else self.chf_eui
        txn, frame = self.build_frame(msg_type, target, body)
        return self.core.check_reply(msg_type, target, await self._exchange(frame, txn))

    async def run(self, command: Command[T]) -> T:
        """Send ``command``, check and trace its answer."""
        txn, frame = self.core.seal_command(command, self._clock.now_us())
        return self._result(command, await self._exchange(frame, txn))

    def _result(self, command: Command[T], reply: Reply) -> T:
        """The checked result of ``command`` from its reply, traced."""
        result = self.core.result(command, reply)
        if command.trace is not None and self._headend.emit is not discard:
            event, device, fields = command.trace(result)
            self._headend.emit(self._clock.now_us(), self._headend.name, event,
                               {"chf": self.chf_eui, "device": device, **fields})
        return result

    def submit(self, command: Command[T], done: Callable[[T | S1labError], None]) -> int:
        """Send ``command`` now, without waiting, and return its transaction id.

        ``done`` is called once, when the reply comes, with what :meth:`run` would return
        (checked and traced alike), or with the error :meth:`run` would raise: the CHF's
        refusal (``RemoteProtocolError``), a reply that fails its checks, the session closed
        (``TransportError``). It runs where the reply is handled (a link's delivery), with no
        future or task in between; an exception it raises is the link's, which on the
        scheduler ends the run. There is no deadline: the caller bounds the wait and gives up
        with :meth:`abandon` (a :class:`Poller` does, on the scheduler). Raises
        ``TransportError`` at once when the session is not open."""
        txn, frame = self.core.seal_command(command, self._clock.now_us())
        self._pending[txn] = _Submitted(command, done)
        self.core.expect(txn)
        self.requests += 1
        try:
            self._channel.send_frame(frame)
        except S1labError:  # the channel is not open (or the link refused the write)
            self.abandon(txn)
            raise
        return txn

    def abandon(self, txn: int) -> None:
        """Stop waiting for submitted request ``txn``: its ``done`` is not called, and a late
        reply is dropped (as after a timeout)."""
        self._pending.pop(txn, None)
        self.core.forget(txn)

    # ---- commands ------------------------------------------------------------------------

    async def read_instantaneous(self, device: str) -> commands.Instantaneous:
        """A reading; from a device on a radio, only its Metering attributes
        (``EsmeMetering`` / ``GsmeMetering``)."""
        read = self._read  # the last device read, its command made once (they are values)
        if read is None or read[0] != device:
            read = self._read = (device, commands.read_instantaneous(device))
        return await self.run(read[1])

    async def read_inventory(self) -> wan.Inventory:
        return await self.run(commands.read_inventory())

    async def read_firmware_versions(self) -> wan.FirmwareVersions:
        return await self.run(commands.read_firmware_versions())

    async def read_event_log(self, device: str | None = None, max_entries: int = 0) -> wan.EventLog:
        return await self.run(commands.read_event_log(device, max_entries))

    async def read_payment_mode(self, device: str) -> wan.PaymentState:
        return await self.run(commands.read_payment_mode(device))

    async def set_payment_mode(self, device: str, mode: PaymentMode) -> wan.PaymentState:
        return await self.run(commands.set_payment_mode(device, mode))

    async def top_up(self, device: str, utrn: str) -> wan.TopUpResult:
        return await self.run(commands.top_up(device, utrn))

    async def top_up_amount(self, device: str, amount_pence: int) -> wan.TopUpResult:
        """Generate a UTRN for ``amount_pence`` (as an S1SP/SMSO does) and apply it."""
        utrn = self._headend.make_utrn(self.chf_eui, normalise(device), amount_pence)
        return await self.top_up(device, utrn)

    async def read_time(self, device: str | None = None) -> int:
        return (await self.run(commands.read_time(device))).utc

    async def set_time(self, device: str | None, utc: int) -> wan.SetTimeResult:
        return await self.run(commands.set_time(device, utc))

    async def update_device_log(
        self, action: DeviceLogAction, device: str, device_type: DeviceType = DeviceType.GSME,
        install_code: bytes = b"", join_window_s: int = 90, mpxn: str = "",
    ) -> wan.DeviceLogUpdated:
        """SRV 8.11-style: add a device to the CHF's whitelist (install code with its CRC,
        join window) or remove it."""
        return await self.run(commands.update_device_log(
            action, device, device_type, install_code, join_window_s, mpxn))

    async def set_supply(self, device: str, action: SupplyAction) -> wan.SupplyResult:
        return await self.run(commands.set_supply(device, action))

    async def distribute_firmware(self, device: str | None, image: bytes,
                                  activate_at: int = 0) -> wan.FirmwareTransfer:
        """Send ``image`` to the CHF in segments, then offer it to ``device`` (None: the CHF
        itself). ``activate_at``: ZigBee UTC, 0 at once, ``ON_COMMAND`` to wait."""
        for segment in commands.firmware_segments(device, image):
            await self.run(segment)
        return await self.run(commands.distribute_firmware(
            device, hashlib.sha256(image).digest(), activate_at))

    async def read_firmware_transfer(self, device: str | None) -> wan.FirmwareTransfer:
        return await self.run(commands.read_firmware_transfer(device))

    async def activate_firmware(self, device: str | None, at: int = 0) -> wan.FirmwareTransfer:
        return await self.run(commands.activate_firmware(device, at))


#: What a :class:`Poller` calls after each read: the target, the run's time, and the reading
#: or the error the read ended with.
OnRead = Callable[["PollTarget", int, "commands.Instantaneous | S1labError"], None]


def _ignore_read(target: PollTarget, now: int,
                 outcome: commands.Instantaneous | S1labError) -> None:
    pass


class PollTarget:
    """One meter a :class:`Poller` reads over one session: its schedule and its outcomes."""

    __slots__ = ("_command", "_due", "_poller", "_slot", "_txn", "active", "device", "errors",
                 "last", "reads", "session")

    def __init__(self, poller: Poller, session: HeadEndSession, device: str,
                 first_at: int) -> None:
        self._poller = poller
        self.session = session
        self.device = device
        self._command = commands.read_instantaneous(device)
        self._due = first_at  # when the read in flight (or the next one) was due
        self._txn: int | None = None  # the read in flight
        self._slot = poller.scheduler.slot(self._fire)
        self.active = True  # False once the poller stopped reading it (closed session, close())
        self.reads = 0  # answered with a reading
        self.errors = 0  # refused, failed its checks, timed out, or no session
        self.last: commands.Instantaneous | S1labError | None = None

    @property
    def in_flight(self) -> bool:
        return self._txn is not None

    @property
    def next_at(self) -> int | None:
        """When the next read is due (None: in flight, or no more reads)."""
        return None if self._txn is not None or not self.active else self._due

    def _start(self) -> None:
        if self._due >= self._poller.until:
            self._stop()
        else:
            self._slot.set(self._due)

    def _fire(self, now: int) -> None:
        txn = self._txn
        if txn is not None:  # the read in flight reached its deadline unanswered
            self._txn = None
            session = self.session
            session.abandon(txn)
            self._outcome(now, TransportError(
                _no_response(session.chf_eui, session.request_timeout)))
            return
        try:
            self._txn = self.session.submit(self._command, self._answered)
        except S1labError as exc:  # the session is closed
            self._outcome(now, exc)
            return
        self._slot.set(now + round(self.session.request_timeout * SECOND))

    def _answered(self, outcome: commands.Instantaneous | S1labError) -> None:
        self._txn = None
        self._outcome(self._poller.clock.now_us(), outcome)

    def _outcome(self, now: int, outcome: commands.Instantaneous | S1labError) -> None:
        self.last = outcome
        if isinstance(outcome, S1labError):
            self.errors += 1
        else:
            self.reads += 1
        poller = self._poller
        if not self.session.is_open or not self.active:
            self._stop()
        else:
            # The next read on the schedule not already past (one read in flight at a time:
            # those that fell due while it waited are skipped).
            interval = poller.interval
            due = self._due + interval
            if due < now:
                due += -(-(now - due) // interval) * interval
            self._due = due
            self._start()
        poller.on_read(self, now, outcome)

    def _stop(self) -> None:
        self._slot.cancel()
        if self.active:
            self.active = False
            self._poller._target_done()  # noqa: SLF001


class Poller:
    """A head-end's scheduled reads: every ``interval_us``, each target's meter is read
    (``READ_INSTANTANEOUS`` over its session, as :meth:`HeadEndSession.read_instantaneous`
    does: the same frames, checks and trace), from its own first time on, until ``until``.

    The reads run on the scheduler's heap (a slot per target) and their replies come back
    through :meth:`HeadEndSession.submit`: no task, no loop timer and no future per read, so
    a fleet's hourly reads cost what the reads do, not event-loop turns. Each read has the
    session's ``request_timeout``: unanswered by then, it fails with ``TransportError`` (a
    late reply is dropped). One read per target is in flight at a time: a read due while the
    one before still waits is skipped. A target whose session is closed stops being read
    (its last outcome is the error). After each read ``on_read(target, now, outcome)`` is
    called with the reading or the error; an exception it raises ends the run (it runs on
    the scheduler).

    :meth:`spread` gives ``n`` first times spread over one interval (jittered phases, so that
    a fleet's reads do not all fall on one instant)."""

    def __init__(self, scheduler: Scheduler, interval_us: int, on_read: OnRead = _ignore_read,
                 until: int | None = None) -> None:
        if interval_us <= 0:
            raise LocalProtocolError(f"a poll interval must be positive, not {interval_us} us")
        self.scheduler = scheduler
        self.clock = scheduler.clock
        self.interval = interval_us
        self.on_read = on_read
        #: No read is sent at or after this run time (None: none set, read until closed).
        self.until = until if until is not None else 1 << 62
        self.targets: list[PollTarget] = []
        self._active = 0
        self._finished: asyncio.Future[None] | None = None

    def add(self, session: HeadEndSession, device: str, first_at: int) -> PollTarget:
        """Read ``device`` over ``session`` at ``first_at`` (run time, µs), then every
        interval."""
        target = PollTarget(self, session, normalise(device), first_at)
        self.targets.append(target)
        self._active += 1
        target._start()  # noqa: SLF001
        return target

    def spread(self, n: int, start: int, seed: int = 0) -> list[int]:
        """``n`` first read times in ``[start, start + interval)``, spread evenly with a
        jitter: each in its own ``interval / n`` share, at a seeded pseudo-random point of it."""
        share = self.interval / n if n else 0.0
        rng = SplitMix64(seed)
        return [start + int(share * (k + rng.random())) for k in range(n)]

    @property
    def reads(self) -> int:
        return sum(t.reads for t in self.targets)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.targets)

    async def finished(self) -> None:
        """Wait until no target will be read again (each is past ``until``, closed, or the
        poller was closed), their last reads answered or timed out."""
        if self._active == 0:
            return
        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._finished)

    def _target_done(self) -> None:
        self._active -= 1
        if self._active == 0 and self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def close(self) -> None:
        """Stop reading: nothing more is sent, reads in flight are abandoned."""
        for target in self.targets:
            txn = target._txn  # noqa: SLF001
            if txn is not None:
                target._txn = None  # noqa: SLF001
                target.session.abandon(txn)
            target._stop()  # noqa: SLF001


__all__ = ["HeadEnd", "HeadEndSession", "PollTarget", "Poller", "connect"]
