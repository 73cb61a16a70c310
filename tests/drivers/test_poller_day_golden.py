"""A day of a Poller's hourly reads over a small seeded fleet, byte for byte as on main.

Three installations (direct HAN, then the ZigBee HAN) are read every hour for a day by a
:class:`~harness.headend.Poller`, as the fleet benchmark reads them. Everything observable is
recorded in order and digested (see :mod:`tests.drivers.test_wan_read_fidelity`): each link
write after the handshakes with its TLS records' types and lengths, every WAN frame in and out
of the CHF cores and into the head-end cores with the virtual time, the whole trace, each
read's outcome (the reading) and each ESME's registers at the end of the day.

The digests were taken on main before the read path was made cheaper (issue 12, a WAN read's
cost in the fleet): any change in these bytes, times, events or readings fails here
(``S1LAB_PRINT_DIGEST=1`` prints them).
"""

from __future__ import annotations

import os

import pytest

from emulator.core.timebase import DAY, HOUR, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_until, sleep_us
from emulator.drivers.scheduler import Scheduler
from emulator.fleet import Fleet
from emulator.installation import HanMode
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, HeadEndSession, Poller, PollTarget, connect
from tests.drivers.test_wan_read_fidelity import _Recorder, _recording


async def _day(han: HanMode, rec: _Recorder) -> None:
    clock = current_clock()
    scheduler = Scheduler(clock)
    trace = Trace(None)
    trace.subscribe(lambda now, inst, device, event, fields: rec.add(
        f"{now} trace {inst} {device} {event} {sorted(fields.items())!r}"))
    fleet = Fleet(default_dmc(), 3, 17, scheduler, trace, han=han)
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for,
                      emit=trace.emitter("headend"))
    links = [fleet.link_to(inst) for inst in fleet.installations]
    sessions: list[HeadEndSession] = [await connect(link.a, headend, clock) for link in links]
    rec.wire = True

    def on_read(target: PollTarget, now: int, outcome: object) -> None:
        rec.add(f"{now} read {target.device} {outcome!r}")

    async def reads() -> None:
        start = clock.now_us()
        end = start + DAY
        poller = Poller(scheduler, HOUR, on_read, until=end)
        for i, (s, inst) in enumerate(zip(sessions, fleet.installations, strict=True)):
            poller.add(s, inst.esme.eui, start + (i * 7919 * 1_000_003) % HOUR)
        await sleep_until(end)
        await poller.finished()
        rec.add(f"reads {poller.reads} errors {poller.errors}")
        for inst in fleet.installations:
            rec.add(f"registers {inst.esme.eui} {inst.esme.registers(clock.now_us())!r}")

    try:
        await scheduler.guard(reads())
    finally:
        for s in sessions:
            await s.close()
        await sleep_us(SECOND)
        fleet.close()
        scheduler.close()


#: sha256 of the recorded lines on main before the read-path work, and their count.
EXPECTED = {
    "direct": ("12975f1ebc4384d1f8f59c9e1307694162bd2528a2faa947e435f4ce90a1addd", 696),
    "zigbee": ("ca4d9c80bc46ca675801223c7b59c4c27170794d41a3134c92f3480ea694bdea", 696),
}


@pytest.mark.parametrize("han", ["direct", "zigbee"])
def test_a_day_of_poller_reads_is_unchanged(han: HanMode) -> None:
    rec = _Recorder()

    async def main() -> None:
        with _recording(rec, current_clock().now_us):
            await _day(han, rec)

    run_virtual(main())
    if os.environ.get("S1LAB_PRINT_DIGEST"):
        print(f"\n{han}: ({rec.digest()!r}, {len(rec.lines)})")
        print("\n".join(rec.lines[-40:]))
    assert sum(" read " in line for line in rec.lines) == 3 * 24
    assert any(" link " in line for line in rec.lines)
    assert (rec.digest(), len(rec.lines)) == EXPECTED[han]
