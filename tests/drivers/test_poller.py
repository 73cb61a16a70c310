"""The head-end's scheduled reads (:class:`harness.headend.Poller`) on the virtual clock.

Reads go out on their schedule and come back as readings, each over TLS; a read past the
session's request timeout fails at its deadline and the late reply is dropped; a refusal is an
outcome and the schedule goes on; a closed session, or a link that goes down with a read in
flight, stops that target only; ``close`` abandons what is in flight; an ``on_read`` that
raises ends the run. And the differential: the poller's reads put the same bytes on the wire,
the same frames through the cores and the same trace as ``read_instantaneous`` at the same
instants, with the same readings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from emulator.core.timebase import MINUTE, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_until, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.errors import (
    DeviceCallbackError,
    LocalProtocolError,
    RemoteProtocolError,
    S1labError,
    TransportError,
)
from emulator.fleet import Fleet
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire import wan
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, HeadEndSession, Poller, PollTarget, connect
from tests.drivers.test_wan_read_fidelity import _Recorder, _recording

Outcome = tuple[str, int, str]  # (device, now, reading or error, as text)


async def _with_fleet(n: int, body: Callable[[Fleet, Scheduler, list[HeadEndSession], Any],
                                             Awaitable[None]],
                      trace: Trace | None = None, seed: int = 5) -> None:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = trace or Trace(None)
    fleet = Fleet(default_dmc(), n, seed, scheduler, trace, han="direct")
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for,
                      emit=trace.emitter("headend"))
    links = [fleet.link_to(inst) for inst in fleet.installations]
    sessions = [await connect(link.a, headend, clock) for link in links]
    try:
        await scheduler.guard(body(fleet, scheduler, sessions, links))
    finally:
        for s in sessions:
            await s.close()
        await sleep_us(SECOND)
        fleet.close()
        scheduler.close()


def _log(out: list[Outcome]) -> Callable[[PollTarget, int, object], None]:
    def on_read(target: PollTarget, now: int, outcome: object) -> None:
        text = (f"{type(outcome).__name__}: {outcome}" if isinstance(outcome, S1labError)
                else repr(outcome))
        out.append((target.device, now, text))

    return on_read


def test_reads_go_out_on_schedule_and_come_back_as_readings() -> None:
    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        out: list[Outcome] = []
        t0 = current_clock().now_us()
        poller = Poller(scheduler, 10 * MINUTE, _log(out), until=t0 + 60 * MINUTE)
        firsts = poller.spread(2, t0 + SECOND, seed=3)
        assert t0 + SECOND <= firsts[0] < firsts[1] < t0 + SECOND + 10 * MINUTE
        targets = [poller.add(s, inst.esme.eui, at) for s, inst, at in
                   zip(sessions, fleet.installations, firsts, strict=True)]
        assert [t.next_at for t in targets] == firsts
        await poller.finished()
        rtt = 2 * fleet.dmc.chf.wan_latency_ms * 1000
        for k, (target, first) in enumerate(zip(targets, firsts, strict=True)):
            mine = [(now, text) for dev, now, text in out if dev == target.device]
            # at its first time, then every 10 minutes while before ``until``: 6 reads
            assert [now for now, _ in mine] == [first + i * 10 * MINUTE + rtt for i in range(6)]
            assert all(text.startswith("EsmeInstantaneous(") for _, text in mine), k
            assert isinstance(target.last, wan.EsmeInstantaneous)
            assert (target.reads, target.errors, target.active, target.in_flight) == (
                6, 0, False, False)
        assert (poller.reads, poller.errors) == (12, 0)
        assert sessions[0].requests == 6
        # the meter's reading at the last read is what a read now (later) builds on
        later = await sessions[0].read_instantaneous(fleet.installations[0].esme.eui)
        assert isinstance(later, wan.EsmeInstantaneous)
        last = targets[0].last
        assert isinstance(last, wan.EsmeInstantaneous) and later.import_wh >= last.import_wh

    run_virtual(_with_fleet(2, body))


def test_a_read_past_its_timeout_fails_at_the_deadline_and_the_schedule_goes_on() -> None:
    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        out: list[Outcome] = []
        s = sessions[0]
        s.request_timeout = 0.2  # shorter than the round trip (0.3 s)
        t0 = current_clock().now_us()
        poller = Poller(scheduler, 5 * MINUTE, _log(out), until=t0 + 11 * MINUTE)
        target = poller.add(s, fleet.installations[0].esme.eui, t0 + SECOND)
        await poller.finished()
        assert [now - t0 for _, now, _ in out] == [
            SECOND + 200_000, SECOND + 5 * MINUTE + 200_000, SECOND + 10 * MINUTE + 200_000]
        assert all(text.startswith("TransportError: no response from CHF") and "in 0.2 s" in
                   text for _, _, text in out)
        assert (target.reads, target.errors) == (0, 3)
        await sleep_us(MINUTE)  # the late replies arrived and were dropped
        s.request_timeout = 60
        reading = await s.read_instantaneous(fleet.installations[0].esme.eui)
        assert isinstance(reading, wan.EsmeInstantaneous)

    run_virtual(_with_fleet(1, body))


def test_a_refusal_is_an_outcome_and_polling_goes_on() -> None:
    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        out: list[Outcome] = []
        t0 = current_clock().now_us()
        poller = Poller(scheduler, MINUTE, _log(out), until=t0 + 3 * MINUTE)
        target = poller.add(sessions[0], "00-00-00-00-00-00-00-42", t0 + SECOND)
        await poller.finished()
        assert len(out) == 3 and all(text.startswith("RemoteProtocolError: ")
                                     for _, _, text in out)
        assert isinstance(target.last, RemoteProtocolError)
        assert (target.reads, target.errors) == (0, 3)

    run_virtual(_with_fleet(1, body))


def test_a_closed_session_or_a_link_down_stops_that_target_only() -> None:
    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        out: list[Outcome] = []
        clock = current_clock()
        t0 = clock.now_us()
        poller = Poller(scheduler, MINUTE, _log(out), until=t0 + 10 * MINUTE)
        a, b, c = (poller.add(s, inst.esme.eui, t0 + SECOND + k * 1000)
                   for k, (s, inst) in enumerate(zip(sessions, fleet.installations,
                                                     strict=True)))
        await sleep_until(t0 + 2 * MINUTE)  # two reads each, answered
        await sessions[0].close()  # closed between reads: its next one fails
        await sleep_until(t0 + 3 * MINUTE + SECOND + 2000 + 100_000)  # c's read in flight
        assert c.in_flight
        links[2].set_down("test outage")
        await poller.finished()
        assert (a.reads, a.active) == (2, False)
        assert isinstance(a.last, TransportError) and "not open" in str(a.last)
        assert (c.reads, c.active) == (3, False)
        assert isinstance(c.last, TransportError) and "test outage" in str(c.last)
        assert (b.reads, b.errors) == (10, 0)  # the other session went on to ``until``
        assert [text for dev, _, text in out if dev == a.device][-1].startswith(
            "TransportError")

    run_virtual(_with_fleet(3, body))


def test_close_abandons_reads_in_flight() -> None:
    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        out: list[Outcome] = []
        t0 = current_clock().now_us()
        poller = Poller(scheduler, MINUTE, _log(out))
        target = poller.add(sessions[0], fleet.installations[0].esme.eui, t0 + SECOND)
        await sleep_until(t0 + SECOND + 100_000)
        assert target.in_flight
        poller.close()
        await poller.finished()
        await sleep_us(5 * MINUTE)
        assert out == [] and (target.reads, target.errors, target.active) == (0, 0, False)
        assert target.next_at is None and sessions[0].is_open

    run_virtual(_with_fleet(1, body))


def test_an_on_read_that_raises_ends_the_run() -> None:
    def broken(target: PollTarget, now: int, outcome: object) -> None:
        raise RuntimeError("a bug in the caller")

    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        t0 = current_clock().now_us()
        poller = Poller(scheduler, MINUTE, broken)
        poller.add(sessions[0], fleet.installations[0].esme.eui, t0 + SECOND)
        await sleep_us(10 * MINUTE)

    with pytest.raises(DeviceCallbackError, match="a bug in the caller"):
        run_virtual(_with_fleet(1, body))


def test_a_poll_interval_must_be_positive() -> None:
    async def main() -> None:
        with pytest.raises(LocalProtocolError):
            Poller(Scheduler(current_clock()), 0)

    run_virtual(main())


# ---- the differential: the poller's reads are read_instantaneous's ---------------------------

_FIRSTS = [SECOND + 7, 3 * MINUTE + 11, 4 * MINUTE + 13]  # after connecting
_INTERVAL = 20 * MINUTE
_READS = 4


def _differential_run(use_poller: bool) -> list[str]:
    rec = _Recorder()
    trace = Trace(None)
    trace.subscribe(lambda now, inst, device, event, fields: rec.add(
        f"{now} trace {inst} {device} {event} {sorted(fields.items())!r}"))

    async def body(fleet: Fleet, scheduler: Scheduler, sessions: list[HeadEndSession],
                   links: Any) -> None:
        rec.wire = True
        t0 = current_clock().now_us()
        pairs = list(zip(sessions, fleet.installations, _FIRSTS, strict=True))
        if use_poller:
            def on_read(target: PollTarget, now: int, outcome: object) -> None:
                rec.add(f"{now} read {target.device} -> {outcome!r}")

            poller = Poller(scheduler, _INTERVAL, on_read, until=t0 + _READS * _INTERVAL)
            for s, inst, first in pairs:
                poller.add(s, inst.esme.eui, t0 + first)
            await poller.finished()
            return

        async def reader(s: HeadEndSession, meter: str, first: int) -> None:
            for k in range(_READS):
                await sleep_until(t0 + first + k * _INTERVAL)
                reading = await s.read_instantaneous(meter)
                rec.add(f"{current_clock().now_us()} read {meter} -> {reading!r}")

        await asyncio.gather(*[reader(s, inst.esme.eui, first) for s, inst, first in pairs])

    async def main() -> None:
        with _recording(rec, current_clock().now_us):
            await _with_fleet(3, body, trace, seed=11)

    run_virtual(main())
    return rec.lines


def test_the_pollers_reads_are_read_instantaneous_byte_for_byte() -> None:
    awaited = _differential_run(use_poller=False)
    polled = _differential_run(use_poller=True)
    assert sum(" read " in line for line in awaited) == 3 * _READS
    assert sum(" link " in line for line in awaited) >= 2 * 3 * _READS  # request, reply
    assert any(" chf " in line for line in awaited) and any(" trace " in line
                                                             for line in awaited)
    assert polled == awaited
