"""Campaign benchmark: a shipped campaign's wall time and cells per minute on 1 and 2 workers.

    .venv/bin/python bench/bench_campaign.py [--campaign catalogue] [--repeat 3] [--seed 1]

Each run is a whole ``s1lab campaign run`` in-process (matrix expansion, the worker pool and
its start-up, every cell, one store transaction per cell, the reports) into a fresh folder.
Runs alternate 1, 2, 1, 2, ... so a change of load on the machine hits both alike; figures are
medians, and the best of each (the run least disturbed by other load). "cells" are those that
ran (SKIP cells cost nothing and are not counted). The target is 2 workers >= 1.8x the cells
per minute of 1 worker. Before and after, a plain CPU loop in 1
and 2 processes measures what the machine itself gives 2 processes at the time: on a shared
2-core machine other processes take their share, and that is the campaign's ceiling.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.campaign import load_campaign, run_campaign
from harness.scenario import Verdict

TARGET = 1.8


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _burn(n: int) -> float:
    x = 0
    for i in range(n):
        x += i * i
    return float(x)


def machine_speedup(n: int = 20_000_000) -> float:
    """What 2 processes get over 1 on a plain CPU loop on this machine right now: the best a
    campaign can do at this moment (a shared machine's other load takes its share)."""
    t0 = time.perf_counter()
    _burn(n)
    _burn(n)
    serial = time.perf_counter() - t0
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, [n, n])
        parallel = time.perf_counter() - t0
    return serial / parallel


def one_run(campaign: str, workers: int, seed: int | None,
            root: Path) -> tuple[float, int, float]:
    """Wall seconds, cells run, and how many cores the whole machine kept busy meanwhile."""
    out = Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=root))
    busy0, total0 = busy_jiffies()
    t0 = time.perf_counter()
    summary = run_campaign(load_campaign(campaign), out, seed=seed, workers=workers)
    wall = time.perf_counter() - t0
    busy1, total1 = busy_jiffies()
    ran = sum(n for verdict, n in summary.counts.items() if verdict is not Verdict.SKIP)
    cores = (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    return wall, ran, cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", default="catalogue")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    cells = 0
    baseline = [machine_speedup()]
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        for _ in range(args.repeat):
            for workers in (1, 2):
                wall, cells, cores = one_run(args.campaign, workers, args.seed, Path(tmp))
                walls[workers].append(wall)
                print(f"  {workers} worker(s): {wall:6.2f} s  ({cells} cells run; the machine "
                      f"kept {cores:.2f} of {os.cpu_count()} cores busy, ours and others')",
                      flush=True)
    baseline.append(machine_speedup())
    load = os.getloadavg()
    print(f"campaign {args.campaign}: {cells} cells run per campaign, {args.repeat} runs each")
    for label, pick in (("median", statistics.median), ("best", min)):
        rate = {w: cells / pick(walls[w]) * 60 for w in walls}
        speedup = rate[2] / rate[1]
        verdict = "met" if speedup >= TARGET else "NOT met"
        print(f"  {label:6}: 1 worker {pick(walls[1]):6.2f} s {rate[1]:6.1f} cells/min; "
              f"2 workers {pick(walls[2]):6.2f} s {rate[2]:6.1f} cells/min; "
              f"{speedup:.2f}x (target >= {TARGET}x: {verdict})")
    print(f"  the machine's own 2-process speedup on a CPU loop, before and after: "
          f"{baseline[0]:.2f}x, {baseline[1]:.2f}x (the ceiling at the time)")
    print(f"  load average while measuring: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
