"""Head-end request timeouts: every session's deadlines on one heap behind one loop timer.

A request fails exactly its timeout after it was sent, whatever other sessions wait for,
with shorter timeouts armed after longer ones; answered requests leave nothing to wait for."""

from __future__ import annotations

import asyncio

from emulator.core.timebase import SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.errors import TransportError
from emulator.fleet import Fleet
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import MessageType, Role
from harness.headend import HeadEnd, HeadEndSession, _RequestTimeouts, connect


async def _never_answered(session: HeadEndSession, meter: str, timeout_s: float,
                          log: list[tuple[str, int, str]], name: str) -> None:
    """A request whose reply carries another transaction id: dropped, so it times out."""
    _, frame = session.build_frame(MessageType.READ_INSTANTANEOUS, meter)
    session.request_timeout = timeout_s
    try:
        await session.send_raw(frame, txn=900 + len(log))
    except TransportError as exc:
        log.append((name, current_clock().now_us(), str(exc)))


def test_each_request_fails_at_its_own_deadline_and_answered_ones_leave_nothing() -> None:
    async def main() -> None:
        clock = current_clock()
        scheduler = Scheduler(clock)
        fleet = Fleet(default_dmc(), 2, 5, scheduler, Trace(None), han="direct")
        headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
        a, b = [await connect(fleet.link_to(inst).a, headend, clock)
                for inst in fleet.installations]
        meters = [inst.esme.eui for inst in fleet.installations]
        log: list[tuple[str, int, str]] = []
        t0 = clock.now_us()
        slow = asyncio.ensure_future(_never_answered(a, meters[0], 100, log, "a"))
        await sleep_us(SECOND)
        quick = asyncio.ensure_future(_never_answered(b, meters[1], 10, log, "b"))
        await asyncio.gather(slow, quick)
        assert [(n, t - t0) for n, t, _ in log] == [("b", 11 * SECOND), ("a", 100 * SECOND)]
        assert "in 10 s" in log[0][2] and "in 100 s" in log[1][2]
        a.request_timeout = b.request_timeout = 3600
        for _ in range(3):  # answered: their deadlines are dropped, no timer waits for them
            await a.read_instantaneous(meters[0])
            await b.read_instantaneous(meters[1])
        await sleep_us(3601 * SECOND)
        timeouts = _RequestTimeouts.of(asyncio.get_running_loop())
        assert timeouts._heap == [] and timeouts._handle is None
        for s in (a, b):
            await s.close()
        fleet.close()
        scheduler.close()

    run_virtual(main())
