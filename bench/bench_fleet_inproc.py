"""Fleet figures on the virtual clock, in one process, each beside its target:

    .venv/bin/python bench/bench_fleet_inproc.py [--scale 20000] [--day-installations 200]
                                                  [--profile]

1. scale: ``--scale`` installations with the full ZigBee HAN, every one in a TLS session with the
   head-end (both ends in this process): RSS per installation (target <= 100 KiB) and the
   handshake rate against the raw ``ssl.MemoryBIO`` pair rate measured in the same run (target
   >= 80%); reads every hour for half an hour of simulated time (bench_wan.emulated);
2. throughput on the standard activity (GSME wakes and ESME reports every 30 min, IHD and PPMID
   refreshes at the default DMC's rates, a WAN read every hour) for one simulated day:
   installation-days per wall second with the full ZigBee HAN (target >= half the bare floor)
   and with the direct HAN (target >= 200);
3. the bare floor: the frames that one standard installation-day puts on the air (counted in
   run 2), each built, secured, unsecured and parsed by the bare codec and AES-CCM* path with no
   device logic (bench_han's frame), timed in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_han import build_one, parse_one  # noqa: E402
from bench_wan import emulated, raw_baseline  # noqa: E402

from emulator import Fleet, Scheduler, Trace, current_clock, default_dmc, run_virtual  # noqa: E402
from emulator.core.timebase import DAY, HOUR  # noqa: E402
from emulator.drivers.clock import sleep_until  # noqa: E402
from emulator.installation import HanMode  # noqa: E402
from emulator.wire.ieee802154 import build_mac, mac_ack, parse_mac  # noqa: E402
from emulator.wire.vocabulary import Role  # noqa: E402
from harness.headend import HeadEnd, HeadEndSession, connect  # noqa: E402


def bare_frame_costs(n: int = 20_000) -> tuple[float, float]:
    """Seconds per secured data frame (build+secure, unsecure+parse) and per MAC-only frame."""
    t0 = time.perf_counter()
    frames = [build_one(i) for i in range(n)]
    for f in frames:
        parse_one(f)
    secured = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i in range(n):
        parse_mac(build_mac(mac_ack(i & 0xFF)))
    mac = (time.perf_counter() - t0) / n
    return secured, mac


async def standard_day(n: int, han: HanMode) -> dict[str, float]:
    """``n`` installations for one simulated day, each read once an hour by the head-end."""
    clock = current_clock()
    scheduler = Scheduler(clock)
    fleet = Fleet(default_dmc(), n, 1, scheduler, Trace(None), han=han)
    counts = {"data": 0, "mac": 0}

    def count(frame: bytes, now: int) -> None:
        counts["data" if frame[0] & 7 == 1 else "mac"] += 1

    for inst in fleet.installations:
        if inst.han is not None:
            inst.han.capture = count
    headend = HeadEnd(Role.SMSO, fleet.headend_context(Role.SMSO), fleet.keys_for)
    gate = asyncio.Semaphore(50)

    async def session(i: int) -> HeadEndSession:
        async with gate:
            return await connect(fleet.link_to(fleet.installations[i]).a, headend, clock)

    sessions = await asyncio.gather(*[session(i) for i in range(n)])
    start = clock.now_us()
    end = start + DAY

    async def reader(i: int) -> int:
        at, reads = start + (i * 7919 * 1_000_000) % HOUR, 0
        while at < end:
            await sleep_until(at)
            await sessions[i].read_instantaneous(fleet.installations[i].esme.eui)
            reads += 1
            at += HOUR
        return reads

    before = dict(counts)
    t0 = time.perf_counter()
    reads = await asyncio.gather(*[reader(i) for i in range(n)])
    await sleep_until(end)
    wall = time.perf_counter() - t0
    for s in sessions:
        await s.close()
    fleet.close()
    scheduler.close()
    return {"wall": wall, "reads": sum(reads), "data": counts["data"] - before["data"],
            "mac": counts["mac"] - before["mac"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20_000, help="installations for run 1")
    ap.add_argument("--day-installations", type=int, default=200, help="installations, run 2")
    ap.add_argument("--direct-installations", type=int, default=1000)
    ap.add_argument("--profile", action="store_true", help="cProfile the full-HAN day run")
    args = ap.parse_args()

    secured_s, mac_s = bare_frame_costs()
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    zig = run_virtual(standard_day(args.day_installations, "zigbee"))
    if args.profile:
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(25)
    direct = run_virtual(standard_day(args.direct_installations, "direct"))
    n = args.day_installations
    data_per_day, mac_per_day = zig["data"] / n, zig["mac"] / n
    floor_cost = data_per_day * secured_s + mac_per_day * mac_s  # s per installation-day
    floor = 1 / floor_cost
    zig_rate = n / zig["wall"]
    direct_rate = args.direct_installations / direct["wall"]

    scale = run_virtual(emulated(args.scale, 0.5 / 24, 60, 50, 0, "zigbee")) if args.scale else {}
    raw_hs, _ = raw_baseline(300, 1000)

    print("\ns1lab fleet benchmark, virtual time, one process")
    print(f"  {'figure':58} {'measured':>12}   target")
    if scale:
        per = (scale["peak_kib"] - scale["rss0_kib"]) / args.scale
        built = (scale["rss_built_kib"] - scale["rss0_kib"]) / args.scale
        hs = args.scale / scale["handshake_s"]
        print(f"  {f'{args.scale} installations, full HAN: RSS each (both TLS ends)':58} "
              f"{per:8.1f} KiB   <= 100 KiB  (built {built:.1f} KiB, "
              f"build {scale['build_s']:.0f} s)")
        print(f"  {'handshakes/s at that scale':58} {hs:8.0f} /s    >= 80% of raw "
              f"MemoryBIO ({raw_hs:.0f}/s): {100 * hs / raw_hs:.0f}%")
        print(f"  {'  (30 simulated minutes of hourly reads took)':58} {scale['run_s']:8.1f} s")
    print(f"  {'installation-days/s, full ZigBee HAN':58} {zig_rate:8.2f}       >= half the "
          f"floor ({floor / 2:.1f}): {100 * zig_rate / floor:.1f}% of the floor")
    print(f"  {'installation-days/s, direct HAN':58} {direct_rate:8.1f}       >= 200")
    print(f"  {'bare floor, installation-days/s':58} {floor:8.1f}       "
          f"({data_per_day:.0f} secured data frames at {1e6 * secured_s:.1f} us + "
          f"{mac_per_day:.0f} MAC frames at {1e6 * mac_s:.1f} us = "
          f"{1000 * floor_cost:.1f} ms per installation-day)")
    print(f"  {'cost of one installation-day, full HAN':58} {1000 / zig_rate:8.1f} ms    "
          f"(= {floor / zig_rate:.1f} x the floor); direct HAN {1000 / direct_rate:.2f} ms")
    print(f"  ({n} full-HAN installations x 1 day in {zig['wall']:.1f} s, {zig['reads']:.0f} "
          f"WAN reads; {args.direct_installations} direct x 1 day in {direct['wall']:.1f} s)")


if __name__ == "__main__":
    main()
