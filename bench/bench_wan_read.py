"""The cost of one head-end WAN read, end to end, on the virtual clock (issue 12, item 4).

    .venv/bin/python bench/bench_wan_read.py [--installations 1] [--reads 2000] [--repeat 5]
        [--profile]

``--installations`` installations of the default DMC with the direct HAN are built and
connected; then the head-end reads the ESME of each (``HeadEndSession.read_instantaneous``)
``--reads`` times in turn, back to back (each read starts when the one before has been
answered, the link's latency each way on the virtual clock, nothing else happening in
between but the installations' own timers). Printed: wall and CPU microseconds per read
(medians of ``--repeat`` rounds), with everything on the path: sealing, TLS records through
OpenSSL both ways, the link's deliveries through the scheduler, the CHF's checks and
dispatch, the reply's checks. ``--profile`` prints a cProfile of one round instead.

The machine is shared and noisy: compare figures measured in one session.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from emulator.drivers.clock import current_clock, run_virtual
from emulator.drivers.scheduler import Scheduler
from emulator.fleet import Fleet
from emulator.profiles import default_dmc
from emulator.trace import Trace
from emulator.wire.vocabulary import Role
from harness.headend import HeadEnd, connect


async def _rounds(installations: int, reads: int, repeat: int,
                  profile: cProfile.Profile | None) -> list[tuple[float, float]]:
    clock = current_clock()
    scheduler = Scheduler(clock)
    fleet = Fleet(default_dmc(), installations, 1, scheduler, Trace(None), han="direct")
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
    targets = []
    for inst in fleet.installations:
        session = await connect(fleet.link_to(inst).a, headend, clock)
        targets.append((session, inst.esme.eui))
    per_read: list[tuple[float, float]] = []  # (wall, CPU) seconds per read
    try:
        for _ in range(repeat):
            if profile is not None:
                profile.enable()
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(reads):
                session, esme = targets[i % len(targets)]
                await session.read_instantaneous(esme)
            per_read.append(((time.perf_counter() - t0) / reads,
                             (time.process_time() - c0) / reads))
            if profile is not None:
                profile.disable()
    finally:
        for session, _ in targets:
            await session.close()
        fleet.close()
        scheduler.close()
    return per_read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--installations", "-n", type=int, default=1)
    ap.add_argument("--reads", type=int, default=2000, help="reads per round")
    ap.add_argument("--repeat", type=int, default=5, help="rounds (the median is printed)")
    ap.add_argument("--profile", action="store_true", help="cProfile one round")
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        run_virtual(_rounds(args.installations, args.reads, 1, prof))
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(40)
        return
    per_read = run_virtual(_rounds(args.installations, args.reads, args.repeat, None))
    wall = [w for w, _ in per_read]
    cpu = [c for _, c in per_read]
    print(f"{args.installations} installation(s), {args.reads} reads per round, back to back: "
          f"{1e6 * statistics.median(wall):.1f} us per read, {1e6 * statistics.median(cpu):.1f} "
          f"us CPU (medians of {args.repeat}; rounds {', '.join(f'{1e6 * x:.0f}' for x in wall)})")


if __name__ == "__main__":
    main()
