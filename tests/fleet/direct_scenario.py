"""A seeded direct-HAN fleet scenario whose whole output is text: the trace, byte for byte,
and observations made at arbitrary instants.

It drives a :class:`~emulator.fleet.Fleet` of one DMC on the virtual clock for some days with
the standard activity plus WAN commands (reads, inventory reads for the CHF device log's
``last_heard``, top-ups of both fuels, supply disable / arm / enable), consumer button presses
(emergency credit, enable), faults (a GSME link down, a flat battery, a skewed meter clock) and
reads of the consumer devices' display state, all at instants drawn from a seeded generator.
It uses only APIs that main had when the golden files were made, so the same file regenerates
them there (``python -m tests.fleet.direct_scenario OUT_DIR``): the direct HAN's timer path
can then be changed and held to what it did.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import sys
from pathlib import Path

from emulator.core.ihd import Ihd
from emulator.core.ppmid import Ppmid
from emulator.core.timebase import DAY, HOUR, MINUTE, SECOND
from emulator.drivers.clock import current_clock, run_virtual, sleep_until
from emulator.drivers.scheduler import Scheduler
from emulator.fleet import Fleet
from emulator.installation import Installation
from emulator.profiles import load_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import DeviceType, Role, SupplyAction
from harness.headend import HeadEnd, HeadEndSession, connect

#: (DMC, installations, simulated days, seed): prepayment with and without gas, credit; the
#: larger fleet has installations whose credit events fall on the same half-hour boundary and
#: button presses on the same minute (their order in the trace is the scheduler's tie order).
CASES: tuple[tuple[str, int, int, int], ...] = (
    ("default", 6, 6, 11),
    ("default", 16, 4, 21),
    ("ioc-prepay-gas", 3, 5, 12),
    ("foc-ppmid", 3, 5, 13),
    ("ioc-credit-gas", 3, 2, 14),
)


def _consumer_state(consumer: Ppmid | Ihd | None, now: int) -> object:
    if consumer is None:
        return None
    if isinstance(consumer, Ppmid):
        shown: object = [repr(consumer.shown()), repr(consumer.shown(DeviceType.GSME))]
    else:
        shown = [consumer.import_wh, consumer.demand_w, consumer.gas_volume_dm3,
                 consumer.gas_flow_dm3_per_h]
    return {"shown": shown, "last_update_us": consumer.last_update_us,
            "gas_data_at": consumer.gas_data_at, "age_s": consumer.gas_data_age_s(now)}


def _observe(inst: Installation, now: int) -> dict[str, object]:
    d = inst.core.devices
    return {
        "ppmid": _consumer_state(d.ppmid, now),
        "ihd": _consumer_state(d.ihd, now),
        "log": sorted((eui, e.state.name, e.last_heard) for eui, e in d.chf.log.items()),
        "mirror_at": None if d.chf.gsme_mirror is None else d.chf.gsme_mirror[1],
    }


async def _actor(inst: Installation, session: HeadEndSession, headend: HeadEnd,
                 rng: random.Random, start: int, end: int, out: list[str]) -> None:
    """One installation's seeded script: an action at a random instant, then the next."""
    d = inst.core.devices
    clock = current_clock()
    at = start + rng.randrange(20 * MINUTE)
    while at < end:
        await sleep_until(at)
        now = clock.now_us()
        kind = rng.choice(("observe", "observe", "observe", "inventory", "inventory", "read",
                           "top_up", "top_up_gas", "supply", "emergency", "emergency",
                           "enable", "fault", "payment"))
        result: object = None
        if kind == "observe":
            result = _observe(inst, now)
        elif kind == "inventory":
            inv = await session.read_inventory()
            result = [(e.eui.hex(), e.state.name, e.last_heard) for e in inv.entries]
        elif kind == "read":
            r = await session.read_instantaneous(d.esme.eui)
            result = repr(r)
        elif kind == "payment":
            result = repr(await session.read_payment_mode(d.esme.eui))
        elif kind in ("top_up", "top_up_gas"):
            meter = d.gsme if kind == "top_up_gas" else d.esme
            if meter is not None:
                amount = rng.choice((20, 60, 150))
                utrn = headend.make_utrn(d.chf.eui, meter.eui, amount)
                result = repr(await session.top_up(meter.eui, utrn))
        elif kind == "supply":
            action = rng.choice(list(SupplyAction))
            result = repr(await session.set_supply(d.esme.eui, action))
        elif kind == "emergency":
            result = inst.core.press_emergency_credit(now)
            inst.sync_timer()
        elif kind == "enable":
            result = inst.core.press_enable_supply(now)
            inst.sync_timer()
        else:
            fault = rng.choice(("link", "skew", "flat"))
            if fault == "link" and d.gsme is not None:
                inst.link_down("gsme", now + rng.randrange(HOUR), now + rng.randrange(2, 5) * HOUR)
            elif fault == "skew":
                inst.clock_skew("esme", rng.randrange(-90, 90))
            elif fault == "flat" and d.gsme is not None and rng.random() < 0.3:
                inst.battery_flat()
            result = fault
        out.append(json.dumps([now, inst.id, kind, result], sort_keys=True, default=repr))
        # arbitrary instants: microseconds, not round numbers; now and then exactly when a
        # device is due (the installation's next deadline, or a consumer's next refresh)
        at = clock.now_us() + rng.randrange(5 * MINUTE, 4 * HOUR) + rng.randrange(SECOND)
        pick = rng.random()
        due = inst.core.get_timer()
        if pick < 0.1 and due is not None:
            at = due
        elif pick < 0.2 and d.ppmid is not None:
            at = d.ppmid.get_timer()
        elif pick < 0.3 and d.ihd is not None:
            at = d.ihd.get_timer()


async def _run(dmc_name: str, count: int, days: int, seed: int) -> tuple[str, str]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    sink = io.StringIO()
    fleet = Fleet(load_dmc(dmc_name), count, seed, scheduler, Trace(sink), han="direct")
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
    sessions = [await connect(fleet.link_to(inst).a, headend, clock)
                for inst in fleet.installations]
    start = clock.now_us()
    end = start + days * DAY
    out: list[str] = []
    rng = random.Random(seed)
    actors = [_actor(inst, s, headend, random.Random(rng.getrandbits(64)), start, end, out)
              for inst, s in zip(fleet.installations, sessions, strict=True)]
    await asyncio.gather(*actors)
    await sleep_until(end)
    for inst in fleet.installations:
        out.append(json.dumps([clock.now_us(), inst.id, "final", _observe(inst, clock.now_us())],
                              sort_keys=True, default=repr))
    for s in sessions:
        await s.close()
    fleet.close()
    scheduler.close()
    return sink.getvalue(), "\n".join(out) + "\n"


def run_case(dmc_name: str, count: int, days: int, seed: int) -> tuple[str, str]:
    """(trace, observations) of one case, as text."""
    return run_virtual(_run(dmc_name, count, days, seed))


def case_name(dmc_name: str, count: int, days: int, seed: int) -> str:
    return f"{dmc_name}-{count}x{days}d-s{seed}"


def main() -> None:
    import gzip

    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        trace, observed = run_case(*case)
        name = case_name(*case)
        (folder / f"{name}.trace.gz").write_bytes(gzip.compress(trace.encode(), mtime=0))
        (folder / f"{name}.observed.gz").write_bytes(gzip.compress(observed.encode(), mtime=0))
        print(name, len(trace.splitlines()), "events", len(observed.splitlines()), "observations")


if __name__ == "__main__":
    main()
